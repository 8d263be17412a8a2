/**
 * The per-page loops of `hyp_pool_init` (arch/arm64/kvm/hyp/nvhe/
 * page_alloc.c): the shadow's initial free lists, the mainline vmemmap
 * check, and the vmemmap image each release leaves.
 *
 * Each loop is a module function over typed arrays and numbers, and
 * nothing else. Inside the pool's constructor, V8 compiled such a loop on
 * stack replacement (OSR) while the code after it had not yet run; leaving
 * the loop then deoptimised ("insufficient type feedback"), and the next
 * pools ran it unoptimised again: a 1 GiB init took 5–30 ms for the first
 * few dozen pools instead of 2–3. A small function with the loop alone is
 * optimised whole on its second call and stays so.
 *
 * @module
 */

/** Shadow encoding of `HYP_NO_ORDER` in the order array. */
const NO = 0xff;

/**
 * v5.13's `INIT_LIST_HEAD(&p->node)` on the shadow: every page node of
 * `[0, nr)` links to itself (mainline keeps no node in the vmemmap: -1).
 *
 * @param next Next links.
 * @param prev Prev links.
 * @param nr Pages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { selfLinks } from "./hyp_pool_init_image.ts";
 * const next = new Int32Array(3);
 * const prev = new Int32Array(3);
 * selfLinks(next, prev, 3);
 * assertEquals([...next, ...prev], [0, 1, 2, 0, 1, 2]);
 * ```
 */
export function selfLinks(next: Int32Array, prev: Int32Array, nr: number): void {
  for (let i = 0; i < nr; i++) {
    next[i] = i;
    prev[i] = i;
  }
}

/** The pool's geometry and shadow arrays, for {@link buildInitialLists}. */
export interface InitialListsInput {
  /** Pages in the range. */
  readonly nr: number;
  /** Reserved pages (the first ones, never attached). */
  readonly reserved: number;
  /** First pfn (alignment of blocks is pfn alignment). */
  readonly pfn: number;
  /** Highest order a block coalesces to. */
  readonly capOrder: number;
  /** Page index of the kernel's `range_end`: buddies stop there. */
  readonly endId: number;
  /** v5.13 (nodes in the vmemmap, link to themselves when unlisted) or later (-1). */
  readonly v513: boolean;
  /** From 6.9 the pages at or above `range_end` are external: never coalesced. */
  readonly externalAboveEnd: boolean;
  /** Number of `free_area[]` heads; head k is node id `nr + k`. */
  readonly nrFreeAreas: number;
  /** Refcounts (zero on entry). */
  readonly ref: Uint32Array;
  /** Orders (zero on entry). */
  readonly ord: Uint8Array;
  /** Next links, filled here. */
  readonly next: Int32Array;
  /** Prev links, filled here. */
  readonly prev: Int32Array;
  /** Blocks per order, filled here (zero on entry). */
  readonly count: Int32Array;
}

/**
 * The free lists hyp_pool_init leaves, on the shadow, computed directly:
 * attaching pages reserved..nr-1 in address order, each coalescing as far
 * as it can, leaves the range split greedily into the largest aligned
 * blocks, each list sorted by address (tests check this against the
 * page-by-page loop). The pages at and above a wrapped `range_end` are
 * then attached one by one, as the kernel's loop does.
 *
 * @param g Geometry and the arrays to fill.
 * @returns The non-empty-order mask and the free pages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildInitialLists } from "./hyp_pool_init_image.ts";
 * const nr = 6;
 * const g = {
 *   nr, reserved: 0, pfn: 0, capOrder: 10, endId: nr, v513: false, externalAboveEnd: false,
 *   nrFreeAreas: 11, ref: new Uint32Array(nr), ord: new Uint8Array(nr),
 *   next: new Int32Array(nr + 11), prev: new Int32Array(nr + 11), count: new Int32Array(11),
 * };
 * assertEquals(buildInitialLists(g), { nonEmpty: 0b110, free: 6 }); // [0, 4) and [4, 6)
 * assertEquals([g.ord[0], g.ord[4]], [2, 1]);
 * ```
 */
export function buildInitialLists(g: InitialListsInput): { nonEmpty: number; free: number } {
  const { nr, reserved: r, ord, next, prev } = g;
  const acc = { nonEmpty: 0, free: 0 };
  if (!g.v513) g.ref.fill(1, 0, r);
  ord.fill(NO, r, nr);
  if (g.v513) {
    selfLinks(next, prev, nr);
  } else {
    next.fill(-1, 0, nr);
    prev.fill(-1, 0, nr);
  }
  for (let k = 0; k < g.nrFreeAreas; k++) {
    next[nr + k] = nr + k;
    prev[nr + k] = nr + k;
  }
  // Buddies stop at range_end: the pool's pages below a wrapped one.
  const end = g.endId;
  let p = r;
  while (p < end) {
    const pfn = g.pfn + p;
    let o = g.capOrder;
    while (o > 0 && (pfn % (1 << o) !== 0 || p + (1 << o) > end)) o--;
    ord[p] = o;
    shadowAppend(g, acc, p, o);
    p += 1 << o;
  }
  for (let i = Math.max(r, end); i < nr; i++) shadowAttachAboveEnd(g, acc, i);
  return acc;
}

/** list_add_tail on the shadow only (hyp_pool_init's image is written afterwards). */
function shadowAppend(
  g: InitialListsInput,
  acc: { nonEmpty: number; free: number },
  id: number,
  o: number,
): void {
  const { next, prev } = g;
  const h = g.nr + o;
  const last = prev[h]!;
  next[id] = h;
  prev[id] = last;
  next[last] = id;
  prev[h] = id;
  g.count[o]!++;
  acc.nonEmpty |= 1 << o;
  acc.free += 1 << o;
}

/**
 * __hyp_attach_page, on the shadow, for an order-0 page at or above a
 * wrapped `range_end` during hyp_pool_init: from 6.9 an external page
 * (never coalesced); in v5.13 and 6.1 it coalesces with free buddies that
 * __find_buddy_nocheck accepts (below `range_end`), as any page does.
 */
function shadowAttachAboveEnd(
  g: InitialListsInput,
  acc: { nonEmpty: number; free: number },
  id: number,
): void {
  const { ord, next, prev } = g;
  ord[id] = 0;
  if (g.externalAboveEnd) return shadowAppend(g, acc, id, 0);
  let head = id;
  let o = 0;
  ord[id] = NO;
  const lowBits = g.pfn % 4096;
  while (o < g.capOrder) {
    const low = lowBits + head;
    const b = head + ((low ^ (1 << o)) - low);
    if (b < 0 || b >= g.endId || ord[b] !== o) break;
    if (g.v513 ? next[b] === b : g.ref[b] !== 0) break;
    // Take the buddy off its list (list_del_init / page_remove_from_list).
    const n = next[b]!;
    const pv = prev[b]!;
    next[pv] = n;
    prev[n] = pv;
    const self = g.v513 ? b : -1;
    next[b] = self;
    prev[b] = self;
    if (--g.count[o]! === 0) acc.nonEmpty &= ~(1 << o);
    acc.free -= 1 << o;
    ord[b] = NO;
    head = head < b ? head : b;
    o++;
  }
  ord[head] = o;
  shadowAppend(g, acc, head, o);
}

/**
 * The first mainline vmemmap entry whose refcount or order is not zero
 * (hyp_pool_init expects them as hyp_back_vmemmap leaves them); -1 when
 * all are zero.
 *
 * @param vm The vmemmap bytes (a pinned view).
 * @param off0 Byte offset of entry 0 in `vm`.
 * @param nr Entries.
 * @param esz Entry size (8 or 16 bytes).
 * @param wide Whether the order is a u16 (6.1, 6.12) rather than a u8 (7.x).
 * @returns Index of the first bad entry, or -1.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { firstUsedEntry } from "./hyp_pool_init_image.ts";
 * const vm = new Uint8Array(4096);
 * vm[8 * 3 + 2] = 1; // entry 3: order 1
 * assertEquals(firstUsedEntry(vm, 0, 8, 8, false), 3);
 * ```
 */
export function firstUsedEntry(
  vm: Uint8Array,
  off0: number,
  nr: number,
  esz: number,
  wide: boolean,
): number {
  let b = off0;
  for (let i = 0; i < nr; i++, b += esz) {
    const order = wide ? vm[b + 2]! | vm[b + 3]! : vm[b + 2]!;
    if ((vm[b]! | vm[b + 1]! | order) !== 0) return i;
  }
  return -1;
}

/**
 * Mainline's vmemmap after hyp_pool_init: refcount 1 for the reserved
 * pages (`hyp_set_page_refcounted`), and each page's order as the attach
 * loop leaves it (`HYP_NO_ORDER` for the pages merged into a block). The
 * other bytes stay as they were (zero: checked beforehand).
 *
 * @param vm The vmemmap bytes (a pinned view, or a copy to write back).
 * @param off0 Byte offset of entry 0 in `vm`.
 * @param nr Entries.
 * @param reserved Reserved pages (the first ones).
 * @param ord Shadow orders (0xff: `HYP_NO_ORDER`).
 * @param esz Entry size (8 or 16 bytes).
 * @param noOrder `HYP_NO_ORDER` as the release stores it (0xff or 0xffff).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { storeMainlineEntries } from "./hyp_pool_init_image.ts";
 * const vm = new Uint8Array(16);
 * storeMainlineEntries(vm, 0, 2, 1, new Uint8Array([1, 0xff]), 8, 0xff);
 * assertEquals([...vm], [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0]);
 * ```
 */
export function storeMainlineEntries(
  vm: Uint8Array,
  off0: number,
  nr: number,
  reserved: number,
  ord: Uint8Array,
  esz: number,
  noOrder: number,
): void {
  const wide = esz !== 8;
  let b = off0;
  for (let i = 0; i < nr; i++, b += esz) {
    if (i < reserved) vm[b] = 1;
    const s = ord[i]!;
    const o = s === NO ? noOrder : s;
    vm[b + 2] = o & 0xff;
    if (wide) vm[b + 3] = o >>> 8;
  }
}

/**
 * v5.13's 32-byte `struct hyp_page` entries after hyp_pool_init, as 8
 * little-endian words each: refcount 0, order (`HYP_NO_ORDER` is
 * 0xffffffff), `pool`, and the list node's `next` and `prev` hyp VAs (a
 * node on no list points at itself). At init every link is to a page node
 * or a `free_area[]` head.
 *
 * @param vm The vmemmap words (a pinned view, or an image to write).
 * @param w0 Word index of entry 0 in `vm`.
 * @param nr Entries.
 * @param ord Shadow orders (0xff: `HYP_NO_ORDER`).
 * @param next Next links (ids: pages below `nr`, then the heads).
 * @param prev Prev links.
 * @param nodeBase Hyp VA of page 0's node.
 * @param headVa Hyp VA of `free_area[0]`.
 * @param poolVa Hyp VA of `struct hyp_pool`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { storeV513Entries } from "./hyp_pool_init_image.ts";
 * const vm = new Uint32Array(16);
 * // Two pages: page 0 free at order 1 (free_area[1] is id 3), page 1 a tail.
 * storeV513Entries(vm, 0, 2, new Uint8Array([1, 0xff]), new Int32Array([3, 1]),
 *   new Int32Array([3, 1]), 0x1010, 0x2008, 0x2000);
 * assertEquals([...vm.subarray(0, 8)], [0, 1, 0x2000, 0, 0x2018, 0, 0x2018, 0]);
 * assertEquals([...vm.subarray(8)], [0, 0xffff_ffff, 0x2000, 0, 0x1030, 0, 0x1030, 0]);
 * ```
 */
export function storeV513Entries(
  vm: Uint32Array,
  w0: number,
  nr: number,
  ord: Uint8Array,
  next: Int32Array,
  prev: Int32Array,
  nodeBase: number,
  headVa: number,
  poolVa: number,
): void {
  const poolLo = poolVa >>> 0;
  const poolHi = (poolVa / 4294967296) >>> 0;
  let b = w0;
  for (let i = 0; i < nr; i++, b += 8) {
    const o = ord[i]!;
    const ni = next[i]!;
    const pi = prev[i]!;
    const n = ni < nr ? nodeBase + ni * 32 : headVa + (ni - nr) * 16;
    const p = pi < nr ? nodeBase + pi * 32 : headVa + (pi - nr) * 16;
    vm[b] = 0;
    vm[b + 1] = o === NO ? 0xffff_ffff : o;
    vm[b + 2] = poolLo;
    vm[b + 3] = poolHi;
    // The high half of a VA below 2^53 is exact as (va / 2^32) >>> 0.
    vm[b + 4] = n >>> 0;
    vm[b + 5] = (n / 4294967296) >>> 0;
    vm[b + 6] = p >>> 0;
    vm[b + 7] = (p / 4294967296) >>> 0;
  }
}
