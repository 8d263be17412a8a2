import { linearEl2Memory, PhysicalMemory } from "../../core/mod.ts";
import { hypEarlyAllocInit } from "../../plugins/early_alloc/mod.ts";

const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 30 }]);
const memory = linearEl2Memory(mem, (va) => va);
const init = (pages: number) =>
  hypEarlyAllocInit({
    virt: 0x4000_0000,
    size: pages * 4096,
    memory,
    physToVirt: (pa) => pa,
    virtToPhys: (va) => va,
  });

Deno.bench({
  group: "early_alloc",
  name: "hyp_early_alloc_page() × 2569 (a v5.13 hyp_s1 region), with init",
  baseline: true,
  fn: () => {
    const ea = init(2569);
    while (ea.page() !== null);
  },
});

Deno.bench({
  group: "early_alloc",
  name: "divide_memory_pool-like carve: 4 contig() calls over 5632 pages, with init",
  fn: () => {
    const ea = init(5632);
    ea.contig(44);
    ea.contig(2569);
    ea.contig(2070);
    ea.contig(515);
  },
});
