import { assertRejects } from "@std/assert";
import {
  ConformanceError,
  KernelBugError,
  PAGE_ALLOCATOR,
  type PageAllocator,
  pageAllocatorConformance,
  type PagePool,
} from "../../core/mod.ts";
import { bitmapAllocator, bitmapPageAllocator } from "../../plugins/bitmap_allocator/mod.ts";
import { buddyAllocator, buddyPageAllocator } from "../../plugins/buddy_allocator/mod.ts";

Deno.test("the v5.13 buddy passes the page-allocator conformance suite", (t) =>
  pageAllocatorConformance(t, buddyAllocator({ version: "v5.13" })));

Deno.test("the mainline buddy passes the page-allocator conformance suite", (t) =>
  pageAllocatorConformance(t, buddyAllocator({ version: "mainline" })));

Deno.test("the bitmap allocator passes the page-allocator conformance suite", (t) =>
  pageAllocatorConformance(t, bitmapAllocator()));

Deno.test("the suite runs without a test context, allocator first, on other geometries", async () => {
  await pageAllocatorConformance(buddyPageAllocator({ version: "mainline" }), undefined, {
    pfn: 0x40800,
    nrPages: 1024,
    reservedPages: 0,
  });
  await pageAllocatorConformance(undefined, bitmapPageAllocator(), { pfn: 0x40801, nrPages: 77 });
  await pageAllocatorConformance(buddyPageAllocator(), undefined, { nrPages: 5, reservedPages: 1 });
});

/** Wraps an allocator's pools, overriding one method, to check the suite catches it. */
function broken(name: string, patch: (pool: PagePool) => Partial<PagePool>): PageAllocator {
  const inner = buddyPageAllocator({ version: "mainline" });
  return {
    name,
    metadataBytesPerPage: inner.metadataBytesPerPage,
    createPool(o) {
      const pool = inner.createPool(o);
      const p = patch(pool);
      return {
        get name() {
          return pool.name;
        },
        rangeStart: pool.rangeStart,
        rangeEnd: pool.rangeEnd,
        maxOrder: pool.maxOrder,
        allocPages: p.allocPages ?? ((order) => pool.allocPages(order)),
        getPage: (va) => pool.getPage(va),
        putPage: p.putPage ?? ((va) => pool.putPage(va)),
        pageCount: (va) => pool.pageCount(va),
        stats: () => pool.stats(),
        checkInvariants: (opts) => pool.checkInvariants(opts),
      };
    },
  };
}

Deno.test("the suite fails allocators that break the contract, naming the check", async () => {
  // Hands out a block one page off its alignment.
  const misaligned = broken("misaligned", (pool) => ({
    allocPages: (order) => {
      const va = pool.allocPages(order);
      return va === null || order === 0 ? va : va + 4096;
    },
  }));
  await assertRejects(() => pageAllocatorConformance(misaligned), ConformanceError, "not aligned");
  // Takes the page straight back on every free (a leak).
  const leaky = broken("leaky", (pool) => ({
    putPage: (va) => {
      const before = pool.pageCount(va);
      pool.putPage(va);
      if (before === 1) pool.allocPages(0);
    },
  }));
  await assertRejects(
    () => pageAllocatorConformance(leaky),
    ConformanceError,
    "refcount after the last put",
  );
  // Swallows a double free instead of refusing it.
  const lenient = broken("lenient", (pool) => ({
    putPage: (va) => {
      try {
        pool.putPage(va);
      } catch (e) {
        if (!(e instanceof KernelBugError)) throw e;
      }
    },
  }));
  await assertRejects(() => pageAllocatorConformance(lenient), ConformanceError, "refcount 0");
  await assertRejects(
    () => pageAllocatorConformance(undefined, undefined as unknown as PageAllocator),
    TypeError,
  );
  // The capability key is what plugins provide.
  if (PAGE_ALLOCATOR.name !== "page_allocator") throw new Error("unreachable");
});
