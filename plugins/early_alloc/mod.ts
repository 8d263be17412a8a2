/**
 * The early allocator (`hyp_early_alloc_*`): bump allocation of zeroed
 * pages over a hyp VA range, with its `hyp_early_alloc_mm_ops`.
 *
 * @example Carve a pool the way divide_memory_pool does
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { linearEl2Memory, PhysicalMemory } from "../../core/mod.ts";
 * import { hypEarlyAllocInit } from "./mod.ts";
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 30 }]);
 * const pool = hypEarlyAllocInit({
 *   virt: 0x7ea0_0000, size: 22 * 2 ** 20, memory: linearEl2Memory(mem, (va) => va),
 *   physToVirt: (pa) => pa, virtToPhys: (va) => va,
 * });
 * const vmemmap = pool.contig(44);
 * const hypPgt = pool.contig(2569);
 * assertEquals([vmemmap, hypPgt], [0x7ea0_0000, 0x7ea0_0000 + 44 * 4096]);
 * assertEquals(pool.nrUsedPages(), 44 + 2569);
 * ```
 *
 * @module
 */

export * from "./early_alloc.ts";
export * from "./plugin.ts";
