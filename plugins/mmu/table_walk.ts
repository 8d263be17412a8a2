/**
 * The VMSAv8-64 stage-1 table walk for the 4 KiB granule, in plain numbers:
 * descriptors are read as two 32-bit halves straight from physical memory.
 *
 * @module
 */

import type { PhysicalMemory, TlbWalkEntry } from "../../core/mod.ts";
import type { RegimeConfig } from "./regime.ts";

/** Why a walk stopped without a leaf. */
export const WALK_FAULT = {
  /** A leaf was found. */
  NONE: 0,
  /** T0SZ outside 16..39 (translation, level 0). */
  T0SZ: 1,
  /** VA at or above 2^(64 − T0SZ) (translation, level 0). */
  VA_RANGE: 2,
  /** TTBR0_EL2 base beyond the output size (address size, level 0). */
  BASE_RANGE: 3,
  /** Descriptor bit 0 clear (translation). */
  INVALID: 4,
  /** Block descriptor at level 0, invalid with 4 KiB (translation, level 0). */
  BLOCK_L0: 5,
  /** Level-3 descriptor with bits[1:0] = 0b01, reserved (translation, level 3). */
  RESERVED_L3: 6,
  /** Next-level table or output address beyond the output size (address size). */
  OA_RANGE: 7,
  /** Leaf with AF = 0 (access flag). */
  ACCESS_FLAG: 8,
  /** A descriptor read missed RAM (synchronous external abort on walk). */
  EXTERNAL: 9,
  /** TCR_EL2.EPD0 = 1 under E2H: no walk from TTBR0_EL2 (translation, level 0). */
  EPD0: 10,
} as const;

/** Size of the leaf at each level 0..3 (level 0 has no leaf with 4 KiB, unless DS). */
export const LEVEL_SIZE: readonly number[] = [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12];

/**
 * A walk's outcome, reused between walks (the hot path allocates nothing).
 * Fields past `fault` are meaningful as described on each.
 */
export class WalkState {
  /** A {@link WALK_FAULT} code; NONE when a leaf was found. */
  fault = 0;
  /** Level of the leaf, or of the fault. */
  level = 0;
  /** PA of the last descriptor read (leaf, or the one that faulted). */
  descPa = 0;
  /** Low half of that descriptor. */
  lo = 0;
  /** High half of that descriptor. */
  hi = 0;
  /** Leaf: first VA of the block or page. */
  blockVa = 0;
  /** Leaf: first PA of the block or page. */
  outPa = 0;
  /** Leaf: block or page size. */
  size = 0;
  /** Leaf: read-only (AP[2], or APTable[1] on the way). */
  ro = false;
  /**
   * Leaf: execute-never at EL2 (XN, or XNTable on the way; under E2H PXN,
   * PXNTable, or a location writable at EL0).
   */
  xn = false;
  /** Leaf: read-only because of an APTable bit (for messages). */
  apTable = false;
  /** Leaf: execute-never because of an XNTable (PXNTable) bit (for messages). */
  xnTable = false;
  /**
   * Leaf: its AF is 0 and TCR.HA = 1, so the hardware sets it (the caller
   * of a non-debug walk writes the descriptor back with AF set).
   */
  afUpdate = false;
  /** Leaf: DBM (bit 51) with TCR.HD = 1: a write clears AP[2] (the caller writes it back). */
  dbm = false;
  /** Leaf: AttrIndx. */
  attrIdx = 0;
  /** Descriptors read, in order (when the walk was asked to record them). */
  n = 0;
  /** PAs of the descriptors read. */
  readonly chainPa: Float64Array = new Float64Array(5);
  /** Low halves of the descriptors read. */
  readonly chainLo: Uint32Array = new Uint32Array(5);
  /** High halves of the descriptors read. */
  readonly chainHi: Uint32Array = new Uint32Array(5);
  /**
   * Table descriptors this walk read, by level (−1..2): bit L + 1 set when
   * level L's was read (always recorded; a walk the exact cache below
   * shortened reads none, and one started from a walk-cache entry none
   * above it). The arrays below are indexed by L + 1.
   */
  tMask = 0;
  /** PA of level L's table descriptor, at index L + 1. */
  readonly tDesc: Float64Array = new Float64Array(4);
  /** Low half of level L's table descriptor. */
  readonly tLo: Uint32Array = new Uint32Array(4);
  /** High half of level L's table descriptor. */
  readonly tHi: Uint32Array = new Uint32Array(4);
  /** Next-level table level L's descriptor points at. */
  readonly tNext: Float64Array = new Float64Array(4);
  /** APTable[1] / XNTable gathered down to and including level L (bit 0 / bit 1). */
  readonly tPerm: Uint8Array = new Uint8Array(4);
  // Walk cache (like a hardware page-walk cache, but exact): the level-3
  // table the last walk reached for a 2 MiB-aligned VA, valid while the
  // memory, the regime object and the memory's table generation (bumped by
  // every store to a page a walk read) are the same, so the upper
  // descriptors still read the same.
  /** Memory the cached walk read. */
  wcMem: PhysicalMemory | undefined = undefined;
  /** Regime it walked. */
  wcCfg: RegimeConfig | undefined = undefined;
  /** Memory table generation then. */
  wcGen = -1;
  /** 2 MiB-aligned VA it covers. */
  wcVa = -1;
  /** PA of the level-3 table. */
  wcTable = 0;
  /** APTable[1] / XNTable gathered above level 3. */
  wcApT = 0;
  wcXnT = 0;
  // The words of the level-3 table read last ({@link PhysicalMemory.tableWords}):
  // a walk that reaches that table again reads its descriptor from the
  // view, with no bank check and no page lookup. Valid while the memory's
  // backing generation is the same: the page is then still backed (so in
  // RAM) and still watched (a page stays watched until it loses its
  // backing, or is cleared while pinned, which also bumps the table
  // generation a walk is keyed on, and the view reads it live anyway).
  /** Memory of the view. */
  l3Mem: PhysicalMemory | undefined = undefined;
  /** PA of the table (-1: none). */
  l3Table = -1;
  /** Its words. */
  l3Words: Uint32Array | undefined = undefined;
  /** {@link PhysicalMemory.backingGeneration} when taken. */
  l3Back = -1;
}

const parts = new Uint32Array(2);

/**
 * Walks the tables of `cfg` for `va`, as the hardware walker does
 * (`AArch64.S1Walk` in the Arm ARM pseudocode; QEMU `get_phys_addr_lpae`).
 * Checks, in order: T0SZ range and VA range (translation, level 0),
 * TTBR base size (address size, level 0); then at each level: the
 * descriptor read (external abort on walk), valid bit, level-0 block and
 * level-3 reserved encoding (translation), output or next-table address
 * beyond PS (address size), and at the leaf AF (access flag, unless TCR.HA
 * = 1: then `s.afUpdate` says the hardware sets it). Table descriptors'
 * APTable[1]/XNTable (PXNTable under E2H) apply unless TCR.HPD = 1. Without
 * DS, descriptor bits [51:48] are ignored; with DS the output address has
 * bits 49:12 in place and 51:50 in bits 9:8, and a 52-bit walk starts at
 * level −1. Reads memory only.
 *
 * @param mem Physical memory holding the tables.
 * @param cfg The regime.
 * @param va Virtual address, a non-negative safe integer.
 * A walk may start from a walk-cache entry (`via`): at the level below its
 * table descriptor, in the table it names, with its APTable/XNTable — what
 * hardware does on a walk-cache hit, stale or not. The TTBR base check is
 * then skipped (the base is not used) and the exact internal cache is
 * neither used nor filled.
 *
 * @param s Receives the outcome.
 * @param record Also record the descriptors read in `s.chain*` (for re-verification).
 * @param via Walk-cache entry to start below.
 * @returns True when a leaf was found (`s.fault === WALK_FAULT.NONE`).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PhysicalMemory } from "../../core/mod.ts";
 * import { decodeRegime } from "./regime.ts";
 * import { walkTables, WalkState } from "./table_walk.ts";
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x100_0000 }]);
 * // T0SZ = 34: 30-bit VAs, start at level 2; one 2 MiB block at VA 0.
 * const cfg = decodeRegime(0x30C50831n, 0x80803522n | (5n << 16n), 0x4000_0000n, 0xffn, 5n);
 * mem.write64(0x4000_0000, 0x4020_0000n | 0x701n);
 * const s = new WalkState();
 * assertEquals(walkTables(mem, cfg, 0x1234, s), true);
 * assertEquals([s.level, s.outPa + (0x1234 - s.blockVa)], [2, 0x4020_1234]);
 * ```
 */
export function walkTables(
  mem: PhysicalMemory,
  cfg: RegimeConfig,
  va: number,
  s: WalkState,
  record = false,
  via?: TlbWalkEntry,
): boolean {
  s.n = 0;
  s.tMask = 0;
  if (cfg.t0szFault) return stop(s, WALK_FAULT.T0SZ, 0, 0, 0, 0);
  if (cfg.epd0) return stop(s, WALK_FAULT.EPD0, 0, 0, 0, 0);
  if (va >= cfg.iaLimit) return stop(s, WALK_FAULT.VA_RANGE, 0, 0, 0, 0);
  if (via === undefined && cfg.baseOutOfRange) return stop(s, WALK_FAULT.BASE_RANGE, 0, 0, 0, 0);
  // Literal powers of two below: V8 does not fold module constants, and a
  // division or remainder by a non-constant double is a real divide (or a
  // floating-point remainder call) on the hot path.
  const vaHi = Math.floor(va / 4294967296);
  const vaLo = va >>> 0;
  let level = cfg.startLevel;
  let table = cfg.base;
  let apT = 0;
  let xnT = 0;
  const va2m = va - (vaLo & 0x1fffff);
  const gen = mem.tableGeneration;
  if (via !== undefined) {
    level = via.level + 1;
    table = via.table;
    apT = via.apTable ? 1 : 0;
    xnT = via.xnTable ? 1 : 0;
  } else if (
    !record && s.wcVa === va2m && s.wcGen === gen && s.wcCfg === cfg && s.wcMem === mem
  ) {
    // Same tables, same bytes: the walk reaches the same level-3 table.
    level = 3;
    table = s.wcTable;
    apT = s.wcApT;
    xnT = s.wcXnT;
  }
  for (;;) {
    let idx: number;
    if (level === 3) idx = (vaLo >>> 12) & 511;
    else if (level === 2) idx = (vaLo >>> 21) & 511;
    else if (level === 1) idx = ((vaHi & 127) << 2) | (vaLo >>> 30);
    else if (level === 0) idx = (vaHi >>> 7) & 511;
    else idx = (vaHi >>> 16) & 15; // level −1: VA bits 51:48
    const dpa = table + idx * 8;
    let lo: number;
    let hi: number;
    const w = s.l3Words;
    if (
      level === 3 && table === s.l3Table && w !== undefined && s.l3Mem === mem &&
      s.l3Back === mem.backingGeneration
    ) {
      // The level-3 table read last, still backed and watched: its words.
      lo = w[idx * 2]!;
      hi = w[idx * 2 + 1]!;
    } else {
      // A try/catch around the read costs more than this bank check in V8.
      if (!mem.contains(dpa, 8)) return stop(s, WALK_FAULT.EXTERNAL, level, dpa, 0, 0);
      mem.readTableEntry(dpa, parts);
      lo = parts[0]!;
      hi = parts[1]!;
      if (level === 3) {
        // Now watched (if backed): keep the view for the next walk here.
        const v = mem.tableWords(dpa);
        s.l3Mem = mem;
        s.l3Table = v === undefined ? -1 : table;
        s.l3Words = v;
        s.l3Back = mem.backingGeneration;
      }
    }
    if (record) {
      const n = s.n;
      s.chainPa[n] = dpa;
      s.chainLo[n] = lo;
      s.chainHi[n] = hi;
      s.n = n + 1;
    }
    if ((lo & 1) === 0) return stop(s, WALK_FAULT.INVALID, level, dpa, lo, hi);
    const isTable = (lo & 2) !== 0;
    // A block at level 0 is allowed with DS (4 KiB granule); never at −1.
    if (!isTable && (level === -1 || (level === 0 && !cfg.ds))) {
      return stop(s, WALK_FAULT.BLOCK_L0, level, dpa, lo, hi);
    }
    if (!isTable && level === 3) return stop(s, WALK_FAULT.RESERVED_L3, level, dpa, lo, hi);
    // Output (or next-level table) address: descriptor bits [47:12]; with
    // DS bits [49:12] and [51:50] from bits [9:8].
    const oa = cfg.ds
      ? (hi & 0x3ffff) * 4294967296 + ((lo & 0xfffff000) >>> 0) +
        ((lo >>> 8) & 3) * 1125899906842624
      : (hi & 0xffff) * 4294967296 + ((lo & 0xfffff000) >>> 0);
    if (oa >= cfg.psLimit) return stop(s, WALK_FAULT.OA_RANGE, level, dpa, lo, hi);
    if (isTable && level < 3) {
      if (!cfg.hpd) {
        apT |= (hi >>> 30) & 1; // APTable[1], bit 62
        xnT |= (hi >>> cfg.xnTableHiBit) & 1; // XNTable, bit 60 (PXNTable, 59, under E2H)
      }
      const t = level + 1;
      s.tMask |= 1 << t;
      s.tDesc[t] = dpa;
      s.tLo[t] = lo;
      s.tHi[t] = hi;
      s.tNext[t] = oa;
      s.tPerm[t] = apT | (xnT << 1);
      table = oa;
      level++;
      if (level === 3 && via === undefined) {
        s.wcMem = mem;
        s.wcCfg = cfg;
        s.wcGen = gen;
        s.wcVa = va2m;
        s.wcTable = oa;
        s.wcApT = apT;
        s.wcXnT = xnT;
      }
      continue;
    }
    if (level === 0) {
      // A 512 GiB block (DS only): its offset reaches into the high half.
      s.size = 549755813888;
      s.outPa = oa - (oa % 549755813888);
      s.blockVa = va - (va % 549755813888);
    } else {
      // A leaf at level 1, 2 or 3: its size is 2^30, 2^21 or 2^12.
      const size = level === 3 ? 4096 : level === 2 ? 2097152 : 1073741824;
      s.size = size;
      // oa is 4 KiB-aligned: drop its bits [size-1:12] (all in lo).
      s.outPa = level === 3 ? oa : oa - (lo & (size - 1) & 0xfffff000);
      s.blockVa = va - (vaLo & (size - 1)); // size divides 2^32, so vaLo's low bits are va's
    }
    s.afUpdate = false;
    if ((lo & 0x400) === 0) {
      if (!cfg.ha) return stop(s, WALK_FAULT.ACCESS_FLAG, level, dpa, lo, hi);
      s.afUpdate = true;
    }
    s.apTable = apT === 1;
    s.xnTable = xnT === 1;
    s.ro = ((lo >>> 7) & 1) === 1 || s.apTable;
    s.dbm = cfg.hd && ((hi >>> 19) & 1) === 1;
    // Under E2H, PXN (bit 53) governs EL2, and a location writable at EL0
    // (AP[2:1] = 0b01) is never executable at EL2.
    s.xn = ((hi >>> cfg.xnHiBit) & 1) === 1 || s.xnTable ||
      (cfg.e2h && ((lo >>> 6) & 3) === 1);
    s.attrIdx = (lo >>> 2) & 7;
    s.fault = WALK_FAULT.NONE;
    s.level = level;
    s.descPa = dpa;
    s.lo = lo;
    s.hi = hi;
    return true;
  }
}

function stop(
  s: WalkState,
  fault: number,
  level: number,
  dpa: number,
  lo: number,
  hi: number,
): false {
  s.fault = fault;
  s.level = level;
  s.descPa = dpa;
  s.lo = lo;
  s.hi = hi;
  return false;
}

/**
 * Whether the descriptors a walk read still hold the same values (then the
 * same regime walks to the same outcome).
 *
 * @param mem Physical memory.
 * @param chain Descriptors recorded, flat: `[pa, lo, hi, ...]`.
 * @returns True when every one is unchanged.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PhysicalMemory } from "../../core/mod.ts";
 * import { chainUnchanged } from "./table_walk.ts";
 * const mem = new PhysicalMemory([{ base: 0, size: 4096 }]);
 * mem.write64(8, 3n);
 * assertEquals(chainUnchanged(mem, [8, 3, 0]), true);
 * assertEquals(chainUnchanged(mem, [8, 1, 0]), false);
 * ```
 */
export function chainUnchanged(mem: PhysicalMemory, chain: readonly number[]): boolean {
  for (let i = 0; i < chain.length; i += 3) {
    mem.read64Parts(chain[i]!, parts);
    if (parts[0] !== chain[i + 1] || parts[1] !== chain[i + 2]) return false;
  }
  return true;
}
