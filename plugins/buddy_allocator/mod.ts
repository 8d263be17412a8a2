/**
 * The hyp buddy allocator (`hyp_pool`, arch/arm64/kvm/hyp/nvhe/page_alloc.c)
 * in its v5.13 and mainline forms, with the kernel's `struct hyp_page`
 * records and free lists in simulated memory, and an invariant checker.
 *
 * @example Split and merge in a 16-page mainline pool
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { linearEl2Memory, PhysicalMemory } from "../../core/mod.ts";
 * import { buddyPageAllocator } from "./mod.ts";
 *
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * const pool = buddyPageAllocator({ version: "mainline" }).createPool({
 *   name: "hpool", pfn: 0x40100, nrPages: 16, reservedPages: 0,
 *   memory: linearEl2Memory(mem, (va) => va), vmemmap: 0x4000_0000 - 0x40100 * 8,
 *   physToVirt: (pa) => pa, virtToPhys: (va) => va,
 * });
 * const va = pool.allocPages(1)!;
 * assertEquals(pool.freeList(1), [0x4010_2000]);
 * pool.putPage(va);
 * assertEquals(pool.freeList(4), [0x4010_0000]);
 * assertEquals(pool.checkInvariants(), undefined);
 * ```
 *
 * @module
 */

export * from "./buddy_allocator.ts";
export {
  type BuddyVersion,
  checkHypPoolSize,
  FREE_PAGE_NODE_BUDGET_BYTES,
  HYP_PAGE_LAYOUT,
  HYP_POOL_LAYOUT,
  HYP_POOL_WRAP_PAGES,
  type HypPageLayout,
  hypPageLayout,
  type HypPoolLayout,
  hypPoolMaxOrder,
  hypPoolShiftedBytes,
  type HypPoolWrap,
  hypPoolWrap,
  OFF_MACHINE_POOL_VA,
} from "./hyp_page_layout.ts";
export { BuddyPool } from "./hyp_pool.ts";
