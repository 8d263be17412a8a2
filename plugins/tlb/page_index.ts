/**
 * The index of a leaf store ({@link PageIndex}): which id holds the entry of
 * a size class at a page (or block) number, as a radix of 64-slot buckets
 * rather than a hash table of ids.
 *
 * Why: the hyp's entries come in runs of neighbouring pages (the pool, its
 * vmemmap, the sections), so a bucket of 64 neighbours is mostly full and an
 * entry costs about 4 bytes of index — a hash table kept at most half full
 * costs 8–16 bytes an entry, and its growth rehashes every entry into a
 * fresh table twice the size (touching fresh memory is what costs most
 * here). A lookup reads the bucket's slot directly: no probe run, no compare
 * against the entry's row. An entry far from every other costs a bucket of
 * its own (256 bytes): the cost still follows the live entries.
 *
 * @module
 */

/** Slots per bucket, as a shift. */
const BUCKET_BITS = 6;
const BUCKET = 1 << BUCKET_BITS;
/** Slots per block of buckets after the first (1024 buckets, 256 KiB), as a shift. */
const BLOCK_BITS = 16;
const BLOCK = 1 << BLOCK_BITS;

/**
 * A map from (size class, VA / size) to an id, for the three leaf sizes.
 * Bucket `(cls, ⌊vpn / 64⌋)` holds the ids of the 64 neighbouring numbers
 * from 64 × ⌊vpn / 64⌋; buckets live in one growable `Int32Array` and are
 * found through a small open-addressing table; an emptied bucket is
 * reused.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PageIndex } from "./page_index.ts";
 * const x = new PageIndex();
 * x.set(0, 0x7_fff8_0001, 5); // the page at VA 0x7fff_8000_1000
 * x.set(1, 0x3f_ffc0, 9); // the 2 MiB block at VA 0x7fff_8000_0000
 * assertEquals([x.get(0, 0x7_fff8_0001), x.get(0, 0x7_fff8_0002), x.get(1, 0x3f_ffc0)], [5, -1, 9]);
 * assertEquals([x.delete(0, 0x7_fff8_0001), x.get(0, 0x7_fff8_0001)], [5, -1]);
 * ```
 */
export class PageIndex {
  /**
   * The slots, in blocks: slot `n = b * 64 + s` (bucket `b`, slot `s`) at
   * `blocks[n >>> 16][n & 65535]`, holding id + 1, or 0 when empty. The
   * first block grows by doubling up to full size, then full blocks are
   * added: nothing is copied past 256 KiB (copying touches fresh memory,
   * the dearest thing here).
   */
  readonly #blocks: Int32Array[];
  /** Entries per bucket in use; a free bucket holds -2 - the next free one (-1 ends). */
  #count: Int32Array;
  /** Buckets handed out so far (in use or free). */
  #top = 0;
  #freeHead = -1;
  #inUse = 0;
  /**
   * The bucket emptied last, left in the table (-1: none) with its key and
   * class: a page filled and invalidated over and over (a TLBI by VA then
   * the refill) would otherwise free and re-enter its bucket every time.
   * At most one empty bucket is kept, so the cost still follows the live
   * entries.
   */
  #parked = -1;
  #parkedKey = -1;
  #parkedCls = 0;
  /** Bucket table: key (⌊vpn / 64⌋ × 4 + class; -1 empty) → bucket number. */
  #keys: Float64Array;
  #vals: Int32Array;
  #mask: number;
  /**
   * Per size class, the two bucket keys last found and their first slots
   * (`[2 × cls]` the newer): runs of lookups stay in a bucket, and hyp code
   * often alternates between two regions (a page it fills and the
   * `struct hyp_page` that describes it).
   */
  readonly #lastKey: Float64Array = new Float64Array(6).fill(-1);
  readonly #lastBase: Int32Array = new Int32Array(6);

  /**
   * Creates an empty index.
   * @param buckets Initial buckets (a power of two).
   */
  constructor(buckets = 4) {
    this.#blocks = [new Int32Array(Math.min(buckets * BUCKET, BLOCK))];
    this.#count = new Int32Array(buckets);
    this.#keys = new Float64Array(buckets * 2).fill(-1);
    this.#vals = new Int32Array(buckets * 2);
    this.#mask = buckets * 2 - 1;
  }

  /** Buckets in use (one emptied bucket may be kept: see `#parked`). */
  get buckets(): number {
    return this.#inUse;
  }

  /** Bytes of typed arrays held (the slots, counts and bucket table). */
  get bytes(): number {
    let n = this.#count.byteLength + this.#keys.byteLength + this.#vals.byteLength;
    for (const b of this.#blocks) n += b.byteLength;
    return n;
  }

  #home(key: number): number {
    // 2^32 as a literal: a division by a module constant is a real divide.
    let h = Math.imul((key | 0) ^ Math.imul((key / 4294967296) | 0, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    return h & this.#mask;
  }

  /** The first slot of the bucket with key `bk`, or -1. */
  #base(cls: number, bk: number): number {
    const m = cls * 2;
    const lk = this.#lastKey;
    if (lk[m] === bk) return this.#lastBase[m]!;
    if (lk[m + 1] === bk) return this.#lastBase[m + 1]!;
    const keys = this.#keys;
    const mask = this.#mask;
    for (let i = this.#home(bk);; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === bk) {
        const base = this.#vals[i]! << BUCKET_BITS;
        this.#remember(m, bk, base);
        return base;
      }
      if (k === -1) return -1;
    }
  }

  /**
   * The id at (`cls`, `vpn`), or -1.
   * @param cls Size class (0..2).
   * @param vpn VA / the class's size (a non-negative safe integer).
   * @returns The id or -1.
   */
  get(cls: number, vpn: number): number {
    // Literal divisor: a multiply. `vpn & 63` takes the low bits of a safe
    // integer past 2^32 too (ToInt32 is modular).
    const base = this.#base(cls, Math.floor(vpn / 64) * 4 + cls);
    return base < 0 ? -1 : this.#blocks[base >>> BLOCK_BITS]![(base & 65535) + (vpn & 63)]! - 1;
  }

  /**
   * Sets the id at (`cls`, `vpn`), which must be empty.
   * @param cls Size class (0..2).
   * @param vpn VA / the class's size.
   * @param id The id (0 ≤ id < 2^31 − 1).
   */
  set(cls: number, vpn: number, id: number): void {
    const bk = Math.floor(vpn / 64) * 4 + cls;
    let base = this.#base(cls, bk);
    if (base < 0) base = this.#newBucket(cls, bk);
    this.#blocks[base >>> BLOCK_BITS]![(base & 65535) + (vpn & 63)] = id + 1;
    const b = base >>> BUCKET_BITS;
    if (this.#count[b]!++ === 0 && b === this.#parked) this.#parked = -1;
  }

  /**
   * Sets the id at (`cls`, `vpn`), replacing any: one lookup where a
   * {@link PageIndex.get} then a {@link PageIndex.set} make two.
   * @param cls Size class (0..2).
   * @param vpn VA / the class's size.
   * @param id The id (0 ≤ id < 2^31 − 1).
   * @returns The id replaced, or -1 when the slot was empty.
   */
  swap(cls: number, vpn: number, id: number): number {
    const bk = Math.floor(vpn / 64) * 4 + cls;
    let base = this.#base(cls, bk);
    if (base < 0) base = this.#newBucket(cls, bk);
    const blk = this.#blocks[base >>> BLOCK_BITS]!;
    const s = (base & 65535) + (vpn & 63);
    const old = blk[s]! - 1;
    blk[s] = id + 1;
    if (old < 0) {
      const b = base >>> BUCKET_BITS;
      if (this.#count[b]!++ === 0 && b === this.#parked) this.#parked = -1;
    }
    return old;
  }

  /**
   * Removes the id at (`cls`, `vpn`).
   * @param cls Size class (0..2).
   * @param vpn VA / the class's size.
   * @returns The id removed, or -1 when there was none.
   */
  delete(cls: number, vpn: number): number {
    const bk = Math.floor(vpn / 64) * 4 + cls;
    const base = this.#base(cls, bk);
    if (base < 0) return -1;
    const blk = this.#blocks[base >>> BLOCK_BITS]!;
    const s = (base & 65535) + (vpn & 63);
    const v = blk[s]!;
    if (v === 0) return -1;
    blk[s] = 0;
    const b = base >>> BUCKET_BITS;
    if (--this.#count[b]! === 0) {
      if (this.#parked >= 0) this.#freeBucket(this.#parkedCls, this.#parkedKey, this.#parked);
      this.#parked = b;
      this.#parkedKey = bk;
      this.#parkedCls = cls;
    }
    return v - 1;
  }

  /** Removes every id (the memory stays, for the next fills). */
  clear(): void {
    if (this.#top === 0) return;
    const used = this.#top << BUCKET_BITS;
    const blocks = this.#blocks;
    for (let i = 0; i < blocks.length && i << BLOCK_BITS < used; i++) {
      blocks[i]!.fill(0, 0, Math.min(BLOCK, used - (i << BLOCK_BITS)));
    }
    this.#count.fill(0, 0, this.#top);
    if (this.#inUse !== 0) this.#keys.fill(-1);
    this.#top = 0;
    this.#freeHead = -1;
    this.#inUse = 0;
    this.#parked = -1;
    this.#lastKey.fill(-1);
  }

  /** Remembers bucket key `bk` at `base` as the newer of class slot pair `m`. */
  #remember(m: number, bk: number, base: number): void {
    const lk = this.#lastKey;
    const lb = this.#lastBase;
    lk[m + 1] = lk[m]!;
    lb[m + 1] = lb[m]!;
    lk[m] = bk;
    lb[m] = base;
  }

  /** A bucket for key `bk` (all slots empty), entered in the table. */
  #newBucket(cls: number, bk: number): number {
    let b = this.#freeHead;
    if (b >= 0) this.#freeHead = -2 - this.#count[b]!;
    else {
      if (this.#top === this.#count.length) this.#growCounts();
      if (this.#top << BUCKET_BITS === this.#slotCap) this.#growSlots();
      b = this.#top++;
    }
    this.#count[b] = 0;
    if ((this.#inUse + 1) * 2 > this.#keys.length) this.#growTable();
    const keys = this.#keys;
    const mask = this.#mask;
    let i = this.#home(bk);
    while (keys[i] !== -1) i = (i + 1) & mask;
    keys[i] = bk;
    this.#vals[i] = b;
    this.#inUse++;
    const base = b << BUCKET_BITS;
    this.#remember(cls * 2, bk, base);
    return base;
  }

  /** Takes emptied bucket `b` (key `bk`) out of the table onto the free list. */
  #freeBucket(cls: number, bk: number, b: number): void {
    const keys = this.#keys;
    const vals = this.#vals;
    const mask = this.#mask;
    let i = this.#home(bk);
    while (keys[i] !== bk) i = (i + 1) & mask;
    // Backward-shift: pull later members of the probe run into the hole.
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      const k = keys[j]!;
      if (k === -1) break;
      const h = this.#home(k);
      const stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
      if (!stays) {
        keys[i] = k;
        vals[i] = vals[j]!;
        i = j;
      }
    }
    keys[i] = -1;
    this.#inUse--;
    this.#count[b] = -2 - this.#freeHead;
    this.#freeHead = b;
    const m = cls * 2;
    if (this.#lastKey[m] === bk) this.#lastKey[m] = -1;
    if (this.#lastKey[m + 1] === bk) this.#lastKey[m + 1] = -1;
  }

  /** Slots the blocks hold. */
  get #slotCap(): number {
    const b = this.#blocks;
    return b.length === 1 ? b[0]!.length : b.length << BLOCK_BITS;
  }

  /** Room for more buckets' slots (zero, as a fresh buffer is). */
  #growSlots(): void {
    const blocks = this.#blocks;
    const first = blocks[0]!;
    if (blocks.length === 1 && first.length < BLOCK) {
      const slots = new Int32Array(first.length * 2);
      slots.set(first);
      blocks[0] = slots;
    } else blocks.push(new Int32Array(BLOCK));
  }

  /** Twice the bucket counts. */
  #growCounts(): void {
    const count = new Int32Array(this.#count.length * 2);
    count.set(this.#count);
    this.#count = count;
  }

  /** Twice the table slots (at most half used), every bucket re-entered. */
  #growTable(): void {
    const oldKeys = this.#keys;
    const oldVals = this.#vals;
    const n = oldKeys.length * 2;
    const keys = this.#keys = new Float64Array(n).fill(-1);
    const vals = this.#vals = new Int32Array(n);
    const mask = this.#mask = n - 1;
    for (let j = 0; j < oldKeys.length; j++) {
      const k = oldKeys[j]!;
      if (k === -1) continue;
      let i = this.#home(k);
      while (keys[i] !== -1) i = (i + 1) & mask;
      keys[i] = k;
      vals[i] = oldVals[j]!;
    }
  }
}
