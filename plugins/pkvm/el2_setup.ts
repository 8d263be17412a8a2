/**
 * What the kernel's early EL2 setup leaves behind that the pKVM boot later
 * reads back: `init_el2_state` (asm/el2_setup.h), run by head.S on every CPU
 * booted at EL2 before it drops to EL1 on the hyp stub.
 *
 * @module
 */

import { type CpuModel, idField } from "../../core/mod.ts";
import type { KernelRelease } from "../releases/mod.ts";

/**
 * MDCR_EL2 as `__init_el2_debug` writes it: HPMN = PMCR_EL0.N (every PMU
 * counter left to EL1) when there is a PMU, else 0; E2PB when SPE is
 * implemented but not usable at EL2; E2TB likewise for TRBE.
 *
 * Whether there is a PMU follows the release's test of
 * ID_AA64DFR0_EL1.PMUVer: v5.13 and 6.1 `sbfx` the field and skip below 1
 * (so 0 and 8..15 count as none), 6.12 and 7.2 skip only NI (0) and
 * IMP_DEF (0xf). QEMU 7.2 under TCG reports neither SPE (PMSVer is hidden)
 * nor TRBE, so the E2PB and E2TB branches never run on its models; they
 * would need PMBIDR_EL1 and TRBIDR_EL1, which hyplab does not model.
 *
 * @param rel The release.
 * @param model The CPU model.
 * @returns MDCR_EL2.
 * @throws {RangeError} For a model with SPE or TRBE (see above).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_CORTEX_A57 } from "../../core/mod.ts";
 * import { V6_1 } from "../releases/mod.ts";
 * import { initEl2Mdcr } from "./el2_setup.ts";
 * assertEquals(initEl2Mdcr(V6_1, CPU_CORTEX_A57), 6n); // HPMN = PMCR_EL0.N
 * ```
 */
export function initEl2Mdcr(rel: KernelRelease, model: CpuModel): bigint {
  const dfr0 = model.idRegs.ID_AA64DFR0_EL1;
  const pmuVer = idField(model.idRegs, "ID_AA64DFR0_EL1", "PMUVer");
  const hasPmu = rel.host.el2PmuCheck === "signed"
    ? pmuVer >= 1 && pmuVer < 8
    : pmuVer !== 0 && pmuVer !== 0xf;
  const pmsVer = idField(model.idRegs, "ID_AA64DFR0_EL1", "PMSVer");
  const traceBuffer = Number((dfr0 >> 44n) & 0xfn);
  if (pmsVer !== 0 || traceBuffer !== 0) {
    throw new RangeError(
      `__init_el2_debug on ${model.name}: ID_AA64DFR0_EL1 has ${
        pmsVer !== 0 ? "SPE (PMSVer)" : "TRBE (TraceBuffer)"
      }, whose EL2 ownership (PMBIDR_EL1.P, TRBIDR_EL1.P) hyplab does not model`,
    );
  }
  // `ubfx x0, x0, #11, #5` of PMCR_EL0: the N field.
  return hasPmu ? BigInt(model.pmuCounters & 0x1f) : 0n;
}
