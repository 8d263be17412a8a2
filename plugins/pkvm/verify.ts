/**
 * Post-boot verification: every mapping the hyp asked for translates
 * through the MMU with the expected PA and permissions; nothing else is
 * mapped; VAs only the freed host table mapped no longer translate; the
 * pools' invariants hold; and the TLB served no stale translation.
 *
 * @module
 */

import {
  type Cpu,
  hex,
  KVM_PGTABLE_PROT,
  type Maplet,
  type VerifyReport,
  WALK,
} from "../../core/mod.ts";
import type { ExpectedMapping, Hyp } from "./hyp_state.ts";
import { protName } from "./report.ts";

const PAGE = 4096;
const MAX_LISTED = 8;

/**
 * Merges mapping records into maximal ranges (contiguous VA and PA, same prot),
 * sorted by VA; later records win where they overlap earlier ones.
 *
 * @param list Records.
 * @returns Maximal maplets.
 */
export function mergeMappings(
  list: readonly { va: number; pa: number; size: number; prot: number }[],
): Maplet[] {
  const sorted = list.filter((m) => m.size > 0).sort((a, b) => a.va - b.va);
  let overlap = false;
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.va < sorted[i - 1]!.va + sorted[i - 1]!.size) overlap = true;
  }
  if (!overlap) {
    const out: Maplet[] = [];
    for (const m of sorted) {
      const last = out[out.length - 1];
      if (
        last && last.va + last.size === m.va && last.pa + last.size === m.pa && last.prot === m.prot
      ) {
        last.size += m.size;
      } else out.push({ va: m.va, pa: m.pa, size: m.size, prot: m.prot });
    }
    return out;
  }
  // Overlaps: page-granular, last writer wins, then merge runs.
  const pages = new Map<number, { pa: number; prot: number }>();
  for (const m of list) {
    for (let off = 0; off < m.size; off += PAGE) {
      pages.set(m.va + off, { pa: m.pa + off, prot: m.prot });
    }
  }
  const vas = [...pages.keys()].sort((a, b) => a - b);
  const out: Maplet[] = [];
  for (const va of vas) {
    const p = pages.get(va)!;
    const last = out[out.length - 1];
    if (
      last && last.va + last.size === va && last.pa + last.size === p.pa && last.prot === p.prot
    ) {
      last.size += PAGE;
    } else out.push({ va, pa: p.pa, size: PAGE, prot: p.prot });
  }
  return out;
}

/** hyplab's SW0..3 prot bits. */
const PROT_SW_BITS = 0xf << 23;

/**
 * Ranges of `a` not mapped identically (same VA → PA and prot) in `b`.
 *
 * @param a Maplets, sorted by VA.
 * @param b Maplets, sorted by VA.
 * @returns The differing sub-ranges of `a`.
 */
export function mapletsMinus(a: readonly Maplet[], b: readonly Maplet[]): Maplet[] {
  const out: Maplet[] = [];
  let j = 0;
  for (const m of a) {
    let cur = m.va;
    const end = m.va + m.size;
    while (j < b.length && b[j]!.va + b[j]!.size <= cur) j++;
    let k = j;
    while (cur < end) {
      const n = b[k];
      if (n === undefined || n.va >= end) {
        out.push({ va: cur, pa: m.pa + (cur - m.va), size: end - cur, prot: m.prot });
        break;
      }
      if (n.va > cur) {
        out.push({ va: cur, pa: m.pa + (cur - m.va), size: n.va - cur, prot: m.prot });
        cur = n.va;
        continue;
      }
      const stop = Math.min(end, n.va + n.size);
      // The software bits (55..58, hyplab's 23..26) carry the pKVM page
      // state; the walker ignores them, so they do not make a translation differ.
      const same = (n.prot & ~PROT_SW_BITS) === (m.prot & ~PROT_SW_BITS) &&
        n.pa + (cur - n.va) === m.pa + (cur - m.va);
      if (!same) out.push({ va: cur, pa: m.pa + (cur - m.va), size: stop - cur, prot: m.prot });
      cur = stop;
      k++;
    }
  }
  return mergeMappings(out);
}

function describe(hyp: Hyp, m: Maplet, why: string): string {
  const prot = protName(m.prot, hyp.version);
  return `${hex(m.va)}..${hex(m.va + m.size)} -> ${hex(m.pa)} prot ${prot}: ${why}`;
}

/**
 * Checks one page through the MMU (and its TLB) on a CPU.
 *
 * @param hyp The hypervisor.
 * @param cpu The CPU.
 * @param va Page VA.
 * @param pa Expected PA.
 * @param prot Expected prot.
 * @returns A problem, or undefined.
 */
function checkPage(hyp: Hyp, cpu: Cpu, va: number, pa: number, prot: number): string | undefined {
  const { W, DEVICE } = KVM_PGTABLE_PROT;
  const t = hyp.caps.mmu.translate(cpu, va, "read");
  if (t.kind === "fault") return `does not translate on CPU ${cpu.id}: ${t.message}`;
  if (t.pa !== pa) return `translates to ${hex(t.pa)} on CPU ${cpu.id}, expected ${hex(pa)}`;
  if (t.writable !== ((prot & W) !== 0)) return `writable = ${t.writable} on CPU ${cpu.id}`;
  if (t.executable !== expectExecutable(hyp, prot)) {
    return `executable = ${t.executable} on CPU ${cpu.id}`;
  }
  if ((t.memType === "device") !== ((prot & DEVICE) !== 0)) return `memory type ${t.memType}`;
  return undefined;
}

/**
 * Whether EL2 can execute from a mapping made with `prot`, by the release's
 * own descriptor format: X, except under 6.12's hVHE, whose
 * `hyp_set_prot_attr()` marks a non-executable leaf with bit 54 only — UXN
 * in the EL2&0 regime — so a mapping without X stays executable at EL2
 * (PXN clear) unless it is writable, which SCTLR_EL2.WXN makes
 * execute-never. (7.x sets PXN and UXN.) That is the kernel's behaviour and
 * the verification expects it; the report's notes say so.
 *
 * @param hyp The hypervisor.
 * @param prot The mapping's prot.
 * @returns Executable at EL2.
 */
function expectExecutable(hyp: Hyp, prot: number): boolean {
  const { W, X } = KVM_PGTABLE_PROT;
  if ((prot & X) !== 0) return true;
  const uxnOnly = hyp.config.hvhe && hyp.release.pgtable.hvheExec === "uxn";
  const wxn = (hyp.machine.cpu(0).sysreg("SCTLR_EL2") & (1n << 19n)) !== 0n;
  return uxnOnly && !((prot & W) !== 0 && wxn);
}

/**
 * Runs the verification on the CPUs that run on the hyp's tables.
 *
 * @param hyp The hypervisor after the boot.
 * @param hostOnly Mappings only the freed host table had (probed on the boot CPU).
 * @param cpus CPUs to check on (the boot CPU first).
 * @returns The verification report.
 */
export function verifyBoot(
  hyp: Hyp,
  hostOnly: readonly Maplet[],
  cpus: readonly Cpu[],
): VerifyReport {
  const mismatches: string[] = [];
  const unexpected: string[] = [];
  const expected = mergeMappings(hyp.expected);
  const actual = hyp.pgt?.maplets() ?? [];
  for (const m of mapletsMinus(expected, actual)) {
    if (mismatches.length < MAX_LISTED) {
      mismatches.push(describe(hyp, m, "not in pkvm_pgtable as asked"));
    }
  }
  for (const m of mapletsMinus(actual, expected)) {
    if (unexpected.length < MAX_LISTED) {
      unexpected.push(describe(hyp, m, "mapped but never asked for"));
    }
  }
  let checked = 0;
  const boot = cpus[0];
  for (const m of expected) {
    const probes = [m.va, m.va + Math.floor(m.size / PAGE / 2) * PAGE, m.va + m.size - PAGE];
    for (const va of new Set(probes)) {
      for (const cpu of cpus) {
        const why = checkPage(hyp, cpu, va, m.pa + (va - m.va), m.prot);
        checked++;
        if (why !== undefined && mismatches.length < MAX_LISTED) {
          mismatches.push(`${hex(va)} ${why}`);
        }
      }
    }
  }
  let probed = 0;
  if (boot !== undefined) {
    for (const m of hostOnly) {
      for (let va = m.va; va < m.va + m.size; va += PAGE) {
        probed++;
        const t = hyp.caps.mmu.translate(boot, va, "read");
        if (t.kind === "ok" && unexpected.length < MAX_LISTED) {
          const now = actual.find((n) => va >= n.va && va < n.va + n.size);
          unexpected.push(
            `${hex(va)} still translates to ${hex(t.pa)} on CPU ${boot.id}${
              t.fromTlb
                ? " from a TLB entry walked from the freed host table"
                : t.viaWalkCache
                ? " through a walk-cache entry (a table descriptor) of the freed host table"
                : ""
            }; pkvm_pgtable ${
              now === undefined
                ? "does not map it"
                : `maps it to ${hex(now.pa + (va - now.va))} ${protName(now.prot, hyp.version)}`
            }`,
          );
        }
      }
    }
  }
  let pool: string | null = null;
  for (const [name, p] of hyp.pools) {
    const v = p.checkInvariants();
    if (v !== undefined) {
      pool = `${name}: ${v}`;
      break;
    }
  }
  const pgtable = pgtableInvariants(hyp);
  const stale = hyp.caps.tlb.stats().stale;
  return {
    ok: mismatches.length === 0 && unexpected.length === 0 && pool === null && pgtable === null &&
      stale === 0,
    checked_pages: checked,
    mismatches,
    unexpected,
    pool_invariants: pool,
    pgtable_invariants: pgtable,
    stale_translations: stale,
    probed_old_vas: probed,
  };
}

/**
 * The page-table invariants after `__pkvm_init_finalise`: every table page
 * lies in the s1 region (the early allocator's pages, `hyp_pgt_base`); `hpool` reserved exactly the table pages the table
 * had when its mm_ops went to `hpool` (the early allocator's, counted in the
 * table); what `pkvm_create_mappings` made is level 3 only; mainline's
 * fixmap slots are unused PTEs of their level; and, with mainline
 * refcounting, each table page's count is 1 + its valid entries + the fixmap
 * slots it holds (whose reference the kernel keeps on purpose).
 *
 * @param hyp The hypervisor after `__pkvm_init_finalise`.
 * @returns The first violation, or null.
 */
export function pgtableInvariants(hyp: Hyp): string | null {
  const pgt = hyp.pgt;
  if (pgt === undefined) return "no pkvm_pgtable";
  const s1 = hyp.term("hyp_s1");
  const lo = hyp.pa(s1.va);
  const hi = lo + s1.pages * PAGE;
  const tables = pgt.tablePages();
  for (const pa of tables) {
    if (pa < lo || pa >= hi) {
      return `table page ${hex(pa)} lies outside the s1 region [${hex(lo)}, ${hex(hi)})`;
    }
  }
  // __pkvm_init_finalise (setup.c, v5.13 and mainline) gives hyp_pool_init
  // hyp_early_alloc_nr_used_pages() as the reserved count: it must be the
  // number of table pages the early allocator handed out. They are counted
  // here in the table itself as it stood when mm_ops went to hpool, not taken
  // from the allocator's counter (the value under test). The early allocator
  // bumps from hyp_pgt_base, so they are the first pages of the s1 region.
  const hpool = hyp.pools.get("hpool");
  if (hpool !== undefined) {
    const handover = hyp.handoverTablePages;
    if (handover === undefined) return "hpool exists but no table pages were seen at the handover";
    const early = [...handover].sort((a, b) => a - b);
    for (let i = 0; i < early.length; i++) {
      if (early[i] !== lo + i * PAGE) {
        return `table page ${hex(early[i]!)} at the handover is not the early allocator's page ${
          hex(lo + i * PAGE)
        } (the first ${early.length} pages of the s1 region)`;
      }
    }
    const reserved = hpool.stats().reserved;
    if (reserved !== early.length) {
      return `hpool reserved ${reserved} pages; pkvm_pgtable had ${early.length} table pages, all from the early allocator, when its mm_ops went to hpool`;
    }
  }
  for (const e of hyp.expected) {
    if (!e.pages) continue;
    let bad: string | undefined;
    const cb = (level: number, lo: number, addr: number): number => {
      if ((lo & 1) === 1 && level !== 3) {
        bad = `${e.what} at ${
          hex(addr)
        } is a level-${level} block; pkvm_create_mappings maps pages`;
        return -1;
      }
      return 0;
    };
    if (pgt.walkHalves !== undefined) {
      // Descriptor halves, and a page's run of entries at once: a level-3
      // run holds no block, and above level 3 the run stops at a valid
      // entry for cb to report.
      pgt.walkHalves(e.va, e.size, {
        flags: WALK.LEAF,
        cb: (v) => cb(v.level, v.lo, v.addr),
        leafRun: (v, idx, words) => {
          const g = 4096 * 512 ** (3 - v.level);
          const va0 = Math.floor(v.addr / g) * g;
          const max = Math.min(512 - idx, Math.ceil((v.end - va0) / g));
          if (v.level === 3 || words === undefined) return max;
          let n = 0;
          while (n < max && (words[2 * (idx + n)]! & 1) === 0) n++;
          return n;
        },
      });
    } else {
      pgt.walk(e.va, e.size, {
        flags: WALK.LEAF,
        cb: (v) => cb(v.level, Number(v.pte & 1n), v.addr),
      });
    }
    if (bad !== undefined) return bad;
  }
  // Mainline fixmap slots (hyp_create_fixmap, create_fixblock: nvhe/mm.c):
  // each PTE is left invalid while its table page keeps the reference its
  // mapping took, so the page is never freed and the PTE can be rewritten by
  // hand. A slot counts once whether valid or not; no slot is in use now.
  const slots = new Set<number>();
  for (const s of [...hyp.fixmapSlots, ...(hyp.fixblockSlot ? [hyp.fixblockSlot] : [])]) {
    slots.add(s.ptep);
    const pte = pgt.getLeaf(s.addr);
    if (pte.level !== s.level || (pte.pte & 1n) !== 0n) {
      return `fixmap slot ${hex(s.addr)} is ${
        (pte.pte & 1n) !== 0n ? "mapped" : `at level ${pte.level}`
      }; it should be an unused level-${s.level} PTE`;
    }
  }
  const mm = pgt.mmOps;
  // The invariant holds where fix_hyp_pgtable_refcnt() walked the whole VA
  // space (6.12 on); 6.1's finalize_host_mappings() only counts the entries
  // under the linear map, so its other table pages stay at 1.
  if (hyp.release.setup.finalise.includes("pgtable_refcnt") && mm.pageCount !== undefined) {
    const mem = hyp.machine.memory;
    const buf = new Uint32Array(2);
    for (const pa of tables) {
      let valid = 0;
      let pinned = 0;
      for (let i = 0; i < 512; i++) {
        if (slots.size > 0 && slots.has(pa + i * 8)) {
          pinned++;
          continue;
        }
        mem.read64Parts(pa + i * 8, buf);
        if ((buf[0]! & 1) !== 0) valid++;
      }
      const count = mm.pageCount(mm.physToVirt(pa));
      if (count !== 1 + valid + pinned) {
        return `table page ${hex(pa)} has refcount ${count}, expected 1 + ${valid} valid entries${
          pinned > 0 ? ` + ${pinned} fixmap slot(s)` : ""
        }`;
      }
    }
  }
  return null;
}

/**
 * The host-table mappings the hyp's table does not reproduce (by VA → PA and
 * prot): what a stale TLB entry could still translate after the switch.
 *
 * @param host The host table's mappings.
 * @param hypMaplets The hyp table's maplets.
 * @returns Host-only ranges.
 */
export function hostOnlyMappings(
  host: readonly ExpectedMapping[],
  hypMaplets: readonly Maplet[],
): Maplet[] {
  return mapletsMinus(mergeMappings(host), hypMaplets);
}
