/**
 * Random churn over orders 0-3 at ~50% occupancy of a 1 GiB pool, per
 * operation (xoshiro128** seed 7). Target: ≤ 3× the same sequence in C
 * without the memset (the C churn with a real 4 KiB << order memset is an
 * order of magnitude slower, so it would be no target at all).
 */
import { allocators, churn, setup } from "./_page_allocator_setup.ts";
import { C_FIGURES, RATIO, target } from "./_targets.ts";

for (const a of allocators()) {
  const step = churn(setup(a).create(), 7);
  Deno.bench({
    group: "random churn, orders 0-3, ~50% occupancy (per op)",
    name: `${a.name} ${target(RATIO.allocator, C_FIGURES.churnNs, "ns")}`,
    fn() {
      step();
    },
  });
}
