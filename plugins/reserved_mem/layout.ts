/**
 * The pool's terms in `divide_memory_pool` carving order: as the host sizes
 * them in `kvm_hyp_reserve()` and as EL2 recomputes them when it divides the
 * pool.
 *
 * @module
 */

import type { HypReservation, MemblockRegion, PoolTerm } from "../../core/mod.ts";
import type { PoolTermName } from "../releases/mod.ts";
import {
  hostS2DevPgtablePages,
  hostS2MemPgtablePages,
  hostS2PgtablePages,
  hypS1PgtablePages,
  hypVmemmapPages,
  hypVmemmapSpan,
  type SizingProfile,
  vmemmapFixedPointPages,
} from "./sizing.ts";

type Term = [name: string, symbol: string, pages: number];

function withOffsets(terms: readonly Term[]): PoolTerm[] {
  let offset = 0;
  return terms.map(([name, symbol, pages]) => {
    const t = { name, symbol, pages, offset };
    offset += pages;
    return t;
  });
}

/**
 * The terms `kvm_hyp_reserve()` adds up, in `divide_memory_pool` order.
 *
 * v5.13 (`reserved_mem.c`): hyp_s1 + host_s2_mem + host_s2_dev, then the
 * fixed-point vmemmap over those; carved as vmemmap, hyp_s1, host_s2_mem,
 * host_s2_dev. Mainline (`pkvm.c`): hyp_s1 + host_s2 + vm_table + vmemmap
 * over all memory + selftest + ffa_proxy; carved as selftest, vmemmap,
 * vm_table, hyp_s1, host_s2, ffa_proxy.
 *
 * @param regions `hyp_memory[]`.
 * @param profile Sizing constants.
 * @returns Terms with their page offsets in the pool.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypReserveTerms, sizingProfile } from "./mod.ts";
 * const terms = hypReserveTerms([{ base: 0x4000_0000, size: 2 ** 32 }], sizingProfile("v5.13"));
 * assertEquals(terms.map((t) => [t.name, t.pages]), [
 *   ["vmemmap", 45], ["hyp_s1", 2569], ["host_s2_mem", 2070], ["host_s2_dev", 515],
 * ]);
 * ```
 */
export function hypReserveTerms(
  regions: readonly MemblockRegion[],
  profile: SizingProfile,
): PoolTerm[] {
  const levels = profile.pgtableLevels;
  const pages: Record<PoolTermName, number> = {
    selftest: profile.selftestPages,
    vmemmap: 0,
    vm_table: profile.vmTablePages,
    hyp_s1: hypS1PgtablePages(regions, levels),
    host_s2: profile.hostS2 === "combined" ? hostS2PgtablePages(regions, levels) : 0,
    host_s2_mem: profile.hostS2 === "split" ? hostS2MemPgtablePages(regions, levels) : 0,
    host_s2_dev: profile.hostS2 === "split" ? hostS2DevPgtablePages(levels) : 0,
    ffa_proxy: profile.ffaProxyPages,
  };
  const others = profile.poolOrder.reduce((n, t) => (t === "vmemmap" ? n : n + pages[t]), 0);
  // v5.13 and 6.1 size the vmemmap of the pool alone, as a fixed point (its
  // pages need entries and table pages too); 6.2+ cover every memblock region.
  pages.vmemmap = profile.vmemmap === "pool"
    ? vmemmapFixedPointPages(others, profile.hypPageBytes, levels)
    : hypVmemmapPages(regions, profile.hypPageBytes);
  return withOffsets(profile.poolOrder.map((t): Term => [t, TERM_SYMBOL[t], pages[t]]));
}

/** The kernel variable each pool term's base is stored in. */
const TERM_SYMBOL: Readonly<Record<PoolTermName, string>> = {
  selftest: "selftest_base",
  vmemmap: "vmemmap_base",
  vm_table: "vm_table_base",
  hyp_s1: "hyp_pgt_base",
  host_s2: "host_s2_pgt_base",
  host_s2_mem: "host_s2_mem_pgt_base",
  host_s2_dev: "host_s2_dev_pgt_base",
  ffa_proxy: "ffa_proxy_pages",
};

/**
 * The terms EL2 carves in `divide_memory_pool()`. Identical to
 * {@link hypReserveTerms} except v5.13's vmemmap term, which EL2 sizes from
 * the pool range itself (`hyp_vmemmap_range(__hyp_pa(virt), size)`), not
 * from the host's fixed-point estimate; the difference stays unused.
 *
 * @param regions `hyp_memory[]`.
 * @param pool `[hyp_mem_base, + hyp_mem_size)`.
 * @param profile Sizing constants.
 * @returns Terms with their page offsets in the pool.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dividePoolLayout, sizingProfile } from "./mod.ts";
 * const ram = [{ base: 0x4000_0000, size: 2 ** 32 }];
 * const pool = { base: 0x13ea00000, size: 22 * 2 ** 20 };
 * // 5632 pages × 32 bytes = 44 vmemmap pages at EL2 (the host reserved 45).
 * assertEquals(dividePoolLayout(ram, pool, sizingProfile("v5.13"))[0]!.pages, 44);
 * ```
 */
export function dividePoolLayout(
  regions: readonly MemblockRegion[],
  pool: MemblockRegion,
  profile: SizingProfile,
): PoolTerm[] {
  const terms = hypReserveTerms(regions, profile);
  if (profile.vmemmap !== "pool") return terms;
  const r = hypVmemmapSpan(pool.base, pool.size, profile.hypPageBytes);
  const vmemmapPages = (r.end - r.start) / 4096;
  return withOffsets(
    terms.map((t): Term => [t.name, t.symbol, t.name === "vmemmap" ? vmemmapPages : t.pages]),
  );
}

/**
 * The boot report's page counts for a set of terms: `hyp_s1`,
 * `host_s2_mem` (mainline: `host_s2`), `host_s2_dev` (mainline: 0),
 * `vmemmap` and `total` (every term, mainline extras included).
 *
 * @param terms From {@link hypReserveTerms}.
 * @returns The page counts.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypReserveTerms, reservePageCounts, sizingProfile } from "./mod.ts";
 * const terms = hypReserveTerms([{ base: 0x4000_0000, size: 2 ** 32 }], sizingProfile("v5.13"));
 * assertEquals(reservePageCounts(terms).total, 5199);
 * ```
 */
export function reservePageCounts(terms: readonly PoolTerm[]): HypReservation["pages"] {
  const get = (name: string) => terms.find((t) => t.name === name)?.pages ?? 0;
  return {
    hyp_s1: get("hyp_s1"),
    host_s2_mem: get("host_s2_mem") + get("host_s2"),
    host_s2_dev: get("host_s2_dev"),
    vmemmap: get("vmemmap"),
    total: terms.reduce((sum, t) => sum + t.pages, 0),
  };
}
