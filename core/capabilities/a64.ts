/**
 * The A64 executor and switch-sequence capabilities: run EL2 system-subset
 * assembly on a CPU and check it against the barrier rules R1–R16.
 *
 * @module
 */

import { type Capability, capability } from "../capability.ts";

/** A barrier-rule finding. */
export interface Finding {
  /** Rule id from barrier-rules.md (`R1` ... `R16`). */
  rule: string;
  /** `fail` for architectural rules, `warn` for errata and UNVERIFIED items. */
  severity: "fail" | "warn";
  /** 1-based source line. */
  line: number;
  /** One sentence naming what could go wrong. */
  message: string;
}

/** Overall verdict: pass (no finding), warn (warnings only), fail. */
export type Verdict = "pass" | "warn" | "fail";

/** Checker configuration (defaults per barrier-rules.md §3). */
export interface CheckConfig {
  /** CPU features: `cnp`, `ets`. */
  features?: readonly string[];
  /** Errata: `falkor-e1041`, `tx2-219`. */
  errata?: readonly string[];
  /** State-model assumptions: `code-patched-at-pou` (true), `data-clean-to-poc` (true), `multi-pe` (false). */
  assume?: Readonly<Record<string, boolean>>;
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
);
