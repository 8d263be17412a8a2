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
 * (hyp_pool_init expects them as hyp_back_vmemmap leaves them), read in
 * place through pinned page views; -1 when all are zero.
 *
 * @param vm Byte views of the vmemmap pages, from the first entry's page.
 * @param off0 Byte offset of entry 0 in `vm[0]`.
 * @param nr Entries.
 * @param esz Entry size (8 or 16 bytes, so an entry never straddles a page).
 * @param wide Whether the order is a u16 (6.1, 6.12) rather than a u8 (7.x).
 * @returns Index of the first bad entry, or -1.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { firstUsedEntry } from "./hyp_pool_init_image.ts";
 * const page = new Uint8Array(4096);
 * page[8 * 3 + 2] = 1; // entry 3: order 1
 * assertEquals(firstUsedEntry([page], 0, 8, 8, false), 3);
 * ```
 */
export function firstUsedEntry(
  vm: readonly Uint8Array[],
  off0: number,
  nr: number,
  esz: number,
  wide: boolean,
): number {
  let off = off0;
  for (let i = 0; i < nr; i++, off += esz) {
    const page = vm[off >>> 12]!;
    const b = off & 4095;
    const order = wide ? page[b + 2]! | page[b + 3]! : page[b + 2]!;
    if ((page[b]! | page[b + 1]! | order) !== 0) return i;
  }
  return -1;
}

/**
 * Mainline's vmemmap after hyp_pool_init, stored in place: refcount 1 for
 * the reserved pages (`hyp_set_page_refcounted`), and each page's order as
 * the attach loop leaves it (`HYP_NO_ORDER` for the pages merged into a
 * block). The other bytes stay as they were (zero: checked beforehand).
 *
 * @param vm Byte views of the vmemmap pages, from the first entry's page.
 * @param off0 Byte offset of entry 0 in `vm[0]`.
 * @param nr Entries.
 * @param reserved Reserved pages (the first ones).
 * @param ord Shadow orders (0xff: `HYP_NO_ORDER`).
 * @param esz Entry size (8 or 16 bytes).
 * @param noOrder `HYP_NO_ORDER` as the release stores it (0xff or 0xffff).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { storeMainlineEntries } from "./hyp_pool_init_image.ts";
 * const page = new Uint8Array(4096);
 * storeMainlineEntries([page], 0, 2, 1, new Uint8Array([1, 0xff]), 8, 0xff);
 * assertEquals([...page.subarray(0, 16)], [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0]);
 * ```
 */
export function storeMainlineEntries(
  vm: readonly Uint8Array[],
  off0: number,
  nr: number,
  reserved: number,
  ord: Uint8Array,
  esz: number,
  noOrder: number,
): void {
  let off = off0;
  const wide = esz !== 8;
  for (let i = 0; i < nr; i++, off += esz) {
    const page = vm[off >>> 12]!;
    const b = off & 4095;
    if (i < reserved) page[b] = 1;
    const s = ord[i]!;
    const o = s === NO ? noOrder : s;
    page[b + 2] = o & 0xff;
    if (wide) page[b + 3] = o >>> 8;
  }
}

/**
 * Mainline's vmemmap image after hyp_pool_init in a byte copy of the
 * vmemmap (when the accessor offers no page views), as
 * {@link storeMainlineEntries} stores it in place.
 *
 * @param img The vmemmap bytes, entry 0 at 0.
 * @param nr Entries.
 * @param reserved Reserved pages.
 * @param ord Shadow orders (0xff: `HYP_NO_ORDER`).
 * @param esz Entry size.
 * @param noOrder `HYP_NO_ORDER` as the release stores it.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { imageMainlineEntries } from "./hyp_pool_init_image.ts";
 * const img = new Uint8Array(32);
 * imageMainlineEntries(img, 2, 0, new Uint8Array([1, 0xff]), 16, 0xffff);
 * assertEquals([img[2], img[3], img[18], img[19]], [1, 0, 0xff, 0xff]);
 * ```
 */
export function imageMainlineEntries(
  img: Uint8Array,
  nr: number,
  reserved: number,
  ord: Uint8Array,
  esz: number,
  noOrder: number,
): void {
  const wide = esz !== 8;
  for (let i = 0; i < nr; i++) {
    const b = i * esz;
    if (i < reserved) img[b] = 1;
    const s = ord[i]!;
    const o = s === NO ? noOrder : s;
    img[b + 2] = o & 0xff;
    if (wide) img[b + 3] = o >>> 8;
  }
}

/**
 * v5.13's 32-byte `struct hyp_page` entries after hyp_pool_init, stored in
 * place as 8 little-endian words each: refcount 0, order (`HYP_NO_ORDER`
 * is 0xffffffff), `pool`, and the list node's `next` and `prev` hyp VAs
 * (a node on no list points at itself). At init every link is to a page
 * node or a `free_area[]` head.
 *
 * @param vm Word views of the vmemmap pages, from the first entry's page.
 * @param off0 Byte offset of entry 0 in `vm[0]` (a multiple of 32).
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
 * const page = new Uint32Array(1024);
 * // One page, free at order 0: free_area[0] (id 1) <-> page 0.
 * storeV513Entries([page], 0, 1, new Uint8Array([0]), new Int32Array([1]),
 *   new Int32Array([1]), 0x1010, 0x2008, 0x2000);
 * assertEquals([...page.subarray(0, 8)], [0, 0, 0x2000, 0, 0x2008, 0, 0x2008, 0]);
 * ```
 */
export function storeV513Entries(
  vm: readonly Uint32Array[],
  off0: number,
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
  let off = off0;
  for (let i = 0; i < nr; i++, off += 32) {
    const page = vm[off >>> 12]!;
    const b = (off & 4095) >>> 2;
    const o = ord[i]!;
    const ni = next[i]!;
    const pi = prev[i]!;
    const n = ni < nr ? nodeBase + ni * 32 : headVa + (ni - nr) * 16;
    const p = pi < nr ? nodeBase + pi * 32 : headVa + (pi - nr) * 16;
    page[b] = 0;
    page[b + 1] = o === NO ? 0xffff_ffff : o;
    page[b + 2] = poolLo;
    page[b + 3] = poolHi;
    // The high half of a VA below 2^53 is exact as (va / 2^32) >>> 0.
    page[b + 4] = n >>> 0;
    page[b + 5] = (n / 4294967296) >>> 0;
    page[b + 6] = p >>> 0;
    page[b + 7] = (p / 4294967296) >>> 0;
  }
}

/**
 * {@link storeV513Entries} into one word array (entry `i` at word `8i`),
 * for an accessor without page views.
 *
 * @param img The image, 8 words per entry.
 * @param nr Entries.
 * @param ord Shadow orders.
 * @param next Next links.
 * @param prev Prev links.
 * @param nodeBase Hyp VA of page 0's node.
 * @param headVa Hyp VA of `free_area[0]`.
 * @param poolVa Hyp VA of `struct hyp_pool`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { imageV513Entries } from "./hyp_pool_init_image.ts";
 * const img = new Uint32Array(8);
 * imageV513Entries(img, 1, new Uint8Array([0xff]), new Int32Array([0]),
 *   new Int32Array([0]), 0x1010, 0x2008, 0x2000);
 * assertEquals([...img], [0, 0xffff_ffff, 0x2000, 0, 0x1010, 0, 0x1010, 0]);
 * ```
 */
export function imageV513Entries(
  img: Uint32Array,
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
  for (let i = 0; i < nr; i++) {
    const b = i * 8;
    const o = ord[i]!;
    const ni = next[i]!;
    const pi = prev[i]!;
    const n = ni < nr ? nodeBase + ni * 32 : headVa + (ni - nr) * 16;
    const p = pi < nr ? nodeBase + pi * 32 : headVa + (pi - nr) * 16;
    img[b] = 0;
    img[b + 1] = o === NO ? 0xffff_ffff : o;
    img[b + 2] = poolLo;
    img[b + 3] = poolHi;
    img[b + 4] = n >>> 0;
    img[b + 5] = (n / 4294967296) >>> 0;
    img[b + 6] = p >>> 0;
    img[b + 7] = (p / 4294967296) >>> 0;
  }
}
