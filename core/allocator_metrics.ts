/**
 * Metrics for any page pool, computed from its {@link PagePoolStats}: free
 * blocks per order as `/proc/buddyinfo` prints them, and Linux's
 * `unusable_index` and `extfrag_index` per order exactly as mm/vmstat.c
 * computes them (`fill_contig_page_info`, `unusable_free_index`,
 * `__fragmentation_index`: unsigned integer division, ×1000 scaling, -1000
 * when a block of the order is free), plus operation counts and the
 * metadata cost. Pure functions.
 *
 * @module
 */

import type { PagePoolStats } from "./capabilities/page_allocator.ts";

/** `struct contig_page_info` for one requested order. */
export interface ContigPageInfo {
  /** Free pages over all orders. */
  freePages: number;
  /** Free blocks over all orders. */
  freeBlocksTotal: number;
  /** Blocks of the requested order the free blocks could provide. */
  freeBlocksSuitable: number;
}

/**
 * `fill_contig_page_info(zone, suitable_order, info)` over per-order free
 * block counts.
 *
 * @param freeBlocksByOrder Free blocks of each order (index = order).
 * @param suitableOrder The requested order.
 * @returns The counts.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { contigPageInfo } from "./allocator_metrics.ts";
 * // 3 free order-0 pages and 1 free order-2 block, asking for order 1:
 * assertEquals(contigPageInfo([3, 0, 1], 1), {
 *   freePages: 7, freeBlocksTotal: 4, freeBlocksSuitable: 2,
 * });
 * ```
 */
export function contigPageInfo(
  freeBlocksByOrder: readonly number[],
  suitableOrder: number,
): ContigPageInfo {
  let freePages = 0;
  let freeBlocksTotal = 0;
  let freeBlocksSuitable = 0;
  for (let order = 0; order < freeBlocksByOrder.length; order++) {
    const blocks = freeBlocksByOrder[order]!;
    freeBlocksTotal += blocks;
    freePages += blocks * 2 ** order;
    if (order >= suitableOrder) freeBlocksSuitable += blocks * 2 ** (order - suitableOrder);
  }
  return { freePages, freeBlocksTotal, freeBlocksSuitable };
}

/**
 * `unusable_free_index(order, info)`: the share of free memory that cannot
 * serve an allocation of this order, in thousandths (1000 when nothing is
 * free).
 *
 * @param freeBlocksByOrder Free blocks of each order.
 * @param order Requested order.
 * @returns 0 (none unusable) to 1000 (all unusable).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { unusableFreeIndex } from "./allocator_metrics.ts";
 * assertEquals(unusableFreeIndex([3, 0, 1], 1), 428); // (7 - 2*2) * 1000 / 7, truncated
 * assertEquals(unusableFreeIndex([0, 0, 0], 0), 1000);
 * ```
 */
export function unusableFreeIndex(freeBlocksByOrder: readonly number[], order: number): number {
  const info = contigPageInfo(freeBlocksByOrder, order);
  // No free memory is interpreted as all free memory is unusable.
  if (info.freePages === 0) return 1000;
  return Math.floor(
    ((info.freePages - info.freeBlocksSuitable * 2 ** order) * 1000) / info.freePages,
  );
}

/**
 * `__fragmentation_index(order, info)` (the `extfrag_index` file): when an
 * allocation of this order would fail, whether for lack of memory (towards
 * 0) or external fragmentation (towards 1000); -1000 when it would succeed;
 * 0 with nothing free or for an order past the last list.
 *
 * @param freeBlocksByOrder Free blocks of each order.
 * @param order Requested order.
 * @returns The index in thousandths, or -1000.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { fragmentationIndex } from "./allocator_metrics.ts";
 * assertEquals(fragmentationIndex([3, 0, 1], 1), -1000); // an order-2 block can serve it
 * assertEquals(fragmentationIndex([8, 0, 0, 0], 3), 750); // 1000 - (1000 + 8000 / 8) / 8
 * assertEquals(fragmentationIndex([0, 0, 0, 0], 3), 0);
 * ```
 */
export function fragmentationIndex(freeBlocksByOrder: readonly number[], order: number): number {
  const requested = 2 ** order;
  // WARN_ON_ONCE(order > MAX_PAGE_ORDER): the lists run 0..length-1.
  if (order >= freeBlocksByOrder.length) return 0;
  const info = contigPageInfo(freeBlocksByOrder, order);
  if (info.freeBlocksTotal === 0) return 0;
  // Fragmentation index only makes sense when a request would fail.
  if (info.freeBlocksSuitable !== 0) return -1000;
  return 1000 -
    Math.floor((1000 + Math.floor((info.freePages * 1000) / requested)) / info.freeBlocksTotal);
}

/**
 * Formats an index the way the debugfs files print it:
 * `seq_printf("%d.%03d ", index / 1000, index % 1000)` with C's truncating
 * division (so -1000 prints `-1.000`).
 *
 * @param index An index in thousandths.
 * @returns The printed value.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatIndex } from "./allocator_metrics.ts";
 * assertEquals(formatIndex(428), "0.428");
 * assertEquals(formatIndex(-1000), "-1.000");
 * assertEquals(formatIndex(1000), "1.000");
 * ```
 */
export function formatIndex(index: number): string {
  const whole = Math.trunc(index / 1000);
  const frac = index % 1000; // C: the sign follows the dividend
  const fracText = frac < 0 ? `-${String(-frac).padStart(2, "0")}` : String(frac).padStart(3, "0");
  return `${whole}.${fracText}`;
}

/**
 * One line of `/proc/buddyinfo`: `Node 0, zone %8s ` then `%6lu ` per order.
 *
 * @param name Zone (pool) name.
 * @param freeBlocksByOrder Free blocks of each order.
 * @returns The line, without the newline.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatBuddyinfo } from "./allocator_metrics.ts";
 * assertEquals(formatBuddyinfo("hpool", [1, 0, 2]), "Node 0, zone    hpool      1      0      2 ");
 * ```
 */
export function formatBuddyinfo(name: string, freeBlocksByOrder: readonly number[]): string {
  return `Node 0, zone ${name.padStart(8)} ` +
    freeBlocksByOrder.map((n) => `${String(n).padStart(6)} `).join("");
}

/** Everything {@link allocatorMetrics} reports for one pool. */
export interface AllocatorMetrics {
  /** Pages managed. */
  nrPages: number;
  /** Pages reserved at init. */
  reserved: number;
  /** Pages free now. */
  free: number;
  /** Pages not free (reserved included). */
  inUse: number;
  /** Free blocks of each order (buddyinfo). */
  freeBlocksByOrder: number[];
  /** Free pages held in blocks of each order. */
  freePagesByOrder: number[];
  /** Highest order with a free block, -1 when none. */
  largestFreeOrder: number;
  /** `unusable_index` per order, in thousandths. */
  unusableIndex: number[];
  /** `extfrag_index` per order, in thousandths (-1000: the order can be served). */
  extfragIndex: number[];
  /** Operation counts. */
  ops: {
    /** Successful allocations. */
    allocs: number;
    /** Allocations that returned null. */
    failedAllocs: number;
    /** Pages returned to the free lists. */
    frees: number;
    /** References taken, when the pool counts them. */
    gets?: number;
    /** References dropped, when the pool counts them. */
    puts?: number;
  };
  /** Metadata bytes per managed page. */
  metadataBytesPerPage: number;
  /** Metadata bytes for the whole pool. */
  metadataBytes: number;
}

/**
 * Metrics of a pool from its stats.
 *
 * @param stats `pool.stats()`.
 * @returns Free-space shape, fragmentation indexes per order, op counts and metadata cost.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { allocatorMetrics } from "./allocator_metrics.ts";
 * const m = allocatorMetrics({
 *   nrPages: 16, reserved: 0, free: 7, freeBlocksByOrder: [3, 0, 1, 0, 0],
 *   allocs: 5, failedAllocs: 1, frees: 0, metadataBytesPerPage: 8,
 * });
 * assertEquals(m.unusableIndex, [0, 428, 428, 1000, 1000]);
 * assertEquals(m.extfragIndex, [-1000, -1000, -1000, 532, 641]);
 * assertEquals([m.inUse, m.largestFreeOrder, m.metadataBytes], [9, 2, 128]);
 * ```
 */
export function allocatorMetrics(stats: PagePoolStats): AllocatorMetrics {
  const byOrder = [...stats.freeBlocksByOrder];
  const ops: AllocatorMetrics["ops"] = {
    allocs: stats.allocs,
    failedAllocs: stats.failedAllocs,
    frees: stats.frees,
  };
  if (stats.gets !== undefined) ops.gets = stats.gets;
  if (stats.puts !== undefined) ops.puts = stats.puts;
  let largest = -1;
  byOrder.forEach((n, o) => {
    if (n > 0) largest = o;
  });
  return {
    nrPages: stats.nrPages,
    reserved: stats.reserved,
    free: stats.free,
    inUse: Math.max(0, stats.nrPages - stats.free),
    freeBlocksByOrder: byOrder,
    freePagesByOrder: byOrder.map((n, o) => n * 2 ** o),
    largestFreeOrder: largest,
    unusableIndex: byOrder.map((_, o) => unusableFreeIndex(byOrder, o)),
    extfragIndex: byOrder.map((_, o) => fragmentationIndex(byOrder, o)),
    ops,
    metadataBytesPerPage: stats.metadataBytesPerPage,
    metadataBytes: stats.metadataBytesPerPage * stats.nrPages,
  };
}
