/**
 * The switch-sequence conformance suite: what every provider of
 * `SWITCH_SEQUENCE` must do to be usable at boot step 5
 * (`__pkvm_init_switch_pgd`), whatever barrier findings it has. It does not
 * ask for a `pass` verdict — the built-in v3, v5.13 and v6.1 sequences fail
 * rules on purpose — but for a complete, working switch, the end state
 * `__pkvm_init_switch_pgd` leaves behind (arch/arm64/kvm/hyp/nvhe/hyp-init.S,
 * v5.13 to v7.2): run from the boot's state by an A64 executor through the
 * MMU and TLB, the sequence returns to the continuation with TTBR0_EL2 on the
 * new pgd, SCTLR_EL2.M = 1, SP on the new stack, after a `tlbi alle2` issued
 * with the MMU off; and its findings are well-formed R1–R18 findings.
 *
 * The executor, MMU and TLB come from the plugins the caller passes (the
 * suite builds a fresh machine from them for each run), so the line is:
 * `Deno.test("my switch", (t) => switchSequenceConformance(mySeq, t, { plugins: [a64Executor(), mmu(), tlb()] }))`.
 *
 * The bare `set_sctlr` built-in does not conform, by design: it is the
 * `set_sctlr_el2` macro with its preparation, with no `ret`, so it runs off
 * its end instead of returning to the continuation — a fragment, not a
 * switch sequence (the boot panics on it the same way). The suite says so in
 * the "returns to the continuation" check.
 *
 * @module
 */

import {
  A64_EXECUTOR,
  type A64Executor,
  type A64RunResult,
  type CheckConfig,
  type CheckResult,
  type Finding,
  SWITCH_SEQUENCE,
  type SwitchSequence,
} from "../capabilities/a64.ts";
import { MMU, type Mmu, TLB } from "../capabilities/mmu.ts";
import { createMachine, type Machine } from "../machine.ts";
import { PAGE_SIZE, type PhysicalMemory } from "../physical_memory.ts";
import { type Plugin, withPlugin } from "../plugin.ts";
import type { Cpu } from "../registers.ts";
import { Trace } from "../trace.ts";
import { expect, expectEqual, runCases, type StepContext } from "./_suite.ts";

/** What the suite needs besides the sequence. */
export interface SwitchSequenceConformanceOptions {
  /**
   * Plugins providing `a64_executor`, `mmu` and `tlb` — with the built-ins,
   * `[a64Executor(), mmu(), tlb()]` (any TLB policy). The suite builds a
   * fresh machine from them for each run; a plugin providing
   * `switch_sequence` in the list is replaced by the one under test.
   */
  plugins: readonly Plugin[];
  /** Features, errata and assumptions for the static check and the runs (default: none). */
  config?: CheckConfig;
}

const RAM = { base: 0x4000_0000, size: 0x2000_0000 };
const VBAR = 0x4000_0800; // EL2 vectors: an abort stops the run with the fault
const CODE = 0x4008_0000; // the idmap text (VA = PA), 4 pages
const CODE_PAGES = 4;
const OLD_PGD = 0x4100_0000; // the host-built tables EL2 runs on before the switch
const NEW_PGD = 0x4120_0000; // the tables __pkvm_init built
const PARAMS = 0x4130_0000; // struct kvm_nvhe_init_params (PA)
const STACK_PA = 0x4140_0000;
const FN_PA = 0x4150_0000; // __pkvm_init_finalise in the new tables
const OLD_FN_PA = 0x4160_0000; // what the old tables map at the same VA
const STACK_VA = 0x8000_0010_0000; // params->stack_hyp_va: the top of the stack page
const FN_VA = 0x8000_0000_4000; // the continuation (hyp VA)
const OLD_SP = 0x8000_0030_0000n;
// INIT_SCTLR_EL2_MMU_ON (asm/sysreg.h): M, C, SA, I, IESB and the RES1 bits.
const SCTLR_ON = 0x30e5_183dn;
// T0SZ = 16, IRGN0/ORGN0 = WB, SH0 = inner, TG0 = 4K, PS = 40 bits, RES1 bits 31 and 23.
const TCR = (1n << 31n) | (1n << 23n) | (2n << 16n) | (3n << 12n) | (1n << 10n) | (1n << 8n) |
  16n;
const MAIR = 0xffn; // Attr0: Normal Write-Back
const TTBR_BADDR = ((1n << 48n) - 1n) & ~1n; // BADDR[47:1]; bit 0 is CnP

/**
 * `struct kvm_nvhe_init_params` in the two layouts the boot passes a
 * params-ABI sequence (asm-offsets `NVHE_INIT_*`): v5.13's eight fields,
 * and mainline's, which puts `stack_pa` before `pgd_pa`.
 */
const LAYOUTS = {
  "v5.13": [
    "mair_el2",
    "tcr_el2",
    "tpidr_el2",
    "stack_hyp_va",
    "pgd_pa",
    "hcr_el2",
    "vttbr",
    "vtcr",
  ],
  "mainline": [
    "mair_el2",
    "tcr_el2",
    "tpidr_el2",
    "stack_hyp_va",
    "stack_pa",
    "pgd_pa",
    "hcr_el2",
    "vttbr",
    "vtcr",
    "tmp",
  ],
} as const;
type Layout = keyof typeof LAYOUTS;

const FIELD_VALUES: Readonly<Record<string, bigint>> = {
  mair_el2: MAIR,
  tcr_el2: TCR,
  stack_hyp_va: BigInt(STACK_VA),
  stack_pa: BigInt(STACK_PA),
  pgd_pa: BigInt(NEW_PGD),
  hcr_el2: 1n << 31n, // RW
};

/** A minimal 4-level table builder: one table page per level, taken from `next`. */
class Tables {
  #next: number;
  constructor(readonly mem: PhysicalMemory, readonly pgd: number) {
    this.#next = pgd + PAGE_SIZE;
    mem.zero(pgd, PAGE_SIZE);
  }
  /** Maps one 4 KiB page (AF, inner shareable, AttrIndx 0). */
  map(va: number, pa: number, exec: boolean, writable: boolean): void {
    let table = this.pgd;
    for (let level = 0; level < 3; level++) {
      const slot = table + 8 * (Math.floor(va / 2 ** (39 - 9 * level)) % 512);
      let d = this.mem.read64(slot);
      if ((d & 3n) !== 3n) {
        const next = this.#next;
        this.#next += PAGE_SIZE;
        this.mem.zero(next, PAGE_SIZE);
        d = BigInt(next) | 3n;
        this.mem.write64(slot, d);
      }
      table = Number(d & 0x0000_ffff_ffff_f000n);
    }
    const ap = writable ? 0n : 1n << 7n;
    const xn = exec ? 0n : 1n << 54n;
    const pte = BigInt(pa) | xn | (1n << 10n) | (3n << 8n) | ap | 3n;
    this.mem.write64(table + 8 * (Math.floor(va / PAGE_SIZE) % 512), pte);
  }
}

/** One run of the sequence from the boot's state. */
interface Run {
  machine: Machine;
  cpu: Cpu;
  mmu: Mmu;
  trace: Trace;
  result: A64RunResult;
}

/** Where the committed and pending SCTLR_EL2.M stood at each `tlbi`, from the run's trace. */
interface TlbiSeen {
  line: number;
  op: string;
  /** Committed M when the instruction ran. */
  m: number;
  /** M of a pending SCTLR_EL2 write, if any. */
  pendingM: number | undefined;
}

function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

function tlbisOf(trace: Trace, initialM: number): {
  tlbis: TlbiSeen[];
  insns: number;
  pendingM: number | undefined;
} {
  let m = initialM;
  let pendingM: number | undefined;
  const tlbis: TlbiSeen[] = [];
  let insns = 0;
  for (const e of trace.events()) {
    if (e.kind === "sysreg_write" && e.data.reg.toUpperCase() === "SCTLR_EL2") {
      const bit = Number(BigInt(e.data.value) & 1n);
      if (e.data.pending) pendingM = bit;
      else {
        m = bit;
        pendingM = undefined;
      }
    } else if (e.kind === "insn") {
      insns++;
      const [mn, op] = e.data.text.trim().toLowerCase().split(/[\s,]+/);
      if (mn === "tlbi" && op !== undefined) tlbis.push({ line: e.data.line, op, m, pendingM });
    }
  }
  return { tlbis, insns, pendingM };
}

function checkFindings(r: CheckResult, lines: number, what: string): void {
  const fs: readonly Finding[] = r.findings;
  expect(Array.isArray(fs), `${what}: findings is not an array`);
  for (const f of fs) {
    const at = `${what}: finding ${JSON.stringify(f)}`;
    expect(/^R(?:[1-9]|1[0-8])$/.test(f.rule), `${at}: rule is not one of R1..R18`);
    expect(f.severity === "fail" || f.severity === "warn", `${at}: severity is not fail or warn`);
    expect(
      Number.isInteger(f.line) && f.line >= 1 && f.line <= lines,
      `${at}: line is not a line of the source (1..${lines})`,
    );
    expect(typeof f.message === "string" && f.message.trim() !== "", `${at}: empty message`);
    expect(
      f.column === undefined || (Number.isInteger(f.column) && f.column >= 1),
      `${at}: column is not a 1-based column`,
    );
  }
  const want = fs.some((f) => f.severity === "fail") ? "fail" : fs.length > 0 ? "warn" : "pass";
  expectEqual(r.verdict, want, `${what}: verdict for ${fs.length} findings`);
}

function isSequence(x: SwitchSequence | Plugin): x is SwitchSequence {
  return "source" in x && !("setup" in x);
}

/**
 * Runs the switch-sequence conformance checks against a sequence (or a
 * plugin providing `SWITCH_SEQUENCE`), on machines built from
 * `options.plugins`, which must provide the A64 executor, the MMU and the
 * TLB. A `params`-ABI sequence runs with x0 = PA of a
 * `struct kvm_nvhe_init_params` and x1 = continuation — once in the v5.13
 * layout and once in mainline's, with each layout's `NVHE_INIT_*` offsets as
 * symbols, as the boot passes them; a `registers`-ABI one with x0 = pgd,
 * x1 = SP, x2 = continuation. The verdict is not checked: findings are
 * reported, not judged.
 *
 * @param seqOrPlugin The sequence, or its plugin.
 * @param t Test context (each check becomes a `t.step`), or undefined.
 * @param options The plugins that run it, and the checker configuration.
 * @returns Resolves when every check passed.
 * @throws {Error} A `ConformanceError` naming the first check that failed;
 *   a `TypeError` (as a rejection) when the plugins do not provide
 *   `a64_executor`, `mmu` and `tlb`, or no sequence is given.
 * @example In a test: `Deno.test("mine", (t) => switchSequenceConformance(mine, t, { plugins }))`
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { a64Executor } from "../../plugins/a64/mod.ts";
 * import { mmu } from "../../plugins/mmu/mod.ts";
 * import { switchSequence } from "../../plugins/switch_sequence/mod.ts";
 * import { tlb } from "../../plugins/tlb/mod.ts";
 * import { switchSequenceConformance } from "./switch_sequence.ts";
 * const plugins = [a64Executor(), mmu(), tlb()];
 * const seq = switchSequence({ variant: "mainline" });
 * assertEquals(await switchSequenceConformance(seq, undefined, { plugins }), undefined);
 * ```
 */
export async function switchSequenceConformance(
  seqOrPlugin: SwitchSequence | Plugin,
  t: StepContext | undefined,
  options: SwitchSequenceConformanceOptions,
): Promise<void> {
  const usage = "pass e.g. { plugins: [a64Executor(), mmu(), tlb()] }";
  if (typeof seqOrPlugin !== "object" || seqOrPlugin === null) {
    throw new TypeError(
      `Cannot run the switch-sequence conformance suite on ${
        String(seqOrPlugin)
      }: pass a SwitchSequence or a plugin providing SWITCH_SEQUENCE`,
    );
  }
  const plugins = options?.plugins;
  if (!Array.isArray(plugins)) {
    throw new TypeError(
      `Cannot run the switch-sequence conformance suite without options.plugins: ${usage}`,
    );
  }
  const all = isSequence(seqOrPlugin) ? plugins : withPlugin(plugins, seqOrPlugin);
  const build = () => createMachine({ ram: [RAM], cpus: 1, plugins: all });
  const probe = build();
  for (const cap of [A64_EXECUTOR, MMU, TLB]) {
    if (!probe.has(cap)) {
      throw new TypeError(
        `Cannot run the switch-sequence conformance suite: options.plugins provide no "${cap.name}" (${usage})`,
      );
    }
  }
  const seq = isSequence(seqOrPlugin) ? seqOrPlugin : probe.get(SWITCH_SEQUENCE);
  const config = options.config ?? {};
  const params = seq.abi === "params";
  const fnReg = params ? "x1" : "x2";
  const lines = typeof seq.source === "string" ? seq.source.split("\n").length : 0;

  /** A machine in the boot's state at step 5, and the sequence run on CPU 0. */
  const run = (layout: Layout): Run => {
    const machine = build();
    const mem = machine.memory;
    const cpu = machine.cpu(0);
    const mmu = machine.get(MMU);
    const exec: A64Executor = machine.get(A64_EXECUTOR);
    const old = new Tables(mem, OLD_PGD);
    const neu = new Tables(mem, NEW_PGD);
    for (let i = 0; i < CODE_PAGES; i++) {
      // R2: the idmap text is VA = PA in the old and the new tables.
      old.map(CODE + i * PAGE_SIZE, CODE + i * PAGE_SIZE, true, false);
      neu.map(CODE + i * PAGE_SIZE, CODE + i * PAGE_SIZE, true, false);
    }
    old.map(FN_VA, OLD_FN_PA, true, false);
    neu.map(FN_VA, FN_PA, true, false);
    neu.map(STACK_VA - PAGE_SIZE, STACK_PA, false, true);
    const symbols: Record<string, bigint> = {};
    LAYOUTS[layout].forEach((field, i) => {
      mem.write64(PARAMS + 8 * i, FIELD_VALUES[field] ?? 0n);
      symbols[`NVHE_INIT_${field.toUpperCase()}`] = BigInt(8 * i);
    });
    cpu.sysregs.write("TCR_EL2", TCR);
    cpu.sysregs.write("MAIR_EL2", MAIR);
    cpu.sysregs.write("TTBR0_EL2", BigInt(OLD_PGD));
    cpu.sysregs.write("VBAR_EL2", BigInt(VBAR));
    cpu.sysregs.write("SCTLR_EL2", SCTLR_ON);
    cpu.sp = OLD_SP;
    // EL2 used the continuation's VA on the old tables: the TLB holds that entry.
    const before = mmu.translate(cpu, FN_VA, "exec");
    if (before.kind !== "ok" || before.pa !== OLD_FN_PA) {
      throw new Error(
        `the MMU does not translate ${hex(FN_VA)} to ${hex(OLD_FN_PA)} on the old tables`,
      );
    }
    const trace = new Trace({ kinds: ["insn", "sysreg_write"] });
    cpu.pc = BigInt(CODE);
    const result = exec.run(cpu, seq.source, {
      codeBase: CODE,
      args: params
        ? { 0: BigInt(PARAMS), 1: BigInt(FN_VA) }
        : { 0: BigInt(NEW_PGD), 1: BigInt(STACK_VA), 2: BigInt(FN_VA) },
      abi: seq.abi,
      config,
      trace,
      ...(params ? { symbols } : {}),
    });
    return { machine, cpu, mmu, trace, result };
  };
  let main: Run | undefined;
  const boot = (): Run => (main ??= run("v5.13"));

  /** The end state every switch must reach (that of `__pkvm_init_switch_pgd`), for one run. */
  const returned = (r: Run, where: string) => {
    const { result } = r;
    if (result.stopped === "end") {
      throw new Error(
        `${where}ran off its end at line ${result.line} without branching to the continuation ` +
          `(${hex(FN_VA)}, in ${fnReg}): it is a fragment, not a complete switch sequence ` +
          `(the bare set_sctlr_el2 macro is one) — at boot step 5 whatever follows it in the ` +
          `idmap page would run`,
      );
    }
    const detail = result.fault
      ? `: ${result.fault.access} abort at ${hex(result.fault.va)}: ${result.fault.message}`
      : result.stopped === "branch-out"
      ? ` to ${hex(result.target ?? 0)}`
      : "";
    expect(
      result.stopped === "branch-out" && result.target === FN_VA,
      `${where}stopped (${result.stopped}${detail}) at line ${result.line} instead of returning ` +
        `to the continuation ${hex(FN_VA)} in ${fnReg}`,
    );
  };
  const ttbr = (r: Run, where: string) => {
    const v = r.cpu.sysreg("TTBR0_EL2");
    expect(
      (v & TTBR_BADDR) === BigInt(NEW_PGD),
      `${where}TTBR0_EL2 is ${hex(v)} after the switch: BADDR is not the new pgd ${hex(NEW_PGD)}` +
        ((v & TTBR_BADDR) === BigInt(OLD_PGD) ? " (still the old tables)" : ""),
    );
  };

  return await runCases(`switch sequence "${String(seq.name)}"`, t, [
    ["name, description and source are non-empty and abi is params or registers", () => {
      for (const key of ["name", "description", "source"] as const) {
        const v: unknown = seq[key];
        expect(typeof v === "string" && v.trim() !== "", `${key} is ${JSON.stringify(v)}`);
      }
      expect(
        seq.abi === "params" || seq.abi === "registers",
        `abi is ${JSON.stringify(seq.abi)}, not "params" or "registers"`,
      );
    }],
    ["the text parses and the static check gives well-formed R1–R18 findings", () => {
      const r = probe.get(A64_EXECUTOR).check(seq.source, { ...config, abi: seq.abi });
      checkFindings(r, lines, "static check");
    }],
    [`from the boot's state it returns to the continuation in ${fnReg}`, () => {
      returned(boot(), "");
    }],
    ["TTBR0_EL2.BADDR is the new pgd after the switch", () => {
      ttbr(boot(), "");
    }],
    ["SCTLR_EL2.M is 1 after the switch", () => {
      const r = boot();
      const v = r.cpu.sysreg("SCTLR_EL2");
      const pending = tlbisOf(r.trace, 1).pendingM === 1;
      expect(
        (v & 1n) === 1n,
        `SCTLR_EL2 is ${hex(v)} after the switch: the MMU is off` +
          (pending ? " (a write setting M was never synchronised by an ISB)" : ""),
      );
    }],
    ["SP is the new stack after the switch", () => {
      const sp = boot().cpu.sp;
      expectEqual(hex(sp), hex(STACK_VA), `SP after the switch (old SP ${hex(OLD_SP)})`);
    }],
    ["tlbi alle2 is executed while SCTLR_EL2.M is 0", () => {
      const { tlbis, insns } = tlbisOf(boot().trace, 1);
      expect(insns > 0, "the run's trace holds no insn events: the executor must record them");
      const all = tlbis.filter((x) => x.op === "alle2" || x.op === "alle2is");
      expect(all.length > 0, "no tlbi alle2 was executed");
      const off = all.find((x) => x.m === 0 && x.pendingM !== 1);
      const seen = all.map((x) =>
        `line ${x.line} (M = ${x.m}${x.pendingM === undefined ? "" : `, pending ${x.pendingM}`})`
      );
      expect(off !== undefined, `tlbi alle2 ran only with the MMU (maybe) on: ${seen.join(", ")}`);
    }],
    [
      "the continuation translates through the new tables, with no differing old-table TLB entry left",
      () => {
        const r = boot();
        const tr = r.mmu.translate(r.cpu, FN_VA, "exec", { debug: true });
        expect(
          tr.kind === "ok" && tr.pa === FN_PA,
          `a fetch of the continuation ${hex(FN_VA)} gives ` +
            (tr.kind === "ok"
              ? `PA ${hex(tr.pa)}${tr.fromTlb ? " from the TLB" : ""}, not ${hex(FN_PA)}` +
                (tr.pa === OLD_FN_PA ? " (the old tables' page)" : "")
              : `a fault: ${tr.message}`),
        );
        // An entry walked from the old tables may outlive the switch where
        // M=1 can land before the TTBR0_EL2 write (R3: the kernel's own v5.13
        // and 6.1 sequences); it does harm only where the new tables translate
        // its VA otherwise.
        const stale = r.machine.get(TLB).entries(r.cpu).filter((e) => {
          if (e.base !== OLD_PGD) return false;
          const w = r.mmu.walk(r.cpu, e.va, "read");
          return w.kind !== "ok" || w.pa !== e.pa;
        });
        expect(
          stale.length === 0,
          `the TLB still holds ${stale.length} entries walked from the old tables that the new ones translate otherwise (first at VA ${
            hex(stale[0]?.va ?? 0)
          })`,
        );
      },
    ],
    ["the run's findings are well-formed R1–R18 findings", () => {
      checkFindings(boot().result, lines, "run");
    }],
    ...(params
      ? [
        [
          "params ABI: it loads pgd_pa and stack_hyp_va at the NVHE_INIT_* offsets given (mainline layout)",
          () => {
            const r = run("mainline");
            returned(r, "with the mainline layout, it ");
            ttbr(r, "with the mainline layout, ");
            expectEqual(
              hex(r.cpu.sp),
              hex(STACK_VA),
              "with the mainline layout, SP after the switch",
            );
          },
        ] as const,
      ]
      : []),
  ]);
}
