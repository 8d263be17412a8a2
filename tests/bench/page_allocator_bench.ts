/**
 * Page allocators on a 1 GiB pool (262,144 pages) through the linear EL2
 * accessor. Targets (issue 3): order-0 alloc+free pair ≤ 150 ns; random
 * churn over orders 0–3 at ~50% occupancy ≤ 300 ns per operation;
 * hyp_pool_init ≤ 30 ms.
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

const NR_PAGES = 262_144;
const POOL_PA = 0x8000_0000; // 1 GiB aligned
const VMEMMAP_PA = 0x4000_0000; // entries of the pool's pages start here
const HYP_OFF = 2 ** 47; // hyp VA = PA + 2^47

const allocators: PageAllocator[] = [
  buddyPageAllocator({ version: "v5.13" }),
  buddyPageAllocator({ version: "mainline" }),
  bitmapPageAllocator(),
];

function setup(allocator: PageAllocator) {
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
  return { mem, create };
}

for (const a of allocators) {
  const { create } = setup(a);
  Deno.bench({
    group: "hyp_pool_init, 1 GiB",
    name: a.name,
    fn(b) {
      b.start();
      create();
      b.end();
    },
  });
}

for (const a of allocators) {
  const pool = setup(a).create();
  // One page kept, so a pair reuses its buddy instead of splitting 10 orders.
  pool.allocPages(0);
  Deno.bench({
    group: "order-0 alloc+free pair",
    name: a.name,
    fn() {
      pool.putPage(pool.allocPages(0)!);
    },
  });
}

for (const a of allocators) {
  const pool = setup(a).create();
  Deno.bench({
    group: "order-0 alloc+free pair on a fresh pool (full split and merge)",
    name: a.name,
    fn() {
      pool.putPage(pool.allocPages(0)!);
    },
  });
}

/** Churn: ~50% of the pages held; each op frees a random block or allocates order 0-3. */
function churn(pool: PagePool, seed: number) {
  const prng = new Prng(seed);
  const held: number[] = [];
  const orders: number[] = [];
  let used = 0;
  const half = NR_PAGES / 2;
  const step = () => {
    if (used > half && held.length > 0) {
      const k = prng.int(held.length);
      pool.putPage(held[k]!);
      used -= 1 << orders[k]!;
      held[k] = held[held.length - 1]!;
      orders[k] = orders[orders.length - 1]!;
      held.pop();
      orders.pop();
    } else {
      const o = prng.int(4);
      const va = pool.allocPages(o);
      if (va !== null) {
        held.push(va);
        orders.push(o);
        used += 1 << o;
      }
    }
  };
  while (used < half) step();
  return step;
}

for (const a of allocators) {
  const step = churn(setup(a).create(), 7);
  Deno.bench({
    group: "random churn, orders 0-3, ~50% occupancy (per op)",
    name: a.name,
    fn() {
      step();
    },
  });
}
