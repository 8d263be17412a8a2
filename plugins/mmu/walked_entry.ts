/**
 * The TLB entries the MMU fills: a {@link TlbEntry} plus the decoded
 * permissions, the SCTLR_EL2.WXN and MAIR_EL2 attribute in effect at the
 * fill, and what the MMU last verified it against, so a hit costs no
 * descriptor decoding and the stale check re-walks only after memory or the
 * regime changed.
 *
 * @module
 */

import { pteOf, type TlbEntry } from "../../core/mod.ts";
import type { RegimeConfig } from "./regime.ts";
import type { WalkState } from "./table_walk.ts";

/**
 * A TLB entry made from a successful walk. The TLB stores it as given, so
 * the MMU finds its extra fields again on a hit.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PhysicalMemory } from "../../core/mod.ts";
 * import { decodeRegime } from "./regime.ts";
 * import { walkTables, WalkState } from "./table_walk.ts";
 * import { WalkedEntry } from "./walked_entry.ts";
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x100_0000 }]);
 * const cfg = decodeRegime(0x30C50831n, 0x80803522n | (5n << 16n), 0x4000_0000n, 0xffn, 5n);
 * mem.write64(0x4000_0000, 0x4020_0000n | 0x7C1n);
 * const s = new WalkState();
 * walkTables(mem, cfg, 0x1234, s);
 * const e = new WalkedEntry(s, cfg, mem.tableGeneration, false);
 * assertEquals([e.va, e.pa, e.size, e.ro, e.pte], [0, 0x4020_0000, 0x20_0000, true, 0x402007C1n]);
 * assertEquals([e.wxn, e.attrs], [false, 0xff]); // SCTLR_EL2.WXN and MAIR_EL2[AttrIndx] at the fill
 * ```
 */
export class WalkedEntry implements TlbEntry {
  /** Regime. */
  readonly regime: "EL2" = "EL2";
  /** Table base walked from (provenance). */
  readonly base: number;
  /** First VA. */
  readonly va: number;
  /** Block or page size. */
  readonly size: number;
  /** First PA. */
  readonly pa: number;
  /** Leaf level. */
  readonly level: number;
  /** Filled by a speculative walk. */
  readonly speculative: boolean;
  /** Low half of the leaf descriptor. */
  readonly lo: number;
  /** High half of the leaf descriptor. */
  readonly hi: number;
  /** AttrIndx. */
  readonly attrIdx: number;
  /** Permission bits: 1 read-only, 2 execute-never, 4 via APTable, 8 via XNTable. */
  readonly perm: number;
  /**
   * SCTLR_EL2.WXN when the entry was filled. The adversarial policy uses it
   * on a hit instead of the current WXN: the Arm ARM permits WXN to be
   * cached in a TLB entry (SCTLR_EL2.WXN description; recalled, wording
   * UNVERIFIED), so a WXN change takes effect only after a TLBI.
   */
  readonly wxn: boolean;
  /**
   * MAIR_EL2 attribute byte of the entry's AttrIndx when it was filled; the
   * adversarial policy uses it on a hit, as MAIR_EL2 contents may be cached
   * in TLB entries (Arm ARM; recalled, UNVERIFIED).
   */
  readonly attrs: number;
  /** Regime of the last verification (identity). */
  vCfg: RegimeConfig;
  /** Memory table generation of the last verification; -1: verify on every hit. */
  vGen: number;
  /**
   * Descriptors read by the verifying walk, flat: `[pa, lo, hi, pa, lo, hi,
   * ...]`; undefined until the first re-verification (a fill records none, to
   * keep the miss path short).
   */
  vChain: number[] | undefined;
  /** The verifying walk gave another translation (or a fault). */
  stale: boolean;
  #pte: bigint | undefined;

  /**
   * Creates the entry from a walk that found a leaf.
   * @param s The walk.
   * @param cfg The regime it walked (its base is the provenance).
   * @param generation Memory table generation ({@link PhysicalMemory.tableGeneration}) at the walk.
   * @param speculative Filled speculatively.
   * @param base Provenance when the walk did not start from `cfg`'s base
   *   (a walk-cache entry's).
   */
  constructor(
    s: WalkState,
    cfg: RegimeConfig,
    generation: number,
    speculative: boolean,
    base: number = cfg.base,
  ) {
    this.base = base;
    this.va = s.blockVa;
    this.size = s.size;
    this.pa = s.outPa;
    this.level = s.level;
    this.speculative = speculative;
    this.lo = s.lo;
    this.hi = s.hi;
    this.attrIdx = s.attrIdx;
    this.perm = (s.ro ? 1 : 0) | (s.xn ? 2 : 0) | (s.apTable ? 4 : 0) | (s.xnTable ? 8 : 0);
    this.wxn = cfg.wxn;
    this.attrs = cfg.mairAttrs[s.attrIdx]!;
    this.vCfg = cfg;
    this.vGen = generation;
    this.vChain = undefined;
    this.stale = false;
    this.#pte = undefined;
  }

  /** Leaf descriptor (made from its halves on first use). */
  get pte(): bigint {
    return this.#pte ??= pteOf(this.lo, this.hi);
  }

  /** Read-only (AP[2] or APTable[1]). */
  get ro(): boolean {
    return (this.perm & 1) !== 0;
  }

  /** Execute-never (XN or XNTable). */
  get xn(): boolean {
    return (this.perm & 2) !== 0;
  }

  /**
   * Remembers the descriptors a verifying walk read (walked with `record`).
   * @param s The walk.
   */
  recordChain(s: WalkState): void {
    const n = s.n;
    const out = new Array<number>(3 * n);
    for (let i = 0; i < n; i++) {
      out[3 * i] = s.chainPa[i]!;
      out[3 * i + 1] = s.chainLo[i]!;
      out[3 * i + 2] = s.chainHi[i]!;
    }
    this.vChain = out;
  }
}
