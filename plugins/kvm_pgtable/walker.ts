/**
 * The one page-table walker, `kvm_pgtable_walk` (`arch/arm64/kvm/hyp/pgtable.c`):
 * map, unmap, lookup, destroy, dump and maplets are all visitors over it.
 *
 * Visitors see the old descriptor as two 32-bit halves and write through
 * {@link WalkTarget.memory}; nothing here builds a BigInt.
 *
 * @module
 */

import {
  ERRNO,
  type KvmPgtableVersion,
  PAGE_SIZE,
  type PhysicalMemory,
  WALK,
  type WalkVisitHalves,
} from "../../core/mod.ts";
import {
  granuleAt,
  KVM_PGTABLE_FIRST_LEVEL,
  KVM_PGTABLE_LAST_LEVEL,
  kvmGranuleShift,
  PTRS_PER_PTE,
} from "./geometry.ts";
import { isTable, pgtableFacts, pteToPhys } from "./_pte.ts";

/** `-EAGAIN`: mainline walkers outside fault handling ignore it. */
export const EAGAIN = -11;

/**
 * What a visitor sees (`struct kvm_pgtable_visit_ctx`; v5.13 passes the same
 * as arguments). Valid only during the callback: the walker reuses it.
 */
export interface VisitCtx extends WalkVisitHalves {
  /** First VA of the walk (page-aligned; `ctx->start`, mainline). */
  readonly start: number;
  /** The walker's flags. */
  readonly flags: number;
}

/** A visitor and the `WALK.*` flags it wants (`struct kvm_pgtable_walker`). */
export interface FastWalker {
  /** `WALK.*` bits. */
  readonly flags: number;
  /**
   * True when every write the visitor makes goes through
   * {@link PteStore.write}: the walker then re-reads an entry from the
   * store's record of the last write instead of from memory.
   */
  readonly trusted?: boolean;
  /**
   * The callback.
   * @returns 0 to go on, or a negative errno to stop.
   */
  cb(ctx: VisitCtx, visit: number): number;
  /**
   * Optional: the LEAF visits of a run of entries of one table page, in one
   * call instead of one each. The walker calls it at a non-table entry
   * (`ctx` describes it; `idx` is its index in the page) with the page's
   * words when they are readable directly (entry `i` at `2i`, `2i + 1`).
   * The visitor handles entries `idx`, `idx + 1`, ... in order, each exactly
   * as {@link FastWalker.cb} would with `WALK.LEAF` and leaving it a
   * non-table, and stops at the first it cannot (a table, the end of the
   * range or of the page, or a case its `cb` must decide: a WARN, an error,
   * a new table). For a handled entry the walk then does what it does after
   * any LEAF visit that left a non-table: it moves on to the next granule.
   *
   * @returns How many entries it handled; 0 must mean nothing was done.
   */
  leafRun?(ctx: VisitCtx, idx: number, words: Uint32Array | undefined): number;
}

/**
 * Descriptor writes with a record of the last one, so the walker's re-read
 * after a visitor (`ctx->old = READ_ONCE(*ptep)`) costs nothing when it was
 * that visitor's own write.
 */
export class PteStore {
  /** The memory holding the tables. */
  readonly memory: PhysicalMemory;
  /** Writes so far. */
  writes = 0;
  /** PA of the last write. */
  lastPtep = -1;
  /** Bits 31:0 of the last write. */
  lastLo = 0;
  /** Bits 63:32 of the last write. */
  lastHi = 0;

  /** @param memory The memory holding the tables. */
  constructor(memory: PhysicalMemory) {
    this.memory = memory;
  }

  /**
   * Writes a descriptor (`WRITE_ONCE` / `smp_store_release`).
   * @param ptep PA of the entry.
   * @param lo Bits 31:0.
   * @param hi Bits 63:32.
   */
  write(ptep: number, lo: number, hi: number): void {
    this.memory.write64Parts(ptep, lo, hi);
    this.writes++;
    this.lastPtep = ptep;
    this.lastLo = lo >>> 0;
    this.lastHi = hi >>> 0;
  }

  /**
   * Records writes a visitor made straight into a table page's words (see
   * {@link PhysicalMemory.storeWords}): the count, and the last one.
   * @param n Writes made.
   * @param ptep PA of the last.
   * @param lo Its bits 31:0.
   * @param hi Its bits 63:32.
   */
  noteWrites(n: number, ptep: number, lo: number, hi: number): void {
    this.writes += n;
    this.lastPtep = ptep;
    this.lastLo = lo >>> 0;
    this.lastHi = hi >>> 0;
  }
}

/** The table a walk runs over. */
export interface WalkTarget {
  /** Where the tables live, and how visitors write them. */
  readonly store: PteStore;
  /** PA of the pgd, or null after destroy (the kernel's NULL `pgt->pgd`). */
  readonly pgdPa: number | null;
  /** Input address bits. */
  readonly iaBits: number;
  /** Start level. */
  readonly startLevel: number;
  /** Which kernel's walker to follow. */
  readonly version: KvmPgtableVersion;
  /** LPA2 descriptors: a next-level table's address has bits 51:50 in bits 9:8. */
  readonly lpa2?: boolean;
}

class Ctx implements VisitCtx {
  start = 0;
  addr = 0;
  end = 0;
  level = 0;
  ptep = 0;
  lo = 0;
  hi = 0;
  flags = 0;
}

/**
 * One walk's state. Frames are pooled (a visitor may start a walk of its
 * own, so each nesting depth has its frame): a walk allocates nothing.
 */
class WalkData {
  target!: WalkTarget;
  store!: PteStore;
  memory!: PhysicalMemory;
  walker!: FastWalker;
  trusted = false;
  start = 0;
  addr = 0;
  end = 0;
  readonly buf: Uint32Array = new Uint32Array(2);
  /** The v6.2 visit-ctx walker (release fact `visitCtxWalker`). */
  mainline = false;
  /** One context per level from −1, reused entry after entry (the kernel's is on the stack). */
  readonly ctxs: readonly Ctx[] = [new Ctx(), new Ctx(), new Ctx(), new Ctx(), new Ctx()];
  /** LPA2 descriptor addresses. */
  lpa2 = false;
  /**
   * The table page each level read last, from −1: its memory, PA, the
   * memory's backing generation then, and its words. The boot maps page by
   * page, each walk reading the same upper tables again.
   */
  readonly seenMemory: (PhysicalMemory | undefined)[] = [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ];
  readonly seenPa: Float64Array = new Float64Array(5).fill(-1);
  readonly seenGen: Float64Array = new Float64Array(5).fill(-1);
  readonly seenWords: (Uint32Array | undefined)[] = [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ];
}

/** Frames by nesting depth. */
const frames: WalkData[] = [];
let depth = 0;

/**
 * `kvm_pgtable_walk(pgt, addr, size, walker)`: visits every entry covering
 * `[ALIGN_DOWN(addr, PAGE_SIZE), PAGE_ALIGN(that + size))` in address order.
 * At each entry: a table gets TABLE_PRE; a non-table (invalid entries
 * included) gets LEAF and is re-read (mainline also re-reads after PRE);
 * a non-table moves on to the next granule; a table is descended into and
 * then gets TABLE_POST. A non-zero return stops the walk (mainline ignores
 * -EAGAIN).
 *
 * @param target The table.
 * @param addr First VA.
 * @param size Bytes.
 * @param walker Visitor and flags.
 * @returns 0, a visitor's errno, -ERANGE past 2^ia_bits, -EINVAL without a
 *   pgd, -EPERM for a SHARED walk at hyp (mainline).
 */
export function kvmPgtableWalk(
  target: WalkTarget,
  addr: number,
  size: number,
  walker: FastWalker,
): number {
  // ALIGN_DOWN(addr, PAGE_SIZE) and PAGE_ALIGN(start + size) by floor and
  // ceil, exact for a power of two (`%` of a large double is a slow fmod,
  // and the boot walks once per page it maps).
  const start = Math.floor(addr / PAGE_SIZE) * PAGE_SIZE;
  const end = Math.ceil((start + size) / PAGE_SIZE) * PAGE_SIZE;
  const mainline = pgtableFacts(target.version).visitCtxWalker;
  // kvm_pgtable_walk_begin(): a hyp walk may not be SHARED (from v6.2).
  if (mainline && (walker.flags & WALK.SHARED) !== 0) return ERRNO.EPERM;
  const data = frames[depth] ?? (frames[depth] = new WalkData());
  data.target = target;
  data.store = target.store;
  data.memory = target.store.memory;
  data.walker = walker;
  data.trusted = walker.trusted === true;
  data.start = start;
  data.addr = start;
  data.end = end;
  data.mainline = mainline;
  data.lpa2 = target.lpa2 === true;
  depth++;
  try {
    return walkPgd(data);
  } finally {
    depth--;
  }
}

/** `_kvm_pgtable_walk`: range and pgd checks, then the pgd page(s). */
function walkPgd(data: WalkData): number {
  const t = data.target;
  const limit = POW2[t.iaBits] ?? 2 ** t.iaBits;
  if (data.addr > limit || data.end > limit) return ERRNO.ERANGE;
  const pgdPa = t.pgdPa;
  if (pgdPa === null) return ERRNO.EINVAL;
  // kvm_pgd_page_idx(): which concatenated pgd page holds addr; always 0
  // for stage-1 (one pgd page), kept for the shape of the kernel loop.
  const pgdSize = POW2[kvmGranuleShift(t.startLevel - 1)]!;
  const nrPgdPages = Math.floor((limit - 1) / pgdSize) + 1;
  const a = data.addr;
  let ret = 0;
  for (
    let idx = Math.floor((a - Math.floor(a / limit) * limit) / pgdSize);
    data.addr < data.end && idx < nrPgdPages;
    ++idx
  ) {
    ret = walkTable(data, pgdPa + idx * PAGE_SIZE, t.startLevel);
    if (ret !== 0) break;
  }
  return ret;
}

/** `__kvm_pgtable_walk`: the entries of one table from the current address. */
function walkTable(data: WalkData, tablePa: number, level: number): number {
  // v5.13: WARN_ON_ONCE(level >= KVM_PGTABLE_MAX_LEVELS); mainline also
  // rejects levels below KVM_PGTABLE_FIRST_LEVEL (−1 with LPA2, as in 6.12;
  // v5.13 has no level below 0, where its tables start at the highest).
  if (level < KVM_PGTABLE_FIRST_LEVEL || level > KVM_PGTABLE_LAST_LEVEL) return ERRNO.EINVAL;
  const g = granuleAt(level);
  const memory = data.memory;
  const buf = data.buf;
  // The table page's words, read directly while no page gains or loses its
  // backing (a visitor's first store to an unbacked table page backs it;
  // freeing a page drops it); fetched at the first entry, so a table outside
  // RAM aborts at the same entry read as before. Unaligned tables, and
  // unbacked pages, go through read64Parts.
  const aligned = (tablePa & 0xfff) === 0;
  let words: Uint32Array | undefined = undefined;
  let backing = -1;
  let ret = 0;
  // A visitor that takes runs of LEAF visits at once (only over a whole,
  // aligned page, whose entry i is words 2i and 2i + 1).
  const walker = data.walker;
  const leaves = (walker.flags & WALK.LEAF) !== 0;
  const visitsTables = (walker.flags & (WALK.TABLE_PRE | WALK.TABLE_POST)) !== 0;
  const runs = aligned && walker.leafRun !== undefined && leaves;
  // kvm_pgtable_idx(): (addr >> shift) & (PTRS_PER_PTE - 1).
  for (let idx = Math.floor(data.addr / g) & (PTRS_PER_PTE - 1); idx < PTRS_PER_PTE; ++idx) {
    if (data.addr >= data.end) break;
    const ptep = tablePa + idx * 8;
    let lo: number;
    let hi: number;
    if (aligned) {
      const b = memory.backingGeneration;
      if (b !== backing) {
        // The words of this page as this level last saw them, while no page
        // has gained or lost its backing since (the same PA of the same
        // memory passed the RAM check then).
        const li = level + 1;
        if (
          data.seenMemory[li] === memory && data.seenPa[li] === tablePa && data.seenGen[li] === b
        ) {
          words = data.seenWords[li];
        } else {
          words = memory.tableWords(ptep);
          data.seenMemory[li] = memory;
          data.seenPa[li] = tablePa;
          data.seenGen[li] = b;
          data.seenWords[li] = words;
        }
        backing = b;
      }
    }
    if (words !== undefined) {
      lo = words[2 * idx]!;
      hi = words[2 * idx + 1]!;
    } else {
      memory.read64Parts(ptep, buf);
      lo = buf[0]!;
      hi = buf[1]!;
    }
    if (!leaves && !isTable(lo, level)) {
      // A non-table entry gets no visit without WALK.LEAF: the walk only
      // moves on to the next granule (what visitEntry does for it), so the
      // following non-tables the range still covers are passed at once.
      const a = data.addr;
      const va0 = level > 0 ? a - ((a >>> 0) & (g - 1)) : Math.floor(a / g) * g;
      let n = 1;
      if (words !== undefined) {
        let max = Math.ceil((data.end - va0) / g);
        if (max > PTRS_PER_PTE - idx) max = PTRS_PER_PTE - idx;
        while (n < max && !isTable(words[2 * (idx + n)]!, level)) n++;
      }
      data.addr = va0 + n * g;
      idx += n - 1;
      continue;
    }
    if (!visitsTables && isTable(lo, level)) {
      // A table entry gets no visit without TABLE_PRE/TABLE_POST: the walk
      // descends into it (what visitEntry does for it, re-reading nothing).
      ret = walkTable(data, pteToPhys(lo, hi, data.lpa2), level + 1);
      if (!keepGoing(data, ret)) break;
      ret = 0;
      continue;
    }
    if (runs && !isTable(lo, level)) {
      // The LEAF visits of the non-table entries from here that the visitor
      // installs in one go; each is then passed as visitEntry passes a
      // non-table (ALIGN_DOWN(addr, granule) + granule, entry after entry).
      const n = walker.leafRun!(levelCtx(data, level, ptep, lo, hi), idx, words);
      if (n > 0) {
        const a = data.addr;
        data.addr = (level > 0 ? a - ((a >>> 0) & (g - 1)) : Math.floor(a / g) * g) + n * g;
        idx += n - 1;
        continue;
      }
    }
    ret = visitEntry(data, ptep, level, g, lo, hi);
    if (ret !== 0) break;
  }
  return ret;
}

/**
 * The level's reused `struct kvm_pgtable_visit_ctx`, filled for the entry at
 * `ptep` (one object per level, not one per visit).
 */
function levelCtx(data: WalkData, level: number, ptep: number, lo: number, hi: number): Ctx {
  const ctx = data.ctxs[level + 1]!;
  ctx.start = data.start;
  ctx.addr = data.addr;
  ctx.end = data.end;
  ctx.level = level;
  ctx.ptep = ptep;
  ctx.lo = lo;
  ctx.hi = hi;
  ctx.flags = data.walker.flags;
  return ctx;
}

/** `__kvm_pgtable_visit`: one entry (read by the caller), in the kernel's visit order. */
function visitEntry(
  data: WalkData,
  ptep: number,
  level: number,
  g: number,
  lo: number,
  hi: number,
): number {
  const walker = data.walker;
  const flags = walker.flags;
  const buf = data.buf;
  const ctx = levelCtx(data, level, ptep, lo, hi);
  let ret = 0;
  let table = isTable(lo, level);
  let reload = false;
  const writes = data.store.writes;

  if (table && (flags & WALK.TABLE_PRE) !== 0) {
    ret = walker.cb(ctx, WALK.TABLE_PRE);
    // Mainline re-reads after PRE so a visitor may replace the table; v5.13 does not.
    reload = data.mainline;
  }
  if (!table && (flags & WALK.LEAF) !== 0) {
    ret = walker.cb(ctx, WALK.LEAF);
    // Both versions re-read after LEAF so the walk descends into a table
    // the visitor just installed.
    reload = true;
  }
  if (reload) {
    const store = data.store;
    if (!data.trusted || (store.writes !== writes && store.lastPtep !== ptep)) {
      data.memory.read64Parts(ptep, buf);
      lo = buf[0]!;
      hi = buf[1]!;
    } else if (store.writes !== writes) {
      lo = store.lastLo;
      hi = store.lastHi;
    }
    table = isTable(lo, level);
  }
  if (!keepGoing(data, ret)) return ret;
  ret = 0;

  if (!table) {
    // ALIGN_DOWN(addr, granule) + granule; below level 0 the granule offset
    // lies in the low 32 bits (`>>> 0` is exact for safe integers).
    const a = data.addr;
    data.addr = (level > 0 ? a - ((a >>> 0) & (g - 1)) : Math.floor(a / g) * g) + g;
    return 0;
  }

  ret = walkTable(data, pteToPhys(lo, hi, data.lpa2), level + 1);
  if (!keepGoing(data, ret)) return ret;
  ret = 0;

  if ((flags & WALK.TABLE_POST) !== 0) {
    // The entry as it is now: mainline's ctx->old after the reload, and what
    // a v5.13 visitor reading *ptep sees. The deeper levels used their own
    // contexts, so this one still describes the entry.
    ctx.lo = lo;
    ctx.hi = hi;
    ret = walker.cb(ctx, WALK.TABLE_POST);
  }
  return keepGoing(data, ret) ? 0 : ret;
}

/** `kvm_pgtable_walk_continue` (mainline) / `ret == 0` (v5.13). */
function keepGoing(data: WalkData, ret: number): boolean {
  if (data.mainline && ret === EAGAIN) return true;
  return ret === 0;
}

/** 2^0 .. 2^64, exact doubles. */
const POW2: readonly number[] = Array.from({ length: 65 }, (_, i) => 2 ** i);
