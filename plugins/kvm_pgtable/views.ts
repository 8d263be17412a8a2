/**
 * Views of a hyp stage-1 table, each a visitor over the one walker: the
 * abstract *maplets* (maximal merged ranges) and a ptdump-like text dump.
 *
 * @module
 */

import { type Maplet, WALK } from "../../core/mod.ts";
import { granuleAt, PTRS_PER_PTE } from "./geometry.ts";
import {
  HI_GP,
  HI_SW_MASK,
  leafProt,
  LITTLE_ENDIAN_HOST,
  LO_AF,
  LO_AP_SHIFT,
  LO_ATTRIDX_SHIFT,
  LO_SH_SHIFT,
  LO_TYPE,
  LO_VALID,
  type PteFormat,
  pteToPhys,
} from "./_pte.ts";
import { kvmPgtableWalk, type VisitCtx, type WalkTarget } from "./walker.ts";

/** A table as the views read it: the walk target and its descriptor format. */
export interface ViewTarget extends WalkTarget {
  /** How the table encodes its descriptors. */
  readonly fmt: PteFormat;
}

/** One valid leaf as a view sees it. */
interface LeafSink {
  leaf(va: number, level: number, lo: number, hi: number): void;
  /**
   * Optional: `count` leaves right after the last one {@link LeafSink.leaf}
   * was given, in the same table page, each its descriptor with the output
   * address one more granule on (so each maps the next VA to the next PA
   * with the same attributes).
   */
  more?(count: number): void;
}

/** Walks every valid leaf of the whole input range, in VA order. */
function forEachLeaf(target: ViewTarget, sink: LeafSink): void {
  if (target.pgdPa === null) return;
  const walker = {
    flags: WALK.LEAF,
    trusted: true,
    cb(ctx: VisitCtx): number {
      leafOf(sink, ctx.addr, ctx.level, ctx.lo, ctx.hi);
      return 0;
    },
    // The LEAF visits of a table's non-table entries in one loop: reading
    // only, so each is exactly its own visit.
    leafRun(ctx: VisitCtx, idx: number, words: Uint32Array | undefined): number {
      if (!LITTLE_ENDIAN_HOST) return 0;
      const level = ctx.level;
      const g = granuleAt(level);
      // ALIGN_DOWN(addr, granule) of the first entry, then granule by
      // granule: the entries whose granule starts before the end, up to the
      // end of the page.
      const va0 = Math.floor(ctx.addr / g) * g;
      let max = PTRS_PER_PTE - idx;
      const left = Math.ceil((ctx.end - va0) / g);
      if (left < max) max = left;
      // An unbacked page is all invalid entries.
      if (words === undefined) return max;
      const more = sink.more;
      // The last entry given to the sink (-1: none in this run), and how
      // many following it with the next output address are not yet given.
      let prevLo = -1;
      let prevHi = -1;
      let follow = 0;
      let n = 0;
      for (; n < max; n++) {
        const k = 2 * (idx + n);
        const lo = words[k]!;
        if (level < 3 && (lo & 3) === 3) break;
        if ((lo & LO_VALID) === 0) {
          if (follow !== 0) more!.call(sink, follow);
          follow = 0;
          prevLo = -1;
          continue;
        }
        const hi = words[k + 1]!;
        if (more !== undefined && prevLo >= 0 && lo === prevLo + g && hi === prevHi) {
          follow++;
          prevLo = lo;
          continue;
        }
        if (follow !== 0) more!.call(sink, follow);
        follow = 0;
        prevLo = leafOf(sink, n === 0 ? ctx.addr : va0 + n * g, level, lo, hi) ? lo : -1;
        prevHi = hi;
      }
      if (follow !== 0) more!.call(sink, follow);
      return n;
    },
  };
  kvmPgtableWalk(target, 0, 2 ** target.iaBits, walker);
}

/**
 * One LEAF visit: a valid, non-reserved leaf goes to the sink at its
 * granule's VA.
 * @returns Whether it went to the sink.
 */
function leafOf(sink: LeafSink, addr: number, level: number, lo: number, hi: number): boolean {
  if ((lo & LO_VALID) === 0) return false;
  // A block encoding at level 0 (without LPA2) or −1, or bit 1 clear at
  // level 3, is reserved: the hardware faults on it, so it maps nothing.
  // (kvm_pgtable never makes a level-0 block, LPA2 or not.)
  if (level <= 0 || (level === 3 && (lo & LO_TYPE) === 0)) return false;
  sink.leaf(addr - ((addr >>> 0) & (granuleAt(level) - 1)), level, lo, hi);
  return true;
}

/**
 * The maplets of a table: maximal ranges `{va, pa, size, prot}` sorted by
 * VA, where neighbouring leaves merge when VA and PA are both contiguous and
 * the prot is equal (whatever their levels).
 *
 * @param target The table.
 * @returns The maplets (empty after destroy).
 */
export function collectMaplets(target: ViewTarget): Maplet[] {
  const out: Maplet[] = [];
  let cur: Maplet | undefined;
  const fmt = target.fmt;
  // The last leaf's halves and level: a leaf that is it with the output
  // address one granule on (the low half not carrying) has the same prot
  // and follows in PA, so it extends a maplet that it follows in VA.
  let lastLo = -1;
  let lastHi = -1;
  let lastLevel = -1;
  forEachLeaf(target, {
    leaf(va, level, lo, hi) {
      const g = granuleAt(level);
      const follows = level === lastLevel && hi === lastHi && lo === lastLo + g;
      lastLo = lo;
      lastHi = hi;
      lastLevel = level;
      if (follows && cur !== undefined && cur.va + cur.size === va) {
        cur.size += g;
        return;
      }
      const pa = pteToPhys(lo, hi, fmt.lpa2);
      const prot = leafProt(lo, hi, fmt);
      if (
        cur !== undefined && cur.va + cur.size === va && cur.pa + cur.size === pa &&
        cur.prot === prot
      ) {
        cur.size += g;
      } else {
        cur = { va, pa, size: g, prot };
        out.push(cur);
      }
    },
    // Leaves that follow the last one: they extend its maplet (which ends
    // where the last leaf does).
    more(count) {
      const g = granuleAt(lastLevel);
      cur!.size += count * g;
      lastLo += count * g;
    },
  });
  return out;
}

/**
 * PAs of every table page, pgd first, then in walk (pre-)order.
 *
 * @param target The table.
 * @returns The PAs (empty after destroy).
 */
export function collectTablePages(target: ViewTarget): number[] {
  if (target.pgdPa === null) return [];
  const out = [target.pgdPa];
  const lpa2 = target.fmt.lpa2;
  kvmPgtableWalk(target, 0, 2 ** target.iaBits, {
    flags: WALK.TABLE_PRE,
    trusted: true,
    cb(ctx: VisitCtx): number {
      out.push(pteToPhys(ctx.lo, ctx.hi, lpa2));
      return 0;
    },
  });
  return out;
}

/** ptdump's names per level; a table from level −1 has a P4D level below its PGD. */
const LEVEL_NAMES = ["PGD", "PUD", "PMD", "PTE"];

function levelName(level: number, start: number): string {
  if (level === -1) return "PGD";
  return start === -1 && level === 0 ? "P4D" : LEVEL_NAMES[level]!;
}
const ATTR_LO_MASK = 0xffc & ~LO_TYPE;

/**
 * A ptdump-like dump: one line per run of leaves at the same level with the
 * same attributes and contiguous VA and PA:
 * `0x…-0x…  size LVL -> PA  RW|ro NX|x  SHD AF BLK MEM/NORMAL`.
 *
 * @param target The table.
 * @param title Header text.
 * @returns The dump, newline-terminated.
 */
export function dumpTable(target: ViewTarget, title: string): string {
  const lines = [`---[ ${title} ]---`];
  let run: { va: number; pa: number; size: number; level: number; lo: number; hi: number } | null =
    null;
  const flush = () => {
    if (run !== null) lines.push(formatRun(run, target.fmt, target.startLevel));
  };
  forEachLeaf(target, {
    leaf(va, level, lo, hi) {
      const g = granuleAt(level);
      const pa = pteToPhys(lo, hi, target.fmt.lpa2);
      const hiAttr = ~target.fmt.hiAddrMask;
      const loAttr = target.fmt.lpa2 ? ATTR_LO_MASK & ~0x300 : ATTR_LO_MASK;
      if (
        run !== null && run.level === level && run.va + run.size === va &&
        run.pa + run.size === pa && (run.lo & loAttr) === (lo & loAttr) &&
        (run.hi & hiAttr) === (hi & hiAttr)
      ) {
        run.size += g;
        return;
      }
      flush();
      run = { va, pa, size: g, level, lo, hi };
    },
  });
  flush();
  if (lines.length === 1) lines.push("(no mappings)");
  return lines.join("\n") + "\n";
}

function formatRun(
  run: { va: number; pa: number; size: number; level: number; lo: number; hi: number },
  fmt: PteFormat,
  start: number,
): string {
  const { lo, hi } = run;
  const ap = (lo >>> LO_AP_SHIFT) & 3;
  // Under LPA2 bits 9:8 are output-address bits; shareability is TCR's.
  const sh = fmt.lpa2 ? -1 : (lo >>> LO_SH_SHIFT) & 3;
  const idx = (lo >>> LO_ATTRIDX_SHIFT) & 7;
  const attrs = [
    // AP[2] (bit 7) is read-only in both regimes.
    (ap & 2) !== 0 ? "ro" : "RW",
    (hi & fmt.execHi) !== 0 ? "NX" : "x ",
    sh === 3 ? "SHD" : sh === 2 ? "OSH" : "   ",
    (lo & LO_AF) !== 0 ? "AF" : "  ",
    run.level === 3 ? "   " : "BLK",
    idx === 0 ? "MEM/NORMAL" : idx === fmt.facts.mtDeviceNGnRE ? "DEVICE/nGnRE" : `ATTR/${idx}`,
  ];
  if ((hi & HI_GP) !== 0) attrs.push("GP");
  const sw = (hi & HI_SW_MASK) >>> 23;
  if (sw !== 0) attrs.push(`SW=0x${sw.toString(16)}`);
  return `${addr(run.va)}-${addr(run.va + run.size)} ${sizeText(run.size).padStart(9)} ${
    levelName(run.level, start)
  } -> ${addr(run.pa)}  ${attrs.join(" ")}`;
}

function addr(n: number): string {
  return `0x${n.toString(16).padStart(16, "0")}`;
}

function sizeText(bytes: number): string {
  const units = ["K", "M", "G", "T"];
  let v = bytes / 1024;
  let i = 0;
  while (i < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}
