/**
 * Host hypercall function ids and the SMCCC encoding (`kvm_asm.h`,
 * `KVM_HOST_SMCCC_ID`).
 *
 * @module
 */

import type { PkvmVersion } from "../../core/mod.ts";
import { release } from "../releases/mod.ts";

/** `ARM_SMCCC_CALL_VAL(FAST_CALL, SMC_64, OWNER_VENDOR_HYP, 0)`. */
export const KVM_HOST_SMCCC_BASE = 0xc600_0000;

/** `SMCCC_RET_NOT_SUPPORTED` (-1) as the 64-bit value x0 carries. */
export const SMCCC_RET_NOT_SUPPORTED: bigint = (1n << 64n) - 1n;

/** `SMCCC_RET_SUCCESS`. */
export const SMCCC_RET_SUCCESS = 0n;

/**
 * The v5.13 `__kvm_host_smccc_func` numbers (the v5.13 release's table).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HYPERCALL_IDS_V5_13 } from "./hypercall_ids.ts";
 * assertEquals(HYPERCALL_IDS_V5_13.__pkvm_init, 15);
 * ```
 */
export const HYPERCALL_IDS_V5_13: Readonly<Record<string, number>> =
  release("v5.13").hypercalls.ids;

/**
 * The newest checked release's numbers (what `mainline` names).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HYPERCALL_IDS_MAINLINE } from "./hypercall_ids.ts";
 * assertEquals(HYPERCALL_IDS_MAINLINE.__pkvm_init, 1);
 * ```
 */
export const HYPERCALL_IDS_MAINLINE: Readonly<Record<string, number>> =
  release("mainline").hypercalls.ids;

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
  return release(version).hypercalls.ids;
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
