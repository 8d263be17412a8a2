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

Deno.test("ctx.has answers from the graph, in any registration order, and only for declared caps", async (t) => {
  await t.step("order-independent", () => {
    const seen: boolean[] = [];
    const early: Plugin = {
      name: "early",
      provides: [],
      optional: [COUNTER],
      setup(ctx) {
        seen.push(ctx.has(COUNTER));
      },
    };
    // "early" has no dependency edge problem either way: both orders must agree.
    createMachine({ plugins: [early, counter()] });
    createMachine({ plugins: [counter(), early] });
    assertEquals(seen, [true, true]);
  });
  await t.step("own provides before provide()", () => {
    const seen: boolean[] = [];
    const self: Plugin = {
      name: "self",
      provides: [COUNTER],
      setup(ctx) {
        seen.push(ctx.has(COUNTER));
        ctx.provide(COUNTER, { next: () => 0 });
      },
    };
    createMachine({ plugins: [self] });
    assertEquals(seen, [true]);
  });
  await t.step("undeclared capability is refused like get", () => {
    const nosy: Plugin = {
      name: "nosy",
      provides: [],
      setup(ctx) {
        ctx.has(COUNTER);
      },
    };
    for (const plugins of [[counter(), nosy], [nosy, counter()]]) {
      const e = assertThrows(
        () => createMachine({ plugins }),
        PluginError,
        'Plugin "nosy" cannot ask for capability "test_counter": not in its requires or optional',
      );
      assertInstanceOf(e.cause, PluginDependencyError);
    }
  });
});

Deno.test("plugin graph: self-dependency, bad requires/optional, same-named capabilities", async (t) => {
  await t.step("requires its own capability", () => {
    const e = assertThrows(
      () =>
        orderPlugins([{
          name: "ouroboros",
          provides: [COUNTER],
          requires: [COUNTER],
          setup() {},
        }]),
      PluginDependencyError,
      'Plugin "ouroboros" lists capability "test_counter" in requires but provides it itself',
    );
    assertEquals([e.plugins, e.capabilities], [["ouroboros"], ["test_counter"]]);
  });
  await t.step("optional on its own capability", () => {
    assertThrows(
      () => orderPlugins([{ name: "o", provides: [COUNTER], optional: [COUNTER], setup() {} }]),
      PluginDependencyError,
      'Plugin "o" lists capability "test_counter" in optional but provides it itself',
    );
  });
  for (const key of ["requires", "optional"] as const) {
    await t.step(`non-array ${key}`, () => {
      const bad = { name: "bad", provides: [], [key]: COUNTER, setup() {} } as unknown as Plugin;
      const e = assertThrows(
        () => orderPlugins([counter(), bad]),
        PluginDependencyError,
        `Cannot use plugin "bad": ${key} must be an array of capabilities, got object`,
      );
      assertEquals(e.plugins, ["bad"]);
    });
  }
  await t.step("two different capabilities with one name", () => {
    const a1 = capability<number>("test_same_name");
    const a2 = capability<number>("test_same_name");
    const prov: Plugin = { name: "prov", provides: [a1], setup: (c) => c.provide(a1, 1) };
    const user: Plugin = { name: "user", provides: [], requires: [a2], setup() {} };
    const e = assertThrows(
      () => orderPlugins([prov, user]),
      PluginDependencyError,
      'Plugins "prov" and "user" name two different capabilities called "test_same_name"',
    );
    assertEquals([e.plugins, e.capabilities], [["prov", "user"], ["test_same_name"]]);
  });
});

Deno.test("dispose runs every hook, then throws the error (or an AggregateError)", async (t) => {
  const disposer = (name: string, log: string[], fail: boolean): Plugin => ({
    name,
    provides: [],
    setup() {},
    dispose() {
      log.push(name);
      if (fail) throw new Error(`${name} leaked`);
    },
  });
  await t.step("one failure: every hook ran, the PluginError is thrown", () => {
    const log: string[] = [];
    const m = createMachine({ plugins: [disposer("d1", log, false), disposer("d2", log, true)] });
    assertThrows(() => m.dispose(), PluginError, 'Plugin "d2" failed in dispose: d2 leaked');
    assertEquals(log, ["d2", "d1"]);
  });
  await t.step("two failures: AggregateError of both, in dispose order", () => {
    const log: string[] = [];
    const m = createMachine({ plugins: [disposer("d1", log, true), disposer("d2", log, true)] });
    const e = assertThrows(() => m.dispose(), AggregateError, "2 dispose hooks failed");
    assertEquals(log, ["d2", "d1"]);
    assertEquals(e.errors.map((x: PluginError) => x.plugin), ["d2", "d1"]);
  });
});

Deno.test("createMachine validates CPUs and RAM", () => {
  assertThrows(() => createMachine({ cpus: 0 }), RangeError, "Cannot create 0 CPUs");
  assertThrows(() => createMachine({ ram: [{ base: 0, size: 100 }] }), RangeError);
  const m = createMachine({ cpus: 64 });
  assertEquals(m.cpus.map((c) => c.id).slice(-1), [63]);
  assertThrows(() => m.cpu(64), RangeError, "the machine has 64 CPUs");
});

Deno.test("RAM above the CPU model's physical address range is refused, naming the bank, model, PA size and PARange", async (t) => {
  // Cortex-A57: PARange 4, 44 bits; neoverse-n1: 48 bits. (max's 52 bits
  // are physical memory's own limit, refused before the CPU is looked at.)
  const cases = [
    ["cortex-a57", 44, 4],
    ["neoverse-n1", 48, 5],
  ] as const;
  for (const [cpu, bits, parange] of cases) {
    await t.step(cpu, () => {
      const top = 2 ** bits;
      // Ending exactly at 2^PA bits is addressable.
      createMachine({ cpu, ram: [{ base: top - 2 ** 30, size: 2 ** 30 }] });
      const e = assertThrows(
        () =>
          createMachine({
            cpu,
            ram: [{ base: 0x4000_0000, size: 2 ** 30 }, { base: top - 2 ** 30, size: 2 ** 31 }],
          }),
        RangeError,
      );
      assertEquals(
        e.message,
        `Cannot add RAM bank [0x${(top - 2 ** 30).toString(16)}, 0x${
          (top + 2 ** 30).toString(16)
        }): it ends above the ${bits}-bit physical address range of CPU ${cpu} ` +
          `(ID_AA64MMFR0_EL1.PARange = ${parange}, addresses below 0x${top.toString(16)}); ` +
          `QEMU refuses such a machine ("Addressing limited to ${bits} bits")`,
      );
    });
  }
  assertThrows(
    () => createMachine({ cpu: "max", ram: [{ base: 2 ** 52 - 2 ** 30, size: 2 ** 31 }] }),
    RangeError,
    "52-bit physical address",
  );
});
