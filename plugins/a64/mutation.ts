/**
 * Mutation mode: for a sequence, drop each barrier or maintenance
 * instruction in turn and swap each one with its neighbours, re-check every
 * mutant, and report which the checker catches and with which rules —
 * showing that every barrier is needed, or that one is not.
 *
 * @module
 */

import type { CheckConfig, CheckResult, Verdict } from "../../core/mod.ts";
import { resolveCheckConfig } from "./config.ts";
import { A64ExecutionError, A64NonTerminationError } from "./errors.ts";
import { isBarrierOrMaintenance } from "./opcodes.ts";
import { type A64ParseOptions, parseA64 } from "./parse.ts";
import { type A64Program, dropInstruction, swapInstructions } from "./program.ts";
import { checkProgram } from "./run.ts";

/** One mutant and what the checker said about it. */
export interface Mutant {
  /** `drop` one instruction, or `swap` it with the next. */
  readonly kind: "drop" | "swap";
  /** Instruction index (the first of a swapped pair). */
  readonly index: number;
  /** Source line of that instruction. */
  readonly line: number;
  /** What changed, e.g. `drop dsb nsh` or `swap tlbi alle2 <-> msr ttbr0_el2, x5`. */
  readonly description: string;
  /** The mutant's verdict. */
  readonly verdict: Verdict;
  /** Whether the checker rejects the mutant (a fail the original did not have). */
  readonly caught: boolean;
  /** Failing rule ids the mutant has and the original has not. */
  readonly rules: readonly string[];
}

/**
 * The mutation report. Mutants the static check cannot judge (a swap that
 * moves a branch so the sequence loops forever) are left out.
 */
export interface MutationReport {
  /** The original sequence's result. */
  readonly original: CheckResult;
  /** Every mutant, drops first, in program order. */
  readonly mutants: readonly Mutant[];
  /** How many mutants were caught. */
  readonly caught: number;
}

/**
 * Runs mutation mode over a sequence.
 *
 * @param source Assembly text, or a parsed program.
 * @param config Features, errata, assumptions, ABI (as for `check`).
 * @param parse Release models, configuration, a header reader (as for `check`).
 * @returns The report.
 * @throws {A64SyntaxError} A parse error.
 * @throws {A64NonTerminationError} The original sequence does not terminate
 *   (a mutant that does not is left out of the report).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mutate } from "./mod.ts";
 * const r = mutate("tlbi alle2\ndsb nsh\nisb\nret");
 * assertEquals(r.original.verdict, "pass");
 * const drops = r.mutants.filter((m) => m.kind === "drop");
 * assertEquals(drops.map((m) => [m.description, m.caught, m.rules]), [
 *   ["drop tlbi alle2", false, []], // nothing to invalidate here: not needed
 *   ["drop dsb nsh", true, ["R4"]],
 *   ["drop isb", true, ["R4"]],
 * ]);
 * ```
 */
export function mutate(
  source: string | A64Program,
  config: CheckConfig = {},
  parse: Omit<A64ParseOptions, "features" | "errata"> = {},
): MutationReport {
  const cfg = resolveCheckConfig(config);
  const program = typeof source === "string"
    ? parseA64(source, { ...parse, features: cfg.features, errata: cfg.errata })
    : source;
  const original = checkProgram(program, config);
  const origFails = new Set(
    original.findings.filter((f) => f.severity === "fail").map((f) => f.rule),
  );
  const judge = (mutant: A64Program) => {
    let r: CheckResult;
    try {
      r = checkProgram(mutant, config);
    } catch (e) {
      // A swap that moves a branch can make the sequence loop forever (or
      // reach an instruction it cannot execute): that mutant tests control
      // flow, not a barrier, and has no verdict. Leave it out.
      if (e instanceof A64NonTerminationError || e instanceof A64ExecutionError) return null;
      throw e;
    }
    const fails = [
      ...new Set(r.findings.filter((f) => f.severity === "fail").map((f) => f.rule)),
    ];
    const rules = fails.filter((id) => !origFails.has(id));
    const worse = r.verdict === "fail" && original.verdict !== "fail";
    return { verdict: r.verdict, caught: worse || rules.length > 0, rules: worse ? fails : rules };
  };
  const ins = program.instructions;
  const mutants: Mutant[] = [];
  ins.forEach((x, i) => {
    if (!isBarrierOrMaintenance(x.op)) return;
    const j = judge(dropInstruction(program, i));
    if (j === null) return;
    mutants.push({ kind: "drop", index: i, line: x.line, description: `drop ${x.text}`, ...j });
  });
  for (let i = 0; i + 1 < ins.length; i++) {
    const a = ins[i]!;
    const b = ins[i + 1]!;
    if (!isBarrierOrMaintenance(a.op) && !isBarrierOrMaintenance(b.op)) continue;
    if (a.text === b.text) continue;
    const j = judge(swapInstructions(program, i));
    if (j === null) continue;
    mutants.push({
      kind: "swap",
      index: i,
      line: a.line,
      description: `swap ${a.text} <-> ${b.text}`,
      ...j,
    });
  }
  return { original, mutants, caught: mutants.filter((m) => m.caught).length };
}
