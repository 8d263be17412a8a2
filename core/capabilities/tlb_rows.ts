/**
 * The layout the built-in MMU and TLB share for a leaf TLB entry kept as a
 * row of numbers rather than an object (the TLB's `LeafStore`, the MMU's
 * fill and hit by id): the flags word ({@link LEAF}), the size classes
 * ({@link LEAF_SIZES}, {@link sizeClass}), and the descriptor rebuilt from
 * its two 32-bit halves ({@link pteOf}). Kept in core so that neither plugin
 * imports the other at run time.
 *
 * @module
 */

/**
 * Leaf sizes by size class: 4 KiB, 2 MiB, 1 GiB.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LEAF_SIZES } from "./tlb_rows.ts";
 * assertEquals(LEAF_SIZES[1], 2 * 1024 * 1024);
 * ```
 */
export const LEAF_SIZES = [4096, 2097152, 1073741824] as const;

/**
 * Bits of a leaf entry's flags word. The low byte is the TLB's (size class,
 * level, speculative, whether the filler's words are set); the rest belong
 * to the filler (the MMU's decoded permissions, the SCTLR_EL2.WXN and MAIR
 * attribute it cached, the outcome of its last verification).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LEAF } from "./tlb_rows.ts";
 * const meta = (3 << LEAF.LEVEL_SHIFT) | LEAF.RO;
 * assertEquals((meta >>> LEAF.LEVEL_SHIFT) & 3, 3);
 * ```
 */
export const LEAF = {
  /** Size class: 0 4 KiB, 1 2 MiB, 2 1 GiB. */
  CLS_MASK: 0x3,
  /** Leaf level (0..3) << 2. */
  LEVEL_SHIFT: 2,
  /** Filled speculatively. */
  SPECULATIVE: 0x10,
  /** The filler's words (the bits above, `gen`, `tag`, `chain`) are set. */
  WORDS: 0x20,
  /** Filler: read-only (AP[2] or APTable[1]). */
  RO: 0x100,
  /** Filler: execute-never (XN or XNTable). */
  XN: 0x200,
  /** Filler: read-only because of APTable. */
  AP_TABLE: 0x400,
  /** Filler: execute-never because of XNTable. */
  XN_TABLE: 0x800,
  /** Filler: SCTLR_EL2.WXN at the fill. */
  WXN: 0x1000,
  /** Filler: the last verifying walk gave another translation. */
  STALE: 0x2000,
  /** Filler: MAIR attribute byte at the fill, << 16. */
  ATTRS_SHIFT: 16,
} as const;

/**
 * The size class of an entry size (the low two bits of an entry's key).
 *
 * @param size An entry size.
 * @returns 0 for 4 KiB, 1 for 2 MiB, 2 for 1 GiB, -1 otherwise.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sizeClass } from "./tlb_rows.ts";
 * assertEquals([sizeClass(4096), sizeClass(2 ** 21), sizeClass(2 ** 30), sizeClass(2 ** 39)], [0, 1, 2, -1]);
 * ```
 */
export function sizeClass(size: number): number {
  return size === 4096 ? 0 : size === 2097152 ? 1 : size === 1073741824 ? 2 : -1;
}

/** The high half last converted by {@link pteOf}, and it shifted into place. */
let lastHi = 0;
let lastHiShifted = 0n;

/**
 * A 64-bit descriptor from its halves. Leaves share a few high halves
 * (upper attributes, PA bits 47:32), so the last one shifted is remembered,
 * leaving one BigInt conversion and one OR per call.
 *
 * @param lo Bits 31:0.
 * @param hi Bits 63:32.
 * @returns The descriptor.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pteOf } from "./tlb_rows.ts";
 * assertEquals(pteOf(0x40200741, 0x0040_0000), 0x0040_0000_4020_0741n);
 * ```
 */
export function pteOf(lo: number, hi: number): bigint {
  if (hi !== lastHi) {
    lastHiShifted = BigInt(hi) << 32n;
    lastHi = hi;
  }
  return lastHiShifted | BigInt(lo >>> 0);
}
