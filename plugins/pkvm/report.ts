/**
 * The JSON boot report (`examples/boot.ts --json`): every address and
 * 64-bit value a `0x` hex string, counts as numbers, mappings maximal merged
 * and sorted by VA.
 *
 * @module
 */

import {
  type BootReport,
  hex,
  type KvmPgtable,
  type Maplet,
  type MappingReport,
  type MemblockRegionReport,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  type PgtableTreeReport,
  type PkvmVersion,
  type PoolReport,
  type StepReport,
  type TableRunReport,
  toKernelProt,
  type VerifyReport,
  WALK,
} from "../../core/mod.ts";
import { release } from "../releases/mod.ts";
import type { Host } from "./host.ts";
import { earlyMemblockReserved } from "./early_memblock.ts";
import type { ExpectedMapping } from "./hyp_state.ts";

/**
 * The kernel name of a hyplab prot value; a value with no `PAGE_HYP*` name
 * is shown as the number the profile's kernel uses for it (mainline's enum
 * since v6.19 numbers R|DEVICE 0x18, where v5.13 has 0xc).
 *
 * @param prot hyplab prot bits (`KVM_PGTABLE_PROT` flags).
 * @param version Kernel version whose numbers the hex fallback uses.
 * @returns `PAGE_HYP`, `PAGE_HYP_EXEC`, `PAGE_HYP_RO`, `PAGE_HYP_DEVICE` or hex.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { protName } from "./report.ts";
 * assertEquals(protName(0x5), "PAGE_HYP_EXEC");
 * assertEquals(protName(0x5, "mainline"), "PAGE_HYP_EXEC");
 * assertEquals(protName(0x7), "0x7");
 * assertEquals(protName(0xc), "0xc");
 * assertEquals(protName(0xc, "mainline"), "0x18");
 * ```
 */
export function protName(prot: number, version: PkvmVersion = "v5.13"): string {
  const base = prot & ~SW_BITS;
  const sw = prot & SW_BITS;
  const named = PROT_NAMES[base];
  if (named !== undefined) {
    if (sw === 0) return named;
    // enum pkvm_page_state in the software bits: SW0 SHARED_OWNED, SW1 SHARED_BORROWED.
    const state = sw === SW0 ? "SHARED_OWNED" : sw === SW0 * 2 ? "SHARED_BORROWED" : undefined;
    if (state !== undefined) return `${named}|${state}`;
  }
  const rel = release(version);
  try {
    return hex(toKernelProt(prot, rel.pgtable.prot, rel.pgtable.swBits));
  } catch {
    return hex(prot);
  }
}

/** hyplab's SW0 (the kernel's bit 55, kept at bit 23 of a prot). */
const SW0 = 1 << 23;
const SW_BITS = 0xf << 23;
const PROT_NAMES: Record<number, string> = {
  [PAGE_HYP]: "PAGE_HYP",
  [PAGE_HYP_EXEC]: "PAGE_HYP_EXEC",
  [PAGE_HYP_RO]: "PAGE_HYP_RO",
  [PAGE_HYP_DEVICE]: "PAGE_HYP_DEVICE",
};

/**
 * Maplets in report form, each labelled with what asked for it.
 *
 * @param maplets Maximal maplets.
 * @param labels Expected mappings with labels.
 * @param version Kernel version (for prot values with no name).
 * @returns Report mappings.
 */
export function mappingReports(
  maplets: readonly Maplet[],
  labels: readonly ExpectedMapping[],
  version: PkvmVersion = "v5.13",
): MappingReport[] {
  const sorted = [...labels].sort((a, b) => a.va - b.va);
  return maplets.map((m) => {
    const what: string[] = [];
    for (const l of sorted) {
      if (l.va >= m.va + m.size) break;
      if (l.va + l.size > m.va && !what.includes(l.what)) what.push(l.what);
    }
    const r: MappingReport = {
      va: hex(m.va),
      pa: hex(m.pa),
      size: hex(m.size),
      prot: protName(m.prot, version),
    };
    if (what.length > 0) {
      r.what = what.length > 3 ? `${what.slice(0, 3).join(", ")}, …` : what.join(", ");
    }
    return r;
  });
}

/** VA bytes one entry at `level` translates (4 KiB granule; level -1 is LPA2's). */
function entrySpan(level: number): number {
  return 2 ** (12 + 9 * (3 - level));
}

/**
 * The table tree of a hyp stage-1 table: table pages per level, and the
 * pages in runs (same level, adjacent in VA, leading to the same maplets),
 * so a tree of thousands of pages reads as a few lines. The table pages come
 * from the table's own `kvm_pgtable_walk` (TABLE_PRE visits); the valid
 * block and page descriptors are counted by reading each table page, 512
 * entries of 8 bytes, from memory.
 *
 * @param pgt The table (undefined before step 3: an empty tree).
 * @param maplets Its maplets, sorted by VA (what `pgtable.mappings` lists).
 * @param startLevel Start level when there is no table.
 * @param read32 Reads the low word of a descriptor at a PA.
 * @returns The tree.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pgtableTree } from "./report.ts";
 * assertEquals(pgtableTree(undefined, [], 0, () => 0), { start_level: 0, levels: [], runs: [] });
 * ```
 */
export function pgtableTree(
  pgt: KvmPgtable | undefined,
  maplets: readonly Maplet[],
  startLevel: number,
  read32: (pa: number) => number,
): PgtableTreeReport {
  const empty = { start_level: pgt?.startLevel ?? startLevel, levels: [], runs: [] };
  if (pgt === undefined) return empty;
  const start = pgt.startLevel;
  interface Table {
    level: number;
    pa: number;
    va: number;
    span: number;
    blocks: number;
    pages: number;
  }
  const tables: Table[] = [
    { level: start, pa: pgt.pgd, va: 0, span: 2 ** pgt.iaBits, blocks: 0, pages: 0 },
  ];
  // A destroyed table has no tree: its walk fails.
  const ret = pgt.walk(0, 2 ** pgt.iaBits, {
    flags: WALK.TABLE_PRE,
    cb(v) {
      const span = entrySpan(v.level);
      tables.push({
        level: v.level + 1,
        // Output address, bits 47:12 of the table descriptor.
        pa: Number((v.pte >> 12n) & 0xf_ffff_ffffn) * 4096,
        va: v.addr - (v.addr % span),
        span,
        blocks: 0,
        pages: 0,
      });
      return 0;
    },
  });
  if (ret !== 0) return empty;
  for (const t of tables) {
    const entries = Math.min(512, Math.ceil(t.span / entrySpan(t.level)));
    for (let i = 0; i < entries; i++) {
      const lo = read32(t.pa + 8 * i) & 3;
      // Bits 1:0 = 0b11 at level 3 is a page; 0b01 at levels 1-2 a block (a
      // block encoding at level 0 or -1 is reserved and maps nothing).
      if (t.level === 3) {
        if (lo === 3) t.pages++;
      } else if (lo === 1 && t.level >= 1) t.blocks++;
    }
  }
  tables.sort((a, b) => a.level - b.level || a.va - b.va);
  const levels: PgtableTreeReport["levels"] = [];
  for (let level = start; level <= 3; level++) {
    const at = tables.filter((t) => t.level === level);
    levels.push({
      level,
      tables: at.length,
      blocks: at.reduce((n, t) => n + t.blocks, 0),
      pages: at.reduce((n, t) => n + t.pages, 0),
    });
  }
  const runs: TableRunReport[] = [];
  let last: { run: TableRunReport; end: number; key: string } | undefined;
  for (const t of tables) {
    const served = mapletsIn(maplets, t.va, t.va + t.span);
    const key = `${t.level} ${served.join(",")}`;
    if (last !== undefined && last.key === key && last.end === t.va) {
      last.run.tables++;
      last.run.blocks += t.blocks;
      last.run.pages += t.pages;
      last.end = t.va + t.span;
      last.run.span = hex(last.end - Number(last.run.va));
      continue;
    }
    const run: TableRunReport = {
      level: t.level,
      va: hex(t.va),
      span: hex(t.span),
      tables: 1,
      maplets: served,
      blocks: t.blocks,
      pages: t.pages,
    };
    runs.push(run);
    last = { run, end: t.va + t.span, key };
  }
  return { start_level: start, levels, runs };
}

/** Indexes of the maplets (sorted by VA) that overlap `[lo, hi)`. */
function mapletsIn(maplets: readonly Maplet[], lo: number, hi: number): number[] {
  let a = 0;
  let b = maplets.length;
  while (a < b) {
    const mid = (a + b) >>> 1;
    const m = maplets[mid]!;
    if (m.va + m.size <= lo) a = mid + 1;
    else b = mid;
  }
  const out: number[] = [];
  for (let i = a; i < maplets.length && maplets[i]!.va < hi; i++) out.push(i);
  return out;
}

/**
 * memblock in report form: `memory` as it is, `reserved` with the hyp pool
 * cut out of any region memblock merged it into, and each region labelled
 * with what the host put there (the kernel image, the hyp pool, and for a
 * machine described by flags the approximated early allocations: the
 * device tree blob, and the linear map's page tables with the unflattened
 * device tree at the top of memory). A region of a real boot's memblock the
 * host cannot name is an `early allocation`.
 *
 * @param host The host.
 * @returns The two lists.
 */
export function memblockReport(host: Host): BootReport["memblock"] {
  const region = (base: number, size: number, flags?: number, what?: string) => {
    const r: MemblockRegionReport = { base: hex(base), size: hex(size) };
    if (flags) r.flags = flags;
    if (what !== undefined) r.what = what;
    return r;
  };
  const mb = host.memblock;
  const memory = mb.memory.map((r) => region(r.base, r.size, r.flags));
  const known: { base: number; end: number; what: string }[] = [
    { base: host.image.base, end: host.image.end, what: "kernel image" },
  ];
  if (host.options.inputs?.memblock === undefined && mb.memory.length > 0) {
    const last = mb.memory[mb.memory.length - 1]!;
    for (const e of earlyMemblockReserved(mb.memory)) {
      known.push({
        base: e.base,
        end: e.base + e.size,
        what: e.base + e.size === last.base + last.size
          ? "linear-map page tables, unflattened device tree"
          : "device tree blob",
      });
    }
  }
  const pool = host.reservation?.ok ? host.reservation : undefined;
  const reserved: MemblockRegionReport[] = [];
  const label = (base: number, end: number, flags?: number) => {
    if (end <= base) return;
    const what = known.filter((k) => k.base < end && k.end > base).map((k) => k.what);
    reserved.push(
      region(base, end - base, flags, what.length ? what.join(", ") : "early allocation"),
    );
  };
  for (const r of mb.reserved) {
    const end = r.base + r.size;
    if (pool === undefined || pool.base >= end || pool.base + pool.size <= r.base) {
      label(r.base, end, r.flags);
      continue;
    }
    label(r.base, pool.base, r.flags);
    reserved.push(region(pool.base, pool.size, r.flags, "hyp pool (kvm_hyp_reserve)"));
    label(pool.base + pool.size, end, r.flags);
  }
  return { memory, reserved };
}

/** What the boot orchestrator knows besides the host. */
export interface ReportInput {
  /** Profile name. */
  profile: string;
  /** The host (and its hyp). */
  host: Host;
  /** Step outcomes. */
  steps: StepReport[];
  /** Failure, if any. */
  failure: { step: number; name: string; reason: string } | undefined;
  /** Verification (after a successful boot). */
  verify: VerifyReport | undefined;
  /** Capability → provider plugin. */
  variants: Record<string, string>;
  /** Seed. */
  seed: number;
  /** Notes. */
  notes: string[];
}

const SYSREGS = [
  "SCTLR_EL2",
  "TCR_EL2",
  "TTBR0_EL2",
  "MAIR_EL2",
  "VBAR_EL2",
  "HCR_EL2",
  "TPIDR_EL2",
  "VTTBR_EL2",
  "VTCR_EL2",
];

/**
 * The verification block of a boot that never reached verification.
 * @param stale TLB hits that differed from a walk so far.
 * @returns A failed, empty verification.
 */
export function unverified(stale: number): VerifyReport {
  return {
    ok: false,
    checked_pages: 0,
    mismatches: [],
    unexpected: [],
    pool_invariants: null,
    pgtable_invariants: null,
    stale_translations: stale,
    probed_old_vas: 0,
  };
}

/**
 * Builds the report.
 *
 * @param input The boot's state.
 * @returns The report.
 */
export function buildReport(input: ReportInput): BootReport {
  const { host } = input;
  const hyp = host.hyp;
  const m = host.machine;
  const r = host.reservation;
  const cpu0 = m.cpu(0);
  const image: Record<string, string[]> = {};
  for (const [name, s] of Object.entries(host.image.sections)) {
    image[name] = [hex(s.start), hex(s.end)];
  }
  const pools: Record<string, PoolReport> = {};
  if (hyp !== undefined) {
    for (const [name, p] of hyp.pools) {
      const s = p.stats();
      pools[name] = {
        base: hex(p.rangeStart),
        pages: s.nrPages,
        reserved: s.reserved,
        free: s.free,
        free_by_order: s.freeBlocksByOrder,
        allocator: host.caps.pages.name,
      };
    }
  }
  const pgt = hyp?.pgt;
  const maplets = pgt?.maplets() ?? [];
  const sysregs: Record<string, string> = {};
  for (const name of SYSREGS) sysregs[name] = hex(cpu0.sysreg(name));
  sysregs.SP_EL2 = hex(cpu0.spEl[2]!);
  const tlb = host.caps.tlb.stats();
  const run = hyp?.switchRun;
  const seq = host.caps.switchSeq;
  const report: BootReport = {
    profile: input.profile,
    ok: input.failure === undefined && (input.verify?.ok ?? false),
    machine: {
      ram: m.memory.banks.map((b) => ({ base: hex(b.base), size: hex(b.size) })),
      cpus: m.cpus.length,
      va_bits: host.options.vaBits,
      seed: input.seed,
      cpu: m.cpu(0).model.name,
      mode: host.hyp?.config.hvhe ? "hVHE" : "nVHE",
    },
    variants: input.variants,
    steps: input.steps,
    memblock: memblockReport(host),
    reserve: {
      base: hex(r?.base ?? 0),
      size: hex(r?.size ?? 0),
      align: hex(r?.align ?? 0),
      pages: r?.pages ?? { hyp_s1: 0, host_s2_mem: 0, host_s2_dev: 0, vmemmap: 0, total: 0 },
      terms: (r?.layout ?? []).filter((t) => t.pages > 0).map((t) => ({
        name: t.name,
        pages: t.pages,
      })),
      layout: (hyp?.terms ?? []).map((t) => ({
        name: t.name,
        base: hex(hyp!.pa(t.va)),
        pages: t.pages,
      })),
    },
    layout: {
      hyp_va_bits: host.hypVaBits,
      hyp_physvirt_offset: hex(BigInt.asUintN(64, host.layout?.hypPhysvirtOffset ?? 0n)),
      io_map_base: hex(hyp?.ioMapBase ?? 0),
      hyp_vmemmap: hex(hyp?.hypVmemmap ?? 0),
      idmap: hex(host.layout?.idmapStart ?? 0),
      image,
    },
    hypercalls: host.records,
    pools,
    pgtable: {
      pgd: hex(pgt?.pgd ?? 0),
      table_pages: pgt?.tablePages().length ?? 0,
      early_table_pages: hyp?.pgtEarly?.nrUsedPages() ?? 0,
      mappings: pgt ? mappingReports(maplets, hyp!.expected, hyp!.version) : [],
      tree: pgtableTree(
        pgt,
        maplets,
        4 - Math.ceil((host.hypVaBits - 12) / 9),
        (pa) => m.memory.read32(pa),
      ),
    },
    host_pgtable: {
      pgd: hex(host.hostPgd),
      table_pages: host.hostPgtPages.length,
      freed: host.hostPgtFreed,
    },
    switch: {
      sequence: seq.name,
      abi: seq.abi,
      verdict: run?.verdict ?? "fail",
      findings: (run?.findings ?? []).map((f) => ({
        rule: f.rule,
        severity: f.severity,
        line: f.line,
        message: f.message,
      })),
      executed: run?.steps ?? 0,
      pc: hex(run?.target ?? 0),
      source: seq.source,
    },
    sysregs,
    tlb: {
      policy: host.caps.tlb.policy,
      hits: tlb.hits,
      misses: tlb.misses,
      fills: tlb.fills,
      invalidated: tlb.invalidated,
      stale: tlb.stale,
    },
    verify: input.verify ?? unverified(tlb.stale),
    notes: input.notes,
  };
  if (input.failure !== undefined) report.failure = input.failure;
  return report;
}
