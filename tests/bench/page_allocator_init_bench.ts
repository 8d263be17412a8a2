/** hyp_pool_init on a 1 GiB pool. Target (issue 3): ≤ 30 ms. */
import { allocators, setup } from "./_page_allocator_setup.ts";

for (const a of allocators()) {
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
