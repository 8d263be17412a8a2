/**
 * The object form of a leaf TLB entry ({@link StoredEntry}), which the TLB
 * makes only when an API hands an entry out (the entries themselves are rows
 * of typed arrays, in `leaf_store.ts`, laid out as core's `LEAF` says).
 *
 * @module
 */

import { LEAF, LEAF_SIZES, pteOf, type TlbEntry } from "../../core/mod.ts";

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
    return this.#pte ??= pteOf(this.lo, this.hi);
  }
}
