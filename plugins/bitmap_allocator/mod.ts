/**
 * A non-buddy page allocator for the `PAGE_ALLOCATOR` capability: a free
 * bitmap searched aligned-first-fit, with a 4-byte refcount/order record per
 * page in the vmemmap (about 4.15 bytes of metadata per page with the
 * bitmaps, against the buddy's 32 or 8). Swap it in for the buddy with `bitmapAllocator()`.
 *
 * @example First fit at each block's alignment
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { linearEl2Memory, PhysicalMemory } from "../../core/mod.ts";
 * import { bitmapPageAllocator } from "./mod.ts";
 *
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * const pool = bitmapPageAllocator().createPool({
 *   name: "hpool", pfn: 0x40100, nrPages: 16, reservedPages: 0,
 *   memory: linearEl2Memory(mem, (va) => va), vmemmap: 0x4000_0000 - 0x40100 * 4,
 *   physToVirt: (pa) => pa, virtToPhys: (va) => va,
 * });
 * const a = pool.allocPages(0)!;
 * assertEquals(pool.allocPages(1), 0x4010_2000);
 * pool.putPage(a);
 * assertEquals(pool.allocPages(0), a); // the lowest free page again
 * assertEquals(pool.checkInvariants(), undefined);
 * ```
 *
 * @module
 */

export * from "./bitmap_allocator.ts";
export * from "./bitmap_pool.ts";
