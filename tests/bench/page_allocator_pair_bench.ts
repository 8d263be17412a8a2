/**
 * Order-0 alloc+free pairs on a 1 GiB pool through the linear EL2 accessor,
 * one page kept so a pair reuses its buddy instead of splitting 10 orders.
 * Every freed page is zeroed as the kernel's memset does (sparse memory
 * makes that cheap), so the target is ≤ 3× the C pair WITH the memset; the
 * ratio to the C pair without it is in the README's table.
 */
import { allocators, setup } from "./_page_allocator_setup.ts";
import { C_FIGURES, RATIO, target } from "./_targets.ts";

for (const a of allocators()) {
  const pool = setup(a).create();
  pool.allocPages(0);
  Deno.bench({
    group: "order-0 alloc+free pair",
    name: `${a.name} ${target(RATIO.allocator, C_FIGURES.pairKeptMemsetNs, "ns")}`,
    fn() {
      pool.putPage(pool.allocPages(0)!);
    },
  });
}
