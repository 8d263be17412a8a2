// hyp_pool_init's 32-bit `nr_pages << PAGE_SHIFT` from 2^20 pages: range_end
// and max_order come from the wrapped value, buddies at or above range_end
// are refused, and (6.12, 7.2) the pages there are external and never
// coalesce. Checked against the naive reference page by page, in every
// release, on pools of 2^20 + k pages whose pages live in granule memory.

import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  KernelBugError,
  linearEl2Memory,
  PAGE_SIZE,
  PhysicalMemory,
  Prng,
} from "../../../core/mod.ts";
import {
  buddyPageAllocator,
  type BuddyPool,
  type BuddyVersion,
  checkHypPoolSize,
  hypPageLayout,
  hypPoolMaxOrder,
  hypPoolWrap,
} from "../../../plugins/buddy_allocator/mod.ts";
import { type GranuleMemory, splitMemory } from "./_granule_memory.ts";
import { lists, toPa, toVa } from "./_fixture.ts";
import { ReferencePool } from "./_reference_pool.ts";

const VERSIONS: BuddyVersion[] = ["v5.13", "v6.1", "v6.12", "v7.2"];
const TWO20 = 2 ** 20;
/** The vmemmap lives far above the pools' pages, in page-backed RAM. */
const VMEMMAP_PA = 0x3_0000_0000;

function wrapPool(
  version: BuddyVersion,
  pfn: number,
  nr: number,
  reserved: number,
): { pool: BuddyPool; mem: GranuleMemory } {
  const ram = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 34 }]);
  const lo = toVa(pfn * PAGE_SIZE);
  const mem = splitMemory(linearEl2Memory(ram, toPa), lo, lo + nr * PAGE_SIZE);
  const esz = hypPageLayout(version).size;
  const pool = buddyPageAllocator({ version }).createPool({
    name: "hpool",
    pfn,
    nrPages: nr,
    reservedPages: reserved,
    memory: mem,
    vmemmap: toVa(VMEMMAP_PA) - pfn * esz,
    physToVirt: toVa,
    virtToPhys: toPa,
    poolVa: toVa(0x2_f000_0000),
  });
  return { pool, mem };
}

Deno.test("max_order and range_end come from the wrapped shift (get_order(0) is 52)", () => {
  // 2^20 + 5 pages: 5 pages survive the shift.
  assertEquals(VERSIONS.map((v) => hypPoolMaxOrder(v, TWO20 + 5)), [3, 3, 3, 3]);
  // 2^20: v5.13 and 6.12/7.2 shift to 0 (get_order(0) = 52, capped); 6.1
  // shifts nr_pages + 1, one page: max_order 0.
  assertEquals(VERSIONS.map((v) => hypPoolMaxOrder(v, TWO20)), [11, 0, 10, 10]);
  assertEquals(VERSIONS.map((v) => hypPoolMaxOrder(v, TWO20 - 1)), [11, 11, 10, 10]);
  const w = hypPoolWrap("v6.1", 3 * TWO20 + 7)!;
  assertEquals([w.inRangePages, w.rangeEndOffset, w.above], [7, 7 * 4096, "no-buddies"]);
  assertEquals(hypPoolWrap("v7.2", TWO20 - 1), undefined);
});

for (const version of VERSIONS) {
  Deno.test(`a pool of 2^20 + 37 pages follows the reference page by page (${version})`, () => {
    const pfn = 0x40401; // odd: buddies by absolute pfn
    const nr = TWO20 + 37;
    const reserved = 3;
    const { pool, mem } = wrapPool(version, pfn, nr, reserved);
    const ref = new ReferencePool(version, pfn, nr, reserved);
    assertEquals(pool.kernelRangeEnd, (pfn + 37) * PAGE_SIZE);
    assertEquals(pool.rangeEnd, (pfn + nr) * PAGE_SIZE);
    assertEquals(pool.maxOrder, ref.maxOrder);
    assertEquals(lists(pool), ref.lists, "free lists after hyp_pool_init");
    assertEquals(pool.checkInvariants({ contents: false }), undefined);
    // Every page above range_end is an order-0 block (no buddy is accepted
    // there); only in v5.13 and 6.1 may the page at range_end have joined
    // its buddy below (here pfn + 37 is even: it did not).
    const above = pool.freeList(0).filter((pa) => pa >= pool.kernelRangeEnd).length;
    assertEquals(above, nr - 37);
    // A granule per free page (its 16-byte node) from 6.1 on; v5.13 keeps
    // the nodes in the vmemmap.
    if (version === "v5.13") assert(mem.granules < 100);
    else assert(mem.granules >= nr - 37);

    const prng = new Prng(0x3220);
    const held: { i: number; order: number }[] = [];
    const va = (i: number) => toVa((pfn + i) * PAGE_SIZE);
    for (let op = 0; op < 600; op++) {
      if (held.length === 0 || prng.int(3) !== 0) {
        const order = prng.int(pool.maxAllocOrder + 2);
        const got = pool.allocPages(order);
        const want = ref.alloc(order);
        assertEquals(
          got === null ? null : (got - va(0)) / PAGE_SIZE,
          want,
          `op ${op}: alloc(${order})`,
        );
        if (want !== null) {
          assert(mem.isZero(got!, PAGE_SIZE << order), `op ${op}: block not zeroed`);
          mem.write32(got!, 0xdead_beef); // the free path must zero it again
          held.push({ i: want, order });
        }
      } else {
        const [h] = held.splice(prng.int(held.length), 1);
        pool.putPage(va(h!.i));
        ref.put(h!.i);
      }
    }
    assertEquals(lists(pool), ref.lists, "free lists after 600 operations");
    assertEquals(pool.stats().free, ref.free());
    assertEquals(pool.checkInvariants({ contents: false }), undefined);
    // Two order-0 blocks above range_end that are buddies stay apart.
    const a = pool.allocPages(0)!;
    const b = pool.allocPages(0)!;
    pool.putPage(a);
    pool.putPage(b);
    assertEquals(pool.checkInvariants({ contents: false }), undefined);
    const node = version === "v5.13" ? 0 : 16;
    assert(mem.isZero(a + node, PAGE_SIZE - node) && mem.isZero(b + node, PAGE_SIZE - node));
  });
}

Deno.test("v5.13 and 6.1: the page at range_end joins its buddy below, and that block cannot be split (NULL buddy)", () => {
  for (const version of ["v5.13", "v6.1"] as const) {
    // range_end at page 37 of a pool starting at an even pfn + 1: page 37 has
    // an odd pfn, its order-0 buddy is page 36, free and order 0 at init.
    const pfn = 0x40400 + 1;
    const nr = TWO20 + 36;
    const ref = new ReferencePool(version, pfn, nr, 0);
    const { pool } = wrapPool(version, pfn, nr, 0);
    assertEquals(lists(pool), ref.lists);
    // The block holding range_end straddles it.
    const end = (pool.kernelRangeEnd - pool.rangeStart) / PAGE_SIZE;
    const straddling = [1, 2, 3].flatMap((o) =>
      pool.freeList(o).map((pa) => [(pa - pool.rangeStart) / PAGE_SIZE, o])
    ).find(([i, o]) => i! < end && i! + 2 ** o! > end);
    assert(straddling !== undefined, `${version}: no block straddles range_end`);
    assertEquals(pool.checkInvariants({ contents: false }), undefined);
  }
  // 6.12 and 7.2 never let it join.
  for (const version of ["v6.12", "v7.2"] as const) {
    const pfn = 0x40400 + 1;
    const { pool } = wrapPool(version, pfn, TWO20 + 36, 0);
    const end = (pool.kernelRangeEnd - pool.rangeStart) / PAGE_SIZE;
    for (let o = 1; o < 11; o++) {
      for (const pa of pool.freeList(o)) {
        assert((pa - pool.rangeStart) / PAGE_SIZE + 2 ** o <= end, `${version}: order ${o}`);
      }
    }
  }
});

Deno.test("splitting a block that straddles a wrapped range_end is the kernel's NULL dereference, and changes nothing", () => {
  // 6.1, range_end at page 3 of an even-pfn pool: (2^20 + 4) << 12 is 4
  // pages, max_order 2, so blocks stop at order 1. Pages 0-1 are one block;
  // page 2, and page 3 (above range_end, odd) which joins it when attached.
  const pfn = 0x40400;
  const nr = TWO20 + 3;
  const { pool } = wrapPool("v6.1", pfn, nr, 0);
  const ref = new ReferencePool("v6.1", pfn, nr, 0);
  assertEquals(lists(pool), ref.lists);
  assertEquals(pool.freeList(1), [pfn * PAGE_SIZE, (pfn + 2) * PAGE_SIZE]);
  assertEquals(pool.checkInvariants({ contents: false }), undefined);
  // Take the first order-1 block and every order-0 page.
  assertEquals(pool.allocPages(1), toVa(pfn * PAGE_SIZE));
  let n = 0;
  while (pool.stats().freeBlocksByOrder[0]! > 0) {
    pool.allocPages(0);
    n++;
  }
  assertEquals(n, nr - 4);
  // An order-0 allocation now splits [2, 4): its upper half, page 3, is at range_end.
  const before = pool.stats();
  const e = assertThrows(
    () => pool.allocPages(0),
    KernelBugError,
    "__find_buddy_nocheck() returns NULL",
  );
  assertMatch(e.message, /upper half 0x40403000 lies at or above range_end 0x40403000/);
  assertEquals(pool.stats(), before);
  // An order-1 allocation takes it whole.
  assertEquals(pool.allocPages(1), toVa((pfn + 2) * PAGE_SIZE));
});

Deno.test("6.1 and v5.13 at max_order 0 from the wrap: free_area[0] is never initialised (KernelBugError at init)", () => {
  // 6.1: (2^20 + 1) << 12 is one page: get_order 0.
  const e = assertThrows(() => wrapPool("v6.1", 0x40400, TWO20, 0), KernelBugError);
  assertMatch(e.message, /max_order is 0 \(nr_pages << PAGE_SHIFT wraps in 32 bits\)/);
  // v5.13: 2^20 + 1 pages shift to one page.
  assertThrows(() => wrapPool("v5.13", 0x40400, TWO20 + 1, 0), KernelBugError, "free_area[0]");
  // All reserved: nothing is attached, nothing breaks.
  assertEquals(wrapPool("v6.1", 0x40400, TWO20, TWO20).pool.stats().free, 0);
  // 6.12's inclusive max_order 0 initialises free_area[0]: every page is order 0.
  const { pool } = wrapPool("v6.12", 0x40400, TWO20 + 1, TWO20 - 8);
  assertEquals([pool.maxOrder, pool.stats().freeBlocksByOrder[0]], [0, 9]);
});

Deno.test("checkPool at step 1: the wrap in each release's words, and hyplab's own memory limit", () => {
  const q = { name: "hpool", pfn: 0x3fa3d800, nrPages: 2101772, reservedPages: 0 };
  const rangeEnd = (0x3fa3d800 + 4620) * PAGE_SIZE; // 0x3fa3ea0c000
  for (const version of VERSIONS) {
    const v = checkHypPoolSize(version, q)!;
    assert(
      v.warn!.startsWith(
        `the hyp pool "hpool" has 2101772 pages: hyp_pool_init's 32-bit nr_pages << PAGE_SHIFT ` +
          `wraps, range_end = 0x${rangeEnd.toString(16)} (4620 pages from range_start)`,
      ),
      v.warn,
    );
    assertMatch(
      v.warn!,
      version === "v6.12" || version === "v7.2"
        ? /the 2097152 pages above it: __hyp_attach_page treats them as external, so they never coalesce/
        : /__find_buddy_nocheck refuses buddies there, so they stay order 0/,
    );
    // v5.13 keeps list nodes in the vmemmap; later ones write 2 M pages.
    if (version === "v5.13") assertEquals(v.refuse, undefined);
    else assertMatch(v.refuse!, /2097152 free pages above range_end .* 8 GiB of host memory/);
  }
  assertEquals(checkHypPoolSize("v7.2", { ...q, nrPages: TWO20 - 1 }), undefined);
  assertMatch(checkHypPoolSize("v6.1", { ...q, nrPages: TWO20 })!.warn!, /dereferences NULL/);
  assertMatch(checkHypPoolSize("v6.1", { ...q, nrPages: 2 ** 32 })!.refuse!, /unsigned int/);
});
