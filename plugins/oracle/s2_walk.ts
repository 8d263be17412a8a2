/**
 * Walks a real host stage-2 table tree (4 KiB granule) through a physical
 * memory reader, from VTTBR_EL2 and VTCR_EL2 as the CPU holds them, and
 * returns what the hypervisor wrote there deterministically at boot: the
 * invalid entries that carry an owner (`kvm_pgtable_stage2_set_owner()`,
 * `kvm_pgtable_stage2_annotate()`), merged into runs. Valid entries are the
 * host's own faults (or shares) and depend on what the host touched; they
 * are walked through but not reported.
 *
 * VTCR_EL2 (Arm ARM D8.2, "Translation table walk", stage 2): T0SZ 5:0,
 * SL0 7:6 and with FEAT_LPA2 SL2 bit 33 (the start level for 4 KiB pages:
 * SL0 = 0, 1, 2, 3 start at levels 2, 1, 0, 3; SL2 = 1 with SL0 = 0 at −1),
 * TG0 15:14, DS bit 32. The start level's table may be up to 16 concatenated
 * pages; VTTBR_EL2 holds its base (bits 47:1, CnP in bit 0, the VMID in
 * 63:48; with DS, BADDR[51:48] in bits 5:2).
 *
 * @module
 */

import { hex } from "../../core/mod.ts";
import { type PhysRange, type PhysReader, startLevel4k } from "./el2_walk.ts";
import { OracleError } from "./errors.ts";
import type { ObservedHostStage2 } from "./observation.ts";

/** The registers a stage-2 walk needs. */
export interface Stage2WalkRegs {
  /** VTTBR_EL2. */
  vttbr: bigint;
  /** VTCR_EL2. */
  vtcr: bigint;
}

/** One run of equal invalid non-zero entries over contiguous IPAs. */
export interface Stage2AnnotationRun {
  /** First IPA. */
  ipa: bigint;
  /** Bytes. */
  size: bigint;
  /** The descriptor (bit 0 clear). */
  desc: bigint;
}

/** What a stage-2 walk found. */
export interface Stage2WalkResult {
  /** 64 − T0SZ. */
  iaBits: number;
  /** Level of the root table(s). */
  startLevel: number;
  /** PA of the first root page. */
  pgd: bigint;
  /** Concatenated root pages. */
  pgdPages: number;
  /** VTCR_EL2.DS. */
  lpa2: boolean;
  /** Table pages reachable, the root pages included. */
  tablePages: number;
  /** The annotations, by IPA. */
  annotations: Stage2AnnotationRun[];
}

/** Limits of a stage-2 walk. */
export interface Stage2WalkOptions {
  /** Where table pages may live (RAM); a table elsewhere is an error. */
  ram: readonly PhysRange[];
  /** Most table pages to visit before giving up (default 65536). */
  maxTablePages?: number;
}

const mask = (hi: number, lo: number): bigint => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
const levelShift = (level: number): number => 12 + 9 * (3 - level);

/**
 * The start level of a 4 KiB-granule stage-2 walk from VTCR_EL2.SL0 (and
 * SL2 when DS = 1).
 *
 * @param vtcr VTCR_EL2.
 * @returns −1..3.
 * @throws {OracleError} A reserved encoding.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { stage2StartLevel } from "./s2_walk.ts";
 * assertEquals(stage2StartLevel(0x802d3590n), 0); // SL0 = 2, a real 6.12 boot
 * assertEquals(stage2StartLevel(0x1802e358cn), 0); // 52 bits from concatenated level-0 tables
 * ```
 */
export function stage2StartLevel(vtcr: bigint): number {
  const sl0 = Number((vtcr >> 6n) & 3n);
  const ds = ((vtcr >> 32n) & 1n) === 1n;
  const sl2 = ds && ((vtcr >> 33n) & 1n) === 1n;
  if (sl2) {
    if (sl0 !== 0) {
      throw new OracleError(`VTCR_EL2 = ${hex(vtcr)}: SL2 = 1 with SL0 = ${sl0} is reserved`);
    }
    return -1;
  }
  return [2, 1, 0, 3][sl0]!;
}

function readU64(bytes: Uint8Array, off: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(off, true);
}

/**
 * Walks the host stage-2 tables from VTTBR_EL2.
 *
 * @param regs VTTBR_EL2, VTCR_EL2.
 * @param read Physical memory reader.
 * @param opts Where tables may live, and the work bound.
 * @returns The geometry, the table page count and the annotations.
 * @throws {OracleError} On a granule other than 4 KiB, a bad T0SZ or start
 *   level, a root the input size cannot use, a misaligned root, a table
 *   outside RAM or reached twice, or more tables than the bound.
 * @example One owner annotation under a 40-bit IPA space (2 level-1 root pages)
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { walkHostStage2 } from "./s2_walk.ts";
 * const mem = new Map<bigint, bigint>([
 *   [0x4000_0008n, 0x4000_3003n], // root page 0, IPA 1 GiB.. -> L2 table
 *   [0x4000_3000n, 0x4000_4003n], // -> L3 table
 *   [0x4000_4010n, 0x4n], // IPA 0x40002000: owner 1 (bits 9:2)
 *   [0x4000_4018n, 0x4n],
 * ]);
 * const read = (pa: bigint, len: number) => {
 *   const out = new Uint8Array(len);
 *   const dv = new DataView(out.buffer);
 *   for (let o = 0; o < len; o += 8) dv.setBigUint64(o, mem.get(pa + BigInt(o)) ?? 0n, true);
 *   return out;
 * };
 * // T0SZ 24 (40 bits), SL0 1 (level 1), TG0 4 KiB.
 * const r = await walkHostStage2({ vttbr: 0x4000_0000n, vtcr: 0x8000_3558n }, read, {
 *   ram: [{ base: 0x4000_0000n, size: 0x4000_0000n }],
 * });
 * assertEquals([r.iaBits, r.startLevel, r.pgdPages, r.tablePages], [40, 1, 2, 4]);
 * assertEquals(r.annotations, [{ ipa: 0x4000_2000n, size: 0x2000n, desc: 4n }]);
 * ```
 */
export async function walkHostStage2(
  regs: Stage2WalkRegs,
  read: PhysReader,
  opts: Stage2WalkOptions,
): Promise<Stage2WalkResult> {
  const { vtcr, vttbr } = regs;
  const tg0 = Number((vtcr >> 14n) & 3n);
  if (tg0 !== 0) {
    throw new OracleError(`VTCR_EL2.TG0 = ${tg0}: only the 4 KiB granule (TG0 = 0) can be walked`);
  }
  const lpa2 = ((vtcr >> 32n) & 1n) === 1n;
  const t0sz = Number(vtcr & 0x3fn);
  const minT0sz = lpa2 ? 12 : 16;
  if (t0sz < minT0sz || t0sz > 40) {
    throw new OracleError(`VTCR_EL2.T0SZ = ${t0sz}: outside ${minT0sz}..40 for the 4 KiB granule`);
  }
  const iaBits = 64 - t0sz;
  const start = stage2StartLevel(vtcr);
  // The root may resolve up to 4 more bits than one table: 2..16 pages.
  const rootBits = iaBits - levelShift(start);
  const natural = startLevel4k(iaBits);
  if (start < natural || rootBits > 13) {
    throw new OracleError(
      `VTCR_EL2 = ${
        hex(vtcr)
      }: a ${iaBits}-bit IPA cannot start at level ${start} (at most 16 concatenated tables)`,
    );
  }
  const rootEntries = 2 ** rootBits;
  const pgdPages = Math.max(1, rootEntries / 512);
  let root = vttbr & mask(47, 1);
  if (lpa2) root = (vttbr & mask(47, 6)) | (((vttbr >> 2n) & 0xfn) << 48n);
  const rootBytes = rootEntries * 8;
  if (root % BigInt(Math.max(rootBytes, 64)) !== 0n) {
    throw new OracleError(
      `VTTBR_EL2 = ${hex(vttbr)}: root table ${hex(root)} is not aligned to its ${
        hex(rootBytes)
      } bytes`,
    );
  }
  const maxPages = opts.maxTablePages ?? 65536;
  const inRam = (pa: bigint, len: number) =>
    opts.ram.some((r) => pa >= r.base && pa + BigInt(len) <= r.base + r.size);
  if (!inRam(root, rootBytes)) {
    throw new OracleError(`VTTBR_EL2 = ${hex(vttbr)}: root table ${hex(root)} is outside RAM`);
  }
  const oaMask = lpa2 ? mask(49, 12) : mask(47, 12);
  const seen = new Set<bigint>();
  for (let i = 0; i < pgdPages; i++) seen.add(root + BigInt(4096 * i));
  const found: Stage2AnnotationRun[] = [];
  let level: { pa: bigint; ipa: bigint; entries: number }[] = [{
    pa: root,
    ipa: 0n,
    entries: rootEntries,
  }];
  for (let lvl = start; level.length > 0; lvl++) {
    const shift = BigInt(levelShift(lvl));
    const next: typeof level = [];
    for (const t of level) {
      const bytes = await read(t.pa, t.entries * 8);
      if (bytes.length !== t.entries * 8) {
        throw new OracleError(
          `reading the level ${lvl} stage-2 table at ${hex(t.pa)}: got ${bytes.length} of ${
            t.entries * 8
          } bytes`,
        );
      }
      for (let i = 0; i < t.entries; i++) {
        const desc = readU64(bytes, i * 8);
        if (desc === 0n) continue;
        const ipa = t.ipa + (BigInt(i) << shift);
        if ((desc & 1n) === 0n) {
          found.push({ ipa, size: 1n << shift, desc });
          continue;
        }
        if ((desc & 2n) === 0n || lvl === 3) continue; // a block or a page: the host's
        let pa = desc & oaMask;
        if (lpa2) pa |= ((desc >> 8n) & 3n) << 50n;
        const where = `stage-2 level ${lvl} entry ${i} at ${hex(t.pa + BigInt(i * 8))} (${
          hex(desc)
        })`;
        if (!inRam(pa, 4096)) {
          throw new OracleError(`${where}: next-level table ${hex(pa)} is outside RAM`);
        }
        if (seen.has(pa)) {
          throw new OracleError(`${where}: table ${hex(pa)} is reached twice`);
        }
        seen.add(pa);
        if (seen.size > maxPages) {
          throw new OracleError(`more than ${maxPages} stage-2 table pages: giving up at ${where}`);
        }
        next.push({ pa, ipa, entries: 512 });
      }
    }
    level = next;
  }
  // Level by level, so entries of different levels may interleave: sort, merge.
  found.sort((a, b) => (a.ipa < b.ipa ? -1 : a.ipa > b.ipa ? 1 : 0));
  const runs: Stage2AnnotationRun[] = [];
  for (const f of found) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.ipa + last.size === f.ipa && last.desc === f.desc) {
      last.size += f.size;
    } else runs.push({ ...f });
  }
  return {
    iaBits,
    startLevel: start,
    pgd: root,
    pgdPages,
    lpa2,
    tablePages: seen.size,
    annotations: runs,
  };
}

/**
 * A walk's result in the observation's shape (`observed.host_s2`).
 *
 * @param r The walk.
 * @returns Hex strings and numbers.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hostStage2Observed } from "./s2_walk.ts";
 * const o = hostStage2Observed({ iaBits: 48, startLevel: 0, pgd: 0x4000_0000n, pgdPages: 1,
 *   lpa2: false, tablePages: 1, annotations: [{ ipa: 0x1000n, size: 0x1000n, desc: 4n }] });
 * assertEquals(o.annotations, [{ ipa: "0x1000", size: "0x1000", desc: "0x4" }]);
 * ```
 */
export function hostStage2Observed(r: Stage2WalkResult): ObservedHostStage2 {
  return {
    ia_bits: r.iaBits,
    start_level: r.startLevel,
    pgd: hex(r.pgd),
    pgd_pages: r.pgdPages,
    annotations: r.annotations.map((a) => ({
      ipa: hex(a.ipa),
      size: hex(a.size),
      desc: hex(a.desc),
    })),
  };
}
