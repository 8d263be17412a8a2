import { assert, assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import {
  A64_EXECUTOR,
  type Capability,
  capability,
  CapabilityValueError,
  capabilityValueProblem,
  createMachine,
  EARLY_ALLOCATOR,
  KVM_PGTABLE,
  MMU,
  PAGE_ALLOCATOR,
  PKVM,
  type Plugin,
  PluginError,
  profile,
  RESERVED_MEM,
  SWITCH_SEQUENCE,
  TLB,
} from "../../mod.ts";

Deno.test("every built-in capability has a member list, and every built-in provider fits it", () => {
  const caps: Capability<unknown>[] = [
    RESERVED_MEM,
    EARLY_ALLOCATOR,
    PAGE_ALLOCATOR,
    KVM_PGTABLE,
    MMU,
    TLB,
    A64_EXECUTOR,
    SWITCH_SEQUENCE,
    PKVM,
  ];
  for (const name of ["v5.13", "mainline"] as const) {
    const m = createMachine({ cpus: 1, plugins: profile(name) });
    for (const cap of caps) {
      assert(cap.members !== undefined && Object.keys(cap.members).length > 0, cap.name);
      assertEquals(capabilityValueProblem(cap, m.get(cap)), undefined, `${name} ${cap.name}`);
    }
  }
});

function providing(value: unknown, name = "mine", source?: string): Plugin {
  const p: Plugin = {
    name,
    provides: [PAGE_ALLOCATOR],
    // deno-lint-ignore no-explicit-any
    setup: (ctx) => ctx.provide(PAGE_ALLOCATOR, value as any),
  };
  return source === undefined ? p : { ...p, source };
}

Deno.test("provide() refuses a value that lacks a member, naming the plugin, capability and member", () => {
  const e = assertThrows(
    () =>
      createMachine({
        plugins: [providing({ name: "x", metadataBytesPerPage: 3 }, "extent", "./extent.ts")],
      }),
    CapabilityValueError,
  );
  assertInstanceOf(e, PluginError);
  assertEquals(
    e.message,
    'Plugin "extent" (from ./extent.ts) failed in setup: it provides "page_allocator" without createPool (expected a function, got undefined)',
  );
  assertEquals([e.plugin, e.hook, e.capability, e.member, e.source], [
    "extent",
    "setup",
    "page_allocator",
    "createPool",
    "./extent.ts",
  ]);
});

Deno.test("provide() refuses a member of the wrong kind, and a value that is not an object", async (t) => {
  await t.step("a string where a number belongs", () => {
    const e = assertThrows(
      () =>
        createMachine({
          plugins: [providing({ name: "x", metadataBytesPerPage: "3", createPool() {} })],
        }),
      CapabilityValueError,
    );
    assertEquals(e.member, "metadataBytesPerPage");
    assertEquals(
      e.message,
      'Plugin "mine" failed in setup: it provides "page_allocator" with metadataBytesPerPage of the wrong kind (expected a number, got a string)',
    );
  });
  await t.step("undefined instead of an object", () => {
    const e = assertThrows(
      () => createMachine({ plugins: [providing(undefined)] }),
      CapabilityValueError,
    );
    assertEquals(e.member, undefined);
    assertEquals(
      e.message,
      'Plugin "mine" failed in setup: it provides "page_allocator" as undefined, expected an object with name, metadataBytesPerPage, createPool',
    );
  });
  await t.step("an optional member is checked only when present", () => {
    const tlbPlugin = (extra: Record<string, unknown>): Plugin => ({
      name: "my_tlb",
      provides: [TLB],
      setup(ctx) {
        const base = createMachine({ cpus: 1, plugins: profile("v5.13") }).get(TLB);
        // A class instance: members live on its prototype, and count.
        const value = Object.assign(Object.create(base), extra);
        ctx.provide(TLB, value);
      },
    });
    createMachine({ plugins: [tlbPlugin({})] });
    const e = assertThrows(
      () => createMachine({ plugins: [tlbPlugin({ fillMark: 3 })] }),
      CapabilityValueError,
    );
    assertEquals([e.capability, e.member], ["tlb", "fillMark"]);
  });
});

Deno.test("a refused value leaves the capability unprovided", () => {
  const CAP = capability<{ go(): void }>("test_go", "", { go: "function" });
  let seen: unknown = "unset";
  const p: Plugin = {
    name: "p",
    provides: [CAP],
    setup(ctx) {
      try {
        // deno-lint-ignore no-explicit-any
        ctx.provide(CAP, {} as any);
      } catch (e) {
        seen = e;
      }
      ctx.provide(CAP, { go() {} });
    },
  };
  const m = createMachine({ plugins: [p] });
  assertInstanceOf(seen, CapabilityValueError);
  assertEquals(typeof m.get(CAP).go, "function");
});

Deno.test("a capability declared without members accepts any value", () => {
  const CAP = capability<number>("test_plain");
  assertEquals(capabilityValueProblem(CAP, 42), undefined);
});

Deno.test("an async setup is refused as such, even when it provided before its first await", async (t) => {
  const CAP = capability<number>("test_async");
  for (
    const [what, setup] of [
      [
        "provides, then returns",
        // deno-lint-ignore require-await
        async (ctx: Parameters<Plugin["setup"]>[0]) => ctx.provide(CAP, 1),
      ],
      ["awaits, then provides", async (ctx: Parameters<Plugin["setup"]>[0]) => {
        await Promise.resolve();
        ctx.provide(CAP, 1);
      }],
      ["awaits, then throws", async () => {
        await Promise.resolve();
        throw new Error("too late");
      }],
    ] as const
  ) {
    await t.step(what, async () => {
      const e = assertThrows(
        () => createMachine({ plugins: [{ name: "later", provides: [CAP], setup }] }),
        PluginError,
      );
      assertEquals(e.plugin, "later");
      assert(
        e.message.startsWith(
          'Plugin "later" failed in setup: setup returned a promise (an async setup?): hooks run synchronously',
        ),
        e.message,
      );
      // The dropped promise settles without an unhandled rejection.
      await new Promise((r) => setTimeout(r, 0));
    });
  }
});
