/**
 * What the host kernel at EL1 puts in `kvm_nvhe_init_params` for EL2
 * (`cpu_prepare_hyp_mode()` in arch/arm64/kvm/arm.c): TCR_EL2 (nVHE, or
 * under hVHE derived from the host's own TCR_EL1) and HCR_EL2, and the size
 * of the host's SVE buffers the hypervisor maps (`kvm_pkvm.h`).
 *
 * @module
 */

import type { CpuModel } from "../../core/mod.ts";
import type { KernelRelease } from "../releases/mod.ts";

/**
 * `params->tcr_el2` for nVHE, as `cpu_prepare_hyp_mode()` builds it from the
 * host's TCR_EL1 (4 KiB granule, inner-shareable write-back walks: TG0 0,
 * SH0 3, ORGN0/IRGN0 1), with `TCR_EL2_RES1` (bits 31 and 23) and T0SZ from
 * `hyp_va_bits`; PS is the CPU's PARange capped at the kernel's PA size
 * (`tcr_compute_pa_size`: in `___kvm_hyp_init` up to 6.1, from TCR_EL1.IPS
 * since; the same value).
 *
 * With LPA2 the host's TCR_EL1 has DS, and `cpu_prepare_hyp_mode()` sets
 * `TCR_EL2_DS` (bit 32).
 *
 * @param rel The release.
 * @param model The CPU model.
 * @param hypVaBits `hyp_va_bits`.
 * @param lpa2 `lpa2_is_enabled()`.
 * @returns TCR_EL2.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_CORTEX_A57, CPU_NEOVERSE_N1 } from "../../core/mod.ts";
 * import { V6_1 } from "../releases/mod.ts";
 * import { hostTcrEl2 } from "./host_regs.ts";
 * assertEquals(hostTcrEl2(V6_1, CPU_CORTEX_A57, 48), 0x8084_3510n); // a real 6.1 boot's value
 * assertEquals(hostTcrEl2(V6_1, CPU_NEOVERSE_N1, 48), 0x8085_3510n);
 * ```
 */
export function hostTcrEl2(
  rel: KernelRelease,
  model: CpuModel,
  hypVaBits: number,
  lpa2 = false,
): bigint {
  const ps = BigInt(tcrIps(rel, model, lpa2));
  return (1n << 31n) | (1n << 23n) | (ps << 16n) | (3n << 12n) | (1n << 10n) | (1n << 8n) |
    BigInt(64 - hypVaBits) | (lpa2 ? 1n << 32n : 0n);
}

/**
 * `tcr_compute_pa_size`: ID_AA64MMFR0_EL1.PARange capped at the largest PA
 * size the kernel uses (52 bits with `CONFIG_ARM64_PA_BITS=52`, 48 bits
 * otherwise, or without LPA2 on a 4 KiB build).
 */
function tcrIps(rel: KernelRelease, model: CpuModel, lpa2: boolean): number {
  const parange = Number(model.idRegs.ID_AA64MMFR0_EL1 & 0xfn);
  return Math.min(parange, rel.config.paBits === 52 && lpa2 ? 6 : 5);
}

/**
 * The host's TCR_EL1 when KVM starts, as `__cpu_setup` (mm/proc.S) wrote it
 * and the CPU-feature code changed it: the release's fixed flags, T0SZ of
 * `vabits_actual` (`cpu_set_default_tcr_t0sz()`), T1SZ of `VA_BITS_MIN` =
 * 48 or, on a 52-bit CPU (`ARM64_HAS_VA52`), 52 with DS (LPA2); IPS from
 * {@link tcrIps}; HA when ID_AA64MMFR1_EL1.HAFDBS ≠ 0; HD with hardware
 * dirty-state management (`cpu_enable_hw_dbm()`, HAFDBS ≥ 2); E0PD1 with
 * FEAT_E0PD (`cpu_enable_e0pd()`).
 *
 * @param rel The release (one that has {@link KernelRelease.hvhe} facts).
 * @param model The CPU model.
 * @param vaBits `vabits_actual`.
 * @returns TCR_EL1.
 * @throws {RangeError} A release without the facts.
 */
export function hostTcrEl1(rel: KernelRelease, model: CpuModel, vaBits: number): bigint {
  if (rel.hvhe === undefined) {
    throw new RangeError(`Cannot compute the host's TCR_EL1 for ${rel.name}: it runs no hVHE`);
  }
  const va52 = vaBits === 52;
  const f = model.features;
  let tcr = rel.hvhe.tcrEl1 | BigInt(64 - vaBits) | (BigInt(va52 ? 12 : 16) << 16n);
  tcr |= BigInt(tcrIps(rel, model, va52)) << 32n;
  if (va52) tcr |= 1n << 59n; // TCR_DS
  if (f.hafdbs >= 1) tcr |= 1n << 39n; // TCR_HA
  if (f.hafdbs >= 2) tcr |= 1n << 40n; // TCR_HD
  if (f.e0pd) tcr |= 1n << 56n; // TCR_E0PD1
  return tcr;
}

/**
 * `params->tcr_el2` under hVHE (`cpu_prepare_hyp_mode()`), from the host's
 * TCR_EL1 ({@link hostTcrEl1}) as the release turns it (`hvhe.tcr`): 6.12
 * ORs in EPD1 and sets T0SZ from `hyp_va_bits`, then, with code written for
 * the EL2 layout, puts IPS in bits 18:16 (T1SZ's low bits here) and ORs
 * `TCR_EL2_DS` (bit 32, IPS bit 0 here) under LPA2; 7.x clears HD, HA, A1
 * and T0SZ, ORs in EPD1 and sets T0SZ.
 *
 * @param rel The release.
 * @param model The CPU model.
 * @param vaBits `vabits_actual`.
 * @param hypVaBits `hyp_va_bits`.
 * @returns TCR_EL2 (TCR_EL1's layout).
 * @example A real boot's values (6.12 on neoverse-n1, 7.2 on max)
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_MAX, CPU_NEOVERSE_N1 } from "../../core/mod.ts";
 * import { V6_12, V7_2 } from "../releases/mod.ts";
 * import { hostTcrEl2Hvhe } from "./host_regs.ts";
 * assertEquals(hostTcrEl2Hvhe(V6_12, CPU_NEOVERSE_N1, 48, 48), 0x5001f5b5d53510n);
 * assertEquals(hostTcrEl2Hvhe(V6_12, CPU_MAX, 52, 52), 0x95001f7b5ce350cn);
 * assertEquals(hostTcrEl2Hvhe(V7_2, CPU_MAX, 52, 52), 0xd500076b58c350cn);
 * ```
 */
export function hostTcrEl2Hvhe(
  rel: KernelRelease,
  model: CpuModel,
  vaBits: number,
  hypVaBits: number,
): bigint {
  const el1 = hostTcrEl1(rel, model, vaBits);
  const T0SZ = 0x3fn;
  const EPD1 = 1n << 23n;
  let tcr: bigint;
  if (rel.hvhe!.tcr === "el2-ps-ds") {
    const ips = (el1 >> 32n) & 7n;
    tcr = ((el1 | EPD1) & ~T0SZ) | BigInt(64 - hypVaBits);
    tcr = (tcr & ~(7n << 16n)) | (ips << 16n); // TCR_EL2_PS_MASK
    if (vaBits === 52) tcr |= 1n << 32n; // TCR_EL2_DS
  } else {
    const HD = 1n << 40n;
    const HA = 1n << 39n;
    const A1 = 1n << 22n;
    tcr = ((el1 & ~(HD | HA | A1 | T0SZ)) | EPD1) | BigInt(64 - hypVaBits);
  }
  return tcr;
}

/**
 * `pkvm_host_sve_state_size()`: what each CPU's host SVE buffer holds, 0
 * without SVE: the release's header (`sizeof(struct cpu_sve_state)` in
 * 6.12) plus `SVE_SIG_REGS_SIZE(vq)` for the largest vector length
 * (`kvm_host_sve_max_vl`): 32 Z registers of vq × 16 bytes, 16 P registers
 * and FFR of vq × 2 bytes each.
 *
 * @param rel The release.
 * @param model The CPU model.
 * @returns Bytes.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_MAX, CPU_NEOVERSE_N1 } from "../../core/mod.ts";
 * import { V6_12, V7_2 } from "../releases/mod.ts";
 * import { pkvmHostSveStateSize } from "./host_regs.ts";
 * assertEquals(pkvmHostSveStateSize(V6_12, CPU_MAX), 16 + 546 * 16); // 2048-bit vectors
 * assertEquals(pkvmHostSveStateSize(V7_2, CPU_MAX), 546 * 16);
 * assertEquals(pkvmHostSveStateSize(V7_2, CPU_NEOVERSE_N1), 0);
 * ```
 */
export function pkvmHostSveStateSize(rel: KernelRelease, model: CpuModel): number {
  const sve = rel.host.sveState;
  if (sve === null || !model.features.sve || model.sveMaxVectorBits === 0) return 0;
  const vq = model.sveMaxVectorBits / 128;
  return sve.header + vq * (32 * 16 + 16 * 2 + 2);
}

/**
 * `params->hcr_el2` for protected mode: `HCR_HOST_NVHE_PROTECTED_FLAGS`, and
 * from 7.x `HCR_TID5` when the system has no MTE (`HCR_ATA` otherwise), and
 * `HCR_E2H` under hVHE.
 *
 * @param rel The release.
 * @param model The CPU model.
 * @param hvhe `ARM64_KVM_HVHE`.
 * @returns HCR_EL2 as the host asks for it (the CPU keeps what it implements).
 */
export function hostHcrEl2(rel: KernelRelease, model: CpuModel, hvhe = false): bigint {
  let hcr = rel.sysregs.hcrProtected;
  // system_supports_mte(): FEAT_MTE2 or later.
  if (rel.sysregs.hcrTid5WithoutMte && model.features.mte < 2) hcr |= 1n << 58n;
  if (hvhe) hcr |= 1n << 34n;
  return hcr;
}
