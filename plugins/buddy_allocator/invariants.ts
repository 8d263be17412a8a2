/**
 * The buddy pool's invariant checker (nvhe/page_alloc.c, v5.13 and
 * mainline). Every page is either in exactly one free block or not on any
 * free list (mainline: then with refcount >= 1, reserved pages at 1; v5.13:
 * reserved pages at 0); a free block's head is aligned to its order, inside
 * the range, of a valid order and refcount 0, its tail pages are
 * HYP_NO_ORDER, blocks never overlap, and no two free buddies of one order
 * stay unmerged below the top order; free pages are zero (but for mainline's
 * 16-byte list node in a free head); refcounts stay within 0..65535. All of
 * it is read from the kernel's bytes in simulated memory (vmemmap entries,
 * list nodes, `struct hyp_pool`) and compared with the pool's shadow, so it
 * also catches anything that wrote the pool's metadata or free pages behind
 * its back.
 *
 * @module
 */

import { type El2Memory, hex, type InvariantCheckOptions, PAGE_SIZE } from "../../core/mod.ts";
import { HYP_POOL_LAYOUT } from "./hyp_page_layout.ts";
import type { BuddyPoolView } from "./hyp_pool.ts";

const NO = 0xff;
const TWO32 = 2 ** 32;

/**
 * Checks a buddy pool; the pool's `checkInvariants()` calls this.
 *
 * @param v The pool's shadow view.
 * @param options `contents: false` skips the zeroed-memory check.
 * @returns The first violation, or undefined.
 */
export function checkBuddyInvariants(
  v: BuddyPoolView,
  options: InvariantCheckOptions,
): string | undefined {
  const pool = v.pool;
  const L = pool.layout;
  const mem = v.memory;
  const nr = pool.nrPages;
  const v513 = L.nodeOffset >= 0;
  const esz = L.size;
  const ow = L.orderBytes;
  const entVa = pool.vmemmap + pool.pfn * esz;
  const pa = (i: number) => hex(pool.rangeStart + i * PAGE_SIZE);
  const ptr = (at: number) => mem.read32(at) + mem.read32(at + 4) * TWO32;

  // Struct hyp_pool fields, when it lives in simulated memory.
  if (pool.onMachine) {
    const P = HYP_POOL_LAYOUT;
    const rs = ptr(pool.poolVa + P.rangeStartOffset);
    const re = ptr(pool.poolVa + P.rangeEndOffset);
    const at = pool.poolVa + P.maxOrderOffset;
    const mo = L.maxOrderBytes === 4
      ? mem.read32(at)
      : L.maxOrderBytes === 2
      ? mem.read16(at)
      : mem.read8(at);
    if (rs !== pool.rangeStart || re !== pool.kernelRangeEnd || mo !== pool.maxOrder) {
      return `struct hyp_pool at ${hex(pool.poolVa)} holds range [${hex(rs)}, ${hex(re)}) ` +
        `max_order ${mo}, expected [${hex(pool.rangeStart)}, ${
          hex(pool.kernelRangeEnd)
        }) ${pool.maxOrder}`;
    }
  }

  // Refcounts in range, and agreement with the shadow: every vmemmap entry of the range.
  const bulk = mem.readBytes !== undefined && nr > 0
    ? new DataView(mem.readBytes(entVa, nr * esz).buffer)
    : undefined;
  for (let i = 0; i < nr; i++) {
    const at = i * esz;
    let rc: number;
    let order: number;
    if (bulk !== undefined) {
      rc = v513 ? bulk.getUint32(at, true) : bulk.getUint16(at, true);
      const oa = at + L.orderOffset;
      order = ow === 4
        ? bulk.getUint32(oa, true)
        : ow === 2
        ? bulk.getUint16(oa, true)
        : bulk.getUint8(oa);
    } else {
      rc = v513 ? mem.read32(entVa + at) : mem.read16(entVa + at);
      const oa = entVa + at + L.orderOffset;
      order = ow === 4 ? mem.read32(oa) : ow === 2 ? mem.read16(oa) : mem.read8(oa);
    }
    const so = v.ord[i] === NO ? L.noOrder : v.ord[i]!;
    if (rc !== v.ref[i] || order !== so) {
      return `vmemmap entry of page ${pa(i)} holds refcount ${rc} order ${order}, ` +
        `the pool recorded refcount ${v.ref[i]} order ${so} (written behind the pool's back?)`;
    }
    if (rc > L.refcountMax) return `page ${pa(i)}: refcount ${rc} is out of range`;
    if (v513) {
      const word = (o: number) =>
        bulk !== undefined
          ? bulk.getUint32(at + o, true) + bulk.getUint32(at + o + 4, true) * TWO32
          : ptr(entVa + at + o);
      if (word(8) !== pool.poolVa) {
        return `vmemmap entry of page ${pa(i)}: pool pointer is ${hex(word(8))}, ` +
          `expected ${hex(pool.poolVa)}`;
      }
      if (word(16) !== v.nodeVa(v.next[i]!) || word(24) !== v.nodeVa(v.prev[i]!)) {
        return `vmemmap entry of page ${pa(i)} (order ${order}): list node ` +
          `{${hex(word(16))}, ${hex(word(24))}} differs from the pool's links`;
      }
    }
  }

  // Free blocks well-formed, and page coverage: walk every free list in memory.
  const cov = new Uint8Array(nr); // order + 1 of the free block covering a page
  const freeHead = new Uint8Array(nr); // order + 1 for free block heads
  let inRangeFree = 0;
  let extFree = 0;
  const extCount = v.extPfn.filter((p) => p >= 0).length;
  // Only free_area[0..max_order] (mainline) or [0..max_order) (v5.13) are
  // initialised; the others must stay empty.
  const nLists = Math.min(L.inclusiveMaxOrder ? pool.maxOrder + 1 : pool.maxOrder, L.nrFreeAreas);
  for (let k = 0; k < L.nrFreeAreas; k++) {
    const h = v.headBase + k;
    if (k >= nLists) {
      if (v.next[h] !== h) {
        return `free_area[${k}] is used but never initialised (max_order ${pool.maxOrder})`;
      }
      continue;
    }
    const headVa = v.nodeVa(h);
    let cur = pool.onMachine ? ptr(headVa) : v.nodeVa(v.next[h]!);
    if (!pool.onMachine && v.next[h] === h) cur = headVa;
    let prevVa = headVa;
    let id = v.next[h]!;
    let steps = 0;
    while (cur !== headVa) {
      if (++steps > nr + extCount + 1) return `free_area[${k}] never returns to its head`;
      if (id === h || cur !== v.nodeVa(id)) {
        return `free_area[${k}] entry ${steps} is node ${hex(cur)}, the pool expected ${
          id === h ? "the end of the list" : hex(v.nodeVa(id))
        }`;
      }
      const nextVa = ptr(cur);
      const backVa = ptr(cur + 8);
      if (backVa !== prevVa) {
        return `free_area[${k}]: node ${hex(cur)} has prev ${hex(backVa)}, expected ${hex(prevVa)}`;
      }
      if (id < nr) {
        const where = `free block ${pa(id)} (order ${k})`;
        if (v.ord[id] !== k) return `${where} sits on free_area[${k}] with order ${v.ord[id]}`;
        if (k > pool.maxAllocOrder) {
          return `${where}: order ${k} is not allowed (max_order ${pool.maxOrder})`;
        }
        if ((pool.pfn + id) % (1 << k) !== 0) {
          return `${where} is not aligned to ${hex(PAGE_SIZE << k)}`;
        }
        if (id + (1 << k) > nr) return `${where} runs past the pool's end ${hex(pool.rangeEnd)}`;
        // Buddies at or above range_end are refused, so a block of order > 0
        // ends there; in v5.13 and 6.1 the page at range_end may still join
        // its buddy below (no 'external' check), so one page further.
        const limit = v.rangeEndId + (L.attachSkipsOutOfRange ? 0 : 1);
        if (k > 0 && id + (1 << k) > limit) {
          return `${where} reaches past range_end ${hex(pool.kernelRangeEnd)}: ` +
            `__find_buddy_nocheck() never returns a buddy there`;
        }
        if (v.ref[id] !== 0) return `${where} has refcount ${v.ref[id]}, expected 0`;
        for (let t = 0; t < 1 << k; t++) {
          if (cov[id + t] !== 0) return `${where} overlaps another free block at ${pa(id + t)}`;
          cov[id + t] = k + 1;
          if (t > 0 && (v.ord[id + t] !== NO || v.ref[id + t] !== 0)) {
            return `tail page ${pa(id + t)} of ${where} has order ${v.ord[id + t]} refcount ${
              v.ref[id + t]
            }, expected HYP_NO_ORDER and 0`;
          }
        }
        freeHead[id] = k + 1;
        inRangeFree += 1 << k;
      } else if (id >= v.extBase) {
        const pfn = v.extPfn[id - v.extBase]!;
        const at = pool.vmemmap + pfn * esz;
        const rc = mem.read16(at);
        const order = ow === 2 ? mem.read16(at + 2) : mem.read8(at + 2);
        if (rc !== 0 || order !== k) {
          return `external free page ${
            hex(pfn * PAGE_SIZE)
          } on free_area[${k}] has refcount ${rc} ` +
            `order ${order}, expected 0 and ${k}`;
        }
        extFree += 1 << k;
      } else {
        return `free_area[${k}] links to another list head`;
      }
      prevVa = cur;
      cur = nextVa;
      id = v.next[id]!;
    }
    if (id !== h) return `free_area[${k}] ends in memory before the pool's list does`;
    if (pool.onMachine && ptr(headVa + 8) !== prevVa) {
      return `free_area[${k}] head prev is ${hex(ptr(headVa + 8))}, expected ${hex(prevVa)}`;
    }
  }
  if (inRangeFree + extFree !== v.free) {
    return `free lists hold ${inRangeFree + extFree} pages, the pool counts ${v.free}`;
  }

  // Pages not on a free list are allocated blocks (head + tails)
  // or reserved pages.
  for (let i = 0; i < nr;) {
    if (cov[i] !== 0) {
      i++;
      continue;
    }
    const o = v.ord[i]!;
    if (o === NO) return `page ${pa(i)} is HYP_NO_ORDER but belongs to no block (orphan tail)`;
    if (v.ref[i] === 0 && !(v513 && i < pool.reservedPages && o === 0)) {
      return `page ${pa(i)} (order ${o}) is on no free list but has refcount 0 (leaked)`;
    }
    if (v.ref[i] === 0 && v513 && v.next[i] !== i) {
      return `reserved page ${pa(i)} is linked into a list`;
    }
    const n = 1 << o;
    if ((pool.pfn + i) % n !== 0 || i + n > nr) {
      return `allocated block ${pa(i)} of order ${o} is misaligned or runs past the range`;
    }
    for (let t = 1; t < n; t++) {
      if (cov[i + t] !== 0) return `allocated block ${pa(i)} (order ${o}) overlaps a free block`;
      if (v.ord[i + t] !== NO || v.ref[i + t] !== 0) {
        return `tail page ${pa(i + t)} of allocated block ${pa(i)} (order ${o}) has order ${
          v.ord[i + t]
        } refcount ${v.ref[i + t]}, expected HYP_NO_ORDER and 0`;
      }
    }
    i += n;
  }

  // No two free buddies below the coalescing limit.
  for (let i = 0; i < nr; i++) {
    const k = freeHead[i]! - 1;
    if (k < 0 || k >= v.capOrder) continue;
    const low = (pool.pfn % 4096) + i;
    const b = i + ((low ^ (1 << k)) - low);
    if (b > i && b < v.rangeEndId && freeHead[b] === k + 1) {
      return `free buddies ${pa(i)} and ${pa(b)} of order ${k} were not merged`;
    }
  }

  // Free memory is zero (but the mainline list node).
  if (options.contents !== false) {
    const skip = v513 ? 0 : 16;
    const checkBlock = (va: number, k: number, where: string): string | undefined => {
      const size = PAGE_SIZE << k;
      if (isZero(mem, va + skip, size - skip)) return undefined;
      for (let t = 0; t < 1 << k; t++) {
        const from = t === 0 ? skip : 0;
        if (!isZero(mem, va + t * PAGE_SIZE + from, PAGE_SIZE - from)) {
          return `free block ${where} (order ${k}): page ${t} holds non-zero bytes (use after free?)`;
        }
      }
      return undefined;
    };
    for (let i = 0; i < nr; i++) {
      const k = freeHead[i]! - 1;
      if (k < 0) continue;
      const bad = checkBlock(v.physToVirt(pool.rangeStart + i * PAGE_SIZE), k, pa(i));
      if (bad !== undefined) return bad;
    }
    for (let k = 0; k < L.nrFreeAreas; k++) {
      const h = v.headBase + k;
      for (let id = v.next[h]!; id !== h; id = v.next[id]!) {
        if (id < v.extBase) continue;
        const p = v.extPfn[id - v.extBase]! * PAGE_SIZE;
        const bad = checkBlock(v.physToVirt(p), k, hex(p));
        if (bad !== undefined) return bad;
      }
    }
  }
  return undefined;
}

/** Whether `[va, va + size)` is zero: a word scan over a bulk read when the accessor has one. */
function isZero(mem: El2Memory, va: number, size: number): boolean {
  if (mem.readBytes === undefined || size % 4 !== 0) return mem.isZero(va, size);
  const b = mem.readBytes(va, size);
  if (b.byteOffset % 4 !== 0) return mem.isZero(va, size);
  const words = new Uint32Array(b.buffer, b.byteOffset, size / 4);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  return true;
}
