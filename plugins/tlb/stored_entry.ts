/**
 * The layout of a leaf TLB entry's flags ({@link LEAF}) and the object form
 * of an entry ({@link StoredEntry}), which the TLB makes only when an API
 * hands an entry out (the entries themselves are rows of typed arrays, in
 * `leaf_store.ts`).
 *
 * @module
 */

import type { TlbEntry } from "../../core/mod.ts";

/** Leaf sizes by size class: 4 KiB, 2 MiB, 1 GiB. */
export const LEAF_SIZES = [4096, 2097152, 1073741824] as const;

/**
 * Bits of a leaf entry's flags word (word 9 of its row, see `LeafChunk`). The low byte is the TLB's (size class,
 * level, speculative, whether the filler's words are set); the rest belong
 * to the filler (the MMU's decoded permissions, the SCTLR_EL2.WXN and MAIR
 * attribute it cached, the outcome of its last verification).
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
 * import { sizeClass } from "./stored_entry.ts";
 * assertEquals([sizeClass(4096), sizeClass(2 ** 21), sizeClass(2 ** 30), sizeClass(2 ** 39)], [0, 1, 2, -1]);
 * ```
 */
export function sizeClass(size: number): number {
  return size === 4096 ? 0 : size === 2097152 ? 1 : size === 1073741824 ? 2 : -1;
}

/** The high half last converted by {@link StoredEntry.pte}, and it shifted into place. */
let lastHi = 0;
let lastHiShifted = 0n;

/**
 * The object form of a stored entry: the {@link TlbEntry} fields, plus the
 * filler's words, so that filling it back (as the A64 executor does with
 * the survivors of a TLBI) restores the entry as it was.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LeafStore } from "./leaf_store.ts";
 * const s = new LeafStore();
 * const id = s.put(0x20_0000, 1, 0x4020_0000, 0x4000_0000, 0x40200741, 0, 2 << 2);
 * const e = s.entryAt(id);
 * assertEquals([e.va, e.size, e.pa, e.level, e.pte], [0x20_0000, 0x20_0000, 0x4020_0000, 2, 0x40200741n]);
 * assertEquals(s.entryAt(id), e); // the same object every time
 * ```
 */
export class StoredEntry implements TlbEntry {
  /** Regime. */
  readonly regime: "EL2" = "EL2";
  /** Table base walked from (provenance). */
  readonly base: number;
  /** First VA. */
  readonly va: number;
  /** Block or page size. */
  readonly size: number;
  /** First PA. */
  readonly pa: number;
  /** Leaf level. */
  readonly level: number;
  /** Filled speculatively. */
  readonly speculative: boolean;
  /** Low half of the leaf descriptor. */
  readonly lo: number;
  /** High half of the leaf descriptor. */
  readonly hi: number;
  /** The flags word ({@link LEAF}) when last stored or handed out. */
  meta: number;
  /** The filler's generation word then. */
  gen: number;
  /** The filler's tag word then. */
  tag: number;
  /** A copy of the filler's chain then. */
  chain: number[] | undefined;
  #pte: bigint | undefined = undefined;

  /**
   * Creates the object of an entry.
   * @param va First VA.
   * @param cls Size class.
   * @param pa First PA.
   * @param base Table base.
   * @param lo Low half of the descriptor.
   * @param hi High half.
   * @param meta Flags ({@link LEAF}).
   * @param gen Filler's generation word.
   * @param tag Filler's tag word.
   * @param chain Filler's chain.
   */
  constructor(
    va: number,
    cls: number,
    pa: number,
    base: number,
    lo: number,
    hi: number,
    meta: number,
    gen: number,
    tag: number,
    chain: number[] | undefined,
  ) {
    this.base = base;
    this.va = va;
    this.size = LEAF_SIZES[cls as 0 | 1 | 2];
    this.pa = pa;
    this.level = (meta >>> LEAF.LEVEL_SHIFT) & 3;
    this.speculative = (meta & LEAF.SPECULATIVE) !== 0;
    this.lo = lo;
    this.hi = hi;
    this.meta = meta;
    this.gen = gen;
    this.tag = tag;
    this.chain = chain;
  }

  /** Leaf descriptor (made from its halves on first use). */
  get pte(): bigint {
    let pte = this.#pte;
    if (pte === undefined) {
      const hi = this.hi;
      if (hi !== lastHi) {
        lastHiShifted = BigInt(hi) << 32n;
        lastHi = hi;
      }
      pte = this.#pte = lastHiShifted | BigInt(this.lo);
    }
    return pte;
  }
}
