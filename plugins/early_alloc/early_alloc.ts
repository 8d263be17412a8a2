/**
 * `hyp_early_alloc_*` (`arch/arm64/kvm/hyp/nvhe/early_alloc.c`): a bump
 * allocator of zeroed pages over a hyp VA range, used by
 * `divide_memory_pool` over the whole pool and by `recreate_hyp_mappings`
 * over the hyp stage-1 region, before the buddy allocator exists.
 *
 * @module
 */

import { hex, PAGE_SHIFT, PAGE_SIZE } from "../../core/mod.ts";
import { release } from "../releases/mod.ts";
import type { EarlyAllocator, EarlyAllocInitOptions, PgtableMmOps } from "../../core/mod.ts";

/** Which kernel's `hyp_early_alloc_mm_ops` to fill. */
export type EarlyAllocVersion = string;

const U32 = 0x1_0000_0000;

function checkAddr(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot init the early allocator: ${what} ${value} is not a non-negative integer`,
    );
  }
}

/**
 * `hyp_early_alloc_init(virt, size)`: a fresh allocator with
 * `base = cur = virt`, `end = virt + size`, and its
 * `hyp_early_alloc_mm_ops`.
 *
 * The kernel checks nothing here; neither does this (only that the numbers
 * are addresses). mm_ops per version: v5.13 fills zalloc_page, phys_to_virt
 * and virt_to_phys and leaves get_page/put_page NULL (hinlin v5.13 copy of
 * early_alloc.c); later kernels add no-op get_page/put_page so that
 * `kvm_pgtable_hyp_map`'s refcounting can run on early tables (present in
 * torvalds/linux early_alloc.c; the commit — about v5.15, "Refcount hyp
 * stage-1 pgtable pages" — is recalled, UNVERIFIED). Neither has page_count.
 *
 * @param options Range, EL2 memory accessor, address conversions.
 * @param version `"v5.13"` (default) or `"mainline"`.
 * @returns The allocator.
 * @throws {RangeError} If virt or size is not a non-negative integer.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { linearEl2Memory, PhysicalMemory } from "../../core/mod.ts";
 * import { hypEarlyAllocInit } from "./early_alloc.ts";
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * const off = 0x4000_0000; // linear map: va = pa - off
 * const ea = hypEarlyAllocInit({
 *   virt: 0, size: 4 * 4096, memory: linearEl2Memory(mem, (va) => va + off),
 *   physToVirt: (pa) => pa - off, virtToPhys: (va) => va + off,
 * });
 * assertEquals(ea.contig(3), 0);
 * assertEquals(ea.page(), 0x3000);
 * assertEquals(ea.page(), null);
 * assertEquals(ea.nrUsedPages(), 4);
 * ```
 */
export function hypEarlyAllocInit(
  options: EarlyAllocInitOptions,
  version: EarlyAllocVersion = "v5.13",
): EarlyAllocator {
  checkAddr("virt", options.virt);
  checkAddr("size", options.size);
  if (options.virt + options.size > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(
      `Cannot init the early allocator at ${hex(options.virt)}+${hex(options.size)}: past 2^53`,
    );
  }
  const base = options.virt;
  const end = base + options.size;
  const memory = options.memory;
  let cur = base;

  const contig = (nrPages: number): number | null => {
    if (!Number.isSafeInteger(nrPages) || nrPages < 0 || nrPages >= U32) {
      throw new RangeError(
        `Cannot early-allocate ${nrPages} pages: nr_pages is an unsigned int (0..2^32-1)`,
      );
    }
    if (nrPages === 0) return null;
    // `nr_pages << PAGE_SHIFT` is computed in unsigned int, so from 2^20 pages
    // (4 GiB) the size wraps modulo 2^32, as in the kernel.
    const size = (nrPages * PAGE_SIZE) % U32;
    if (end - cur < size) return null;
    const ret = cur;
    // Zero before moving cur (the kernel bumps cur first): if the access
    // faults, the allocator is left as it was; at EL2 the hyp would panic.
    if (size > 0) memory.zero(ret, size);
    cur = ret + size;
    return ret;
  };

  const mmOps: PgtableMmOps = {
    zallocPage: () => contig(1),
    physToVirt: options.physToVirt,
    virtToPhys: options.virtToPhys,
  };
  // From v5.17 hyp_early_alloc_mm_ops has no-op get_page/put_page (the
  // refcounted map walker calls them); v5.13 leaves them NULL.
  if (release(version).earlyGetPutNoops) {
    mmOps.getPage = () => {};
    mmOps.putPage = () => {};
  }

  return {
    get base() {
      return base;
    },
    get cur() {
      return cur;
    },
    get end() {
      return end;
    },
    contig,
    page: () => contig(1),
    nrUsedPages: () => Math.floor((cur - base) / 2 ** PAGE_SHIFT),
    mmOps,
  };
}

/**
 * What `hyp_early_alloc_contig(nr_pages)` does with a term of 2^20 pages or
 * more: `nr_pages << PAGE_SHIFT` is an `unsigned int`, so the size wraps
 * modulo 4 GiB and `cur` moves that little: the next term is carved over
 * the end of this one (6.1, 6.12 and 7.2 `nvhe/early_alloc.c`; v5.13 too).
 *
 * @param nrPages Pages asked for.
 * @param what The term, for the message.
 * @returns One line, or undefined below 2^20 pages.
 * @example
 * ```ts
 * import { assertEquals, assertMatch } from "@std/assert";
 * import { earlyContigWrap } from "./early_alloc.ts";
 * assertEquals(earlyContigWrap(1024, "vmemmap"), undefined);
 * assertMatch(earlyContigWrap(2 ** 20, "vmemmap")!, /size wraps to 0x0/);
 * ```
 */
export function earlyContigWrap(nrPages: number, what: string): string | undefined {
  if (!(nrPages * PAGE_SIZE >= U32) || !Number.isSafeInteger(nrPages)) return undefined;
  const size = (nrPages * PAGE_SIZE) % U32;
  return `divide_memory_pool: hyp_early_alloc_contig(${nrPages}) for ${what} computes ` +
    `nr_pages << PAGE_SHIFT in 32 bits: the size wraps to ${hex(size)}, so the terms ` +
    `carved after it overlap its last ${nrPages - size / PAGE_SIZE} pages`;
}
