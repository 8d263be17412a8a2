/**
 * Host hypercall function ids and the SMCCC encoding (`kvm_asm.h`,
 * `KVM_HOST_SMCCC_ID`).
 *
 * @module
 */

import type { PkvmVersion } from "../../core/mod.ts";

/** `ARM_SMCCC_CALL_VAL(FAST_CALL, SMC_64, OWNER_VENDOR_HYP, 0)`. */
export const KVM_HOST_SMCCC_BASE = 0xc600_0000;

/** `SMCCC_RET_NOT_SUPPORTED` (-1) as the 64-bit value x0 carries. */
export const SMCCC_RET_NOT_SUPPORTED: bigint = (1n << 64n) - 1n;

/** `SMCCC_RET_SUCCESS`. */
export const SMCCC_RET_SUCCESS = 0n;

/**
 * v5.13 `__KVM_HOST_SMCCC_FUNC_*` (kvm_asm.h at f320bc742bc2..v5.13).
 * 1–14 are the vcpu, TLB and vgic calls, 21 is `__kvm_adjust_pc`.
 */
export const HYPERCALL_IDS_V5_13: Readonly<Record<string, number>> = {
  __kvm_hyp_init: 0,
  __kvm_vcpu_run: 1,
  __kvm_flush_vm_context: 2,
  __kvm_tlb_flush_vmid_ipa: 3,
  __kvm_tlb_flush_vmid: 4,
  __kvm_flush_cpu_context: 5,
  __kvm_timer_set_cntvoff: 6,
  __kvm_enable_ssbs: 7,
  __vgic_v3_get_gic_config: 8,
  __vgic_v3_read_vmcr: 9,
  __vgic_v3_write_vmcr: 10,
  __vgic_v3_init_lrs: 11,
  __kvm_get_mdcr_el2: 12,
  __vgic_v3_save_aprs: 13,
  __vgic_v3_restore_aprs: 14,
  __pkvm_init: 15,
  __pkvm_create_mappings: 16,
  __pkvm_create_private_mapping: 17,
  __pkvm_cpu_set_vector: 18,
  __pkvm_prot_finalize: 19,
  __pkvm_mark_hyp: 20,
  __kvm_adjust_pc: 21,
};

/**
 * Current `enum __kvm_host_smccc_func` (about v6.16): the ids below
 * `__pkvm_prot_finalize` are refused once pKVM is finalised.
 */
export const HYPERCALL_IDS_MAINLINE: Readonly<Record<string, number>> = {
  __kvm_hyp_init: 0,
  __pkvm_init: 1,
  __pkvm_create_private_mapping: 2,
  __pkvm_cpu_set_vector: 3,
  __kvm_enable_ssbs: 4,
  __vgic_v3_init_lrs: 5,
  __vgic_v3_get_gic_config: 6,
  __pkvm_prot_finalize: 7,
  __pkvm_host_share_hyp: 8,
  __pkvm_host_unshare_hyp: 9,
};

/**
 * The id table of a version.
 *
 * @param version Kernel version.
 * @returns Name → id.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypercallIds } from "./hypercall_ids.ts";
 * assertEquals(hypercallIds("v5.13").__pkvm_init, 15);
 * assertEquals(hypercallIds("mainline").__pkvm_init, 1);
 * ```
 */
export function hypercallIds(version: PkvmVersion): Readonly<Record<string, number>> {
  return version === "v5.13" ? HYPERCALL_IDS_V5_13 : HYPERCALL_IDS_MAINLINE;
}

/**
 * The kernel name of an id, or undefined.
 *
 * @param version Kernel version.
 * @param id Function id.
 * @returns The name.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypercallName } from "./hypercall_ids.ts";
 * assertEquals(hypercallName("v5.13", 16), "__pkvm_create_mappings");
 * assertEquals(hypercallName("mainline", 99), undefined);
 * ```
 */
export function hypercallName(version: PkvmVersion, id: number): string | undefined {
  for (const [name, v] of Object.entries(hypercallIds(version))) if (v === id) return name;
  return undefined;
}

/**
 * `KVM_HOST_SMCCC_ID(id)`: the function id the host puts in x0.
 *
 * @param id Function number.
 * @returns `0xC6000000 | id` as a 64-bit value.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { smcccFunctionId } from "./hypercall_ids.ts";
 * assertEquals(smcccFunctionId(15), 0xc600000fn);
 * ```
 */
export function smcccFunctionId(id: number): bigint {
  return BigInt(KVM_HOST_SMCCC_BASE) | BigInt(id);
}

/**
 * A 64-bit register value read as the signed `long` the kernel returns.
 *
 * @param value Register value.
 * @returns The signed value.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { asSigned } from "./hypercall_ids.ts";
 * assertEquals(asSigned(0xffffffffffffffean), -22n);
 * ```
 */
export function asSigned(value: bigint): bigint {
  return BigInt.asIntN(64, value);
}

/**
 * A negative errno (or any signed value) as the 64-bit value a register holds.
 *
 * @param value Signed value.
 * @returns Two's complement 64-bit value.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { asU64 } from "./hypercall_ids.ts";
 * assertEquals(asU64(-12), 0xfffffffffffffff4n);
 * ```
 */
export function asU64(value: number | bigint): bigint {
  return BigInt.asUintN(64, BigInt(value));
}
