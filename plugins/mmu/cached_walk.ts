/**
 * The walk-cache entries the MMU fills (adversarial TLB): a
 * {@link TlbWalkEntry} plus the descriptors that led to it, so a walk that
 * starts from it can be checked against memory cheaply.
 *
 * @module
 */

import type { TlbWalkEntry } from "../../core/mod.ts";
import type { RegimeConfig } from "./regime.ts";
import type { WalkState } from "./table_walk.ts";

/** Region size a table descriptor translates, by its level (0..2). */
const REGION = [2 ** 39, 2 ** 30, 2 ** 21];

/**
 * A walk-cache entry made from a walk: the table descriptor the walk read at
 * `level`, and every descriptor above it on the way from the table base.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PhysicalMemory } from "../../core/mod.ts";
 * import { CachedWalk } from "./cached_walk.ts";
 * import { decodeRegime } from "./regime.ts";
 * import { walkTables, WalkState } from "./table_walk.ts";
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x100_0000 }]);
 * // T0SZ = 34: start at level 2; its entry 0 points at a level-3 table.
 * const cfg = decodeRegime(0x30C50831n, 0x80803522n | (5n << 16n), 0x4000_0000n, 0xffn, 5n);
 * mem.write64(0x4000_0000, 0x4000_1003n);
 * mem.write64(0x4000_1008, 0x4800_0743n);
 * const s = new WalkState();
 * walkTables(mem, cfg, 0x1234, s);
 * const w = new CachedWalk(s, cfg, 0x1234, 2, undefined, mem.tableGeneration);
 * assertEquals([w.level, w.va, w.size, w.table, w.chain], [2, 0, 0x20_0000, 0x4000_1000, [0x4000_0000, 0x4000_1003, 0]]);
 * ```
 */
export class CachedWalk implements TlbWalkEntry {
  /** Regime. */
  readonly regime: "EL2" = "EL2";
  /** Table base walked from (provenance). */
  readonly base: number;
  /** Lookup level of the table descriptor. */
  readonly level: number;
  /** First VA of the region the descriptor translates. */
  readonly va: number;
  /** Region size. */
  readonly size: number;
  /** Next-level table. */
  readonly table: number;
  /** APTable[1] down to and including this descriptor. */
  readonly apTable: boolean;
  /** XNTable down to and including this descriptor. */
  readonly xnTable: boolean;
  /** Start level of the regime it was walked in. */
  readonly startLevel: number;
  /** TCR_EL2.HPD of that regime (it decides what APTable/XNTable gathered). */
  readonly hpd: boolean;
  /** Output-size limit of that regime (table addresses above it fault). */
  readonly psLimit: number;
  /**
   * The descriptors from the table base down to this one, flat:
   * `[pa, lo, hi, ...]`. While they hold and the regime walks from the same
   * base, a walk starting from this entry is exactly a full walk.
   */
  readonly chain: readonly number[];
  /** Regime of the last check that found the chain intact (identity). */
  vCfg: RegimeConfig | undefined;
  /** Memory table generation of that check. */
  vGen: number;

  /**
   * Creates the entry for level `level`'s table descriptor of a walk.
   * @param s The walk (its `t*` fields hold the table descriptors it read).
   * @param cfg The regime it walked.
   * @param va A VA the walk translated.
   * @param level Level of the table descriptor (the walk must have read it).
   * @param above The entry the walk started from, or undefined for a walk
   *   from the table base (its chain is this entry's prefix).
   * @param generation Memory table generation of the walk.
   */
  constructor(
    s: WalkState,
    cfg: RegimeConfig,
    va: number,
    level: number,
    above: CachedWalk | undefined,
    generation: number,
  ) {
    const size = REGION[level]!;
    this.base = above?.base ?? cfg.base;
    this.level = level;
    this.size = size;
    this.va = Math.floor(va / size) * size;
    // WalkState keeps level L's table descriptor at index L + 1.
    this.table = s.tNext[level + 1]!;
    const perm = s.tPerm[level + 1]!;
    this.apTable = (perm & 1) !== 0;
    this.xnTable = (perm & 2) !== 0;
    this.startLevel = cfg.startLevel;
    this.hpd = cfg.hpd;
    this.psLimit = cfg.psLimit;
    const chain = above === undefined ? [] : above.chain.slice();
    for (let l = above === undefined ? cfg.startLevel : above.level + 1; l <= level; l++) {
      chain.push(s.tDesc[l + 1]!, s.tLo[l + 1]!, s.tHi[l + 1]!);
    }
    this.chain = chain;
    this.vCfg = cfg;
    this.vGen = generation;
  }
}
