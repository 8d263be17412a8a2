/**
 * The EL2 stage-1 MMU: MMU off → flat; MMU on → TLB, else a table walk
 * that fills the TLB; every TLB hit is checked against memory so a missing
 * TLBI shows as a `tlb_stale` event.
 *
 * @module
 */

import {
  type AccessKind,
  type Cpu,
  EC,
  type El2Memory,
  type El2MemoryOptions,
  type FaultKind,
  hex,
  LEAF as L,
  MemoryFaultError,
  type Mmu,
  type MmuFault,
  type PhysicalMemory,
  pteOf,
  takeAbort,
  takeException,
  type Tlb,
  type TlbEntry,
  type Trace,
  type TranslateOptions,
  type Translation,
  UnsupportedMmuConfigError,
  type WalkOptions,
} from "../../core/mod.ts";
import { mmuFault, permissionFault, walkFault } from "./faults.ts";
import { MmuEl2Memory } from "./mmu_el2_memory.ts";
import { HitCheck, VIA } from "./hit_check.ts";
import { type RegimeConfig, withTableBase } from "./regime.ts";
import { RegimeCache } from "./regime_cache.ts";
import { WalkState, walkTables } from "./table_walk.ts";
import { TranslationOut } from "./translation_out.ts";
import { WalkedEntry } from "./walked_entry.ts";
import type { TlbModel } from "../tlb/tlb_model.ts";
import type { LeafStore } from "../tlb/leaf_store.ts";

/** Access codes used on the hot path. */
const ACCESS = { READ: 0, WRITE: 1, EXEC: 2 } as const;

const ACCESS_KINDS: readonly AccessKind[] = ["read", "write", "exec"];
const LEVELLED: ReadonlySet<string> = new Set<FaultKind>([
  "address_size",
  "translation",
  "access_flag",
  "permission",
]);

function accessCode(access: AccessKind): number {
  if (access === "read") return 0;
  if (access === "write") return 1;
  if (access === "exec") return 2;
  throw new TypeError(`Cannot translate access "${String(access)}": use read, write or exec`);
}

/** The access size `options` ask for (1 when none); a size the MMU has no access for is refused. */
function accessSize(options: TranslateOptions | undefined): number {
  const size = options?.size ?? 1;
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8 && size !== 16) {
    throw new RangeError(`Cannot translate a ${size}-byte access: sizes are 1, 2, 4, 8, 16`);
  }
  return size;
}

function checkVa(va: number): void {
  if (!Number.isSafeInteger(va) || va < 0) {
    throw new RangeError(`Cannot translate VA ${va}: not a non-negative safe integer`);
  }
}

/**
 * The {@link Mmu} implementation behind the `mmu()` plugin.
 *
 * Stale check: a hit is compared with a walk of memory now. The comparison
 * is cached on the entry and redone only when a page read as a table was
 * stored to ({@link PhysicalMemory.tableGeneration}: walks read their
 * descriptors with {@link PhysicalMemory.readTableEntry}) or the regime
 * changed, and then first by re-reading the descriptors the last walk read,
 * so a hit costs a map lookup and two counter compares, however much data
 * was stored since.
 *
 * With the adversarial TLB a hit uses the SCTLR_EL2.WXN and MAIR_EL2
 * attribute cached in the entry at its fill (the architecture permits both
 * to be cached), so changing either without a TLBI shows as a stale hit;
 * with the optimistic TLB a hit reads the current registers.
 *
 * Walk cache (adversarial TLB with `fillWalk`/`lookupWalk`): a demand walk
 * caches the table descriptors it read; a later miss starts below the
 * deepest one covering its VA, as hardware may, even after the table was
 * freed if only a leaf-only TLBI (`vale2*`) followed. Such a walk is
 * checked like a hit: if the descriptors that led to the cached one no
 * longer hold and a full walk gives another outcome, it is a `tlb_stale`.
 * Speculative walks ({@link Stage1Mmu.prefetch}) use and fill the walk
 * cache the same way.
 *
 * @example Translate through a one-block table
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, MMU } from "../../core/mod.ts";
 * import { tlb } from "../tlb/mod.ts";
 * import { mmu } from "./mmu.ts";
 * const m = createMachine({ cpus: 1, plugins: [tlb(), mmu()] });
 * const cpu = m.cpu(0);
 * m.memory.write64(0x4000_0000, 0x4020_0000n | 0x741n); // 2 MiB block, RW, AF
 * cpu.sysregs.write("TCR_EL2", 0x80803522n | (5n << 16n)); // T0SZ 34: start at level 2
 * cpu.sysregs.write("TTBR0_EL2", 0x4000_0000n);
 * cpu.sysregs.write("MAIR_EL2", 0xffn);
 * cpu.sysregs.setField("SCTLR_EL2", "M", 1n);
 * const t = m.get(MMU).translate(cpu, 0x1234, "write");
 * assertEquals(t.kind === "ok" && t.pa, 0x4020_1234);
 * ```
 */
export class Stage1Mmu implements Mmu {
  /** Variant name. */
  readonly name: string = "mmu";
  #mem: PhysicalMemory;
  #tlb: Tlb;
  /**
   * The built-in TLB, when it is the one: entries are ids into its typed
   * typed-array rows, and a hit or a fill makes no object.
   */
  #model: TlbModel | undefined;
  /** Hits use the WXN and MAIR attribute cached at fill (adversarial TLB). */
  #cached: boolean;
  /** Walks use and fill the TLB's walk cache (adversarial TLB that has one). */
  #walkCache: boolean;
  #trace: Trace;
  #regimes: RegimeCache;
  /** The cache's `states` (the same array), one load nearer the hit path. */
  #states: RegimeCache["states"];
  #check: HitCheck;
  #ws = new WalkState();
  #vs = new WalkState();
  // The last successful resolution's entry object, when it used or
  // filled one (its descriptor is a BigInt already); else undefined and
  // the record holds the descriptor's halves.
  #entry: TlbEntry | undefined = undefined;
  // The last fault.
  #fault: MmuFault | undefined = undefined;

  /**
   * Creates the MMU.
   * @param memory Physical memory holding the tables.
   * @param tlb The TLB it fills and consults.
   * @param trace Trace for `tlb_stale` and abort events.
   */
  constructor(memory: PhysicalMemory, tlb: Tlb, trace: Trace) {
    this.#mem = memory;
    this.#tlb = tlb;
    const m = tlb as Partial<TlbModel>;
    this.#model = typeof m.lookupId === "function" && typeof m.peekId === "function" &&
        typeof m.leaves === "function" && typeof m.fillLeaf === "function"
      ? tlb as TlbModel
      : undefined;
    this.#cached = tlb.policy === "adversarial";
    this.#walkCache = tlb.policy === "adversarial" && typeof tlb.lookupWalk === "function" &&
      typeof tlb.fillWalk === "function";
    this.#trace = trace;
    this.#regimes = new RegimeCache(tlb);
    this.#states = this.#regimes.states;
    this.#check = new HitCheck(memory, tlb, trace);
  }

  /**
   * Translates an EL2 access (see {@link Mmu.translate}).
   * @param cpu The CPU.
   * @param va Virtual address.
   * @param access Access kind.
   * @param options Debug, size, abort.
   * @returns The translation or the fault.
   */
  translate(
    cpu: Cpu,
    va: number,
    access: AccessKind,
    options?: TranslateOptions,
  ): Translation | MmuFault {
    const code = accessCode(access);
    const size = accessSize(options);
    const debug = options?.debug === true;
    const o = this.#to;
    const pa = debug
      ? this.#resolve(cpu, va, code, size, true, -2, o)
      : this.#hit(cpu, va, code, size, o);
    if (pa < 0) {
      const f = this.#fault!;
      if (!debug && options?.abort === true) this.raiseAbort(cpu, f, options.pc ?? cpu.pc);
      return f;
    }
    return {
      kind: "ok",
      va,
      pa,
      level: o.level,
      pte: this.#entry !== undefined
        ? this.#entry.pte
        : o.mmuOff
        ? 0n
        : this.#pte(o.pteLo, o.pteHi),
      memType: o.device ? "device" : "normal",
      attrs: o.attrs,
      writable: o.writable,
      executable: o.executable,
      fromTlb: o.fromTlb,
      // Always set here (one object shape on the hot path); optional in the
      // interface for other MMUs.
      viaWalkCache: o.viaWalkCache,
      mmuOff: o.mmuOff,
    };
  }

  /** {@link Stage1Mmu.translate}'s record. */
  #to = new TranslationOut();

  /**
   * {@link Stage1Mmu.translate} into a record the caller reuses: the same
   * translation, TLB lookup or fill, stale check, counters and trace, with
   * no object and no BigInt made on success (a fault is still an
   * {@link MmuFault} object, in `out.fault`). For loops over many accesses.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @param access Access kind.
   * @param out Receives the translation or the fault.
   * @param options Debug, size, abort.
   * @returns True on a translation, false on a fault.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createMachine, MMU } from "../../core/mod.ts";
   * import { tlb } from "../tlb/mod.ts";
   * import { mmu, Stage1Mmu, TranslationOut } from "./mod.ts";
   * const m = createMachine({ cpus: 1, plugins: [tlb(), mmu()] });
   * const out = new TranslationOut();
   * // MMU off: VA = PA, data accesses are Device memory.
   * assertEquals((m.get(MMU) as Stage1Mmu).translateInto(m.cpu(0), 0x4000_0008, "read", out), true);
   * assertEquals([out.pa, out.mmuOff, out.device], [0x4000_0008, true, true]);
   * ```
   */
  translateInto(
    cpu: Cpu,
    va: number,
    access: AccessKind,
    out: TranslationOut,
    options?: TranslateOptions,
  ): boolean {
    const code = accessCode(access);
    const size = accessSize(options);
    const debug = options?.debug === true;
    const pa = debug
      ? this.#resolve(cpu, va, code, size, true, -2, out)
      : this.#hit(cpu, va, code, size, out);
    if (pa >= 0) {
      const e = this.#entry;
      if (e !== undefined) {
        // An entry object (another TLB, or one filled from an object):
        // its descriptor is a BigInt already.
        out.pteLo = Number(e.pte & 0xffff_ffffn);
        out.pteHi = Number((e.pte >> 32n) & 0xffff_ffffn);
      }
      return true;
    }
    out.va = va;
    const f = this.#fault!;
    out.fault = f;
    if (!debug && options?.abort === true) this.raiseAbort(cpu, f, options.pc ?? cpu.pc);
    return false;
  }

  // A descriptor's BigInt, remembered by its halves (direct-mapped): a hit
  // on the same page again makes no BigInt.
  #pteLo = new Uint32Array(1024);
  #pteHi = new Uint32Array(1024);
  #pteVal: bigint[] = new Array<bigint>(1024).fill(0n);

  /** The descriptor with halves `lo`, `hi` as a BigInt. */
  #pte(lo: number, hi: number): bigint {
    const i = ((lo >>> 12) ^ hi) & 1023;
    if (this.#pteLo[i] === lo && this.#pteHi[i] === hi) return this.#pteVal[i]!;
    const v = pteOf(lo, hi);
    this.#pteLo[i] = lo;
    this.#pteHi[i] = hi;
    this.#pteVal[i] = v;
    return v;
  }

  /**
   * A fresh, side-effect-free walk (see {@link Mmu.walk}).
   * @param cpu The CPU.
   * @param va Virtual address.
   * @param access Access kind.
   * @param options Another table base.
   * @returns The translation or the fault.
   */
  walk(
    cpu: Cpu,
    va: number,
    access: AccessKind,
    options?: WalkOptions,
  ): Translation | MmuFault {
    const o = this.#wo;
    if (!this.walkInto(cpu, va, access, o, options)) return o.fault!;
    return {
      kind: "ok",
      va,
      pa: o.pa,
      level: o.level,
      pte: this.#pte(o.pteLo, o.pteHi),
      memType: o.device ? "device" : "normal",
      attrs: o.attrs,
      writable: o.writable,
      executable: o.executable,
      fromTlb: false,
      mmuOff: false,
    };
  }

  /** {@link Stage1Mmu.walk}'s record. */
  #wo = new TranslationOut();

  /**
   * {@link Stage1Mmu.walk} into a record the caller reuses: the same walk,
   * checks and outcome, with no object and no BigInt made on success (a
   * fault is still an {@link MmuFault} object, in `out.fault`).
   * @param cpu The CPU.
   * @param va Virtual address.
   * @param access Access kind.
   * @param out Receives the translation (`fromTlb`, `viaWalkCache` and
   *   `mmuOff` are false) or the fault.
   * @param options Another table base.
   * @returns True on a translation, false on a fault.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createMachine, MMU } from "../../core/mod.ts";
   * import { tlb } from "../tlb/mod.ts";
   * import { mmu, Stage1Mmu, TranslationOut } from "./mod.ts";
   * const m = createMachine({ cpus: 1, plugins: [tlb(), mmu()] });
   * const cpu = m.cpu(0);
   * m.memory.write64(0x4000_0000, 0x4020_0000n | 0x7c1n); // 2 MiB block, RO, AF
   * cpu.sysregs.write("TCR_EL2", 0x80803522n | (5n << 16n));
   * cpu.sysregs.write("TTBR0_EL2", 0x4000_0000n);
   * cpu.sysregs.setField("SCTLR_EL2", "M", 1n);
   * const out = new TranslationOut();
   * const mmuCap = m.get(MMU) as Stage1Mmu;
   * assertEquals(mmuCap.walkInto(cpu, 0x10, "read", out), true);
   * assertEquals([out.pa, out.writable], [0x4020_0010, false]);
   * assertEquals(mmuCap.walkInto(cpu, 0x10, "write", out), false);
   * assertEquals(out.fault?.fault, "permission");
   * ```
   */
  walkInto(
    cpu: Cpu,
    va: number,
    access: AccessKind,
    out: TranslationOut,
    options?: WalkOptions,
  ): boolean {
    const code = accessCode(access);
    checkVa(va);
    let cfg = this.#regimes.peek(cpu);
    // No default `{}`: an object per call on the walk path.
    const base = options?.base;
    if (base !== undefined) cfg = withTableBase(cfg, base);
    if (cfg.unsupported !== undefined) throw new UnsupportedMmuConfigError(cfg.unsupported);
    const s = this.#vs;
    out.va = va;
    if (!walkTables(this.#mem, cfg, va, s)) {
      out.fault = walkFault(s, cfg, va, access);
      return false;
    }
    // A DBM leaf under TCR.HD is writable: the hardware would clear AP[2].
    const ro = s.ro && !(code === ACCESS.WRITE && s.dbm && !s.apTable);
    if (
      (code === ACCESS.WRITE && ro) ||
      (code === ACCESS.EXEC && (s.xn || (cfg.wxn && !ro)))
    ) {
      out.fault = permissionFault(
        s.level,
        va,
        access,
        ro,
        s.xn,
        cfg.wxn,
        [s.apTable, s.xnTable],
        cfg.e2h,
      )!;
      return false;
    }
    let attrs = cfg.mairAttrs[s.attrIdx]!;
    let device = (attrs & 0xf0) === 0;
    if (code === ACCESS.EXEC && device) {
      attrs = 0x44;
      device = false;
    }
    out.pa = s.outPa + (va - s.blockVa);
    out.level = s.level;
    out.pteLo = s.lo;
    out.pteHi = s.hi;
    out.device = device;
    out.attrs = attrs;
    out.writable = !ro;
    out.executable = !s.xn && !(cfg.wxn && !ro);
    out.fromTlb = false;
    out.viaWalkCache = false;
    out.mmuOff = false;
    out.fault = undefined;
    return true;
  }

  /**
   * A speculative walk and fill (see {@link Mmu.prefetch}). An unsupported
   * configuration or a faulting walk fills nothing.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @param options Another table base.
   * @returns The entry kept, or undefined.
   */
  prefetch(cpu: Cpu, va: number, options?: WalkOptions): TlbEntry | undefined {
    checkVa(va);
    if (this.#tlb.policy === "optimistic") return undefined;
    let cfg = this.#regimes.get(cpu);
    const base = options?.base;
    if (base !== undefined) cfg = withTableBase(cfg, base);
    if (cfg.unsupported !== undefined) return undefined;
    const s = this.#ws;
    // A speculative walk is a walk like any other: it starts below the
    // deepest cached table descriptor covering the VA (whatever base that
    // came from: no ASID at nVHE EL2) and caches the descriptors it reads.
    const via = this.#walkCache ? this.#tlb.lookupWalk!(cpu, va) : undefined;
    if (!walkTables(this.#mem, cfg, va, s, false, via)) return undefined;
    const exact = via === undefined || this.#check.viaExact(via, cfg);
    const model = this.#model;
    if (model !== undefined) {
      // Through a walk-cache entry whose descriptors may no longer hold:
      // the first hit compares the entry with a walk then (generation -1).
      const id = this.#fillLeaf(
        model,
        cpu,
        cfg,
        s,
        via?.base ?? cfg.base,
        exact ? this.#mem.tableGeneration : -1,
        false,
        true,
      );
      if (id < 0) return undefined;
      if (this.#walkCache && exact && s.tMask !== 0) this.#check.fillWalks(cpu, cfg, va, s, via);
      return model.leaves(cpu)!.entryAt(id);
    }
    const e = new WalkedEntry(s, cfg, this.#mem.tableGeneration, true, via?.base ?? cfg.base);
    // Through a walk-cache entry whose descriptors may no longer hold: the
    // first hit compares the entry with a walk then (nothing is used now).
    if (!exact) e.vGen = -1;
    if (!this.#tlb.prefetch(cpu, e)) return undefined;
    if (this.#walkCache && exact && s.tMask !== 0) this.#check.fillWalks(cpu, cfg, va, s, via);
    return e;
  }

  /**
   * An accessor for hyp VAs on this CPU (see {@link Mmu.el2Memory}).
   * @param cpu The CPU.
   * @param options `takeAbort`.
   * @returns The accessor.
   */
  el2Memory(cpu: Cpu, options: El2MemoryOptions = {}): El2Memory {
    return new MmuEl2Memory(this, this.#mem, cpu, options.takeAbort === true);
  }

  /**
   * The PA of a data access, for {@link MmuEl2Memory}: translate, and on a
   * fault throw {@link MemoryFaultError} (after taking the abort if asked).
   * @param cpu The CPU.
   * @param va Virtual address.
   * @param access Access code: 0 read, 1 write, 2 exec.
   * @param size Access size for the alignment check.
   * @param abort Take the abort on the CPU.
   * @returns The PA.
   */
  accessPa(cpu: Cpu, va: number, access: number, size: number, abort: boolean): number {
    const pa = this.#hit(cpu, va, access, size);
    if (pa >= 0) return pa;
    const f = this.#fault!;
    if (abort) this.raiseAbort(cpu, f, cpu.pc);
    throw new MemoryFaultError(va, f.message, f);
  }

  /**
   * Takes the synchronous abort of a fault on the CPU: `takeAbort` for the
   * levelled kinds, otherwise the same exception with the kind's FSC.
   * @param cpu The CPU.
   * @param f The fault.
   * @param pc ELR_EL2 (the faulting instruction).
   */
  raiseAbort(cpu: Cpu, f: MmuFault, pc: bigint): void {
    const write = f.access === "write";
    if (LEVELLED.has(f.fault)) {
      takeAbort(cpu, {
        access: f.access === "exec" ? "instruction" : "data",
        far: BigInt(f.va),
        fault: f.fault as FaultKind,
        level: f.level,
        write,
        pc,
        trace: this.#trace,
      });
      return;
    }
    const same = cpu.pstate.el === 2;
    const ec = f.access === "exec"
      ? (same ? EC.IABT_CUR : EC.IABT_LOW)
      : (same ? EC.DABT_CUR : EC.DABT_LOW);
    takeException(cpu, {
      ec,
      iss: f.fsc | (write ? 1 << 6 : 0),
      returnAddress: pc,
      far: BigInt(f.va),
      trace: this.#trace,
    });
  }

  // ---------------------------------------------------------------------
  // Translation

  #fail(f: MmuFault): number {
    this.#fault = f;
    return -1;
  }

  /**
   * {@link #resolve} (not debug) with the common case first: a hit on a
   * verified, not stale, entry of the built-in TLB's rows that the access
   * may use, decided in a few compares and nothing written but the hit
   * count (and, given `out`, the translation there). Anything else goes to
   * {@link #resolve}, with the lookup already made, so it is counted once.
   */
  #hit(cpu: Cpu, va: number, access: number, size: number, out?: TranslationOut): number {
    const st = this.#states[cpu.id];
    const model = this.#model;
    if (
      st === undefined || st.cpu !== cpu || st.gen !== cpu.sysregs.generation ||
      model === undefined || !Number.isSafeInteger(va) || va < 0
    ) {
      return this.#slow(cpu, va, access, size, out, -2);
    }
    const cfg = st.cfg;
    const l = model.leaves(cpu);
    // Unaligned accesses (alignment checks, Device memory) take the full path.
    if (
      !cfg.mmuOn || cfg.unsupported !== undefined || l === undefined ||
      (size > 1 && (va & (size - 1)) !== 0)
    ) {
      return this.#slow(cpu, va, access, size, out, -2);
    }
    const id = l.lookup(va);
    if (id < 0) return this.#slow(cpu, va, access, size, out, id);
    // Entry id's row (see #resolve).
    const c = l.chunks[id >>> 14]!;
    const j = id & 16383;
    const meta = c.u[j * 12 + 9]!;
    if (
      (meta & (L.WORDS | L.STALE)) !== L.WORDS || c.u[j * 12 + 10] !== cfg.id ||
      c.f[j * 6 + 2] !== this.#mem.tableGeneration
    ) {
      return this.#slow(cpu, va, access, size, out, id);
    }
    const ro = (meta & L.RO) !== 0;
    let wxn = cfg.wxn;
    let attrs: number;
    const lo = c.u[j * 12 + 7]!;
    if (this.#cached) {
      wxn = (meta & L.WXN) !== 0;
      attrs = (meta >>> 16) & 0xff;
    } else attrs = cfg.mairAttrs[(lo >>> 2) & 7]!;
    const device = (attrs & 0xf0) === 0;
    // A write to a read-only page, any fetch (WXN, XN, Device as Normal):
    // the full path decides.
    if (access === ACCESS.EXEC || (access === ACCESS.WRITE && ro)) {
      return this.#slow(cpu, va, access, size, out, id);
    }
    const pa = va + c.f[j * 6 + 1]!;
    if (out !== undefined) {
      const xn = (meta & L.XN) !== 0;
      this.#entry = undefined;
      out.va = va;
      out.pa = pa;
      out.level = (meta >>> L.LEVEL_SHIFT) & 3;
      out.pteLo = lo;
      out.pteHi = c.u[j * 12 + 8]!;
      out.device = device;
      out.attrs = attrs;
      out.writable = !ro;
      out.executable = !xn && !(wxn && !ro);
      out.fromTlb = true;
      out.viaWalkCache = false;
      out.mmuOff = false;
      out.fault = undefined;
    }
    return pa;
  }

  /** A record for the accesses that need none (El2Memory's). */
  #scratch = new TranslationOut();

  /** {@link #hit}'s way out: the full path, into `out` if given. */
  #slow(
    cpu: Cpu,
    va: number,
    access: number,
    size: number,
    out: TranslationOut | undefined,
    looked: number,
  ): number {
    return this.#resolve(cpu, va, access, size, false, looked, out ?? this.#scratch);
  }

  /**
   * Resolves an access to a PA, or -1 with `#fault` set. On success `o`
   * holds the translation (its descriptor halves unless it came from an
   * entry object: then `#entry` is that object).
   */
  #resolve(
    cpu: Cpu,
    va: number,
    access: number,
    size: number,
    debug: boolean,
    looked: number,
    o: TranslationOut,
  ): number {
    checkVa(va);
    let cfg: RegimeConfig;
    let skipTlb = false;
    if (debug) {
      cfg = this.#regimes.peek(cpu);
      skipTlb = this.#regimes.flushPending(cpu, cfg);
    } else {
      cfg = this.#regimes.get(cpu);
    }
    const data = access !== ACCESS.EXEC;
    const unaligned = data && size > 1 && (va & (size - 1)) !== 0;
    // SCTLR_EL2.A faults come before translation (AArch64.FullTranslate:
    // alignment not due to the memory type is checked first).
    if (unaligned && cfg.alignCheck) {
      return this.#fail(
        mmuFault(
          "alignment",
          0,
          va,
          ACCESS_KINDS[access]!,
          `${size}-byte access with SCTLR_EL2.A = 1`,
        ),
      );
    }
    if (!cfg.mmuOn) return this.#flat(cfg, va, access, unaligned, size, o);
    if (cfg.unsupported !== undefined) throw new UnsupportedMmuConfigError(cfg.unsupported);

    const model = this.#model;
    let e: TlbEntry | undefined;
    // The built-in TLB: the entry as an id into its rows (no object).
    let id = -1;
    let l: LeafStore | undefined;
    if (model !== undefined) {
      l = model.leaves(cpu);
      if (l === undefined) {
        if (!debug) model.lookupId(cpu, va); // a miss, counted
      } else if (!skipTlb) {
        // `looked`: the lookup {@link #hit} made (counted), else -2.
        id = looked !== -2 ? looked : debug ? l.find(va) : l.lookup(va);
        // An entry filled from an object by someone else: the object path.
        if (id >= 0 && (l.chunk(id).u[(id & 16383) * 12 + 9]! & L.WORDS) === 0) {
          e = l.entryAt(id);
          id = -1;
        }
      }
    } else {
      e = debug ? (skipTlb ? undefined : this.#tlb.peek(cpu, va)) : this.#tlb.lookup(cpu, va);
    }
    let pa: number;
    let level: number;
    let leaf: TlbEntry | undefined = e;
    let ro: boolean;
    let xn: boolean;
    let apT = false;
    let xnT = false;
    // The WXN and MAIR attribute this access uses: the current registers,
    // or (adversarial) what the entry cached at its fill.
    let wxn = cfg.wxn;
    let attrs: number;
    let viaWalk = false;
    if (id >= 0) {
      const ls = l!;
      // Entry id's row: chunk id >>> 14, row id & 16383 (LeafChunk: as
      // doubles, +1 PA − VA, +2 generation; as words, +7/+8 descriptor
      // halves, +9 flags, +10 regime id).
      const lsc = ls.chunks[id >>> 14]!;
      const lsj = id & 16383;
      const meta = lsc.u[lsj * 12 + 9]!;
      ro = (meta & L.RO) !== 0;
      xn = (meta & L.XN) !== 0;
      apT = (meta & L.AP_TABLE) !== 0;
      xnT = (meta & L.XN_TABLE) !== 0;
      const lo = lsc.u[lsj * 12 + 7]!;
      if (this.#cached) {
        wxn = (meta & L.WXN) !== 0;
        attrs = (meta >>> 16) & 0xff;
      } else attrs = cfg.mairAttrs[(lo >>> 2) & 7]!;
      if (!debug) {
        // Verified against this regime and these tables: the cached outcome.
        if (lsc.u[lsj * 12 + 10] !== cfg.id || lsc.f[lsj * 6 + 2] !== this.#mem.tableGeneration) {
          this.#check.reverifyId(cfg, ls, id, va, ro, xn, wxn, attrs);
        }
        if ((lsc.u[lsj * 12 + 9]! & L.STALE) !== 0) {
          this.#check.reportStale(cpu, cfg, id, va, ro, xn, wxn, attrs, ls);
        }
      }
      pa = va + lsc.f[lsj * 6 + 1]!;
      level = (meta >>> 2) & 3;
      o.pteLo = lo;
      o.pteHi = lsc.u[lsj * 12 + 8]!;
    } else if (e !== undefined) {
      if (e instanceof WalkedEntry) {
        const p = e.perm;
        ro = (p & 1) !== 0;
        xn = (p & 2) !== 0;
        apT = (p & 4) !== 0;
        xnT = (p & 8) !== 0;
        if (this.#cached) {
          wxn = e.wxn;
          attrs = e.attrs;
        } else attrs = cfg.mairAttrs[e.attrIdx]!;
      } else {
        // A plain TlbEntry carries only its descriptor: current registers.
        const lo = Number(e.pte & 0xffff_ffffn);
        ro = ((lo >>> 7) & 1) === 1;
        xn = ((e.pte >> BigInt(32 + cfg.xnHiBit)) & 1n) === 1n ||
          (cfg.e2h && ((lo >>> 6) & 3) === 1);
        attrs = cfg.mairAttrs[(lo >>> 2) & 7]!;
      }
      if (!debug) this.#check.checkStale(cpu, cfg, e, va, ro, xn, wxn, attrs);
      pa = e.pa + (va - e.va);
      level = e.level;
    } else {
      const s = this.#ws;
      // A walk-cache hit: the walk starts below the cached table descriptor,
      // whatever memory holds above it now.
      const via = this.#walkCache && !skipTlb ? this.#tlb.lookupWalk!(cpu, va) : undefined;
      const found = walkTables(this.#mem, cfg, va, s, false, via);
      viaWalk = via !== undefined;
      const viaState = via === undefined || debug
        ? VIA.EXACT
        : this.#check.checkWalkEntry(cpu, cfg, via, va, s, found);
      if (!found) return this.#fail(walkFault(s, cfg, va, ACCESS_KINDS[access]!));
      if (!debug) this.#hardwareUpdate(s, access);
      if (!debug) {
        if (model !== undefined) {
          // Filled through a stale walk-cache entry: every hit is stale
          // until memory changes (then the usual re-verification takes over).
          this.#fillLeaf(
            model,
            cpu,
            cfg,
            s,
            via?.base ?? cfg.base,
            this.#mem.tableGeneration,
            viaState === VIA.STALE,
            false,
          );
        } else {
          const w = new WalkedEntry(
            s,
            cfg,
            this.#mem.tableGeneration,
            false,
            via?.base ?? cfg.base,
          );
          if (viaState === VIA.STALE) w.stale = true;
          leaf = w;
          this.#tlb.fill(cpu, leaf);
        }
        if (this.#walkCache && viaState === VIA.EXACT && s.tMask !== 0) {
          this.#check.fillWalks(cpu, cfg, va, s, via);
        }
      }
      o.pteLo = s.lo;
      o.pteHi = s.hi;
      pa = s.outPa + (va - s.blockVa);
      level = s.level;
      ro = s.ro;
      xn = s.xn;
      attrs = cfg.mairAttrs[s.attrIdx]!;
      apT = s.apTable;
      xnT = s.xnTable;
    }
    let device = (attrs & 0xf0) === 0;
    if (!data && device) {
      // A fetch from Device memory is treated as Normal Non-cacheable.
      attrs = 0x44;
      device = false;
    }
    if (unaligned && device) {
      return this.#fail(
        mmuFault(
          "alignment",
          0,
          va,
          ACCESS_KINDS[access]!,
          `${size}-byte access to Device memory (attrs ${hex(attrs)})`,
        ),
      );
    }
    const denied = access === ACCESS.WRITE ? ro : access === ACCESS.EXEC && (xn || (wxn && !ro));
    if (denied) {
      return this.#fail(
        permissionFault(level, va, ACCESS_KINDS[access]!, ro, xn, wxn, [apT, xnT], cfg.e2h)!,
      );
    }
    this.#entry = leaf;
    o.va = va;
    o.pa = pa;
    o.level = level;
    o.attrs = attrs;
    o.device = device;
    o.writable = !ro;
    o.executable = !xn && !(wxn && !ro);
    o.fromTlb = e !== undefined || id >= 0;
    o.viaWalkCache = viaWalk;
    o.mmuOff = false;
    o.fault = undefined;
    return pa;
  }

  /**
   * The hardware's descriptor updates for the leaf a walk found (Arm ARM
   * D8.4.2, "Hardware management of the Access flag and dirty state"): with
   * TCR.HA it sets a clear AF, and with TCR.HD a write to a DBM leaf clears
   * AP[2], each as one store to the descriptor, before the access; the walk
   * state then describes the descriptor as stored.
   */
  #hardwareUpdate(s: WalkState, access: number): void {
    let lo = s.lo;
    if (s.afUpdate) lo |= 0x400;
    if (access === ACCESS.WRITE && s.dbm && s.ro && !s.apTable) {
      lo &= ~0x80;
      s.ro = false;
    }
    if (lo === s.lo) return;
    this.#mem.write64Parts(s.descPa, lo >>> 0, s.hi);
    s.lo = lo >>> 0;
    s.afUpdate = false;
  }

  /** MMU off: VA = PA; data Device-nGnRnE, fetch Normal (Arm ARM D8.2.10 / AArch64.S1DisabledOutput). */
  #flat(
    cfg: RegimeConfig,
    va: number,
    access: number,
    unaligned: boolean,
    size: number,
    o: TranslationOut,
  ): number {
    const kind = ACCESS_KINDS[access]!;
    if (va >= cfg.paMaxLimit) {
      return this.#fail(
        mmuFault(
          "address_size",
          0,
          va,
          kind,
          `with the MMU off the VA is beyond the ${cfg.paMaxBits}-bit physical address range (ID_AA64MMFR0_EL1.PARange)`,
        ),
      );
    }
    const data = access !== ACCESS.EXEC;
    if (data && unaligned) {
      return this.#fail(
        mmuFault(
          "alignment",
          0,
          va,
          kind,
          `${size}-byte access to Device memory (the MMU is off)`,
        ),
      );
    }
    this.#entry = undefined;
    o.va = va;
    o.pa = va;
    o.level = -1;
    o.pteLo = 0;
    o.pteHi = 0;
    o.attrs = data ? 0x00 : (cfg.icache ? 0xaa : 0x44);
    o.device = data;
    o.writable = true;
    o.executable = true;
    o.fromTlb = false;
    o.viaWalkCache = false;
    o.mmuOff = true;
    o.fault = undefined;
    return va;
  }

  /**
   * Fills the built-in TLB from walk `s` (the {@link WalkedEntry} fields as
   * row words: permissions, the WXN and MAIR attribute in effect, the regime
   * and memory generation it is verified against).
   */
  #fillLeaf(
    model: TlbModel,
    cpu: Cpu,
    cfg: RegimeConfig,
    s: WalkState,
    base: number,
    gen: number,
    stale: boolean,
    speculative: boolean,
  ): number {
    const meta = (s.ro ? L.RO : 0) | (s.xn ? L.XN : 0) | (s.apTable ? L.AP_TABLE : 0) |
      (s.xnTable ? L.XN_TABLE : 0) | (cfg.wxn ? L.WXN : 0) | (stale ? L.STALE : 0) |
      (cfg.mairAttrs[s.attrIdx]! << 16);
    return model.fillLeaf(
      cpu,
      s.blockVa,
      s.size,
      s.outPa,
      s.level,
      base,
      s.lo,
      s.hi,
      meta,
      gen,
      cfg.id,
      speculative,
    );
  }
}
