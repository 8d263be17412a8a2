/**
 * The page-allocator capability: the hyp `hyp_pool` interface
 * (`hyp_pool_init`, `hyp_alloc_pages`, `hyp_get_page`, `hyp_put_page`),
 * implemented by the buddy variants and by alternatives.
 *
 * Addresses handed out and taken back are hyp VAs, as in the kernel.
 *
 * @module
 */

import { type Capability, capability } from "../capability.ts";
import type { Trace } from "../trace.ts";
import type { El2Memory } from "./el2_memory.ts";

/** Everything a pool needs from its environment. */
export interface PagePoolOptions {
  /** Pool name in traces and reports (`hpool`, `host_s2_mem`, ...). */
  name: string;
  /** First page frame number of the range. */
  pfn: number;
  /** Number of pages in the range. */
  nrPages: number;
  /** Pages at the start of the range already used (by the early allocator). */
  reservedPages: number;
  /** Where metadata and page contents are read and written. */
  memory: El2Memory;
  /**
   * Hyp VA of `hyp_vmemmap[0]`: the metadata of pfn N lives at
   * `vmemmap + N * metadataBytesPerPage` (absolute pfn indexing).
   */
  vmemmap: number;
  /** PA → hyp VA (`hyp_phys_to_virt`). */
  physToVirt(pa: number): number;
  /** Hyp VA → PA (`hyp_virt_to_phys`). */
  virtToPhys(va: number): number;
  /**
   * Hyp VA of the `struct hyp_pool` itself (lock, `free_area[]` list heads,
   * range, max_order), written there in the kernel's layout. When omitted
   * the struct lives off-machine (in the kernel it is in hyp `.bss`, which a
   * standalone pool does not model) and list nodes that point at a list head
   * hold a synthetic address instead.
   */
  poolVa?: number;
  /** Trace for alloc/free events. */
  trace?: Trace;
}

/** Options of {@link PagePool.checkInvariants}. */
export interface InvariantCheckOptions {
  /**
   * Also check page contents (free memory is zero). The costliest part:
   * turn it off for frequent checks of large pools.
   * @default true
   */
  contents?: boolean;
}

/** Counters and shape of a pool, for metrics and reports. */
export interface PagePoolStats {
  /** Pages managed. */
  nrPages: number;
  /** Pages reserved at init. */
  reserved: number;
  /** Pages free now. */
  free: number;
  /** Number of free blocks of each order, index = order (like /proc/buddyinfo). */
  freeBlocksByOrder: number[];
  /** Successful allocations. */
  allocs: number;
  /** Failed allocations (returned null). */
  failedAllocs: number;
  /** Pages returned to the free lists. */
  frees: number;
  /** `hyp_get_page` calls that succeeded (when the variant counts them). */
  gets?: number;
  /** `hyp_put_page` calls that succeeded (when the variant counts them). */
  puts?: number;
  /** Metadata bytes per managed page. */
  metadataBytesPerPage: number;
}

/** One pool (`struct hyp_pool`). */
export interface PagePool {
  /** Pool name. */
  readonly name: string;
  /** First PA of the range. */
  readonly rangeStart: number;
  /** One past the last PA of the range. */
  readonly rangeEnd: number;
  /**
   * The pool's max_order as the variant defines it (v5.13: orders
   * `< max_order` are valid; mainline: `<= max_order`).
   */
  readonly maxOrder: number;
  /**
   * The largest order {@link PagePool.allocPages} can ever return for this
   * pool (v5.13 buddy: `max_order - 1`). When absent, `maxOrder` (inclusive,
   * as mainline defines it).
   */
  readonly maxAllocOrder?: number;
  /**
   * `hyp_alloc_pages(pool, order)`: a zeroed block of 2^order pages.
   * @param order Block order (a non-negative integer; anything else throws).
   * @returns Hyp VA of the block, or null when nothing fits (state unchanged
   *   but for the failed-allocation counter).
   */
  allocPages(order: number): number | null;
  /**
   * `hyp_get_page`: takes a reference.
   * @param va Hyp VA of a page in the pool; any address inside the page names
   *   it (`hyp_virt_to_page` rounds down).
   * @throws {KernelBugError} Refcount would pass its maximum (65535 for a
   *   u16 refcount), or VA outside the pool (where the variant has no
   *   external pages).
   */
  getPage(va: number): void;
  /**
   * Optional batched `hyp_get_page`, hyplab's own (for table walkers
   * installing a run of entries in one page): up to `n` references on the
   * page holding `va`, exactly as that many {@link PagePool.getPage} calls,
   * stopping without a throw before the first call that would fail.
   * @returns References taken (0..n).
   */
  getPages?(va: number, n: number): number;
  /**
   * `hyp_put_page`: drops a reference and frees the page at zero.
   * @param va Hyp VA of a page in the pool; any address inside the page names
   *   it (`hyp_virt_to_page` rounds down).
   * @throws {KernelBugError} Refcount already 0 (a double free), or VA
   *   outside the pool (where the variant has no external pages).
   */
  putPage(va: number): void;
  /**
   * `hyp_page_count`.
   * @param va Hyp VA of a page in the pool; any address inside the page names
   *   it (`hyp_virt_to_page` rounds down).
   * @returns The refcount.
   */
  pageCount(va: number): number;
  /**
   * `hyp_split_page` (mainline): makes a high-order allocated block into
   * order-0 pages each with refcount 1.
   * @param va Hyp VA of the block head.
   */
  splitPage?(va: number): void;
  /** Returns: Counters and free-list shape. */
  stats(): PagePoolStats;
  /**
   * Checks every invariant the variant promises.
   * @param options What to check (page contents by default too).
   * @returns The first violation, or undefined.
   */
  checkInvariants(options?: InvariantCheckOptions): string | undefined;
}

/** A page-allocator variant: makes pools. */
export interface PageAllocator {
  /** Variant name (`buddy-v5.13`, `buddy-mainline`, `bitmap`, ...). */
  readonly name: string;
  /** Metadata bytes per managed page (`sizeof(struct hyp_page)` for the buddy). */
  readonly metadataBytesPerPage: number;
  /**
   * `hyp_pool_init`.
   * @param options Range, reserved pages, memory accessor, vmemmap base.
   * @returns The pool.
   */
  createPool(options: PagePoolOptions): PagePool;
  /**
   * What {@link PageAllocator.createPool} will make of a pool of this size,
   * asked when the host sizes the pools (boot step 1), long before EL2
   * creates them (step 5): `refuse` when it would throw (a limit of this
   * allocator or of the simulation), `warn` when the pool will behave in a
   * way the user should know of (the kernel's own behaviour, such as
   * `hyp_pool_init`'s 32-bit arithmetic). Undefined when there is nothing
   * to say. Optional: an allocator without it is asked nothing.
   * @param pool The pool's name, first pfn, pages and reserved pages.
   * @returns The verdict, or undefined.
   */
  checkPool?(pool: PoolSizeQuery): PoolSizeVerdict | undefined;
}

/** The pool {@link PageAllocator.checkPool} is asked about. */
export interface PoolSizeQuery {
  /** Pool name (`hpool`, `host_s2_pool`, ...). */
  readonly name: string;
  /** First page frame number. */
  readonly pfn: number;
  /** Pages. */
  readonly nrPages: number;
  /** Pages already used at init (unknown at step 1 for `hpool`: then 0). */
  readonly reservedPages: number;
}

/** The answer of {@link PageAllocator.checkPool}. */
export interface PoolSizeVerdict {
  /** `createPool` would throw: why, in one line. */
  readonly refuse?: string;
  /** The pool works, differently from what its size suggests: how, in one line. */
  readonly warn?: string;
}

/**
 * The page-allocator capability.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PAGE_ALLOCATOR } from "./page_allocator.ts";
 * assertEquals(PAGE_ALLOCATOR.name, "page_allocator");
 * ```
 */
export const PAGE_ALLOCATOR: Capability<PageAllocator> = capability<PageAllocator>(
  "page_allocator",
  "the hyp page allocator (hyp_pool)",
  {
    name: "string",
    metadataBytesPerPage: "number",
    createPool: "function",
    checkPool: "function?",
  },
);
