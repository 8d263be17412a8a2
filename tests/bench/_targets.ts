/**
 * The targets the benches print beside their figures.
 *
 * The speed goals are ratios to the same work done in plain C (gcc -O2):
 * a page allocator within 3× of C, table walks and translations within 4×.
 * A ratio only means something when both sides ran in the same minute on
 * the same machine, so each target here is written as an absolute time:
 * the ratio times the C figure measured beside these benches on the machine
 * where the README's table was taken (2 shared cores, AMD EPYC, medians of
 * several runs). On another machine the absolute figures move together;
 * compare ratios, not times.
 *
 * A bench name carries its target as `[target ≤ N unit: K× C M unit]`;
 * `deno task bench:targets` (tests/bench/targets.ts) reads the figures back
 * and says, for each, whether it met its target.
 *
 * @module
 */

/**
 * The C figures: the same work as each bench (the same pool size, the same
 * churn sequence from the same seed, the same 1 GiB of mappings, the same
 * 512-page translate pattern): medians of 6 runs on 2 cores of a quiet
 * machine (8 December 2026 at 04:00 UTC, load average below 1), taken around the
 * benches of tests/bench/README.md's table. On a loaded machine the C
 * figures rise 2–9×: compare ratios taken in one sitting.
 */
export const C_FIGURES = {
  /** hyp_pool_init of a 1 GiB pool with its vmemmap zeroed and written (ms). */
  initMs: 1.05,
  /** Order-0 alloc + free with one page kept, with the kernel's 4 KiB memset (ns). */
  pairKeptMemsetNs: 35.5,
  /** The same without the memset (ns). */
  pairKeptNs: 5.6,
  /** Order-0 alloc + free on a free pool: split and merge through every order (ns). */
  pairFreshNs: 47.5,
  /** The churn (orders 0-3 at ~50 % occupancy, xoshiro128** seed 7) per operation (ns). */
  churnNs: 21.2,
  /** Map 1 GiB in 4 KiB pages with a kernel-style walker and visitor (ms). */
  map4kMs: 0.63,
  /** Map 1 GiB in 2 MiB blocks (µs). */
  map2mUs: 1.72,
  /** A TLB hit: regime check, probe, stale check, permission decode, result (ns). */
  translateHitNs: 3.44,
  /** A 4-level walk with permission decode (ns). */
  walkNs: 3.52,
  /** A miss: walk and TLB fill at a fresh VA (ns). */
  missFillNs: 7.61,
} as const;

/** Ratio goals: the page allocator, and the MMU and page tables. */
export const RATIO = { allocator: 3, mmu: 4 } as const;

/**
 * The target suffix of a bench name: `[target ≤ N unit: K× C M unit]`.
 *
 * @param ratio Allowed ratio to C.
 * @param c The C figure.
 * @param unit Unit of both.
 * @returns The suffix.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { target } from "./_targets.ts";
 * assertEquals(target(3, 206, "ns"), "[target ≤ 618 ns: 3× C 206 ns]");
 * ```
 */
export function target(ratio: number, c: number, unit: "ns" | "µs" | "ms" | "s"): string {
  const t = Number((ratio * c).toPrecision(3));
  return `[target ≤ ${t} ${unit}: ${ratio}× C ${c} ${unit}]`;
}

/**
 * An absolute target that is not a ratio (a per-operation budget).
 *
 * @param limit The limit.
 * @param unit Its unit.
 * @returns `[target ≤ N unit]`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { budget } from "./_targets.ts";
 * assertEquals(budget(200, "ms"), "[target ≤ 200 ms]");
 * ```
 */
export function budget(limit: number, unit: "ns" | "µs" | "ms" | "s"): string {
  return `[target ≤ ${limit} ${unit}]`;
}
