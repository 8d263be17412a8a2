/**
 * Random churn over orders 0-3 at ~50% occupancy of a 1 GiB pool, per
 * operation. Target (issue 3): ≤ 300 ns.
 */
import { allocators, churn, setup } from "./_page_allocator_setup.ts";

for (const a of allocators()) {
  const step = churn(setup(a).create(), 7);
  Deno.bench({
    group: "random churn, orders 0-3, ~50% occupancy (per op)",
    name: a.name,
    fn() {
      step();
    },
  });
}
