/**
 * The per-page loops of `hyp_pool_init` (arch/arm64/kvm/hyp/nvhe/
 * page_alloc.c): the shadow's list links, the mainline vmemmap check, and
 * the vmemmap image each release leaves.
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
