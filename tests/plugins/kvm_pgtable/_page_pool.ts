/**
 * A tiny test-local page allocator over PhysicalMemory with refcounts, used
 * as `mm_ops` by the kvm_pgtable tests and bench (independent of the real
 * allocators, which land in parallel).
 *
 * Hyp VAs are PA + `vaOffset`, so a VA/PA mix-up shows as a wrong address.
 *
 * @module
 */

import { KernelBugError, type PgtableMmOps, PhysicalMemory } from "../../../core/mod.ts";

/** Default hyp VA offset: VA = PA + 2^47. */
export const VA_OFFSET = 2 ** 47;

/** The allocator and its counters. */
export interface TestPagePool {
  /** mm_ops with get/put/page_count and the batched getPages. */
  readonly mmOps: PgtableMmOps;
  /** The memory the pages live in. */
  readonly memory: PhysicalMemory;
  /** PA of the first managed page. */
  readonly base: number;
  /** Pages with a non-zero refcount. */
  live(): number;
  /** Pages handed out by zallocPage so far. */
  readonly allocs: number;
  /** Pages freed (refcount dropped to 0) so far. */
  readonly frees: number;
  /** Refcount of the page at `pa`. */
  refcount(pa: number): number;
  /** mm_ops without get/put/page_count (v5.13 early-allocator shape). */
  readonly earlyMmOps: PgtableMmOps;
}

/**
 * Makes a pool of `pages` pages at `base` (default: a 1 GiB bank at 0x4000_0000
 * holds both the pool and mapped "RAM"; the pool sits at its start).
 */
export function testPagePool(
  options: { base?: number; pages?: number; memory?: PhysicalMemory; vaOffset?: number } = {},
): TestPagePool {
  const base = options.base ?? 0x4000_0000;
  const pages = options.pages ?? 4096;
  const memory = options.memory ??
    new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 30 }]);
  const vaOffset = options.vaOffset ?? VA_OFFSET;
  const refs = new Uint16Array(pages);
  const free: number[] = [];
  for (let i = pages - 1; i >= 0; i--) free.push(i);
  let allocs = 0;
  let frees = 0;
  let live = 0;

  const index = (va: number, fn: string): number => {
    const pa = va - vaOffset;
    const i = Math.floor((pa - base) / 4096);
    if (i < 0 || i >= pages) {
      throw new KernelBugError(fn, `VA 0x${va.toString(16)} is outside the test pool`);
    }
    return i;
  };
  const physToVirt = (pa: number) => pa + vaOffset;
  const virtToPhys = (va: number) => va - vaOffset;
  const zallocPage = (): number | null => {
    const i = free.pop();
    if (i === undefined) return null;
    const pa = base + i * 4096;
    memory.zero(pa, 4096);
    refs[i] = 1;
    allocs++;
    live++;
    return physToVirt(pa);
  };
  const mmOps: PgtableMmOps = {
    zallocPage,
    getPage(va) {
      // index() inlined: the map benches take a reference per leaf.
      const i = Math.floor((va - vaOffset - base) / 4096);
      if (!(i >= 0 && i < pages)) index(va, "get_page");
      const rc = refs[i]!;
      if (rc === 0xffff) throw new KernelBugError("get_page", "refcount overflow");
      if (rc === 0) throw new KernelBugError("get_page", "page is free");
      refs[i] = rc + 1;
    },
    getPages(va, n) {
      // getPage n times, stopping before the call that would throw.
      const i = Math.floor((va - vaOffset - base) / 4096);
      if (!(i >= 0 && i < pages)) index(va, "get_page");
      const rc = refs[i]!;
      if (rc === 0) return 0;
      const k = Math.min(n, 0xffff - rc);
      refs[i] = rc + k;
      return k;
    },
    putPage(va) {
      const i = index(va, "put_page");
      if (refs[i] === 0) throw new KernelBugError("put_page", "refcount is 0");
      if (--refs[i]! === 0) {
        free.push(i);
        frees++;
        live--;
      }
    },
    pageCount(va) {
      return refs[index(va, "page_count")]!;
    },
    physToVirt,
    virtToPhys,
  };
  return {
    mmOps,
    memory,
    base,
    live: () => live,
    get allocs() {
      return allocs;
    },
    get frees() {
      return frees;
    },
    refcount: (pa) => refs[Math.floor((pa - base) / 4096)]!,
    earlyMmOps: { zallocPage, physToVirt, virtToPhys },
  };
}
