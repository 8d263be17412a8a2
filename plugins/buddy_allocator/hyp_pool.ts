/**
 * `struct hyp_pool`: the EL2 buddy allocator of arch/arm64/kvm/hyp/nvhe/
 * page_alloc.c, in its v5.13 and mainline forms.
 *
 * The kernel's data structures are kept in simulated memory, byte for byte:
 * the `struct hyp_page` records in the vmemmap (at `vmemmap + pfn * sizeof`),
 * the doubly linked free lists with 64-bit hyp-VA pointers (in the vmemmap
 * entry in v5.13, in the first 16 bytes of each free page in mainline), and
 * `struct hyp_pool` itself when a `poolVa` is given. Every access goes
 * through the injected {@link El2Memory}, so an unbacked vmemmap faults as it
 * would at EL2.
 *
 * For speed the pool also keeps a shadow of that state in typed arrays
 * (refcounts, orders, list links as page indexes) and decides from it; each
 * operation then writes exactly the bytes the kernel's version would leave
 * behind, and only those: a list operation stores the links it changes (one
 * pointer of a neighbour, both of the node itself); a freed mainline
 * block's memset and node go out as one `zeroThenWrite`.
 * When the accessor offers `rangeView` (a linear map), the vmemmap pages of
 * the range are pinned once and entries are stored straight into them; the
 * MMU accessor of the boot offers no view, so there every store is an EL2
 * access that can fault. Reads are served from the shadow, so a fault shows
 * at the first store the operation makes through the accessor. After a
 * fault in the middle of an operation the pool refuses further use: EL2
 * would have panicked there.
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
import {
  type BuddyVersion,
  HYP_POOL_LAYOUT,
  type HypPageLayout,
  hypPageLayout,
  hypPoolMaxOrder,
  hypPoolShiftedBytes,
  OFF_MACHINE_POOL_VA,
} from "./hyp_page_layout.ts";
import {
  buildInitialLists,
  firstUsedEntry,
  storeMainlineEntries,
  storeV513Entries,
} from "./hyp_pool_init_image.ts";
import { checkBuddyInvariants } from "./invariants.ts";

// Hot paths write the page size and 2^32 as literals: V8 does not fold
// module constants (PAGE_SIZE is one), and a division by a literal power of
// two compiles to a multiply instead of a divide.

/** Shadow encoding of `HYP_NO_ORDER` in the order array. */
const NO = 0xff;
const TWO32 = 2 ** 32;

/** A 64-bit pointer `v` (a VA below 2^53) stored as two little-endian words at `w[k]`, `w[k + 1]`. */
function putPtr(w: Uint32Array, k: number, v: number): void {
  w[k] = v >>> 0;
  w[k + 1] = (v / TWO32) >>> 0;
}
/**
 * The last pool initialised over each vmemmap range, per accessor: a pool
 * initialised again over the same range (the same `hyp_pool_init` on the
 * same memory) takes over its shadow arrays and page views instead of
 * allocating 13 bytes a page afresh. Fresh multi-MiB typed arrays cost a
 * page fault per 4 KiB on first touch (~7 ms for a 1 GiB pool on a shared
 * host), and the collector frees the old ones only later, so without this
 * a loop of inits paid the faults every time; C's malloc reuses the freed
 * buffer instead. The earlier pool is then superseded: its free lists are
 * no longer what memory holds, so it refuses further use.
 */
const LAST_POOL = new WeakMap<El2Memory, Map<string, BuddyPool>>();

/** Marks a pool whose vmemmap range a later `hyp_pool_init` rewrote. */
class Superseded {
  /** Creates the value. @param by Name of the pool initialised over it. */
  constructor(readonly by: string) {}
}

/** Whether typed-array words are little-endian here, like the arm64 kernel's. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** `hyp_pool_init()` takes `unsigned int nr_pages`. */
const MAX_NR_PAGES = 2 ** 32 - 1;

/**
 * The shadow state, shared read-only with the invariant checker.
 * @internal
 */
export interface BuddyPoolView {
  /** The pool. */
  readonly pool: BuddyPool;
  /** Memory accessor. */
  readonly memory: El2Memory;
  /** Hyp VA → PA. */
  readonly virtToPhys: (va: number) => number;
  /** PA → hyp VA. */
  readonly physToVirt: (pa: number) => number;
  /** Refcount of each page of the range. */
  readonly ref: Uint32Array;
  /** Order of each page of the range (0xff = NO_ORDER). */
  readonly ord: Uint8Array;
  /** Next link of each node id (-1: node zeroed; own id: empty / unlisted). */
  readonly next: Int32Array;
  /** Prev link of each node id. */
  readonly prev: Int32Array;
  /** Id of `free_area[0]` (= nrPages). */
  readonly headBase: number;
  /** First id of external pages. */
  readonly extBase: number;
  /** Pfn of each external id (index id - extBase; -1 when unused). */
  readonly extPfn: readonly number[];
  /** Free pages of the range and external pages. */
  readonly free: number;
  /** Hyp VA of a node id (0 for -1). */
  nodeVa(id: number): number;
  /** Highest order a block coalesces to. */
  readonly capOrder: number;
  /** Page index of the kernel's `range_end` (`nr_pages % 2^20`): buddies stop there. */
  readonly rangeEndId: number;
}

/**
 * One `struct hyp_pool`. Create it with `buddyPageAllocator(...).createPool`
 * (that is `hyp_pool_init`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { linearEl2Memory, PhysicalMemory } from "../../core/mod.ts";
 * import { BuddyPool } from "./hyp_pool.ts";
 *
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * const off = 0x4000_0000; // hyp VA = PA - off
 * const pool = new BuddyPool("mainline", {
 *   name: "hpool", pfn: 0x40100, nrPages: 16, reservedPages: 0,
 *   memory: linearEl2Memory(mem, (va) => va + off), vmemmap: 0x1000 - 0x40100 * 8,
 *   physToVirt: (pa) => pa - off, virtToPhys: (va) => va + off,
 * });
 * assertEquals(pool.freeList(4), [0x4010_0000]);
 * const va = pool.allocPages(0)!;
 * assertEquals(va, 0x10_0000);
 * assertEquals(pool.freeList(0), [0x4010_1000]); // the upper halves, one per order
 * pool.putPage(va);
 * assertEquals(pool.freeList(4), [0x4010_0000]);
 * ```
 */
export class BuddyPool implements PagePool {
  /** Pool name. */
  readonly name: string;
  /** First PA of the range (`range_start`). */
  readonly rangeStart: number;
  /** One past the last PA of the pool's pages (`range_start + nr_pages * PAGE_SIZE`). */
  readonly rangeEnd: number;
  /**
   * `pool->range_end` as `hyp_pool_init` stores it: `range_start +
   * (nr_pages << PAGE_SHIFT)` with the shift in 32 bits, so below
   * {@link BuddyPool.rangeEnd} from 2^20 pages on. `__find_buddy_nocheck`
   * refuses buddies at or above it, and from 6.9 `__hyp_attach_page` treats
   * the pages there as external (never coalesced).
   */
  readonly kernelRangeEnd: number;
  /** `max_order` as the version computes it. */
  readonly maxOrder: number;
  /** Largest order `allocPages` can return (-1 when none). */
  readonly maxAllocOrder: number;
  /** Variant. */
  readonly version: BuddyVersion;
  /** `struct hyp_page` layout of the variant. */
  readonly layout: HypPageLayout;
  /** First pfn. */
  readonly pfn: number;
  /** Pages in the range. */
  readonly nrPages: number;
  /** Pages reserved at init. */
  readonly reservedPages: number;
  /** Hyp VA of `hyp_vmemmap[0]`. */
  readonly vmemmap: number;
  /** Hyp VA of `struct hyp_pool` (synthetic when {@link BuddyPool.onMachine} is false). */
  readonly poolVa: number;
  /** Whether `struct hyp_pool` is kept in simulated memory at `poolVa`. */
  readonly onMachine: boolean;
  /** Name of the allocator variant, for traces. */
  readonly allocatorName: string;
  /**
   * `hyp_split_page` (mainline only): turns an allocated block of order o
   * into 2^o order-0 pages with refcount 1.
   */
  readonly splitPage?: (va: number) => void;

  #mem: El2Memory;
  #p2v: (pa: number) => number;
  #v2p: (va: number) => number;
  #trace: Trace | undefined;
  #v513: boolean;
  /** `HYP_NO_ORDER` as the release stores it. */
  #noOrder: number;
  #nr: number;
  #baseVa: number;
  #entVa: number;
  #esz: number;
  #headVa: number;
  /** Node VA of page 0 and the distance between page nodes. */
  #nodeBase: number;
  #nodeStride: number;
  #capOrder: number;
  /** Page index of `range_end`: buddies at or above it are refused. */
  #endId: number;
  /** Pages at or above `range_end` skip coalescing (6.9+ external pages). */
  #extSkip: boolean;
  #lowBits: number;
  #refMax: number;
  #ref: Uint32Array;
  #ord: Uint8Array;
  #next: Int32Array;
  #prev: Int32Array;
  #count: Int32Array;
  #nonEmpty = 0;
  #free = 0;
  #extBase: number;
  #extPfn: number[] = [];
  #extIds = new Map<number, number>();
  #extFreeSlots: number[] = [];
  #allocs = 0;
  #failed = 0;
  #frees = 0;
  #gets = 0;
  #puts = 0;
  #broken: unknown = undefined;
  /** Whether a node or entry image is one `writeBytes` (a little-endian host). */
  #bulk: boolean;
  /** Image of one node (next, prev) in little-endian words, and byte views of it. */
  #img = new Uint32Array(8);
  #img32 = new Uint8Array(this.#img.buffer);
  #img16 = this.#img32.subarray(0, 16);
  #img8lo = this.#img32.subarray(0, 8);
  #img8hi = this.#img32.subarray(8, 16);
  /**
   * A live, contiguous view of the vmemmap pages of the range, when the
   * accessor grants one (`rangeView`, a linear map): entry stores are then
   * typed-array stores at one index each, with no call and no page lookup.
   */
  #vmB: Uint8Array | undefined = undefined;
  /** The same bytes as little-endian words. */
  #vmW: Uint32Array | undefined = undefined;
  /** Byte offset of the range's first entry in the view. */
  #vmOff = 0;

  /**
   * `hyp_pool_init(pool, pfn, nr_pages, reserved_pages)`.
   *
   * @param version `v5.13` or `mainline`.
   * @param options Range, reserved pages, memory, vmemmap and pool addresses.
   * @param allocatorName Variant name for traces (default `buddy-<version>`).
   * @throws {RangeError} Bad geometry (non-integer, reserved > nr, physToVirt
   *   not linear over the range, 2^32 pages or more: `nr_pages` is an
   *   `unsigned int`). From 2^20 pages the kernel's 32-bit
   *   `nr_pages << PAGE_SHIFT` wraps, and the pool follows it: `range_end`
   *   and `max_order` come from the wrapped value.
   * @throws {KernelBugError} Mainline: a vmemmap refcount is not 0
   *   (`hyp_set_page_refcounted`); v5.13 and 6.1: `max_order` 0 with a free
   *   page (a 1-page pool, or a wrapped one; `free_area[0]` is used
   *   uninitialised).
   * @throws {MemoryFaultError} The vmemmap or pool is not mapped.
   */
  constructor(
    version: BuddyVersion | HypPageLayout,
    options: PagePoolOptions,
    allocatorName?: string,
  ) {
    const o = options;
    const layout = typeof version === "string" ? hypPageLayout(version) : version;
    const what = `pool "${o.name}"`;
    if (!Number.isSafeInteger(o.pfn) || o.pfn < 0) {
      throw new RangeError(`Cannot init ${what}: pfn ${o.pfn} is not a non-negative integer`);
    }
    if (!Number.isInteger(o.nrPages) || o.nrPages < 0 || o.nrPages > MAX_NR_PAGES) {
      throw new RangeError(
        `Cannot init ${what} with ${o.nrPages} pages: nr_pages must be an integer in [0, 2^32) ` +
          `(hyp_pool_init takes an unsigned int)`,
      );
    }
    if (!Number.isInteger(o.reservedPages) || o.reservedPages < 0 || o.reservedPages > o.nrPages) {
      throw new RangeError(
        `Cannot init ${what}: reserved_pages ${o.reservedPages} is not in [0, ${o.nrPages}]`,
      );
    }
    if (!Number.isSafeInteger(o.vmemmap)) {
      throw new RangeError(`Cannot init ${what}: vmemmap ${o.vmemmap} is not an integer`);
    }
    if (o.poolVa !== undefined && (!Number.isSafeInteger(o.poolVa) || o.poolVa < 0)) {
      throw new RangeError(`Cannot init ${what}: poolVa ${o.poolVa} is not an address`);
    }
    this.version = layout.version;
    this.layout = layout;
    this.allocatorName = allocatorName ?? `buddy-${layout.version}`;
    this.name = o.name;
    this.pfn = o.pfn;
    this.nrPages = o.nrPages;
    this.reservedPages = o.reservedPages;
    this.vmemmap = o.vmemmap;
    this.rangeStart = o.pfn * PAGE_SIZE;
    this.rangeEnd = this.rangeStart + o.nrPages * PAGE_SIZE;
    this.kernelRangeEnd = this.rangeStart + hypPoolShiftedBytes(o.nrPages);
    this.#endId = hypPoolShiftedBytes(o.nrPages) / PAGE_SIZE;
    this.#extSkip = layout.attachSkipsOutOfRange;
    this.onMachine = o.poolVa !== undefined;
    this.poolVa = o.poolVa ?? OFF_MACHINE_POOL_VA;
    this.#mem = o.memory;
    this.#bulk = o.memory.writeBytes !== undefined && HOST_LITTLE_ENDIAN;
    this.#p2v = o.physToVirt;
    this.#v2p = o.virtToPhys;
    this.#trace = o.trace;
    this.#v513 = layout.nodeOffset >= 0;
    this.#noOrder = layout.noOrder;
    this.#nr = o.nrPages;
    this.#esz = this.layout.size;
    this.#entVa = o.vmemmap + o.pfn * this.#esz;
    this.#headVa = this.poolVa + HYP_POOL_LAYOUT.freeAreaOffset;
    this.#refMax = this.layout.refcountMax;
    this.#lowBits = o.pfn % 4096;
    this.maxOrder = hypPoolMaxOrder(layout, o.nrPages);
    this.maxAllocOrder = this.layout.inclusiveMaxOrder ? this.maxOrder : this.maxOrder - 1;
    // __hyp_attach_page coalesces while (order + 1) < max_order (v5.13) or <= (mainline).
    this.#capOrder = Math.max(this.maxAllocOrder, 0);
    this.#baseVa = o.nrPages > 0 ? o.physToVirt(this.rangeStart) : 0;
    if (o.nrPages > 0) {
      const lastPa = this.rangeEnd - PAGE_SIZE;
      if (
        o.physToVirt(lastPa) !== this.#baseVa + lastPa - this.rangeStart ||
        o.virtToPhys(this.#baseVa) !== this.rangeStart
      ) {
        throw new RangeError(
          `Cannot init ${what}: physToVirt/virtToPhys are not one linear map over ` +
            `[${hex(this.rangeStart)}, ${hex(this.rangeEnd)})`,
        );
      }
    }
    this.#nodeBase = this.#v513 ? this.#entVa + 16 : this.#baseVa;
    this.#nodeStride = this.#v513 ? 32 : PAGE_SIZE;
    if (!layout.inclusiveMaxOrder && this.maxOrder === 0 && o.reservedPages < o.nrPages) {
      // v5.13 and 6.1 initialise free_area[i] for i < max_order only, then
      // attach the free page to free_area[0]: a NULL dereference at EL2.
      // max_order is 0 for a 1-page pool (v5.13) or when the 32-bit shift
      // wraps to a single page.
      throw new KernelBugError(
        "hyp_pool_init",
        `Cannot init ${what} with ${o.nrPages} pages (${
          o.nrPages - o.reservedPages
        } free): max_order is 0` +
          (o.nrPages >= 2 ** 20 ? ` (nr_pages << PAGE_SHIFT wraps in 32 bits)` : "") +
          `, so free_area[0] is never initialised and list_add_tail() dereferences NULL ` +
          `(${layout.version})`,
      );
    }
    const nIds = this.#nr + this.layout.nrFreeAreas;
    this.#extBase = nIds;
    this.#count = new Int32Array(this.layout.nrFreeAreas);
    const key = `${layout.version}:${this.#entVa}:${this.#nr}:${this.#esz}`;
    let last = LAST_POOL.get(o.memory);
    if (last === undefined) LAST_POOL.set(o.memory, last = new Map());
    const donor = last.get(key);
    if (donor !== undefined && donor.#vmB !== undefined) {
      // The same pages of the same memory: the same views.
      this.#vmB = donor.#vmB;
      this.#vmW = donor.#vmW;
      this.#vmOff = donor.#vmOff;
    }
    let vmemmapImage: Uint8Array | undefined;
    // Checked before anything changes: a refused init leaves the last pool usable.
    if (!this.#v513) vmemmapImage = this.#checkMainlineVmemmap();
    if (donor !== undefined && donor.#next.length === nIds + 8) {
      this.#ref = donor.#ref.fill(0);
      this.#ord = donor.#ord.fill(0);
      this.#next = donor.#next;
      this.#prev = donor.#prev;
      donor.#broken = new Superseded(o.name);
    } else {
      if (donor !== undefined) donor.#broken = new Superseded(o.name);
      this.#ref = new Uint32Array(this.#nr);
      this.#ord = new Uint8Array(this.#nr);
      this.#next = new Int32Array(nIds + 8);
      this.#prev = new Int32Array(nIds + 8);
    }
    last.set(key, this);
    this.#buildInitialShadow();
    this.#writeInitialImage(vmemmapImage);
    this.#viewVmemmap();
    if (!this.#v513) this.splitPage = (va: number) => this.#splitPage(va);
  }

  // ---------------------------------------------------------------- public

  /**
   * `hyp_alloc_pages(pool, order)`: the first block of the smallest
   * non-empty order ≥ `order`, split down by appending the upper halves.
   *
   * @param order Block order.
   * @returns Hyp VA of a zeroed block, or null.
   * @throws {RangeError} `order` is not a non-negative integer.
   * @throws {KernelBugError} The chosen page's refcount is not 0
   *   (`hyp_set_page_refcounted`), or an external page of a higher order would
   *   need splitting (NULL buddy); the pool is unchanged.
   */
  allocPages(order: number): number | null {
    if (this.#broken !== undefined) this.#usable();
    // A u32 passes the fast check; any other integer order is too big (null).
    if ((order >>> 0) !== order) this.#badOrder(order);
    if (order > this.maxAllocOrder) {
      this.#failed++;
      return null;
    }
    // Smallest non-empty free_area[i], order <= i <= max (one bit per list;
    // no list above the largest allocatable order is ever filled).
    const mask = this.#nonEmpty & (-1 << order);
    if (mask === 0) {
      this.#failed++;
      return null;
    }
    const i = 31 - Math.clz32(mask & -mask);
    const id = this.#next[this.#nr + i]!;
    if (id >= this.#extBase) return this.#allocExternal(id, i, order);
    if (this.#ref[id] !== 0) this.#refcountedBug(id);
    // The first upper half split off is the highest: past range_end,
    // __find_buddy_nocheck() gives NULL (a block that straddles a wrapped
    // range_end, v5.13 and 6.1).
    if (i !== order && id + (1 << (i - 1)) >= this.#endId) this.#splitPastEndBug(id, i);
    try {
      if (this.#v513) {
        if (this.#vmW !== undefined) this.#extract513P(id, i, order);
        else this.#extract513(id, i, order);
      } else this.#extractMl(id, i, order);
    } catch (e) {
      this.#broken = e;
      throw e;
    }
    this.#allocs++;
    if (this.#trace !== undefined) this.#emit("alloc", this.#pa(id), order);
    return this.#baseVa + id * 4096;
  }

  /**
   * `hyp_get_page(pool, addr)`: takes a reference.
   *
   * @param va Hyp VA of a page (mainline: any page with a vmemmap entry).
   * @throws {KernelBugError} The refcount is at its maximum (65535 mainline;
   *   v5.13's u32 would wrap to 0, which hyplab stops), or (v5.13) the page
   *   is outside the pool.
   */
  getPage(va: number): void {
    this.#usable();
    const id = this.#pageIndex(va, "hyp_get_page");
    if (id < 0) return this.#getExternal(va);
    const rc = this.#ref[id]!;
    if (rc >= this.#refMax) {
      throw new KernelBugError(
        "hyp_get_page",
        `Cannot get page ${hex(this.#pa(id))} of pool "${this.name}": refcount is ${rc}, ` +
          (this.#v513
            ? `the u32 would wrap to 0 (v5.13 has no BUG_ON here; hyplab stops it)`
            : `the maximum (BUG_ON(p->refcount == USHRT_MAX))`),
      );
    }
    try {
      this.#setRef(id, rc + 1);
    } catch (e) {
      this.#broken = e;
      throw e;
    }
    this.#gets++;
  }

  /**
   * Up to `n` {@link HypPool.getPage} calls on the page holding `va` at
   * once (hyplab's batched `get_page` for table walkers installing a run of
   * entries in one page): the refcount ends where that many calls leave it,
   * written once. Stops, without a throw, before the first call that would
   * fail (at the refcount's maximum), and takes none for a page outside the
   * range (the caller then calls `getPage` itself, which fails or takes the
   * external path as it does one by one). Each reference's refcount store is
   * made, as the kernel's `hyp_page_ref_inc` makes it (through the MMU where
   * the vmemmap is reached that way, so translation counts stay the same).
   *
   * @param va Hyp VA of a page.
   * @param n References wanted.
   * @returns References taken (0..n).
   */
  getPages(va: number, n: number): number {
    this.#usable();
    const id = this.#pageIndex(va, "hyp_get_page");
    if (id < 0) return 0;
    const rc = this.#ref[id]!;
    const k = Math.min(n, this.#refMax - rc);
    if (k <= 0) return 0;
    try {
      for (let i = 1; i <= k; i++) {
        this.#setRef(id, rc + i);
        this.#gets++;
      }
    } catch (e) {
      this.#broken = e;
      throw e;
    }
    return k;
  }

  /**
   * `hyp_put_page(pool, addr)`: drops a reference; at zero the block is
   * zeroed, coalesced with free buddies and appended to its list's tail.
   *
   * @param va Hyp VA of a page (mainline: a page outside the range takes the
   *   external-page path: queued at its order, never coalesced).
   * @throws {KernelBugError} Refcount already 0 (double free); the page is a
   *   tail (`NO_ORDER`) or already on a free list; (v5.13) outside the pool.
   *   The pool is unchanged.
   */
  putPage(va: number): void {
    if (this.#broken !== undefined) this.#usable();
    const id = this.#pageIndex(va, "hyp_put_page");
    if (id < 0) return this.#putExternal(va);
    const rc = this.#ref[id]!;
    if (rc !== 1) {
      if (rc === 0) this.#doubleFreeBug(id);
      try {
        this.#setRef(id, rc - 1);
      } catch (e) {
        this.#broken = e;
        throw e;
      }
      this.#puts++;
      return;
    }
    const order = this.#ord[id]!;
    if (order === NO || this.#listed(id)) this.#attachBug(id, order);
    try {
      // hyp_page_ref_dec_and_test() stores the refcount before
      // __hyp_attach_page's memset.
      if (this.#v513) {
        if (this.#vmW !== undefined) this.#attach513P(id, order);
        else {
          this.#setRef(id, 0);
          this.#attach513(id, order);
        }
      } else {
        this.#setRef(id, 0);
        if (id >= this.#endId && this.#extSkip) this.#attachAboveEnd(id, order);
        else this.#attachMl(id, order);
      }
    } catch (e) {
      this.#broken = e;
      throw e;
    }
    this.#puts++;
  }

  /**
   * `hyp_page_count(addr)`.
   *
   * @param va Hyp VA of a page.
   * @returns The refcount.
   */
  pageCount(va: number): number {
    this.#usable();
    const id = this.#pageIndex(va, "hyp_page_count");
    if (id >= 0) return this.#ref[id]!;
    return this.#mem.read16(this.#extEntry(va));
  }

  /** Returns: Counters and the free-list shape (`freeBlocksByOrder` has 11 entries). */
  stats(): PagePoolStats {
    return {
      nrPages: this.#nr,
      reserved: this.reservedPages,
      free: this.#free,
      freeBlocksByOrder: Array.from(this.#count),
      allocs: this.#allocs,
      failedAllocs: this.#failed,
      frees: this.#frees,
      gets: this.#gets,
      puts: this.#puts,
      metadataBytesPerPage: this.#esz,
    };
  }

  /**
   * The free list of one order, in list order (the first is handed out next).
   *
   * @param order List index.
   * @returns PAs of the block heads.
   * @throws {HyplabError} A later pool was initialised over this one's vmemmap.
   */
  freeList(order: number): number[] {
    if (this.#broken instanceof Superseded) this.#usable();
    const out: number[] = [];
    if (!(order >= 0 && order < this.layout.nrFreeAreas)) return out;
    const h = this.#nr + order;
    for (let id = this.#next[h]!; id !== h; id = this.#next[id]!) {
      out.push(id >= this.#extBase ? this.#extPfn[id - this.#extBase]! * PAGE_SIZE : this.#pa(id));
    }
    return out;
  }

  /**
   * The pool's invariants (free blocks, page coverage, refcounts, zeroed
   * free memory; see invariants.ts) over the kernel's bytes in memory, and
   * their agreement with the shadow.
   *
   * @param options `contents: false` skips the zeroed-memory check.
   * @returns The first violation (naming page and order), or undefined.
   */
  checkInvariants(options: InvariantCheckOptions = {}): string | undefined {
    if (this.#broken instanceof Superseded) return this.#supersededText();
    if (this.#broken !== undefined) {
      return `pool is unusable after a fault: ${errText(this.#broken)}`;
    }
    return checkBuddyInvariants(this.#view(), options);
  }

  // ---------------------------------------------------------------- helpers

  #supersededText(): string {
    const by = (this.#broken as Superseded).by;
    return `hyp_pool_init ran again over its vmemmap range (pool "${by}"), so its free lists ` +
      `are no longer what memory holds`;
  }

  #usable(): void {
    if (this.#broken instanceof Superseded) {
      throw new HyplabError(`Cannot use pool "${this.name}": ${this.#supersededText()}`);
    }
    if (this.#broken !== undefined) {
      throw new HyplabError(
        `Cannot use pool "${this.name}": an earlier EL2 access faulted in the middle of an ` +
          `operation (${errText(this.#broken)}); the hypervisor would have panicked`,
        { cause: this.#broken },
      );
    }
  }

  #pa(id: number): number {
    return this.rangeStart + id * PAGE_SIZE;
  }

  /** Page index of a VA in the range; -1 for a mainline external page. */
  #pageIndex(va: number, fn: string): number {
    if (!Number.isSafeInteger(va)) {
      throw new TypeError(`Cannot use ${va} as a hyp VA in ${fn}: not an integer`);
    }
    const off = va - this.#baseVa;
    if (off >= 0 && off < this.#nr * 4096) return Math.floor(off / 4096);
    if (this.#v513) {
      throw new KernelBugError(
        fn,
        `Cannot use hyp VA ${hex(va)}: outside pool "${this.name}" [${hex(this.rangeStart)}, ${
          hex(this.rangeEnd)
        }) (its hyp_page->pool is not this pool)`,
      );
    }
    return -1;
  }

  #listed(id: number): boolean {
    const n = this.#next[id]!;
    return n >= 0 && n !== id;
  }

  /** The value a link to node(id) holds: its hyp VA (0 for -1, a zeroed node). */
  #nodeVa(id: number): number {
    // Pages first and inline: the hot paths call this on every link.
    if (id < this.#nr && id >= 0) return this.#nodeBase + id * this.#nodeStride;
    // Then the free_area[] heads, the other neighbour of most list stores.
    if (id < this.#extBase && id >= 0) return this.#headVa + (id - this.#nr) * 16;
    return this.#nodeVaSlow(id);
  }

  #nodeVaSlow(id: number): number {
    if (id < 0) return 0;
    if (id < this.#extBase) return this.#headVa + (id - this.#nr) * 16;
    return this.#p2v(this.#extPfn[id - this.#extBase]! * PAGE_SIZE);
  }

  /** Stores a 64-bit pointer, skipping the halves that already hold it. */
  #writePtr(addr: number, nv: number, ov: number, force: boolean): void {
    if (!force && nv === ov) return;
    const nlo = nv >>> 0;
    const nhi = Math.floor(nv / TWO32);
    if (force || nlo !== (ov >>> 0)) this.#mem.write32(addr, nlo);
    if (force || nhi !== Math.floor(ov / TWO32)) this.#mem.write32(addr + 4, nhi);
  }

  /** Writes node(id).next / .prev (field 0 / 8) unless the node is an off-machine head. */
  #writeLink(id: number, field: 0 | 8, target: number, old: number, force: boolean): void {
    if (target === old && !force) return;
    if (!this.onMachine && id >= this.#nr && id < this.#extBase) return;
    this.#writePtr(
      this.#nodeVa(id) + field,
      this.#nodeVa(target),
      force ? 0 : this.#nodeVa(old),
      force,
    );
  }

  // ------------------------------------------------------------ hot paths
  //
  // One copy per version: the stores differ (v5.13's list node is in the
  // 32-byte vmemmap entry, mainline's in the free page), and separate code
  // keeps each version's JIT feedback its own when both run in a process.
  // Decisions come from the shadow; then each field the kernel stores is
  // stored from it, and no other: a list operation writes the links it
  // changes (one pointer of a neighbour, both of the node itself), so bytes
  // written behind the pool's back stay for checkInvariants() to report.
  // Entries in a pinned vmemmap (rangeView) are typed-array stores.

  /** Puts node(id)'s next and prev, as stored, in words k..k+3 of `w`. */
  #linkWords(w: Uint32Array, k: number, id: number): void {
    const nv = this.#nodeVa(this.#next[id]!);
    const pv = this.#nodeVa(this.#prev[id]!);
    // The high half of a VA below 2^53 is exact as (va / 2^32) >>> 0.
    putPtr(w, k, nv);
    putPtr(w, k + 2, pv);
  }

  /**
   * Stores node(id)'s `next` (part 0), `prev` (part 1) or both (part 2)
   * from the shadow: a v5.13 page's node in its vmemmap entry, a mainline
   * page's in the page, a list head in `struct hyp_pool` (nothing when that
   * is off the machine), an external page's in the page.
   */
  #storeLinks(id: number, part: 0 | 1 | 2): void {
    // Small enough for TurboFan to inline into every list operation (the
    // whole function is not): the two cases that need no accessor call, an
    // off-machine head (nothing to store) and a v5.13 node in a pinned
    // vmemmap page (typed-array stores), are handled here.
    if (id >= this.#nr) {
      if (!this.onMachine && id < this.#extBase) return;
    } else if (this.#vmW !== undefined && this.#v513) {
      const page = this.#vmW;
      const k = (this.#vmOff + id * 32 + 16) >>> 2;
      // The high half of a VA below 2^53 is exact as (va / 2^32) >>> 0.
      if (part !== 1) {
        const nv = this.#nodeVa(this.#next[id]!);
        putPtr(page, k, nv);
      }
      if (part !== 0) {
        const pv = this.#nodeVa(this.#prev[id]!);
        putPtr(page, k + 2, pv);
      }
      return;
    }
    this.#storeLinksVia(id, part);
  }

  /** {@link #storeLinks} through the accessor. */
  #storeLinksVia(id: number, part: 0 | 1 | 2): void {
    const w = this.#img;
    let at: number;
    if (id < this.#nr) {
      at = this.#v513 ? this.#entVa + id * 32 + 16 : this.#baseVa + id * 4096;
    } else if (id < this.#extBase) {
      at = this.#headVa + (id - this.#nr) * 16;
    } else {
      at = this.#p2v(this.#extPfn[id - this.#extBase]! * 4096);
    }
    this.#linkWords(w, 0, id);
    const mem = this.#mem;
    if (this.#bulk) {
      if (part === 2) mem.writeBytes!(at, this.#img16);
      else if (part === 0) mem.writeBytes!(at, this.#img8lo);
      else mem.writeBytes!(at + 8, this.#img8hi);
      return;
    }
    for (let j = part === 1 ? 2 : 0; j < (part === 0 ? 2 : 4); j++) mem.write32(at + j * 4, w[j]!);
  }

  /**
   * list_add_tail(node(id), &free_area[order]), storing as __list_add does:
   * head->prev, new->next and ->prev, old tail->next. With `zeroing` (a
   * mainline free), the block's memset and node(id) go out as one store,
   * first, as the memset precedes the insertion in __hyp_attach_page.
   */
  #listAdd(id: number, order: number, zeroing = 0): void {
    const h = this.#nr + order;
    const next = this.#next;
    const prev = this.#prev;
    const last = prev[h]!;
    prev[h] = id;
    next[id] = h;
    prev[id] = last;
    next[last] = id;
    if (zeroing !== 0) {
      const va = this.#baseVa + id * 4096;
      const mem = this.#mem;
      if (mem.zeroThenWrite !== undefined && this.#bulk) {
        this.#linkWords(this.#img, 0, id);
        mem.zeroThenWrite(va, zeroing, this.#img16);
      } else {
        mem.zero(va, zeroing);
        this.#storeLinks(id, 2);
      }
      // A head's node is stored only when struct hyp_pool is on the machine.
      if (this.onMachine) this.#storeLinksVia(h, 1);
    } else {
      if (this.onMachine) this.#storeLinksVia(h, 1);
      this.#storeLinks(id, 2);
    }
    if (last !== h || this.onMachine) this.#storeLinks(last, 0);
    this.#count[order]!++;
    this.#nonEmpty |= 1 << order;
    this.#free += 1 << order;
  }

  /**
   * __list_del_entry(node(id)) from free_area[order]: next->prev, then
   * prev->next. The node itself is the caller's (list_del_init, or
   * page_remove_from_list's memset).
   */
  #listDel(id: number, order: number): void {
    const next = this.#next;
    const prev = this.#prev;
    const n = next[id]!;
    const p = prev[id]!;
    prev[n] = p;
    next[p] = n;
    // Stored in the kernel's order (next->prev, then prev->next); an
    // off-machine head stores nothing.
    const all = this.onMachine;
    if (all || n < this.#nr || n >= this.#extBase) this.#storeLinks(n, 1);
    if (all || p < this.#nr || p >= this.#extBase) this.#storeLinks(p, 0);
    if (--this.#count[order]! === 0) this.#nonEmpty &= ~(1 << order);
    this.#free -= 1 << order;
  }

  #setRef(id: number, v: number): void {
    this.#ref[id] = v;
    const off = this.#vmOff + id * this.#esz;
    if (this.#v513) {
      const vm = this.#vmW;
      if (vm === undefined) this.#mem.write32(this.#entVa + id * 32, v);
      else vm[off >>> 2] = v;
    } else {
      const vm = this.#vmB;
      if (vm === undefined) return this.#mem.write16(this.#entVa + id * this.#esz, v);
      vm[off] = v;
      vm[off + 1] = v >>> 8;
    }
  }

  #setOrder(id: number, o: number): void {
    if (this.#v513) this.#order513(id, o);
    else this.#orderMl(id, o);
  }
  // v5.13 ----------------------------------------------------------------

  /** list_del_init(&p->node): unlink, then the node points at itself. */
  #del513(id: number, order: number): void {
    this.#listDel(id, order);
    this.#next[id] = id;
    this.#prev[id] = id;
    this.#storeLinks(id, 2);
  }

  /** A page's `unsigned int order`. */
  #order513(id: number, o: number): void {
    this.#ord[id] = o;
    const v = o === NO ? 0xffff_ffff : o;
    const vm = this.#vmW;
    if (vm === undefined) return this.#mem.write32(this.#entVa + id * 32 + 4, v);
    vm[(this.#vmOff + id * 32 + 4) >>> 2] = v;
  }

  /**
   * v5.13 __hyp_extract_page and hyp_set_page_refcounted: list_del_init,
   * split keeping the lower half (each upper half's order, then
   * list_add_tail), then refcount 1. The kernel steps `p->order` down one
   * by one; its final value is stored once (the same bytes).
   */
  #extract513(id: number, i: number, order: number): void {
    this.#del513(id, i);
    let cur = i;
    while (cur > order) {
      cur--;
      const b = id + (1 << cur);
      this.#order513(b, cur);
      this.#listAdd(b, cur);
    }
    if (i !== order) this.#order513(id, order);
    this.#setRef(id, 1);
  }

  /**
   * v5.13 __hyp_attach_page (refcount already 0): zero the block, coalesce
   * with each free buddy of the same order while `order + 1 < max_order`
   * (list_del_init, NO_ORDER, p = min(p, buddy)), then the head's order and
   * list_add_tail. The page's own NO_ORDER is stored only when it does not
   * end up the head (the head's order is stored last either way).
   */
  #attach513(id: number, order: number): void {
    const ord = this.#ord;
    const next = this.#next;
    let head = id;
    let o = order;
    while (o < this.#capOrder) {
      const low = this.#lowBits + head;
      const b = head + ((low ^ (1 << o)) - low);
      if (b < 0 || b >= this.#endId || ord[b] !== o || next[b] === b) break;
      head = head < b ? head : b;
      o++;
    }
    this.#mem.zero(this.#baseVa + id * 4096, 4096 << order);
    if (id !== head) this.#order513(id, NO);
    let cur = id;
    for (let k = order; k < o; k++) {
      const low = this.#lowBits + cur;
      const b = cur + ((low ^ (1 << k)) - low);
      this.#del513(b, k);
      if (b !== head) this.#order513(b, NO);
      cur = cur < b ? cur : b;
    }
    this.#order513(head, o);
    this.#listAdd(head, o);
    this.#frees += 1 << order;
    if (this.#trace !== undefined) this.#emit("free", this.#pa(id), order);
  }

  // v5.13, pinned vmemmap ----------------------------------------------
  //
  // The same stores as #extract513 / #attach513, in the same order, when
  // the vmemmap is one pinned view (a linear map): every field of a page's
  // entry is a typed-array store at a known word, so the whole operation is
  // one function over local numbers (no call per link, no part switch). A
  // node's VA is `nb + id * 32` for a page, `hb + id * 16` for a
  // free_area[] head (v5.13 has no external pages); only a head in an
  // on-machine `struct hyp_pool` goes through the accessor.

  /** v5.13 __hyp_extract_page + hyp_set_page_refcounted over the pinned vmemmap. */
  #extract513P(id: number, i: number, order: number): void {
    const w = this.#vmW!;
    // Word of entry 0's node (`next` low half); refcount at -4, order at -3.
    const e0 = (this.#vmOff >>> 2) + 4;
    this.#delInitP(id);
    const ki = e0 + id * 8;
    const count = this.#count;
    if (--count[i]! === 0) this.#nonEmpty &= ~(1 << i);
    let free = this.#free - (1 << i);
    let nonEmpty = this.#nonEmpty;
    // Split, keeping the lower half: each upper half's order, then
    // list_add_tail(&buddy->node, &free_area[cur]).
    const ord = this.#ord;
    for (let cur = i - 1; cur >= order; cur--) {
      const b = id + (1 << cur);
      ord[b] = cur;
      const kb = e0 + b * 8;
      w[kb - 3] = cur;
      this.#addTailP(b, cur);
      count[cur]!++;
      nonEmpty |= 1 << cur;
      free += 1 << cur;
    }
    this.#nonEmpty = nonEmpty;
    this.#free = free;
    if (i !== order) {
      ord[id] = order;
      w[ki - 3] = order;
    }
    this.#ref[id] = 1;
    w[ki - 4] = 1;
  }

  /**
   * v5.13 hyp_put_page's last reference over the pinned vmemmap: refcount
   * 0, then __hyp_attach_page (see {@link #attach513}).
   */
  #attach513P(id: number, order: number): void {
    const next = this.#next;
    const ord = this.#ord;
    const w = this.#vmW!;
    const e0 = (this.#vmOff >>> 2) + 4;
    const lowBits = this.#lowBits;
    const endId = this.#endId;
    const cap = this.#capOrder;
    this.#ref[id] = 0;
    w[e0 + id * 8 - 4] = 0;
    let head = id;
    let o = order;
    while (o < cap) {
      const low = lowBits + head;
      const b = head + ((low ^ (1 << o)) - low);
      if (b < 0 || b >= endId || ord[b] !== o || next[b] === b) break;
      head = head < b ? head : b;
      o++;
    }
    this.#mem.zero(this.#baseVa + id * 4096, 4096 << order);
    if (id !== head) {
      ord[id] = NO;
      w[e0 + id * 8 - 3] = 0xffff_ffff;
    }
    const count = this.#count;
    let nonEmpty = this.#nonEmpty;
    let free = this.#free;
    let cur = id;
    for (let k = order; k < o; k++) {
      const low = lowBits + cur;
      const b = cur + ((low ^ (1 << k)) - low);
      this.#delInitP(b);
      if (--count[k]! === 0) nonEmpty &= ~(1 << k);
      free -= 1 << k;
      if (b !== head) {
        ord[b] = NO;
        w[e0 + b * 8 - 3] = 0xffff_ffff;
      }
      cur = cur < b ? cur : b;
    }
    ord[head] = o;
    const kh = e0 + head * 8;
    w[kh - 3] = o;
    this.#addTailP(head, o);
    count[o]!++;
    this.#nonEmpty = nonEmpty | (1 << o);
    this.#free = free + (1 << o);
    this.#frees += 1 << order;
    if (this.#trace !== undefined) this.#emit("free", this.#pa(id), order);
  }

  /**
   * list_del_init(&p->node) over the pinned vmemmap: next->prev, prev->next
   * (a free_area[] head in an on-machine pool through the accessor), then
   * the node pointing at itself. The one copy of it the pinned paths use.
   */
  #delInitP(id: number): void {
    const next = this.#next;
    const prev = this.#prev;
    const w = this.#vmW!;
    const nr = this.#nr;
    const e0 = (this.#vmOff >>> 2) + 4;
    const nb = this.#nodeBase;
    const hb = this.#headVa - nr * 16;
    const n = next[id]!;
    const p = prev[id]!;
    prev[n] = p;
    next[p] = n;
    if (n < nr) {
      const v = p < nr ? nb + p * 32 : hb + p * 16;
      const k = e0 + n * 8 + 2;
      putPtr(w, k, v);
    } else if (this.onMachine) this.#storeLinksVia(n, 1);
    if (p < nr) {
      const v = n < nr ? nb + n * 32 : hb + n * 16;
      const k = e0 + p * 8;
      putPtr(w, k, v);
    } else if (this.onMachine) this.#storeLinksVia(p, 0);
    next[id] = id;
    prev[id] = id;
    const k = e0 + id * 8;
    const self = nb + id * 32;
    putPtr(w, k, self);
    putPtr(w, k + 2, self);
  }

  /**
   * list_add_tail(&p->node, &free_area[order]) over the pinned vmemmap: the
   * head's prev (through the accessor when the pool is on the machine), the
   * node's next and prev, then the old last node's next.
   */
  #addTailP(id: number, order: number): void {
    const next = this.#next;
    const prev = this.#prev;
    const w = this.#vmW!;
    const nr = this.#nr;
    const e0 = (this.#vmOff >>> 2) + 4;
    const nb = this.#nodeBase;
    const hb = this.#headVa - nr * 16;
    const h = nr + order;
    const last = prev[h]!;
    prev[h] = id;
    next[id] = h;
    prev[id] = last;
    next[last] = id;
    if (this.onMachine) this.#storeLinksVia(h, 1);
    const k = e0 + id * 8;
    const hv = hb + h * 16;
    putPtr(w, k, hv);
    const lv = last < nr ? nb + last * 32 : hv;
    putPtr(w, k + 2, lv);
    if (last < nr) {
      const v = nb + id * 32;
      const kl = e0 + last * 8;
      putPtr(w, kl, v);
    } else if (this.onMachine) this.#storeLinksVia(last, 0);
  }

  // mainline -------------------------------------------------------------

  /** page_remove_from_list(): __list_del_entry, then memset(node, 0, 16). */
  #delMl(id: number, order: number, clear = true): void {
    this.#listDel(id, order);
    if (clear) {
      this.#mem.zero(this.#nodeVa(id), 16);
      this.#next[id] = -1;
      this.#prev[id] = -1;
    }
  }

  /**
   * The `order` field of a page's entry: a u16 at offset 2 in 6.1 and 6.12
   * (`HYP_NO_ORDER` is USHRT_MAX), a u8 at offset 2 from 7.x.
   */
  #orderMl(id: number, o: number): void {
    this.#ord[id] = o;
    const v = o === NO ? this.#noOrder : o;
    const vm = this.#vmB;
    if (vm === undefined) {
      const at = this.#entVa + id * this.#esz + 2;
      return this.#esz === 8 ? this.#mem.write8(at, v) : this.#mem.write16(at, v);
    }
    const k = this.#vmOff + id * this.#esz + 2;
    vm[k] = v;
    if (this.#esz !== 8) vm[k + 1] = v >>> 8;
  }

  // One function per operation: the list bookkeeping on local numbers, and
  // each link the kernel stores as one accessor call (a node's two pointers
  // as one 16-byte store), in the kernel's order.

  /** A mainline node's VA: the page itself, a free_area[] head, an external page. */
  #vaMl(x: number): number {
    return x < this.#nr ? this.#baseVa + x * 4096 : this.#nodeVaSlow(x);
  }

  /** Stores `v` at node(x) + `field` (0: next, 8: prev); an off-machine head stores nothing. */
  #putLinkMl(x: number, field: number, v: number): void {
    let at: number;
    if (x < this.#nr) at = this.#baseVa + x * 4096;
    else if (x < this.#extBase) {
      if (!this.onMachine) return;
      at = this.#headVa + (x - this.#nr) * 16;
    } else at = this.#p2v(this.#extPfn[x - this.#extBase]! * 4096);
    const w = this.#img;
    putPtr(w, 0, v);
    if (this.#bulk) this.#mem.writeBytes!(at + field, this.#img8lo);
    else {
      this.#mem.write32(at + field, w[0]!);
      this.#mem.write32(at + field + 4, w[1]!);
    }
  }

  /** Stores page node(x) whole (`next`, `prev`) through the accessor. */
  #putNodeMl(x: number, nv: number, pv: number): void {
    const at = this.#baseVa + x * 4096;
    const w = this.#img;
    putPtr(w, 0, nv);
    putPtr(w, 2, pv);
    if (this.#bulk) this.#mem.writeBytes!(at, this.#img16);
    else for (let j = 0; j < 4; j++) this.#mem.write32(at + j * 4, w[j]!);
  }

  /**
   * Mainline __hyp_extract_page and hyp_set_page_refcounted (see
   * {@link BuddyPool.allocPages}): page_remove_from_list, then each upper
   * half's order and page_add_to_list; `p->order` is stored once, at its
   * final value, then the refcount.
   */
  #extractMl(id: number, i: number, order: number): void {
    const next = this.#next;
    const prev = this.#prev;
    const nr = this.#nr;
    const on = this.onMachine;
    // __list_del_entry: next->prev, then prev->next; then memset(node, 0, 16).
    const n = next[id]!;
    const p = prev[id]!;
    prev[n] = p;
    next[p] = n;
    this.#putLinkMl(n, 8, this.#vaMl(p));
    this.#putLinkMl(p, 0, this.#vaMl(n));
    const count = this.#count;
    if (--count[i]! === 0) this.#nonEmpty &= ~(1 << i);
    this.#free -= 1 << i;
    this.#mem.zero(this.#baseVa + id * 4096, 16);
    next[id] = -1;
    prev[id] = -1;
    if (i !== order) {
      const hb = this.#headVa - nr * 16;
      const bv = this.#baseVa;
      let nonEmpty = this.#nonEmpty;
      let free = this.#free;
      for (let cur = i - 1; cur >= order; cur--) {
        const b = id + (1 << cur);
        this.#orderMl(b, cur);
        // list_add_tail: head->prev, new->next and ->prev, old tail->next.
        const h = nr + cur;
        const last = prev[h]!;
        prev[h] = b;
        next[b] = h;
        prev[b] = last;
        next[last] = b;
        const va = bv + b * 4096;
        if (on) this.#putLinkMl(h, 8, va);
        this.#putNodeMl(b, hb + h * 16, last === h ? hb + h * 16 : this.#vaMl(last));
        if (last !== h || on) this.#putLinkMl(last, 0, va);
        count[cur]!++;
        nonEmpty |= 1 << cur;
        free += 1 << cur;
      }
      this.#nonEmpty = nonEmpty;
      this.#free = free;
      this.#orderMl(id, order);
    }
    this.#setRef(id, 1);
  }

  /**
   * Mainline __hyp_attach_page for a page below `range_end` (refcount
   * already 0): zero the block, coalesce with each free buddy (refcount 0,
   * same order) while `order + 1 <= max_order`, buddies NO_ORDER with their
   * nodes cleared, then the head's order and page_add_to_list. A buddy that
   * ends up the head keeps its node until list_add_tail rewrites it.
   */
  #attachMl(id: number, order: number): void {
    const ord = this.#ord;
    const ref = this.#ref;
    const next = this.#next;
    const prev = this.#prev;
    const nr = this.#nr;
    const on = this.onMachine;
    const lowBits = this.#lowBits;
    const endId = this.#endId;
    const cap = this.#capOrder;
    let head = id;
    let o = order;
    while (o < cap) {
      const low = lowBits + head;
      const b = head + ((low ^ (1 << o)) - low);
      if (b < 0 || b >= endId || ord[b] !== o || ref[b] !== 0) break;
      head = head < b ? head : b;
      o++;
    }
    const count = this.#count;
    const hv = this.#headVa + o * 16;
    const h = nr + o;
    if (o === order) {
      // No buddy to take: the order (unchanged, but stored as the kernel's
      // `p->order = order` does), then the memset and the node as one
      // store, then the neighbours' links.
      this.#orderMl(id, o);
      const last = prev[h]!;
      prev[h] = id;
      next[id] = h;
      prev[id] = last;
      next[last] = id;
      const va = this.#baseVa + id * 4096;
      const mem = this.#mem;
      if (mem.zeroThenWrite !== undefined && this.#bulk) {
        const w = this.#img;
        const lv = last === h ? hv : this.#vaMl(last);
        putPtr(w, 0, hv);
        putPtr(w, 2, lv);
        mem.zeroThenWrite(va, 4096 << order, this.#img16);
      } else {
        mem.zero(va, 4096 << order);
        this.#putNodeMl(id, hv, last === h ? hv : this.#vaMl(last));
      }
      if (on) this.#putLinkMl(h, 8, va);
      if (last !== h || on) this.#putLinkMl(last, 0, va);
    } else {
      this.#mem.zero(this.#baseVa + id * 4096, 4096 << order);
      if (id !== head) this.#orderMl(id, NO);
      let nonEmpty = this.#nonEmpty;
      let free = this.#free;
      let cur = id;
      for (let k = order; k < o; k++) {
        const low = lowBits + cur;
        const b = cur + ((low ^ (1 << k)) - low);
        // page_remove_from_list(buddy): __list_del_entry, then the node's
        // memset (a buddy that becomes the head is rewritten below).
        const n = next[b]!;
        const p = prev[b]!;
        prev[n] = p;
        next[p] = n;
        if (on || n < nr || n >= this.#extBase) this.#putLinkMl(n, 8, this.#vaMl(p));
        if (on || p < nr || p >= this.#extBase) this.#putLinkMl(p, 0, this.#vaMl(n));
        if (--count[k]! === 0) nonEmpty &= ~(1 << k);
        free -= 1 << k;
        if (b !== head) {
          this.#mem.zero(this.#baseVa + b * 4096, 16);
          next[b] = -1;
          prev[b] = -1;
          this.#orderMl(b, NO);
        }
        cur = cur < b ? cur : b;
      }
      this.#nonEmpty = nonEmpty;
      this.#free = free;
      this.#orderMl(head, o);
      const last = prev[h]!;
      prev[h] = head;
      next[head] = h;
      prev[head] = last;
      next[last] = head;
      const va = this.#baseVa + head * 4096;
      if (on) this.#putLinkMl(h, 8, va);
      this.#putNodeMl(head, hv, last === h ? hv : this.#vaMl(last));
      if (last !== h || on) this.#putLinkMl(last, 0, va);
    }
    count[o]!++;
    this.#nonEmpty |= 1 << o;
    this.#free += 1 << o;
    this.#frees += 1 << order;
    if (this.#trace !== undefined) this.#emit("free", this.#pa(id), order);
  }

  /**
   * 6.9+ __hyp_attach_page for a page of the pool at or above a wrapped
   * `range_end`: an 'external' page, zeroed and queued at its order (7.x:
   * forced to order 0), never coalesced.
   */
  #attachAboveEnd(id: number, order: number): void {
    const o = this.layout.externalPages === "order-0" ? 0 : order;
    this.#orderMl(id, o);
    this.#listAdd(id, o, 4096 << o);
    this.#frees += 1 << o;
    if (this.#trace !== undefined) this.#emit("free", this.#pa(id), o);
  }

  /** Emits an `alloc` / `free` trace event when the trace wants it. */
  #emit(kind: "alloc" | "free", pa: number, order: number): void {
    const tr = this.#trace!;
    if (!tr.wants(kind)) return;
    tr.emit(kind, { allocator: this.allocatorName, pool: this.name, pa: hex(pa), order });
  }

  /** Throws for an order that is not a non-negative integer; a larger integer passes. */
  #badOrder(order: number): void {
    if (Number.isInteger(order) && order >= 0) return;
    throw new RangeError(
      `Cannot allocate order ${order} from pool "${this.name}": order must be a non-negative integer`,
    );
  }

  #splitPastEndBug(id: number, i: number): never {
    const half = id + (1 << (i - 1));
    throw new KernelBugError(
      "__hyp_extract_page",
      `Cannot split block ${hex(this.#pa(id))} of order ${i} in pool "${this.name}": its upper ` +
        `half ${hex(this.#pa(half))} lies at or above range_end ${hex(this.kernelRangeEnd)} ` +
        `(nr_pages << PAGE_SHIFT wrapped in 32 bits), so __find_buddy_nocheck() returns NULL ` +
        `and EL2 dereferences it`,
    );
  }

  #refcountedBug(id: number): never {
    throw new KernelBugError(
      "hyp_set_page_refcounted",
      `Cannot hand out page ${hex(this.#pa(id))} of pool "${this.name}": refcount is ${
        this.#ref[id]
      }, not 0 (a reference was taken on a free page)`,
    );
  }

  #doubleFreeBug(id: number): never {
    throw new KernelBugError(
      "hyp_put_page",
      `Cannot put page ${hex(this.#pa(id))} of pool "${this.name}": refcount is 0 (double free?)` +
        (this.#v513 ? `; v5.13 has no BUG_ON here and would wrap the u32, hyplab stops it` : ""),
    );
  }

  #attachBug(id: number, order: number): never {
    if (order === NO) {
      throw new KernelBugError(
        "__hyp_attach_page",
        `Cannot free page ${hex(this.#pa(id))} of pool "${this.name}": it is a tail page ` +
          `(order HYP_NO_ORDER), freeing it would index free_area[] out of bounds`,
      );
    }
    throw new KernelBugError(
      "__hyp_attach_page",
      `Cannot free page ${hex(this.#pa(id))} of pool "${this.name}": it is already on ` +
        `free_area[${order}] (list corruption)`,
    );
  }

  // ---------------------------------------------------- mainline external

  #extEntry(va: number): number {
    const pa = this.#v2p(va);
    return this.vmemmap + Math.floor(pa / PAGE_SIZE) * this.#esz;
  }

  #getExternal(va: number): void {
    const at = this.#extEntry(va);
    const rc = this.#mem.read16(at);
    if (rc >= this.#refMax) {
      throw new KernelBugError(
        "hyp_get_page",
        `Cannot get page at hyp VA ${hex(va)}: refcount is ${rc}, the maximum`,
      );
    }
    this.#mem.write16(at, rc + 1);
    this.#gets++;
  }

  /** Mainline __hyp_attach_page for a page outside the range: no coalescing. */
  #putExternal(va: number): void {
    const at = this.#extEntry(va);
    const mem = this.#mem;
    const rc = mem.read16(at);
    const pfn = Math.floor(this.#v2p(va) / PAGE_SIZE);
    if (rc === 0) {
      throw new KernelBugError(
        "hyp_put_page",
        `Cannot put page ${hex(pfn * PAGE_SIZE)} (outside pool "${this.name}"): refcount is 0`,
      );
    }
    if (rc > 1) {
      mem.write16(at, rc - 1);
      this.#puts++;
      return;
    }
    // 7.x treats an external page's order field as untrusted and forces
    // order 0; 6.9..6.x queue it at the order its entry holds.
    const stored = this.#esz === 8 ? mem.read8(at + 2) : mem.read16(at + 2);
    const order = this.layout.externalPages === "order-0" ? 0 : stored;
    if (order === this.#noOrder || order > this.maxOrder) {
      throw new KernelBugError(
        "__hyp_attach_page",
        `Cannot free external page ${hex(pfn * PAGE_SIZE)} into pool "${this.name}": order ${
          order === this.#noOrder ? "HYP_NO_ORDER" : order
        } has no initialised free_area[] (max_order ${this.maxOrder})`,
      );
    }
    if (this.#extIds.has(pfn)) {
      throw new KernelBugError(
        "__hyp_attach_page",
        `Cannot free external page ${hex(pfn * PAGE_SIZE)}: already on free_area[${order}]`,
      );
    }
    try {
      mem.write16(at, 0);
      // 7.x: `p->order = order` (0) at the insert label.
      if (order !== stored) {
        if (this.#esz === 8) mem.write8(at + 2, order);
        else mem.write16(at + 2, order);
      }
      const pva = this.#p2v(pfn * PAGE_SIZE);
      mem.zero(pva + 16, (PAGE_SIZE << order) - 16);
      const id = this.#newExtId(pfn);
      this.#listAdd(id, order);
    } catch (e) {
      this.#broken = e;
      throw e;
    }
    this.#frees += 1 << order;
    this.#puts++;
    const tr = this.#trace;
    if (tr !== undefined && tr.wants("free")) {
      tr.emit("free", {
        allocator: this.allocatorName,
        pool: this.name,
        pa: hex(pfn * PAGE_SIZE),
        order,
      });
    }
  }

  #newExtId(pfn: number): number {
    let slot = this.#extFreeSlots.pop();
    if (slot === undefined) {
      slot = this.#extPfn.length;
      this.#extPfn.push(pfn);
    } else {
      this.#extPfn[slot] = pfn;
    }
    const id = this.#extBase + slot;
    if (id >= this.#next.length) {
      const grow = (a: Int32Array) => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.#next = grow(this.#next);
      this.#prev = grow(this.#prev);
    }
    this.#next[id] = -1;
    this.#prev[id] = -1;
    this.#extIds.set(pfn, id);
    return id;
  }

  #allocExternal(id: number, i: number, order: number): number {
    const pfn = this.#extPfn[id - this.#extBase]!;
    const at = this.vmemmap + pfn * this.#esz;
    if (i !== order) {
      throw new KernelBugError(
        "__hyp_extract_page",
        `Cannot split external page ${
          hex(pfn * PAGE_SIZE)
        } of order ${i} in pool "${this.name}": ` +
          `its buddy is outside the range (__find_buddy_nocheck returns NULL)`,
      );
    }
    const rc = this.#mem.read16(at);
    if (rc !== 0) {
      throw new KernelBugError(
        "hyp_set_page_refcounted",
        `Cannot hand out page ${hex(pfn * PAGE_SIZE)}: refcount is ${rc}, not 0`,
      );
    }
    try {
      this.#delMl(id, i);
      this.#mem.write16(at, 1);
    } catch (e) {
      this.#broken = e;
      throw e;
    }
    this.#extIds.delete(pfn);
    this.#extPfn[id - this.#extBase] = -1;
    this.#extFreeSlots.push(id - this.#extBase);
    this.#allocs++;
    const tr = this.#trace;
    if (tr !== undefined && tr.wants("alloc")) {
      tr.emit("alloc", {
        allocator: this.allocatorName,
        pool: this.name,
        pa: hex(pfn * PAGE_SIZE),
        order,
      });
    }
    return this.#p2v(pfn * PAGE_SIZE);
  }

  // ---------------------------------------------------------- split (mainline)

  #splitPage(va: number): void {
    this.#usable();
    const id = this.#pageIndex(va, "hyp_split_page");
    if (id < 0) {
      throw new KernelBugError(
        "hyp_split_page",
        `Cannot split hyp VA ${hex(va)}: outside pool "${this.name}"`,
      );
    }
    const o = this.#ord[id]!;
    if (o === NO) {
      throw new KernelBugError(
        "hyp_split_page",
        `Cannot split page ${hex(this.#pa(id))}: it is a tail page (order HYP_NO_ORDER)`,
      );
    }
    if (this.#listed(id)) {
      throw new KernelBugError(
        "hyp_split_page",
        `Cannot split page ${hex(this.#pa(id))}: it is free (on free_area[${o}])`,
      );
    }
    const n = 1 << o;
    for (let t = 1; t < n; t++) {
      if (this.#ref[id + t] !== 0) {
        throw new KernelBugError(
          "hyp_set_page_refcounted",
          `Cannot split page ${hex(this.#pa(id))} of order ${o}: tail ${
            hex(this.#pa(id + t))
          } has refcount ${this.#ref[id + t]}, not 0`,
        );
      }
    }
    try {
      if (o !== 0) this.#setOrder(id, 0);
      for (let t = 1; t < n; t++) {
        this.#setOrder(id + t, 0);
        this.#setRef(id + t, 1);
      }
    } catch (e) {
      this.#broken = e;
      throw e;
    }
  }

  // ------------------------------------------------------------------ init

  /**
   * Mainline hyp_pool_init calls hyp_set_page_refcounted() on every page,
   * which BUGs on a non-zero refcount, and attaches each page at the order
   * its (zeroed) vmemmap entry holds. Checked before anything is written.
   * @returns The vmemmap bytes when a bulk read was available.
   */
  #checkMainlineVmemmap(): Uint8Array | undefined {
    const mem = this.#mem;
    const nr = this.#nr;
    if (nr === 0) return undefined;
    const bad = (id: number, rc: number, order: number) => {
      if (rc !== 0) {
        throw new KernelBugError(
          "hyp_set_page_refcounted",
          `Cannot init pool "${this.name}": page ${hex(this.#pa(id))} has refcount ${rc}, not 0`,
        );
      }
      throw new HyplabError(
        `Cannot init pool "${this.name}": the vmemmap entry of page ${hex(this.#pa(id))} has ` +
          `order ${order}; mainline hyp_pool_init expects it zeroed (as hyp_back_vmemmap leaves it)`,
      );
    };
    const esz = this.#esz;
    const wide = esz !== 8;
    if (this.#viewVmemmap()) {
      // Read in place through the pinned views; the image is then written
      // in place too (#writeInitialImage), with no copy to allocate.
      const i = firstUsedEntry(this.#vmB!, this.#vmOff, nr, esz, wide);
      if (i >= 0) {
        const at = this.#entVa + i * esz;
        bad(i, mem.read16(at), wide ? mem.read16(at + 2) : mem.read8(at + 2));
      }
      return undefined;
    }
    if (mem.readBytes !== undefined && mem.writeBytes !== undefined) {
      const bytes = mem.readBytes(this.#entVa, nr * esz);
      for (let i = 0; i < nr; i++) {
        const b = i * esz;
        const rc = bytes[b]! | (bytes[b + 1]! << 8);
        const order = bytes[b + 2]! | (wide ? bytes[b + 3]! << 8 : 0);
        if (rc !== 0 || order !== 0) bad(i, rc, order);
      }
      return bytes;
    }
    if (mem.isZero(this.#entVa, nr * esz)) return undefined;
    for (let i = 0; i < nr; i++) {
      const at = this.#entVa + i * esz;
      const rc = mem.read16(at);
      const order = wide ? mem.read16(at + 2) : mem.read8(at + 2);
      if (rc !== 0 || order !== 0) bad(i, rc, order);
    }
    return undefined;
  }

  /** The shadow hyp_pool_init leaves (see {@link buildInitialLists}). */
  #buildInitialShadow(): void {
    const r = buildInitialLists({
      nr: this.#nr,
      reserved: this.reservedPages,
      pfn: this.pfn,
      capOrder: this.#capOrder,
      endId: this.#endId,
      v513: this.#v513,
      externalAboveEnd: this.#extSkip,
      nrFreeAreas: this.layout.nrFreeAreas,
      ref: this.#ref,
      ord: this.#ord,
      next: this.#next,
      prev: this.#prev,
      count: this.#count,
    });
    this.#nonEmpty = r.nonEmpty;
    this.#free = r.free;
  }

  /** Stores the bytes hyp_pool_init leaves: vmemmap slice, pages, list nodes, pool struct. */
  #writeInitialImage(vmemmapImage: Uint8Array | undefined): void {
    const mem = this.#mem;
    const nr = this.#nr;
    const r = this.reservedPages;
    const ord = this.#ord;
    if (this.#v513) {
      this.#writeV513Vmemmap();
    } else if (this.#vmB !== undefined) {
      // In place, through the view the check took: every byte the image
      // below would store (refcount 1 below reserved, each page's order).
      storeMainlineEntries(this.#vmB, this.#vmOff, nr, r, ord, this.#esz, this.#noOrder);
    } else if (vmemmapImage !== undefined && mem.writeBytes !== undefined) {
      storeMainlineEntries(vmemmapImage, 0, nr, r, ord, this.#esz, this.#noOrder);
      if (nr > 0) mem.writeBytes(this.#entVa, vmemmapImage);
    } else {
      for (let i = 0; i < nr; i++) {
        if (i < r) mem.write16(this.#entVa + i * this.#esz, 1);
        if (ord[i] !== 0) this.#orderMl(i, ord[i]!);
      }
    }
    // Each attached page was zeroed by __hyp_attach_page.
    if (nr > r) mem.zero(this.#baseVa + r * PAGE_SIZE, (nr - r) * PAGE_SIZE);
    if (!this.#v513) {
      // The list nodes sit in the (now zero) free pages.
      for (let k = 0; k < this.layout.nrFreeAreas; k++) {
        const h = nr + k;
        for (let id = this.#next[h]!; id !== h; id = this.#next[id]!) {
          const at = this.#nodeVa(id);
          this.#writePtr(at, this.#nodeVa(this.#next[id]!), 0, false);
          this.#writePtr(at + 8, this.#nodeVa(this.#prev[id]!), 0, false);
        }
      }
    }
    if (this.onMachine) this.#writePoolStruct();
  }

  #writeV513Vmemmap(): void {
    const mem = this.#mem;
    const nr = this.#nr;
    if (nr === 0) return;
    if (this.#viewVmemmap()) {
      // Pinned views of the vmemmap pages (a linear map onto RAM): the 8
      // words of each entry stored in place, with no image to build, copy
      // and collect (8 MiB for a 1 GiB pool). Entries aligned to 32 bytes
      // never straddle a page.
      // At init every link is to a page node or a free_area[] head.
      storeV513Entries(
        this.#vmW!,
        this.#vmOff >>> 2,
        nr,
        this.#ord,
        this.#next,
        this.#prev,
        this.#nodeBase,
        this.#headVa,
        this.poolVa,
      );
      return;
    }
    if (mem.writeBytes !== undefined && HOST_LITTLE_ENDIAN) {
      // The 8 words of each entry, built in a host (little-endian) word array.
      const img = new Uint32Array(nr * 8);
      const { poolVa } = this;
      storeV513Entries(
        img,
        0,
        nr,
        this.#ord,
        this.#next,
        this.#prev,
        this.#nodeBase,
        this.#headVa,
        poolVa,
      );
      mem.writeBytes(this.#entVa, new Uint8Array(img.buffer));
      return;
    }
    // memset(p, 0, sizeof(*p) * nr_pages), then the fields.
    mem.zero(this.#entVa, nr * 32);
    for (let i = 0; i < nr; i++) {
      const b = this.#entVa + i * 32;
      const o = this.#ord[i]!;
      if (o !== 0) mem.write32(b + 4, o === NO ? 0xffff_ffff : o);
      this.#writePtr(b + 8, this.poolVa, 0, false);
      this.#writePtr(b + 16, this.#nodeVa(this.#next[i]!), 0, false);
      this.#writePtr(b + 24, this.#nodeVa(this.#prev[i]!), 0, false);
    }
  }

  /**
   * Takes a live, contiguous view of the vmemmap pages of the range when the
   * accessor offers one (a linear map over little-endian words); otherwise
   * every store goes through the accessor. v5.13 takes it before writing
   * its image (the entries are stored in place); taken once.
   * @returns Whether the view is taken.
   */
  #viewVmemmap(): boolean {
    if (this.#vmB !== undefined) return true;
    const get = this.#mem.rangeView;
    if (get === undefined || !HOST_LITTLE_ENDIAN || this.#nr === 0) return false;
    // Entries aligned to their size never straddle a page; a view of 2 GiB
    // or more (a vmemmap of 2^26 v5.13 entries) is not taken.
    const size = this.#nr * this.#esz;
    if (this.#entVa % this.#esz !== 0 || size + 4096 > 2 ** 31) return false;
    const v = get.call(this.#mem, this.#entVa, size);
    const off = this.#entVa - Math.floor(this.#entVa / 4096) * 4096;
    if (v === undefined || v.byteOffset % 4 !== 0 || v.length < off + size) return false;
    this.#vmOff = off;
    this.#vmB = v;
    this.#vmW = new Uint32Array(v.buffer, v.byteOffset, v.length >>> 2);
    return true;
  }

  #writePoolStruct(): void {
    const mem = this.#mem;
    const L = HYP_POOL_LAYOUT;
    const base = this.poolVa;
    mem.write32(base + L.lockOffset, 0); // hyp_spin_lock_init
    // INIT_LIST_HEAD(&free_area[i]) for the orders the version initialises.
    const lists = Math.min(
      this.layout.inclusiveMaxOrder ? this.maxOrder + 1 : this.maxOrder,
      this.layout.nrFreeAreas,
    );
    for (let k = 0; k < lists; k++) {
      const h = this.#nr + k;
      this.#writeLink(h, 0, this.#next[h]!, 0, true);
      this.#writeLink(h, 8, this.#prev[h]!, 0, true);
    }
    this.#writePtr(base + L.rangeStartOffset, this.rangeStart, 0, true);
    this.#writePtr(base + L.rangeEndOffset, this.kernelRangeEnd, 0, true);
    const w = this.layout.maxOrderBytes;
    if (w === 4) mem.write32(base + L.maxOrderOffset, this.maxOrder);
    else if (w === 2) mem.write16(base + L.maxOrderOffset, this.maxOrder);
    else mem.write8(base + L.maxOrderOffset, this.maxOrder);
  }

  #view(): BuddyPoolView {
    return {
      pool: this,
      memory: this.#mem,
      virtToPhys: this.#v2p,
      physToVirt: this.#p2v,
      ref: this.#ref,
      ord: this.#ord,
      next: this.#next,
      prev: this.#prev,
      headBase: this.#nr,
      extBase: this.#extBase,
      extPfn: this.#extPfn,
      free: this.#free,
      nodeVa: (id) => this.#nodeVa(id),
      capOrder: this.#capOrder,
      rangeEndId: this.#endId,
    };
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
