/**
 * The `kvm_pgtable_hyp_map` visitors, v5.13 and mainline
 * (`hyp_map_walker`, `hyp_map_walker_try_leaf`).
 *
 * @module
 */

import { ERRNO, type PgtableMmOps, WALK } from "../../core/mod.ts";
import type { PgtableFacts } from "../releases/mod.ts";
import { KVM_GRANULE_SIZES, PTRS_PER_PTE } from "./geometry.ts";
import {
  HI_ADDR_MASK,
  HI_ADDR_MASK_LPA2,
  HI_SW_MASK,
  leafHi,
  leafLo,
  LITTLE_ENDIAN_HOST,
  LO_ADDR_MASK,
  LO_OA_51_50_SHIFT,
  LO_TYPE,
  LO_VALID,
} from "./_pte.ts";
import type { FastWalker, PteStore, VisitCtx } from "./walker.ts";

/** What the map visitors need from their table. */
export interface MapEnv {
  /** Where descriptors are written. */
  readonly store: PteStore;
  /** The table's mm_ops (read at each call: the boot swaps them). */
  readonly mmOps: PgtableMmOps;
  /** Records a kernel `WARN`. */
  warn(fn: string, message: string): void;
  /** LPA2 descriptors (output-address bits 51:50 in bits 9:8). */
  readonly lpa2: boolean;
}

/**
 * `kvm_block_mapping_supported`: a leaf fits at this level when the level
 * allows blocks (≥ 1 for 4 KiB), the granule fits before `end`, and both
 * `addr` and `phys` are granule-aligned. (v5.13 skips the phys alignment
 * test for a PA beyond PARange; callers never pass one.)
 */
function blockMappingSupported(addr: number, end: number, phys: number, level: number): boolean {
  if (level < 1) return false;
  const g = KVM_GRANULE_SIZES[level]!;
  if (g > end - addr) return false;
  // Granules at levels 1..3 are ≤ 2^30, so alignment shows in the low 32
  // bits, which `>>> 0` extracts exactly from any safe integer.
  const mask = g - 1;
  if (((phys >>> 0) & mask) !== 0) return false;
  return ((addr >>> 0) & mask) === 0;
}

/**
 * The hyp_map visitor for a version.
 *
 * - v5.13 keeps a running `phys`; an identical entry is left alone; a
 *   *different* valid leaf gets a WARN and is kept (the call still succeeds);
 *   where no leaf fits, `kvm_set_table_pte` WARNs over a valid entry and
 *   replaces it with an empty table anyway. No refcounting.
 * - mainline computes `phys + (addr − start)`; identical is a no-op; an
 *   invalid slot gets `get_page(ptep)`; a difference only in software bits
 *   58:55 is overwritten; any other difference WARNs: -EINVAL at level 3,
 *   a table (with a `get_page(ptep)` although the slot was already counted)
 *   at lower levels.
 *
 * @param env Memory, mm_ops, WARN sink.
 * @param version Kernel version.
 * @param phys First PA (page-aligned).
 * @param attrLo Low attribute half from `hyp_set_prot_attr`.
 * @param attrHi High attribute half.
 * @returns The walker (flags LEAF).
 */
export function hypMapWalker(
  env: MapEnv,
  facts: PgtableFacts,
  phys: number,
  attrLo: number,
  attrHi: number,
): HypMapWalker {
  // v5.13 keeps a different valid leaf with a WARN and counts nothing; from
  // v5.17 every valid entry holds a reference and only the software bits may
  // change in place.
  return facts.remap === "warn-keep"
    ? new HypMapWalkerV513(env, phys, attrLo, attrHi)
    : new HypMapWalkerMainline(env, phys, attrLo, attrHi);
}

/** A map visitor, reusable for another call's range (a table keeps one). */
export interface HypMapWalker extends FastWalker {
  /**
   * Sets it up for another `kvm_pgtable_hyp_map` call, as if new.
   * @param phys First PA (page-aligned).
   * @param attrLo Low attribute half.
   * @param attrHi High attribute half.
   * @param pages Walk the range as one call per page would (the boot's
   *   `create_hyp_mappings` and `pkvm_create_mappings` loops): no leaf fits
   *   above level 3, as none fits a one-page call's range there.
   */
  reset(phys: number, attrLo: number, attrHi: number, pages?: boolean): void;
  /**
   * Where the last visit that was not a batched run began (`ctx.addr`):
   * after an error, the VA of the page that failed.
   */
  readonly lastAddr: number;
}

/** What an unbacked table page holds: zeros (never written). */
const ZERO_WORDS = new Uint32Array(2 * PTRS_PER_PTE);

/**
 * The LEAF visits of a run of entries of one table page that
 * `hyp_map_walker_try_leaf` fills without a WARN: each entry, in order, gets
 * the leaf for `phys + i * granule` when the block fits there and the entry
 * is invalid (mainline first takes `get_page(ptep)` for it) or already that
 * leaf (left alone). It stops, having done nothing for it, at the first
 * entry that is a table, holds a different valid descriptor (a WARN, or in
 * mainline a software-bit update: the single visit decides), or lies past
 * the range or the page; and before the first entry where no leaf fits.
 *
 * The stores go straight into the page's words (PhysicalMemory.storeWords),
 * declared at the first and, for the whole run, after the last; every store
 * turns an invalid entry into a valid one, and the architecture never caches
 * a descriptor that faults, so no TLB or walk cache can hold anything those
 * stores change (a `get_page` in between may translate through the tables:
 * it sees memory exactly as it would after the stores before it).
 *
 * @param env Store, mm_ops, LPA2.
 * @param ctx The first entry.
 * @param idx Its index in the page.
 * @param words The page's words, or undefined while it is unbacked.
 * @param phys PA of the first entry's leaf.
 * @param attrLo Low attribute half.
 * @param attrHi High attribute half.
 * @param refcounted Mainline: a reference per entry made valid.
 * @returns Entries handled.
 */
function mapLeafRun(
  env: MapEnv,
  ctx: VisitCtx,
  idx: number,
  words: Uint32Array | undefined,
  phys: number,
  attrLo: number,
  attrHi: number,
  refcounted: boolean,
): number {
  const level = ctx.level;
  // kvm_block_mapping_supported(): no block below level 1; the granule must
  // fit before the end and both addresses be aligned to it. From an aligned
  // first entry, entry i is at addr + i * granule and phys + i * granule.
  if (level < 1 || !LITTLE_ENDIAN_HOST) return 0;
  const g = KVM_GRANULE_SIZES[level]!;
  const mask = g - 1;
  const addr = ctx.addr;
  if (((addr >>> 0) & mask) !== 0 || ((phys >>> 0) & mask) !== 0) return 0;
  let max = Math.floor((ctx.end - addr) / g);
  if (max > PTRS_PER_PTE - idx) max = PTRS_PER_PTE - idx;
  const store = env.store;
  const ptep0 = ctx.ptep;
  const mm = env.mmOps;
  // get_page (a no-op stub when mm_ops has none, as mainline's early
  // allocator's). The hyp VA of each ptep: the table page is mapped
  // linearly, as the kernel's ptep (already a VA) lies within its page.
  const get = refcounted && mm.getPage !== undefined;
  const va0 = get ? mm.physToVirt(ptep0) : 0;
  // kvm_init_valid_leaf_pte(phys + i * granule) as leafLo/leafHi build it,
  // from the output address in two 32-bit halves stepped by the granule:
  // bits 31:12 to the low half, bits 47:32 (49:32 with LPA2) to the high
  // half, and with LPA2 bits 51:50 to bits 9:8.
  const lpa2 = env.lpa2;
  const hiMask = lpa2 ? HI_ADDR_MASK_LPA2 : HI_ADDR_MASK;
  const loAttr = attrLo | (level === 3 ? LO_TYPE : 0) | LO_VALID;
  let pLo = phys % 0x1_0000_0000;
  let pHi = (phys - pLo) / 0x1_0000_0000;
  let read = words ?? ZERO_WORDS;
  // Where the mm_ops take a run's references in one call (getPages), count
  // the entries the run will make valid and take them first: the page's
  // refcount ends where one get_page per entry leaves it. Should fewer be
  // taken (the u16 at USHRT_MAX, hyp_page_ref_inc's BUG_ON in 7.2's
  // nvhe/memory.h), the entry past the last taken makes its own get_page
  // call below, after the stores before it, and fails as it does one by one.
  let taken = 0;
  if (get && mm.getPages !== undefined) {
    // An unbacked page reads as zeros: every entry of the run is made valid.
    const need = words === undefined
      ? max
      : countNewLeaves(read, idx, max, level, phys, g, loAttr, hiMask, attrHi, lpa2);
    taken = need === 0 ? 0 : mm.getPages(va0, need);
  }
  // An unbacked page with every reference taken (or none to take): each old
  // entry reads as 0, so the comparisons below all come out "invalid, write
  // it", and the run is a plain fill.
  if (words === undefined && (!get || taken === max)) {
    return fillRun(store, ptep0, idx, max, pLo, pHi, g, loAttr, hiMask, attrHi, lpa2);
  }
  // The descriptor halves that follow bits 63:32 of the output address
  // change only when the low half carries.
  let loExtra = loAttr | (lpa2 ? ((pHi >>> 18) & 3) << LO_OA_51_50_SHIFT : 0);
  let hiWord = ((pHi & hiMask) | attrHi) >>> 0;
  let out: Uint32Array | undefined = undefined;
  let first = -1;
  let last = -1;
  let written = 0;
  let n = 0;
  for (; n < max; n++) {
    if (n > 0) {
      pLo += g;
      if (pLo >= 0x1_0000_0000) {
        pLo -= 0x1_0000_0000;
        pHi++;
        loExtra = loAttr | (lpa2 ? ((pHi >>> 18) & 3) << LO_OA_51_50_SHIFT : 0);
        hiWord = ((pHi & hiMask) | attrHi) >>> 0;
      }
    }
    const k = 2 * (idx + n);
    const lo = read[k]!;
    if (level < 3 && (lo & 3) === 3) break;
    const newLo = ((pLo & LO_ADDR_MASK) | loExtra) >>> 0;
    const newHi = hiWord;
    // "Tolerate KVM recreating the exact same mapping".
    if (newLo === lo && newHi === read[k + 1]) continue;
    if ((lo & LO_VALID) !== 0) break;
    if (get && written >= taken) {
      try {
        mm.getPage!(va0 + 8 * n);
      } catch (e) {
        // A BUG in get_page: the stores before it stay made and counted.
        if (written !== 0) noteRun(store, ptep0, idx, first, last, written, out!);
        throw e;
      }
    }
    if (out === undefined) {
      // Little-endian host: the page's own words (backed now if it was not).
      first = k;
      out = store.memory.storeWords(ptep0 + 8 * n, 8)!;
      read = out;
    }
    out[k] = newLo;
    out[k + 1] = newHi;
    written++;
    last = k;
  }
  if (written !== 0) noteRun(store, ptep0, idx, first, last, written, out!);
  return n;
}

/**
 * `mapLeafRun` over an unbacked (all-zero) page: `max` leaves stored from
 * entry `idx` on, the references (if any) already taken.
 *
 * @returns `max`.
 */
function fillRun(
  store: PteStore,
  ptep0: number,
  idx: number,
  max: number,
  pLo: number,
  pHi: number,
  g: number,
  loAttr: number,
  hiMask: number,
  attrHi: number,
  lpa2: boolean,
): number {
  if (max === 0) return 0;
  // Little-endian host: the page's own words, backed now.
  const out = store.memory.storeWords(ptep0, 8)!;
  let loExtra = loAttr | (lpa2 ? ((pHi >>> 18) & 3) << LO_OA_51_50_SHIFT : 0);
  let hiWord = (pHi & hiMask) | attrHi;
  const k0 = 2 * idx;
  const kEnd = k0 + 2 * max;
  for (let k = k0; k < kEnd; k += 2) {
    out[k] = (pLo & LO_ADDR_MASK) | loExtra;
    out[k + 1] = hiWord;
    pLo += g;
    if (pLo >= 0x1_0000_0000) {
      pLo -= 0x1_0000_0000;
      pHi++;
      loExtra = loAttr | (lpa2 ? ((pHi >>> 18) & 3) << LO_OA_51_50_SHIFT : 0);
      hiWord = (pHi & hiMask) | attrHi;
    }
  }
  noteRun(store, ptep0, idx, k0, kEnd - 2, max, out);
  return max;
}

/**
 * Declares a run's stores made, once for the whole run: the page's written
 * extent is then what one store per entry leaves (first to last), and the
 * stores are counted.
 */
function noteRun(
  store: PteStore,
  ptep0: number,
  idx: number,
  first: number,
  last: number,
  written: number,
  out: Uint32Array,
): void {
  const firstPtep = ptep0 + 4 * (first - 2 * idx);
  const lastPtep = ptep0 + 4 * (last - 2 * idx);
  if (lastPtep !== firstPtep) store.memory.storeWords(firstPtep, lastPtep + 8 - firstPtep);
  store.noteWrites(written, lastPtep, out[last]!, out[last + 1]!);
}

/**
 * How many entries `mapLeafRun`'s loop will make valid (each with a
 * get_page): the invalid entries before the first table, or the first valid
 * entry that is not already the leaf for its address.
 */
function countNewLeaves(
  read: Uint32Array,
  idx: number,
  max: number,
  level: number,
  phys: number,
  g: number,
  loAttr: number,
  hiMask: number,
  attrHi: number,
  lpa2: boolean,
): number {
  let need = 0;
  for (let n = 0; n < max; n++) {
    const k = 2 * (idx + n);
    const lo = read[k]!;
    if ((lo & LO_VALID) === 0) {
      need++;
      continue;
    }
    if (level < 3 && (lo & 3) === 3) break;
    // A valid entry: the run passes it only when it is the same leaf.
    const p = phys + n * g;
    const pLo = p % 0x1_0000_0000;
    const pHi = (p - pLo) / 0x1_0000_0000;
    const newLo = ((pLo & LO_ADDR_MASK) | loAttr |
      (lpa2 ? ((pHi >>> 18) & 3) << LO_OA_51_50_SHIFT : 0)) >>> 0;
    const newHi = ((pHi & hiMask) | attrHi) >>> 0;
    if (newLo !== lo || newHi !== read[k + 1]) break;
  }
  return need;
}

/**
 * What both releases' hyp map walkers carry (`struct hyp_map_data`: the
 * running phys, the attributes) and how a walk restarts them: the map is
 * one walker reused across calls, reset per call.
 */
abstract class MapWalkerState {
  readonly flags = WALK.LEAF;
  readonly trusted = true;
  protected env: MapEnv;
  protected phys: number;
  protected attrLo: number;
  protected attrHi: number;
  protected pages = false;
  lastAddr = 0;

  constructor(env: MapEnv, phys: number, attrLo: number, attrHi: number) {
    this.env = env;
    this.phys = phys;
    this.attrLo = attrLo;
    this.attrHi = attrHi;
  }

  reset(phys: number, attrLo: number, attrHi: number, pages = false): void {
    this.phys = phys;
    this.attrLo = attrLo;
    this.attrHi = attrHi;
    this.pages = pages;
    this.lastAddr = -1;
  }
}

class HypMapWalkerV513 extends MapWalkerState implements HypMapWalker {
  leafRun(ctx: VisitCtx, idx: number, words: Uint32Array | undefined): number {
    if (this.pages && ctx.level < 3) return 0;
    const n = mapLeafRun(this.env, ctx, idx, words, this.phys, this.attrLo, this.attrHi, false);
    // The running phys moves a granule per leaf handled, written or kept.
    if (n > 0) this.phys += n * KVM_GRANULE_SIZES[ctx.level]!;
    return n;
  }

  cb(ctx: VisitCtx): number {
    this.lastAddr = ctx.addr;
    if (this.#tryLeaf(ctx)) return 0;
    const env = this.env;
    if (ctx.level === 3) {
      env.warn("hyp_map_walker", `no leaf fits at level 3 for VA ${hex(ctx.addr)}`);
      return ERRNO.EINVAL;
    }
    const mm = env.mmOps;
    const child = mm.zallocPage();
    if (child === null) return ERRNO.ENOMEM;
    // kvm_set_table_pte(): WARN_ON(kvm_pte_valid(old)), then store anyway.
    if ((ctx.lo & LO_VALID) !== 0) {
      env.warn(
        "kvm_set_table_pte",
        `table replaces the valid level-${ctx.level} entry for VA ${hex(ctx.addr)}`,
      );
    }
    const childPa = mm.virtToPhys(child);
    env.store.write(ctx.ptep, leafLo(childPa, 0, 3, env.lpa2), leafHi(childPa, 0, env.lpa2));
    return 0;
  }

  /** v5.13 `hyp_map_walker_try_leaf`. */
  #tryLeaf(ctx: VisitCtx): boolean {
    const level = ctx.level;
    const phys = this.phys;
    if (this.pages && level < 3) return false;
    if (!blockMappingSupported(ctx.addr, ctx.end, phys, level)) return false;
    const lpa2 = this.env.lpa2;
    const lo = leafLo(phys, this.attrLo, level, lpa2);
    const hi = leafHi(phys, this.attrHi, lpa2);
    // "Tolerate KVM recreating the exact same mapping"; a different valid
    // entry WARNs and is kept.
    if (lo !== ctx.lo || hi !== ctx.hi) {
      if ((ctx.lo & LO_VALID) !== 0) {
        this.env.warn(
          "hyp_map_walker_try_leaf",
          `kept the different valid level-${level} leaf for VA ${hex(ctx.addr)}`,
        );
      } else {
        this.env.store.write(ctx.ptep, lo, hi);
      }
    }
    this.phys = phys + KVM_GRANULE_SIZES[level]!;
    return true;
  }
}

class HypMapWalkerMainline extends MapWalkerState implements HypMapWalker {
  leafRun(ctx: VisitCtx, idx: number, words: Uint32Array | undefined): number {
    if (this.pages && ctx.level < 3) return 0;
    const phys = this.phys + (ctx.addr - ctx.start);
    return mapLeafRun(this.env, ctx, idx, words, phys, this.attrLo, this.attrHi, true);
  }

  cb(ctx: VisitCtx): number {
    this.lastAddr = ctx.addr;
    if (this.#tryLeaf(ctx)) return 0;
    const env = this.env;
    if (ctx.level === 3) {
      env.warn("hyp_map_walker", `cannot replace the level-3 entry for VA ${hex(ctx.addr)}`);
      return ERRNO.EINVAL;
    }
    const mm = env.mmOps;
    const child = mm.zallocPage();
    if (child === null) return ERRNO.ENOMEM;
    const childPa = mm.virtToPhys(child);
    // get_page(ptep) even when the old entry was a valid leaf (the kernel's
    // refcount then stays one too high for that table page).
    mm.getPage?.(mm.physToVirt(ctx.ptep));
    env.store.write(ctx.ptep, leafLo(childPa, 0, 3, env.lpa2), leafHi(childPa, 0, env.lpa2));
    return 0;
  }

  /** mainline `hyp_map_walker_try_leaf`. */
  #tryLeaf(ctx: VisitCtx): boolean {
    const level = ctx.level;
    const phys = this.phys + (ctx.addr - ctx.start);
    if (this.pages && level < 3) return false;
    if (!blockMappingSupported(ctx.addr, ctx.end, phys, level)) return false;
    const lpa2 = this.env.lpa2;
    const lo = leafLo(phys, this.attrLo, level, lpa2);
    const hi = leafHi(phys, this.attrHi, lpa2);
    if (lo === ctx.lo && hi === ctx.hi) return true;
    const env = this.env;
    if ((ctx.lo & LO_VALID) === 0) {
      const mm = env.mmOps;
      mm.getPage?.(mm.physToVirt(ctx.ptep));
    } else if (lo !== ctx.lo || ((hi ^ ctx.hi) & ~HI_SW_MASK) !== 0) {
      env.warn(
        "hyp_map_walker_try_leaf",
        `the valid level-${level} entry for VA ${hex(ctx.addr)} differs beyond the software bits`,
      );
      return false;
    }
    env.store.write(ctx.ptep, lo, hi);
    return true;
  }
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
