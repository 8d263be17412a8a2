// An El2Memory for pools too large for page-backed simulated memory: the
// first 16 bytes of every page are one dense array, other bytes are kept in
// 64-byte granules created on first write, so a pool of 2^20 free order-0
// pages (a wrapped hyp_pool_init), each with a 16-byte list node in its
// page, costs 16 bytes per page instead of 4 KiB. The hyp VA
// is used as the address (no translation): enough for the allocator, which
// only needs physToVirt/virtToPhys to agree with it.

import type { El2Memory } from "../../../core/mod.ts";

const G = 64;
/** Bytes at the start of each page kept densely (a list node is 16). */
const HEAD = 16;

/** The memory and its size on the host, for assertions. */
export interface GranuleMemory extends El2Memory {
  /** Granules and page heads that ever held a non-zero byte (heads stay counted). */
  readonly granules: number;
}

/**
 * A sparse byte store over `[lo, hi)`: reads outside it fault as an
 * unmapped VA would (a thrown Error), unwritten bytes read 0.
 *
 * @param lo First valid address.
 * @param hi One past the last.
 * @returns The memory.
 */
export function granuleMemory(lo: number, hi: number): GranuleMemory {
  // The first 16 bytes of each page (where a free page keeps its list node
  // from v5.14) live in one dense array; the other bytes in granules, index
  // -> 64 bytes, created on first non-zero write. Allocating a typed array
  // per free page is what made a 2^20-page pool slow.
  const pageBase = Math.floor(lo / 4096) * 4096;
  const nrPages = Math.ceil((hi - pageBase) / 4096);
  const heads = new Uint8Array(nrPages * HEAD);
  const headWords = new Uint32Array(heads.buffer);
  const headUsed = new Uint8Array(nrPages);
  let headCount = 0;
  const map = new Map<number, Uint8Array>();
  const check = (va: number, n: number) => {
    if (!(va >= lo && va + n <= hi)) {
      throw new Error(`granule memory: access to 0x${va.toString(16)}+${n} is outside`);
    }
  };
  /** Index into `heads` of a byte in a page head, or -1. */
  const headAt = (va: number): number => {
    const off = (va - pageBase) % 4096;
    return off < HEAD ? Math.floor((va - pageBase) / 4096) * HEAD + off : -1;
  };
  const get = (va: number): number => {
    const h = headAt(va);
    if (h >= 0) return heads[h]!;
    return map.get(Math.floor(va / G))?.[va % G] ?? 0;
  };
  const set = (va: number, v: number) => {
    const h = headAt(va);
    if (h >= 0) {
      if (v !== 0 && headUsed[Math.floor(h / HEAD)] === 0) {
        headUsed[Math.floor(h / HEAD)] = 1;
        headCount++;
      }
      heads[h] = v;
      return;
    }
    const k = Math.floor(va / G);
    let g = map.get(k);
    if (g === undefined) {
      if (v === 0) return;
      g = new Uint8Array(G);
      map.set(k, g);
    }
    g[va % G] = v;
  };
  const readN = (va: number, n: number): number => {
    check(va, n);
    const h = headAt(va);
    if (n === 4 && h >= 0 && h % 4 === 0) return headWords[h / 4]!;
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + get(va + i);
    return v;
  };
  const writeN = (va: number, n: number, v: number) => {
    check(va, n);
    const h = headAt(va);
    if (n === 4 && h >= 0 && h % 4 === 0) {
      const p = Math.floor(h / HEAD);
      if (v !== 0 && headUsed[p] === 0) {
        headUsed[p] = 1;
        headCount++;
      }
      headWords[h / 4] = v;
      return;
    }
    for (let i = 0; i < n; i++) {
      set(va + i, v % 256);
      v = Math.floor(v / 256);
    }
  };
  // Granules meeting [va, va + size), visited through the map when the
  // range is larger than the map (a zeroing of a whole pool).
  const eachGranule = (va: number, size: number, f: (k: number, g: Uint8Array) => void) => {
    const k0 = Math.floor(va / G);
    const k1 = Math.ceil((va + size) / G);
    if (k1 - k0 > map.size) {
      for (const [k, g] of [...map]) if (k >= k0 && k < k1) f(k, g);
    } else {
      for (let k = k0; k < k1; k++) {
        const g = map.get(k);
        if (g !== undefined) f(k, g);
      }
    }
  };
  // Page heads meeting [va, va + size): their index range in `heads`.
  const eachHead = (va: number, size: number, f: (from: number, to: number) => void) => {
    const p0 = Math.floor((va - pageBase) / 4096);
    const p1 = Math.ceil((va + size - pageBase) / 4096);
    for (let p = p0; p < p1; p++) {
      const from = Math.max(va, pageBase + p * 4096);
      const to = Math.min(va + size, pageBase + p * 4096 + HEAD);
      if (from < to) f(p * HEAD + from - pageBase - p * 4096, p * HEAD + to - pageBase - p * 4096);
    }
  };
  return {
    get granules() {
      return map.size + headCount;
    },
    read8: (va) => readN(va, 1),
    read16: (va) => readN(va, 2),
    read32: (va) => readN(va, 4),
    read64: (va) => BigInt(readN(va, 4)) | (BigInt(readN(va + 4, 4)) << 32n),
    write8: (va, v) => writeN(va, 1, v),
    write16: (va, v) => writeN(va, 2, v),
    write32: (va, v) => writeN(va, 4, v >>> 0),
    write64: (va, v) => {
      writeN(va, 4, Number(v & 0xffff_ffffn));
      writeN(va + 4, 4, Number((v >> 32n) & 0xffff_ffffn));
    },
    zero(va, size) {
      check(va, size);
      eachHead(va, size, (from, to) => heads.fill(0, from, to));
      eachGranule(va, size, (k, g) => {
        const from = Math.max(va, k * G) - k * G;
        const to = Math.min(va + size, (k + 1) * G) - k * G;
        g.fill(0, from, to);
        if (g.every((b) => b === 0)) map.delete(k);
      });
    },
    isZero(va, size) {
      check(va, size);
      let zero = true;
      eachHead(va, size, (from, to) => {
        for (let i = from; i < to && zero; i++) if (heads[i] !== 0) zero = false;
      });
      eachGranule(va, size, (k, g) => {
        const from = Math.max(va, k * G) - k * G;
        const to = Math.min(va + size, (k + 1) * G) - k * G;
        for (let i = from; i < to; i++) if (g[i] !== 0) zero = false;
      });
      return zero;
    },
  };
}

/**
 * `inner` everywhere but `[lo, hi)`, which goes to a granule memory: the
 * pool's pages of a huge pool, while its vmemmap stays in page-backed RAM.
 *
 * @param inner The accessor for everything else.
 * @param lo First VA of the pool's pages.
 * @param hi One past the last.
 * @returns The memory, with the granule part's size.
 */
export function splitMemory(inner: El2Memory, lo: number, hi: number): GranuleMemory {
  const pages = granuleMemory(lo, hi);
  const pick = (va: number, n: number): El2Memory => {
    if (va >= lo && va + n <= hi) return pages;
    if (va + n <= lo || va >= hi) return inner;
    throw new Error(`split memory: 0x${va.toString(16)}+${n} straddles the pool's pages`);
  };
  return {
    get granules() {
      return pages.granules;
    },
    read8: (va) => pick(va, 1).read8(va),
    read16: (va) => pick(va, 2).read16(va),
    read32: (va) => pick(va, 4).read32(va),
    read64: (va) => pick(va, 8).read64(va),
    write8: (va, v) => pick(va, 1).write8(va, v),
    write16: (va, v) => pick(va, 2).write16(va, v),
    write32: (va, v) => pick(va, 4).write32(va, v),
    write64: (va, v) => pick(va, 8).write64(va, v),
    zero: (va, n) => pick(va, n).zero(va, n),
    isZero: (va, n) => pick(va, n).isZero(va, n),
  };
}
