/**
 * Whether a TLB hit (or a walk through a walk-cache entry) still gives what
 * memory gives now: the MMU's stale-entry check, apart from the translate
 * path (`Stage1Mmu` calls it on a hit whose verification is out of
 * date). A difference is a `tlb_stale` event and a count in the TLB's
 * `stale`: the symptom of a missing TLBI. Hardware keeps no such check;
 * the model compares with a fresh walk (`AArch64.S1Walk` in the Arm ARM
 * pseudocode) to show what a real TLB would have served stale.
 *
 * @module
 */

import {
  type Cpu,
  hex,
  LEAF as L,
  LEAF_SIZES,
  type PhysicalMemory,
  type Tlb,
  type TlbEntry,
  type TlbWalkEntry,
  type Trace,
} from "../../core/mod.ts";
import { CachedWalk } from "./cached_walk.ts";
import { describeEntry, describeWalk } from "./faults.ts";
import type { RegimeConfig } from "./regime.ts";
import { chainUnchanged, WALK_FAULT, WalkState, walkTables } from "./table_walk.ts";
import { WalkedEntry } from "./walked_entry.ts";
import type { LeafStore } from "../tlb/leaf_store.ts";

/**
 * What a walk that started from a walk-cache entry is worth: EXACT (the
 * descriptors above it still hold), SAME (they changed, but a full walk
 * gives the same outcome), STALE (a full walk gives another outcome).
 */
export const VIA = { EXACT: 0, SAME: 1, STALE: 2 } as const;

/**
 * The stale-entry check of `Stage1Mmu`: verification of TLB hits
 * (entry objects, or ids into the built-in TLB's rows) and of walks that
 * start from a walk-cache entry, and the walk-cache fills of a demand walk.
 * Each verification is cached on the entry (the regime and table
 * generation it holds for, and the descriptors it read), so a hit re-walks
 * only when a page read as a table was stored to, and then first compares
 * the descriptors its last walk read.
 */
export class HitCheck {
  /** The verifying walks' state (a walk of memory now). */
  #vs = new WalkState();
  #mem: PhysicalMemory;
  #tlb: Tlb;
  #trace: Trace;

  /**
   * Creates the checker.
   * @param memory Physical memory holding the tables.
   * @param tlb The TLB (its `stale` counter, its walk cache).
   * @param trace Trace for `tlb_stale` events.
   */
  constructor(memory: PhysicalMemory, tlb: Tlb, trace: Trace) {
    this.#mem = memory;
    this.#tlb = tlb;
    this.#trace = trace;
  }

  // ---------------------------------------------------------------------
  // Stale check

  /**
   * Compares a hit with a walk now and records it when they differ.
   * @param ro Read-only, as the entry has it.
   * @param xn Execute-never before WXN, as the entry has it.
   * @param wxn The SCTLR_EL2.WXN the hit used.
   * @param attrs The MAIR attribute byte the hit used.
   */
  checkStale(
    cpu: Cpu,
    cfg: RegimeConfig,
    e: TlbEntry,
    va: number,
    ro: boolean,
    xn: boolean,
    wxn: boolean,
    attrs: number,
  ): void {
    let stale: boolean;
    if (e instanceof WalkedEntry) {
      if (e.vCfg !== cfg || e.vGen !== this.#mem.tableGeneration) {
        this.reverify(cfg, e, va, wxn, attrs);
      }
      stale = e.stale;
    } else {
      stale = this.#differs(cfg, e.pa + (va - e.va), va, ro, xn, wxn, attrs);
    }
    if (stale) this.reportStale(cpu, cfg, e, va, ro, xn, wxn, attrs);
  }

  /**
   * Counts a stale hit and, when traced, emits it with a walk of now. The
   * entry is an object, or the id of a row of the built-in TLB's store `l`
   * (its object is made only for the trace).
   */
  reportStale(
    cpu: Cpu,
    cfg: RegimeConfig,
    e: TlbEntry | number,
    va: number,
    ro: boolean,
    xn: boolean,
    wxn: boolean,
    attrs: number,
    l?: LeafStore,
  ): void {
    this.#tlb.recordStale();
    if (this.#trace.wants("tlb_stale")) {
      const s = this.#vs;
      walkTables(this.#mem, cfg, va, s);
      const entry = typeof e === "number" ? l!.entryAt(e) : e;
      this.#trace.emit("tlb_stale", {
        va: hex(va),
        tlb: describeEntry(entry, va, ro, xn, attrs, wxn),
        walk: describeWalk(s, cfg, va),
      }, { cpu: cpu.id, el: cpu.pstate.el });
    }
  }

  /**
   * Whether the verifying walk just made into `#vs` decides the whole entry
   * (first VA `entryVa`, leaf `level`): only if it ended at or above the
   * entry's level, where every VA of the block shares its descriptors.
   */
  #walkCoversEntry(cfg: RegimeConfig, entryVa: number, level: number): boolean {
    const s = this.#vs;
    return s.fault === WALK_FAULT.VA_RANGE ? entryVa >= cfg.iaLimit : s.level <= level;
  }

  /**
   * Walks now into `#vs` and says whether the result differs from the entry
   * at `va`: PA, AP[2], XN, execute-never after WXN (the entry's `wxn` vs
   * the current one) and the MAIR attribute byte (the entry's vs the one
   * the walk's AttrIndx selects now).
   */
  #differs(
    cfg: RegimeConfig,
    paAtVa: number,
    va: number,
    ro: boolean,
    xn: boolean,
    wxn: boolean,
    attrs: number,
    record = false,
  ): boolean {
    const s = this.#vs;
    return !walkTables(this.#mem, cfg, va, s, record) ||
      s.outPa + (va - s.blockVa) !== paAtVa ||
      s.ro !== ro || s.xn !== xn ||
      (s.xn || (cfg.wxn && !s.ro)) !== (xn || (wxn && !ro)) ||
      cfg.mairAttrs[s.attrIdx] !== attrs;
  }

  // ---------------------------------------------------------------------
  // Walk cache

  /**
   * Checks a walk that started from walk-cache entry `via` (outcome in
   * `s`, leaf found or not): EXACT when the descriptors that led to `via`
   * still hold in memory and the regime walks from the same base; else a
   * full walk decides SAME or STALE, and STALE is recorded like a stale TLB
   * hit (`tlb_stale`, the TLB's `stale` counter).
   */
  checkWalkEntry(
    cpu: Cpu,
    cfg: RegimeConfig,
    via: TlbWalkEntry,
    va: number,
    s: WalkState,
    found: boolean,
  ): number {
    const mem = this.#mem;
    if (this.viaExact(via, cfg)) return VIA.EXACT;
    const f = this.#vs;
    const fresh = walkTables(mem, cfg, va, f);
    // The outcome decides, as for a TLB hit: the same PA, permissions and
    // attribute through another path is not stale; two faults are the same
    // when their kind and level (what ESR_EL2 reports) are.
    const same = found
      ? fresh && f.outPa + (va - f.blockVa) === s.outPa + (va - s.blockVa) &&
        f.ro === s.ro && f.xn === s.xn && cfg.mairAttrs[f.attrIdx] === cfg.mairAttrs[s.attrIdx]
      : !fresh && f.fault === s.fault && f.level === s.level;
    if (same) return VIA.SAME;
    this.#tlb.recordStale();
    if (this.#trace.wants("tlb_stale")) {
      this.#trace.emit("tlb_stale", {
        va: hex(va),
        tlb: describeWalk(s, cfg, va, via),
        walk: describeWalk(f, cfg, va),
      }, { cpu: cpu.id, el: cpu.pstate.el });
    }
    return VIA.STALE;
  }

  /**
   * Whether a walk that starts from walk-cache entry `via` is exactly a full
   * walk of `cfg`: the regime walks from the same base and the descriptors
   * that led to `via` still hold in memory.
   */
  viaExact(via: TlbWalkEntry, cfg: RegimeConfig): boolean {
    if (!(via instanceof CachedWalk)) return false;
    const mem = this.#mem;
    if (via.vCfg === cfg && via.vGen === mem.tableGeneration) return true;
    if (
      via.base === cfg.base && via.startLevel === cfg.startLevel && via.hpd === cfg.hpd &&
      via.psLimit === cfg.psLimit && chainUnchanged(mem, via.chain)
    ) {
      via.vCfg = cfg;
      via.vGen = mem.tableGeneration;
      return true;
    }
    return false;
  }

  /**
   * Fills the walk cache with the table descriptors a walk read below
   * `via` (or from the table base), each with the chain that led to it.
   */
  fillWalks(
    cpu: Cpu,
    cfg: RegimeConfig,
    va: number,
    s: WalkState,
    via: TlbWalkEntry | undefined,
  ): void {
    let above: CachedWalk | undefined;
    if (via !== undefined) {
      // Only our own entries carry the chain a deeper entry extends.
      if (!(via instanceof CachedWalk)) return;
      above = via;
    }
    const gen = this.#mem.tableGeneration;
    // The walk cache holds descriptors of levels 0..2: a level −1 one (a
    // 52-bit walk) is only the first link of the chains below it.
    for (let l = above === undefined ? Math.max(cfg.startLevel, 0) : above.level + 1; l < 3; l++) {
      if ((s.tMask & (1 << (l + 1))) === 0) return;
      const w = new CachedWalk(s, cfg, va, l, above, gen);
      this.#tlb.fillWalk!(cpu, w);
      above = w;
    }
  }

  /** {@link HitCheck.reverify} for an entry of the built-in TLB, by id. */
  reverifyId(
    cfg: RegimeConfig,
    l: LeafStore,
    id: number,
    va: number,
    ro: boolean,
    xn: boolean,
    wxn: boolean,
    attrs: number,
  ): void {
    const mem = this.#mem;
    const lc = l.chunk(id);
    const lj = id & 16383;
    const chain = lc.chain[lj];
    if (
      lc.u[lj * 12 + 10] === cfg.id && lc.f[lj * 6 + 2]! >= 0 && chain !== undefined &&
      chainUnchanged(mem, chain)
    ) {
      lc.f[lj * 6 + 2] = mem.tableGeneration;
      return;
    }
    const stale = this.#differs(cfg, va + lc.f[lj * 6 + 1]!, va, ro, xn, wxn, attrs, true);
    const meta = lc.u[lj * 12 + 9]!;
    lc.u[lj * 12 + 9] = stale ? meta | L.STALE : meta & ~L.STALE;
    lc.u[lj * 12 + 10] = cfg.id;
    const size = LEAF_SIZES[(meta & L.CLS_MASK) as 0 | 1 | 2];
    if (this.#walkCoversEntry(cfg, Math.floor(va / size) * size, (meta >>> L.LEVEL_SHIFT) & 3)) {
      const s = this.#vs;
      lc.f[lj * 6 + 2] = mem.tableGeneration;
      const n = s.n;
      // The entry's own chain array is rewritten in place (the TLB hands
      // out copies): re-verification allocates once per entry, not per call.
      let out = lc.chain[lj];
      if (out === undefined || out.length !== 3 * n) out = lc.chain[lj] = new Array<number>(3 * n);
      for (let i = 0; i < n; i++) {
        out[3 * i] = s.chainPa[i]!;
        out[3 * i + 1] = s.chainLo[i]!;
        out[3 * i + 2] = s.chainHi[i]!;
      }
    } else {
      lc.f[lj * 6 + 2] = -1;
    }
  }

  /**
   * Re-verifies an entry object against `cfg` and memory now: first by the
   * descriptors its last verification read, else by a walk (recording the
   * chain when the walk decides the whole entry).
   * @param cfg The current regime.
   * @param e The entry.
   * @param va The VA of the hit.
   * @param wxn The SCTLR_EL2.WXN the hit used.
   * @param attrs The MAIR attribute byte the hit used.
   */
  reverify(cfg: RegimeConfig, e: WalkedEntry, va: number, wxn: boolean, attrs: number): void {
    const mem = this.#mem;
    if (
      e.vCfg === cfg && e.vGen >= 0 && e.vChain !== undefined && chainUnchanged(mem, e.vChain)
    ) {
      e.vGen = mem.tableGeneration;
      return;
    }
    e.stale = this.#differs(cfg, e.pa + (va - e.va), va, e.ro, e.xn, wxn, attrs, true);
    e.vCfg = cfg;
    if (this.#walkCoversEntry(cfg, e.va, e.level)) {
      e.vGen = mem.tableGeneration;
      e.recordChain(this.#vs);
    } else {
      e.vGen = -1;
    }
  }
}
