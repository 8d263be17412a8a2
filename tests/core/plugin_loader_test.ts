import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  capability,
  createMachine,
  filePathToUrl,
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

Deno.test("loadPluginModule() keeps a class-based plugin's prototype members and state", async () => {
  const { instance, TALLY } = await import("./fixtures/class_plugin.ts");
  const plugins = await loadPluginModule(`${dir}class_plugin.ts`, TALLY);
  assertEquals(plugins.map((p) => [p.name, p.source]), [[
    "fixture_class",
    `${dir}class_plugin.ts`,
  ]]);
  const m = createMachine({ plugins });
  const tally = m.get(TALLY);
  assertEquals([tally.count(), tally.count()], [1, 2], "#private state through the bound hooks");
  m.dispose();
  assertEquals(instance.disposed, true, "dispose from the prototype ran on the instance");
});

Deno.test("loadPluginModule() loads paths with '#', '%' and spaces", async (t) => {
  const odd = `${decodeURIComponent(dir)}dir #1 %41/odd path plugin.ts`;
  await t.step("absolute", async () => {
    const plugins = await loadPluginModule(odd);
    assertEquals(plugins.map((p) => p.name), ["fixture_odd_path"]);
  });
  await t.step({
    name: "relative to the working directory",
    ignore: !odd.startsWith(`${Deno.cwd()}/`),
    fn: async () => {
      const rel = odd.slice(Deno.cwd().length + 1);
      const plugins = await loadPluginModule(rel);
      assertEquals(plugins.map((p) => p.source), [rel]);
    },
  });
});

Deno.test("filePathToUrl() encodes URL syntax and handles Windows drives", () => {
  assertEquals(filePathToUrl("/a/b c#d%41?.ts", "/"), "file:///a/b%20c%23d%2541%3F.ts");
  assertEquals(filePathToUrl("../p.ts", "/w/x/"), "file:///w/p.ts");
  assertEquals(filePathToUrl("a\\b.ts", "/w"), "file:///w/a%5Cb.ts", "POSIX: backslash is a name");
  assertEquals(filePathToUrl("D:\\x\\p.ts", "/w"), "file:///D:/x/p.ts");
  assertEquals(filePathToUrl("sub\\p.ts", "C:\\w"), "file:///C:/w/sub/p.ts");
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
