/**
 * A small page-allocator plugin to copy: an *extent* allocator. Free memory is
 * a sorted list of free page ranges; order o takes the first 2^o-aligned block
 * that fits, and a free merges neighbours. Against the hyp buddy: 3 metadata
 * bytes per page (host-side typed arrays, nothing in the vmemmap) and O(extents)
 * alloc/free instead of O(max_order). Use: `--allocator examples/custom_allocator.ts`.
 *
 * @module
 */
import {
  KernelBugError,
  PAGE_ALLOCATOR,
  PAGE_SIZE,
  type PageAllocator,
  type PagePool,
  type PagePoolOptions,
  type Plugin,
} from "../mod.ts";

const MAX_ORDER = 10;

/** One pool: extents `[start, end)` in page indexes from the range start. */
function extentPool(o: PagePoolOptions): PagePool {
  if (!(o.reservedPages >= 0 && o.reservedPages <= o.nrPages)) {
    throw new RangeError(`Cannot reserve ${o.reservedPages} of ${o.nrPages} pages`);
  }
  const refs = new Uint16Array(o.nrPages);
  const orders = new Uint8Array(o.nrPages);
  const free: [number, number][] = o.reservedPages < o.nrPages
    ? [[o.reservedPages, o.nrPages]]
    : [];
  for (let i = 0; i < o.reservedPages; i++) refs[i] = 1;
  const start = o.pfn * PAGE_SIZE;
  const mem = o.memory;
  // Like hyp_pool_init, hand out only zeroed memory: clear the free part once.
  if (free.length) {
    mem.zero(
      o.physToVirt(start + o.reservedPages * PAGE_SIZE),
      free[0]![1] * PAGE_SIZE - o.reservedPages * PAGE_SIZE,
    );
  }
  let allocs = 0, failed = 0, frees = 0;
  // Any VA inside a page names that page: the kernel's hyp_virt_to_page
  // rounds down, and the mainline boot calls hyp_get_page partway into a page.
  const index = (va: number, fn: string): number => {
    const i = Math.floor((o.virtToPhys(va) - start) / PAGE_SIZE);
    if (!Number.isInteger(i) || i < 0 || i >= o.nrPages) {
      throw new KernelBugError(fn, `0x${va.toString(16)} is not a page of pool "${o.name}"`);
    }
    return i;
  };
  const release = (i: number, n: number) => {
    mem.zero(o.physToVirt(start + i * PAGE_SIZE), n * PAGE_SIZE);
    let k = free.findIndex(([s]) => s > i);
    if (k < 0) k = free.length;
    free.splice(k, 0, [i, i + n]);
    if (k + 1 < free.length && free[k]![1] === free[k + 1]![0]) {
      free[k]![1] = free[k + 1]![1];
      free.splice(k + 1, 1);
    }
    if (k > 0 && free[k - 1]![1] === free[k]![0]) {
      free[k - 1]![1] = free[k]![1];
      free.splice(k, 1);
    }
    frees += n;
  };
  return {
    name: o.name,
    rangeStart: start,
    rangeEnd: start + o.nrPages * PAGE_SIZE,
    maxOrder: MAX_ORDER,
    allocPages(order) {
      if (!Number.isInteger(order) || order < 0) {
        throw new RangeError(`Cannot allocate order ${order}`);
      }
      const n = 2 ** order;
      for (let k = 0; order <= MAX_ORDER && k < free.length; k++) {
        const [s, e] = free[k]!;
        const a = Math.ceil((o.pfn + s) / n) * n - o.pfn; // align the PA, not the index
        if (a + n > e) continue;
        free.splice(
          k,
          1,
          ...([[s, a], [a + n, e]] as [number, number][]).filter(([x, y]) => x < y),
        );
        refs[a] = 1;
        orders[a] = order;
        allocs++;
        return o.physToVirt(start + a * PAGE_SIZE);
      }
      failed++;
      return null;
    },
    getPage(va) {
      const i = index(va, "hyp_get_page");
      if (refs[i] === 0xffff) throw new KernelBugError("hyp_get_page", "refcount would pass 65535");
      refs[i]!++;
    },
    putPage(va) {
      const i = index(va, "hyp_put_page");
      if (refs[i] === 0) {
        throw new KernelBugError("hyp_put_page", `page 0x${va.toString(16)} has refcount 0`);
      }
      if (--refs[i]! === 0) release(i, 2 ** orders[i]!);
    },
    pageCount: (va) => refs[index(va, "hyp_page_count")]!,
    stats() {
      const byOrder = new Array(MAX_ORDER + 1).fill(0);
      let pages = 0;
      for (const [s, e] of free) {
        pages += e - s;
        // Count the aligned power-of-two blocks each extent splits into, like buddyinfo.
        for (let i = s; i < e;) {
          let k = MAX_ORDER;
          while (k > 0 && ((o.pfn + i) % 2 ** k !== 0 || i + 2 ** k > e)) k--;
          byOrder[k]++;
          i += 2 ** k;
        }
      }
      return {
        nrPages: o.nrPages,
        reserved: o.reservedPages,
        free: pages,
        freeBlocksByOrder: byOrder,
        allocs,
        failedAllocs: failed,
        frees,
        metadataBytesPerPage: 3,
      };
    },
    checkInvariants(opts) {
      for (const [k, [s, e]] of free.entries()) {
        if (!(o.reservedPages <= s && s < e && e <= o.nrPages)) {
          return `extent ${k} [${s}, ${e}) is empty or outside the free range`;
        }
        if (k > 0 && free[k - 1]![1] >= s) return `extents ${k - 1} and ${k} overlap or touch`;
        for (let i = s; i < e; i++) {
          if (refs[i] !== 0) return `free page ${i} has refcount ${refs[i]}`;
        }
        // Free memory is zero: allocPages hands it out as is.
        const va = o.physToVirt(start + s * PAGE_SIZE);
        if ((opts?.contents ?? true) && !mem.isZero(va, (e - s) * PAGE_SIZE)) {
          return `free extent [${s}, ${e}) is not zero`;
        }
      }
      return undefined;
    },
  };
}

/** The allocator variant. */
export const extentAllocator: PageAllocator = {
  name: "extent",
  metadataBytesPerPage: 3,
  createPool: extentPool,
};

/** The plugin `--allocator examples/custom_allocator.ts` loads. */
export const plugin: Plugin = {
  name: "extent_allocator",
  provides: [PAGE_ALLOCATOR],
  setup: (ctx) => ctx.provide(PAGE_ALLOCATOR, extentAllocator),
};
