/**
 * One CPU's EL2 TLB entries: the leaf entries in a {@link LeafStore} (typed
 * arrays, one index for the three leaf sizes), the walk cache (table
 * descriptors) in a hash map per level, and a ring of the last fills.
 *
 * @module
 */

import { LEAF, sizeClass, type TlbEntry, type TlbWalkEntry } from "../../core/mod.ts";
import { LeafStore } from "./leaf_store.ts";
import { StoredEntry } from "./stored_entry.ts";
import { VpnMap } from "./vpn_map.ts";

const PAGE = 4096;
const BLOCK_2M = 2 ** 21;
const BLOCK_1G = 2 ** 30;

/** The leaf sizes a 4 KiB-granule TLB entry can have. */
export const TLB_ENTRY_SIZES: readonly number[] = [PAGE, BLOCK_2M, BLOCK_1G];

/** The VA region a table descriptor translates, by its lookup level (0..2). */
export const WALK_ENTRY_SIZES: readonly number[] = [2 ** 39, BLOCK_1G, BLOCK_2M];

/** Fills the log remembers (see {@link CpuTlb.fillsSince}). */
const LOG = 1024;

/**
 * One CPU's entries. Only EL2 entries exist (no ASID, no VMID), so a VA
 * selects at most one entry per size; a page wins over a 2 MiB block, which
 * wins over a 1 GiB block (overlaps come from stale entries or speculation).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CpuTlb } from "./cpu_tlb.ts";
 * const t = new CpuTlb();
 * const e = { regime: "EL2", base: 0x4000_0000, va: 0x20_0000, size: 0x20_0000, pa: 0x4020_0000,
 *   level: 2, pte: 0x40000040200741n, speculative: false } as const;
 * t.put(e);
 * assertEquals(t.find(0x21_2345), e);
 * assertEquals(t.removeVa(0x3f_ffff), 1);
 * assertEquals(t.find(0x21_2345), undefined);
 * ```
 */
export class CpuTlb {
  /** The leaf entries (pages, 2 MiB and 1 GiB blocks). */
  readonly leaves: LeafStore = new LeafStore();
  /**
   * Walk-cache entries by the level of their table descriptor (0, 1, 2),
   * each keyed by VA / region size.
   */
  readonly walks: readonly [VpnMap<TlbWalkEntry>, VpnMap<TlbWalkEntry>, VpnMap<TlbWalkEntry>] = [
    new VpnMap(16),
    new VpnMap(16),
    new VpnMap(16),
  ];
  /** Last SCTLR_EL2 value reported (the optimistic policy flushes on a change). */
  lastSctlr: bigint = 0n;
  /** Fills so far (the {@link TlbModel.fillMark} of this CPU). */
  fillCount = 0;
  // The last LOG fills, a ring indexed by fill number % LOG: what each
  // filled (to hand out an entry a TLBI has removed since), its id and
  // serial (to hand out the live entry's own object while it lives).
  #logVa = new Float64Array(LOG);
  #logPa = new Float64Array(LOG);
  #logBase = new Float64Array(LOG);
  #logGen = new Float64Array(LOG);
  #logLo = new Uint32Array(LOG);
  #logHi = new Uint32Array(LOG);
  #logMeta = new Uint32Array(LOG);
  #logTag = new Uint32Array(LOG);
  #logId = new Int32Array(LOG);
  #logSerial = new Uint32Array(LOG);
  #logChain: (number[] | undefined)[] = new Array<number[] | undefined>(LOG).fill(undefined);
  #logObj: (TlbEntry | undefined)[] = new Array<TlbEntry | undefined>(LOG).fill(undefined);

  // The log holds fills #logFrom .. fillCount - 1 (the last LOG of them)
  // while fillCount - #lastMark <= LOG; #logTo is one past the last logged.
  #lastMark = 0;
  #logFrom = 0;
  #logTo = 0;

  /**
   * A mark of the fills so far (see {@link TlbModel.fillMark}): the log
   * keeps the next LOG fills at least.
   * @returns The fill count.
   */
  mark(): number {
    const n = this.fillCount;
    // The log stopped after LOG fills past the last mark: it restarts here.
    if (this.#logTo !== n) this.#logFrom = this.#logTo = n;
    this.#lastMark = n;
    return n;
  }

  /** Number of leaf entries. */
  get size(): number {
    return this.leaves.size;
  }

  /**
   * The entry translating `va`, page first.
   * @param va Virtual address.
   * @returns The entry or undefined.
   */
  find(va: number): TlbEntry | undefined {
    const id = this.leaves.find(va);
    return id < 0 ? undefined : this.leaves.entryAt(id);
  }

  /**
   * Stores an entry object (kept as the entry's object), replacing one of
   * the same size at the same VA, and logs the fill. An entry this TLB
   * handed out keeps the filler's words it carries.
   * @param e The entry (size already validated).
   * @returns The id.
   */
  put(e: TlbEntry): number {
    const cls = sizeClass(e.size);
    let meta: number;
    let id: number;
    const l = this.leaves;
    if (e instanceof StoredEntry) {
      meta = e.meta;
      id = l.put(e.va, cls, e.pa, e.base, e.lo, e.hi, meta);
      const lc = l.chunk(id);
      const lj = id & 16383;
      lc.f[lj * 6 + 2] = e.gen;
      lc.u[lj * 12 + 10] = e.tag;
      // A fresh id has no chain: only one to carry is written (the array
      // is sparse).
      if (e.chain !== undefined) lc.chain[lj] = e.chain.slice();
    } else {
      // A plain entry: the descriptor only (the level is kept for the
      // object's sake; the MMU decodes a plain entry from its pte).
      const pte = e.pte;
      meta = ((e.level & 3) << LEAF.LEVEL_SHIFT) | (e.speculative ? LEAF.SPECULATIVE : 0);
      id = l.put(
        e.va,
        cls,
        e.pa,
        e.base,
        Number(BigInt.asUintN(32, pte)),
        Number(BigInt.asUintN(32, pte >> 32n)),
        meta,
      );
    }
    l.setEntry(id, e);
    this.logFill(id, e);
    return id;
  }

  /**
   * Records fill `id` in the log and gives it its serial.
   * @param id The id the fill got.
   * @param obj The object given to `fill`, if any.
   */
  logFill(id: number, obj?: TlbEntry): void {
    const n = this.fillCount++;
    const l = this.leaves;
    const serial = (n + 1) >>> 0 || 1;
    const lc = l.chunk(id);
    const lj = id & 16383;
    lc.u[lj * 12 + 11] = serial;
    // Logged only within LOG fills of the last mark (or of the start): a
    // mark older than that is past the log anyway, and the fills of a long
    // run with no TLBI pending cost no copy.
    if (n - this.#lastMark >= LOG) return;
    if (n === this.#logTo) this.#logTo = n + 1;
    const r = n % LOG;
    const k = lc.f[lj * 6 + 0]!;
    const cls = k % 4;
    const va = ((k - cls) / 4) * TLB_ENTRY_SIZES[cls]!;
    this.#logVa[r] = va;
    this.#logPa[r] = va + lc.f[lj * 6 + 1]!;
    this.#logBase[r] = l.bases[lc.u[lj * 12 + 6]!]!;
    this.#logLo[r] = lc.u[lj * 12 + 7]!;
    this.#logHi[r] = lc.u[lj * 12 + 8]!;
    this.#logMeta[r] = lc.u[lj * 12 + 9]!;
    this.#logGen[r] = lc.f[lj * 6 + 2]!;
    this.#logTag[r] = lc.u[lj * 12 + 10]!;
    this.#logChain[r] = lc.chain[lj]?.slice();
    this.#logId[r] = id;
    this.#logSerial[r] = serial;
    this.#logObj[r] = obj;
  }

  /**
   * The entries filled after `mark`, oldest first (an entry still in the TLB
   * as its own object), or undefined when the log no longer reaches back
   * that far.
   * @param mark A fill count.
   * @returns The entries, or undefined.
   */
  fillsSince(mark: number): TlbEntry[] | undefined {
    if (mark === this.fillCount) return [];
    // Every fill from the mark on must be in the log.
    const first = Math.max(this.#logFrom, this.fillCount - LOG);
    if (mark < first || mark > this.fillCount || this.#logTo !== this.fillCount) return undefined;
    const out: TlbEntry[] = [];
    const l = this.leaves;
    for (let n = mark; n < this.fillCount; n++) {
      const r = n % LOG;
      const id = this.#logId[r]!;
      if (l.live(id) && l.chunk(id).u[(id & 16383) * 12 + 11] === this.#logSerial[r]) {
        // Kept in the log too: after a TLBI removes the entry, the log
        // hands out the same object.
        const o = this.#logObj[r] = l.entryAt(id);
        out.push(o);
        continue;
      }
      let o = this.#logObj[r];
      if (o === undefined) {
        const meta = this.#logMeta[r]!;
        o = this.#logObj[r] = new StoredEntry(
          this.#logVa[r]!,
          meta & LEAF.CLS_MASK,
          this.#logPa[r]!,
          this.#logBase[r]!,
          this.#logLo[r]!,
          this.#logHi[r]!,
          meta,
          this.#logGen[r]!,
          this.#logTag[r]!,
          this.#logChain[r],
        );
      }
      out.push(o);
    }
    return out;
  }

  /**
   * Removes the leaf entries translating `va` (TLBI VAE2 and VALE2 alike;
   * the walk cache is {@link CpuTlb.removeWalkVa}'s): every level, or only
   * `level`'s for a TLBI that carries that level hint.
   * @param va Any address in the page.
   * @param level 1, 2 or 3: only that level's entry; 0: every level.
   * @returns Entries removed.
   */
  removeVa(va: number, level = 0): number {
    return this.leaves.remove(va, level);
  }

  /**
   * Stores a walk-cache entry, replacing one of the same level at the same VA.
   * @param e The entry (level and alignment already validated).
   */
  putWalk(e: TlbWalkEntry): void {
    this.walks[e.level as 0 | 1 | 2].set(e.va / e.size, e);
  }

  /**
   * The deepest walk-cache entry covering `va`.
   * @param va Virtual address.
   * @returns The entry or undefined.
   */
  findWalk(va: number): TlbWalkEntry | undefined {
    // Indexing, not destructuring: array destructuring runs the iterator
    // protocol, which costs on the miss path.
    const w = this.walks;
    const w2 = w[2];
    const w1 = w[1];
    const w0 = w[0];
    if (w2.size !== 0) {
      const e = w2.get(Math.floor(va / 2097152));
      if (e !== undefined) return e;
    }
    if (w1.size !== 0) {
      const e = w1.get(Math.floor(va / 1073741824));
      if (e !== undefined) return e;
    }
    if (w0.size !== 0) return w0.get(Math.floor(va / 549755813888));
    return undefined;
  }

  /**
   * Removes the walk-cache entries covering `va` whose level is below `below`.
   * @param va Virtual address.
   * @param below 3 for every level; a TLBI hinted with level L passes L.
   * @returns Walk-cache entries removed.
   */
  removeWalkVa(va: number, below = 3): number {
    let n = 0;
    for (let level = 0; level < below && level < 3; level++) {
      const m = this.walks[level as 0 | 1 | 2];
      if (m.size !== 0 && m.delete(Math.floor(va / WALK_ENTRY_SIZES[level]!))) n++;
    }
    return n;
  }

  /**
   * Removes every entry, walk-cache entries included.
   * @returns Leaf entries removed.
   */
  clear(): number {
    const n = this.leaves.clear();
    for (const m of this.walks) m.clear();
    return n;
  }

  /**
   * Removes every walk-cache entry, leaving the leaf entries.
   * @returns Walk-cache entries removed.
   */
  clearWalks(): number {
    let n = 0;
    for (const m of this.walks) {
      n += m.size;
      m.clear();
    }
    return n;
  }

  /** Returns: Every entry, sorted by VA then size. */
  list(): TlbEntry[] {
    const l = this.leaves;
    return l.ids().map((id) => l.entryAt(id)).sort((a, b) => a.va - b.va || a.size - b.size);
  }

  /** Returns: Every walk-cache entry, sorted by VA then level. */
  listWalks(): TlbWalkEntry[] {
    return this.walks.flatMap((m) => m.values()).sort((a, b) => a.va - b.va || a.level - b.level);
  }
}
