/**
 * What the boot CPU's TLB carried across `__pkvm_init_switch_pgd`, judged
 * against the two tables: the A64 executor's account of the run (entries
 * live at the MMU enable, walks from the old TTBR0_EL2, what outlived the
 * sequence) with each entry compared, over every VA it can translate, with
 * the host's hyp_pgtable it came from and the pkvm_pgtable that replaced it.
 *
 * @module
 */

import {
  type A64TlbAccount,
  formatSize,
  hex,
  type Maplet,
  type SwitchHazardReport,
  tlbLeafColumns,
} from "../../core/mod.ts";
import type { PkvmVersion } from "../../core/mod.ts";
import { protName } from "./report.ts";
import { mapletsMinus } from "./verify.ts";

/** At most this many differences are described. */
const MAX_LISTED = 8;

/** A table the entries may come from, by its base. */
export interface HazardTable {
  /** Name shown (`hyp_pgtable`, `pkvm_pgtable`). */
  readonly name: string;
  /** PA of its top-level table (TTBR0_EL2.BADDR). */
  readonly base: number;
  /** Its mappings. */
  readonly maplets: readonly Maplet[];
}

/** Whether maplets are sorted by VA and apart (as a table's maplets are). */
function sortedApart(ms: readonly Maplet[]): boolean {
  for (let i = 1; i < ms.length; i++) {
    if (ms[i]!.va < ms[i - 1]!.va + ms[i - 1]!.size) return false;
  }
  return true;
}

/**
 * The maplets of `ms` clipped to `[lo, hi)`. Sorted, apart maplets are
 * searched from the first that ends past `lo` (the boot judges every TLB
 * entry, hundreds of thousands at 256 GiB, against maplets as many).
 */
function clip(ms: readonly Maplet[], lo: number, hi: number, sorted: boolean): Maplet[] {
  const out: Maplet[] = [];
  let i = 0;
  if (sorted) {
    // The first maplet ending after lo.
    let j = ms.length;
    while (i < j) {
      const mid = (i + j) >>> 1;
      const m = ms[mid]!;
      if (m.va + m.size <= lo) i = mid + 1;
      else j = mid;
    }
  }
  for (; i < ms.length; i++) {
    const m = ms[i]!;
    if (sorted && m.va >= hi) break;
    const a = Math.max(m.va, lo);
    const b = Math.min(m.va + m.size, hi);
    if (a < b) out.push({ va: a, pa: m.pa + (a - m.va), size: b - a, prot: m.prot });
  }
  return out;
}

/** Where `va` goes in `ms`: `PA prot`, or `not mapped`. */
function at(ms: readonly Maplet[], va: number, version: PkvmVersion): string {
  const m = ms.find((x) => va >= x.va && va < x.va + x.size);
  return m === undefined
    ? "not mapped"
    : `-> ${hex(m.pa + (va - m.va))} ${protName(m.prot, version)}`;
}

/**
 * The ranges of `[lo, hi)` the two tables translate differently (PA or the
 * architectural prot bits; the software bits do not count), by VA.
 */
function differences(
  from: HazardTable,
  to: HazardTable,
  lo: number,
  hi: number,
  sorted: ReadonlyMap<HazardTable, boolean>,
): Maplet[] {
  const a = clip(from.maplets, lo, hi, sorted.get(from) === true);
  const b = clip(to.maplets, lo, hi, sorted.get(to) === true);
  return [...mapletsMinus(a, b), ...mapletsMinus(b, a)].sort((x, y) => x.va - y.va);
}

/**
 * Compares an account with the tables and makes the report.
 *
 * @param account The executor's account of the run.
 * @param cpu The CPU that ran the sequence.
 * @param old The table in force before the switch (the host's hyp_pgtable).
 * @param neu The table switched to (pkvm_pgtable).
 * @param version Kernel version (prot names).
 * @returns The report.
 * @example One leaf entry of the old table live at the enable, mapping what the new one does not
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PAGE_HYP, tlbLeafColumns } from "../../core/mod.ts";
 * import { switchHazard } from "./switch_hazard.ts";
 * const e = { regime: "EL2", base: 0x4100_0000, va: 0x40ed_f000, size: 4096, pa: 0x4300_0000,
 *   level: 3, pte: 0x4300_0743n, speculative: false } as const;
 * const r = switchHazard({
 *   enableLine: 33, enableText: "msr sctlr_el2, x2", atEnable: tlbLeafColumns([e]),
 *   atEnableWalks: [],
 *   completedLine: 33, completedText: "dsb nsh", used: 0,
 *   oldBaseWalks: 0, oldBaseLines: [], finalBase: 0x4200_0000, outlived: [], outlivedWalks: [],
 * }, 0, { name: "hyp_pgtable", base: 0x4100_0000, maplets: [{ va: 0x40ed_f000, pa: 0x4300_0000,
 *   size: 4096, prot: PAGE_HYP }] }, { name: "pkvm_pgtable", base: 0x4200_0000, maplets: [] },
 *   "v6.1");
 * assertEquals([r.at_enable.tlb, r.at_enable.differ, r.at_enable.until_line], [1, 1, 33]);
 * assertEquals(r.differences[0],
 *   "live at the MMU enable: 4 KiB TLB entry 0x40edf000 from hyp_pgtable: 0x40edf000..0x40ee0000 hyp_pgtable -> 0x43000000 PAGE_HYP, pkvm_pgtable not mapped");
 * ```
 */
export function switchHazard(
  account: A64TlbAccount,
  cpu: number,
  old: HazardTable,
  neu: HazardTable,
  version: PkvmVersion,
): SwitchHazardReport {
  const listed: string[] = [];
  const tables = new Map([[old.base, old], [neu.base, neu]]);
  const sorted = new Map([old, neu].map((t) => [t, sortedApart(t.maplets)]));
  /**
   * Whether an entry translates every VA of `[va, va+size)` as `neu` does;
   * describes it if not (`what` is called only for a difference listed).
   */
  const judge = (
    when: string,
    what: () => string,
    base: number,
    va: number,
    size: number,
  ): boolean => {
    const from = tables.get(base);
    const ds = from === undefined
      ? [{ va, pa: 0, size, prot: 0 }]
      : differences(from, neu, va, va + size, sorted);
    const d = ds[0];
    if (d === undefined) return true;
    if (listed.length < MAX_LISTED) {
      const name = from?.name ?? `the table at ${hex(base)}`;
      const oldAt = from === undefined ? "unknown" : at(from.maplets, d.va, version);
      const more = ds.length > 1
        ? ` (${ds.length} ranges, ${formatSize(ds.reduce((n, x) => n + x.size, 0))} in all)`
        : "";
      listed.push(
        `${when}: ${what()} from ${name}: ${hex(d.va)}..${
          hex(d.va + d.size)
        } ${name} ${oldAt}, ${neu.name} ${at(neu.maplets, d.va, version)}${more}`,
      );
    }
    return false;
  };
  const count = (
    when: string,
    leaves: A64TlbAccount["atEnable"],
    walks: A64TlbAccount["atEnableWalks"],
  ) => {
    let same = 0;
    // Columns, not objects: every leaf entry can be live at the enable.
    for (let i = 0; i < leaves.length; i++) {
      const va = leaves.va[i]!;
      const size = leaves.size[i]!;
      const what = () => `${formatSize(size)} TLB entry ${hex(va)}`;
      if (judge(when, what, leaves.base[i]!, va, size)) same++;
    }
    for (const w of walks) {
      const what = () =>
        `level-${w.level} walk-cache entry ${hex(w.va)}..${hex(w.va + w.size)} -> table ${
          hex(w.table)
        }`;
      if (judge(when, what, w.base, w.va, w.size)) same++;
    }
    return { same, differ: leaves.length + walks.length - same };
  };
  // What is left after the switch first: it can still be used.
  const left = count(
    "left after the switch",
    tlbLeafColumns(account.outlived),
    account.outlivedWalks,
  );
  const live = count("live at the MMU enable", account.atEnable, account.atEnableWalks);
  return {
    cpu,
    enable_line: account.enableLine,
    enable_insn: account.enableText,
    at_enable: {
      tlb: account.atEnable.length,
      walk: account.atEnableWalks.length,
      same: live.same,
      differ: live.differ,
      used: account.used,
      until_line: account.completedLine,
      until_insn: account.completedText,
    },
    old_ttbr0: { walks: account.oldBaseWalks, lines: account.oldBaseLines },
    outlived: {
      tlb: account.outlived.length,
      walk: account.outlivedWalks.length,
      same: left.same,
      differ: left.differ,
    },
    differences: listed,
  };
}
