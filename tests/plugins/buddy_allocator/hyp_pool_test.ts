import { assertEquals, assertThrows } from "@std/assert";
import { HyplabError, KernelBugError, PAGE_SIZE, Trace } from "../../../core/mod.ts";
import { type BuddyVersion, hypPoolMaxOrder } from "../../../plugins/buddy_allocator/mod.ts";
import { getOrder } from "../../../plugins/buddy_allocator/hyp_page_layout.ts";
import { lists, makePool, snapshot, toPa } from "./_fixture.ts";
import { ReferencePool } from "./_reference_pool.ts";

const PFN = 0x40400; // aligned to 1024 pages

/** Lists as [order, [pages...]] pairs for the non-empty ones, relative page indexes. */
function shape(l: number[][]): [number, number[]][] {
  return l.flatMap((pages, o) => pages.length ? [[o, pages] as [number, number[]]] : []);
}

Deno.test("get_order() and max_order follow the kernel per version", () => {
  assertEquals([getOrder(1), getOrder(4096), getOrder(8192), getOrder(8193)], [0, 0, 1, 2]);
  assertEquals(getOrder(2 ** 30), 18);
  // v5.13: min(MAX_ORDER = 11, get_order(nr << 12)); mainline: min(10, ...).
  assertEquals(hypPoolMaxOrder("v5.13", 1), 0);
  assertEquals(hypPoolMaxOrder("v5.13", 4), 2);
  assertEquals(hypPoolMaxOrder("v5.13", 5), 3);
  assertEquals(hypPoolMaxOrder("v5.13", 5199), 11);
  assertEquals(hypPoolMaxOrder("mainline", 5199), 10);
  assertEquals(hypPoolMaxOrder("mainline", 0), 10); // get_order(0) = 52
  const p = makePool("v5.13", { nrPages: 4 }).pool;
  assertEquals([p.maxOrder, p.maxAllocOrder], [2, 1]);
  const q = makePool("mainline", { nrPages: 4 }).pool;
  assertEquals([q.maxOrder, q.maxAllocOrder], [2, 2]);
});

Deno.test("hyp_alloc_pages() splits a higher-order block (mainline, 16 pages)", () => {
  const { pool } = makePool("mainline", { nrPages: 16 });
  // max_order = min(10, get_order(16 pages)) = 4: one order-4 block.
  assertEquals(shape(lists(pool)), [[4, [0]]]);
  // alloc(0): free_area[4] = [0]; split 0 keeping the lower half and
  // appending the upper halves 8 (order 3), 4 (2), 2 (1), 1 (0).
  const a0 = pool.allocPages(0)!;
  assertEquals(toPa(a0), PFN * PAGE_SIZE);
  assertEquals(shape(lists(pool)), [[0, [1]], [1, [2]], [2, [4]], [3, [8]]]);
  // alloc(0): first entry of free_area[0] is page 1.
  const a1 = pool.allocPages(0)!;
  assertEquals(toPa(a1), (PFN + 1) * PAGE_SIZE);
  // alloc(0): free_area[0] empty, take page 2 from free_area[1], append 3.
  const a2 = pool.allocPages(0)!;
  assertEquals(shape(lists(pool)), [[0, [3]], [2, [4]], [3, [8]]]);
  // alloc(1): free_area[2] = [4]: split, append 6 to free_area[1].
  const a4 = pool.allocPages(1)!;
  assertEquals(toPa(a4), (PFN + 4) * PAGE_SIZE);
  assertEquals(shape(lists(pool)), [[0, [3]], [1, [6]], [3, [8]]]);
  // put(1): buddy 0 is allocated, so 1 is appended to the TAIL: [3, 1].
  pool.putPage(a1);
  assertEquals(shape(lists(pool)), [[0, [3, 1]], [1, [6]], [3, [8]]]);
  // alloc(0) takes the FIRST entry, 3 — not the page just freed.
  const a3 = pool.allocPages(0)!;
  assertEquals(toPa(a3), (PFN + 3) * PAGE_SIZE);
  // put(0): buddy 1 is free at order 0 -> merge to [0,1] order 1; buddy 2 is
  // allocated -> stop, append to free_area[1] behind 6.
  pool.putPage(a0);
  assertEquals(shape(lists(pool)), [[1, [6, 0]], [3, [8]]]);
  // put(2): buddy 3 allocated -> free_area[0] = [2].
  pool.putPage(a2);
  assertEquals(shape(lists(pool)), [[0, [2]], [1, [6, 0]], [3, [8]]]);
  // put(3): merges with 2 (order 0), then with 0 (order 1) -> [0..3] order 2;
  // its order-2 buddy 4 is allocated (order 1) -> stop.
  pool.putPage(a3);
  assertEquals(shape(lists(pool)), [[1, [6]], [2, [0]], [3, [8]]]);
  // put(4) (order 1): merges 6, then 0 (order 2), then 8 (order 3): order 4.
  pool.putPage(a4);
  assertEquals(shape(lists(pool)), [[4, [0]]]);
  assertEquals(pool.checkInvariants(), undefined);
});

Deno.test("hyp_put_page() coalescing stops below max_order in v5.13 (16 pages, two order-3 blocks)", () => {
  const { pool } = makePool("v5.13", { nrPages: 16 });
  // v5.13: max_order = 4 but orders are < 4: the 16-page pool is two order-3 blocks.
  assertEquals(shape(lists(pool)), [[3, [0, 8]]]);
  const a0 = pool.allocPages(0)!; // splits 0: appends 4, 2, 1
  assertEquals(shape(lists(pool)), [[0, [1]], [1, [2]], [2, [4]], [3, [8]]]);
  pool.putPage(a0);
  // 0 merges back with 1, 2, 4 up to order 3, where (3 + 1) < 4 fails: it is
  // appended behind 8, so the order of the two blocks has swapped.
  assertEquals(shape(lists(pool)), [[3, [8, 0]]]);
  const next = pool.allocPages(3)!;
  assertEquals(toPa(next), (PFN + 8) * PAGE_SIZE);
  assertEquals(pool.allocPages(4), null); // no order 4 in this pool
  assertEquals(pool.checkInvariants(), undefined);
});

Deno.test("v5.13 power-of-two pool: 4 pages can only hold orders 0 and 1", () => {
  const v = makePool("v5.13", { nrPages: 4 }).pool;
  assertEquals(shape(lists(v)), [[1, [0, 2]]]);
  assertEquals(v.allocPages(2), null);
  assertEquals(v.stats().failedAllocs, 1);
  assertEquals(v.stats().free, 4);
  const m = makePool("mainline", { nrPages: 4 }).pool;
  assertEquals(shape(lists(m)), [[2, [0]]]);
  assertEquals(toPa(m.allocPages(2)!), PFN * PAGE_SIZE);
  // Five pages: v5.13 max_order = get_order(5 pages) = 3, so order 2 exists.
  const v5 = makePool("v5.13", { nrPages: 5 }).pool;
  assertEquals(shape(lists(v5)), [[0, [4]], [2, [0]]]);
});

for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as BuddyVersion[]) {
  Deno.test(`hyp_pool_init() keeps reserved pages out (${version})`, () => {
    const { pool } = makePool(version, { nrPages: 16, reserved: 3 });
    // Free pages 3..15 split greedily at absolute alignment: 3 (order 0),
    // 4..7 (order 2), 8..15 (order 3).
    assertEquals(shape(lists(pool)), [[0, [3]], [2, [4]], [3, [8]]]);
    const va0 = pool.rangeStart + 2 ** 47;
    // v5.13 memsets the vmemmap (refcount 0); mainline refcounts every page first.
    const expected = version === "v5.13" ? 0 : 1;
    for (let i = 0; i < 3; i++) assertEquals(pool.pageCount(va0 + i * PAGE_SIZE), expected);
    assertEquals(pool.stats().free, 13);
    assertEquals(pool.checkInvariants(), undefined);
    // Releasing the reserved pages (v5.13: a get first, to leave refcount 0
    // through a put) frees them into the pool, page 0 first.
    const release = (i: number) => {
      if (version === "v5.13") pool.getPage(va0 + i * PAGE_SIZE);
      pool.putPage(va0 + i * PAGE_SIZE);
    };
    release(0);
    assertEquals(shape(lists(pool)), [[0, [3, 0]], [2, [4]], [3, [8]]]);
    release(1); // merges with 0; its order-1 buddy 2 is still reserved
    assertEquals(shape(lists(pool)), [[0, [3]], [1, [0]], [2, [4]], [3, [8]]]);
    release(2); // 2+3 -> +0 -> +4 -> order 3 -> v5.13 stops, mainline merges 8 too
    assertEquals(
      shape(lists(pool)),
      version === "v5.13" ? [[3, [8, 0]]] : [[4, [0]]],
    );
    assertEquals(pool.checkInvariants(), undefined);
  });

  Deno.test(`hyp_pool_init() aligns blocks on the absolute pfn (${version})`, () => {
    // pfn 0x40403 is odd: page 0 stays order 0; 0x40404 is 4-aligned (not
    // 8): order 2 over pages 1..4; 0x40408 takes the last 8 pages at order 3.
    const { pool } = makePool(version, { pfn: 0x40403, nrPages: 13 });
    assertEquals(shape(lists(pool)), [[0, [0]], [2, [1]], [3, [5]]]);
    const a = pool.allocPages(3)!;
    assertEquals(toPa(a) % (PAGE_SIZE << 3), 0);
    assertEquals(pool.checkInvariants(), undefined);
  });

  Deno.test(`hyp_pool_init() leaves the state of the page-by-page kernel loop (${version})`, () => {
    // The pool computes the init state directly; the reference attaches
    // (v5.13) or puts (mainline) every free page one at a time.
    for (
      const [pfn, nr, reserved] of [
        [0x40400, 1024, 0],
        [0x40400, 1000, 17],
        [0x40401, 777, 0],
        [0x40577, 2048 + 3, 5],
        [0x40400, 3, 0],
        [0x40402, 2, 1],
        [0x40400, 0, 0],
        [0x40400, 5, 5],
      ] as const
    ) {
      const { pool } = makePool(version, { pfn, nrPages: nr, reserved });
      const ref = new ReferencePool(version, pfn, nr, reserved);
      assertEquals(lists(pool), ref.lists, `pfn ${pfn.toString(16)} nr ${nr} reserved ${reserved}`);
      assertEquals(pool.maxOrder, ref.maxOrder);
      assertEquals(pool.checkInvariants(), undefined);
    }
  });

  Deno.test(`hyp_alloc_pages() returns zeroed, aligned memory and leaves one upper half per split order (${version})`, () => {
    const f = makePool(version, { nrPages: 64 });
    const { pool, el2 } = f;
    const top = pool.maxAllocOrder;
    const before = pool.stats().freeBlocksByOrder;
    const va = pool.allocPages(0)!;
    const after = pool.stats().freeBlocksByOrder;
    // A split (__hyp_extract_page) leaves exactly one new block at each order below the one split.
    for (let o = 0; o < top; o++) assertEquals(after[o], before[o]! + 1, `order ${o}`);
    assertEquals(after[top], before[top]! - 1);
    // Dirty every page we own, free, reallocate: memory comes back zeroed.
    el2.write32(va, 0xdead_beef);
    el2.write32(va + 8, 0xdead_beef);
    el2.write32(va + 4092, 1);
    pool.putPage(va);
    assertEquals(pool.checkInvariants(), undefined);
    for (let o = 0; o <= top; o++) {
      const b = pool.allocPages(o)!;
      assertEquals(toPa(b) % (PAGE_SIZE << o), 0, `order ${o} alignment`);
      assertEquals(el2.isZero(b, PAGE_SIZE << o), true, `order ${o} zeroed`);
      el2.write8(b + (PAGE_SIZE << o) - 1, 0x5a);
      pool.putPage(b);
    }
    assertEquals(pool.checkInvariants(), undefined);
  });

  Deno.test(`hyp_alloc_pages() returns null past max_order or when empty, state unchanged (${version})`, () => {
    const f = makePool(version, { nrPages: 8 });
    const { pool, mem } = f;
    assertEquals(pool.allocPages(pool.maxAllocOrder + 1), null);
    assertEquals(pool.allocPages(200), null);
    const held: number[] = [];
    for (let v = pool.allocPages(0); v !== null; v = pool.allocPages(0)) held.push(v);
    assertEquals(held.length, 8);
    const digest = mem.digest();
    const s = pool.stats();
    assertEquals(pool.allocPages(0), null);
    assertEquals(mem.digest(), digest);
    assertEquals(pool.stats(), { ...s, failedAllocs: s.failedAllocs + 1 });
    for (const v of held) pool.putPage(v);
    assertEquals(pool.stats().free, 8);
    assertEquals(pool.checkInvariants(), undefined);
  });

  Deno.test(`hyp_get_page()/hyp_put_page() count references (${version})`, () => {
    const { pool } = makePool(version, { nrPages: 16 });
    const va = pool.allocPages(1)!;
    assertEquals(pool.pageCount(va), 1);
    pool.getPage(va);
    pool.getPage(va);
    assertEquals(pool.pageCount(va), 3);
    pool.putPage(va);
    pool.putPage(va);
    assertEquals(pool.pageCount(va), 1);
    assertEquals(pool.stats().free, 14);
    pool.putPage(va);
    assertEquals(pool.pageCount(va), 0);
    assertEquals(pool.stats().free, 16);
    const s = pool.stats();
    assertEquals([s.allocs, s.gets, s.puts, s.frees], [1, 2, 3, 2]);
    assertEquals(pool.checkInvariants(), undefined);
  });

  Deno.test(`alloc and free events are traced only when wanted (${version})`, () => {
    const trace = new Trace();
    const { pool } = makePool(version, { nrPages: 8, trace });
    const va = pool.allocPages(1)!;
    pool.putPage(va);
    assertEquals(trace.filter("alloc").map((e) => e.data), [
      { allocator: `buddy-${version}`, pool: "hpool", pa: "0x40400000", order: 1 },
    ]);
    assertEquals(trace.filter("free").map((e) => e.data), [
      { allocator: `buddy-${version}`, pool: "hpool", pa: "0x40400000", order: 1 },
    ]);
    const quiet = new Trace({ kinds: ["log"] });
    const q = makePool(version, { nrPages: 8, trace: quiet }).pool;
    q.putPage(q.allocPages(0)!);
    assertEquals(quiet.length, 0);
  });
}

Deno.test("hyp_split_page() makes order-0 pages with refcount 1 (mainline)", () => {
  const { pool } = makePool("mainline", { nrPages: 16 });
  const va = pool.allocPages(2)!;
  pool.splitPage!(va);
  for (let t = 0; t < 4; t++) assertEquals(pool.pageCount(va + t * PAGE_SIZE), 1);
  assertEquals(pool.checkInvariants(), undefined);
  // Each page is now freed on its own; they coalesce back as they come.
  pool.putPage(va + 3 * PAGE_SIZE);
  assertEquals(pool.freeList(0).map((pa) => pa - pool.rangeStart), [3 * PAGE_SIZE]);
  pool.putPage(va + 2 * PAGE_SIZE);
  assertEquals(pool.freeList(1).map((pa) => pa - pool.rangeStart), [2 * PAGE_SIZE]);
  pool.putPage(va);
  pool.putPage(va + PAGE_SIZE);
  assertEquals(shape(lists(pool)), [[4, [0]]]);
  assertEquals(pool.checkInvariants(), undefined);
  assertEquals(makePool("v5.13", { nrPages: 4 }).pool.splitPage, undefined);
});

Deno.test("createPool() rejects bad geometry with a clear error", () => {
  assertThrows(
    () => makePool("mainline", { nrPages: 4, reserved: 5 }),
    RangeError,
    "reserved_pages 5",
  );
  // nr_pages is an unsigned int; from 2^20 the 32-bit shift wraps (wrap_test.ts).
  assertThrows(() => makePool("mainline", { nrPages: 2 ** 32 }), RangeError, "unsigned int");
  assertThrows(() => makePool("v5.13", { nrPages: 1.5 }), RangeError);
  assertThrows(() => makePool("v5.13", { pfn: -1, nrPages: 4 }), RangeError, "pfn -1");
});

for (const version of ["v5.13", "mainline"] as const) {
  Deno.test(`hyp_pool_init again over the same vmemmap supersedes the last pool (${version})`, () => {
    const first = makePool(version, { nrPages: 64, reserved: 3 });
    const a = first.pool.allocPages(2)!;
    first.pool.allocPages(0);
    if (version === "mainline") {
      // Mainline refuses a vmemmap with refcounts: the last pool is untouched.
      const before = snapshot(first);
      assertThrows(
        () => makePool(version, { nrPages: 64, reserved: 3, memory: first.mem, el2: first.el2 }),
        KernelBugError,
        "refcount",
      );
      assertEquals(snapshot(first), before);
      assertEquals(first.pool.checkInvariants(), undefined);
      first.pool.putPage(a);
      first.el2.zero(first.vmemmap + 0x40400 * 8, 64 * 8); // as hyp_back_vmemmap leaves it
    }
    const again = makePool(version, {
      nrPages: 64,
      reserved: 3,
      memory: first.mem,
      el2: first.el2,
    });
    // The same state as a pool initialised over fresh memory.
    const fresh = makePool(version, { nrPages: 64, reserved: 3 });
    assertEquals(lists(again.pool), lists(fresh.pool));
    assertEquals(again.pool.stats(), fresh.pool.stats());
    assertEquals(again.pool.checkInvariants(), undefined);
    assertEquals(again.pool.allocPages(0), fresh.pool.allocPages(0));
    // The first pool's lists are no longer in memory: it refuses use, naming why.
    for (
      const use of [
        () => first.pool.allocPages(0),
        () => first.pool.putPage(a),
        () => first.pool.freeList(0),
      ]
    ) {
      assertThrows(use, HyplabError, `Cannot use pool "hpool": hyp_pool_init ran again`);
    }
    assertEquals(
      first.pool.checkInvariants(),
      `hyp_pool_init ran again over its vmemmap range (pool "hpool"), so its free lists are ` +
        `no longer what memory holds`,
    );
  });
}
