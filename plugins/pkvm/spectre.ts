/**
 * Which hyp vector slot the host gives each CPU (`bp_hardening_data.slot`,
 * passed to `__pkvm_cpu_set_vector` by `cpu_set_hyp_vector()`), as the
 * Spectre mitigations of `arch/arm64/kernel/proton-pack.c` choose it: the
 * Spectre-v3a erratum first, then the Spectre-BHB mitigation (5.17 on).
 *
 * @module
 */

import type { CpuModel } from "../../core/mod.ts";
import type { KernelRelease, MidrPart } from "../releases/mod.ts";

/** `enum arm64_hyp_spectre_vector` (asm/spectre.h): the vectors themselves. */
export const HYP_VECTOR_DIRECT = 0;
/** The indirect trampoline slot (`__hyp_bp_vect_base` + 1 × 2 KiB). */
export const HYP_VECTOR_INDIRECT = 2;

/** How `spectre_bhb_enable_mitigation()` treats a CPU. */
export type SpectreBhbChoice =
  /** The release has no BHB mitigation (before 5.17). */
  | "none"
  /** Not affected: FEAT_CSV2_3, or a MIDR on the safe list. */
  | "unaffected"
  /** Affected but not mitigated (Spectre-v2 unmitigated, command line, no means). */
  | "vulnerable"
  /** FEAT_ECBHB: the hardware clears the history. */
  | "ecbhb"
  /** FEAT_CLRBHB: the `clrbhb` instruction in the vectors (slot → INDIRECT). */
  | "clearbhb"
  /** The branchy loop in the vectors (slot → INDIRECT). */
  | "loop";

const inList = (list: readonly MidrPart[], implementer: number, partNum: number) =>
  list.some((p) => p.implementer === implementer && p.partNum === partNum);

const field = (v: bigint, lsb: number) => Number((v >> BigInt(lsb)) & 0xfn);

/**
 * `spectre_bhb_enable_mitigation()` on a CPU of the model, for the slot it
 * picks. Its steps: `is_spectre_bhb_affected()` (no when
 * ID_AA64PFR0_EL1.CSV2 = 3 or the MIDR is on the safe list; otherwise yes,
 * the "assume unknown CPUs are vulnerable" rule of 6.1.176, 6.12 and 7.2);
 * nothing when Spectre-v2 is VULNERABLE (no CSV2, not on the v2 safe list,
 * and no firmware workaround: QEMU's PSCI offers no SMCCC 1.1
 * ARCH_WORKAROUND_1) or the command line turns mitigations off; then
 * ECBHB (ID_AA64MMFR1_EL1 bits 63:60), CLRBHB (ID_AA64ISAR2_EL1 bits
 * 31:28), the branchy loop for a MIDR with a loop count, and last the
 * firmware's ARCH_WORKAROUND_3, which QEMU does not offer either.
 *
 * @param rel The release.
 * @param model The CPU model.
 * @param mitigationsOff `mitigations=off` or `nospectre_bhb` on the command line.
 * @returns The choice.
 * @example A real 6.1.176 boot on neoverse-n1 selects the loop (and slot 2)
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_CORTEX_A57, CPU_MAX, CPU_NEOVERSE_N1 } from "../../core/mod.ts";
 * import { V5_13, V6_1 } from "../releases/mod.ts";
 * import { spectreBhbChoice } from "./spectre.ts";
 * assertEquals(spectreBhbChoice(V6_1, CPU_NEOVERSE_N1), "loop");
 * assertEquals(spectreBhbChoice(V6_1, CPU_CORTEX_A57), "vulnerable"); // Spectre-v2 unmitigated
 * assertEquals(spectreBhbChoice(V6_1, CPU_MAX), "vulnerable"); // unknown MIDR, no loop count
 * assertEquals(spectreBhbChoice(V5_13, CPU_NEOVERSE_N1), "none");
 * ```
 */
export function spectreBhbChoice(
  rel: KernelRelease,
  model: CpuModel,
  mitigationsOff = false,
): SpectreBhbChoice {
  const bhb = rel.host.spectreBhb;
  if (bhb === null) return "none";
  const id = model.idRegs;
  const impl = Number((id.MIDR_EL1 >> 24n) & 0xffn);
  const partNum = Number((id.MIDR_EL1 >> 4n) & 0xfffn);
  const csv2 = field(id.ID_AA64PFR0_EL1, 56);
  if (csv2 === 3 || inList(bhb.safe, impl, partNum)) return "unaffected";
  const v2Vulnerable = csv2 === 0 && !inList(bhb.v2Safe, impl, partNum);
  if (v2Vulnerable || mitigationsOff) return "vulnerable";
  if (field(id.ID_AA64MMFR1_EL1, 60) !== 0) return "ecbhb";
  if (field(id.ID_AA64ISAR2_EL1, 28) !== 0) return "clearbhb";
  if (bhb.loop.some((l) => inList(l.parts, impl, partNum))) return "loop";
  return "vulnerable";
}

/**
 * `bp_hardening_data.slot` once the mitigations have run: HYP_VECTOR_INDIRECT
 * on a Spectre-v3a CPU (`spectre_v3a_enable_mitigation()`) or where the
 * Spectre-BHB mitigation uses ClearBHB or the loop ({@link
 * spectreBhbChoice}), else HYP_VECTOR_DIRECT. The Spectre-v2 and BHB
 * firmware slots (SPECTRE_DIRECT, SPECTRE_INDIRECT) need SMCCC 1.1
 * workarounds that QEMU's PSCI does not offer.
 *
 * @param rel The release.
 * @param model The CPU model.
 * @param v3a `ARM64_SPECTRE_V3A` on the CPU.
 * @param mitigationsOff The command line turns mitigations off.
 * @returns The slot.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_MAX, CPU_NEOVERSE_N1 } from "../../core/mod.ts";
 * import { V6_12 } from "../releases/mod.ts";
 * import { hypVectorSlot } from "./spectre.ts";
 * assertEquals(hypVectorSlot(V6_12, CPU_NEOVERSE_N1, false), 2);
 * assertEquals(hypVectorSlot(V6_12, CPU_MAX, false), 0);
 * ```
 */
export function hypVectorSlot(
  rel: KernelRelease,
  model: CpuModel,
  v3a: boolean,
  mitigationsOff = false,
): number {
  if (v3a) return HYP_VECTOR_INDIRECT;
  const bhb = spectreBhbChoice(rel, model, mitigationsOff);
  return bhb === "clearbhb" || bhb === "loop" ? HYP_VECTOR_INDIRECT : HYP_VECTOR_DIRECT;
}
