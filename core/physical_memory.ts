/**
 * Physical memory: RAM banks with sparse 4 KiB backing.
 *
 * Only pages that were written cost host memory; reading untouched RAM
 * returns zero and allocates nothing. Accesses are little-endian, as the
 * arm64 kernel runs. Addresses are plain numbers (physical addresses fit in
 * 52 bits, well inside a double's 53-bit integer range); 64-bit values are
 * `bigint`.
 *
 * @module
 */

import { type ExternalAbort, ExternalAbortError } from "./errors.ts";

/** Size of a page in bytes (4 KiB granule). */
export const PAGE_SIZE = 4096;
/** log2 of {@link PAGE_SIZE}. */
export const PAGE_SHIFT = 12;

/** A RAM bank: the half-open physical range `[base, base + size)`. */
export interface RamBank {
  /** First byte, page-aligned. */
  readonly base: number;
  /** Size in bytes, page-aligned and non-zero. */
  readonly size: number;
}

const MAX_PA = 2 ** 52;

/**
 * One backed page: views over its 4 KiB and the extent `[lo, hi)` stored to
 * since it was last all zero (every byte outside it is zero), so zeroing a
 * page, or recycling its buffer, only clears what was actually written.
 */
class Page {
  /** The slab whose free list takes this page back when it is dropped (none when pinned in a range). */
  slab: Slab | undefined = undefined;
  readonly dv: DataView;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  /** First byte that may be non-zero (`PAGE_SIZE` when the page is all zero). */
  lo = PAGE_SIZE;
  /** One past the last byte that may be non-zero. */
  hi = 0;
  /** Handed out by {@link PhysicalMemory.pin}: stays backed, extent the whole page. */
  pinned = false;
  /**
   * Read as a translation table ({@link PhysicalMemory.readTableEntry}): a
   * store to it bumps {@link PhysicalMemory.tableGeneration}.
   */
  watched = false;
  /**
   * @param buf The buffer holding the page: its own, or a slab shared with
   *   the other pages of a range pinned whole ({@link PhysicalMemory.pinRange}).
   * @param at Byte offset of the page in `buf`.
   */
  constructor(buf: ArrayBuffer, at: number) {
    this.dv = new DataView(buf, at, PAGE_SIZE);
    this.u8 = new Uint8Array(buf, at, PAGE_SIZE);
    this.u32 = new Uint32Array(buf, at, PAGE_SIZE / 4);
  }
}

/** Pages per slab: one buffer for 16 pages (64 KiB). */
const SLAB_PAGES = 16;

/**
 * A buffer holding {@link SLAB_PAGES} pages. One allocation per page costs
 * an allocator header and a backing-store record each, about 5% on top of
 * the 4 KiB at a 1 TiB boot; a slab shares them. A dropped page goes back on
 * its slab's free list, and a slab whose pages are all dropped is let go
 * whole, so what stays allocated follows the pages backed now, not the most
 * ever backed (at worst a slab per backed page).
 */
class Slab {
  readonly buf = new ArrayBuffer(SLAB_PAGES * PAGE_SIZE);
  /** Slots handed out so far (a slot is handed out once, then recycled through `free`). */
  used = 0;
  /** Pages backing a frame now. */
  live = 0;
  /** Dropped pages, all zero, ready to back another frame. */
  readonly free: Page[] = [];
  /** Index in the owner's list of slabs with free pages, or -1. */
  at = -1;
}

/** Typed-array words are host-endian; the fast read path needs little-endian. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Page slots of one 2 MiB chunk of a bank, indexed by pfn within the chunk. */
type Chunk = (Page | undefined)[];
/** Pages per chunk. */
const CHUNK_PAGES = 512;

/** Zeroes `[off, off + n)` of a page, only where it was written, and shrinks its extent. */
function zeroIn(p: Page, off: number, n: number): void {
  const end = off + n;
  const lo = p.lo > off ? p.lo : off;
  const hi = p.hi < end ? p.hi : end;
  if (lo >= hi) return;
  if (hi - lo <= 64) {
    // A list node or an entry: whole words through the view stores use too.
    if (((lo | hi) & 3) === 0) {
      const u32 = p.u32;
      for (let i = lo >> 2; i < hi >> 2; i++) u32[i] = 0;
    } else {
      const u8 = p.u8;
      for (let i = lo; i < hi; i++) u8[i] = 0;
    }
  } else {
    p.u8.fill(0, lo, hi);
  }
  // A pinned page may be written through its view at any byte.
  if (p.pinned) return;
  if (off <= p.lo) {
    if (end >= p.hi) {
      p.lo = PAGE_SIZE;
      p.hi = 0;
    } else {
      p.lo = end;
    }
  } else if (end >= p.hi) {
    p.hi = off;
  }
}

/**
 * Sparse physical memory over a set of RAM banks.
 *
 * @example Writing and reading back
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PhysicalMemory } from "./physical_memory.ts";
 *
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 32 }]);
 * mem.write64(0x4000_0008, 0x0040000000000743n);
 * assertEquals(mem.read64(0x4000_0008), 0x0040000000000743n);
 * assertEquals(mem.read32(0x4000_000c), 0x0040_0000);
 * assertEquals(mem.residentBytes, 4096);
 * ```
 */
export class PhysicalMemory {
  /** The banks, sorted by base. */
  readonly banks: readonly RamBank[];
  // pfn -> page, as a two-level table per bank: 2 MiB chunks of 512 page
  // slots, created on first write. Cheaper than a Map<pfn, Page> on the hot
  // path (no hashing; a Map also rehashes itself every few operations under
  // free/alloc churn when it is nearly full).
  #bankChunks: (Chunk | undefined)[][];
  #bankPfns: number[];
  /** Every chunk created, for walks over the backed pages. */
  #chunkList: { readonly pfn: number; readonly pages: Chunk }[] = [];
  #resident = 0;
  #bankStarts: Float64Array;
  #bankEnds: Float64Array;
  #generation = 0;
  #tableGeneration = 0;
  #backing = 0;
  /**
   * Frames read as tables while they had no backing: {@link Page.watched}
   * for the page a later store backs them with.
   */
  #watchedUnbacked = new Set<number>();

  /**

   * Creates the value.
   * @param banks RAM banks; each page-aligned, non-empty, non-overlapping.
   * @throws {RangeError} On an unaligned, empty, overlapping or too-high bank.
   */
  constructor(banks: readonly RamBank[]) {
    if (banks.length === 0) throw new RangeError("Cannot create memory: no RAM bank given");
    const sorted = [...banks].sort((a, b) => a.base - b.base);
    for (const b of sorted) {
      const name = `bank [0x${b.base.toString(16)}, +0x${b.size.toString(16)})`;
      if (!Number.isSafeInteger(b.base) || !Number.isSafeInteger(b.size) || b.base < 0) {
        throw new RangeError(`Cannot add ${name}: base and size must be non-negative integers`);
      }
      if (b.size <= 0) throw new RangeError(`Cannot add ${name}: size is zero`);
      if (b.base % PAGE_SIZE !== 0 || b.size % PAGE_SIZE !== 0) {
        throw new RangeError(`Cannot add ${name}: base and size must be 4 KiB aligned`);
      }
      if (b.base + b.size > MAX_PA) {
        throw new RangeError(`Cannot add ${name}: ends above the 52-bit physical address space`);
      }
    }
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      const cur = sorted[i]!;
      if (cur.base < prev.base + prev.size) {
        throw new RangeError(
          `Cannot add bank at 0x${cur.base.toString(16)}: overlaps bank [0x${
            prev.base.toString(16)
          }, 0x${(prev.base + prev.size).toString(16)})`,
        );
      }
    }
    this.banks = sorted.map((b) => ({ base: b.base, size: b.size }));
    this.#bankStarts = Float64Array.from(sorted, (b) => b.base);
    this.#bankEnds = Float64Array.from(sorted, (b) => b.base + b.size);
    this.#bankPfns = sorted.map((b) => b.base / PAGE_SIZE);
    this.#bankChunks = sorted.map((b) => {
      const n = Math.ceil(b.size / (PAGE_SIZE * CHUNK_PAGES));
      // A huge bank grows its (then sparse) chunk array on demand instead.
      return n <= 65536 ? new Array<Chunk | undefined>(n).fill(undefined) : [];
    });
    this.#hitChunks = this.#bankChunks[0]!;
    this.#hitPfn = this.#bankPfns[0]!;
  }

  /**
   * A counter bumped by every store through this object's methods
   * (`write*`, `fill`, `zero`, `zeroThenWrite`, `copy`, `writeBytes`; not stores through a
   * {@link PhysicalMemory.pin} view): caches over memory contents (the MMU's
   * stale-TLB check) compare it to know that nothing was written since they
   * last looked.
   */
  get generation(): number {
    return this.#generation;
  }

  /**
   * A counter bumped by every store (through this object's methods, as for
   * {@link PhysicalMemory.generation}) that may change a page some
   * {@link PhysicalMemory.readTableEntry} read, backed or not: caches over
   * translation tables (the MMU's stale-TLB check, its walk caches) compare
   * it, so stores to ordinary data (a memset of a freed page, allocator
   * metadata) do not make them look again. A page stays watched once read as
   * a table.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { PhysicalMemory } from "./physical_memory.ts";
   * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
   * const parts = new Uint32Array(2);
   * mem.readTableEntry(0x4000_0000, parts); // a table page, not yet backed
   * const g = mem.tableGeneration;
   * mem.write64(0x4000_1000, 1n); // another page
   * assertEquals(mem.tableGeneration, g);
   * mem.write64(0x4000_0008, 3n); // the table page
   * assertEquals(mem.tableGeneration, g + 1);
   * ```
   */
  get tableGeneration(): number {
    return this.#tableGeneration;
  }

  /** Total RAM in bytes. */
  get totalBytes(): number {
    let t = 0;
    for (const b of this.banks) t += b.size;
    return t;
  }

  /** Host bytes actually backing touched pages. */
  get residentBytes(): number {
    return this.#resident * PAGE_SIZE;
  }

  /** One past the last byte of the highest bank (`memblock_end_of_DRAM`). */
  get end(): number {
    return this.#bankEnds[this.#bankEnds.length - 1]!;
  }

  /**
   * Whether `[pa, pa + size)` lies inside a single RAM bank.
   *
   * @param pa Physical address.
   * @param size Length in bytes (default 1).
   * @returns True when every byte is RAM.
   */
  contains(pa: number, size = 1): boolean {
    if (pa >= this.#hitStart && pa + size <= this.#hitEnd) return true;
    const starts = this.#bankStarts;
    const ends = this.#bankEnds;
    for (let i = 0; i < starts.length; i++) {
      if (pa >= starts[i]! && pa + size <= ends[i]!) return true;
    }
    return false;
  }

  /**
   * The external abort an access would raise, or `undefined` if it is RAM.
   *
   * @param pa Physical address.
   * @param size Access size in bytes.
   * @param write Whether it is a write.
   * @returns The abort value, or undefined.
   */
  probe(pa: number, size: number, write = false): ExternalAbort | undefined {
    return this.contains(pa, size)
      ? undefined
      : { kind: "external_abort", address: pa, size, write };
  }

  /**
   * Whether the page holding `pa` has host backing: written and not zeroed
   * since, kept as the one page a small zeroing emptied, or pinned.
   *
   * @param pa Physical address.
   * @returns True if backed.
   */
  isBacked(pa: number): boolean {
    // The bank of the last access first, as #page does (the zeroed-memory
    // checks ask this for every page of a pool in a row).
    if (pa >= this.#hitStart && pa < this.#hitEnd) {
      const pfn = Math.floor(pa / 4096);
      if (pfn === this.#lastPfn || pfn === this.#prevPfn) return true;
      const rel = pfn - this.#hitPfn;
      const ci = Math.floor(rel / 512);
      const c = this.#hitChunks[ci];
      return c !== undefined && c[rel - ci * 512] !== undefined;
    }
    const starts = this.#bankStarts;
    const ends = this.#bankEnds;
    for (let i = 0; i < starts.length; i++) {
      if (pa >= starts[i]! && pa < ends[i]!) {
        const rel = Math.floor(pa / 4096) - this.#bankPfns[i]!;
        const ci = Math.floor(rel / 512);
        return this.#bankChunks[i]![ci]?.[rel - ci * 512] !== undefined;
      }
    }
    return false;
  }

  /**
   * The first page of `[pa, pa + size)` with host backing (as
   * {@link PhysicalMemory.isBacked} tells), as the PA where it starts (`pa`
   * itself for the first page), or -1 when none is: a zero check over a
   * mostly unwritten range (a free pool) passes each 2 MiB chunk never
   * written at once instead of page by page.
   *
   * @param pa First byte.
   * @param size Bytes.
   * @returns PA of the first backed page's first byte in the range, or -1.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { PhysicalMemory } from "./physical_memory.ts";
   * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 26 }]);
   * mem.write8(0x4120_3004, 1);
   * assertEquals(mem.firstBacked(0x4000_0000, 2 ** 26), 0x4120_3000);
   * assertEquals(mem.firstBacked(0x4120_3800, 16), 0x4120_3800);
   * assertEquals(mem.firstBacked(0x4120_4000, 2 ** 20), -1);
   * ```
   */
  firstBacked(pa: number, size: number): number {
    const end = pa + size;
    const starts = this.#bankStarts;
    const ends = this.#bankEnds;
    let bank = -1;
    for (let i = 0; i < starts.length; i++) {
      if (pa >= starts[i]! && end <= ends[i]!) bank = i;
    }
    if (bank < 0) {
      // Across banks or outside RAM: page by page.
      for (let cur = pa; cur < end; cur = (Math.floor(cur / 4096) + 1) * 4096) {
        if (this.isBacked(cur)) return cur;
      }
      return -1;
    }
    const chunks = this.#bankChunks[bank]!;
    const base = this.#bankPfns[bank]!;
    const last = Math.ceil(end / 4096) - base;
    let rel = Math.floor(pa / 4096) - base;
    while (rel < last) {
      const ci = Math.floor(rel / 512);
      const c = chunks[ci];
      const stop = Math.min(last, (ci + 1) * 512);
      if (c === undefined) {
        rel = stop;
        continue;
      }
      for (; rel < stop; rel++) {
        if (c[rel - ci * 512] !== undefined) {
          const at = (base + rel) * 4096;
          return at > pa ? at : pa;
        }
      }
    }
    return -1;
  }

  // Hot path: the last bank hit and the last page touched are cached, so a
  // run of accesses to one page costs two compares and no table lookup. Page
  // offsets are computed as `pa - pfn * 4096`: `pa % PAGE_SIZE` on a double
  // (PAs above 2^31) is a floating-point remainder, several times slower than
  // the whole access. The page and chunk sizes are written as literals below
  // (4096, 512): V8 does not fold module constants, and a division by a
  // literal power of two compiles to a multiply instead of a divide.
  #hitStart = 0;
  #hitEnd = 0;
  /** Chunks and first pfn of the bank of the last hit: every page access follows a #check. */
  #hitChunks: (Chunk | undefined)[];
  #hitPfn: number;
  #lastPfn = -1;
  #lastPage: Page | undefined = undefined;
  // The page touched before the last one: allocator metadata and the page it
  // describes alternate (a vmemmap entry, then a list node in the page).
  #prevPfn = -1;
  #prevPage: Page | undefined = undefined;
  // Pages dropped back to the sparse state (already cleared), so free/alloc
  // churn does not allocate (and collect) a fresh 4 KiB each time.
  #spare: Page[] = [];
  /** The slab new slots are cut from. */
  #slab: Slab | undefined = undefined;
  /** Slabs with dropped pages on their free lists (not {@link #slab}). */
  #partial: Slab[] = [];
  // The one page a small zeroing left all zero, kept backed (see zero()).
  #emptyPage: Page | undefined = undefined;
  #emptyChunk: Chunk | undefined = undefined;
  #emptySlot = 0;
  #emptyPfn = -1;

  #check(pa: number, size: number, write: boolean): void {
    if (pa >= this.#hitStart && pa + size <= this.#hitEnd) return;
    const starts = this.#bankStarts;
    const ends = this.#bankEnds;
    for (let i = 0; i < starts.length; i++) {
      if (pa >= starts[i]! && pa + size <= ends[i]!) {
        this.#hitStart = starts[i]!;
        this.#hitEnd = ends[i]!;
        this.#hitChunks = this.#bankChunks[i]!;
        this.#hitPfn = this.#bankPfns[i]!;
        return;
      }
    }
    throw new ExternalAbortError({ kind: "external_abort", address: pa, size, write });
  }

  /** The page before the last one, made the last one. */
  #toFront(pfn: number): Page {
    const p = this.#prevPage!;
    this.#prevPfn = this.#lastPfn;
    this.#prevPage = this.#lastPage;
    this.#lastPfn = pfn;
    this.#lastPage = p;
    return p;
  }

  /** Caches page `p` of frame `pfn` as the last one touched. */
  #remember(pfn: number, p: Page): void {
    this.#prevPfn = this.#lastPfn;
    this.#prevPage = this.#lastPage;
    this.#lastPfn = pfn;
    this.#lastPage = p;
  }

  #page(pfn: number): Page | undefined {
    if (pfn === this.#lastPfn) return this.#lastPage;
    if (pfn === this.#prevPfn) return this.#toFront(pfn);
    const rel = pfn - this.#hitPfn;
    const ci = Math.floor(rel / 512);
    const c = this.#hitChunks[ci];
    if (c === undefined) return undefined;
    const p = c[rel - ci * 512];
    if (p !== undefined) this.#remember(pfn, p);
    return p;
  }

  /** The page slots of the chunk holding frame `rel` of the hit bank, made on first use. */
  #chunkOf(rel: number): (Page | undefined)[] {
    const ci = Math.floor(rel / 512);
    let c = this.#hitChunks[ci];
    if (c === undefined) {
      c = new Array<Page | undefined>(CHUNK_PAGES).fill(undefined);
      this.#hitChunks[ci] = c;
      this.#chunkList.push({ pfn: this.#hitPfn + ci * 512, pages: c });
    }
    return c;
  }

  #pageForWrite(pfn: number): Page {
    if (pfn === this.#lastPfn) return this.#lastPage!;
    if (pfn === this.#prevPfn) return this.#toFront(pfn);
    const rel = pfn - this.#hitPfn;
    const c = this.#chunkOf(rel);
    const slot = rel & 511;
    let p = c[slot];
    if (p === undefined) {
      p = this.#spare.pop() ?? this.#newPage();
      c[slot] = p;
      this.#resident++;
      this.#backing++;
      // A table page read while unbacked: the store about to be made is to it.
      if (this.#watchedUnbacked.size !== 0 && this.#watchedUnbacked.delete(pfn)) p.watched = true;
    }
    this.#remember(pfn, p);
    return p;
  }

  /** {@link #pageForWrite} for a store: one to a watched page bumps the table generation. */
  #storePage(pfn: number): Page {
    const p = this.#pageForWrite(pfn);
    if (p.watched) this.#tableGeneration++;
    return p;
  }

  /** A zeroed page for a frame about to be backed: a dropped one first, else a new slot. */
  #newPage(): Page {
    const partial = this.#partial;
    if (partial.length !== 0) {
      const s = partial[partial.length - 1]!;
      const p = s.free.pop()!;
      s.live++;
      if (s.free.length === 0) {
        partial.pop();
        s.at = -1;
      }
      return p;
    }
    let s = this.#slab;
    if (s === undefined || s.used === SLAB_PAGES) {
      s = new Slab();
      this.#slab = s;
    }
    const p = new Page(s.buf, s.used++ * PAGE_SIZE);
    p.slab = s;
    s.live++;
    return p;
  }

  /**
   * Puts zeroed page `p` back on its slab (`reuse`), or only stops counting it
   * (a pinned page replaced by {@link pinRange}: its old view may still be
   * held, so its bytes are never handed to another frame); a slab left with
   * no live page is let go.
   */
  #toSlab(p: Page, reuse = true): void {
    const s = p.slab;
    if (s === undefined) return;
    p.slab = undefined;
    s.live--;
    const partial = this.#partial;
    if (s.live === 0 && s !== this.#slab) {
      // Every page of it dropped: nothing refers to the buffer once it leaves the list.
      if (s.at >= 0) {
        const last = partial.pop()!;
        if (last !== s) {
          partial[s.at] = last;
          last.at = s.at;
        }
        s.at = -1;
      }
      s.free.length = 0;
      return;
    }
    if (!reuse) return;
    p.slab = s;
    s.free.push(p);
    if (s.at < 0 && s !== this.#slab) {
      s.at = partial.length;
      partial.push(s);
    }
  }

  #drop(pfn: number): void {
    const rel = pfn - this.#hitPfn;
    const ci = Math.floor(rel / 512);
    const c = this.#hitChunks[ci];
    if (c === undefined) return;
    const slot = rel - ci * 512;
    const p = c[slot];
    if (p === undefined) return;
    this.#release(c, slot, p, pfn);
  }

  /** Returns page `p` (slot `slot` of chunk `c`, frame `pfn`) to the sparse state. */
  #release(c: Chunk, slot: number, p: Page, pfn: number): void {
    if (p.watched) {
      // Cleared: its table entries change (to zero, unless they were).
      this.#tableGeneration++;
      if (!p.pinned) {
        p.watched = false;
        this.#watchedUnbacked.add(pfn);
      }
    }
    if (p.pinned) {
      // Never dropped: it is only cleared (the callers zero it whole).
      p.u8.fill(0);
      return;
    }
    if (p === this.#emptyPage) {
      this.#emptyPage = undefined;
      this.#emptyChunk = undefined;
      this.#emptyPfn = -1;
    }
    c[slot] = undefined;
    this.#resident--;
    this.#backing++;
    zeroIn(p, 0, PAGE_SIZE);
    if (this.#spare.length < 1024) this.#spare.push(p);
    else this.#toSlab(p);
    if (pfn === this.#lastPfn) {
      this.#lastPfn = -1;
      this.#lastPage = undefined;
    }
    if (pfn === this.#prevPfn) {
      this.#prevPfn = -1;
      this.#prevPage = undefined;
    }
  }

  /**
   * Pins the page holding `pa`: backs it and returns a live view of its
   * 4096 bytes, so a hot path (allocator metadata) can load and store it
   * directly; this object's methods see the same bytes. A pinned page stays
   * backed for the life of the memory. Stores through the view are not
   * counted by {@link PhysicalMemory.generation}: pin only what no cache is
   * built over (not page tables).
   *
   * @param pa Any address in the page.
   * @returns The page's bytes (the same view on every call).
   * @throws {ExternalAbortError} Outside RAM.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { PhysicalMemory } from "./physical_memory.ts";
   * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
   * const page = mem.pin(0x4000_1234);
   * page[0x234] = 7;
   * assertEquals(mem.read8(0x4000_1234), 7);
   * mem.write8(0x4000_1000, 9);
   * assertEquals(page[0], 9);
   * ```
   */
  pin(pa: number): Uint8Array {
    this.#check(pa, 1, true);
    const p = this.#pageForWrite(Math.floor(pa / 4096));
    if (!p.pinned) {
      p.pinned = true;
      p.lo = 0;
      p.hi = PAGE_SIZE;
      if (p === this.#emptyPage) {
        this.#emptyPage = undefined;
        this.#emptyChunk = undefined;
        this.#emptyPfn = -1;
      }
    }
    return p.u8;
  }

  /**
   * Pins a page-aligned range whole: like {@link PhysicalMemory.pin} for
   * each of its pages, but the pages are slices of one buffer, so the view
   * returned covers the range contiguously (allocator metadata spread over
   * many pages, such as a vmemmap, then costs one index per access instead
   * of a page lookup). The bytes already stored in the range are kept. A
   * range pinned whole before (or a part of one) is returned again, the same
   * bytes; a range with some page pinned otherwise gives undefined (callers
   * fall back to the accessor methods).
   *
   * @param pa First byte, page-aligned.
   * @param size Bytes, a non-zero multiple of the page size.
   * @returns The range's bytes, live, or undefined.
   * @throws {RangeError} `pa` or `size` not page-aligned, or `size` zero.
   * @throws {ExternalAbortError} The range is not inside one RAM bank.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { PhysicalMemory } from "./physical_memory.ts";
   * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
   * mem.write8(0x4000_1005, 3);
   * const range = mem.pinRange(0x4000_0000, 0x3000)!;
   * assertEquals(range[0x1005], 3); // kept
   * range[0x2010] = 9;
   * assertEquals(mem.read8(0x4000_2010), 9);
   * assertEquals(mem.pinRange(0x4000_0000, 0x3000)![0x2010], 9); // the same range again
   * mem.pin(0x4000_5000); // a page pinned on its own
   * assertEquals(mem.pinRange(0x4000_4000, 0x2000), undefined);
   * ```
   */
  pinRange(pa: number, size: number): Uint8Array | undefined {
    if (pa % 4096 !== 0 || size % 4096 !== 0 || !(size > 0)) {
      throw new RangeError(
        `Cannot pin [0x${pa.toString(16)}, +0x${size.toString(16)}): not whole pages`,
      );
    }
    this.#check(pa, size, true);
    const first = pa / 4096;
    const n = size / 4096;
    const old: (Page | undefined)[] = [];
    for (let k = 0; k < n; k++) {
      const p = this.#page(first + k);
      if (p !== undefined && p.pinned) {
        // The same range pinned whole before: its pages are consecutive in one slab.
        const head = k === 0 ? p : old[0];
        if (head === undefined || !head.pinned || p.u8.buffer !== head.u8.buffer) return undefined;
        if (p.u8.byteOffset !== head.u8.byteOffset + k * 4096) return undefined;
      } else if (k > 0 && old[0]?.pinned) {
        return undefined;
      }
      old.push(p);
    }
    const head = old[0];
    if (head !== undefined && head.pinned) {
      if (head.u8.byteOffset + size > head.u8.buffer.byteLength) return undefined;
      return new Uint8Array(head.u8.buffer, head.u8.byteOffset, size);
    }
    const slab = new ArrayBuffer(size);
    for (let k = 0; k < n; k++) {
      const pfn = first + k;
      const np = new Page(slab, k * 4096);
      np.pinned = true;
      np.lo = 0;
      np.hi = PAGE_SIZE;
      const rel = pfn - this.#hitPfn;
      const c = this.#chunkOf(rel);
      const slot = rel & 511;
      const p = c[slot];
      if (p !== undefined) {
        np.u8.set(p.u8);
        np.watched = p.watched;
        if (p.pinned) {
          this.#toSlab(p, false);
        } else {
          // Its frame now lives in the range's slab: the page is free again.
          zeroIn(p, 0, PAGE_SIZE);
          p.watched = false;
          this.#toSlab(p);
        }
        if (p === this.#emptyPage) {
          this.#emptyPage = undefined;
          this.#emptyChunk = undefined;
          this.#emptyPfn = -1;
        }
      } else {
        this.#resident++;
        if (this.#watchedUnbacked.size !== 0 && this.#watchedUnbacked.delete(pfn)) {
          np.watched = true;
        }
      }
      c[slot] = np;
    }
    // Views of the replaced pages (tableWords, the last-page caches) are stale.
    this.#backing++;
    this.#lastPfn = -1;
    this.#lastPage = undefined;
    this.#prevPfn = -1;
    this.#prevPage = undefined;
    return new Uint8Array(slab);
  }

  /**
   * Reads a byte.
   * @param pa Physical address.
   * @returns The byte.
   * @throws {ExternalAbortError} Outside RAM.
   */
  read8(pa: number): number {
    this.#check(pa, 1, false);
    const pfn = Math.floor(pa / 4096);
    const p = this.#page(pfn);
    return p === undefined ? 0 : p.u8[(pa - pfn * 4096) | 0]!;
  }

  /**
   * Reads a little-endian 16-bit value.
   * @param pa Physical address.
   * @returns The value.
   * @throws {ExternalAbortError} Outside RAM.
   */
  read16(pa: number): number {
    const pfn = Math.floor(pa / 4096);
    const off = (pa - pfn * 4096) | 0;
    if (off > 4096 - 2) return this.read8(pa) | (this.read8(pa + 1) << 8);
    this.#check(pa, 2, false);
    const p = this.#page(pfn);
    return p === undefined ? 0 : p.dv.getUint16(off, true);
  }

  /**
   * Reads a little-endian 32-bit value (unsigned).
   * @param pa Physical address.
   * @returns The value.
   * @throws {ExternalAbortError} Outside RAM.
   */
  read32(pa: number): number {
    const pfn = Math.floor(pa / 4096);
    const off = (pa - pfn * 4096) | 0;
    if (off > 4096 - 4) return (this.read16(pa) + this.read16(pa + 2) * 0x10000) >>> 0;
    this.#check(pa, 4, false);
    const p = this.#page(pfn);
    return p === undefined ? 0 : p.dv.getUint32(off, true);
  }

  /**
   * Reads a little-endian 64-bit value.
   * @param pa Physical address.
   * @returns The value.
   * @throws {ExternalAbortError} Outside RAM.
   */
  read64(pa: number): bigint {
    const pfn = Math.floor(pa / 4096);
    const off = (pa - pfn * 4096) | 0;
    if (off > 4096 - 8) {
      return BigInt(this.read32(pa)) | (BigInt(this.read32(pa + 4)) << 32n);
    }
    this.#check(pa, 8, false);
    const p = this.#page(pfn);
    return p === undefined ? 0n : p.dv.getBigUint64(off, true);
  }

  /**
   * Writes a byte.
   * @param pa Physical address.
   * @param value Byte value (masked to 8 bits).
   * @throws {ExternalAbortError} Outside RAM.
   */
  write8(pa: number, value: number): void {
    this.#check(pa, 1, true);
    this.#generation++;
    const pfn = Math.floor(pa / 4096);
    const off = (pa - pfn * 4096) | 0;
    const p = this.#storePage(pfn);
    p.u8[off] = value;
    if (off < p.lo) p.lo = off;
    if (off + 1 > p.hi) p.hi = off + 1;
  }

  /**
   * Writes a little-endian 16-bit value.
   * @param pa Physical address.
   * @param value Value (masked to 16 bits).
   * @throws {ExternalAbortError} Outside RAM.
   */
  write16(pa: number, value: number): void {
    const pfn = Math.floor(pa / 4096);
    const off = (pa - pfn * 4096) | 0;
    this.#check(pa, 2, true);
    this.#generation++;
    if (off > 4096 - 2) {
      this.write8(pa, value);
      this.write8(pa + 1, value >>> 8);
      return;
    }
    const p = this.#storePage(pfn);
    p.dv.setUint16(off, value & 0xffff, true);
    if (off < p.lo) p.lo = off;
    if (off + 2 > p.hi) p.hi = off + 2;
  }

  /**
   * Writes a little-endian 32-bit value.
   * @param pa Physical address.
   * @param value Value (masked to 32 bits).
   * @throws {ExternalAbortError} Outside RAM.
   */
  write32(pa: number, value: number): void {
    const pfn = Math.floor(pa / 4096);
    const off = (pa - pfn * 4096) | 0;
    this.#check(pa, 4, true);
    this.#generation++;
    if (off > 4096 - 4) {
      this.write16(pa, value & 0xffff);
      this.write16(pa + 2, value >>> 16);
      return;
    }
    const p = this.#storePage(pfn);
    p.dv.setUint32(off, value >>> 0, true);
    if (off < p.lo) p.lo = off;
    if (off + 4 > p.hi) p.hi = off + 4;
  }

  /**
   * Writes a little-endian 64-bit value.
   * @param pa Physical address.
   * @param value Value (taken modulo 2^64).
   * @throws {ExternalAbortError} Outside RAM.
   */
  write64(pa: number, value: bigint): void {
    const pfn = Math.floor(pa / 4096);
    const off = (pa - pfn * 4096) | 0;
    this.#check(pa, 8, true);
    this.#generation++;
    const v = BigInt.asUintN(64, value);
    if (off > 4096 - 8) {
      this.write32(pa, Number(v & 0xffff_ffffn));
      this.write32(pa + 4, Number(v >> 32n));
      return;
    }
    const p = this.#storePage(pfn);
    p.dv.setBigUint64(off, v, true);
    if (off < p.lo) p.lo = off;
    if (off + 8 > p.hi) p.hi = off + 8;
  }

  /**
   * Reads a 64-bit value as two 32-bit halves, for hot paths that avoid BigInt.
   *
   * @param pa Physical address, 8-byte aligned.
   * @param out Receives `[lo, hi]`.
   * @throws {ExternalAbortError} Outside RAM.
   */
  read64Parts(pa: number, out: Uint32Array): void {
    this.#check(pa, 8, false);
    const pfn = Math.floor(pa / 4096);
    const p = this.#page(pfn);
    if (p === undefined) {
      out[0] = 0;
      out[1] = 0;
      return;
    }
    const off = (pa - pfn * 4096) | 0;
    out[0] = p.dv.getUint32(off, true);
    out[1] = p.dv.getUint32(off + 4, true);
  }

  /**
   * Reads a translation-table entry as two 32-bit halves, like
   * {@link PhysicalMemory.read64Parts}, and marks its page as a table page:
   * from then on a store to that page bumps
   * {@link PhysicalMemory.tableGeneration}. Table walkers whose results are
   * cached read their descriptors through this.
   *
   * @param pa Physical address, 8-byte aligned.
   * @param out Receives `[lo, hi]`.
   * @throws {ExternalAbortError} Outside RAM.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { PhysicalMemory } from "./physical_memory.ts";
   * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
   * mem.write64(0x4000_0008, 0x1_4000_1003n);
   * const parts = new Uint32Array(2);
   * mem.readTableEntry(0x4000_0008, parts);
   * assertEquals([...parts], [0x4000_1003, 1]);
   * ```
   */
  readTableEntry(pa: number, out: Uint32Array): void {
    this.#check(pa, 8, false);
    const pfn = Math.floor(pa / 4096);
    const p = this.#page(pfn);
    if (p === undefined) {
      out[0] = 0;
      out[1] = 0;
      this.#watchedUnbacked.add(pfn);
      return;
    }
    p.watched = true;
    const off = (pa - pfn * 4096) | 0;
    out[0] = p.dv.getUint32(off, true);
    out[1] = p.dv.getUint32(off + 4, true);
  }

  /**
   * Changes whenever a page gains or loses its backing, so a view
   * {@link PhysicalMemory.tableWords} returned stays the page's own while
   * this is unchanged.
   *
   * @example
   * ```ts
   * import { assertNotEquals } from "@std/assert";
   * import { PhysicalMemory } from "./physical_memory.ts";
   * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
   * const before = mem.backingGeneration;
   * mem.write64Parts(0x4000_0000, 3, 0);
   * assertNotEquals(mem.backingGeneration, before);
   * ```
   */
  get backingGeneration(): number {
    return this.#backing;
  }

  /**
   * A read fast path for table walkers: the 1024 little-endian 32-bit words
   * of the page holding `pa` (entry `i`'s halves at `2i` and `2i + 1`), or
   * undefined while the page is unbacked (it reads as zero). The view is
   * live and valid while {@link PhysicalMemory.backingGeneration} is
   * unchanged; it is for reading only (a store through it would escape the
   * generations). Undefined also on a big-endian host, where callers use
   * {@link PhysicalMemory.read64Parts}. Marks nothing as a table page.
   *
   * @param pa Any address in the page.
   * @returns The page's words, or undefined.
   * @throws {ExternalAbortError} Outside RAM.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { PhysicalMemory } from "./physical_memory.ts";
   * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
   * assertEquals(mem.tableWords(0x4000_0000), undefined);
   * mem.write64Parts(0x4000_0008, 0x4000_1003, 1);
   * const w = mem.tableWords(0x4000_0000)!;
   * assertEquals([w[2], w[3]], [0x4000_1003, 1]);
   * ```
   */
  tableWords(pa: number): Uint32Array | undefined {
    this.#check(pa, 8, false);
    if (!LITTLE_ENDIAN_HOST) return undefined;
    return this.#page(Math.floor(pa / 4096))?.u32;
  }

  /**
   * Writes a 64-bit value given as two 32-bit halves.
   *
   * @param pa Physical address, 8-byte aligned.
   * @param lo Low 32 bits.
   * @param hi High 32 bits.
   * @throws {ExternalAbortError} Outside RAM.
   */
  write64Parts(pa: number, lo: number, hi: number): void {
    this.#check(pa, 8, true);
    this.#generation++;
    const pfn = Math.floor(pa / 4096);
    const p = this.#storePage(pfn);
    const off = (pa - pfn * 4096) | 0;
    p.dv.setUint32(off, lo >>> 0, true);
    p.dv.setUint32(off + 4, hi >>> 0, true);
    if (off < p.lo) p.lo = off;
    if (off + 8 > p.hi) p.hi = off + 8;
  }

  /**
   * A store fast path for table writers installing a run of entries in one
   * page: records stores to `[pa, pa + size)` (the generations are bumped,
   * the page is backed and its written extent widened to cover the range)
   * and returns the page's 1024 little-endian 32-bit words to make them
   * with. A run may be declared in parts: its first word, then, once
   * stored, the whole run, before anything but the caller's own callbacks
   * reads this memory; every word stored must lie in a declared range.
   * Undefined on a big-endian host: callers use
   * {@link PhysicalMemory.write64Parts}.
   *
   * @param pa First byte, 4-byte aligned.
   * @param size Bytes, a multiple of 4, within the page.
   * @returns The page's words, or undefined.
   * @throws {ExternalAbortError} Outside RAM.
   * @throws {RangeError} For a range that is unaligned or crosses a page.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { PhysicalMemory } from "./physical_memory.ts";
   * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
   * const w = mem.storeWords(0x4000_0010, 16)!;
   * w[4] = 0x4000_1003;
   * w[6] = 0x4000_2003;
   * assertEquals(mem.read64(0x4000_0018), 0x4000_2003n);
   * ```
   */
  storeWords(pa: number, size: number): Uint32Array | undefined {
    const pfn = Math.floor(pa / 4096);
    const off = (pa - pfn * 4096) | 0;
    if ((off & 3) !== 0 || (size & 3) !== 0 || size < 0 || off + size > 4096) {
      throw new RangeError(`Cannot store words at ${pa} (+${size}): unaligned or across a page`);
    }
    if (!LITTLE_ENDIAN_HOST) return undefined;
    this.#check(pa, size, true);
    this.#generation++;
    const p = this.#storePage(pfn);
    if (off < p.lo) p.lo = off;
    if (off + size > p.hi) p.hi = off + size;
    return p.u32;
  }

  /**
   * Fills `[pa, pa + size)` with a byte. Filling with zero drops back to
   * the sparse state every page of the range left with no byte written since
   * it was last all zero (fully-covered pages, and pages whose written bytes
   * all lie in the range), so freed memory stops costing host memory.
   *
   * @param pa First byte.
   * @param size Length in bytes.
   * @param byte Fill value.
   * @throws {ExternalAbortError} If any byte is outside a single bank; nothing is written then.
   */
  fill(pa: number, size: number, byte: number): void {
    if (size === 0) return;
    this.#check(pa, size, true);
    this.#generation++;
    const b = byte & 0xff;
    if (b === 0) {
      const pfn = Math.floor(pa / 4096);
      // Whole pages (a freed block): each goes back to sparse, no extent test.
      const n = Math.floor(size / 4096);
      if (pa === pfn * 4096 && size === n * 4096) return this.#dropPages(pfn, n);
      return this.#zeroFill(pa, size);
    }
    let cur = pa;
    const end = pa + size;
    while (cur < end) {
      const pfn = Math.floor(cur / 4096);
      const off = (cur - pfn * 4096) | 0;
      const n = Math.min(4096 - off, end - cur);
      const p = this.#storePage(pfn);
      p.u8.fill(b, off, off + n);
      if (off < p.lo) p.lo = off;
      if (off + n > p.hi) p.hi = off + n;
      cur += n;
    }
  }

  /** Drops `n` whole pages of the hit bank from frame `pfn` back to the sparse state. */
  #dropPages(pfn: number, n: number): void {
    const chunks = this.#hitChunks;
    let rel = pfn - this.#hitPfn;
    const end = rel + n;
    while (rel < end) {
      const ci = Math.floor(rel / 512);
      const base = ci * 512;
      const stop = base + 512 < end ? base + 512 : end;
      const c = chunks[ci];
      if (c !== undefined) {
        for (let r = rel; r < stop; r++) {
          const p = c[r - base];
          if (p !== undefined) this.#release(c, r - base, p, this.#hitPfn + r);
        }
      }
      rel = stop;
    }
  }

  /** Zeroes a checked range of the hit bank: chunks never written are skipped whole. */
  #zeroFill(pa: number, size: number): void {
    const end = pa + size;
    const chunks = this.#hitChunks;
    const bankPfn = this.#hitPfn;
    let cur = pa;
    while (cur < end) {
      const pfn = Math.floor(cur / 4096);
      const rel = pfn - bankPfn;
      const ci = Math.floor(rel / 512);
      const c = chunks[ci];
      const chunkEnd = (bankPfn + (ci + 1) * 512) * 4096;
      const stop = chunkEnd < end ? chunkEnd : end;
      // No page of an absent 2 MiB chunk is backed: nothing to clear in it.
      if (c === undefined) {
        cur = stop;
        continue;
      }
      // The pages of this chunk in the range, slot by slot.
      let slot = rel - ci * 512;
      let page = pfn * 4096;
      while (cur < stop) {
        const off = (cur - page) | 0;
        const n = 4096 - off < stop - cur ? 4096 - off : stop - cur;
        const p = c[slot];
        if (p !== undefined) {
          // A page left with nothing written goes back to sparse, like a
          // fully covered one.
          if (n !== 4096) {
            if (p.watched) this.#tableGeneration++;
            zeroIn(p, off, n);
          }
          if (n === 4096 || p.lo >= p.hi) this.#release(c, slot, p, page / 4096);
        }
        cur += n;
        page += 4096;
        slot++;
      }
    }
  }

  /**
   * Zeroes `[pa, pa + size)`, dropping pages back to the sparse state as
   * {@link PhysicalMemory.fill} does, with one exception: the last page a
   * zeroing within one page (smaller than the page) leaves all zero stays
   * backed until another page is left so, because a cleared list node is
   * usually written again at once. At most one such page is kept.
   * @param pa First byte.
   * @param size Length in bytes.
   * @throws {ExternalAbortError} If any byte is outside a single bank.
   */
  zero(pa: number, size: number): void {
    // Fast path: a range inside one page of the last bank hit (a list node,
    // a freed page), the common case under allocator churn.
    const pfn = Math.floor(pa / 4096);
    const off = (pa - pfn * 4096) | 0;
    if (size > 0 && off + size <= 4096 && pa >= this.#hitStart && pa + size <= this.#hitEnd) {
      this.#generation++;
      const p = this.#page(pfn);
      if (p === undefined) return;
      if (size !== 4096) {
        if (p.watched) this.#tableGeneration++;
        zeroIn(p, off, size);
        // Left all zero by a small zeroing (a list node cleared): keep it
        // backed until the next page is, since it is often written again
        // at once; release the one kept before.
        if (p.lo >= p.hi && pfn !== this.#emptyPfn) this.#keepEmptyPfn(pfn);
        return;
      }
      this.#drop(pfn);
      return;
    }
    this.fill(pa, size, 0);
  }

  #keepEmptyPfn(pfn: number): void {
    const rel = pfn - this.#hitPfn;
    const ci = Math.floor(rel / 512);
    const c = this.#hitChunks[ci]!;
    const slot = rel - ci * 512;
    this.#keepEmpty(c, slot, c[slot]!, pfn);
  }

  /** Makes page `p` the one empty page kept backed, releasing the previous one if still empty. */
  #keepEmpty(c: Chunk, slot: number, p: Page, pfn: number): void {
    const prev = this.#emptyPage;
    const prevChunk = this.#emptyChunk;
    const prevSlot = this.#emptySlot;
    const prevPfn = this.#emptyPfn;
    this.#emptyPage = p;
    this.#emptyChunk = c;
    this.#emptySlot = slot;
    this.#emptyPfn = pfn;
    if (prev !== undefined && prevChunk![prevSlot] === prev && prev.lo >= prev.hi) {
      this.#release(prevChunk!, prevSlot, prev, prevPfn);
    }
  }

  /**
   * Copies `size` bytes from `src` to `dst` (ranges may overlap).
   * @param dst Destination address.
   * @param src Source address.
   * @param size Length in bytes.
   * @throws {ExternalAbortError} If either range leaves RAM; nothing is written then.
   */
  copy(dst: number, src: number, size: number): void {
    if (size === 0) return;
    this.#check(src, size, false);
    this.#check(dst, size, true);
    this.writeBytes(dst, this.readBytes(src, size));
  }

  /**
   * Reads `size` bytes into a new array.
   * @param pa First byte.
   * @param size Length in bytes.
   * @returns A copy of the bytes.
   * @throws {ExternalAbortError} Outside RAM.
   */
  readBytes(pa: number, size: number): Uint8Array {
    this.#check(pa, size, false);
    const out = new Uint8Array(size);
    let cur = pa;
    const end = pa + size;
    while (cur < end) {
      const pfn = Math.floor(cur / 4096);
      const off = (cur - pfn * 4096) | 0;
      const n = Math.min(4096 - off, end - cur);
      const p = this.#page(pfn);
      if (p !== undefined) {
        // Only the written extent can be non-zero.
        const lo = p.lo > off ? p.lo : off;
        const hi = p.hi < off + n ? p.hi : off + n;
        if (lo < hi) out.set(p.u8.subarray(lo, hi), cur - pa + (lo - off));
      }
      cur += n;
    }
    return out;
  }

  // 32-bit views of the last four arrays small stores came from (callers
  // reuse scratch arrays), so they copy words without allocating a view or
  // asking for `bytes.buffer` (a runtime call in V8).
  #srcArrays: (Uint8Array | undefined)[] = [undefined, undefined, undefined, undefined];
  #srcWords: (Uint32Array | undefined)[] = [undefined, undefined, undefined, undefined];
  #srcNext = 0;

  /**
   * `bytes` as 32-bit words (`undefined` when it is not word-aligned in a
   * fixed-size buffer): a view whose index 0 is `bytes[0..3]`.
   */
  #words(bytes: Uint8Array): Uint32Array | undefined {
    const arrays = this.#srcArrays;
    for (let k = 0; k < 4; k++) if (arrays[k] === bytes) return this.#srcWords[k];
    let words: Uint32Array | undefined;
    const buf = bytes.buffer;
    const fixed = !("resizable" in buf && buf.resizable) && !("growable" in buf && buf.growable);
    if (fixed && (bytes.byteOffset & 3) === 0 && (bytes.length & 3) === 0) {
      words = new Uint32Array(buf, bytes.byteOffset, bytes.length >> 2);
    }
    const k = this.#srcNext;
    this.#srcNext = (k + 1) & 3;
    arrays[k] = bytes;
    this.#srcWords[k] = words;
    return words;
  }

  /**
   * Zeroes `[pa, pa + size)`, then writes `head` at `pa`: a freed block
   * that gets a list node in its first bytes, in one call.
   *
   * @param pa First byte.
   * @param size Bytes to zero (at least `head.length`).
   * @param head Bytes written at `pa` afterwards.
   * @throws {RangeError} `head` is longer than `size`.
   * @throws {ExternalAbortError} Outside RAM; nothing is written then.
   */
  zeroThenWrite(pa: number, size: number, head: Uint8Array): void {
    const len = head.length;
    if (len > size) {
      throw new RangeError(`Cannot zero ${size} bytes then write ${len}: the head is longer`);
    }
    this.#check(pa, size, true);
    const pfn = Math.floor(pa / 4096);
    const off = (pa - pfn * 4096) | 0;
    const first = size < 4096 - off ? size : 4096 - off;
    if (len === 0 || len > first) {
      this.zero(pa, size);
      if (len > 0) this.writeBytes(pa, head);
      return;
    }
    // The pages after the first are zeroed as usual; in the first, the rest
    // is cleared where it was written and the head stored, with no drop and
    // re-back of the page in between.
    this.#generation++;
    if (size > first) {
      // The range was checked above (its bank is the hit one): the pages
      // after the first, slot by slot; whole pages need no extent test.
      const rest = size - first;
      const n = Math.floor(rest / 4096);
      if (rest === n * 4096) this.#dropPages(pfn + 1, n);
      else this.#zeroFill(pa + first, rest);
    }
    const p = this.#storePage(pfn);
    zeroIn(p, off + len, first - len);
    this.#storeIn(p, off, head);
  }

  /** Stores `bytes` (non-empty, within the page) at byte `off` of page `p`. */
  #storeIn(p: Page, off: number, bytes: Uint8Array): void {
    const len = bytes.length;
    const src32 = len <= 64 && ((off | len) & 3) === 0 ? this.#words(bytes) : undefined;
    if (src32 !== undefined) {
      // Whole words: a quarter of the element stores of a byte loop.
      const dst32 = p.u32;
      const d = off >> 2;
      for (let i = 0; i < len >> 2; i++) dst32[d + i] = src32[i]!;
    } else if (len <= 32) {
      const u8 = p.u8;
      for (let i = 0; i < len; i++) u8[off + i] = bytes[i]!;
    } else {
      p.u8.set(bytes, off);
    }
    if (off < p.lo) p.lo = off;
    if (off + len > p.hi) p.hi = off + len;
  }

  /**
   * Writes bytes starting at `pa`.
   * @param pa First byte.
   * @param bytes Data to write.
   * @throws {ExternalAbortError} Outside RAM; nothing is written then.
   */
  writeBytes(pa: number, bytes: Uint8Array): void {
    const len = bytes.length;
    this.#check(pa, len, true);
    this.#generation++;
    let pfn = Math.floor(pa / 4096);
    let off = (pa - pfn * 4096) | 0;
    if (off + len <= 4096) {
      // One page (a list node, a descriptor): no views, integer indexes.
      if (len === 0) return;
      this.#storeIn(this.#storePage(pfn), off, bytes);
      return;
    }
    let from = 0;
    while (from < len) {
      const n = Math.min(4096 - off, len - from);
      const p = this.#storePage(pfn);
      p.u8.set(bytes.subarray(from, from + n), off);
      if (off < p.lo) p.lo = off;
      if (off + n > p.hi) p.hi = off + n;
      from += n;
      pfn++;
      off = 0;
    }
  }

  /**
   * The page frame numbers that have backing, sorted; for hashing state in
   * tests and for dumps.
   *
   * @returns Sorted backed pfns.
   */
  backedPfns(): number[] {
    return this.#backed().map(([pfn]) => pfn);
  }

  /** The backed pages with their pfns, sorted by pfn. */
  #backed(): [number, Page][] {
    const out: [number, Page][] = [];
    if (this.#resident === 0) return out;
    for (const { pfn, pages } of this.#chunkList) {
      for (let i = 0; i < CHUNK_PAGES; i++) {
        const p = pages[i];
        if (p !== undefined) out.push([pfn + i, p]);
      }
    }
    return out.sort((a, b) => a[0] - b[0]);
  }

  /**
   * A 32-bit FNV-1a digest of every non-zero backed page (pfn and content),
   * so two states can be compared byte for byte cheaply.
   *
   * @returns Hex digest.
   */
  digest(): string {
    let h = 0x811c9dc5;
    for (const [pfn, page] of this.#backed()) {
      if (page.lo >= page.hi) continue;
      const bytes = page.u8;
      if (bytes.every((b) => b === 0)) continue;
      h = Math.imul(h ^ (pfn & 0xffff), 0x01000193);
      h = Math.imul(h ^ (pfn >>> 16), 0x01000193);
      for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
    }
    return (h >>> 0).toString(16).padStart(8, "0");
  }
}
