/**
 * Walks a real EL2 stage-1 table tree (4 KiB granule) through a physical
 * memory reader, from TTBR0_EL2 and TCR_EL2 as the CPU holds them, and
 * returns its leaves merged into maximal runs plus the number of table
 * pages reachable from the root.
 *
 * The descriptor formats are the Arm ARM's (D8.3, "Translation table
 * descriptor formats"): bits 1:0 are 0b11 for a table (levels −1..2) or a
 * page (level 3), 0b01 for a block (levels 1 and 2, and level 0 under
 * FEAT_LPA2), bit 0 clear for invalid. Under FEAT_LPA2 (TCR_EL2.DS = 1) the
 * output address has bits 49:12 in place and bits 51:50 in descriptor bits
 * 9:8, and TTBR0_EL2 holds BADDR[51:48] in bits 5:2.
 *
 * @module
 */

import { hex } from "../../core/mod.ts";
import { OracleError } from "./errors.ts";

/** Reads `length` bytes of guest physical memory at `pa`. */
export type PhysReader = (pa: bigint, length: number) => Promise<Uint8Array> | Uint8Array;

/** The registers a walk needs, as read from the CPU. */
export interface El2WalkRegs {
  /** TTBR0_EL2. */
  ttbr0: bigint;
  /** TCR_EL2. */
  tcr: bigint;
  /** HCR_EL2: E2H (bit 34) selects TCR_EL2's layout. */
  hcr: bigint;
}

/** A physical range the walker accepts table pages in (half-open). */
export interface PhysRange {
  /** First byte. */
  base: bigint;
  /** Length in bytes. */
  size: bigint;
}

/** One merged run of leaves. */
export interface El2Mapping {
  /** First VA. */
  va: bigint;
  /** First PA. */
  pa: bigint;
  /** Bytes. */
  size: bigint;
  /** The leaf descriptor with its output-address bits cleared. */
  attr: bigint;
}

/** What the walk found. */
export interface El2WalkResult {
  /** 64 − T0SZ. */
  vaBits: number;
  /** Level of the root table (−1..3). */
  startLevel: number;
  /** Whether TCR_EL2.DS (FEAT_LPA2 descriptors) was set. */
  lpa2: boolean;
  /** Table pages reachable from TTBR0_EL2, the root included. */
  tablePages: number;
  /** Valid leaves seen before merging. */
  leaves: number;
  /** Leaves merged into maximal runs (contiguous VA and PA, equal attr), sorted by VA. */
  mappings: El2Mapping[];
}

/** Limits of a walk. */
export interface El2WalkOptions {
  /** Where table pages may live (RAM); a table elsewhere is an error. */
  ram: readonly PhysRange[];
  /** Most table pages to visit before giving up (default 65536). */
  maxTablePages?: number;
}

const bit = (v: bigint, n: number): bigint => (v >> BigInt(n)) & 1n;
const field = (v: bigint, lo: number, width: number): number =>
  Number((v >> BigInt(lo)) & ((1n << BigInt(width)) - 1n));
const mask = (hi: number, lo: number): bigint => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);

/** The TCR_EL2 fields a stage-1 walk of TTBR0_EL2 needs. */
export interface El2TcrFields {
  /** TCR_EL2.T0SZ. */
  t0sz: number;
  /** TCR_EL2.TG0 (0 = 4 KiB). */
  tg0: number;
  /** TCR_EL2.DS (FEAT_LPA2 descriptors). */
  ds: boolean;
  /** Whether the register was read in the E2H = 1 (TCR_EL1-like) layout. */
  e2h: boolean;
}

/**
 * Decodes TCR_EL2 for a TTBR0_EL2 walk. With HCR_EL2.E2H = 0 TCR_EL2 has
 * the EL2 layout (DS is bit 32); with E2H = 1 it has TCR_EL1's layout (DS is
 * bit 59). T0SZ and TG0 sit at bits 5:0 and 15:14 in both.
 *
 * @param tcr TCR_EL2.
 * @param hcr HCR_EL2.
 * @returns The fields.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { el2TcrFields } from "./el2_walk.ts";
 * assertEquals(el2TcrFields(0x80843510n, 0x80080001n), { t0sz: 16, tg0: 0, ds: false, e2h: false });
 * ```
 */
export function el2TcrFields(tcr: bigint, hcr: bigint): El2TcrFields {
  const e2h = bit(hcr, 34) === 1n;
  return {
    t0sz: field(tcr, 0, 6),
    tg0: field(tcr, 14, 2),
    ds: bit(tcr, e2h ? 59 : 32) === 1n,
    e2h,
  };
}

/**
 * The root level of a 4 KiB-granule walk of `vaBits` bits: each level
 * resolves 9 bits above the 12-bit page offset, so 48 bits start at level 0,
 * 39 at level 1 and 52 (FEAT_LPA2) at level −1.
 *
 * @param vaBits 64 − T0SZ.
 * @returns −1..3.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { startLevel4k } from "./el2_walk.ts";
 * assertEquals([startLevel4k(48), startLevel4k(39), startLevel4k(52), startLevel4k(40)], [0, 1, -1, 0]);
 * ```
 */
export function startLevel4k(vaBits: number): number {
  return 4 - Math.ceil((vaBits - 12) / 9);
}

/** The lowest VA bit a level resolves: 12 at level 3, 21 at 2, 30 at 1, 39 at 0, 48 at −1. */
function levelShift(level: number): number {
  return 12 + 9 * (3 - level);
}

/** Output-address bits of a descriptor whose address is aligned to 2^lo. */
function oaMask(lo: number, lpa2: boolean): bigint {
  return lpa2 ? mask(49, lo) | mask(9, 8) : mask(47, lo);
}

function outputAddress(desc: bigint, lo: number, lpa2: boolean): bigint {
  const a = desc & (lpa2 ? mask(49, lo) : mask(47, lo));
  return lpa2 ? a | (((desc >> 8n) & 3n) << 50n) : a;
}

function readU64(bytes: Uint8Array, off: number): bigint {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return dv.getBigUint64(off, true);
}

interface Leaf {
  va: bigint;
  pa: bigint;
  size: bigint;
  attr: bigint;
}

/**
 * Merges leaves into maximal runs: a leaf extends the previous run when its
 * VA and PA both continue it and its attr is equal.
 *
 * @param leaves Leaves in any order.
 * @returns Runs sorted by VA.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mergeLeaves } from "./el2_walk.ts";
 * const m = mergeLeaves([
 *   { va: 0x1000n, pa: 0x41000n, size: 0x1000n, attr: 3n },
 *   { va: 0x0n, pa: 0x40000n, size: 0x1000n, attr: 3n },
 *   { va: 0x2000n, pa: 0x50000n, size: 0x1000n, attr: 3n },
 * ]);
 * assertEquals(m.map((x) => [x.va, x.size]), [[0n, 0x2000n], [0x2000n, 0x1000n]]);
 * ```
 */
export function mergeLeaves(leaves: readonly El2Mapping[]): El2Mapping[] {
  const sorted = [...leaves].sort((a, b) => (a.va < b.va ? -1 : a.va > b.va ? 1 : 0));
  const out: El2Mapping[] = [];
  for (const l of sorted) {
    const last = out[out.length - 1];
    if (
      last && last.va + last.size === l.va && last.pa + last.size === l.pa && last.attr === l.attr
    ) {
      last.size += l.size;
    } else out.push({ ...l });
  }
  return out;
}

/**
 * Walks the EL2 stage-1 tables from TTBR0_EL2.
 *
 * Reads each table with one reader call (a whole 4 KiB page, or the root's
 * entries when the root table is smaller). VAs are in TTBR0's range
 * [0, 2^vaBits).
 *
 * @param regs TTBR0_EL2, TCR_EL2, HCR_EL2.
 * @param read Physical memory reader.
 * @param opts Where tables may live, and the work bound.
 * @returns The merged mappings and counts.
 * @throws {OracleError} On a granule other than 4 KiB, a bad T0SZ, a
 *   misaligned root, a table outside RAM, a table reached twice (a loop), a
 *   reserved descriptor (0b01 at level 3 or −1, or at level 0 without
 *   FEAT_LPA2), RES0 address bits set, or more tables than the bound.
 * @example One 2 MiB block at level 2, 39-bit VAs (root at level 1)
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { walkEl2Stage1 } from "./el2_walk.ts";
 * const mem = new Map<bigint, bigint>([
 *   [0x4000_0000n, 0x4000_1003n],            // L1[0] -> L2 table
 *   [0x4000_1008n, 0x4020_0000n | 0x701n],   // L2[1]: VA 0x200000 -> PA 0x40200000
 * ]);
 * const read = (pa: bigint, len: number) => {
 *   const out = new Uint8Array(len);
 *   const dv = new DataView(out.buffer);
 *   for (let o = 0; o < len; o += 8) dv.setBigUint64(o, mem.get(pa + BigInt(o)) ?? 0n, true);
 *   return out;
 * };
 * const r = await walkEl2Stage1({ ttbr0: 0x4000_0000n, tcr: 25n, hcr: 0n }, read, {
 *   ram: [{ base: 0x4000_0000n, size: 0x4000_0000n }],
 * });
 * assertEquals([r.vaBits, r.startLevel, r.tablePages], [39, 1, 2]);
 * assertEquals(r.mappings, [{ va: 0x200000n, pa: 0x40200000n, size: 0x200000n, attr: 0x701n }]);
 * ```
 */
export async function walkEl2Stage1(
  regs: El2WalkRegs,
  read: PhysReader,
  opts: El2WalkOptions,
): Promise<El2WalkResult> {
  const tcr = el2TcrFields(regs.tcr, regs.hcr);
  const reg = tcr.e2h ? "TCR_EL2 (E2H=1 layout)" : "TCR_EL2";
  if (tcr.tg0 !== 0) {
    throw new OracleError(
      `${reg}.TG0 = ${tcr.tg0}: only the 4 KiB granule (TG0 = 0) can be walked`,
    );
  }
  const lpa2 = tcr.ds;
  const minT0sz = lpa2 ? 12 : 16;
  if (tcr.t0sz < minT0sz || tcr.t0sz > 48) {
    throw new OracleError(
      `${reg}.T0SZ = ${tcr.t0sz}: outside ${minT0sz}..48 for the 4 KiB granule${
        lpa2 ? " with FEAT_LPA2" : ""
      }`,
    );
  }
  const vaBits = 64 - tcr.t0sz;
  const start = startLevel4k(vaBits);
  const rootEntries = 1 << (vaBits - levelShift(start));
  const rootBytes = rootEntries * 8;
  // TTBR0_EL2: bit 0 is CnP; ASID (E2H = 1) sits in bits 63:48; under LPA2
  // bits 5:2 hold BADDR[51:48].
  let root = regs.ttbr0 & mask(47, 1);
  if (lpa2) root = (regs.ttbr0 & mask(47, 6)) | (((regs.ttbr0 >> 2n) & 0xfn) << 48n);
  const align = BigInt(Math.max(rootBytes, lpa2 ? 64 : 8));
  if (root % align !== 0n) {
    throw new OracleError(
      `TTBR0_EL2 = ${hex(regs.ttbr0)}: root table ${hex(root)} is not aligned to its ${
        hex(align)
      } bytes`,
    );
  }
  const maxPages = opts.maxTablePages ?? 65536;
  const inRam = (pa: bigint, len: number) =>
    opts.ram.some((r) => pa >= r.base && pa + BigInt(len) <= r.base + r.size);
  if (!inRam(root, rootBytes)) {
    throw new OracleError(`TTBR0_EL2 = ${hex(regs.ttbr0)}: root table ${hex(root)} is outside RAM`);
  }

  const seen = new Map<bigint, string>([[root, "TTBR0_EL2"]]);
  const leaves: El2Mapping[] = [];
  let level: { pa: bigint; va: bigint; entries: number }[] = [{
    pa: root,
    va: 0n,
    entries: rootEntries,
  }];
  for (let lvl = start; level.length > 0; lvl++) {
    const shift = levelShift(lvl);
    const next: typeof level = [];
    for (const t of level) {
      const bytes = await read(t.pa, t.entries * 8);
      if (bytes.length !== t.entries * 8) {
        throw new OracleError(
          `reading the level ${lvl} table at ${hex(t.pa)}: got ${bytes.length} of ${
            t.entries * 8
          } bytes`,
        );
      }
      for (let i = 0; i < t.entries; i++) {
        const desc = readU64(bytes, i * 8);
        if ((desc & 1n) === 0n) continue;
        const where = `level ${lvl} entry ${i} at ${hex(t.pa + BigInt(i * 8))} (${hex(desc)})`;
        const va = t.va + (BigInt(i) << BigInt(shift));
        const isTable = (desc & 2n) !== 0n && lvl < 3;
        if (isTable) {
          // Table descriptors: bits 51:48 (51:50 under LPA2) are RES0.
          const res0 = lpa2 ? mask(51, 50) : mask(51, 48);
          if ((desc & res0) !== 0n) {
            throw new OracleError(`${where}: RES0 bits ${lpa2 ? "51:50" : "51:48"} are set`);
          }
          const pa = outputAddress(desc, 12, lpa2);
          if (!inRam(pa, 4096)) {
            throw new OracleError(`${where}: next-level table ${hex(pa)} is outside RAM`);
          }
          const before = seen.get(pa);
          if (before !== undefined) {
            throw new OracleError(
              `${where}: table ${
                hex(pa)
              } is already reached from ${before} (a loop or a shared table)`,
            );
          }
          seen.set(pa, where);
          if (seen.size > maxPages) {
            throw new OracleError(`more than ${maxPages} table pages: giving up at ${where}`);
          }
          next.push({ pa, va, entries: 512 });
          continue;
        }
        const blockOk = lvl === 1 || lvl === 2 || (lvl === 0 && lpa2);
        if (lvl === 3 ? (desc & 2n) === 0n : !blockOk) {
          throw new OracleError(
            `${where}: reserved descriptor (${
              lvl === 3 ? "0b01 at level 3" : `a block at level ${lvl}`
            })`,
          );
        }
        const oa = outputAddress(desc, shift, lpa2);
        leaves.push({ va, pa: oa, size: 1n << BigInt(shift), attr: desc & ~oaMask(shift, lpa2) });
      }
    }
    level = next;
  }
  return {
    vaBits,
    startLevel: start,
    lpa2,
    tablePages: seen.size,
    leaves: leaves.length,
    mappings: mergeLeaves(leaves),
  };
}
