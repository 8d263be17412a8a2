/**
 * hyp_pool_init on a 1 GiB pool (262,144 pages), the vmemmap zeroed first
 * as hyp_back_vmemmap leaves it. Target: ≤ 3× the same work in C (see
 * `_targets.ts`).
 */
import { allocators, setup } from "./_page_allocator_setup.ts";
import { C_FIGURES, RATIO, target } from "./_targets.ts";

for (const a of allocators()) {
  const { create } = setup(a);
  Deno.bench({
    group: "hyp_pool_init, 1 GiB",
    name: `${a.name} ${target(RATIO.allocator, C_FIGURES.initMs, "ms")}`,
    fn(b) {
      b.start();
      create();
      b.end();
    },
  });
}
