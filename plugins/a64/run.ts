/**
 * Checking and running sequences: the static run (`check`) and the concrete
 * run on a machine's CPU (`runProgram`), both feeding the hazard checker.
 *
 * The static run executes the program on a scratch CPU with synthetic
 * arguments (a physical pgd, a new-table stack and continuation, or a params
 * block holding them) and a sparse memory that never faults; the checker
 * tracks which address space each register holds, so the result does not
 * depend on the synthetic values. A conditional branch on such a value is
 * explored both ways (the executor's `explore` mode); one on a value the
 * text fixes (a loop counter) is followed as the hardware would.
 *
 * @module
 */

import {
  type A64RunResult,
  type CheckConfig,
  type CheckResult,
  Cpu,
  type ExceptionVectors,
  inferSequenceAbi,
  type Mmu,
  type PhysicalMemory,
  type Tlb,
  type Trace,
} from "../../core/mod.ts";
import { HazardChecker } from "./checker.ts";
import { resolveCheckConfig } from "./config.ts";
import { E2hWatch } from "./e2h.ts";
import { A64NonTerminationError } from "./errors.ts";
import { executeA64 } from "./executor.ts";
import { parseA64 } from "./parse.ts";
import type { A64Program } from "./program.ts";

/** Synthetic values of the static run. */
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
} as const;

/** Step limit of the static run, all explored paths together. */
export const A64_STATIC_MAX_STEPS = 10_000;

/**
 * Checks a parsed program with a static run.
 *
 * @param program Parsed program.
 * @param config Features, errata, assumptions, ABI.
 * @returns Verdict and findings.
 * @throws {A64ConfigError} Unknown feature, erratum or assumption.
 * @throws {A64ExecutionError} An instruction the static run cannot execute (an illegal `eret`).
 * @throws {A64NonTerminationError} No path leaves the sequence within the step limit.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkProgram, parseA64 } from "./mod.ts";
 * const r = checkProgram(parseA64("msr sctlr_el2, x0\nisb"), {});
 * assertEquals(r.verdict, "pass");
 * ```
 */
export function checkProgram(program: A64Program, config: CheckConfig = {}): CheckResult {
  const cfg = resolveCheckConfig(config);
  const abi = config.abi ?? inferSequenceAbi(program.source);
  const s = A64_STATIC_RUN;
  const cpu = new Cpu(0);
  const sctlr = cfg.mmuOnAtEntry ? s.sctlrOn : s.sctlrOff;
  cpu.sysregs.set("SCTLR_EL2", sctlr);
  cpu.sysregs.set("TTBR0_EL2", BigInt(s.oldPgd));
  cpu.sp = 0x8000_0020_0000n;
  const scratch = new Map<number, bigint>();
  if (abi === "registers") {
    cpu.setX(0, BigInt(s.newPgd));
    cpu.setX(1, BigInt(s.stack));
    cpu.setX(2, BigInt(s.finalise));
  } else {
    cpu.setX(0, BigInt(s.params));
    cpu.setX(1, BigInt(s.finalise));
    scratch.set(s.params + 24, BigInt(s.stack));
    scratch.set(s.params + 32, BigInt(s.newPgd));
  }
  const checker = new HazardChecker(program, cfg, { sctlr, ttbr0: BigInt(s.oldPgd), abi });
  const r = executeA64(program, {
    cpu,
    codeBase: s.codeBase,
    checker,
    hvcReturns: true,
    lenientSysregs: true,
    scratch,
    maxSteps: A64_STATIC_MAX_STEPS,
    explore: true,
  });
  // No verdict for a sequence that never leaves. The design contract has
  // exit 1 for "a rule fails" and 2 for bad input: running the
  // end-of-sequence checks at the cut-off would judge a point the code
  // never leaves from (a long but finite loop, legitimately with
  // maintenance pending, would get a false FAIL; a spin would get a verdict
  // for code that is never handed over to), so this is input the static
  // check cannot judge.
  if (r.stopped === "max-steps") {
    throw new A64NonTerminationError(
      r.line,
      r.steps,
      `does not terminate within ${A64_STATIC_MAX_STEPS} steps (all paths together): a loop that never exits, or too many paths through conditional branches`,
    );
  }
  if (r.stopped === "loop") {
    throw new A64NonTerminationError(
      r.line,
      r.steps,
      "does not terminate: every path loops back to a state already checked and none leaves the sequence",
    );
  }
  return checker.result();
}

/**
 * Parses and checks a sequence (static run).
 *
 * @param source Assembly text, kernel spelling.
 * @param config Features, errata, assumptions, ABI.
 * @returns Verdict and findings.
 * @throws {A64SyntaxError} A parse error, with `line:column`.
 * @throws {A64ConfigError} Unknown feature, erratum or assumption.
 * @throws {A64ExecutionError} An instruction the static run cannot execute.
 * @throws {A64NonTerminationError} No path leaves the sequence within the step limit.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { check } from "./mod.ts";
 * // MMU off, switch, then the v3 tail: ic before the MMU-on ISB, no dsb after it.
 * const off = "mrs x3, sctlr_el2\nbic x4, x3, #SCTLR_ELx_M\nmsr sctlr_el2, x4\nisb\n";
 * const sw = "tlbi alle2\nmsr ttbr0_el2, x0\ndsb nsh\nisb\n";
 * const r = check(`${off}${sw}msr sctlr_el2, x3\nic iallu\nisb\nret x2`);
 * assertEquals(r.verdict, "fail");
 * assertEquals(r.findings.map((f) => [f.rule, f.line]), [["R1", 10], ["R9", 12], ["R10", 12]]);
 * ```
 */
export function check(source: string, config: CheckConfig = {}): CheckResult {
  const cfg = resolveCheckConfig(config);
  const program = parseA64(source, { features: cfg.features, errata: cfg.errata });
  return checkProgram(program, config);
}

/** Options of {@link runProgram}. */
export interface RunProgramOptions {
  /** The CPU (at EL2). */
  cpu: Cpu;
  /** Address of instruction 0, VA = PA (the idmap page). */
  codeBase: number;
  /** Physical memory; without it, a sparse scratch store. */
  memory?: PhysicalMemory;
  /** MMU; without it, flat addresses. */
  mmu?: Mmu;
  /** TLB. */
  tlb?: Tlb;
  /** Trace. */
  trace?: Trace;
  /** EL2 vector handlers for `hvc`. */
  vectors?: ExceptionVectors;
  /** Initial x registers by number. */
  args?: Readonly<Record<number, bigint>>;
  /** Calling convention for the checker's tags (default: inferred from the text). */
  abi?: "params" | "registers";
  /** Features, errata, assumptions. */
  config?: CheckConfig;
  /**
   * Step limit.
   * @default 100000
   */
  maxSteps?: number;
  /**
   * Feed the hazard checker (off for raw speed).
   * @default true
   */
  check?: boolean;
}

/**
 * Runs a parsed program on a CPU: memory accesses translate and can fault,
 * system-register writes are pending until a CSE, TLBI until a DSB; the
 * hazard checker follows the concrete run.
 *
 * @param program Parsed program.
 * @param options CPU, code address, memory, MMU/TLB, arguments, configuration.
 * @returns Findings and how the run ended.
 * @throws {A64ExecutionError} An instruction the CPU cannot execute as written.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "../../core/mod.ts";
 * import { parseA64, runProgram } from "./mod.ts";
 * const cpu = new Cpu(0);
 * // A reset CPU has the MMU off; `ret` goes back to the (idmap) caller in x30.
 * const r = runProgram(parseA64("mov sp, x1\nret"), {
 *   cpu, codeBase: 0x1000, args: { 1: 0x8000n, 30: 0x9000n },
 * });
 * assertEquals([r.stopped, r.target, r.verdict, cpu.sp], ["branch-out", 0x9000, "pass", 0x8000n]);
 * ```
 */
export function runProgram(program: A64Program, options: RunProgramOptions): A64RunResult {
  const cfg = resolveCheckConfig(options.config ?? {});
  const cpu = options.cpu;
  const args = Object.entries(options.args ?? {}).map(([k, v]) => [Number(k), v] as const);
  for (const [k] of args) {
    if (!Number.isInteger(k) || k < 0 || k > 30) {
      throw new RangeError(`Cannot pass an argument in x${k}: registers are x0-x30`);
    }
  }
  const previous = args.map(([k]) => [k, cpu.x(k)] as const);
  for (const [k, v] of args) cpu.setX(k, v);
  const abi = options.abi ?? options.config?.abi ?? inferSequenceAbi(program.source);
  const checker = options.check === false ? undefined : new HazardChecker(program, cfg, {
    sctlr: cpu.sysregs.read("SCTLR_EL2"),
    ttbr0: cpu.sysregs.read("TTBR0_EL2"),
    abi,
  });
  const e: Parameters<typeof executeA64>[1] = { cpu, codeBase: options.codeBase };
  if (options.memory) e.memory = options.memory;
  if (options.mmu) e.mmu = options.mmu;
  if (options.tlb) e.tlb = options.tlb;
  if (options.trace) e.trace = options.trace;
  // On a VHE CPU, writes in the E2H = 0 layouts under HCR_EL2.E2H = 1 are findings.
  const e2h = cpu.model.features.vhe
    ? new E2hWatch(cpu.sysregs.read("HCR_EL2"), options.trace)
    : undefined;
  if (e2h) e.trace = e2h;
  if (options.vectors) e.vectors = options.vectors;
  if (options.maxSteps !== undefined) e.maxSteps = options.maxSteps;
  if (checker) e.checker = checker;
  let r;
  try {
    r = executeA64(program, e);
  } catch (err) {
    // executeA64 restored the CPU to its entry state; undo the arguments too.
    for (const [k, v] of previous) cpu.setX(k, v);
    throw err;
  }
  let res = checker?.result() ?? { verdict: "pass" as const, findings: [] };
  if (e2h !== undefined && e2h.findings.length > 0) {
    res = { ...res, verdict: "fail", findings: [...res.findings, ...e2h.findings] };
  }
  const out: A64RunResult = { ...res, stopped: r.stopped, steps: r.steps, line: r.line };
  if (r.target !== undefined) out.target = r.target;
  if (r.fault !== undefined) out.fault = r.fault;
  return out;
}
