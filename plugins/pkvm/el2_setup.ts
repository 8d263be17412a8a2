/**
 * What the kernel's early EL2 setup leaves behind that outlives the pKVM
 * boot: `init_el2_state` (asm/el2_setup.h), run by head.S on every CPU
 * booted at EL2, and the SVE/SME part of `finalise_el2` (the hyp stub's
 * `HVC_FINALISE_EL2`), before the CPU drops to EL1 on the hyp stub.
 *
 * @module
 */

import { type Cpu, type CpuModel, idField } from "../../core/mod.ts";
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

/** `CPTR_EL2.TZ`, bit 8: trap SVE (nVHE layout). */
const CPTR_EL2_TZ = 1n << 8n;
/** `CPTR_EL2.TSM`, bit 12: trap SME (nVHE layout). */
const CPTR_EL2_TSM = 1n << 12n;
/** `SCTLR_ELx_ENTP2`, bit 60: TPIDR2_EL0 not trapped. */
const SCTLR_ELX_ENTP2 = 1n << 60n;

/**
 * The EL2 registers head.S leaves on a CPU, of those hyplab keeps, in the
 * nVHE layouts (HCR_EL2.E2H is still 0 there; hVHE replays the setup later,
 * in `___kvm_hyp_init`):
 *
 * - `__init_el2_timers`: CNTHCTL_EL2 = EL1PCTEN | EL1PCEN (3);
 * - `__init_el2_debug`: MDCR_EL2 ({@link initEl2Mdcr});
 * - `__init_el2_nvhe_idregs`: VPIDR_EL2 = MIDR_EL1, VMPIDR_EL2 = MPIDR_EL1;
 * - `__init_el2_nvhe_cptr` / `__init_el2_cptr`: CPTR_EL2 = 0x33ff (every
 *   trap off but TZ, TSM and the RES1 bits); then, with SVE, TZ cleared
 *   (`__init_el2_nvhe_sve` in v5.13, `finalise_el2` from 5.18) and, with SME
 *   and a release that knows it, TSM cleared and SCTLR_EL2.EnTP2 set
 *   (6.1 hyp-stub.S `__finalise_el2`; 6.12 and 7.2 `finalise_el2_state`).
 *
 * The CPU stores each write as QEMU 7.2 does (`Cpu.msr`).
 *
 * @param rel The release.
 * @param cpu The CPU.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu, CPU_MAX } from "../../core/mod.ts";
 * import { V6_1 } from "../releases/mod.ts";
 * import { initEl2State } from "./el2_setup.ts";
 * const cpu = new Cpu(1, CPU_MAX);
 * initEl2State(V6_1, cpu);
 * assertEquals(cpu.sysreg("CPTR_EL2"), 0x22ffn); // a real 6.1 boot on max: TZ and TSM clear
 * assertEquals(cpu.sysreg("VMPIDR_EL2"), 0x8000_0001n);
 * ```
 */
export function initEl2State(rel: KernelRelease, cpu: Cpu): void {
  const f = cpu.model.features;
  cpu.msr("CNTHCTL_EL2", 3n);
  cpu.msr("MDCR_EL2", initEl2Mdcr(rel, cpu.model));
  cpu.msr("VPIDR_EL2", cpu.sysreg("MIDR_EL1"));
  cpu.msr("VMPIDR_EL2", cpu.sysreg("MPIDR_EL1"));
  let cptr = cpu.msr("CPTR_EL2", 0x33ffn);
  if (f.sve) cptr = cpu.msr("CPTR_EL2", cptr & ~CPTR_EL2_TZ);
  if (f.sme && rel.host.el2SmeTraps === "lift") {
    cpu.msr("CPTR_EL2", cptr & ~CPTR_EL2_TSM);
    cpu.msr("SCTLR_EL2", cpu.sysreg("SCTLR_EL2") | SCTLR_ELX_ENTP2);
  }
}
