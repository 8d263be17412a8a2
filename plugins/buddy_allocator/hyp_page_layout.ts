/**
 * The kernel's byte layouts of `struct hyp_page` and `struct hyp_pool`, and
 * the `max_order` rules, per kernel release (arch/arm64/kvm/hyp/include/nvhe/
 * memory.h and gfp.h, arm64 with 4 KiB pages, little-endian), built from the
 * release descriptors' buddy facts.
 *
 * v5.13 `struct hyp_page` is 32 bytes: `unsigned int refcount` at 0,
 * `unsigned int order` at 4, `struct hyp_pool *pool` at 8 and the free-list
 * `struct list_head node` (next at 16, prev at 24). From v5.14 the list node
 * lives in the first 16 bytes of the free page itself, and the entry is
 * `unsigned short refcount; unsigned short order` (4 bytes, 6.1 and 6.12),
 * then `u16 refcount` at 0, `u8 order` at 2, the host-state / inverted
 * hyp-state nibbles at 3 and `u32 host_share_guest_count` at 4 (8 bytes,
 * 7.x).
 *
 * @module
 */

import {
  formatSize,
  hex,
  PAGE_SHIFT,
  type PoolSizeQuery,
  type PoolSizeVerdict,
} from "../../core/mod.ts";
import { type KernelRelease, release, RELEASE_NAMES } from "../releases/mod.ts";

/** A kernel release name (`v5.13`, `v6.1`, `v6.12`, `v7.2`, `mainline`). */
export type BuddyVersion = string;

/** Where each field of `struct hyp_page` sits, and the limits that follow. */
export interface HypPageLayout {
  /** The release it follows. */
  readonly version: string;
  /** `sizeof(struct hyp_page)`. */
  readonly size: number;
  /** Byte offset of `refcount`. */
  readonly refcountOffset: number;
  /** Width of `refcount` in bytes (4 in v5.13, 2 later). */
  readonly refcountBytes: 2 | 4;
  /** Largest refcount the field holds. */
  readonly refcountMax: number;
  /** Byte offset of `order`. */
  readonly orderOffset: number;
  /** Width of `order` in bytes (4 in v5.13, 2 in 6.1 and 6.12, 1 in 7.x). */
  readonly orderBytes: 1 | 2 | 4;
  /** `HYP_NO_ORDER` as stored (`UINT_MAX`, `USHRT_MAX`, `(u8)~0`). */
  readonly noOrder: number;
  /** Byte offset of the `pool` pointer (v5.13), or -1 when there is none. */
  readonly poolOffset: number;
  /**
   * Byte offset of the list node inside the vmemmap entry (v5.13), or -1
   * when the node is the first 16 bytes of the free page.
   */
  readonly nodeOffset: number;
  /** The cap on `max_order`: `MAX_ORDER` (11) or `MAX_PAGE_ORDER` (10). */
  readonly maxOrderCap: number;
  /** `max_order` comes from `get_order((nr_pages + 1) << PAGE_SHIFT)` (6.1). */
  readonly maxOrderPlusOne: boolean;
  /** Whether `max_order` itself is a valid order (from 6.9) or one past the last. */
  readonly inclusiveMaxOrder: boolean;
  /** What freeing a page from outside the range does (see `BuddyFacts.externalPages`). */
  readonly externalPages: "none" | "skip-coalesce" | "order-0";
  /** `__hyp_attach_page` skips coalescing out of range (see `BuddyFacts.attachSkipsOutOfRange`). */
  readonly attachSkipsOutOfRange: boolean;
  /** Width of `struct hyp_pool`'s `max_order` (unsigned int, unsigned short, u8). */
  readonly maxOrderBytes: 1 | 2 | 4;
  /** Number of `free_area[]` list heads in `struct hyp_pool`. */
  readonly nrFreeAreas: number;
}

/**
 * The `struct hyp_page` layout and `hyp_pool` rules of a release.
 *
 * @param r Release name or descriptor.
 * @returns The layout.
 * @throws {RangeError} An unknown release.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypPageLayout } from "./hyp_page_layout.ts";
 * assertEquals(hypPageLayout("v6.1").size, 4);
 * assertEquals(hypPageLayout("v6.1").noOrder, 0xffff);
 * ```
 */
export function hypPageLayout(r: string | KernelRelease): HypPageLayout {
  const rel = release(r);
  const b = rel.buddy;
  const v513 = b.listNode === "hyp_page";
  return Object.freeze({
    version: rel.name,
    size: b.size,
    refcountOffset: 0,
    refcountBytes: b.refcountBytes,
    refcountMax: b.refcountBytes === 4 ? 0xffff_ffff : 0xffff,
    orderOffset: b.orderOffset,
    orderBytes: b.orderBytes,
    noOrder: b.noOrder,
    poolOffset: v513 ? 8 : -1,
    nodeOffset: v513 ? 16 : -1,
    maxOrderCap: b.maxOrderCap,
    maxOrderPlusOne: b.maxOrderPlusOne,
    inclusiveMaxOrder: b.inclusiveMaxOrder,
    externalPages: b.externalPages,
    attachSkipsOutOfRange: b.attachSkipsOutOfRange,
    maxOrderBytes: b.orderBytes === 4 ? 4 : b.orderBytes === 2 ? 2 : 1,
    // free_area[MAX_ORDER] (11) or free_area[NR_PAGE_ORDERS] (MAX_PAGE_ORDER + 1).
    nrFreeAreas: 11,
  });
}

/**
 * Byte offsets and size of `struct hyp_pool` (nvhe/gfp.h), as
 * {@link HYP_POOL_LAYOUT} gives them.
 */
export interface HypPoolLayout {
  /** Offset of `lock`. */
  readonly lockOffset: number;
  /** Offset of `free_area[0]`. */
  readonly freeAreaOffset: number;
  /** `sizeof(struct list_head)`. */
  readonly listHeadSize: number;
  /** Offset of `range_start`. */
  readonly rangeStartOffset: number;
  /** Offset of `range_end`. */
  readonly rangeEndOffset: number;
  /** Offset of `max_order`. */
  readonly maxOrderOffset: number;
  /** `sizeof(struct hyp_pool)`. */
  readonly size: number;
}

/**
 * The layouts of `struct hyp_page`, per release name (`mainline` included).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HYP_PAGE_LAYOUT } from "./hyp_page_layout.ts";
 * assertEquals(HYP_PAGE_LAYOUT["v5.13"]!.size, 32);
 * assertEquals(HYP_PAGE_LAYOUT["v6.12"]!.size, 4);
 * assertEquals(HYP_PAGE_LAYOUT["mainline"]!.size, 8);
 * ```
 */
export const HYP_PAGE_LAYOUT: Readonly<Record<string, HypPageLayout>> = Object.freeze(
  Object.fromEntries(RELEASE_NAMES.map((n) => [n, hypPageLayout(n)])),
);

/**
 * The layout of `struct hyp_pool`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HYP_POOL_LAYOUT } from "./hyp_page_layout.ts";
 * assertEquals(HYP_POOL_LAYOUT.freeAreaOffset + 11 * 16, HYP_POOL_LAYOUT.rangeStartOffset);
 * ```
 */
export const HYP_POOL_LAYOUT: HypPoolLayout = Object.freeze({
  lockOffset: 0,
  freeAreaOffset: 8,
  listHeadSize: 16,
  rangeStartOffset: 184,
  rangeEndOffset: 192,
  maxOrderOffset: 200,
  size: 208,
});

/**
 * Where a pool whose `struct hyp_pool` is not placed in simulated memory
 * (no `poolVa` given) pretends it lives: the top page below 2^47, far from
 * any linear map a test builds. List nodes pointing at `free_area[o]` hold
 * `OFF_MACHINE_POOL_VA + 8 + 16 * o`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OFF_MACHINE_POOL_VA } from "./hyp_page_layout.ts";
 * assertEquals(OFF_MACHINE_POOL_VA % 4096, 0);
 * ```
 */
export const OFF_MACHINE_POOL_VA: number = 0x7fff_ffff_f000;

/**
 * The kernel's `get_order(size)` for a 64-bit `unsigned long`: the smallest
 * order whose block holds `size` bytes; `get_order(0)` is 52
 * (`fls64(ULONG_MAX >> PAGE_SHIFT)`), as the generic helper computes it.
 *
 * @param size Bytes, a non-negative safe integer.
 * @returns The order.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { getOrder } from "./hyp_page_layout.ts";
 * assertEquals(getOrder(4096), 0);
 * assertEquals(getOrder(4097), 1);
 * assertEquals(getOrder(16384), 2);
 * assertEquals(getOrder(0), 52);
 * ```
 */
export function getOrder(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`Cannot compute get_order(${size}): size must be a non-negative integer`);
  }
  if (size === 0) return 64 - PAGE_SHIFT;
  const n = Math.floor((size - 1) / 2 ** PAGE_SHIFT);
  return fls64(n);
}

/** `fls64`: 1-based index of the highest set bit, 0 for 0 (exact up to 2^53). */
function fls64(n: number): number {
  if (n === 0) return 0;
  const hi = Math.floor(n / 2 ** 32);
  if (hi > 0) return 64 - Math.clz32(hi);
  return 32 - Math.clz32(n);
}

/**
 * `hyp_pool_init()`'s `nr_pages` is an `unsigned int`, and so is
 * `nr_pages << PAGE_SHIFT`: only the low 20 bits of the page count survive
 * the shift (4 KiB pages). Pools of 2^20 pages (4 GiB) or more wrap.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HYP_POOL_WRAP_PAGES } from "./hyp_page_layout.ts";
 * assertEquals(HYP_POOL_WRAP_PAGES * 4096, 2 ** 32);
 * ```
 */
export const HYP_POOL_WRAP_PAGES: number = 2 ** (32 - PAGE_SHIFT);

/**
 * `(nr_pages << PAGE_SHIFT)` as `hyp_pool_init()` computes it, in 32 bits:
 * the byte offset of `range_end` from `range_start`.
 *
 * @param nrPages The pool's pages (an `unsigned int`, below 2^32).
 * @returns The shifted value modulo 2^32.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypPoolShiftedBytes } from "./hyp_page_layout.ts";
 * assertEquals(hypPoolShiftedBytes(5199), 5199 * 4096);
 * assertEquals(hypPoolShiftedBytes(2 ** 20), 0); // 4 GiB wraps to 0
 * assertEquals(hypPoolShiftedBytes(2101772), 4620 * 4096);
 * ```
 */
export function hypPoolShiftedBytes(nrPages: number): number {
  return (nrPages % HYP_POOL_WRAP_PAGES) * 2 ** PAGE_SHIFT;
}

/**
 * `pool->max_order` as `hyp_pool_init` computes it: v5.13
 * `min(MAX_ORDER, get_order(nr_pages << PAGE_SHIFT))` with `MAX_ORDER` 11,
 * where valid orders are `< max_order` (so a power-of-two pool of 2^k pages
 * cannot hold one block of order k); 6.1 `get_order((nr_pages + 1) <<
 * PAGE_SHIFT)`, still exclusive; from 6.9 `MAX_PAGE_ORDER` 10 and valid
 * orders `<= max_order`. The shift is 32-bit (`unsigned int`), so from 2^20
 * pages `get_order()` sees the wrapped value, and `get_order(0)` is 52
 * (capped to the maximum).
 *
 * @param version Release name, descriptor or layout.
 * @param nrPages Pages in the pool (an `unsigned int`).
 * @returns `max_order`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypPoolMaxOrder } from "./hyp_page_layout.ts";
 * assertEquals(hypPoolMaxOrder("v5.13", 4), 2); // orders 0 and 1 only
 * assertEquals(hypPoolMaxOrder("mainline", 4), 2); // orders 0, 1 and 2
 * assertEquals(hypPoolMaxOrder("mainline", 262144), 10);
 * assertEquals(hypPoolMaxOrder("v6.1", 4), 3); // get_order(5 pages)
 * // 2^20 + 5 pages: the shift leaves 5 pages' worth, get_order gives 3.
 * assertEquals(hypPoolMaxOrder("v6.12", 2 ** 20 + 5), 3);
 * // 6.1 at 2^20 pages: (nr_pages + 1) << PAGE_SHIFT is one page, max_order 0.
 * assertEquals(hypPoolMaxOrder("v6.1", 2 ** 20), 0);
 * assertEquals(hypPoolMaxOrder("v6.12", 2 ** 20), 10); // get_order(0) = 52
 * ```
 */
export function hypPoolMaxOrder(
  version: BuddyVersion | KernelRelease | HypPageLayout,
  nrPages: number,
): number {
  const layout = typeof version === "object" && "maxOrderCap" in version
    ? version
    : hypPageLayout(version);
  const n = layout.maxOrderPlusOne ? nrPages + 1 : nrPages;
  return Math.min(layout.maxOrderCap, getOrder(hypPoolShiftedBytes(n)));
}

/** What {@link hypPoolWrap} finds for a pool of 2^20 pages or more. */
export interface HypPoolWrap {
  /** The pool's pages. */
  readonly nrPages: number;
  /** Pages below the wrapped `range_end` (`nr_pages % 2^20`). */
  readonly inRangePages: number;
  /** `range_end - range_start` as stored. */
  readonly rangeEndOffset: number;
  /** `max_order` from the wrapped shift. */
  readonly maxOrder: number;
  /**
   * What happens to the pages at and above `range_end`: `external` (6.9+:
   * `__hyp_attach_page` never coalesces them), or `no-buddies` (v5.13, 6.1:
   * `__find_buddy_nocheck` refuses them as buddies, so they stay order 0 but
   * for the one at `range_end`, which may join its buddy below).
   */
  readonly above: "external" | "no-buddies";
  /**
   * True when `max_order` is 0 while the pool has free pages in a release
   * whose orders are `< max_order`: `free_area[0]` is never initialised and
   * the first free page dereferences NULL at EL2.
   */
  readonly nullFreeArea: boolean;
}

/**
 * How `hyp_pool_init()`'s 32-bit `nr_pages << PAGE_SHIFT` changes a pool of
 * this size (`undefined` below 2^20 pages, where nothing wraps).
 *
 * @param version Release name, descriptor or layout.
 * @param nrPages The pool's pages.
 * @param reservedPages Pages the caller marks used (the early allocator's).
 * @returns The wrap, or undefined.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypPoolWrap } from "./hyp_page_layout.ts";
 * assertEquals(hypPoolWrap("v6.12", 5199), undefined);
 * const w = hypPoolWrap("v6.12", 2101772)!;
 * assertEquals([w.inRangePages, w.maxOrder, w.above], [4620, 10, "external"]);
 * ```
 */
export function hypPoolWrap(
  version: BuddyVersion | KernelRelease | HypPageLayout,
  nrPages: number,
  reservedPages = 0,
): HypPoolWrap | undefined {
  if (nrPages < HYP_POOL_WRAP_PAGES) return undefined;
  const layout = typeof version === "object" && "maxOrderCap" in version
    ? version
    : hypPageLayout(version);
  const maxOrder = hypPoolMaxOrder(layout, nrPages);
  return {
    nrPages,
    inRangePages: nrPages % HYP_POOL_WRAP_PAGES,
    rangeEndOffset: hypPoolShiftedBytes(nrPages),
    maxOrder,
    above: layout.attachSkipsOutOfRange ? "external" : "no-buddies",
    nullFreeArea: !layout.inclusiveMaxOrder && maxOrder === 0 && reservedPages < nrPages,
  };
}

/**
 * Host memory hyplab allows for the list nodes a mainline-layout pool keeps
 * in its free pages: each such page costs 4 KiB of host memory once written
 * (simulated memory is backed page by page). 1 GiB: 262144 free blocks.
 */
export const FREE_PAGE_NODE_BUDGET_BYTES: number = 2 ** 30;

/**
 * The buddy allocator's answer to `PageAllocator.checkPool`: at step 1, what
 * `hyp_pool_init` will do with a pool of this size. From 2^20 pages its
 * 32-bit `nr_pages << PAGE_SHIFT` wraps (a warning naming `range_end` and
 * `max_order`); a wrapped pool whose free pages above `range_end` each hold a
 * list node in the page (6.1 and later) needs more host memory than hyplab
 * allows (a refusal), and `nr_pages` itself is an `unsigned int`.
 *
 * @param version Release name, descriptor or layout.
 * @param q The pool.
 * @returns The verdict, or undefined below 2^20 pages.
 * @example
 * ```ts
 * import { assertEquals, assertMatch } from "@std/assert";
 * import { checkHypPoolSize } from "./hyp_page_layout.ts";
 * assertEquals(checkHypPoolSize("v6.1", { name: "hpool", pfn: 0x13ea00, nrPages: 2569, reservedPages: 0 }), undefined);
 * const v = checkHypPoolSize("v5.13", { name: "hpool", pfn: 0x3fa34800, nrPages: 2101772, reservedPages: 0 })!;
 * assertMatch(v.warn!, /range_end = 0x3fa35a0c000/);
 * assertEquals(v.refuse, undefined); // v5.13 keeps its list nodes in the vmemmap
 * ```
 */
export function checkHypPoolSize(
  version: BuddyVersion | KernelRelease | HypPageLayout,
  q: PoolSizeQuery,
): PoolSizeVerdict | undefined {
  if (!Number.isInteger(q.nrPages) || q.nrPages < 0 || q.nrPages >= 2 ** 32) {
    return {
      refuse: `pool "${q.name}" of ${q.nrPages} pages: hyp_pool_init takes nr_pages as an ` +
        `unsigned int (below 2^32)`,
    };
  }
  const layout = typeof version === "object" && "maxOrderCap" in version
    ? version
    : hypPageLayout(version);
  const w = hypPoolWrap(layout, q.nrPages, q.reservedPages);
  if (w === undefined) return undefined;
  const rangeEnd = q.pfn * 2 ** PAGE_SHIFT + w.rangeEndOffset;
  const above = q.nrPages - w.inRangePages;
  const fate = w.above === "external"
    ? `__hyp_attach_page treats them as external, so they never coalesce${
      layout.externalPages === "order-0" ? " (order 0 forced)" : ""
    }`
    : `__find_buddy_nocheck refuses buddies there, so they stay order 0 (the page at ` +
      `range_end may join its buddy below, and that block cannot be split again)`;
  const warn = `the hyp pool "${q.name}" has ${q.nrPages} pages: hyp_pool_init's 32-bit ` +
    `nr_pages << PAGE_SHIFT wraps, range_end = ${hex(rangeEnd)} (${w.inRangePages} pages ` +
    `from range_start), max_order = ${w.maxOrder}; the ${above} pages above it: ${fate}` +
    (w.nullFreeArea
      ? `; max_order 0 leaves free_area[0] uninitialised, and the first free page ` +
        `dereferences NULL at EL2`
      : "");
  // Free pages at or above range_end become order-0 blocks whose list node
  // is written into the page itself (from v5.14).
  const nodes = layout.nodeOffset < 0 ? q.nrPages - Math.max(q.reservedPages, w.inRangePages) : 0;
  if (nodes * 2 ** PAGE_SHIFT > FREE_PAGE_NODE_BUDGET_BYTES) {
    return {
      warn,
      refuse: `hyplab cannot simulate pool "${q.name}": its ${nodes} free pages above ` +
        `range_end would each hold a list node in the page, ${
          formatSize(nodes * 2 ** PAGE_SHIFT)
        } of host memory (simulated RAM is backed 4 KiB per page written; the limit is ${
          formatSize(FREE_PAGE_NODE_BUDGET_BYTES)
        })`,
    };
  }
  return { warn };
}
