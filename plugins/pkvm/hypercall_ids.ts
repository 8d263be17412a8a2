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
 * Current `enum __kvm_host_smccc_func`, whole (kvm_asm.h of the ≈ v6.16
 * tree, `Kingxukai/linux` 0291023e7330, matching `host_hcall[]` in
 * nvhe/hyp-main.c): the ids below `__pkvm_prot_finalize` are refused once
 * pKVM is finalised. hyplab models 1, 2, 3 and 7; the others answer
 * NOT_SUPPORTED with a note saying so.
 */
export const HYPERCALL_IDS_MAINLINE: Readonly<Record<string, number>> = {
  __kvm_hyp_init: 0,
  // Available only before pKVM is finalised.
  __pkvm_init: 1,
  __pkvm_create_private_mapping: 2,
  __pkvm_cpu_set_vector: 3,
  __kvm_enable_ssbs: 4,
  __vgic_v3_init_lrs: 5,
  __vgic_v3_get_gic_config: 6,
  __pkvm_prot_finalize: 7,
  // Available after pKVM is finalised.
  __pkvm_host_share_hyp: 8,
  __pkvm_host_unshare_hyp: 9,
  __pkvm_host_share_guest: 10,
  __pkvm_host_unshare_guest: 11,
  __pkvm_host_relax_perms_guest: 12,
  __pkvm_host_wrprotect_guest: 13,
  __pkvm_host_test_clear_young_guest: 14,
  __pkvm_host_mkyoung_guest: 15,
  __kvm_adjust_pc: 16,
  __kvm_vcpu_run: 17,
  __kvm_flush_vm_context: 18,
  __kvm_tlb_flush_vmid_ipa: 19,
  __kvm_tlb_flush_vmid_ipa_nsh: 20,
  __kvm_tlb_flush_vmid: 21,
  __kvm_tlb_flush_vmid_range: 22,
  __kvm_flush_cpu_context: 23,
  __kvm_timer_set_cntvoff: 24,
  __vgic_v3_save_vmcr_aprs: 25,
  __vgic_v3_restore_vmcr_aprs: 26,
  __pkvm_init_vm: 27,
  __pkvm_init_vcpu: 28,
  __pkvm_teardown_vm: 29,
  __pkvm_vcpu_load: 30,
  __pkvm_vcpu_put: 31,
  __pkvm_tlb_flush_vmid: 32,
};

/**
 * `ARM_SMCCC_CALL_HINTS` (= `ARM_SMCCC_1_3_SVE_HINT`, bit 16 of the
 * function id, include/linux/arm-smccc.h): mainline `handle_host_hcall`
 * clears it before decoding the id; v5.13 does not.
 */
export const ARM_SMCCC_CALL_HINTS = 0x1_0000n;

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
