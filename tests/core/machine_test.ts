import { assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import {
  capability,
  createMachine,
  orderPlugins,
  type Plugin,
  PluginDependencyError,
  PluginError,
  runPluginHook,
  withPlugin,
} from "../../mod.ts";

interface Counter {
  next(): number;
}
const COUNTER = capability<Counter>("test_counter", "counts");
const DOUBLER = capability<{ twice(): number }>("test_doubler");
const LOOP_A = capability<number>("test_loop_a");
const LOOP_B = capability<number>("test_loop_b");

function counter(name = "counter", start = 0): Plugin {
  return {
    name,
    provides: [COUNTER],
    setup(ctx) {
      let n = start;
      ctx.provide(COUNTER, { next: () => ++n });
    },
  };
}

const doubler: Plugin = {
  name: "doubler",
  provides: [DOUBLER],
  requires: [COUNTER],
  setup(ctx) {
    const c = ctx.get(COUNTER);
    ctx.provide(DOUBLER, { twice: () => c.next() * 2 });
  },
};

Deno.test("createMachine sets plugins up in dependency order", () => {
  const order: string[] = [];
  const spy = (p: Plugin): Plugin => ({
    ...p,
    setup(ctx) {
      order.push(p.name);
      p.setup(ctx);
    },
  });
  const m = createMachine({ plugins: [spy(doubler), spy(counter())] });
  assertEquals(order, ["counter", "doubler"]);
  assertEquals(m.get(DOUBLER).twice(), 2);
  assertEquals(m.providerOf(COUNTER), "counter");
  assertEquals(m.plugins.map((p) => p.name), ["counter", "doubler"]);
});

Deno.test("swapping a provider is one argument change", () => {
  const base = [counter(), doubler];
  const swapped = withPlugin(base, counter("counter_from_10", 10));
  assertEquals(swapped.map((p) => p.name), ["counter_from_10", "doubler"]);
  assertEquals(createMachine({ plugins: swapped }).get(DOUBLER).twice(), 22);
});

Deno.test("plugin graph errors name the plugins and capabilities", async (t) => {
  await t.step("missing provider", () => {
    const e = assertThrows(
      () => createMachine({ plugins: [doubler] }),
      PluginDependencyError,
      'Plugin "doubler" requires capability "test_counter", which no plugin provides',
    );
    assertEquals([e.plugins, e.capabilities], [["doubler"], ["test_counter"]]);
  });
  await t.step("two providers", () => {
    const e = assertThrows(
      () => createMachine({ plugins: [counter("a"), counter("b")] }),
      PluginDependencyError,
      'Capability "test_counter" has two providers: "a" and "b"',
    );
    assertEquals(e.plugins, ["a", "b"]);
  });
  await t.step("unknown capability", () => {
    const fake = { name: "test_counter", description: "" };
    const bad = { name: "bad", provides: [], requires: [fake], setup() {} } as unknown as Plugin;
    assertThrows(
      () => orderPlugins([bad]),
      PluginDependencyError,
      'Plugin "bad" names unknown capability "test_counter"',
    );
  });
  await t.step("cycle", () => {
    const a: Plugin = {
      name: "a",
      provides: [LOOP_A],
      requires: [LOOP_B],
      setup: (c) => c.provide(LOOP_A, 1),
    };
    const b: Plugin = {
      name: "b",
      provides: [LOOP_B],
      requires: [LOOP_A],
      setup: (c) => c.provide(LOOP_B, 2),
    };
    const e = assertThrows(
      () => createMachine({ plugins: [a, b] }),
      PluginDependencyError,
      'Plugin dependency cycle: "a" -> "b" -> "a" (through "test_loop_b", "test_loop_a")',
    );
    assertEquals(e.plugins, ["a", "b"]);
  });
  await t.step("duplicate plugin name", () => {
    assertThrows(
      () => orderPlugins([counter("x"), { ...doubler, name: "x" }]),
      PluginDependencyError,
      'Cannot register plugin "x" twice',
    );
  });
  await t.step("not a plugin", () => {
    assertThrows(
      () => orderPlugins([{ name: "half" } as unknown as Plugin]),
      PluginDependencyError,
      "needs a string name, a provides array and a setup function",
    );
  });
});

Deno.test("errors escaping hooks are wrapped with plugin and hook", async (t) => {
  await t.step("throwing setup", () => {
    const boom: Plugin = {
      name: "boom",
      provides: [],
      setup() {
        throw new TypeError("bad option");
      },
    };
    const e = assertThrows(() => createMachine({ plugins: [boom] }), PluginError);
    assertEquals(e.message, 'Plugin "boom" failed in setup: bad option');
    assertEquals([e.plugin, e.hook], ["boom", "setup"]);
    assertInstanceOf(e.cause, TypeError);
  });
  await t.step("provides but never provided", () => {
    const lazy: Plugin = { name: "lazy", provides: [COUNTER], setup() {} };
    assertThrows(
      () => createMachine({ plugins: [lazy] }),
      PluginError,
      'declared capability "test_counter" in provides but never called provide()',
    );
  });
  await t.step("getting an undeclared capability", () => {
    const sneaky: Plugin = {
      name: "sneaky",
      provides: [],
      setup(ctx) {
        ctx.get(COUNTER);
      },
    };
    // Wrapped like any other error escaping a hook (the design: "every error
    // thrown inside a plugin hook is wrapped"); the original stays the cause.
    const e = assertThrows(
      () => createMachine({ plugins: [counter(), sneaky] }),
      PluginError,
      'Plugin "sneaky" failed in setup: Plugin "sneaky" cannot get capability "test_counter": not in its requires or optional',
    );
    assertEquals([e.plugin, e.hook], ["sneaky", "setup"]);
    assertInstanceOf(e.cause, PluginDependencyError);
  });
  await t.step("machine.get of an unprovided capability names the plugin and hook", () => {
    const MISSING = capability<number>("test_missing");
    const p: Plugin = {
      name: "p3",
      provides: [],
      setup(ctx) {
        ctx.machine.get(MISSING);
      },
    };
    const e = assertThrows(
      () => createMachine({ plugins: [p] }),
      PluginError,
      'Plugin "p3" failed in setup: Cannot get capability "test_missing": no plugin provides it',
    );
    assertInstanceOf(e.cause, PluginDependencyError);
  });
  await t.step("a PluginError for the same plugin and hook is not wrapped twice", () => {
    const inner = new PluginError("q", "setup", new Error("x"));
    const e = assertThrows(() =>
      runPluginHook({ name: "q" }, "setup", () => {
        throw inner;
      })
    );
    assertEquals(e, inner);
    const other = assertThrows(
      () =>
        runPluginHook({ name: "r" }, "setup", () => {
          throw inner;
        }),
      PluginError,
      'Plugin "r" failed in setup: Plugin "q" failed in setup: x',
    );
    assertEquals(other.cause, inner);
  });
  await t.step("dispose hooks are wrapped too", () => {
    const m = createMachine({
      plugins: [{
        name: "d",
        provides: [],
        setup() {},
        dispose() {
          throw new Error("leak");
        },
      }],
    });
    assertThrows(() => m.dispose(), PluginError, 'Plugin "d" failed in dispose: leak');
  });
});

Deno.test("optional capabilities order their providers first when present", () => {
  const seen: boolean[] = [];
  const user: Plugin = {
    name: "user",
    provides: [],
    optional: [COUNTER],
    setup(ctx) {
      seen.push(ctx.has(COUNTER));
    },
  };
  createMachine({ plugins: [user, counter()] });
  createMachine({ plugins: [user] });
  assertEquals(seen, [true, false]);
});

Deno.test("createMachine validates CPUs and RAM", () => {
  assertThrows(() => createMachine({ cpus: 0 }), RangeError, "Cannot create 0 CPUs");
  assertThrows(() => createMachine({ ram: [{ base: 0, size: 100 }] }), RangeError);
  const m = createMachine({ cpus: 64 });
  assertEquals(m.cpus.map((c) => c.id).slice(-1), [63]);
  assertThrows(() => m.cpu(64), RangeError, "the machine has 64 CPUs");
});
