import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  capability,
  createMachine,
  loadPluginModule,
  PluginError,
  PluginLoadError,
  pluginsFromModule,
} from "../../mod.ts";
import { GREETING } from "./fixtures/valid_plugin.ts";

const dir = new URL("./fixtures/", import.meta.url).pathname;

Deno.test("loadPluginModule() loads a module exporting plugin", async () => {
  const plugins = await loadPluginModule(`${dir}valid_plugin.ts`, GREETING);
  assertEquals(plugins.map((p) => p.name), ["fixture_valid"]);
  const m = createMachine({ plugins });
  assertEquals(m.get(GREETING).hello(), "hello from a file");
});

Deno.test("loadPluginModule() explains every way a module can be wrong", async (t) => {
  await t.step("missing export", async () => {
    await assertRejects(
      () => loadPluginModule(`${dir}no_export.ts`),
      PluginLoadError,
      'no export named "plugin" or "plugins" (it exports "somethingElse")',
    );
  });
  await t.step("not a plugin", async () => {
    await assertRejects(
      () => loadPluginModule(`${dir}not_a_plugin.ts`),
      PluginLoadError,
      'plugin "half_done" has no setup function',
    );
  });
  await t.step("wrong capability", async () => {
    const WANTED = capability<number>("fixture_wanted");
    await assertRejects(
      () => loadPluginModule(`${dir}valid_plugin.ts`, WANTED),
      PluginLoadError,
      'expected a plugin providing "fixture_wanted", but "fixture_valid" provides "fixture_greeting"',
    );
  });
  await t.step("file that does not exist", async () => {
    const e = await assertRejects(
      () => loadPluginModule(`${dir}missing.ts`),
      PluginLoadError,
    );
    assertEquals(e.file, `${dir}missing.ts`);
  });
  await t.step("module that does not parse", async () => {
    await assertRejects(
      () => loadPluginModule("data:application/typescript,export const plugin = {"),
      PluginLoadError,
    );
  });
  await t.step("a throwing hook names the file, the plugin and the hook", async () => {
    const plugins = await loadPluginModule(`${dir}throwing_plugin.ts`);
    const e = assertThrows(() => createMachine({ plugins }), PluginError);
    assertEquals(
      e.message,
      `Plugin "fixture_throwing" (from ${dir}throwing_plugin.ts) failed in setup: cannot find my config`,
    );
  });
});

Deno.test("pluginsFromModule() rejects capabilities from another copy of hyplab", () => {
  const foreign = { name: "fixture_greeting", description: "" };
  assertThrows(
    () =>
      pluginsFromModule("f.ts", {
        plugin: { name: "f", provides: [foreign], setup() {} },
      }),
    PluginLoadError,
    'lists "fixture_greeting" in provides, which is not a capability from this hyplab',
  );
});
