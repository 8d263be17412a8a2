/**
 * Order-0 alloc+free pairs on a fresh 1 GiB pool: each pair splits the top
 * block down ten orders and merges it back (no target; the worst case).
 */
import { allocators, setup } from "./_page_allocator_setup.ts";

for (const a of allocators()) {
  const pool = setup(a).create();
  Deno.bench({
    group: "order-0 alloc+free pair on a fresh pool (full split and merge)",
    name: a.name,
    fn() {
      pool.putPage(pool.allocPages(0)!);
    },
  });
}
