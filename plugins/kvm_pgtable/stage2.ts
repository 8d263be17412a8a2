/**
 * The host stage-2 table the hypervisor keeps (`host_mmu.pgt`,
 * `arch/arm64/kvm/hyp/pgtable.c` and `nvhe/mem_protect.c`), as far as the
 * boot writes it: its (concatenated) pgd, and the invalid entries that
 * record who owns a page — `kvm_pgtable_stage2_set_owner()` (6.1, 6.12) and
 * `kvm_pgtable_stage2_annotate()` (7.x), both the stage-2 map walker with
 * `force_pte`, so each annotation is a level-3 entry under tables made on
 * the way from the host stage-2 pool.
 *
 * Valid mappings (`kvm_pgtable_stage2_map()`: the host's own faults, and
 * the pages the hypervisor shares) are not written here.
 *
 * @module
 */

import {
  ERRNO,
  hex,
  type KvmPgtableVersion,
  type KvmStage2InitOptions,
  type KvmStage2Pgtable,
  type PgtableMmOps,
  WALK,
} from "../../core/mod.ts";
import { granuleAt } from "./geometry.ts";
import { isTable, joinPte, leafHi, leafLo, LO_VALID, pteToPhys, splitPte } from "./_pte.ts";
import { EAGAIN, type FastWalker, kvmPgtableWalk, PteStore, type VisitCtx } from "./walker.ts";

/** One run of equal annotations over contiguous input addresses. */
export interface Stage2Annotation {
  /** First IPA. */
  ipa: number;
  /** Bytes. */
  size: number;
  /** The invalid descriptor (owner id and type bits as the release encodes them). */
  pte: bigint;
}

/**
 * The stage-2 map walker in annotation mode (`stage2_map_walker` with
 * `force_pte` and an invalid leaf): above level 3 an entry that is not a
 * table gets a zeroed table page from `mm_ops` (`stage2_map_walk_leaf`,
 * `kvm_init_table_pte`); at level 3 the annotation is written unless it is
 * already there (-EAGAIN, which the walker skips); each entry that becomes
 * non-zero takes a reference on its table page (`stage2_make_pte` →
 * `get_page`: `stage2_pte_is_counted()` counts every non-zero entry).
 */
class AnnotateWalker implements FastWalker {
  readonly flags = WALK.TABLE_PRE | WALK.LEAF;
  readonly trusted = true;
  #store: PteStore;
  #mm: PgtableMmOps;
  #lo: number;
  #hi: number;
  #lpa2: boolean;

  constructor(store: PteStore, mm: PgtableMmOps, pte: bigint, lpa2: boolean) {
    this.#store = store;
    this.#mm = mm;
    const parts = new Uint32Array(2);
    splitPte(pte, parts);
    this.#lo = parts[0]!;
    this.#hi = parts[1]!;
    this.#lpa2 = lpa2;
  }

  cb(ctx: VisitCtx, visit: number): number {
    // TABLE_PRE: force_pte allows no leaf above level 3; descend.
    if (visit === WALK.TABLE_PRE) return 0;
    const mm = this.#mm;
    if (ctx.level === 3) {
      if (ctx.lo === this.#lo && ctx.hi === this.#hi) return EAGAIN;
      if ((ctx.lo & LO_VALID) !== 0) {
        // A valid leaf would need break-before-make; the boot never meets one.
        return ERRNO.EINVAL;
      }
      if (ctx.lo === 0 && ctx.hi === 0) mm.getPage?.(mm.physToVirt(ctx.ptep));
      this.#store.write(ctx.ptep, this.#lo, this.#hi);
      return 0;
    }
    if ((ctx.lo & LO_VALID) !== 0) return ERRNO.EINVAL; // a block: not at boot
    const child = mm.zallocPage();
    if (child === null) return ERRNO.ENOMEM;
    const pa = mm.virtToPhys(child);
    if (ctx.lo === 0 && ctx.hi === 0) mm.getPage?.(mm.physToVirt(ctx.ptep));
    this.#store.write(ctx.ptep, leafLo(pa, 0, 3, this.#lpa2), leafHi(pa, 0, this.#lpa2));
    return 0;
  }

  /**
   * The level-3 LEAF visits {@link AnnotateWalker.cb} makes without an
   * error or -EAGAIN, for a run of entries of one page: each invalid entry
   * that is not already the annotation gets it (a zero one first takes its
   * `get_page`). Stops at the first valid entry or the annotation itself
   * (the single visit decides), and at the end of the range or the page.
   * Where the mm_ops batch `get_page` (getPages), the run's references are
   * taken first, in one call; the entry past the last one taken (at the
   * refcount's maximum) makes its own call and fails as it does one by one.
   * The stores go straight into the page's words, declared at the first and,
   * for the whole run, after the last (PhysicalMemory.storeWords); each
   * leaves an entry invalid, which no TLB or walk cache holds.
   */
  leafRun(ctx: VisitCtx, idx: number, words: Uint32Array | undefined): number {
    if (ctx.level !== 3) return 0;
    const aLo = this.#lo;
    const aHi = this.#hi;
    let max = Math.floor((ctx.end - ctx.addr) / 4096);
    if (max > 512 - idx) max = 512 - idx;
    const read = words ?? ZERO_WORDS;
    // The run: entries before the first valid one or the annotation itself;
    // the zero ones among them take a reference each.
    let n = 0;
    let zeros = 0;
    for (; n < max; n++) {
      const k = 2 * (idx + n);
      const lo = read[k]!;
      const hi = read[k + 1]!;
      if ((lo & LO_VALID) !== 0 || (lo === aLo && hi === aHi)) break;
      if (lo === 0 && hi === 0) zeros++;
    }
    if (n === 0) return 0;
    const mm = this.#mm;
    const get = mm.getPage !== undefined;
    const va0 = get ? mm.physToVirt(ctx.ptep) : 0;
    let taken = 0;
    if (get && zeros !== 0 && mm.getPages !== undefined) taken = mm.getPages(va0, zeros);
    const store = this.#store;
    const ptep0 = ctx.ptep;
    const k0 = 2 * idx;
    let out: Uint32Array | undefined = undefined;
    let counted = 0;
    let written = 0;
    for (let i = 0; i < n; i++) {
      const k = k0 + 2 * i;
      if (get && read[k] === 0 && read[k + 1] === 0 && counted++ >= taken) {
        try {
          mm.getPage!(va0 + 8 * i);
        } catch (e) {
          // A BUG in get_page: the stores before it stay made and counted.
          if (written !== 0) noteRun(store, ptep0, written, out!);
          throw e;
        }
      }
      // Little-endian host: the page's own words (backed now if it was not).
      out ??= store.memory.storeWords(ptep0, 8);
      if (out === undefined) {
        store.write(ptep0 + 8 * i, aLo, aHi);
        continue;
      }
      out[k] = aLo;
      out[k + 1] = aHi;
      written++;
    }
    if (written !== 0) noteRun(store, ptep0, written, out!);
    return n;
  }
}

/** What an unbacked table page holds: zeros (never written). */
const ZERO_WORDS = new Uint32Array(1024);

/**
 * Declares `written` stores from `ptep0` on made, once for the run (the
 * page's written extent as one store per entry leaves it), and counts them.
 */
function noteRun(store: PteStore, ptep0: number, written: number, out: Uint32Array): void {
  const lastPtep = ptep0 + 8 * (written - 1);
  if (written > 1) store.memory.storeWords(ptep0, 8 * written);
  const k = (lastPtep & 0xfff) >>> 2;
  store.noteWrites(written, lastPtep, out[k]!, out[k + 1]!);
}

/** A host stage-2 table in simulated memory. */
export class Stage2Pgtable implements KvmStage2Pgtable {
  /** Input (IPA) bits. */
  readonly iaBits: number;
  /** Start level (the concatenated pgd's). */
  readonly startLevel: number;
  /** PA of the first pgd page. */
  readonly pgd: number;
  /** Concatenated pgd pages. */
  readonly pgdPages: number;
  /** Kernel release whose walker it follows. */
  readonly version: KvmPgtableVersion;
  /** The mm_ops (host stage-2 pool). */
  mmOps: PgtableMmOps;
  #store: PteStore;
  #lpa2: boolean;

  /**
   * Use {@link stage2PgtableInit}.
   * @param version Release.
   * @param options Geometry, pgd, mm_ops, memory, LPA2.
   */
  constructor(version: KvmPgtableVersion, options: KvmStage2InitOptions) {
    this.version = version;
    this.iaBits = options.iaBits;
    this.startLevel = options.startLevel;
    this.pgd = options.pgd;
    this.pgdPages = options.pgdPages;
    this.mmOps = options.mmOps;
    this.#store = new PteStore(options.memory);
    this.#lpa2 = options.lpa2 === true;
  }

  #target() {
    return {
      store: this.#store,
      pgdPa: this.pgd,
      iaBits: this.iaBits,
      startLevel: this.startLevel,
      version: this.version,
      lpa2: this.#lpa2,
    };
  }

  /**
   * `kvm_pgtable_stage2_set_owner()` / `kvm_pgtable_stage2_annotate()`:
   * every page of `[addr, addr + size)` gets the invalid entry `pte` at
   * level 3.
   *
   * @param addr First IPA.
   * @param size Bytes.
   * @param pte The invalid descriptor (bit 0 clear, not zero).
   * @returns 0, or -EINVAL (a valid `pte`, or a valid entry in the way),
   *   -ENOMEM, -ERANGE.
   */
  annotate(addr: number, size: number, pte: bigint): number {
    if ((pte & 1n) !== 0n || pte === 0n) return ERRNO.EINVAL;
    const walker = new AnnotateWalker(this.#store, this.mmOps, pte, this.#lpa2);
    return kvmPgtableWalk(this.#target(), addr, size, walker);
  }

  /**
   * The invalid non-zero entries, merged into runs of equal value over
   * contiguous IPAs, by IPA.
   *
   * @returns The runs.
   */
  annotations(): Stage2Annotation[] {
    const out: Stage2Annotation[] = [];
    kvmPgtableWalk(this.#target(), 0, 2 ** this.iaBits, {
      flags: WALK.LEAF,
      trusted: true,
      cb(ctx: VisitCtx): number {
        if ((ctx.lo & LO_VALID) !== 0 || (ctx.lo === 0 && ctx.hi === 0)) return 0;
        const g = granuleAt(ctx.level);
        const ipa = ctx.addr - (ctx.addr % g);
        const pte = joinPte(ctx.lo, ctx.hi);
        const last = out[out.length - 1];
        if (last !== undefined && last.ipa + last.size === ipa && last.pte === pte) {
          last.size += g;
        } else out.push({ ipa, size: g, pte });
        return 0;
      },
    });
    return out;
  }

  /**
   * PAs of every table page: the pgd pages, then the tables below, in walk order.
   * @returns The PAs.
   */
  tablePages(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.pgdPages; i++) out.push(this.pgd + 4096 * i);
    const lpa2 = this.#lpa2;
    kvmPgtableWalk(this.#target(), 0, 2 ** this.iaBits, {
      flags: WALK.TABLE_PRE,
      trusted: true,
      cb(ctx: VisitCtx): number {
        if (isTable(ctx.lo, ctx.level)) out.push(pteToPhys(ctx.lo, ctx.hi, lpa2));
        return 0;
      },
    });
    return out;
  }

  /** Returns: A one-line description. */
  toString(): string {
    return `host stage-2 ${
      hex(this.pgd)
    } (${this.pgdPages} pgd pages, ${this.iaBits}-bit IPA from level ${this.startLevel})`;
  }
}

/**
 * A host stage-2 table over a pgd the caller allocated
 * (`kvm_pgtable_stage2_init()` after `kvm_host_prepare_stage2()`'s
 * `zalloc_pages_exact` of `kvm_pgd_pages()`).
 *
 * @param version Release.
 * @param options Geometry, pgd, mm_ops, memory, LPA2.
 * @returns The table.
 * @throws {RangeError} A start level outside −1..3 or a misaligned pgd.
 * @example One annotated page, 48-bit IPA from level 0
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PhysicalMemory } from "../../core/mod.ts";
 * import { stage2PgtableInit } from "./stage2.ts";
 * const memory = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * let next = 0x4000_1000;
 * const mmOps = { zallocPage: () => (next += 4096) - 4096, physToVirt: (pa: number) => pa, virtToPhys: (va: number) => va };
 * const s2 = stage2PgtableInit("v6.12", { iaBits: 48, startLevel: 0, pgd: 0x4000_0000, pgdPages: 1, mmOps, memory });
 * assertEquals(s2.annotate(0x4080_0000, 0x2000, 1n << 2n), 0);
 * assertEquals(s2.annotations(), [{ ipa: 0x4080_0000, size: 0x2000, pte: 4n }]);
 * assertEquals(s2.tablePages().length, 4);
 * ```
 */
export function stage2PgtableInit(
  version: KvmPgtableVersion,
  options: KvmStage2InitOptions,
): Stage2Pgtable {
  const { startLevel, pgd, pgdPages } = options;
  if (!Number.isInteger(startLevel) || startLevel < -1 || startLevel > 3) {
    throw new RangeError(`Cannot init a stage-2 table from level ${startLevel}: levels are -1..3`);
  }
  if (!Number.isSafeInteger(pgd) || pgd % (4096 * pgdPages) !== 0) {
    throw new RangeError(
      `Cannot init a stage-2 table at ${hex(pgd)}: ${pgdPages} concatenated pages need ${
        hex(4096 * pgdPages)
      } alignment`,
    );
  }
  return new Stage2Pgtable(version, options);
}
