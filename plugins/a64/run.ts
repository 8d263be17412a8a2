/**
 * Checking and running sequences: the static runs (`check`, see
 * `routines.ts`) and the concrete run on a machine's CPU (`runProgram`),
 * both feeding the hazard checker.
 *
 * A static run executes the program on a scratch CPU with synthetic
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
  type Cpu,
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
import { executeA64 } from "./executor.ts";
import { type A64ParseOptions, parseA64 } from "./parse.ts";
import type { A64Program } from "./program.ts";
import { checkRoutines, type FileCheckResult } from "./routines.ts";

/**
 * Checks a parsed program with static runs: every routine from every state
 * it is entered in (see `routines.ts`).
 *
 * @param program Parsed program.
 * @param config Features, errata, assumptions, ABI.
 * @returns Verdict and findings, and each routine's.
 * @throws {A64SyntaxError} A text with no instruction.
 * @throws {A64ConfigError} Unknown feature, erratum or assumption.
 * @throws {A64ExecutionError} An instruction the static run cannot execute (an illegal `eret`).
 * @throws {A64NonTerminationError} No path leaves the sequence within the step limit.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkProgram, parseA64 } from "./mod.ts";
 * const r = checkProgram(parseA64("msr sctlr_el2, x0\nisb\nret"), {});
 * assertEquals(r.verdict, "pass");
 * ```
 */
export function checkProgram(program: A64Program, config: CheckConfig = {}): FileCheckResult {
  return checkRoutines(program, config);
}

/**
 * Parses and checks a sequence or a whole file (static runs).
 *
 * @param source Assembly text, kernel spelling.
 * @param config Features, errata, assumptions, ABI.
 * @param parse Release models, configuration, a header reader (see {@link parseA64}).
 * @returns Verdict and findings, and each routine's.
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
export function check(
  source: string,
  config: CheckConfig = {},
  parse: Omit<A64ParseOptions, "features" | "errata"> = {},
): FileCheckResult {
  const cfg = resolveCheckConfig(config);
  const program = parseA64(source, { ...parse, features: cfg.features, errata: cfg.errata });
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
  if (r.tlb !== undefined) out.tlb = r.tlb;
  return out;
}
