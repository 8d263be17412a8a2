/**
 * The bitmap page allocator as a plugin: a drop-in, non-buddy provider of
 * {@link PAGE_ALLOCATOR} (see {@link BitmapPool} for its trade-offs).
 *
 * @module
 */

import {
  PAGE_ALLOCATOR,
  type PageAllocator,
  type PagePoolOptions,
  type Plugin,
  type PoolSizeQuery,
  type PoolSizeVerdict,
} from "../../core/mod.ts";
import { BITMAP_MAX_NR_PAGES, BITMAP_RECORD_BYTES, BitmapPool } from "./bitmap_pool.ts";

/**
 * The bitmap's own limit, for `PageAllocator.checkPool` at step 1: pools of
 * up to 2^32 - 1 pages (its page counts are 32-bit). It has no 32-bit
 * byte arithmetic, so nothing wraps below that.
 *
 * @param q The pool.
 * @returns A refusal above the limit, else undefined.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkBitmapPoolSize } from "./bitmap_allocator.ts";
 * assertEquals(checkBitmapPoolSize({ name: "hpool", pfn: 0, nrPages: 2 ** 21, reservedPages: 0 }), undefined);
 * ```
 */
export function checkBitmapPoolSize(q: PoolSizeQuery): PoolSizeVerdict | undefined {
  if (Number.isInteger(q.nrPages) && q.nrPages >= 0 && q.nrPages <= BITMAP_MAX_NR_PAGES) {
    return undefined;
  }
  return {
    refuse: `the bitmap allocator takes pools of at most ${BITMAP_MAX_NR_PAGES} pages; ` +
      `"${q.name}" would have ${q.nrPages}`,
  };
}

/** A {@link PageAllocator} whose pools are {@link BitmapPool}s. */
export interface BitmapPageAllocator extends PageAllocator {
  /**
   * Creates a pool (the `hyp_pool_init` counterpart).
   * @param options Range, reserved pages, memory accessor, vmemmap base.
   * @returns The pool.
   */
  createPool(options: PagePoolOptions): BitmapPool;
}

/**
 * The bitmap allocator as a plain {@link PageAllocator}.
 *
 * @returns The allocator, named `bitmap`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { bitmapPageAllocator } from "./bitmap_allocator.ts";
 * import { BITMAP_INDEX_BYTES_PER_PAGE } from "./bitmap_pool.ts";
 * assertEquals(bitmapPageAllocator().name, "bitmap");
 * // The 4-byte record only; the bitmaps take about 1.19 bits per page on top.
 * assertEquals(bitmapPageAllocator().metadataBytesPerPage, 4);
 * assertEquals((BITMAP_INDEX_BYTES_PER_PAGE * 8).toFixed(2), "1.19");
 * ```
 */
export function bitmapPageAllocator(): BitmapPageAllocator {
  return {
    name: "bitmap",
    metadataBytesPerPage: BITMAP_RECORD_BYTES,
    createPool: (o: PagePoolOptions) => new BitmapPool(o, "bitmap"),
    checkPool: checkBitmapPoolSize,
  };
}

/**
 * The bitmap allocator plugin. Pools trace into the machine's trace unless
 * the options give another.
 *
 * @returns A plugin providing `PAGE_ALLOCATOR`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, PAGE_ALLOCATOR } from "../../core/mod.ts";
 * import { bitmapAllocator } from "./bitmap_allocator.ts";
 * const m = createMachine({ plugins: [bitmapAllocator()] });
 * assertEquals(m.get(PAGE_ALLOCATOR).name, "bitmap");
 * ```
 */
export function bitmapAllocator(): Plugin {
  const allocator = bitmapPageAllocator();
  return {
    name: "bitmap_allocator",
    provides: [PAGE_ALLOCATOR],
    setup(ctx) {
      const trace = ctx.machine.trace;
      const provided: BitmapPageAllocator = {
        name: allocator.name,
        metadataBytesPerPage: allocator.metadataBytesPerPage,
        createPool: (o) => allocator.createPool(o.trace === undefined ? { ...o, trace } : o),
        checkPool: checkBitmapPoolSize,
      };
      ctx.provide(PAGE_ALLOCATOR, provided);
    },
  };
}
