import { assertRejects } from "@std/assert";
import {
  KernelBugError,
  PAGE_ALLOCATOR,
  PAGE_SIZE,
  type PageAllocator,
  type PagePool,
  type PagePoolOptions,
} from "../../core/mod.ts";
import { ConformanceError, pageAllocatorConformance } from "../../core/conformance/mod.ts";
import { bitmapAllocator, bitmapPageAllocator } from "../../plugins/bitmap_allocator/mod.ts";
import { buddyAllocator, buddyPageAllocator } from "../../plugins/buddy_allocator/mod.ts";

Deno.test("the v5.13 buddy passes the page-allocator conformance suite", (t) =>
  pageAllocatorConformance(t, buddyAllocator({ version: "v5.13" })));

Deno.test("the mainline buddy passes the page-allocator conformance suite", (t) =>
  pageAllocatorConformance(t, buddyAllocator({ version: "mainline" }), { refcountMax: 0xffff }));

Deno.test("the bitmap allocator passes the page-allocator conformance suite", (t) =>
  pageAllocatorConformance(t, bitmapAllocator(), { refcountMax: 0xffff }));

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
function broken(
  name: string,
  patch: (pool: PagePool, o: PagePoolOptions) => Partial<PagePool>,
): PageAllocator {
  const inner = buddyPageAllocator({ version: "mainline" });
  return {
    name,
    metadataBytesPerPage: inner.metadataBytesPerPage,
    createPool(o) {
      const pool = inner.createPool(o);
      const p = patch(pool, o);
      return {
        get name() {
          return pool.name;
        },
        rangeStart: pool.rangeStart,
        rangeEnd: pool.rangeEnd,
        maxOrder: pool.maxOrder,
        allocPages: p.allocPages ?? ((order) => pool.allocPages(order)),
        getPage: p.getPage ?? ((va) => pool.getPage(va)),
        putPage: p.putPage ?? ((va) => pool.putPage(va)),
        pageCount: (va) => pool.pageCount(va),
        stats: p.stats ?? (() => pool.stats()),
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
  // Does not clear the pool at creation, trusting the memory to be zero.
  const inner = buddyPageAllocator({ version: "mainline" });
  const noInitZero: PageAllocator = {
    name: "no-init-zero",
    metadataBytesPerPage: inner.metadataBytesPerPage,
    createPool(o) {
      const from = o.physToVirt((o.pfn + o.reservedPages) * PAGE_SIZE);
      const words = (o.nrPages - o.reservedPages) * PAGE_SIZE / 4;
      const old = Array.from({ length: words }, (_, i) => o.memory.read32(from + 4 * i));
      const pool = inner.createPool(o);
      // Put back all but the free-list node at the start of each page.
      old.forEach((w, i) => (4 * i) % PAGE_SIZE >= 16 && o.memory.write32(from + 4 * i, w));
      return pool;
    },
  };
  await assertRejects(
    () => pageAllocatorConformance(noInitZero),
    ConformanceError,
    "of a pool created over non-zero memory is not zero",
  );
  // Lets the refcount pass its u16 maximum.
  const noRefMax = broken("no-ref-max", (pool) => {
    const extra = new Map<number, number>();
    return {
      getPage: (va) => {
        if (pool.pageCount(va) === 0xffff) extra.set(va, (extra.get(va) ?? 0) + 1);
        else pool.getPage(va);
      },
    };
  });
  await assertRejects(
    () => pageAllocatorConformance(noRefMax, undefined, { refcountMax: 0xffff }),
    ConformanceError,
    "getPage() at refcount 65535 (refcountMax) did not throw a KernelBugError",
  );
  // Ignores putPage() of a tail page of an allocated block.
  const tailIgnored = broken("tail-ignored", (pool) => {
    const tails = new Set<number>();
    return {
      allocPages: (order) => {
        const va = pool.allocPages(order);
        for (let i = 1; va !== null && i < 2 ** order; i++) tails.add(va + i * PAGE_SIZE);
        return va;
      },
      putPage: (va) => {
        if (!tails.has(va)) pool.putPage(va);
      },
    };
  });
  await assertRejects(
    () => pageAllocatorConformance(tailIgnored),
    ConformanceError,
    "putPage() of a tail page: expected an error",
  );
  // Reports no free blocks per order.
  const noByOrder = broken("no-by-order", (pool) => ({
    stats: () => ({ ...pool.stats(), freeBlocksByOrder: [] }),
  }));
  await assertRejects(
    () => pageAllocatorConformance(noByOrder),
    ConformanceError,
    "the free blocks must add up to the free pages",
  );
  await assertRejects(
    () => pageAllocatorConformance(undefined, undefined as unknown as PageAllocator),
    TypeError,
  );
  // The capability key is what plugins provide.
  if (PAGE_ALLOCATOR.name !== "page_allocator") throw new Error("unreachable");
});
