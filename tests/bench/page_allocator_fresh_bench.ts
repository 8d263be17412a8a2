/**
 * Order-0 alloc+free pairs on a fresh 1 GiB pool: each pair splits the top
 * block down ten orders and merges it back (the worst case). Target: ≤ 3×
 * the same split and merge in C, which does not model the memset.
 */
import { allocators, setup } from "./_page_allocator_setup.ts";
import { C_FIGURES, RATIO, target } from "./_targets.ts";

for (const a of allocators()) {
  const pool = setup(a).create();
  Deno.bench({
    group: "order-0 alloc+free pair on a fresh pool (full split and merge)",
    name: `${a.name} ${target(RATIO.allocator, C_FIGURES.pairFreshNs, "ns")}`,
    fn() {
      pool.putPage(pool.allocPages(0)!);
    },
  });
}
