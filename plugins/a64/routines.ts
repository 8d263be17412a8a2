/**
 * Checking a whole file routine by routine. The routines are the text's
 * `SYM_*` symbols (or `.globl` labels; a text without any is one routine).
 * Each is checked from every state it is entered in:
 *
 * - a routine the kernel enters from outside the file (a global symbol)
 *   starts in the state its callers give it: for hyp-init.S the release
 *   models say how (`kernel/entries.ts`: the MMU off after the hyp stub, on
 *   for `__pkvm_init_switch_pgd` ...); for any other the assumption
 *   `mmu-on-at-entry` decides, and the report says it was assumed;
 * - a routine the text calls or jumps to starts in the state each caller's
 *   check reaches it in (a `bl` returns to outside the routine);
 * - a vector table (2 KiB aligned, 128-byte slots) is entered at its slots.
 *
 * A routine's findings are those of the checks that start at it (a caller's
 * include what the callee does on its behalf); the file's are all of them,
 * one per rule and line. The routines that turn the EL2 MMU on or off or
 * switch TTBR0_EL2 on some path are marked `switches`.
 *
 * @module
 */

import {
  type CheckConfig,
  type CheckResult,
  Cpu,
  type Finding,
  inferSequenceAbi,
  type Verdict,
} from "../../core/mod.ts";
import { HazardChecker, type Space } from "./checker.ts";
import { resolveCheckConfig } from "./config.ts";
import { A64NonTerminationError, A64SyntaxError } from "./errors.ts";
import {
  type A64EntryState,
  asCalledRoutine,
  asOwnCheck,
  entryStateKey,
  entryStateLine,
  executeA64,
} from "./executor.ts";
import { hypInitEntries } from "./kernel/entries.ts";
import { kernelRelease } from "./kernel/releases.ts";
import type { EntryArg, KernelEntry } from "./kernel/types.ts";
import { Op } from "./opcodes.ts";
import type { A64Program } from "./program.ts";

/** How one check of a routine started. */
export interface RoutineEntry {
  /** SCTLR_EL2.M at entry (`pending`: a write not yet synchronised). */
  readonly mmu: "on" | "off" | "pending";
  /** Who enters it and how. */
  readonly how: string;
  /** `kernel`: how the kernel enters it; `text`: a branch in the text; `assumed`: the `mmu-on-at-entry` assumption. */
  readonly from: "kernel" | "text" | "assumed";
}

/** One routine's result. */
export interface RoutineReport {
  /** Symbol name (`(text)` for code outside any symbol). */
  readonly name: string;
  /** Source line of its start. */
  readonly line: number;
  /** How it was entered, one per check. */
  readonly entries: readonly RoutineEntry[];
  /** Some path turns the EL2 MMU on or off, or writes TTBR0_EL2. */
  readonly switches: boolean;
  /** Worst finding of its checks. */
  readonly verdict: Verdict;
  /** Findings of its checks, in line order. */
  readonly findings: readonly Finding[];
  /** Why it has no full check (a routine no path of which ever leaves). */
  readonly note?: string;
}

/** A file's result: the verdict over every routine, and each routine's. */
export interface FileCheckResult extends CheckResult {
  /** Every routine, in text order. */
  routines: RoutineReport[];
  /** The release whose models read the text, if any. */
  release?: string;
}

/**
 * Synthetic values of the static runs.
 * @example x2 of the registers ABI is the continuation, a new-table VA
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { A64_STATIC_RUN, check } from "./mod.ts";
 * // Branching there before the switch fetches through the old tables.
 * assertEquals(check("ret x2").findings.map((f) => f.rule), ["R3"]);
 * assertEquals(A64_STATIC_RUN.sctlrOn & 1n, 1n); // M
 * ```
 */
export const A64_STATIC_RUN = {
  /** Where the code sits (an idmap page, VA = PA). */
  codeBase: 0x4008_0000,
  /** TTBR0_EL2 at entry: the host-built tables. */
  oldPgd: 0x4100_0000,
  /** The new pgd (x0 of the mainline ABI, `params->pgd_pa` of v3/v5.13). */
  newPgd: 0x4120_0000,
  /** PA of the init params block (x0 of the v3/v5.13 ABI). */
  params: 0x4130_0000,
  /** New-table stack top VA. */
  stack: 0x8000_0010_0000,
  /** Continuation VA (`__pkvm_init_finalise`). */
  finalise: 0x8000_0000_4000,
  /** SCTLR_EL2 with the MMU on: M, C, SA, I, IESB and the RES1 bits. */
  sctlrOn: 0x30e5183dn,
  /** SCTLR_EL2 with the MMU off (the RES1 bits). */
  sctlrOff: 0x30c50830n,
  /** Where a routine entered by a call returns to (outside the text). */
  returnAddress: 0xffff_8000_0800_0000n,
  /** ELR_EL2 of an exception taken from EL1 (the host's next instruction). */
  hostPc: 0xffff_8000_0810_0000n,
} as const;

/**
 * Step limit of one check, all explored paths together: this plus 64 per instruction.
 * @example A loop with no way out
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { A64NonTerminationError, A64_STATIC_MAX_STEPS, check } from "./mod.ts";
 * // x0 is known, grows and decides a branch: no state repeats, so only the limit ends it.
 * assertThrows(
 *   () => check("mov x0, #1\n1: add x0, x0, #1\ncbz x0, 2f\nb 1b\n2: ret x2"),
 *   A64NonTerminationError,
 *   `within ${A64_STATIC_MAX_STEPS + 5 * 64} steps`,
 * );
 * ```
 */
export const A64_STATIC_MAX_STEPS = 10_000;

/** Checks from recorded call sites, at most, per routine. */
const MAX_CALL_SITES = 16;

interface Routine {
  name: string;
  global: boolean;
  start: number;
  end: number;
  line: number;
  align: number;
}

interface Check {
  entry: RoutineEntry;
  findings: Finding[];
  switches: boolean;
  loops: boolean;
}

const TAG: Readonly<Record<EntryArg, Space>> = {
  pgd: "PA",
  params: "PA",
  pa: "PA",
  stack: "newVA",
  fn: "newVA",
  value: "unknown",
};

/** A deterministic synthetic address per external symbol: VAs in one region, PAs in another. */
function symbolAddresses(): (name: string, kind: "va" | "pa") => bigint {
  const seen = new Map<string, number>();
  return (name, kind) => {
    let k = seen.get(name);
    if (k === undefined) {
      k = seen.size;
      seen.set(name, k);
    }
    return kind === "va"
      ? 0x8000_0040_0000n + BigInt(k) * 0x1000n
      : 0x4400_0000n + BigInt(k) * 0x1000n;
  };
}

/** The routines of a program. */
function routinesOf(program: A64Program): Routine[] {
  const n = program.instructions.length;
  const syms = program.symbols ?? [];
  const out: Routine[] = syms.map((s) => ({
    name: s.name,
    global: s.global,
    start: s.start,
    end: s.end,
    line: s.line,
    align: s.align,
  }));
  const first = Math.min(n, ...out.map((r) => r.start));
  const before = program.instructions.slice(0, first).some((i) => !i.padding);
  if (out.length === 0 || before) {
    const startIdx = program.instructions.findIndex((i) => !i.padding);
    out.unshift({
      name: "(text)",
      global: true,
      start: Math.max(0, startIdx),
      end: out.length === 0 ? n : first,
      line: program.instructions[Math.max(0, startIdx)]?.line ?? 1,
      align: 4,
    });
  }
  return out;
}

/** Slots of a vector table a check can start at (not a branch-to-self). */
function vectorSlots(program: A64Program, r: Routine): number[] {
  if (r.align < 2048 || r.end - r.start < 16 * 32) return [];
  const ins = program.instructions;
  const out: number[] = [];
  for (let slot = 0; slot < 16; slot++) {
    let i = r.start + slot * 32;
    // Follow unconditional branches a little: `b __invalid` where `__invalid: b .`.
    for (let hop = 0; hop < 4 && ins[i]?.op === Op.B; hop++) {
      if (ins[i]!.target === i) {
        i = -1;
        break;
      }
      i = ins[i]!.target;
    }
    if (i >= 0) out.push(r.start + slot * 32);
  }
  return out;
}

/**
 * Checks every routine of a parsed program.
 *
 * @param program The program.
 * @param config Features, errata, assumptions, ABI of unknown routines.
 * @param options `exactMerge`: merge explored states only when every
 *   register is equal (the reference the faster merge is tested against).
 * @returns The file's verdict and findings, and each routine's.
 * @throws {A64SyntaxError} A text with no instruction.
 * @throws {A64NonTerminationError} A routine the check cannot judge: its
 *   paths run past the step limit, or (a text of one routine) none leaves.
 * @throws {A64ExecutionError} An instruction the static run cannot execute.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkRoutines, parseA64 } from "./mod.ts";
 * const p = parseA64("SYM_FUNC_START(f)\n\tbl g\n\tret\nSYM_FUNC_END(f)\nSYM_FUNC_START_LOCAL(g)\n\tmrs x0, sctlr_el2\n\tmsr sctlr_el2, x0\n\tret\nSYM_FUNC_END(g)");
 * const r = checkRoutines(p);
 * assertEquals(r.routines.map((x) => [x.name, x.verdict, x.entries[0]!.from]), [["f", "pass", "assumed"], ["g", "fail", "text"]]);
 * // g's finding (R1 at its ret, line 8) is g's, though f's run found it too.
 * ```
 */
export function checkRoutines(
  program: A64Program,
  config: CheckConfig = {},
  options: { exactMerge?: boolean } = {},
): FileCheckResult {
  const ins = program.instructions;
  if (!ins.some((i) => !i.padding)) {
    throw new A64SyntaxError(
      1,
      1,
      "",
      "no instructions: the text is empty or holds only comments and directives",
      "at least one A64 instruction",
    );
  }
  const rel = program.release === undefined ? undefined : kernelRelease(program.release);
  const cfg = resolveCheckConfig({ ...config, assume: { ...rel?.assume, ...config.assume } });
  const abi = config.abi ?? inferSequenceAbi(program.source);
  const kernel = rel?.entries ?? hypInitEntries(abi);
  const routines = routinesOf(program);
  const starts = new Map(routines.map((r) => [r.start, r]));
  const s = A64_STATIC_RUN;
  const n = ins.length;
  const maxSteps = A64_STATIC_MAX_STEPS + 64 * n;
  const symbolAddress = symbolAddresses();
  const symbols = collectOffsets(program, rel?.symbols);
  const checks = new Map<Routine, Check[]>(routines.map((r) => [r, []]));
  const queue: { routine: Routine; run: () => Check }[] = [];
  const seenStates = new Map<Routine, Set<string>>();
  const referenced = new Set<number>();
  for (const x of ins) if (x.target >= 0 && starts.has(x.target)) referenced.add(x.target);

  const within = (i: number) =>
    routines.filter((x) => x.start <= i && i < x.end).sort((a, b) =>
      (a.end - a.start) - (b.end - b.start)
    )[0];
  const record = (
    index: number,
    via: "call" | "jump",
    state: A64EntryState,
    from: Routine,
    at: number,
  ) => {
    const r = starts.get(index);
    if (r === undefined || r === from) return;
    const start = via === "call" ? asCalledRoutine(state, s.returnAddress) : asOwnCheck(state);
    const key = entryStateKey(start, program, options.exactMerge === true);
    const seen = seenStates.get(r) ?? new Set<string>();
    seenStates.set(r, seen);
    if (seen.has(key) || seen.size >= MAX_CALL_SITES) return;
    seen.add(key);
    const line = ins[at]?.line ?? entryStateLine(state);
    const caller = within(at) ?? from;
    const entry: RoutineEntry = {
      mmu: start.checker.mmu,
      how: `${via === "call" ? "called" : "jumped to"} from ${caller.name} (line ${line})${
        caller === from ? "" : `, reached from ${from.name}`
      }`,
      from: "text",
    };
    queue.push({ routine: r, run: () => explore(r, entry, { resume: start }) });
  };

  const explore = (
    r: Routine,
    entry: RoutineEntry,
    how: { resume: A64EntryState } | { kernel: KernelEntry; start: number },
  ): Check => {
    const hook = {
      starts: new Set(starts.keys()),
      record: (index: number, via: "call" | "jump", state: A64EntryState, at: number) =>
        record(index, via, state, r, at),
    };
    const common = {
      codeBase: s.codeBase,
      hvcReturns: true,
      lenientSysregs: true,
      maxSteps,
      explore: true,
      symbolAddress,
      onRoutineEntry: hook,
      ...(options.exactMerge ? { exactMerge: true } : {}),
    };
    let checker: HazardChecker;
    let res;
    if ("resume" in how) {
      checker = how.resume.checker;
      res = executeA64(program, { ...common, cpu: new Cpu(0), resume: how.resume });
    } else {
      const k = how.kernel;
      const on = k.mmu === "on";
      const cpu = new Cpu(0);
      const sctlr = on ? s.sctlrOn : s.sctlrOff;
      cpu.sysregs.set("SCTLR_EL2", sctlr);
      cpu.sysregs.set("TTBR0_EL2", BigInt(s.oldPgd));
      cpu.sp = on ? 0x8000_0020_0000n : 0x4150_0000n;
      if (k.fromEl1) {
        // An HVC from EL1: SPSR_EL2/ELR_EL2 hold the host's state (EL1h, DAIF masked).
        cpu.sysregs.set("SPSR_EL2", 0x3c5n);
        cpu.sysregs.set("ELR_EL2", s.hostPc);
      }
      const scratch = new Map<number, bigint>();
      const tags: Record<number, Space> = { 30: k.fromEl1 ? "unknown" : "code" };
      cpu.setX(30, s.returnAddress);
      for (const [reg, kind] of Object.entries(k.args ?? {})) {
        const v = kind === "pgd"
          ? s.newPgd
          : kind === "params"
          ? s.params
          : kind === "stack"
          ? s.stack
          : kind === "fn"
          ? s.finalise
          : kind === "pa"
          ? 0x4160_0000
          : 0x1000 + Number(reg);
        cpu.setX(Number(reg), BigInt(v));
        tags[Number(reg)] = TAG[kind];
        if (kind === "params") {
          const put = (name: string, value: bigint) => {
            const off = symbols[name];
            if (off !== undefined) scratch.set(s.params + Number(off), value);
          };
          put("NVHE_INIT_STACK_HYP_VA", BigInt(s.stack));
          put("NVHE_INIT_PGD_PA", BigInt(s.newPgd));
        }
      }
      checker = new HazardChecker(program, cfg, { sctlr, ttbr0: BigInt(s.oldPgd), abi, tags });
      res = executeA64(program, { ...common, cpu, checker, scratch, start: how.start });
    }
    if (res.stopped === "max-steps") {
      throw new A64NonTerminationError(
        res.line,
        res.steps,
        `does not terminate within ${maxSteps} steps (all paths together, from ${r.name}): a loop that never exits, or too many paths through conditional branches`,
      );
    }
    return {
      entry,
      findings: checker.result().findings,
      switches: checker.switches,
      loops: res.stopped === "loop",
    };
  };

  for (const r of routines) {
    const known = r.global ? kernel[r.name] : undefined;
    if (known !== undefined) {
      for (const k of known) {
        const start = r.start + (k.offset ?? 0) / 4;
        queue.push({
          routine: r,
          run: () => explore(r, { mmu: k.mmu, how: k.how, from: "kernel" }, { kernel: k, start }),
        });
      }
      continue;
    }
    if (!r.global && referenced.has(r.start)) continue;
    const mmu = cfg.mmuOnAtEntry ? "on" : "off";
    const args: Record<number, EntryArg> = abi === "registers"
      ? { 0: "pgd", 1: "stack", 2: "fn" }
      : { 0: "params", 1: "fn" };
    const slots = vectorSlots(program, r);
    const entries = slots.length > 0 ? slots : [r.start];
    for (const start of entries) {
      const k: KernelEntry = {
        mmu,
        args,
        how: slots.length > 0
          ? `vector at offset 0x${((start - r.start) * 4).toString(16)}, MMU ${mmu} (assumed)`
          : `entered from outside the text with the MMU ${mmu} (assumed: mmu-on-at-entry=${cfg.mmuOnAtEntry}), ${abi} ABI`,
        ...(slots.length > 0 && start - r.start >= 256 ? { fromEl1: true } : {}),
      };
      queue.push({
        routine: r,
        run: () => explore(r, { mmu, how: k.how, from: "assumed" }, { kernel: k, start }),
      });
    }
  }

  for (let q = 0; q < queue.length; q++) {
    const job = queue[q]!;
    checks.get(job.routine)!.push(job.run());
  }

  const reports: RoutineReport[] = routines.map((r) => {
    const cs = checks.get(r)!;
    const merged = mergeFindings(cs.flatMap((c) => c.findings));
    const report: RoutineReport = {
      name: r.name,
      line: r.line,
      entries: cs.map((c) => c.entry),
      switches: cs.some((c) => c.switches),
      verdict: verdictOf(merged),
      findings: merged,
    };
    if (cs.length > 0 && cs.every((c) => c.loops)) {
      return {
        ...report,
        note: "no path leaves it: every path loops back (a CPU parked on purpose)",
      };
    }
    return report;
  });
  const looping = reports.filter((r) => r.note !== undefined);
  if (routines.length === 1 && looping.length === 1) {
    const last = ins.length - 1;
    throw new A64NonTerminationError(
      ins[last]?.line ?? 1,
      0,
      "does not terminate: every path loops back to a state already checked and none leaves the sequence",
    );
  }
  const findings = mergeFindings(reports.flatMap((r) => r.findings));
  const out: FileCheckResult = { verdict: verdictOf(findings), findings, routines: reports };
  if (rel !== undefined) out.release = rel.name;
  return out;
}

/** The offsets of the init-params fields (from the constants the text was read with). */
function collectOffsets(
  program: A64Program,
  relSymbols: Readonly<Record<string, bigint>> | undefined,
): Record<string, bigint> {
  const out: Record<string, bigint> = { ...relSymbols };
  // Offsets the text itself names in loads (`ldr x3, [x0, #NVHE_INIT_PGD_PA]`).
  for (const i of program.instructions) {
    if (i.offsetSymbol !== "" && (i.op === Op.LDR || i.op === Op.STR)) {
      out[i.offsetSymbol] ??= i.imm;
    }
  }
  return out;
}

/** One finding per rule and line; a fail replaces a warn there. */
function mergeFindings(fs: readonly Finding[]): Finding[] {
  const m = new Map<string, Finding>();
  for (const f of fs) {
    const k = `${f.rule}:${f.line}`;
    const old = m.get(k);
    if (old === undefined || (old.severity === "warn" && f.severity === "fail")) m.set(k, f);
  }
  return [...m.values()].sort((a, b) => a.line - b.line);
}

function verdictOf(fs: readonly Finding[]): Verdict {
  let v: Verdict = "pass";
  for (const f of fs) {
    if (f.severity === "fail") return "fail";
    v = "warn";
  }
  return v;
}
