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
  type Maplet,
  type MappingReport,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  type PkvmVersion,
  type PoolReport,
  type StepReport,
  toKernelProt,
  type VerifyReport,
} from "../../core/mod.ts";
import { release } from "../releases/mod.ts";
import type { Host } from "./host.ts";
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
      ...(host.memblockInit === undefined || host.memblockInit.removed.length === 0 ? {} : {
        memblock_removed: host.memblockInit.removed.map((x) => ({
          base: hex(x.base),
          size: hex(x.size),
          reason: x.why,
        })),
      }),
    },
    variants: input.variants,
    steps: input.steps,
    reserve: {
      base: hex(r?.base ?? 0),
      size: hex(r?.size ?? 0),
      align: hex(r?.align ?? 0),
      pages: r?.pages ?? { hyp_s1: 0, host_s2_mem: 0, host_s2_dev: 0, vmemmap: 0, total: 0 },
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
      mappings: pgt ? mappingReports(pgt.maplets(), hyp!.expected, hyp!.version) : [],
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
