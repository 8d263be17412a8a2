/**
 * A non-buddy page pool: a free bitmap searched aligned-first-fit, with a
 * compact per-page record (refcount and order) in the vmemmap.
 *
 * Layout. Each page has a 4-byte record at `vmemmap + pfn * 4` in EL2
 * memory: `u16 refcount`, `u8 order` (0xff unless the page heads an
 * allocated block), `u8` zero. Free pages are the set bits of a bitmap with
 * one bit per page, indexed from the pool's first pfn rounded down to 1024
 * so that bit alignment is pfn alignment. Summaries make the first fit cheap:
 * for each k in 0..5, one bit per 32-page word says "this word holds a free
 * run of 2^k pages aligned to 2^k" (k = 5: all 32 free), and a second level
 * says which summary words are non-zero. The bitmaps are host-side typed
 * arrays here; in a kernel they would take a few reserved pages (1 bit per
 * page plus about 6 bits per 32 pages).
 *
 * Trade-offs against the hyp buddy:
 * - Metadata: the 4-byte record (the vmemmap stride, `metadataBytesPerPage`)
 *   plus about 1.2 bits of bitmaps, ≈ 4.15 bytes per page, against 32
 *   (v5.13 `struct hyp_page`) or 8 (mainline). Nothing is written into free
 *   pages: there are no list nodes.
 * - Allocation takes the lowest free block aligned to its size (first fit),
 *   so allocations pack at low addresses and the result does not depend on
 *   the history of frees; the buddy hands out the FIFO head of the smallest
 *   non-empty order, which depends on the order blocks were freed.
 * - Cost: a free is O(2^order / 32) word updates (+ zeroing) with no
 *   coalescing work, since adjacent free bits are a coalesced block by
 *   construction. An allocation of order ≤ 5 scans the level-2 summary,
 *   O(pages / 32768) words, then reads one word; orders 6–10 test each
 *   32-word group with a fully free word, so their worst case is
 *   O(pages / 1024) (full words scattered so that no group holds an aligned
 *   run of them). The buddy is O(max_order) for both.
 * - Fragmentation: for a given set of free pages the same aligned blocks
 *   exist as in a buddy pool (no block spans a 2^order boundary), so
 *   `unusable_index` per order is the same for the same free set.
 * - References: `getPage` is refused on a page that does not head an
 *   allocated block (the buddy lets that through and corrupts itself later).
 *
 * @module
 */

import {
  type El2Memory,
  hex,
  HyplabError,
  type InvariantCheckOptions,
  KernelBugError,
  PAGE_SIZE,
  type PagePool,
  type PagePoolOptions,
  type PagePoolStats,
  type Trace,
} from "../../core/mod.ts";

/** Largest order (inclusive), as mainline's `MAX_PAGE_ORDER`. */
export const BITMAP_MAX_ORDER = 10;
/** Bytes of the per-page record in the vmemmap. */
export const BITMAP_RECORD_BYTES = 4;
/**
 * Bytes per page of the search bitmaps, on top of the record: the free bit
 * and the summaries (host-side here, so not part of the vmemmap stride that
 * `metadataBytesPerPage` gives).
 */
export const BITMAP_INDEX_BYTES_PER_PAGE: number = 1 / 8 + 6 / 32 / 8 + 6 / 1024 / 8;

const NO = 0xff;
/** Whether typed-array words are little-endian here, like the records in memory. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/**
 * The last pool created over each record range, per accessor: a pool
 * created again over the same records takes over its bitmaps and shadow
 * arrays (fresh multi-MiB typed arrays cost a page fault per 4 KiB on first
 * touch, and the collector frees the old ones only later), and the earlier
 * pool, whose records were just rewritten, refuses further use.
 */
const LAST_POOL = new WeakMap<El2Memory, Map<string, BitmapPool>>();
/** Records of the initial image, stored 16,384 at a time (64 KiB) from one reused buffer. */
const IMAGE_CHUNK = new Uint32Array(16384);
const IMAGE_CHUNK_BYTES = new Uint8Array(IMAGE_CHUNK.buffer);
/** Marks a pool whose records a later pool over the same range rewrote. */
class Superseded {
  /** Creates the value. @param by Name of the pool created over it. */
  constructor(readonly by: string) {}
}
const REF_MAX = 0xffff;
/**
 * Largest pool the bitmap allocator takes, in pages.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BITMAP_MAX_NR_PAGES } from "./bitmap_pool.ts";
 * assertEquals(BITMAP_MAX_NR_PAGES, 2 ** 32 - 1);
 * ```
 */
export const BITMAP_MAX_NR_PAGES: number = 2 ** 32 - 1;
const MAX_NR_PAGES = BITMAP_MAX_NR_PAGES;
/** Bits at the aligned positions of a 2^k run inside a 32-bit word (k = 0..5). */
const ALIGNED = [0xffff_ffff, 0x5555_5555, 0x1111_1111, 0x0101_0101, 0x0001_0001, 0x0000_0001];

/**
 * One bitmap pool.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { linearEl2Memory, PhysicalMemory } from "../../core/mod.ts";
 * import { BitmapPool } from "./bitmap_pool.ts";
 *
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * const pool = new BitmapPool({
 *   name: "hpool", pfn: 0x40101, nrPages: 15, reservedPages: 1,
 *   memory: linearEl2Memory(mem, (va) => va), vmemmap: 0x4000_0000 - 0x40100 * 4,
 *   physToVirt: (pa) => pa, virtToPhys: (va) => va,
 * });
 * assertEquals(pool.allocPages(0), 0x4010_2000); // lowest free page
 * assertEquals(pool.allocPages(2), 0x4010_4000); // lowest 4-page aligned run
 * assertEquals(pool.allocPages(3), 0x4010_8000);
 * assertEquals(pool.allocPages(3), null);
 * ```
 */
export class BitmapPool implements PagePool {
  /** Pool name. */
  readonly name: string;
  /** First PA of the range. */
  readonly rangeStart: number;
  /** One past the last PA. */
  readonly rangeEnd: number;
  /** Largest order (inclusive). */
  readonly maxOrder: number = BITMAP_MAX_ORDER;
  /** Largest order `allocPages` can return. */
  readonly maxAllocOrder: number = BITMAP_MAX_ORDER;
  /** First pfn. */
  readonly pfn: number;
  /** Pages in the range. */
  readonly nrPages: number;
  /** Pages reserved at init. */
  readonly reservedPages: number;
  /** Hyp VA of the record of pfn 0. */
  readonly vmemmap: number;
  /** Allocator name for traces. */
  readonly allocatorName: string;
  /** Turns an allocated block into 2^order order-0 pages with refcount 1. */
  readonly splitPage: (va: number) => void;

  #mem: El2Memory;
  #p2v: (pa: number) => number;
  #trace: Trace | undefined;
  #nr: number;
  #baseVa: number;
  #recVa: number;
  /** Bit index of page 0. */
  #off: number;
  #bits: Uint32Array;
  /** Level-1 summaries: bit j of word s of #sum[k] = word 32s+j holds an aligned free run of 2^k. */
  #sum: Uint32Array[];
  /** Level-2 summaries: bit j of word t of #sum2[k] = #sum[k][32t+j] is not zero. */
  #sum2: Uint32Array[];
  #ref: Uint16Array;
  #ord: Uint8Array;
  #free = 0;
  #allocs = 0;
  #failed = 0;
  #frees = 0;
  #gets = 0;
  #puts = 0;
  #broken: unknown = undefined;
  /**
   * The records as host words, live, when the accessor grants a pinned view
   * of their pages (`rangeView`, a linear map): a record store is then one
   * typed-array store. The MMU accessor grants none, so there every store
   * is an EL2 access that can fault.
   */
  #recW: Uint32Array | undefined = undefined;
  /** The same bytes as host halfwords (the refcount of record i at 2 * (#recAt + i)). */
  #recH: Uint16Array | undefined = undefined;
  /** Word index of record 0 in the views. */
  #recAt = 0;

  /**
   * Creates the pool: reserved pages get refcount 1, the others are zeroed
   * and free.
   *
   * @param options Range, reserved pages, memory, vmemmap (`vmemmap + pfn * 4`).
   * @param allocatorName Name for traces (default `bitmap`).
   * @throws {RangeError} Bad geometry.
   * @throws {MemoryFaultError} The records or pages are not mapped.
   */
  constructor(options: PagePoolOptions, allocatorName = "bitmap") {
    const o = options;
    const what = `pool "${o.name}"`;
    if (!Number.isSafeInteger(o.pfn) || o.pfn < 0) {
      throw new RangeError(`Cannot init ${what}: pfn ${o.pfn} is not a non-negative integer`);
    }
    if (!Number.isInteger(o.nrPages) || o.nrPages < 0 || o.nrPages > MAX_NR_PAGES) {
      throw new RangeError(`Cannot init ${what}: nrPages ${o.nrPages} is not a page count`);
    }
    if (!Number.isInteger(o.reservedPages) || o.reservedPages < 0 || o.reservedPages > o.nrPages) {
      throw new RangeError(
        `Cannot init ${what}: reservedPages ${o.reservedPages} is not in [0, ${o.nrPages}]`,
      );
    }
    if (!Number.isSafeInteger(o.vmemmap)) {
      throw new RangeError(`Cannot init ${what}: vmemmap ${o.vmemmap} is not an integer`);
    }
    this.name = o.name;
    this.allocatorName = allocatorName;
    this.pfn = o.pfn;
    this.nrPages = o.nrPages;
    this.reservedPages = o.reservedPages;
    this.vmemmap = o.vmemmap;
    this.rangeStart = o.pfn * PAGE_SIZE;
    this.rangeEnd = this.rangeStart + o.nrPages * PAGE_SIZE;
    this.#mem = o.memory;
    this.#p2v = o.physToVirt;
    this.#trace = o.trace;
    this.#nr = o.nrPages;
    this.#baseVa = o.nrPages > 0 ? o.physToVirt(this.rangeStart) : 0;
    if (o.nrPages > 0) {
      const lastPa = this.rangeEnd - PAGE_SIZE;
      if (
        o.physToVirt(lastPa) !== this.#baseVa + lastPa - this.rangeStart ||
        o.virtToPhys(this.#baseVa) !== this.rangeStart
      ) {
        throw new RangeError(
          `Cannot init ${what}: physToVirt/virtToPhys are not one linear map over the range`,
        );
      }
    }
    this.#recVa = o.vmemmap + o.pfn * BITMAP_RECORD_BYTES;
    this.#off = o.pfn % 1024;
    const groups = Math.ceil((this.#off + o.nrPages) / 1024);
    const key = `${this.#recVa}:${o.nrPages}:${this.#off}`;
    let last = LAST_POOL.get(o.memory);
    if (last === undefined) LAST_POOL.set(o.memory, last = new Map());
    const donor = last.get(key);
    if (donor !== undefined) {
      donor.#broken = new Superseded(o.name);
      this.#bits = donor.#bits.fill(0);
      for (const a of donor.#sum) a.fill(0);
      for (const a of donor.#sum2) a.fill(0);
      this.#sum = donor.#sum;
      this.#sum2 = donor.#sum2;
      this.#ref = donor.#ref.fill(0);
      this.#ord = donor.#ord.fill(NO);
    } else {
      this.#bits = new Uint32Array(groups * 32);
      this.#sum = Array.from({ length: 6 }, () => new Uint32Array(groups));
      this.#sum2 = Array.from({ length: 6 }, () => new Uint32Array(Math.ceil(groups / 32)));
      this.#ref = new Uint16Array(o.nrPages);
      this.#ord = new Uint8Array(o.nrPages).fill(NO);
    }
    last.set(key, this);
    const r = o.reservedPages;
    this.#ref.fill(1, 0, r);
    this.#ord.fill(0, 0, r);
    this.#viewRecords();
    this.#writeInitialImage();
    this.#setRange(this.#off + r, o.nrPages - r, true);
    this.#free = o.nrPages - r;
    this.splitPage = (va: number) => this.#split(va);
  }

  // ---------------------------------------------------------------- public

  /**
   * Allocates the lowest free block of 2^order pages aligned to its size.
   *
   * @param order Block order.
   * @returns Hyp VA of a zeroed block, or null.
   * @throws {RangeError} `order` is not a non-negative integer.
   */
  allocPages(order: number): number | null {
    this.#usable();
    if (!Number.isInteger(order) || order < 0) {
      throw new RangeError(
        `Cannot allocate order ${order} from pool "${this.name}": order must be a non-negative integer`,
      );
    }
    const bit = order > BITMAP_MAX_ORDER ? -1 : this.#find(order);
    if (bit < 0) {
      this.#failed++;
      return null;
    }
    const i = bit - this.#off;
    try {
      this.#writeRecord(i, 1, order);
    } catch (e) {
      this.#broken = e;
      throw e;
    }
    this.#setRange(bit, 1 << order, false);
    this.#ref[i] = 1;
    this.#ord[i] = order;
    this.#free -= 1 << order;
    this.#allocs++;
    const tr = this.#trace;
    if (tr !== undefined && tr.wants("alloc")) {
      tr.emit("alloc", {
        allocator: this.allocatorName,
        pool: this.name,
        pa: hex(this.rangeStart + i * PAGE_SIZE),
        order,
      });
    }
    return this.#baseVa + i * PAGE_SIZE;
  }

  /**
   * Takes a reference on an allocated block head.
   *
   * @param va Hyp VA of the head.
   * @throws {KernelBugError} Not an allocated block head, refcount at 65535,
   *   or outside the pool.
   */
  getPage(va: number): void {
    this.#usable();
    const i = this.#index(va, "hyp_get_page");
    if (this.#ord[i] === NO) {
      throw new KernelBugError(
        "hyp_get_page",
        `Cannot get page ${
          this.#paText(i)
        } of pool "${this.name}": it does not head an allocated ` +
          `block (free or a tail page)`,
      );
    }
    const rc = this.#ref[i]!;
    if (rc >= REF_MAX) {
      throw new KernelBugError(
        "hyp_get_page",
        `Cannot get page ${this.#paText(i)} of pool "${this.name}": refcount is ${rc}, the maximum`,
      );
    }
    try {
      this.#writeRefcount(i, rc + 1);
    } catch (e) {
      this.#broken = e;
      throw e;
    }
    this.#ref[i] = rc + 1;
    this.#gets++;
  }

  /**
   * Drops a reference; at zero the block is zeroed and its bits set free.
   *
   * @param va Hyp VA of the head.
   * @throws {KernelBugError} Refcount already 0 (a free page, a tail or a
   *   double free) or outside the pool.
   */
  putPage(va: number): void {
    this.#usable();
    const i = this.#index(va, "hyp_put_page");
    const rc = this.#ref[i]!;
    if (rc === 0) {
      throw new KernelBugError(
        "hyp_put_page",
        `Cannot put page ${this.#paText(i)} of pool "${this.name}": refcount is 0 (double free, ` +
          `free page or tail page)`,
      );
    }
    const order = this.#ord[i]!;
    try {
      if (rc > 1) {
        this.#writeRefcount(i, rc - 1);
      } else {
        this.#mem.zero(this.#baseVa + i * PAGE_SIZE, PAGE_SIZE << order);
        this.#writeRecord(i, 0, NO);
      }
    } catch (e) {
      this.#broken = e;
      throw e;
    }
    this.#puts++;
    if (rc > 1) {
      this.#ref[i] = rc - 1;
      return;
    }
    this.#ref[i] = 0;
    this.#ord[i] = NO;
    this.#setRange(this.#off + i, 1 << order, true);
    this.#free += 1 << order;
    this.#frees += 1 << order;
    const tr = this.#trace;
    if (tr !== undefined && tr.wants("free")) {
      tr.emit("free", {
        allocator: this.allocatorName,
        pool: this.name,
        pa: hex(this.rangeStart + i * PAGE_SIZE),
        order,
      });
    }
  }

  /**
   * The refcount of a page.
   *
   * @param va Hyp VA.
   * @returns The refcount.
   */
  pageCount(va: number): number {
    this.#usable();
    return this.#ref[this.#index(va, "hyp_page_count")]!;
  }

  /** Returns: Counters and the free blocks per order (maximal aligned blocks of the free bits). */
  stats(): PagePoolStats {
    const byOrder = new Array<number>(BITMAP_MAX_ORDER + 1).fill(0);
    const nbits = this.#off + this.#nr;
    let b = this.#off;
    while (b < nbits) {
      if (!this.#isFree(b)) {
        b++;
        continue;
      }
      let e = b;
      while (e < nbits && this.#isFree(e)) e++;
      // Split the run [b, e) into the largest aligned blocks, like buddyinfo.
      while (b < e) {
        let k = BITMAP_MAX_ORDER;
        while (k > 0 && (b % (1 << k) !== 0 || b + (1 << k) > e)) k--;
        byOrder[k]!++;
        b += 1 << k;
      }
    }
    return {
      nrPages: this.#nr,
      reserved: this.reservedPages,
      free: this.#free,
      freeBlocksByOrder: byOrder,
      allocs: this.#allocs,
      failedAllocs: this.#failed,
      frees: this.#frees,
      gets: this.#gets,
      puts: this.#puts,
      metadataBytesPerPage: BITMAP_RECORD_BYTES,
    };
  }

  /**
   * Checks the records in memory against the pool, the bitmaps and their
   * summaries, the block structure, and (by default) that free pages are zero.
   *
   * @param options `contents: false` skips the zeroed-memory check.
   * @returns The first violation, or undefined.
   */
  checkInvariants(options: InvariantCheckOptions = {}): string | undefined {
    if (this.#broken instanceof Superseded) return this.#supersededText();
    if (this.#broken !== undefined) {
      return `pool is unusable after a fault: ${errText(this.#broken)}`;
    }
    const nr = this.#nr;
    const mem = this.#mem;
    const bulk = mem.readBytes !== undefined && nr > 0
      ? mem.readBytes(this.#recVa, nr * BITMAP_RECORD_BYTES)
      : undefined;
    for (let i = 0; i < nr; i++) {
      const at = i * BITMAP_RECORD_BYTES;
      const rc = bulk ? bulk[at]! | (bulk[at + 1]! << 8) : mem.read16(this.#recVa + at);
      const o = bulk ? bulk[at + 2]! : mem.read8(this.#recVa + at + 2);
      if (rc !== this.#ref[i] || o !== this.#ord[i]) {
        return `record of page ${this.#paText(i)} holds refcount ${rc} order ${o}, the pool ` +
          `recorded ${this.#ref[i]} and ${this.#ord[i]} (written behind the pool's back?)`;
      }
    }
    for (let g = 0; g < this.#sum[0]!.length; g++) {
      for (let k = 0; k <= 5; k++) {
        let want = 0;
        for (let j = 0; j < 32; j++) {
          if (runFlags(this.#bits[g * 32 + j]!) & (1 << k)) want |= 1 << j;
        }
        if (want >>> 0 !== this.#sum[k]![g]) {
          return `order-${k} summary of bits ${g * 1024}..${
            g * 1024 + 1023
          } disagrees with the bitmap`;
        }
        const top = ((this.#sum2[k]![g >>> 5]! >>> (g & 31)) & 1) === 1;
        if (top !== (want !== 0)) return `order-${k} level-2 summary of group ${g} is stale`;
      }
    }
    for (let b = 0; b < this.#bits.length * 32; b++) {
      if ((b < this.#off || b >= this.#off + nr) && this.#isFree(b)) {
        return `bit ${b} outside the pool is marked free`;
      }
    }
    let free = 0;
    for (let i = 0; i < nr;) {
      if (this.#isFree(this.#off + i)) {
        if (this.#ref[i] !== 0 || this.#ord[i] !== NO) {
          return `free page ${this.#paText(i)} has refcount ${this.#ref[i]} order ${this.#ord[i]}`;
        }
        free++;
        i++;
        continue;
      }
      const o = this.#ord[i]!;
      if (o === NO) return `page ${this.#paText(i)} is neither free nor in an allocated block`;
      if (this.#ref[i] === 0) {
        return `allocated block ${this.#paText(i)} (order ${o}) has refcount 0`;
      }
      const n = 1 << o;
      if ((this.pfn + i) % n !== 0 || i + n > nr) {
        return `allocated block ${
          this.#paText(i)
        } of order ${o} is misaligned or runs past the range`;
      }
      for (let t = 1; t < n; t++) {
        if (this.#isFree(this.#off + i + t) || this.#ord[i + t] !== NO || this.#ref[i + t] !== 0) {
          return `page ${this.#paText(i + t)} inside allocated block ${
            this.#paText(i)
          } (order ${o}) ` +
            `is free or has its own refcount or order`;
        }
      }
      i += n;
    }
    if (free !== this.#free) return `bitmap has ${free} free pages, the pool counts ${this.#free}`;
    if (options.contents !== false) {
      // One read per run of up to 64 free pages; page by page only to name the culprit.
      for (let i = 0; i < nr;) {
        if (!this.#isFree(this.#off + i)) {
          i++;
          continue;
        }
        let e = i;
        while (e < nr && e - i < 64 && this.#isFree(this.#off + e)) e++;
        if (!isZero(mem, this.#baseVa + i * PAGE_SIZE, (e - i) * PAGE_SIZE)) {
          for (let j = i; j < e; j++) {
            if (!isZero(mem, this.#baseVa + j * PAGE_SIZE, PAGE_SIZE)) {
              return `free page ${this.#paText(j)} holds non-zero bytes (use after free?)`;
            }
          }
        }
        i = e;
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------- helpers

  /** Stores records `[from, to)` as `refcount`, `order` (bulk, from the reused chunk). */
  #storeRecords(from: number, to: number, refcount: number, order: number): void {
    if (from >= to) return;
    // The record's bytes as one host-order word.
    IMAGE_CHUNK_BYTES[0] = refcount & 0xff;
    IMAGE_CHUNK_BYTES[1] = refcount >>> 8;
    IMAGE_CHUNK_BYTES[2] = order;
    IMAGE_CHUNK_BYTES[3] = 0;
    const word = IMAGE_CHUNK[0]!;
    const n = Math.min(to - from, IMAGE_CHUNK.length);
    IMAGE_CHUNK.fill(word, 0, n);
    for (let i = from; i < to; i += IMAGE_CHUNK.length) {
      const k = Math.min(to - i, IMAGE_CHUNK.length);
      this.#mem.writeBytes!(
        this.#recVa + i * BITMAP_RECORD_BYTES,
        k === IMAGE_CHUNK.length ? IMAGE_CHUNK_BYTES : IMAGE_CHUNK_BYTES.subarray(0, k * 4),
      );
    }
  }

  #usable(): void {
    if (this.#broken instanceof Superseded) {
      throw new HyplabError(`Cannot use pool "${this.name}": ${this.#supersededText()}`);
    }
    if (this.#broken !== undefined) {
      throw new HyplabError(
        `Cannot use pool "${this.name}": an earlier EL2 access faulted in the middle of an ` +
          `operation (${errText(this.#broken)})`,
        { cause: this.#broken },
      );
    }
  }

  #supersededText(): string {
    const by = (this.#broken as Superseded).by;
    return `a pool was created again over its records (pool "${by}"), so its bitmaps ` +
      `are no longer what memory holds`;
  }

  #paText(i: number): string {
    return hex(this.rangeStart + i * PAGE_SIZE);
  }

  #index(va: number, fn: string): number {
    if (!Number.isSafeInteger(va)) {
      throw new TypeError(`Cannot use ${va} as a hyp VA in ${fn}: not an integer`);
    }
    const off = va - this.#baseVa;
    if (off < 0 || off >= this.#nr * PAGE_SIZE) {
      throw new KernelBugError(
        fn,
        `Cannot use hyp VA ${hex(va)}: outside pool "${this.name}" [${hex(this.rangeStart)}, ${
          hex(this.rangeEnd)
        })`,
      );
    }
    return Math.floor(off / PAGE_SIZE);
  }

  #isFree(b: number): boolean {
    return ((this.#bits[b >>> 5]! >>> (b & 31)) & 1) === 1;
  }

  #writeRecord(i: number, refcount: number, order: number): void {
    const w = this.#recW;
    if (w !== undefined) w[this.#recAt + i] = refcount | (order << 16);
    else this.#mem.write32(this.#recVa + i * BITMAP_RECORD_BYTES, refcount | (order << 16));
  }

  /** Stores record i's `u16 refcount` alone. */
  #writeRefcount(i: number, refcount: number): void {
    const h = this.#recH;
    if (h !== undefined) h[(this.#recAt + i) * 2] = refcount;
    else this.#mem.write16(this.#recVa + i * BITMAP_RECORD_BYTES, refcount);
  }

  /**
   * Takes the pinned view of the records' pages when the accessor offers
   * one over little-endian words (records never straddle a page: 4-byte
   * aligned); a view of 2 GiB or more is not taken.
   */
  #viewRecords(): void {
    const get = this.#mem.rangeView;
    const size = this.#nr * BITMAP_RECORD_BYTES;
    if (get === undefined || !HOST_LITTLE_ENDIAN || size === 0) return;
    if (this.#recVa % BITMAP_RECORD_BYTES !== 0 || size + PAGE_SIZE > 2 ** 31) return;
    const v = get.call(this.#mem, this.#recVa, size);
    const off = this.#recVa - Math.floor(this.#recVa / PAGE_SIZE) * PAGE_SIZE;
    if (v === undefined || v.byteOffset % 4 !== 0 || v.length < off + size) return;
    this.#recW = new Uint32Array(v.buffer, v.byteOffset, v.length >>> 2);
    this.#recH = new Uint16Array(v.buffer, v.byteOffset, v.length >>> 1);
    this.#recAt = off >>> 2;
  }

  /** Sets or clears the bits of an aligned power-of-two block (or any range at init). */
  #setRange(b: number, n: number, free: boolean): void {
    const bits = this.#bits;
    let cur = b;
    const end = b + n;
    while (cur < end) {
      const w = cur >>> 5;
      const lo = cur & 31;
      const cnt = Math.min(32 - lo, end - cur);
      const mask = cnt === 32 ? 0xffff_ffff : (((1 << cnt) - 1) << lo) >>> 0;
      const old = bits[w]!;
      const x = free ? (old | mask) >>> 0 : (old & ~mask) >>> 0;
      bits[w] = x;
      this.#summarise(w, x, old);
      cur += cnt;
    }
  }

  /** Updates the summaries of data word `w`, now holding `x` (before: `was`). */
  #summarise(w: number, x: number, was: number): void {
    const g = w >>> 5;
    const bit = 1 << (w & 31);
    const flags = runFlags(x);
    // Only the levels whose flag the store changed (the summaries agree
    // with `was` before it).
    let diff = flags ^ runFlags(was);
    while (diff !== 0) {
      const k = 31 - Math.clz32(diff & -diff);
      diff &= diff - 1;
      const sum = this.#sum[k]!;
      const old = sum[g]!;
      const now = (flags & (1 << k)) !== 0 ? (old | bit) >>> 0 : (old & ~bit) >>> 0;
      if (now === old) continue;
      sum[g] = now;
      if ((old === 0) !== (now === 0)) {
        const s2 = this.#sum2[k]!;
        if (now !== 0) s2[g >>> 5]! |= 1 << (g & 31);
        else s2[g >>> 5]! &= ~(1 << (g & 31));
      }
    }
  }

  /** Bit index of the lowest free block of this order aligned to its size, or -1. */
  #find(order: number): number {
    if (order <= 5) {
      // The first data word with an aligned run of 2^order, via two summary levels.
      const s2 = this.#sum2[order]!;
      for (let t = 0; t < s2.length; t++) {
        const m2 = s2[t]!;
        if (m2 === 0) continue;
        const g = (t << 5) + ctz(m2);
        const w = (g << 5) + ctz(this.#sum[order]![g]!);
        if (order === 5) return w << 5;
        let run = this.#bits[w]!;
        for (let sh = 1; sh < 1 << order; sh <<= 1) run &= run >>> sh;
        return (w << 5) + ctz((run & ALIGNED[order]!) >>> 0);
      }
      return -1;
    }
    // Orders 6..10: aligned runs of 2^(order - 5) fully free words.
    const k = order - 5;
    const full = this.#sum[5]!;
    const s2 = this.#sum2[5]!;
    for (let t = 0; t < s2.length; t++) {
      let m2 = s2[t]!;
      while (m2 !== 0) {
        const g = (t << 5) + ctz(m2);
        m2 &= m2 - 1;
        let run = full[g]!;
        if (k === 5) {
          if (run === 0xffff_ffff) return g << 10;
          continue;
        }
        for (let sh = 1; sh < 1 << k; sh <<= 1) run &= run >>> sh;
        run = (run & ALIGNED[k]!) >>> 0;
        if (run !== 0) return ((g << 5) + ctz(run)) << 5;
      }
    }
    return -1;
  }

  #split(va: number): void {
    this.#usable();
    const i = this.#index(va, "hyp_split_page");
    const o = this.#ord[i]!;
    if (o === NO) {
      throw new KernelBugError(
        "hyp_split_page",
        `Cannot split page ${this.#paText(i)}: it does not head an allocated block`,
      );
    }
    try {
      this.#writeRecord(i, this.#ref[i]!, 0);
      for (let t = 1; t < 1 << o; t++) this.#writeRecord(i + t, 1, 0);
    } catch (e) {
      this.#broken = e;
      throw e;
    }
    this.#ord[i] = 0;
    for (let t = 1; t < 1 << o; t++) {
      this.#ord[i + t] = 0;
      this.#ref[i + t] = 1;
    }
  }

  #writeInitialImage(): void {
    const mem = this.#mem;
    const nr = this.#nr;
    if (nr === 0) return;
    const r = this.reservedPages;
    const w = this.#recW;
    if (w !== undefined) {
      // In place through the pinned view: the same two runs of records.
      w.fill(1, this.#recAt, this.#recAt + r);
      w.fill(NO << 16, this.#recAt + r, this.#recAt + nr);
    } else if (mem.writeBytes !== undefined) {
      // Two runs of identical records: refcount 1 order 0 (reserved), then
      // refcount 0 order 0xff; each stored from one reused chunk buffer.
      this.#storeRecords(0, r, 1, 0);
      this.#storeRecords(r, nr, 0, NO);
    } else {
      for (let i = 0; i < nr; i++) this.#writeRecord(i, this.#ref[i]!, this.#ord[i]!);
    }
    if (nr > r) mem.zero(this.#baseVa + r * PAGE_SIZE, (nr - r) * PAGE_SIZE);
  }
}

/** Count of trailing zeros of a non-zero 32-bit value. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Bit k set when the word holds a free run of 2^k bits aligned to 2^k (k = 0..5). */
function runFlags(x: number): number {
  if (x === 0) return 0;
  let flags = 1;
  let run = x;
  for (let k = 1; k <= 5; k++) {
    run &= run >>> (1 << (k - 1));
    if (((run & ALIGNED[k]!) >>> 0) === 0) break;
    flags |= 1 << k;
  }
  return flags;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isZero(mem: El2Memory, va: number, size: number): boolean {
  if (mem.readBytes === undefined) return mem.isZero(va, size);
  const b = mem.readBytes(va, size);
  if (b.byteOffset % 4 !== 0 || size % 4 !== 0) return mem.isZero(va, size);
  const words = new Uint32Array(b.buffer, b.byteOffset, size / 4);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  return true;
}
