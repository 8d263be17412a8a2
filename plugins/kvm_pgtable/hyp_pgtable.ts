/**
 * One hyp stage-1 table (`struct kvm_pgtable`) in simulated physical memory,
 * with the kernel's `kvm_pgtable_hyp_*` operations as visitors over the one
 * walker.
 *
 * @module
 */

import {
  ERRNO,
  errnoName,
  type HalvesWalker,
  hex,
  HyplabError,
  KernelBugError,
  KernelErrnoError,
  type KvmPgtable,
  type KvmPgtableInitOptions,
  type KvmPgtableVersion,
  type Maplet,
  type MapPagesResult,
  type PgtableMmOps,
  type PhysicalMemory,
  type Trace,
  WALK,
  type Walker,
} from "../../core/mod.ts";
import { protName } from "./descriptor.ts";
import { kvmPgtableStartLevel } from "./geometry.ts";
import { joinPte, protAttrParts, protProblem, type PteFormat, pteFormat } from "./_pte.ts";
import type { PgtableFacts } from "../releases/mod.ts";
import { type HypMapWalker, hypMapWalker, type MapEnv } from "./map_walker.ts";
import { hypFreeWalker, hypUnmapWalker } from "./unmap_walker.ts";
import { collectMaplets, collectTablePages, dumpTable, type ViewTarget } from "./views.ts";
import { kvmPgtableWalk, PteStore, type VisitCtx } from "./walker.ts";

/** Variant-wide settings a factory passes to each table it makes. */
export interface HypPgtableSettings {
  /** Kernel version whose semantics to follow. */
  version: KvmPgtableVersion;
  /** Whether the kernel runs with BTI (GP on executable mappings, mainline). */
  bti: boolean;
  /**
   * `ARM64_KVM_HVHE` for the tables this factory makes, unless a table's
   * init options say otherwise (default false: nVHE).
   */
  hvhe?: boolean;
  /**
   * `kvm_lpa2_is_enabled()` for the tables this factory makes, unless a
   * table's init options say otherwise (default false).
   */
  lpa2?: boolean;
  /** Default trace (a table's own `trace` option wins). */
  trace?: Trace;
}

/**
 * `kvm_pgtable_hyp_init`: takes one zeroed pgd page from `mm_ops` and derives
 * the start level from `ia_bits`.
 *
 * Start levels outside −1..3 give -EINVAL: mainline checks this; v5.13 does
 * not (it computes a wrapped-around level and returns 0, its walks then
 * failing with -EINVAL), so for v5.13 this -EINVAL is hyplab's. A 49–52-bit
 * table starts at level −1 (`KVM_PGTABLE_FIRST_LEVEL`); its descriptors
 * are meant to be LPA2's (`lpa2`), as the kernel only gets there with
 * `kvm_lpa2_is_enabled()`.
 *
 * @param settings Version, BTI, hVHE, LPA2, default trace.
 * @param options Address bits, mm_ops, memory, name, trace, TLBI hook,
 *   hVHE and LPA2 for this table.
 * @returns The table, or -ENOMEM / -EINVAL.
 * @throws {RangeError} For a non-integer `iaBits` or one outside 1..64.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypPgtableInit } from "./hyp_pgtable.ts";
 * import { ERRNO, PhysicalMemory } from "../../core/mod.ts";
 * const memory = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 20 }]);
 * const mmOps = { zallocPage: () => null, physToVirt: (pa: number) => pa, virtToPhys: (va: number) => va };
 * assertEquals(hypPgtableInit({ version: "v5.13", bti: false }, { iaBits: 48, mmOps, memory }), ERRNO.ENOMEM);
 * ```
 */
export function hypPgtableInit(
  settings: HypPgtableSettings,
  options: KvmPgtableInitOptions,
): HypPgtable | number {
  const { iaBits, mmOps } = options;
  if (!Number.isInteger(iaBits) || iaBits < 1 || iaBits > 64) {
    throw new RangeError(`Cannot init a hyp table with ia_bits ${iaBits}: must be 1..64`);
  }
  const start = kvmPgtableStartLevel(iaBits);
  // KVM_PGTABLE_FIRST_LEVEL: −1 with the LPA2 support, 0 before.
  if (start < pteFormat(settings.version).facts.firstLevel || start > 3) return ERRNO.EINVAL;
  const pgd = mmOps.zallocPage();
  if (pgd === null) return ERRNO.ENOMEM;
  return new HypPgtable(settings, options, start, mmOps.virtToPhys(pgd));
}

/**
 * A hyp stage-1 table. Make one with {@link hypPgtableInit} or through the
 * `KVM_PGTABLE` capability.
 *
 * mm_ops without `getPage`/`putPage` (the v5.13 early allocator's shape) are
 * treated as the no-op stubs mainline's early allocator has; `unmap` needs
 * `pageCount` and `destroy` needs `putPage`.
 *
 * @example Mainline refcounts: 1 + valid entries per table page
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypPgtableInit } from "./hyp_pgtable.ts";
 * import { PAGE_HYP, PhysicalMemory } from "../../core/mod.ts";
 *
 * const memory = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * const refs = new Map<number, number>();
 * let next = 0x4000_0000;
 * const page = (va: number) => va - (va % 4096);
 * const mmOps = {
 *   zallocPage: () => { refs.set(next, 1); return (next += 4096) - 4096; },
 *   getPage: (va: number) => void refs.set(page(va), refs.get(page(va))! + 1),
 *   putPage: (va: number) => void refs.set(page(va), refs.get(page(va))! - 1),
 *   pageCount: (va: number) => refs.get(page(va)) ?? 0,
 *   physToVirt: (pa: number) => pa,
 *   virtToPhys: (va: number) => va,
 * };
 * const pgt = hypPgtableInit({ version: "mainline", bti: false }, { iaBits: 48, mmOps, memory });
 * if (typeof pgt === "number") throw new Error("no pgd");
 * assertEquals(pgt.map(0x8000_0000, 0x2000, 0x4080_0000, PAGE_HYP), 0);
 * assertEquals(pgt.tablePages().map((pa) => refs.get(pa)), [2, 2, 2, 3]);
 * assertEquals(pgt.unmap(0x8000_0000, 0x2000), 0x2000);
 * assertEquals(pgt.tablePages().map((pa) => refs.get(pa)), [1]);
 * ```
 */
export class HypPgtable implements KvmPgtable {
  /** Input address bits. */
  readonly iaBits: number;
  /** Start level. */
  readonly startLevel: number;
  /** Kernel version whose semantics this table follows. */
  readonly version: KvmPgtableVersion;
  /** The memory the tables live in. */
  readonly memory: PhysicalMemory;
  /** The mm_ops in use (the boot swaps early for buddy ops). */
  mmOps: PgtableMmOps;
  /** Table name in trace events. */
  readonly name: string;
  #store: PteStore;
  #pgdPa: number | null;
  /** The release's kvm_pgtable facts. */
  #facts: PgtableFacts;
  /** How this table encodes descriptors (hVHE, LPA2, BTI resolved). */
  #fmt: PteFormat;
  #target: ViewTarget;
  #trace: Trace | undefined;
  #tlbi: KvmPgtableInitOptions["tlbi"];
  #warnCount = 0;
  #attr = new Uint32Array(2);
  /** The prot {@link HypPgtable.#attr} holds the attributes of (−1: none yet). */
  #attrProt = -1;
  /** What the map visitors use: the store, the current mm_ops, the WARN sink. */
  #mapEnv: MapEnv;
  /** The map visitor, kept between calls. */
  #mapWalker: HypMapWalker | undefined = undefined;
  /** Maps under way (a callback may map again). */
  #mapping = 0;

  /**
   * Use {@link hypPgtableInit}.
   * @param settings Version, BTI, default trace.
   * @param options Init options.
   * @param start Start level.
   * @param pgdPa PA of the zeroed pgd page.
   */
  constructor(
    settings: HypPgtableSettings,
    options: KvmPgtableInitOptions,
    start: number,
    pgdPa: number,
  ) {
    this.iaBits = options.iaBits;
    this.startLevel = start;
    this.version = settings.version;
    this.#fmt = pteFormat(settings.version, {
      hvhe: options.hvhe ?? settings.hvhe ?? false,
      lpa2: options.lpa2 ?? settings.lpa2 ?? false,
      bti: settings.bti,
    });
    this.#facts = this.#fmt.facts;
    this.memory = options.memory;
    this.#store = new PteStore(options.memory);
    // What the walker sees: this table, with a live view of the pgd.
    const pgdOf = () => this.#pgdPa;
    this.#target = {
      store: this.#store,
      get pgdPa() {
        return pgdOf();
      },
      iaBits: this.iaBits,
      startLevel: start,
      version: this.version,
      lpa2: this.#fmt.lpa2,
      fmt: this.#fmt,
    };
    this.mmOps = options.mmOps;
    this.name = options.name ?? "pkvm_pgtable";
    this.#pgdPa = pgdPa;
    this.#trace = options.trace ?? settings.trace;
    this.#tlbi = options.tlbi;
    // mm_ops read at each use: the boot swaps them between calls.
    const mmOpsOf = () => this.mmOps;
    this.#mapEnv = {
      lpa2: this.#fmt.lpa2,
      store: this.#store,
      get mmOps() {
        return mmOpsOf();
      },
      warn: (fn: string, message: string) => this.warn(fn, message),
    };
  }

  /** PA of the top-level table (0 once destroyed: the kernel's NULL). */
  get pgd(): number {
    return this.#pgdPa ?? 0;
  }

  /** Number of kernel WARNs hit so far. */
  get warnCount(): number {
    return this.#warnCount;
  }

  /**
   * Records a kernel WARN (counted, and logged when the trace wants it).
   * @param fn Kernel function whose WARN_ON fired.
   * @param message What was found.
   */
  warn(fn: string, message: string): void {
    this.#warnCount++;
    if (this.#trace?.wants("log")) {
      this.#trace.emit("log", { level: "warn", message: `WARN in ${fn}: ${message}` });
    }
  }

  /**
   * `kvm_pgtable_hyp_map`: maps `[addr, addr + size)` (walk range rounded as
   * the walker does) to `phys` rounded down to a page. No rollback on error.
   * The kernel's trailing `dsb ishst; isb` is not modelled here; the A64
   * executor models barriers.
   *
   * @param addr First VA.
   * @param size Bytes.
   * @param phys First PA.
   * @param prot Prot bits. Only R, W, X, DEVICE (and SW0..3 in mainline)
   *   are read; any other bit is ignored, as `hyp_set_prot_attr` ignores it.
   * @returns 0, or -EINVAL (no R, W with X, X with DEVICE; a level-3
   *   conflict), -ENOMEM, -ERANGE.
   * @throws {RangeError} For a negative or non-integer argument, or `phys` ≥ 2^48.
   */
  map(addr: number, size: number, phys: number, prot: number): number {
    return this.#map(addr, size, phys, prot, false);
  }

  /**
   * `pages` calls of {@link HypPgtable.map}, one page each
   * (`map(addr + i * 4096, 4096, phys + i * 4096, prot)`), stopping at the
   * first error: the boot's `create_hyp_mappings()` and
   * `pkvm_create_mappings()` loops. Walked as one range where that is the
   * same thing: a one-page call fits no leaf above level 3, each page's
   * walk passes (without visiting) the tables the page before it made or
   * found, and its LEAF visit is the one the range walk makes there; the
   * error of a page stops the walk at that page, as it stops the loop.
   * Page by page when the trace records `map` events (one per call), or
   * when the range starts unaligned, or passes 2^ia_bits or the output
   * address range (where the calls fail part-way).
   *
   * @param addr First VA (page-aligned for the one-walk path).
   * @param pages Pages.
   * @param phys First PA.
   * @param prot Prot bits, as for `map`.
   * @returns Pages mapped, and 0 or the failing page's errno.
   * @throws {RangeError} As `map` for its first failing argument.
   */
  mapPages(addr: number, pages: number, phys: number, prot: number): MapPagesResult {
    checkNumber("map", "page count", pages);
    const P = 4096;
    const oaLimit = this.#fmt.lpa2 ? 2 ** 52 : 2 ** 48;
    const whole = pages > 0 && addr % P === 0 && phys % P === 0 &&
      addr + pages * P <= 2 ** this.iaBits && phys + (pages - 1) * P < oaLimit &&
      Number.isSafeInteger(addr + pages * P) && !this.#trace?.wants("map");
    if (!whole) {
      for (let i = 0; i < pages; i++) {
        const err = this.map(addr + i * P, P, phys + i * P, prot);
        if (err !== 0) return { mapped: i, err };
      }
      return { mapped: pages, err: 0 };
    }
    this.#lastMapAddr = -1;
    const err = this.#map(addr, pages * P, phys, prot, true);
    if (err === 0) return { mapped: pages, err };
    // The walk stopped at the failing page's visit (or, before any visit,
    // at the first page: a destroyed table).
    const at = this.#lastMapAddr;
    return { mapped: at < addr ? 0 : Math.floor((at - addr) / P), err };
  }

  /** Where the last one-walk {@link HypPgtable.mapPages} stopped. */
  #lastMapAddr = -1;

  #map(addr: number, size: number, phys: number, prot: number, pages: boolean): number {
    checkNumber("map", "VA", addr);
    checkNumber("map", "size", size);
    checkNumber("map", "PA", phys);
    if (phys >= (this.#fmt.lpa2 ? 2 ** 52 : 2 ** 48)) {
      const oaBits = this.#fmt.lpa2 ? 52 : 48;
      throw new RangeError(
        `Cannot map PA ${hex(phys)}: beyond the ${oaBits}-bit output address range`,
      );
    }
    if (!Number.isSafeInteger(prot) || prot < 0) {
      throw new RangeError(`Cannot map with prot ${prot}: must be a non-negative integer`);
    }
    // hyp_set_prot_attr() of the last prot is kept (the boot maps page by
    // page with one prot); only a prot it accepts is kept.
    if (prot !== this.#attrProt) {
      if (protProblem(prot) !== undefined) return ERRNO.EINVAL;
      protAttrParts(prot, this.#fmt, this.#attr);
      this.#attrProt = prot;
    }
    // ALIGN_DOWN(phys, PAGE_SIZE) (floor: `%` of a large double is a slow fmod).
    const pa = Math.floor(phys / 4096) * 4096;
    // The boot maps page by page, so a call allocates nothing: the table's
    // visitor is set up again, unless a map is already under way (a
    // callback mapping into the same table gets a visitor of its own).
    let walker = this.#mapWalker;
    if (walker === undefined || this.#mapping !== 0) {
      walker = hypMapWalker(this.#mapEnv, this.#facts, pa, this.#attr[0]!, this.#attr[1]!);
      if (this.#mapping === 0) this.#mapWalker = walker;
    }
    walker.reset(pa, this.#attr[0]!, this.#attr[1]!, pages);
    this.#mapping++;
    let ret: number;
    try {
      ret = kvmPgtableWalk(this.#target, addr, size, walker);
    } finally {
      this.#mapping--;
    }
    if (pages) this.#lastMapAddr = ret === 0 ? -1 : walker.lastAddr;
    if (ret === 0 && this.#trace?.wants("map")) {
      this.#trace.emit("map", {
        table: this.name,
        va: hex(addr),
        pa: hex(phys),
        size: hex(size),
        prot: protName(prot),
      });
    }
    return ret;
  }

  /**
   * `kvm_pgtable_hyp_unmap` (mainline): clears leaves, frees tables left
   * empty, and stops at the first invalid entry or at a block with less than
   * its size left before the end of the range. Like the kernel it checks
   * only the end: from inside a block with at least its size left, the
   * whole block goes, the part before `addr` included.
   *
   * @param addr First VA.
   * @param size Bytes.
   * @returns Bytes unmapped (0 when mm_ops has no `pageCount`).
   * @throws {KernelErrnoError} -ENOTSUPP in v5.13, which has no hyp unmap
   *   (it came with hyp stage-1 refcounting in v5.17).
   */
  unmap(addr: number, size: number): number {
    checkNumber("unmap", "VA", addr);
    checkNumber("unmap", "size", size);
    if (!this.#facts.refcounted) {
      throw new KernelErrnoError(
        "kvm_pgtable_hyp_unmap",
        ERRNO.ENOTSUPP,
        `Cannot unmap ${hex(addr)}: ${this.version} has no hyp stage-1 unmap (added in v5.17)`,
      );
    }
    if (this.mmOps.pageCount === undefined) return 0;
    const tlbi = this.#tlbi;
    const walker = hypUnmapWalker(
      tlbi === undefined
        ? { store: this.#store, mmOps: this.mmOps, lpa2: this.#fmt.lpa2 }
        : { store: this.#store, mmOps: this.mmOps, tlbi, lpa2: this.#fmt.lpa2 },
    );
    kvmPgtableWalk(this.#target, addr, size, walker);
    if (this.#trace?.wants("unmap")) {
      this.#trace.emit("unmap", {
        table: this.name,
        va: hex(addr - (addr % 4096)),
        size: hex(walker.unmapped),
      });
    }
    return walker.unmapped;
  }

  /**
   * `kvm_pgtable_walk` with a caller's visitor. The visitor sees the entry
   * as a 64-bit value and may rewrite it in memory at `ptep`; the walker
   * re-reads it after LEAF (and, in mainline, after TABLE_PRE).
   *
   * @param addr First VA.
   * @param size Bytes.
   * @param walker Visitor and flags.
   * @returns 0 or a negative errno.
   */
  walk(addr: number, size: number, walker: Walker): number {
    checkNumber("walk", "VA", addr);
    checkNumber("walk", "size", size);
    return kvmPgtableWalk(this.#target, addr, size, {
      flags: walker.flags,
      cb: (ctx: VisitCtx, visit: number) =>
        walker.cb({
          addr: ctx.addr,
          end: ctx.end,
          level: ctx.level,
          ptep: ctx.ptep,
          pte: joinPte(ctx.lo, ctx.hi),
          flag: visit,
        }),
    });
  }

  /**
   * {@link HypPgtable.walk} with the entry as two 32-bit halves (the
   * walker's reused visit context, no object or bigint per entry).
   *
   * @param addr First VA.
   * @param size Bytes.
   * @param walker Visitor and flags.
   * @returns 0 or a negative errno.
   */
  walkHalves(addr: number, size: number, walker: HalvesWalker): number {
    checkNumber("walk", "VA", addr);
    checkNumber("walk", "size", size);
    return kvmPgtableWalk(this.#target, addr, size, walker);
  }

  /**
   * `kvm_pgtable_get_leaf`: the entry that ends the lookup of `addr` (a leaf
   * or an invalid entry) and its level.
   *
   * @param addr VA.
   * @returns Descriptor and level.
   * @throws {KernelErrnoError} -ERANGE past 2^ia_bits, -EINVAL after destroy.
   */
  getLeaf(addr: number): { pte: bigint; level: number } {
    checkNumber("look up", "VA", addr);
    let lo = 0;
    let hi = 0;
    let level = 0;
    const ret = kvmPgtableWalk(this.#target, addr - (addr % 4096), 4096, {
      flags: WALK.LEAF,
      trusted: true,
      cb(ctx: VisitCtx): number {
        lo = ctx.lo;
        hi = ctx.hi;
        level = ctx.level;
        return 0;
      },
    });
    if (ret !== 0) {
      throw new KernelErrnoError(
        "kvm_pgtable_get_leaf",
        ret,
        `Cannot look up VA ${hex(addr)}: the walk failed with ${errnoName(ret)}`,
      );
    }
    return { pte: joinPte(lo, hi), level };
  }

  /**
   * `kvm_pgtable_hyp_destroy`: puts every table page (and, in mainline, one
   * reference per valid entry) through mm_ops, then the pgd.
   *
   * @throws {KernelBugError} When mm_ops has no `putPage` (a NULL call in the kernel).
   * @throws {HyplabError} When already destroyed.
   */
  destroy(): void {
    const pgd = this.#pgdPa;
    if (pgd === null) throw new HyplabError(`Cannot destroy ${this.name}: already destroyed`);
    const mm = this.mmOps;
    if (mm.putPage === undefined) {
      throw new KernelBugError(
        "kvm_pgtable_hyp_destroy",
        `Cannot destroy ${this.name}: mm_ops has no put_page`,
      );
    }
    const ret = kvmPgtableWalk(
      this.#target,
      0,
      2 ** this.iaBits,
      hypFreeWalker({ store: this.#store, mmOps: mm, lpa2: this.#fmt.lpa2 }, this.#facts),
    );
    if (ret !== 0) this.warn("kvm_pgtable_hyp_destroy", `walk returned ${errnoName(ret)}`);
    mm.putPage(mm.physToVirt(pgd));
    this.#pgdPa = null;
  }

  /** Returns: Maximal merged ranges `{va, pa, size, prot}` sorted by VA. */
  maplets(): Maplet[] {
    return collectMaplets(this.#target);
  }

  /** Returns: A ptdump-like text dump. */
  dump(): string {
    const title = this.#pgdPa === null
      ? `${this.name} (${this.version}): destroyed`
      : `${this.name} (${this.version}): ia_bits ${this.iaBits}, start level ${this.startLevel}, pgd ${
        hex(this.#pgdPa)
      }, ${this.tablePages().length} table pages`;
    return dumpTable(this.#target, title);
  }

  /** Returns: PAs of every table page, pgd first. */
  tablePages(): number[] {
    return collectTablePages(this.#target);
  }
}

function checkNumber(action: string, what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`Cannot ${action} ${what} ${n}: must be a non-negative integer`);
  }
}
