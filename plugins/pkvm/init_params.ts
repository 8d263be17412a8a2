/**
 * `struct kvm_nvhe_init_params` field offsets (`asm-offsets.c`
 * `NVHE_INIT_*`): v5.13 has eight 8-byte fields, so `pgd_pa` is at 32;
 * mainline puts `stack_pa` before `pgd_pa` and adds `tmp`.
 *
 * @module
 */

import type { PkvmVersion } from "../../core/mod.ts";
import { release } from "../releases/mod.ts";

/** A field name of `struct kvm_nvhe_init_params`. */
export type InitParamsField =
  | "mair_el2"
  | "tcr_el2"
  | "tpidr_el2"
  | "stack_hyp_va"
  | "stack_pa"
  | "pgd_pa"
  | "hcr_el2"
  | "vttbr"
  | "vtcr"
  | "tmp";

/**
 * The field list of a version, in memory order.
 *
 * @param version Kernel version.
 * @returns Fields.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { initParamsFields } from "./init_params.ts";
 * assertEquals(initParamsFields("v5.13").length, 8);
 * ```
 */
export function initParamsFields(version: PkvmVersion): readonly InitParamsField[] {
  return release(version).host.initParams as readonly InitParamsField[];
}

/**
 * Byte offset of a field (`NVHE_INIT_PGD_PA` and friends).
 *
 * @param version Kernel version.
 * @param field Field name.
 * @returns Offset, or undefined when the version has no such field.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { initParamsOffset } from "./init_params.ts";
 * assertEquals(initParamsOffset("v5.13", "pgd_pa"), 32);
 * assertEquals(initParamsOffset("v5.13", "stack_hyp_va"), 24);
 * assertEquals(initParamsOffset("mainline", "pgd_pa"), 40);
 * ```
 */
export function initParamsOffset(version: PkvmVersion, field: InitParamsField): number | undefined {
  const i = initParamsFields(version).indexOf(field);
  return i < 0 ? undefined : i * 8;
}

/**
 * `sizeof(struct kvm_nvhe_init_params)`.
 *
 * @param version Kernel version.
 * @returns Bytes.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { initParamsSize } from "./init_params.ts";
 * assertEquals(initParamsSize("v5.13"), 64);
 * ```
 */
export function initParamsSize(version: PkvmVersion): number {
  return initParamsFields(version).length * 8;
}
