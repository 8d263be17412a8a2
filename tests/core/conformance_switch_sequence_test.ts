import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import {
  A64_EXECUTOR,
  type A64Executor,
  type Plugin,
  type SwitchSequence,
} from "../../core/mod.ts";
import { ConformanceError, switchSequenceConformance } from "../../core/conformance/mod.ts";
import { a64Executor, check } from "../../plugins/a64/mod.ts";
import { mmu } from "../../plugins/mmu/mod.ts";
import { builtinSequence, switchSequence } from "../../plugins/switch_sequence/mod.ts";
import { tlb } from "../../plugins/tlb/mod.ts";

const plugins = (policy: "adversarial" | "optimistic" = "adversarial"): Plugin[] => [
  a64Executor(),
  mmu(),
  tlb({ policy }),
];

for (const variant of ["v3", "v5.13", "mainline"] as const) {
  for (const policy of ["adversarial", "optimistic"] as const) {
    Deno.test(`the ${variant} switch sequence passes the conformance suite (${policy} TLB)`, (t) =>
      switchSequenceConformance(switchSequence({ variant }), t, { plugins: plugins(policy) }));
  }
}

Deno.test("v3 and v5.13 conform although their verdict is fail", async () => {
  for (const variant of ["v3", "v5.13"] as const) {
    const seq = builtinSequence(variant);
    assertEquals(check(seq.source, { abi: seq.abi }).verdict, "fail", variant);
    await switchSequenceConformance(seq, undefined, { plugins: plugins() });
  }
});

Deno.test("the bare set_sctlr macro does not conform: it is a fragment with no ret", async () => {
  await assertRejects(
    () =>
      switchSequenceConformance(builtinSequence("set_sctlr"), undefined, { plugins: plugins() }),
    ConformanceError,
    `"from the boot's state it returns to the continuation in x2": ran off its end at line 23 ` +
      "without branching to the continuation (0x800000004000, in x2): it is a fragment",
  );
});

/** The mainline sequence with one edit, as a user's sequence. */
function edited(name: string, edit: (source: string) => string): SwitchSequence {
  const base = builtinSequence("mainline");
  const source = edit(base.source);
  if (source === base.source) throw new Error(`edit "${name}" changed nothing`);
  return { name, description: `mainline, ${name}`, source, abi: "registers" };
}

Deno.test("the suite fails a sequence that never sets TTBR0_EL2", async () => {
  const seq = edited("no TTBR write", (s) => s.replace("\tmsr\tttbr0_el2, x5\n", ""));
  await assertRejects(
    () => switchSequenceConformance(seq, undefined, { plugins: plugins() }),
    ConformanceError,
    `"TTBR0_EL2.BADDR is the new pgd after the switch": TTBR0_EL2 is 0x41000000 ` +
      "after the switch: BADDR is not the new pgd 0x41200000 (still the old tables)",
  );
});

Deno.test("the suite fails a sequence that never turns the MMU back on", async () => {
  const off = edited("no MMU-on", (s) => s.replace("\tset_sctlr_el2\tx3\n", ""));
  await assertRejects(
    () => switchSequenceConformance(off, undefined, { plugins: plugins("optimistic") }),
    ConformanceError,
    `"SCTLR_EL2.M is 1 after the switch": SCTLR_EL2 is 0x30e5183c after the ` +
      "switch: the MMU is off",
  );
  // Writing M = 1 is not enough: without an ISB the write never takes effect.
  const unsynced = edited(
    "no ISB after MMU-on",
    (s) => s.replace("\tset_sctlr_el2\tx3\n", "\tmsr\tsctlr_el2, x3\n"),
  );
  await assertRejects(
    () => switchSequenceConformance(unsynced, undefined, { plugins: plugins() }),
    ConformanceError,
    "the MMU is off (a write setting M was never synchronised by an ISB)",
  );
});

Deno.test("the suite fails a sequence that keeps the old stack", async () => {
  const seq = edited("no new SP", (s) => s.replace("\tmov\tsp, x1\n", ""));
  await assertRejects(
    () => switchSequenceConformance(seq, undefined, { plugins: plugins() }),
    ConformanceError,
    `"SP is the new stack after the switch": SP after the switch (old SP ` +
      `0x800000300000): expected "0x800000100000", got "0x800000300000"`,
  );
});

Deno.test("the suite fails a sequence whose TLBI is missing or runs with the MMU on", async () => {
  const check = `"tlbi alle2 is executed while SCTLR_EL2.M is 0"`;
  const none = edited("no TLBI", (s) => s.replace("\ttlbi\talle2\n", ""));
  await assertRejects(
    () => switchSequenceConformance(none, undefined, { plugins: plugins() }),
    ConformanceError,
    `${check}: no tlbi alle2 was executed`,
  );
  // The TLBI first, while the old tables are still live (R5/R7).
  const early = edited("TLBI before MMU-off", (s) =>
    s.replace("\ttlbi\talle2\n", "").replace(
      "\tpre_disable_mmu_workaround\n",
      "\ttlbi\talle2\n\tdsb\tnsh\n\tpre_disable_mmu_workaround\n",
    ));
  await assertRejects(
    () => switchSequenceConformance(early, undefined, { plugins: plugins() }),
    ConformanceError,
    `${check}: tlbi alle2 ran only with the MMU (maybe) on: line 9 (M = 1)`,
  );
});

Deno.test("the suite fails a sequence whose TLBI never completes (adversarial TLB)", async () => {
  // No DSB anywhere after the TLBI: it stays pending and the old entry survives.
  const seq = edited(
    "TLBI never completed",
    (s) =>
      s.replace("\tdsb\tnsh\n\tisb\n\t/* msr", "\tisb\n\t/* msr").replace(
        "\tset_sctlr_el2\tx3\n",
        "\tmsr\tsctlr_el2, x3\n\tisb\n",
      ),
  );
  await assertRejects(
    () => switchSequenceConformance(seq, undefined, { plugins: plugins("adversarial") }),
    ConformanceError,
    `"the continuation translates through the new tables, with no differing old-table TLB entry left": a ` +
      "fetch of the continuation 0x800000004000 gives PA 0x41600000 from the TLB, not 0x41500000 " +
      "(the old tables' page)",
  );
});

Deno.test("the suite fails a sequence that returns elsewhere or ends early", async () => {
  const wrongReg = edited("ret x1", (s) => s.replace("\tret\tx2\n", "\tret\tx1\n"));
  await assertRejects(
    () => switchSequenceConformance(wrongReg, undefined, { plugins: plugins() }),
    ConformanceError,
    "stopped (branch-out to 0x800000100000)",
  );
  // A params-ABI sequence given registers-ABI arguments loads garbage at M = 0.
  const mislabelled = { ...builtinSequence("v5.13"), abi: "registers" as const };
  await assertRejects(
    () => switchSequenceConformance(mislabelled, undefined, { plugins: plugins() }),
    ConformanceError,
    `"from the boot's state it returns to the continuation in x2"`,
  );
});

Deno.test("the suite fails a params sequence with hard-coded v5.13 offsets on the mainline layout", async () => {
  const v513 = builtinSequence("v5.13");
  const seq: SwitchSequence = {
    ...v513,
    name: "hard-coded offsets",
    source: v513.source.replace("#NVHE_INIT_PGD_PA", "#32").replace(
      "#NVHE_INIT_STACK_HYP_VA",
      "#24",
    ),
  };
  await assertRejects(
    () => switchSequenceConformance(seq, undefined, { plugins: plugins() }),
    ConformanceError,
    // It takes mainline's stack_pa (0x41400000, a zero page) for the pgd. v5.13
    // sets M=1 with that TTBR0_EL2 write and its TLBI both unfinished, so the
    // adversarial TLB refills the code page from the old tables after the
    // TLBI's issue; that entry survives the DSB, fetch goes on through it and
    // the run returns, with the wrong tables installed.
    `(mainline layout)": with the mainline layout, TTBR0_EL2 is 0x41400000 after the switch: ` +
      "BADDR is not the new pgd 0x41200000",
  );
});

Deno.test("the suite fails malformed sequences before running them", async () => {
  const bad = { ...builtinSequence("mainline"), abi: "stack" } as unknown as SwitchSequence;
  await assertRejects(
    () => switchSequenceConformance(bad, undefined, { plugins: plugins() }),
    ConformanceError,
    `"name, description and source are non-empty and abi is params or registers": abi is "stack"`,
  );
  const noDesc = { ...builtinSequence("mainline"), description: " " };
  await assertRejects(
    () => switchSequenceConformance(noDesc, undefined, { plugins: plugins() }),
    ConformanceError,
    `description is " "`,
  );
  const garbled = edited("garbled", (s) => s.replace("\tisb\n", "\tfrob\tx9\n"));
  await assertRejects(
    () => switchSequenceConformance(garbled, undefined, { plugins: plugins() }),
    ConformanceError,
    `"the text parses and the static check gives well-formed R1–R18 findings"`,
  );
});

/** An executor plugin whose results are rewritten, to check the findings checks. */
function rewriting(patch: (f: { rule: string; line: number }) => void): Plugin {
  const real = a64Executor();
  return {
    ...real,
    name: "rewriting_executor",
    setup(ctx) {
      real.setup({
        machine: ctx.machine,
        get: (cap) => ctx.get(cap),
        has: (cap) => ctx.has(cap),
        provide(cap, value) {
          if (cap !== A64_EXECUTOR) return ctx.provide(cap, value);
          const inner = value as A64Executor;
          const exec: A64Executor = {
            name: inner.name,
            check(source, config) {
              const r = inner.check(source, config);
              r.findings.forEach(patch);
              return r;
            },
            run: (cpu, source, options) => inner.run(cpu, source, options),
          };
          ctx.provide(A64_EXECUTOR, exec);
        },
      });
    },
  };
}

Deno.test("the suite checks that findings name a rule R1..R18 and a line of the source", async () => {
  const v3 = switchSequence({ variant: "v3" });
  await assertRejects(
    () =>
      switchSequenceConformance(v3, undefined, {
        plugins: [rewriting((f) => (f.rule = "R19")), mmu(), tlb()],
      }),
    ConformanceError,
    `"the text parses and the static check gives well-formed R1–R18 findings": static check: ` +
      `finding {"rule":"R19"`,
  );
  const e = await assertRejects(
    () =>
      switchSequenceConformance(v3, undefined, {
        plugins: [rewriting((f) => (f.line = 999)), mmu(), tlb()],
      }),
    ConformanceError,
    `"the text parses and the static check gives well-formed R1–R18 findings": static check:`,
  );
  const lines = builtinSequence("v3").source.split("\n").length;
  assertStringIncludes(e.message, `"line":999,`);
  assertStringIncludes(e.message, `line is not a line of the source (1..${lines})`);
});

Deno.test("a sequence plugin replaces the one in the plugin list; missing plugins are a TypeError", async () => {
  // A broken plugin under test, a good sequence in the list: the broken one is run.
  const broken = switchSequence({
    name: "no-ret",
    source: builtinSequence("set_sctlr").source,
    abi: "registers",
  });
  await assertRejects(
    () =>
      switchSequenceConformance(broken, undefined, {
        plugins: [...plugins(), switchSequence({ variant: "mainline" })],
      }),
    ConformanceError,
    `switch sequence "no-ret" conformance`,
  );
  await assertRejects(
    () => switchSequenceConformance(builtinSequence("mainline"), undefined, { plugins: [tlb()] }),
    TypeError,
    `options.plugins provide no "a64_executor" (pass e.g. { plugins: [a64Executor(), mmu(), tlb()] })`,
  );
  await assertRejects(
    () =>
      switchSequenceConformance(
        builtinSequence("mainline"),
        undefined,
        undefined as unknown as { plugins: Plugin[] },
      ),
    TypeError,
    "without options.plugins",
  );
});

Deno.test("with CnP, TTBR0_EL2 = pgd | CnP still conforms (BADDR is compared)", async () => {
  for (const variant of ["v5.13", "mainline"] as const) {
    await switchSequenceConformance(builtinSequence(variant), undefined, {
      plugins: plugins(),
      config: { features: ["cnp"] },
    });
  }
});
