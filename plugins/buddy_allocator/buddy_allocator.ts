/**
 * The buddy page allocator as a plugin: `buddyAllocator({ version })`
 * provides {@link PAGE_ALLOCATOR} with pools that follow the v5.13 or the
 * mainline `hyp_pool` exactly.
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
import { type BuddyVersion, checkHypPoolSize, hypPageLayout } from "./hyp_page_layout.ts";
import { BuddyPool } from "./hyp_pool.ts";

/** Options of {@link buddyAllocator} and {@link buddyPageAllocator}. */
export interface BuddyAllocatorOptions {
  /**
   * Which kernel release's `hyp_pool` to follow (`v5.13`, `v6.1`, `v6.12`,
   * `v7.2`, `mainline`).
   * @default "v5.13"
   */
  version?: BuddyVersion;
}

/** A {@link PageAllocator} whose pools are {@link BuddyPool}s. */
export interface BuddyPageAllocator extends PageAllocator {
  /** Variant. */
  readonly version: BuddyVersion;
  /**
   * `hyp_pool_init`.
   * @param options Range, reserved pages, memory accessor, vmemmap base.
   * @returns The pool.
   */
  createPool(options: PagePoolOptions): BuddyPool;
  /**
   * At step 1, what `hyp_pool_init` will do with a pool of this size (its
   * 32-bit `nr_pages << PAGE_SHIFT` wraps from 2^20 pages).
   * @param pool The pool.
   * @returns The verdict, or undefined.
   */
  checkPool(pool: PoolSizeQuery): PoolSizeVerdict | undefined;
}

/**
 * The buddy allocator as a plain {@link PageAllocator} (no machine needed).
 *
 * @param options `version`: `v5.13` (default) or `mainline`.
 * @returns The allocator, named `buddy-v5.13` or `buddy-mainline`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { linearEl2Memory, PhysicalMemory } from "../../core/mod.ts";
 * import { buddyPageAllocator } from "./buddy_allocator.ts";
 *
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * const buddy = buddyPageAllocator({ version: "v5.13" });
 * const pool = buddy.createPool({
 *   name: "hpool", pfn: 0x40100, nrPages: 4, reservedPages: 0,
 *   memory: linearEl2Memory(mem, (va) => va), vmemmap: 0x4000_0000 - 0x40100 * 32,
 *   physToVirt: (pa) => pa, virtToPhys: (va) => va,
 * });
 * assertEquals(pool.maxOrder, 2); // v5.13: orders < 2, so two order-1 blocks
 * assertEquals(pool.stats().freeBlocksByOrder.slice(0, 3), [0, 2, 0]);
 * ```
 */
export function buddyPageAllocator(options: BuddyAllocatorOptions = {}): BuddyPageAllocator {
  const requested = options.version ?? "v5.13";
  let layout;
  try {
    layout = hypPageLayout(requested);
  } catch (e) {
    throw new RangeError(`Cannot create a buddy allocator: ${(e as Error).message}`);
  }
  const version = layout.version;
  const name = `buddy-${requested}`;
  return {
    name,
    version,
    metadataBytesPerPage: layout.size,
    createPool: (o: PagePoolOptions) => new BuddyPool(layout, o, name),
    checkPool: (q) => checkHypPoolSize(layout, q),
  };
}

/**
 * The buddy allocator plugin. Pools created through it trace into the
 * machine's trace unless the options give another.
 *
 * @param options `version`: `v5.13` (default) or `mainline`.
 * @returns A plugin providing `PAGE_ALLOCATOR`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, PAGE_ALLOCATOR } from "../../core/mod.ts";
 * import { buddyAllocator } from "./buddy_allocator.ts";
 * const m = createMachine({ plugins: [buddyAllocator({ version: "mainline" })] });
 * assertEquals(m.get(PAGE_ALLOCATOR).name, "buddy-mainline");
 * assertEquals(m.get(PAGE_ALLOCATOR).metadataBytesPerPage, 8);
 * ```
 */
export function buddyAllocator(options: BuddyAllocatorOptions = {}): Plugin {
  const allocator = buddyPageAllocator(options);
  return {
    name: "buddy_allocator",
    provides: [PAGE_ALLOCATOR],
    setup(ctx) {
      const trace = ctx.machine.trace;
      const provided: BuddyPageAllocator = {
        name: allocator.name,
        version: allocator.version,
        metadataBytesPerPage: allocator.metadataBytesPerPage,
        createPool: (o) => allocator.createPool(o.trace === undefined ? { ...o, trace } : o),
        checkPool: allocator.checkPool,
      };
      ctx.provide(PAGE_ALLOCATOR, provided);
    },
  };
}
