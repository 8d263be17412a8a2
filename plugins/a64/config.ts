/**
 * Checker configuration: CPU features, errata and the state model's
 * assumptions, with their defaults (see `A64_ASSUMPTIONS`).
 *
 * @module
 */

import type { CheckConfig } from "../../core/mod.ts";
import { A64ConfigError } from "./errors.ts";

/**
 * Known features: CPU features (`cnp` FEAT_TTCNP, `ets` FEAT_ETS, `pauth`
 * pointer authentication, `bti` FEAT_BTI) and `kvm-protected-mode` (KVM in
 * protected mode), each deciding the alternatives that test it.
 */
export const A64_FEATURES: readonly string[] = ["cnp", "ets", "pauth", "bti", "kvm-protected-mode"];
/** Known errata. */
export const A64_ERRATA: readonly string[] = ["falkor-e1041", "tx2-219"];
/**
 * Known assumptions and their defaults.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { A64_ASSUMPTIONS } from "./mod.ts";
 * assertEquals(A64_ASSUMPTIONS["code-patched-at-pou"], true);
 * ```
 */
export const A64_ASSUMPTIONS: Readonly<Record<string, boolean>> = {
  "code-patched-at-pou": true,
  "data-clean-to-poc": true,
  "multi-pe": false,
  "code-idmapped": true,
  "alloc-when-off": false,
  "cnp-other-pes-diff-tables": false,
  "cnp-local-tlbi-broken": false,
  "mmu-on-at-entry": true,
};

/** A configuration with every choice made. */
export interface ResolvedCheckConfig {
  /** FEAT_TTCNP in hardware (whether `ARM64_HAS_CNP` applies: see `features`). */
  readonly cnp: boolean;
  /** FEAT_ETS: TLBI;DSB orders later translations without a CSE. */
  readonly ets: boolean;
  /** Qualcomm Falkor erratum E1041. */
  readonly falkorE1041: boolean;
  /** Cavium ThunderX2 erratum 219. */
  readonly tx2_219: boolean;
  /** Code may have been patched at the PoU without a clean to the PoC (R9). */
  readonly codePatchedAtPoU: boolean;
  /** Data read with the MMU off is clean to the PoC (R8). */
  readonly dataCleanToPoC: boolean;
  /** Other PEs are running and must observe the maintenance (R11). */
  readonly multiPE: boolean;
  /** The sequence runs from an identity-mapped page in both tables (R2). */
  readonly codeIdmapped: boolean;
  /** The PE may allocate EL2 TLB entries while M=0 (R6). */
  readonly allocWhenOff: boolean;
  /** Another PE holds CnP=1 with different EL2 tables (R12). */
  readonly cnpOtherPEsDiffTables: boolean;
  /** Local TLBI misses entries other cores installed (Carmel, Hip09; R12). */
  readonly cnpLocalTlbiBroken: boolean;
  /** The static run starts with SCTLR_EL2.M = 1 on the old tables. */
  readonly mmuOnAtEntry: boolean;
  /**
   * The features the kernel enables, for the parser's `alternative_if`: as
   * given, less `cnp` when `cnp-local-tlbi-broken` (Linux sets
   * ARM64_WORKAROUND_DISABLE_CNP there and never ARM64_HAS_CNP).
   */
  readonly features: readonly string[];
  /** The errata, as given (for the parser). */
  readonly errata: readonly string[];
}

/**
 * Validates a configuration and fills in the defaults.
 *
 * @param config Features, errata, assumptions.
 * @returns The resolved configuration.
 * @throws {A64ConfigError} For an unknown feature, erratum or assumption.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resolveCheckConfig } from "./mod.ts";
 * const c = resolveCheckConfig({ errata: ["tx2-219"], assume: { "multi-pe": true } });
 * assertEquals([c.tx2_219, c.multiPE, c.dataCleanToPoC], [true, true, true]);
 * ```
 */
export function resolveCheckConfig(config: CheckConfig = {}): ResolvedCheckConfig {
  const features = [...(config.features ?? [])];
  const errata = [...(config.errata ?? [])];
  for (const f of features) {
    if (!A64_FEATURES.includes(f)) {
      throw new A64ConfigError(
        `Unknown CPU feature "${f}": known features are ${A64_FEATURES.join(", ")}`,
      );
    }
  }
  for (const e of errata) {
    if (!A64_ERRATA.includes(e)) {
      throw new A64ConfigError(`Unknown erratum "${e}": known errata are ${A64_ERRATA.join(", ")}`);
    }
  }
  const a: Record<string, boolean> = { ...A64_ASSUMPTIONS };
  for (const [k, v] of Object.entries(config.assume ?? {})) {
    if (!(k in A64_ASSUMPTIONS)) {
      throw new A64ConfigError(
        `Unknown assumption "${k}": known assumptions are ${
          Object.keys(A64_ASSUMPTIONS).join(", ")
        }`,
      );
    }
    if (typeof v !== "boolean") {
      throw new A64ConfigError(`Assumption "${k}" must be true or false, got ${String(v)}`);
    }
    a[k] = v;
  }
  // Alternatives follow the capabilities Linux sets, not the hardware: on
  // NVIDIA Carmel and HiSilicon Hip09 (a local TLBI misses entries other
  // cores installed) Linux sets ARM64_WORKAROUND_DISABLE_CNP, so
  // ARM64_HAS_CNP is off and `alternative_if ARM64_HAS_CNP` is not applied
  // (rule R12; has_useable_cnp() in arch/arm64/kernel/cpufeature.c, v7.2; in
  // v6.1 and v6.12 the capability was ARM64_WORKAROUND_NVIDIA_CARMEL_CNP).
  // A text that sets CnP unconditionally still gets R12 from the checker.
  const kernelFeatures = a["cnp-local-tlbi-broken"]
    ? features.filter((f) => f !== "cnp")
    : features;
  return {
    cnp: features.includes("cnp"),
    ets: features.includes("ets"),
    falkorE1041: errata.includes("falkor-e1041"),
    tx2_219: errata.includes("tx2-219"),
    codePatchedAtPoU: a["code-patched-at-pou"]!,
    dataCleanToPoC: a["data-clean-to-poc"]!,
    multiPE: a["multi-pe"]!,
    codeIdmapped: a["code-idmapped"]!,
    allocWhenOff: a["alloc-when-off"]!,
    cnpOtherPEsDiffTables: a["cnp-other-pes-diff-tables"]!,
    cnpLocalTlbiBroken: a["cnp-local-tlbi-broken"]!,
    mmuOnAtEntry: a["mmu-on-at-entry"]!,
    features: kernelFeatures,
    errata,
  };
}
