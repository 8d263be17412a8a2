/**
 * One CPU's EL2 TLB entries: a hash map per leaf size keyed by VA / size, so
 * a lookup is one probe for the common page case, and one per level for the
 * walk cache (table descriptors).
 *
 * @module
 */

import type { TlbEntry, TlbWalkEntry } from "../../core/mod.ts";
import { VpnMap } from "./vpn_map.ts";

const PAGE = 4096;
const BLOCK_2M = 2 ** 21;
const BLOCK_1G = 2 ** 30;

/** The leaf sizes a 4 KiB-granule TLB entry can have. */
export const TLB_ENTRY_SIZES: readonly number[] = [PAGE, BLOCK_2M, BLOCK_1G];

/** The VA region a table descriptor translates, by its lookup level (0..2). */
export const WALK_ENTRY_SIZES: readonly number[] = [2 ** 39, BLOCK_1G, BLOCK_2M];

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
  /** Level-3 entries keyed by VA / 4 KiB. */
  readonly pages: VpnMap<TlbEntry> = new VpnMap();
  /** Level-2 entries keyed by VA / 2 MiB. */
  readonly blocks2: VpnMap<TlbEntry> = new VpnMap(16);
  /** Level-1 entries keyed by VA / 1 GiB. */
  readonly blocks1: VpnMap<TlbEntry> = new VpnMap(16);
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
  /** The most recent fills, oldest first; `fillLog[0]` is fill number `fillCount - fillLog.length`. */
  fillLog: TlbEntry[] = [];

  /** Records a fill in the bounded log. */
  logFill(entry: TlbEntry): void {
    this.fillCount++;
    // Bounded: for a TLBI pending across more fills than this, the A64
    // executor cannot tell the survivors and removes every matching entry.
    if (this.fillLog.length >= 1024) this.fillLog.splice(0, 512);
    this.fillLog.push(entry);
  }

  /** Number of entries. */
  get size(): number {
    return this.pages.size + this.blocks2.size + this.blocks1.size;
  }

  /**
   * The entry translating `va`, page first.
   * @param va Virtual address.
   * @returns The entry or undefined.
   */
  find(va: number): TlbEntry | undefined {
    // Literal sizes: V8 does not fold module constants, and dividing by a
    // literal power of two is a multiply, not a divide.
    if (this.pages.size !== 0) {
      const p = this.pages.get(Math.floor(va / 4096));
      if (p !== undefined) return p;
    }
    if (this.blocks2.size !== 0) {
      const b = this.blocks2.get(Math.floor(va / 2097152));
      if (b !== undefined) return b;
    }
    if (this.blocks1.size !== 0) return this.blocks1.get(Math.floor(va / 1073741824));
    return undefined;
  }

  /**
   * Stores an entry, replacing one of the same size at the same VA.
   * @param e The entry (size already validated).
   */
  put(e: TlbEntry): void {
    if (e.size === 4096) this.pages.set(e.va / 4096, e);
    else if (e.size === 2097152) this.blocks2.set(e.va / 2097152, e);
    else this.blocks1.set(e.va / 1073741824, e);
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
    let n = 0;
    if (
      (level === 0 || level === 3) && this.pages.size !== 0 &&
      this.pages.delete(Math.floor(va / 4096))
    ) n++;
    if (
      (level === 0 || level === 2) && this.blocks2.size !== 0 &&
      this.blocks2.delete(Math.floor(va / 2097152))
    ) n++;
    if (
      (level === 0 || level === 1) && this.blocks1.size !== 0 &&
      this.blocks1.delete(Math.floor(va / 1073741824))
    ) n++;
    return n;
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
    const n = this.size;
    this.pages.clear();
    this.blocks2.clear();
    this.blocks1.clear();
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
    return [...this.pages.values(), ...this.blocks2.values(), ...this.blocks1.values()]
      .sort((a, b) => a.va - b.va || a.size - b.size);
  }

  /** Returns: Every walk-cache entry, sorted by VA then level. */
  listWalks(): TlbWalkEntry[] {
    return this.walks.flatMap((m) => m.values()).sort((a, b) => a.va - b.va || a.level - b.level);
  }
}
