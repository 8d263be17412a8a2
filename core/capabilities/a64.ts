/**
 * The A64 executor and switch-sequence capabilities: run EL2 system-subset
 * assembly on a CPU and check it against the barrier rules R1–R18 (stated,
 * with the reason and an example each, in plugins/a64/rules.ts).
 *
 * @module
 */

import { type Capability, capability } from "../capability.ts";
import type { TlbEntry, TlbWalkEntry } from "./mmu.ts";
import type { Cpu } from "../registers.ts";
import type { Trace } from "../trace.ts";

/** A barrier-rule finding. */
export interface Finding {
  /** Rule id, `R1` ... `R18` (see `BARRIER_RULES` of the A64 plugin). */
  rule: string;
  /**
   * `fail` for what the architecture allows to go wrong; `warn` for errata
   * and for what rests on an assumption the Arm ARM does not settle.
   */
  severity: "fail" | "warn";
  /** 1-based source line. */
  line: number;
  /** One sentence naming what could go wrong. */
  message: string;
  /** 1-based column of the offending instruction (or macro invocation), when known. */
  column?: number;
}

/** Overall verdict: pass (no finding), warn (warnings only), fail. */
export type Verdict = "pass" | "warn" | "fail";

/**
 * Checker configuration. By default: no optional CPU feature, no erratum, and
 * the assumptions listed under `assume` at their stated defaults.
 */
export interface CheckConfig {
  /** CPU features: `cnp`, `ets`. */
  features?: readonly string[];
  /** Errata: `falkor-e1041`, `tx2-219`. */
  errata?: readonly string[];
  /**
   * State-model assumptions: `code-patched-at-pou` (true), `data-clean-to-poc` (true),
   * `multi-pe` (false), `code-idmapped` (true, R2), `alloc-when-off` (false, R6),
   * `cnp-other-pes-diff-tables` and `cnp-local-tlbi-broken` (false, R12).
   */
  assume?: Readonly<Record<string, boolean>>;
  /**
   * How x0–x2 are tagged for the static run: `registers` (mainline: x0 = pgd PA,
   * x1 = SP, x2 = continuation) or `params` (v3/v5.13: x0 = PA of the init params,
   * x1 = continuation). Default: `params` when the text names an `NVHE_INIT_*`
   * offset, else `registers`.
   */
  abi?: "params" | "registers";
}

/** The result of checking or running a sequence. */
export interface CheckResult {
  /** Verdict. */
  verdict: Verdict;
  /** Findings, in line order. */
  findings: Finding[];
}

/**
 * A switch sequence: the `__pkvm_init_switch_pgd` text run at boot step 5.
 * `abi` says how it is called: `params` (v3/v5.13: x0 = PA of the init
 * params, x1 = continuation) or `registers` (mainline: x0 = pgd PA,
 * x1 = SP, x2 = continuation).
 */
export interface SwitchSequence {
  /** Variant name (`v3`, `v5.13`, `mainline`, `set_sctlr`, or a file name). */
  readonly name: string;
  /** One line describing where it comes from. */
  readonly description: string;
  /** A64 assembly text, kernel spelling. */
  readonly source: string;
  /** Calling convention. */
  readonly abi: "params" | "registers";
}

/**
 * The calling convention a switch sequence's text implies: `params` when its
 * code (not a comment) names an `NVHE_INIT_*` offset (v3/v5.13 load the pgd
 * and stack from the init params), else `registers` (mainline).
 *
 * @param source Assembly text.
 * @returns The ABI.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { inferSequenceAbi } from "./a64.ts";
 * assertEquals(inferSequenceAbi("ldr x3, [x0, #NVHE_INIT_PGD_PA]"), "params");
 * assertEquals(inferSequenceAbi("phys_to_ttbr x5, x0"), "registers");
 * ```
 */
export function inferSequenceAbi(source: string): "params" | "registers" {
  // A mainline text that mentions the old offsets in a comment is still
  // registers-ABI: drop `/* */` and `//` comments (the parser's syntax) first.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/.*$/gm, "");
  return /\bNVHE_INIT_[A-Z_]+/.test(code) ? "params" : "registers";
}

/**
 * The switch-sequence capability.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SWITCH_SEQUENCE } from "./a64.ts";
 * assertEquals(SWITCH_SEQUENCE.name, "switch_sequence");
 * ```
 */
export const SWITCH_SEQUENCE: Capability<SwitchSequence> = capability<SwitchSequence>(
  "switch_sequence",
  "the __pkvm_init_switch_pgd sequence",
  { name: "string", description: "string", source: "string", abi: "string" },
);

/**
 * Why a run of the A64 executor stopped. `loop` only ends a static run that
 * explores every path: each path came back to a state already explored, so
 * none ever leaves.
 */
export type A64StopReason =
  | "end"
  | "branch-out"
  | "fault"
  | "exception"
  | "max-steps"
  | "fetch-mismatch"
  | "loop";

/** Options of {@link A64Executor.run}. */
export interface A64RunOptions {
  /**
   * Address of the first instruction, VA = PA (the idmap page); instruction
   * `i` sits at `codeBase + 4 * i`.
   */
  codeBase: number;
  /** Initial x registers by number, e.g. `{ 0: pgdPa, 1: sp, 2: fn }`. */
  args?: Readonly<Record<number, bigint>>;
  /** Calling convention used to tag x0–x2 for the checker (default `registers`). */
  abi?: "params" | "registers";
  /** Features, errata and assumptions for parsing and checking. */
  config?: CheckConfig;
  /**
   * Step limit.
   * @default 100000
   */
  maxSteps?: number;
  /**
   * Extra or overriding `#NAME` constants, e.g. the mainline
   * `NVHE_INIT_PGD_PA` (40) when a params-ABI sequence runs against the
   * mainline `struct kvm_nvhe_init_params`.
   */
  symbols?: Readonly<Record<string, bigint>>;
  /**
   * Trace to record `insn` and `sysreg_write` events in (findings are
   * returned; the caller records them as `barrier_finding`).
   */
  trace?: Trace;
}

/** A fault that stopped a run. */
export interface A64RunFault {
  /** Data or instruction abort. */
  readonly access: "data" | "instruction";
  /** Faulting virtual address. */
  readonly va: number;
  /** Source line of the faulting instruction. */
  readonly line: number;
  /** One sentence: what faulted and why. */
  readonly message: string;
}

/**
 * Leaf TLB entries as read-only columns: entry `i` maps
 * `va[i] .. va[i] + size[i]` and was walked from the tables at `base[i]`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type TlbLeafColumns, tlbLeafColumns } from "./a64.ts";
 * const c: TlbLeafColumns = tlbLeafColumns([{ va: 0x1000, size: 4096, base: 0x4100_0000 }]);
 * assertEquals([c.length, c.va[0], c.size[0], c.base[0]], [1, 0x1000, 4096, 0x4100_0000]);
 * ```
 */
export interface TlbLeafColumns {
  /** Number of entries. */
  readonly length: number;
  /** First VA of each entry. */
  readonly va: ArrayLike<number>;
  /** Size of each entry (4 KiB, 2 MiB or 1 GiB). */
  readonly size: ArrayLike<number>;
  /** Table base each entry was walked from. */
  readonly base: ArrayLike<number>;
}

/**
 * The columns of some entries, in the order given.
 * @param entries The entries (only `va`, `size` and `base` are read).
 * @returns The columns.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tlbLeafColumns } from "./a64.ts";
 * const c = tlbLeafColumns([
 *   { va: 0x20_0000, size: 0x20_0000, base: 0x4100_0000 },
 *   { va: 0x1000, size: 4096, base: 0x4200_0000 },
 * ]);
 * assertEquals([c.length, Array.from(c.va), Array.from(c.base)],
 *   [2, [0x20_0000, 0x1000], [0x4100_0000, 0x4200_0000]]);
 * ```
 */
export function tlbLeafColumns(
  entries: readonly Pick<TlbEntry, "va" | "size" | "base">[],
): TlbLeafColumns {
  const n = entries.length;
  const va = new Float64Array(n);
  const size = new Float64Array(n);
  const base = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    va[i] = e.va;
    size[i] = e.size;
    base[i] = e.base;
  }
  return { length: n, va, size, base };
}

/**
 * What the CPU's TLB held across a run that turned the MMU on, as the
 * executor saw it (runs with a TLB): the two ways entries walked from the
 * tables in force before the switch outlast it.
 *
 * - R4: the entries a TLBI issued earlier had not yet been required to
 *   remove when SCTLR_EL2.M may have become 1 (the `msr` setting M): until
 *   the DSB that completes it, any translation may still use them.
 * - R3: walks from the committed TTBR0_EL2 made while a TTBR0_EL2 write was
 *   pending and M may be 1 (the two writes take effect in either order
 *   before a context synchronisation event); what they fill was walked after
 *   the TLBI's issue, so its completion need not remove it.
 *
 * The entries still in the TLB at the end of the run that came from another
 * table base than the one then in force are `outlived`, whichever way they
 * got there.
 */
export interface A64TlbAccount {
  /** Source line of the first `msr` after which M may be 1 while it was 0 (0: none). */
  enableLine: number;
  /** That instruction (as expanded from a macro), or "". */
  enableText: string;
  /**
   * Leaf entries a pending TLBI covered and had not removed at that point,
   * sorted by VA then size, as columns (a TLB may hold hundreds of
   * thousands at a large RAM size: no object per entry).
   */
  atEnable: TlbLeafColumns;
  /**
   * Walk-cache entries a pending TLBI covered at its issue: the executor
   * performs a TLBI on the walk cache there, so they are live at the enable
   * only in the execution where it is performed at its completion.
   */
  atEnableWalks: TlbWalkEntry[];
  /** Source line of the DSB that completed those TLBIs (0: not in the run). */
  completedLine: number;
  /** That instruction, or "". */
  completedText: string;
  /** Translated accesses between the enable and that DSB that hit one of `atEnable`. */
  used: number;
  /** Walks from the committed TTBR0_EL2 that filled the TLB while a TTBR0_EL2 write was pending and M may be 1. */
  oldBaseWalks: number;
  /** Source lines after which those walks happened (ascending, distinct). */
  oldBaseLines: number[];
  /** TTBR0_EL2 table base in force at the end of the run. */
  finalBase: number;
  /** Leaf entries from another table base still in the TLB at the end. */
  outlived: TlbEntry[];
  /** Walk-cache entries from another table base still in the TLB at the end. */
  outlivedWalks: TlbWalkEntry[];
}

/** The result of running a sequence: findings plus how the run ended. */
export interface A64RunResult extends CheckResult {
  /** Why the run stopped. */
  stopped: A64StopReason;
  /** Branch target (VA) when `stopped` is `branch-out`. */
  target?: number;
  /** The fault when `stopped` is `fault`. */
  fault?: A64RunFault;
  /** Instructions executed. */
  steps: number;
  /** Source line of the last instruction executed (0 when none ran). */
  line: number;
  /** The TLB across the MMU enable (runs with a TLB). */
  tlb?: A64TlbAccount;
}

/**
 * The A64 executor: parses EL2 system-subset assembly in kernel spelling,
 * runs it on a CPU through the MMU and TLB, and checks it against the barrier
 * rules R1–R18.
 */
export interface A64Executor {
  /** Provider name. */
  readonly name: string;
  /**
   * Checks a sequence without a machine (static run over synthetic values).
   * @param source Assembly text.
   * @param config Features, errata, assumptions.
   * @returns Verdict and findings.
   * @throws {SyntaxError} A parse error, with `line:column`.
   * @throws {Error} Input the static run cannot judge, naming the line: an
   *   instruction it cannot execute, or a sequence no path of which ends.
   */
  check(source: string, config?: CheckConfig): CheckResult;
  /**
   * Runs a sequence on a CPU of the machine: memory accesses translate
   * through the MMU and can fault, system-register writes stay pending until a
   * context synchronisation event, TLB maintenance until a DSB.
   * @param cpu The CPU (at EL2).
   * @param source Assembly text.
   * @param options Code address, arguments, configuration.
   * @returns Findings and why the run stopped.
   * @throws {SyntaxError} A parse error, with `line:column`.
   */
  run(cpu: Cpu, source: string, options: A64RunOptions): A64RunResult;
}

/**
 * The A64 executor capability.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { A64_EXECUTOR } from "./a64.ts";
 * assertEquals(A64_EXECUTOR.name, "a64_executor");
 * ```
 */
export const A64_EXECUTOR: Capability<A64Executor> = capability<A64Executor>(
  "a64_executor",
  "runs and checks EL2 system-subset A64 assembly",
  { name: "string", check: "function", run: "function" },
);
