/**
 * The barrier rules R1–R16 of barrier-rules.md, with their severities.
 *
 * Severity: architectural rules fail. R13 fails too when the Falkor E1041
 * erratum is configured, because on such a CPU the hazard is certain (named
 * case T11). Advisory and UNVERIFIED items warn: R14 at M=0 (whether the
 * ThunderX2 erratum applies with the MMU off is UNVERIFIED), R6 (no EL2 TLB
 * allocation at M=0 is assumed, not documented) and R11 for a broadcast
 * operation completed by DSB NSH on one PE.
 *
 * @module
 */

/** One rule. */
export interface BarrierRule {
  /** `R1` ... `R16`. */
  readonly id: string;
  /** Short name, as in barrier-rules.md. */
  readonly name: string;
  /** What it requires, in one sentence. */
  readonly requirement: string;
}

/**
 * Every rule, by id.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BARRIER_RULES } from "./mod.ts";
 * assertEquals(BARRIER_RULES.R3!.name, "TTBR-CSE");
 * assertEquals(Object.keys(BARRIER_RULES).length, 16);
 * ```
 */
export const BARRIER_RULES: Readonly<Record<string, BarrierRule>> = Object.fromEntries(
  ([
    ["R1", "SCTLR-CSE", "Anything that depends on a new SCTLR_EL2.M/C/I value follows a CSE."],
    ["R2", "IDMAP", "Code that toggles M runs at VA == PA, mapped that way in old and new tables."],
    ["R3", "TTBR-CSE", "The TTBR0_EL2 (and TCR/MAIR) write is synchronised by an ISB before M=1."],
    [
      "R4",
      "TLBI-DSB(-ISB)",
      "A TLBI completes with a DSB and, without FEAT_ETS, an ISB before M=1.",
    ],
    ["R5", "TLBI-AFTER-OFF", "The EL2 TLB is invalidated after the MMU-off ISB and before M=1."],
    [
      "R6",
      "NO-ALLOC-OFF",
      "The TLBI-then-TTBR order assumes no TLB allocation at M=0 (UNVERIFIED).",
    ],
    ["R7", "SPEC-MMU-ON", "TTBR0_EL2 is not switched while the MMU may be on."],
    ["R8", "MMU-OFF-ATTRS", "Data loaded at M=0 (Device, uncached) is clean to the PoC."],
    ["R9", "IC-AFTER-ON", "After M=1 and its ISB, ic iallu; dsb; isb before running patched code."],
    ["R10", "IC-DSB-ISB", "An IC completes at a DSB and is seen by fetch after a later ISB."],
    ["R11", "DSB-SCOPE", "The DSB domain covers the maintenance scope (NSH for local ops)."],
    ["R12", "CNP", "CnP=1 only when every PE sharing the TLB uses the same tables."],
    ["R13", "E1041", "Falkor: an ISB immediately before the msr that takes M from 1 to 0."],
    ["R14", "TX2-219", "ThunderX2: no load/store between a TTBR write and its CSE."],
    ["R15", "SP-ORDER", "No stack use until the stack's address space is the one in force."],
    ["R16", "PT-VISIBLE", "Table writes are made visible to the walker by a DSB before M=1."],
  ] as const).map(([id, name, requirement]) => [id, { id, name, requirement }]),
);
