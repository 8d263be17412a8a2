/**
 * Order-0 alloc+free pairs on a 1 GiB pool through the linear EL2 accessor.
 * Target (issue 3): ≤ 150 ns per pair.
 */
import { allocators, setup } from "./_page_allocator_setup.ts";

for (const a of allocators()) {
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
