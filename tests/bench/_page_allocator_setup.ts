/**
 * Shared setup of the page-allocator benches: a 1 GiB pool (262,144 pages)
 * per allocator through the linear EL2 accessor, and the churn workload.
 *
 * Each workload has its own bench module, so it runs in its own isolate:
 * one workload's JIT feedback (say, the full split and merge of a fresh
 * pool) does not tax another's figures, as a hypervisor process runs one
 * allocator workload at a time.
 */
import {
  linearEl2Memory,
  PAGE_SIZE,
  type PageAllocator,
  type PagePool,
  PhysicalMemory,
  Prng,
} from "../../core/mod.ts";
import { bitmapPageAllocator } from "../../plugins/bitmap_allocator/mod.ts";
import { buddyPageAllocator } from "../../plugins/buddy_allocator/mod.ts";

/** Pages in the pool: 1 GiB. */
export const NR_PAGES = 262_144;
const POOL_PA = 0x8000_0000; // 1 GiB aligned
const VMEMMAP_PA = 0x4000_0000; // entries of the pool's pages start here
const HYP_OFF = 2 ** 47; // hyp VA = PA + 2^47

/** The allocators compared, in report order. */
export function allocators(): PageAllocator[] {
  return [
    buddyPageAllocator({ version: "v5.13" }),
    buddyPageAllocator({ version: "mainline" }),
    bitmapPageAllocator(),
  ];
}

/** Fresh memory for one allocator; `create()` is hyp_pool_init over a fresh vmemmap. */
export function setup(allocator: PageAllocator): { create: () => PagePool } {
  const mem = new PhysicalMemory([{ base: VMEMMAP_PA, size: 2 * 2 ** 30 }]);
  const el2 = linearEl2Memory(mem, (va) => va - HYP_OFF);
  const pfn = POOL_PA / PAGE_SIZE;
  const options = {
    name: "bench",
    pfn,
    nrPages: NR_PAGES,
    reservedPages: 0,
    memory: el2,
    vmemmap: VMEMMAP_PA + HYP_OFF - pfn * allocator.metadataBytesPerPage,
    physToVirt: (pa: number) => pa + HYP_OFF,
    virtToPhys: (va: number) => va - HYP_OFF,
  };
  const create = () => {
    // A fresh vmemmap, as hyp_back_vmemmap leaves it (mainline checks it).
    el2.zero(VMEMMAP_PA + HYP_OFF, NR_PAGES * 32);
    return allocator.createPool(options);
  };
  return { create };
}

/**
 * Churn: fills the pool to ~50% with random orders 0-3, then returns one
 * step: free a random held block, or allocate a random order 0-3.
 *
 * The held blocks live in preallocated typed arrays, as the C program's
 * `held[]` / `horder[]` do, so a step costs the allocator call and the
 * PRNG, not a growing JS array.
 */
export function churn(pool: PagePool, seed: number): () => void {
  const prng = new Prng(seed);
  // At most one block per page is ever held.
  const held = new Float64Array(NR_PAGES);
  const orders = new Uint8Array(NR_PAGES);
  let n = 0;
  let used = 0;
  const half = NR_PAGES / 2;
  const step = () => {
    if (used > half && n > 0) {
      const k = prng.int(n);
      pool.putPage(held[k]!);
      used -= 1 << orders[k]!;
      n--;
      held[k] = held[n]!;
      orders[k] = orders[n]!;
    } else {
      const o = prng.int(4);
      const va = pool.allocPages(o);
      if (va !== null) {
        held[n] = va;
        orders[n] = o;
        n++;
        used += 1 << o;
      }
    }
  };
  while (used < half) step();
  return step;
}
