/**
 * The pool-sizing formulas of `kvm_hyp_reserve()`, per profile.
 *
 * v5.13: `arch/arm64/kvm/hyp/include/nvhe/mm.h` and
 * `arch/arm64/kvm/hyp/reserved_mem.c`. Mainline (about v6.16):
 * `arch/arm64/include/asm/kvm_pkvm.h` and `arch/arm64/kvm/pkvm.c`.
 * Every count is in 4 KiB pages.
 *
 * @module
 */

import { PAGE_SHIFT, PAGE_SIZE } from "../../core/mod.ts";
import type { MemblockRegion } from "../../core/mod.ts";
import { type KernelRelease, release, type ReserveFacts } from "../releases/mod.ts";
import { PTRS_PER_PTE, SZ_1G } from "./constants.ts";

/** A kernel release name whose formulas to follow (`v5.13`, `v6.1`, `v6.12`, `v7.2`, `mainline`). */
export type ReservedMemVersion = string;

/** `HYP_MEMBLOCK_REGIONS`: the size of `hyp_memory[]`. */
export const HYP_MEMBLOCK_REGIONS = 128;
/** `KVM_MAX_PVMS` (6.x): VMs the hyp VM table can hold. */
export const KVM_MAX_PVMS = 255;

/** `KVM_FFA_MBOX_NR_PAGES` (6.x): pages per FF-A mailbox (RX or TX). */
export const KVM_FFA_MBOX_NR_PAGES = 1;
/**
 * `SG_MAX_SEGMENTS` on arm64: 2048, because arm64 does not select
 * `CONFIG_ARCH_NO_SG_CHAIN` (`include/linux/scatterlist.h`).
 */
export const SG_MAX_SEGMENTS = 2048;

/**
 * `sizeof` the FF-A structures `hyp_ffa_proxy_pages()` adds up
 * (`include/linux/arm_ffa.h`), as the DWARF of Debian's 6.12.117 and 7.2.13
 * kernels gives them (the FF-A v1.1 layouts).
 */
export const FFA_STRUCT_BYTES: {
  readonly ffa_mem_region: number;
  readonly ffa_mem_region_attributes: number;
  readonly ffa_composite_mem_region: number;
  readonly ffa_mem_region_addr_range: number;
} = {
  ffa_mem_region: 48,
  ffa_mem_region_attributes: 32,
  ffa_composite_mem_region: 16,
  ffa_mem_region_addr_range: 16,
};

/** The constants one release's formulas depend on: its reserve facts, named. */
export interface SizingProfile extends ReserveFacts {
  /** The release. */
  readonly version: string;
}

/**
 * The sizing constants of a release.
 *
 * @param version Release name or descriptor.
 * @param options `nvheEl2Debug`: build with `CONFIG_NVHE_EL2_DEBUG` (releases
 *   with a selftest term reserve 32 pages for it; ignored for the others).
 * @returns The profile.
 * @throws {RangeError} An unknown release.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sizingProfile } from "./sizing.ts";
 * assertEquals(sizingProfile("v5.13").pgtableLevels, 4);
 * assertEquals(sizingProfile("v6.1").hypPageBytes, 4);
 * assertEquals(sizingProfile("mainline", { nvheEl2Debug: true }).selftestPages, 32);
 * ```
 */
export function sizingProfile(
  version: ReservedMemVersion | KernelRelease,
  options: { nvheEl2Debug?: boolean } = {},
): SizingProfile {
  const rel = release(version);
  const hasSelftest = rel.reserve.poolOrder.includes("selftest");
  return Object.freeze({
    ...rel.reserve,
    version: rel.name,
    selftestPages: hasSelftest && options.nvheEl2Debug ? 32 : rel.reserve.selftestPages,
  });
}

function divRoundUp(n: number, d: number): number {
  return Math.ceil(n / d);
}

/**
 * `__hyp_pgtable_max_pages(nr_pages)`: the worst-case number of table pages
 * to map `nrPages` pages at page granularity — `levels` rounds of
 * `n = DIV_ROUND_UP(n, PTRS_PER_PTE)`, summed.
 *
 * @param nrPages Pages to map.
 * @param levels `KVM_PGTABLE_MAX_LEVELS` (4 in v5.13, 5 in mainline).
 * @returns Table pages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypPgtableMaxPages } from "./sizing.ts";
 * assertEquals(hypPgtableMaxPages(2 ** 18, 4), 515); // 1 GiB, v5.13
 * assertEquals(hypPgtableMaxPages(2 ** 18, 5), 516); // 1 GiB, mainline
 * ```
 */
export function hypPgtableMaxPages(nrPages: number, levels: number): number {
  let n = nrPages;
  let total = 0;
  for (let i = 0; i < levels; i++) {
    n = divRoundUp(n, PTRS_PER_PTE);
    total += n;
  }
  return total;
}

/**
 * `__hyp_pgtable_total_pages()`: Σ over `hyp_memory[]` of
 * `__hyp_pgtable_max_pages(size >> PAGE_SHIFT)`.
 *
 * @param regions `hyp_memory[]`.
 * @param levels `KVM_PGTABLE_MAX_LEVELS`.
 * @returns Table pages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypPgtableTotalPages } from "./sizing.ts";
 * assertEquals(hypPgtableTotalPages([{ base: 0x4000_0000, size: 2 ** 32 }], 4), 2054);
 * ```
 */
export function hypPgtableTotalPages(regions: readonly MemblockRegion[], levels: number): number {
  let res = 0;
  for (const reg of regions) res += hypPgtableMaxPages(Math.floor(reg.size / PAGE_SIZE), levels);
  return res;
}

/**
 * `hyp_s1_pgtable_pages()`: tables for all memory plus 1 GiB of private
 * mappings.
 *
 * @param regions `hyp_memory[]`.
 * @param levels `KVM_PGTABLE_MAX_LEVELS`.
 * @returns Pages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypS1PgtablePages } from "./sizing.ts";
 * assertEquals(hypS1PgtablePages([{ base: 0x4000_0000, size: 2 ** 32 }], 4), 2569);
 * ```
 */
export function hypS1PgtablePages(regions: readonly MemblockRegion[], levels: number): number {
  return hypPgtableTotalPages(regions, levels) + hypPgtableMaxPages(SZ_1G >> PAGE_SHIFT, levels);
}

/**
 * v5.13 `host_s2_mem_pgtable_pages()`: tables for all memory plus 16 pages
 * for the worst case of concatenated pgds.
 *
 * @param regions `hyp_memory[]`.
 * @param levels `KVM_PGTABLE_MAX_LEVELS` (4).
 * @returns Pages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hostS2MemPgtablePages } from "./sizing.ts";
 * assertEquals(hostS2MemPgtablePages([{ base: 0x4000_0000, size: 2 ** 32 }], 4), 2070);
 * ```
 */
export function hostS2MemPgtablePages(regions: readonly MemblockRegion[], levels: number): number {
  return hypPgtableTotalPages(regions, levels) + 16;
}

/**
 * v5.13 `host_s2_dev_pgtable_pages()`: 1 GiB of MMIO mappings.
 *
 * @param levels `KVM_PGTABLE_MAX_LEVELS` (4).
 * @returns Pages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hostS2DevPgtablePages } from "./sizing.ts";
 * assertEquals(hostS2DevPgtablePages(4), 515);
 * ```
 */
export function hostS2DevPgtablePages(levels: number): number {
  return hypPgtableMaxPages(SZ_1G >> PAGE_SHIFT, levels);
}

/**
 * Mainline `host_s2_pgtable_pages()`: v5.13's mem and dev terms in one.
 *
 * @param regions `hyp_memory[]`.
 * @param levels `KVM_PGTABLE_MAX_LEVELS` (5).
 * @returns Pages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hostS2PgtablePages } from "./sizing.ts";
 * // 2055 (4 GiB) + 16 + 516 (1 GiB of MMIO)
 * assertEquals(hostS2PgtablePages([{ base: 0x4000_0000, size: 2 ** 32 }], 5), 2587);
 * ```
 */
export function hostS2PgtablePages(regions: readonly MemblockRegion[], levels: number): number {
  return hypPgtableTotalPages(regions, levels) + 16 +
    hypPgtableMaxPages(SZ_1G >> PAGE_SHIFT, levels);
}

/**
 * The page-aligned byte range, relative to `__hyp_vmemmap`, holding the
 * `struct hyp_page` entries of `[phys, phys + size)` — v5.13
 * `hyp_vmemmap_range()` and mainline `hyp_vmemmap_memblock_size()`.
 *
 * @param phys First byte.
 * @param size Bytes (only whole pages count).
 * @param entryBytes `sizeof(struct hyp_page)`.
 * @returns `[start, end)` offsets into the vmemmap.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypVmemmapSpan } from "./sizing.ts";
 * // 22 MiB at 0x13ea00000 with 32-byte entries: 44 pages from 0x27d4000.
 * assertEquals(hypVmemmapSpan(0x13ea00000, 22 * 2 ** 20, 32), { start: 0x27d4000, end: 0x2800000 });
 * ```
 */
export function hypVmemmapSpan(
  phys: number,
  size: number,
  entryBytes: number,
): { start: number; end: number } {
  const nrPages = Math.floor(size / PAGE_SIZE);
  const first = Math.floor(phys / PAGE_SIZE) * entryBytes;
  const last = first + nrPages * entryBytes;
  return {
    start: Math.floor(first / PAGE_SIZE) * PAGE_SIZE,
    end: Math.ceil(last / PAGE_SIZE) * PAGE_SIZE,
  };
}

/**
 * Mainline `hyp_vmemmap_pages()`: the vmemmap pages of every `hyp_memory[]`
 * region, summed region by region (a page shared by two regions' ranges is
 * counted twice, as in the kernel).
 *
 * @param regions `hyp_memory[]`.
 * @param entryBytes `sizeof(struct hyp_page)` (8).
 * @returns Pages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypVmemmapPages } from "./sizing.ts";
 * assertEquals(hypVmemmapPages([{ base: 0x4000_0000, size: 2 ** 32 }], 8), 2048);
 * ```
 */
export function hypVmemmapPages(regions: readonly MemblockRegion[], entryBytes: number): number {
  let res = 0;
  for (const reg of regions) {
    const r = hypVmemmapSpan(reg.base, reg.size, entryBytes);
    res += r.end - r.start;
  }
  return res / PAGE_SIZE;
}

/**
 * v5.13 `kvm_hyp_reserve()`'s vmemmap term: the vmemmap must cover the pool
 * and its own backing pages, so iterate
 * `nr = DIV_ROUND_UP((pool + nr) × entryBytes, PAGE_SIZE) + __hyp_pgtable_max_pages(nr)`
 * from 0 until it stops changing.
 *
 * @param poolPages The other terms (s1 + host s2 mem + host s2 dev).
 * @param entryBytes `sizeof(struct hyp_page)` (32).
 * @param levels `KVM_PGTABLE_MAX_LEVELS` (4).
 * @returns Pages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { vmemmapFixedPointPages } from "./sizing.ts";
 * assertEquals(vmemmapFixedPointPages(2569 + 2070 + 515, 32, 4), 45);
 * ```
 */
export function vmemmapFixedPointPages(
  poolPages: number,
  entryBytes: number,
  levels: number,
): number {
  let nr = 0;
  let prev: number;
  // The map is monotone and grows by about 1/128 per step, so it converges
  // in a handful of rounds; the bound only guards against a bad entryBytes.
  for (let round = 0; round < 64; round++) {
    prev = nr;
    nr = divRoundUp((poolPages + prev) * entryBytes, PAGE_SIZE);
    nr += hypPgtableMaxPages(nr, levels);
    if (nr === prev) return nr;
  }
  throw new RangeError(
    `Cannot size the vmemmap for ${poolPages} pages with ${entryBytes}-byte entries: no fixed point`,
  );
}

/**
 * 6.x `hyp_vm_table_pages()`: `PAGE_ALIGN(KVM_MAX_PVMS × sizeof(void *))`.
 *
 * @returns Pages (1).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypVmTablePages } from "./sizing.ts";
 * assertEquals(hypVmTablePages(), 1);
 * ```
 */
export function hypVmTablePages(): number {
  return divRoundUp(KVM_MAX_PVMS * 8, PAGE_SIZE);
}

/**
 * 6.x `hyp_ffa_proxy_pages()`: an RX and a TX mailbox page plus a
 * buffer for the largest fragmented descriptor EL3 may return to
 * `FFA_MEM_RETRIEVE_REQ` —
 * `ffa_mem_region + ffa_mem_region_attributes + ffa_composite_mem_region + SG_MAX_SEGMENTS × ffa_mem_region_addr_range`
 * = 48 + 32 + 16 + 2048 × 16 = 32864 bytes, 9 pages.
 *
 * @returns Pages (2 + 9 = 11).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypFfaProxyPages } from "./sizing.ts";
 * assertEquals(hypFfaProxyPages(), 11);
 * ```
 */
export function hypFfaProxyPages(): number {
  const b = FFA_STRUCT_BYTES;
  const descMax = b.ffa_mem_region + b.ffa_mem_region_attributes + b.ffa_composite_mem_region +
    SG_MAX_SEGMENTS * b.ffa_mem_region_addr_range;
  return 2 * KVM_FFA_MBOX_NR_PAGES + divRoundUp(descMax, PAGE_SIZE);
}
