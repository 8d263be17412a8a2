/**
 * Table geometry for the 4 KiB granule: levels, shifts and granule sizes
 * (`ARM64_HW_PGTABLE_LEVELS`, `ARM64_HW_PGTABLE_LEVEL_SHIFT`,
 * `kvm_granule_shift`, `kvm_granule_size`).
 *
 * @module
 */

/** Entries per table page (`PTRS_PER_PTE`). */
export const PTRS_PER_PTE = 512;
/** The last lookup level (`KVM_PGTABLE_MAX_LEVELS - 1` in v5.13, `KVM_PGTABLE_LAST_LEVEL` now). */
export const KVM_PGTABLE_LAST_LEVEL = 3;

/** Granule size per level 0..3 (512 GiB, 1 GiB, 2 MiB, 4 KiB). */
export const KVM_GRANULE_SIZES: readonly number[] = [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12];

/**
 * The first lookup level of a table (`KVM_PGTABLE_FIRST_LEVEL`): −1, the
 * level FEAT_LPA2 adds above level 0 for 49–52-bit inputs with 4 KiB pages.
 */
export const KVM_PGTABLE_FIRST_LEVEL = -1;

const GRANULES_FROM_FIRST: readonly number[] = [2 ** 48, ...KVM_GRANULE_SIZES];

/**
 * The granule of a level from −1 to 3 (256 TiB, 512 GiB, 1 GiB, 2 MiB,
 * 4 KiB), for hot paths that must not compute a power.
 *
 * @param level Lookup level, −1..3.
 * @returns Bytes covered by one entry at that level.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { granuleAt } from "./geometry.ts";
 * assertEquals([granuleAt(-1), granuleAt(3)], [2 ** 48, 4096]);
 * ```
 */
export function granuleAt(level: number): number {
  return GRANULES_FROM_FIRST[level + 1]!;
}

/**
 * `ARM64_HW_PGTABLE_LEVEL_SHIFT(level)` for 4 KiB pages: 39, 30, 21, 12.
 *
 * @param level Lookup level.
 * @returns The address shift of one entry at that level.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kvmGranuleShift } from "./geometry.ts";
 * assertEquals([0, 1, 2, 3].map(kvmGranuleShift), [39, 30, 21, 12]);
 * ```
 */
export function kvmGranuleShift(level: number): number {
  return 9 * (4 - level) + 3;
}

/**
 * `kvm_granule_size(level)`: bytes covered by one entry at `level`.
 *
 * @param level Lookup level.
 * @returns The granule in bytes.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kvmGranuleSize } from "./geometry.ts";
 * assertEquals(kvmGranuleSize(2), 2 * 1024 * 1024);
 * ```
 */
export function kvmGranuleSize(level: number): number {
  return 2 ** kvmGranuleShift(level);
}

/**
 * `ARM64_HW_PGTABLE_LEVELS(ia_bits)` = (ia_bits − 4) / 9 for 4 KiB pages.
 *
 * @param iaBits Input address bits.
 * @returns Number of lookup levels.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kvmPgtableLevels } from "./geometry.ts";
 * assertEquals(kvmPgtableLevels(48), 4);
 * assertEquals(kvmPgtableLevels(39), 3);
 * ```
 */
export function kvmPgtableLevels(iaBits: number): number {
  return Math.floor((iaBits - 4) / 9);
}

/**
 * The start level `kvm_pgtable_hyp_init` derives: 4 − levels (32–39 bits
 * start at level 1, 40–48 bits at level 0, 49–52 bits at −1).
 *
 * @param iaBits Input address bits.
 * @returns The start level.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kvmPgtableStartLevel } from "./geometry.ts";
 * assertEquals(kvmPgtableStartLevel(48), 0);
 * assertEquals(kvmPgtableStartLevel(36), 1);
 * assertEquals(kvmPgtableStartLevel(52), -1);
 * ```
 */
export function kvmPgtableStartLevel(iaBits: number): number {
  return KVM_PGTABLE_LAST_LEVEL + 1 - kvmPgtableLevels(iaBits);
}
