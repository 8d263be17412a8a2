/**
 * `kvm_hyp_reserve()`: register `hyp_memory[]`, size the pool and carve it
 * out of memblock. v5.13 `arch/arm64/kvm/hyp/reserved_mem.c`; mainline
 * `arch/arm64/kvm/pkvm.c`.
 *
 * @module
 */

import { ERRNO, hex, type Trace } from "../../core/mod.ts";
import type { HypReservation, Memblock, MemblockRegion } from "../../core/mod.ts";
import { hypReserveTerms, reservePageCounts } from "./layout.ts";
import {
  checkMemblock,
  memblockEndOfDram,
  memblockFindInRange,
  memblockPhysAlloc,
  memblockReserve,
} from "./memblock.ts";
import { PMD_SIZE } from "./constants.ts";
import { HYP_MEMBLOCK_REGIONS, type SizingProfile } from "./sizing.ts";

/**
 * `register_memblock_regions()`: copies `memblock.memory` into
 * `hyp_memory[]`. The 129th region makes it return -ENOMEM (the caller then
 * resets `hyp_memblock_nr` to 0). v5.13 then sorts `hyp_memory[]` by base
 * (`sort_memblock_regions`); mainline keeps memblock's order.
 *
 * @param memory `memblock.memory`.
 * @param sortRegions Sort `hyp_memory[]` by base (`sort_memblock_regions()`).
 * @returns `hyp_memory[]`, or -ENOMEM.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { registerMemblockRegions } from "./kvm_hyp_reserve.ts";
 * const unsorted = [{ base: 0x8000_0000, size: 4096 }, { base: 0x4000_0000, size: 4096 }];
 * assertEquals(registerMemblockRegions(unsorted, true), [unsorted[1], unsorted[0]]);
 * assertEquals(registerMemblockRegions(unsorted, false), unsorted);
 * ```
 */
export function registerMemblockRegions(
  memory: readonly MemblockRegion[],
  sortRegions: boolean,
): MemblockRegion[] | typeof ERRNO.ENOMEM {
  const hypMemory: MemblockRegion[] = [];
  for (const reg of memory) {
    if (hypMemory.length >= HYP_MEMBLOCK_REGIONS) return ERRNO.ENOMEM;
    hypMemory.push({ ...reg });
  }
  // sort() is stable and regions never share a base, so this matches the
  // kernel's heap sort with cmp_hyp_memblock.
  if (sortRegions) hypMemory.sort((a, b) => a.base - b.base);
  return hypMemory;
}

function log(trace: Trace | undefined, level: "info" | "error", message: string): void {
  if (trace?.wants("log")) trace.emit("log", { level, message });
}

/**
 * `kvm_hyp_reserve()` for one profile, assuming protected mode on an nVHE
 * host (the function's own early returns are the caller's business).
 *
 * 1. `register_memblock_regions()`; more than 128 regions logs
 *    "Failed to register hyp memblocks: -12", resets the count and reserves
 *    nothing.
 * 2. Adds up the profile's terms.
 * 3. Tries `ALIGN(size, PMD_SIZE)` at PMD alignment (keeping the rounded
 *    size on success), then `size` at `PAGE_SIZE` — v5.13 with
 *    `memblock_find_in_range(0, memblock_end_of_DRAM())` + `memblock_reserve`,
 *    mainline with `memblock_phys_alloc`. Both search top-down.
 * 4. No room logs "Failed to reserve hyp memory"; success logs
 *    "Reserved %lld MiB at 0x%llx" (MiB rounded down).
 *
 * The memblock is checked first; on any failure it is left exactly as it was.
 *
 * @param memblock The host memblock (its `reserved` grows on success).
 * @param profile Sizing constants.
 * @param trace Trace for the kernel's log lines.
 * @returns The reservation.
 * @throws {RangeError} For a malformed memblock (nothing changes).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kvmHypReserve, memblockFromRam, sizingProfile } from "./mod.ts";
 * const mb = memblockFromRam([{ base: 0x4000_0000, size: 2 ** 32 }]);
 * const r = kvmHypReserve(mb, sizingProfile("v5.13"));
 * assertEquals([r.ok, r.base, r.size / 2 ** 20, r.pages.total], [true, 0x1_3ea0_0000, 22, 5199]);
 * ```
 */
export function kvmHypReserve(
  memblock: Memblock,
  profile: SizingProfile,
  trace?: Trace,
): HypReservation {
  checkMemblock(memblock);
  const hypMemory = registerMemblockRegions(memblock.memory, profile.sortRegions);
  if (typeof hypMemory === "number") {
    const reason = `Failed to register hyp memblocks: ${hypMemory}`;
    log(trace, "error", reason);
    return {
      ok: false,
      base: 0,
      size: 0,
      align: 0,
      pages: { hyp_s1: 0, host_s2_mem: 0, host_s2_dev: 0, vmemmap: 0, total: 0 },
      layout: [],
      nrRegions: 0,
      regions: [],
      reason,
    };
  }

  const layout = hypReserveTerms(hypMemory, profile);
  const pages = reservePageCounts(layout);
  let size = pages.total * 4096;
  const pmdSize = Math.ceil(size / PMD_SIZE) * PMD_SIZE;
  let base: number;
  let align: number;
  if (profile.carve === "find_in_range") {
    const end = memblockEndOfDram(memblock);
    base = memblockFindInRange(memblock, 0, end, pmdSize, PMD_SIZE);
    align = PMD_SIZE;
    if (!base) {
      base = memblockFindInRange(memblock, 0, end, size, 4096);
      align = 4096;
    } else {
      size = pmdSize;
    }
    if (base) memblockReserve(memblock, base, size);
  } else {
    base = memblockPhysAlloc(memblock, pmdSize, PMD_SIZE);
    align = PMD_SIZE;
    if (!base) {
      base = memblockPhysAlloc(memblock, size, 4096);
      align = 4096;
    } else {
      size = pmdSize;
    }
  }

  const common = { pages, layout, nrRegions: hypMemory.length, regions: hypMemory };
  if (!base) {
    const reason = "Failed to reserve hyp memory";
    log(trace, "error", reason);
    return { ok: false, base: 0, size: 0, align: 0, ...common, reason };
  }
  log(trace, "info", `Reserved ${Math.floor(size / 2 ** 20)} MiB at ${hex(base)}`);
  return { ok: true, base, size, align, ...common };
}
