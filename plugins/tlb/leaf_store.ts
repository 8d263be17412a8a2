/**
 * One CPU's leaf TLB entries in typed arrays: an entry is an id naming a
 * 48-byte row (VA key, PA delta, table base, descriptor halves, flags and
 * the filler's verification words), found through a radix index of ids by
 * page or block number ({@link PageIndex}). No object per entry: the memory an entry costs
 * is a few dozen bytes of typed arrays, and a fill or a removal allocates
 * nothing, so the cost follows the live entries, not the accesses made.
 *
 * An entry object ({@link StoredEntry}) is made only when an API hands one
 * out (`lookup`, `peek`, `entries`, `fillsSince`), and then kept with the
 * entry, so the same entry is always the same object. An object given to
 * `fill` is kept as the entry's object.
 *
 * @module
 */

import { LEAF, LEAF_SIZES as SIZES, type TlbEntry } from "../../core/mod.ts";
import { PageIndex } from "./page_index.ts";
import { StoredEntry } from "./stored_entry.ts";

/** Entries per chunk after the first (ids `c << 14` .. `(c + 1) << 14`), as a shift. */
const CHUNK_BITS = 14;
const CHUNK = 1 << CHUNK_BITS;
/** Slots of {@link LeafStore.find}'s memo (a power of two). */
const MEMO = 1024;

/**
 * The rows of up to 16384 entries (one {@link LeafStore} chunk): entry
 * `id` is at offset `id & 16383` of chunk `id >>> 14`. A row means
 * something only while its id is below the store's high-water mark (ids
 * handed out since the last clear); the rest are left as allocated.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LeafChunk } from "./leaf_store.ts";
 * const c = new LeafChunk(4);
 * assertEquals([c.f.length, c.u.length, c.chain[3]], [24, 48, undefined]);
 * ```
 */
export class LeafChunk {
  /**
   * The rows as doubles: entry `j`'s key (VA / size × 4 + size class;
   * negative when the id is free below the high-water mark) at `f[j * 6]`, its PA − VA at
   * `f[j * 6 + 1]`, the filler's generation word (-1: always verify) at
   * `f[j * 6 + 2]`.
   */
  readonly f: Float64Array;
  /**
   * The same rows as 32-bit words: entry `j`'s table base (an index into
   * {@link LeafStore.bases}) at `u[j * 12 + 6]`, descriptor low and high
   * halves at `+ 7` and `+ 8`, flags ({@link LEAF}) at `+ 9`, the filler's
   * tag word (the regime it verified against; 0: none) at `+ 10`, the fill
   * serial (+ 1, modulo 2^32; 0 when free) at `+ 11`.
   */
  readonly u: Uint32Array;
  /**
   * Filler's word: the descriptors its last verification read, or
   * undefined. Sparse (few entries carry one: the filler sets it only on a
   * re-verification), so it starts empty rather than with a slot per row.
   */
  readonly chain: (number[] | undefined)[];

  /**
   * Creates rows. Nothing is written: an id is only read once the store
   * has handed it out (and so written its row), and the memory of a fresh
   * buffer is only touched, page by page, as rows are filled — touching a
   * page costs more than anything done to it here.
   * @param n Entries.
   * @param from Rows to copy from (a smaller chunk growing; its chain
   *   array is taken over).
   */
  constructor(n: number, from?: LeafChunk) {
    // One 48-byte row per entry (a struct, not columns): a lookup at a
    // random VA touches one cache line of the chunk, not one per field.
    const buf = new ArrayBuffer(n * 48);
    this.f = new Float64Array(buf);
    this.u = new Uint32Array(buf);
    if (from !== undefined) {
      this.f.set(from.f);
      this.chain = from.chain;
    } else this.chain = [];
  }
}

/**
 * The leaf entries of one CPU. Ids are stable while an entry lives; a
 * removed entry's id is reused. The rows, in chunks of 16384 entries
 * ({@link LeafChunk}: entry `id` at `chunks[id >>> 14]`, offset
 * `id & 16383`), are public for the MMU's allocation-free path. A chunk,
 * once full size, is never copied or replaced; the first grows by doubling
 * up to 1024 entries (so a small TLB stays small), then to full size, so
 * read `chunks` again after any {@link LeafStore.put}.
 *
 * At most one entry per size class and VA: a page wins over a 2 MiB block,
 * which wins over a 1 GiB block (overlaps come from stale entries or
 * speculation).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LeafStore } from "./leaf_store.ts";
 * const s = new LeafStore();
 * s.put(0x1000, 0, 0x4100_0000, 0x4000_0000, 0x41000743, 0, 3 << 2);
 * const id = s.find(0x1234);
 * assertEquals(0x1234 + s.chunks[id >>> 14]!.f[(id & 16383) * 6 + 1]!, 0x4100_0234);
 * assertEquals([s.remove(0x1fff, 0), s.find(0x1234), s.size], [1, -1, 0]);
 * ```
 */
export class LeafStore {
  /** The rows, by chunk. */
  readonly chunks: LeafChunk[];
  /** The table bases entries came from (few: one per set of tables walked). */
  readonly bases: number[] = [];
  /** The object handed out for an entry, once one was (few: only the APIs that hand one out). */
  readonly #obj: Map<number, TlbEntry> = new Map();
  /** Which id holds the entry of a size class at a page or block number. */
  readonly #index: PageIndex = new PageIndex();
  /** Head of the free ids, chained through `key` (a free id holds -2 - next free, -1 ends). */
  #freeHead = -1;
  /** Ids below this have been handed out. */
  #next = 0;
  /** Ids the chunks hold. */
  #cap: number;
  #size = 0;
  /** Entries per size class. */
  readonly counts: Int32Array = new Int32Array(3);

  /**
   * Creates an empty store.
   * @param capacity Initial entries (a power of two, at most 16384).
   */
  constructor(capacity = 64) {
    this.#cap = Math.min(capacity, CHUNK);
    this.chunks = [new LeafChunk(this.#cap)];
  }

  /**
   * The chunk holding entry `id` (its offset there is `id & 16383`).
   * @param id An id.
   * @returns The chunk.
   */
  chunk(id: number): LeafChunk {
    return this.chunks[id >>> CHUNK_BITS]!;
  }

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** The key of a live id. */
  #key(id: number): number {
    return this.chunks[id >>> 14]!.f[(id & 16383) * 6 + 0]!;
  }

  /**
   * The id of the entry translating `va`, page first, or -1.
   * @param va Virtual address.
   * @returns The id or -1.
   */
  find(va: number): number {
    // Literal sizes: dividing by a literal power of two is a multiply.
    const pn = Math.floor(va / 4096);
    const pk = pn * 4;
    // The page found last (hyp code makes runs of accesses to one page:
    // list nodes, records, memsets) is one compare away.
    if (pk === this.#lastKey) return this.#lastId;
    // The answer for this page since the store last changed: a page under
    // a block entry otherwise costs a failed page probe and a block probe
    // on every access (pKVM maps the pool and its vmemmap with blocks).
    const m = (pk >>> 2) & (MEMO - 1);
    if (this.#memoKey[m] === pk && this.#memoStamp[m] === this.#stamp) {
      return this.#memoId[m]!;
    }
    const c = this.counts;
    let id = -1;
    if (c[0] !== 0) {
      id = this.#index.get(0, pn);
      if (id >= 0) {
        this.#lastKey = pk;
        this.#lastId = id;
        return id;
      }
    }
    if (c[1] !== 0) id = this.#index.get(1, Math.floor(va / 2097152));
    if (id < 0 && c[2] !== 0) id = this.#index.get(2, Math.floor(va / 1073741824));
    this.#memoKey[m] = pk;
    this.#memoId[m] = id;
    this.#memoStamp[m] = this.#stamp;
    return id;
  }

  /**
   * {@link LeafStore.find}'s answers by page key, direct-mapped, each valid
   * while its stamp is the store's: every put, removal and clear moves the
   * stamp on, so a remembered answer is always what a probe would give.
   */
  #memoKey = new Float64Array(MEMO).fill(-1);
  #memoId = new Int32Array(MEMO);
  #memoStamp = new Uint32Array(MEMO);
  /** Moves on at every change of the entries (starts at 1: stamps start at 0). */
  #stamp = 1;

  /** The entries changed: every remembered answer is void (a wrap voids them by hand). */
  #changed(): void {
    if (++this.#stamp === 4294967296) {
      this.#stamp = 1;
      this.#memoStamp.fill(0);
    }
  }

  /** Key of the page entry {@link LeafStore.find} found last (-1: none), and its id. */
  #lastKey = -1;
  #lastId = -1;

  /** Lookups through {@link LeafStore.lookup} that hit. */
  hits = 0;
  /** Lookups through {@link LeafStore.lookup} that missed. */
  misses = 0;

  /**
   * {@link LeafStore.find}, counted in {@link LeafStore.hits} or
   * {@link LeafStore.misses} (the TLB's counters add them up).
   * @param va Virtual address.
   * @returns The id or -1.
   */
  lookup(va: number): number {
    const id = this.find(va);
    if (id < 0) this.misses++;
    else this.hits++;
    return id;
  }

  /**
   * The id of the entry of size class `cls` at `va`, or -1.
   * @param va Any address it translates.
   * @param cls Size class.
   * @returns The id or -1.
   */
  findClass(va: number, cls: number): number {
    if (this.counts[cls] === 0) return -1;
    return this.#index.get(cls, Math.floor(va / SIZES[cls as 0 | 1 | 2]));
  }

  /**
   * Stores an entry, replacing the one of the same size at the same VA (the
   * replacement gets a fresh id). The filler's words start cleared; set them
   * through the rows.
   * @param va First VA (aligned to the size).
   * @param cls Size class.
   * @param pa First PA.
   * @param base Table base.
   * @param lo Low half of the descriptor.
   * @param hi High half.
   * @param meta Flags ({@link LEAF}); the size class bits are set here.
   * @returns The id.
   */
  put(
    va: number,
    cls: number,
    pa: number,
    base: number,
    lo: number,
    hi: number,
    meta: number,
  ): number {
    // Literal divisors: by a variable size a real divide on every fill, by
    // a literal power of two a multiply.
    const vpn = cls === 0 ? va / 4096 : cls === 1 ? va / 2097152 : va / 1073741824;
    const k = vpn * 4 + cls;
    this.#changed();
    let id = this.#freeHead;
    if (id >= 0) {
      this.#freeHead = -2 - this.#key(id);
    } else {
      if (this.#next === this.#cap) this.#grow();
      id = this.#next++;
    }
    const c = this.chunks[id >>> 14]!;
    const j = id & 16383;
    c.f[j * 6 + 0] = k;
    c.f[j * 6 + 1] = pa - va;
    c.u[j * 12 + 6] = this.#baseId(base);
    c.u[j * 12 + 7] = lo;
    c.u[j * 12 + 8] = hi;
    c.u[j * 12 + 9] = (meta & ~LEAF.CLS_MASK) | cls;
    c.f[j * 6 + 2] = 0;
    c.u[j * 12 + 10] = 0;
    c.u[j * 12 + 11] = 1;
    // A replacement (rare: stale or speculative overlaps) frees the old id.
    const old = this.#index.swap(cls, vpn, id);
    if (old >= 0) this.#free(old, cls);
    this.#size++;
    this.counts[cls]!++;
    return id;
  }

  /**
   * Removes the entries translating `va`: every size class, or only the
   * one of leaf level `level`.
   * @param va Any address in the page.
   * @param level 1, 2 or 3: only that level's size; 0: every size.
   * @returns Entries removed.
   */
  remove(va: number, level: number): number {
    let n = 0;
    const c = this.counts;
    if ((level === 0 || level === 3) && c[0] !== 0 && this.#removeAt(0, Math.floor(va / 4096))) {
      n++;
    }
    if (
      (level === 0 || level === 2) && c[1] !== 0 && this.#removeAt(1, Math.floor(va / 2097152))
    ) n++;
    if (
      (level === 0 || level === 1) && c[2] !== 0 &&
      this.#removeAt(2, Math.floor(va / 1073741824))
    ) n++;
    return n;
  }

  /** Removes the entry of class `cls` at `vpn` (VA / size); false when there is none. */
  #removeAt(cls: number, vpn: number): boolean {
    const id = this.#index.delete(cls, vpn);
    if (id < 0) return false;
    this.#free(id, cls);
    return true;
  }

  /** Frees live id `id` of class `cls`, already out of the index. */
  #free(id: number, cls: number): void {
    if (cls === 0 && this.#key(id) === this.#lastKey) this.#lastKey = -1;
    this.#changed();
    this.counts[cls]!--;
    const c = this.chunks[id >>> 14]!;
    const o = id & 16383;
    c.f[o * 6 + 0] = -2 - this.#freeHead;
    this.#freeHead = id;
    c.u[o * 12 + 11] = 0;
    // Only a slot in use is reset: writing past the end of the sparse
    // array would give it a slot it does not need.
    if (c.chain[o] !== undefined) c.chain[o] = undefined;
    if (this.#obj.size !== 0) this.#obj.delete(id);
    this.#size--;
  }

  /**
   * Removes every entry.
   * @returns Entries removed.
   */
  clear(): number {
    const n = this.#size;
    if (n === 0) return 0;
    this.#index.clear();
    // The rows stay as they are: with the high-water mark back at 0 no id
    // is live, and each is written whole when handed out again.
    for (const c of this.chunks) c.chain.length = 0;
    this.#obj.clear();
    this.#lastKey = -1;
    this.#changed();
    this.counts.fill(0);
    this.#freeHead = -1;
    this.#next = 0;
    this.#size = 0;
    return n;
  }

  /**
   * Whether an id holds an entry.
   * @param id An id.
   * @returns True when live.
   */
  live(id: number): boolean {
    return id >= 0 && id < this.#next && this.#key(id) >= 0;
  }

  /**
   * The entry's object, made on first use and kept.
   * @param id A live id.
   * @returns The object.
   */
  entryAt(id: number): TlbEntry {
    const c = this.chunks[id >>> 14]!;
    const j = id & 16383;
    const o = this.#obj.get(id);
    if (o !== undefined) {
      // The filler may have re-verified the entry since: the object carries
      // its words as they are now, so filling it back restores them.
      if (o instanceof StoredEntry) {
        o.meta = c.u[j * 12 + 9]!;
        o.gen = c.f[j * 6 + 2]!;
        o.tag = c.u[j * 12 + 10]!;
        o.chain = c.chain[j]?.slice();
      }
      return o;
    }
    const k = c.f[j * 6 + 0]!;
    const cls = k % 4;
    const va = ((k - cls) / 4) * SIZES[cls as 0 | 1 | 2];
    const e = new StoredEntry(
      va,
      cls,
      va + c.f[j * 6 + 1]!,
      this.bases[c.u[j * 12 + 6]!]!,
      c.u[j * 12 + 7]!,
      c.u[j * 12 + 8]!,
      c.u[j * 12 + 9]!,
      c.f[j * 6 + 2]!,
      c.u[j * 12 + 10]!,
      // A copy: the filler may rewrite the column's array in place.
      c.chain[j]?.slice(),
    );
    this.#obj.set(id, e);
    return e;
  }

  /**
   * Keeps `e` as the object of entry `id` (an object given to `fill`).
   * @param id A live id.
   * @param e The object.
   */
  setEntry(id: number, e: TlbEntry): void {
    this.#obj.set(id, e);
  }

  #lastBase = -1;
  #lastBaseId = 0;

  #baseId(base: number): number {
    if (base === this.#lastBase) return this.#lastBaseId;
    let i = this.bases.indexOf(base);
    if (i < 0) i = this.bases.push(base) - 1;
    this.#lastBase = base;
    this.#lastBaseId = i;
    return i;
  }

  /**
   * The object kept for entry `id`, if one was handed out or given (none is made).
   * @param id A live id.
   * @returns The object, or undefined.
   */
  objectAt(id: number): TlbEntry | undefined {
    return this.#obj.get(id);
  }

  /**
   * The key of this fill of live entry `id`: `id × 2^32 + fill serial`. An
   * id is reused once its entry goes, and the serial tells the fills apart.
   * @param id A live id.
   * @returns The key.
   */
  keyAt(id: number): number {
    return id * 4294967296 + this.chunks[id >>> 14]!.u[(id & 16383) * 12 + 11]!;
  }

  /**
   * Visits every entry as plain numbers, by id, making no object.
   * @param visit Called with each entry's first VA, size, table base and
   *   key ({@link LeafStore.keyAt}).
   */
  forEachRow(visit: (va: number, size: number, base: number, key: number) => void): void {
    const bases = this.bases;
    for (let id = 0; id < this.#next; id++) {
      const c = this.chunks[id >>> 14]!;
      const j = id & 16383;
      const k = c.f[j * 6 + 0]!;
      if (k < 0) continue;
      const cls = k % 4;
      const size = SIZES[cls as 0 | 1 | 2];
      visit(
        ((k - cls) / 4) * size,
        size,
        bases[c.u[j * 12 + 6]!]!,
        id * 4294967296 + c.u[j * 12 + 11]!,
      );
    }
  }

  /** Returns: The ids of every entry. */
  ids(): number[] {
    const out: number[] = [];
    for (let id = 0; id < this.#next; id++) if (this.#key(id) >= 0) out.push(id);
    return out;
  }

  /**
   * Room for more ids: the first chunk doubles up to 1024 entries, then
   * goes to full size, then a new full chunk each time (nothing is copied
   * again).
   */
  #grow(): void {
    const chunks = this.chunks;
    if (this.#cap < CHUNK) {
      // Past 1024 entries straight to full size: copying touches the new
      // buffer, and touching fresh memory is what costs (a fresh buffer's
      // untouched rows cost nothing until filled).
      this.#cap = this.#cap < 1024 ? this.#cap * 2 : CHUNK;
      chunks[0] = new LeafChunk(this.#cap, chunks[0]);
    } else {
      chunks.push(new LeafChunk(CHUNK));
      this.#cap += CHUNK;
    }
  }
}
