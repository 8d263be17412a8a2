import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  KernelBugError,
  linearEl2Memory,
  PAGE_SIZE,
  PhysicalMemory,
  Prng,
  Trace,
} from "../../../core/mod.ts";
import { bitmapPageAllocator, type BitmapPool } from "../../../plugins/bitmap_allocator/mod.ts";

const HYP_OFF = 2 ** 47;
const RECORDS_PA = 0x4000_0000;
const toVa = (pa: number) => pa + HYP_OFF;
const toPa = (va: number) => va - HYP_OFF;

function makePool(pfn: number, nrPages: number, reserved = 0, trace?: Trace) {
  const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 256 * 2 ** 20 }]);
  const el2 = linearEl2Memory(mem, toPa);
  const pool = bitmapPageAllocator().createPool({
    name: "hpool",
    pfn,
    nrPages,
    reservedPages: reserved,
    memory: el2,
    vmemmap: toVa(RECORDS_PA) - pfn * 4,
    physToVirt: toVa,
    virtToPhys: toPa,
    ...(trace ? { trace } : {}),
  });
  return { mem, el2, pool };
}

const idx = (pool: BitmapPool, va: number | null) =>
  va === null ? null : (toPa(va) - pool.rangeStart) / PAGE_SIZE;

Deno.test("BitmapPool allocates the lowest free block aligned to its size", () => {
  // Pages 0..12 are pfns 0x40403..0x4040f.
  const { pool } = makePool(0x40403, 13);
  assertEquals(idx(pool, pool.allocPages(1)), 1); // pfn 0x40404: the first even pair
  assertEquals(idx(pool, pool.allocPages(0)), 0); // 0x40403
  assertEquals(idx(pool, pool.allocPages(2)), 5); // 0x40408; 0x40404 is taken
  assertEquals(idx(pool, pool.allocPages(0)), 3); // 0x40406
  assertEquals(idx(pool, pool.allocPages(3)), null); // 0x40408 taken, 0x40410 outside
  // Free: 0x40407 (order 0) and 0x4040c..0x4040f (order 2).
  assertEquals(pool.stats().freeBlocksByOrder.slice(0, 3), [1, 0, 1]);
  assertEquals(pool.checkInvariants(), undefined);
});

Deno.test("BitmapPool keeps a 4-byte {u16 refcount, u8 order, u8 0} record per page", () => {
  const { mem, pool } = makePool(0x40400, 16, 2);
  const rec = (i: number) => [mem.read16(RECORDS_PA + i * 4), mem.read8(RECORDS_PA + i * 4 + 2)];
  assertEquals(rec(0), [1, 0]); // reserved: allocated order-0 pages
  assertEquals(rec(2), [0, 0xff]);
  const va = pool.allocPages(2)!;
  assertEquals(idx(pool, va), 4);
  assertEquals([rec(4), rec(5)], [[1, 2], [0, 0xff]]);
  pool.getPage(va);
  assertEquals(rec(4), [2, 2]);
  mem.write32(toPa(va) + 3 * PAGE_SIZE + 100, 9);
  pool.putPage(va);
  pool.putPage(va);
  assertEquals(rec(4), [0, 0xff]);
  assertEquals(mem.read32(toPa(va) + 3 * PAGE_SIZE + 100), 0);
  pool.putPage(toVa(pool.rangeStart)); // reserved page 0 is freed
  assertEquals(pool.stats().free, 15);
  assertEquals(pool.checkInvariants(), undefined);
});

Deno.test("BitmapPool refuses misuse and changes nothing", () => {
  const { mem, pool } = makePool(0x40400, 16);
  const va = pool.allocPages(1)!;
  const snap = () => JSON.stringify([mem.digest(), pool.stats()]);
  const before = snap();
  const refused = (fn: string, text: string, f: () => unknown) => {
    const e = assertThrows(f, KernelBugError, text);
    assertEquals(e.fn, fn);
    assertEquals(snap(), before);
  };
  refused("hyp_put_page", "refcount is 0", () => pool.putPage(va + PAGE_SIZE)); // tail
  refused("hyp_put_page", "refcount is 0", () => pool.putPage(va + 4 * PAGE_SIZE)); // free
  refused("hyp_get_page", "does not head", () => pool.getPage(va + PAGE_SIZE));
  refused("hyp_get_page", "outside pool", () => pool.getPage(toVa(pool.rangeEnd)));
  refused("hyp_split_page", "does not head", () => pool.splitPage(va + 4 * PAGE_SIZE));
  assertThrows(() => pool.allocPages(-2), RangeError);
  assertEquals(pool.allocPages(11), null);
  for (let i = 1; i < 0xffff; i++) pool.getPage(va);
  const e = assertThrows(() => pool.getPage(va), KernelBugError, "the maximum");
  assertEquals(e.fn, "hyp_get_page");
  assertEquals(pool.pageCount(va), 0xffff);
});

Deno.test("BitmapPool splitPage gives order-0 pages with refcount 1", () => {
  const { pool } = makePool(0x40400, 16);
  const va = pool.allocPages(2)!;
  pool.splitPage(va);
  for (let t = 0; t < 4; t++) assertEquals(pool.pageCount(va + t * PAGE_SIZE), 1);
  assertEquals(pool.checkInvariants(), undefined);
  for (let t = 0; t < 4; t++) pool.putPage(va + t * PAGE_SIZE);
  assertEquals(pool.stats().freeBlocksByOrder.slice(0, 5), [0, 0, 0, 0, 1]);
});

Deno.test("BitmapPool traces alloc and free", () => {
  const trace = new Trace();
  const { pool } = makePool(0x40400, 16, 0, trace);
  pool.putPage(pool.allocPages(3)!);
  assertEquals(trace.filter("alloc")[0]!.data, {
    allocator: "bitmap",
    pool: "hpool",
    pa: "0x40400000",
    order: 3,
  });
  assertEquals(trace.filter("free").length, 1);
});

Deno.test("BitmapPool follows a naive first-fit model over 30,000 random operations", () => {
  const pfn = 0x40403;
  const nr = 1700; // spans two 1024-page summary groups
  const { el2, pool } = makePool(pfn, nr, 7);
  const free = new Array<boolean>(nr).fill(true).fill(false, 0, 7);
  const model = (order: number): number | null => {
    const n = 1 << order;
    for (let i = 0; i + n <= nr; i++) {
      if ((pfn + i) % n !== 0) continue;
      let ok = true;
      for (let t = 0; t < n && ok; t++) ok = free[i + t]!;
      if (ok) return i;
    }
    return null;
  };
  const prng = new Prng(0xb17);
  const held: { i: number; order: number }[] = [];
  for (let op = 0; op < 30_000; op++) {
    if (held.length === 0 || prng.int(100) < 52) {
      const order = prng.int(9) === 0 ? prng.int(12) : prng.int(4);
      const got = idx(pool, pool.allocPages(order));
      const want = order > 10 ? null : model(order);
      assertEquals(got, want, `op ${op}: alloc(${order})`);
      if (want !== null) {
        const va = toVa(pool.rangeStart + want * PAGE_SIZE);
        if (op < 2000) assert(el2.isZero(va, PAGE_SIZE << order));
        el2.write8(va + 5, 0xaa);
        for (let t = 0; t < 1 << order; t++) free[want + t] = false;
        held.push({ i: want, order });
      }
    } else {
      const k = prng.int(held.length);
      const h = held[k]!;
      held[k] = held[held.length - 1]!;
      held.pop();
      pool.putPage(toVa(pool.rangeStart + h.i * PAGE_SIZE));
      for (let t = 0; t < 1 << h.order; t++) free[h.i + t] = true;
    }
    if (op < 1500 || op % 101 === 0) {
      const bad = pool.checkInvariants({ contents: op < 150 || op % 3030 === 0 });
      if (bad !== undefined) throw new Error(`after op ${op}: ${bad}`);
    }
  }
  assertEquals(pool.stats().free, free.filter((x) => x).length);
});

Deno.test("BitmapPool leaves the same bytes through an accessor without bulk reads/writes", () => {
  const bulk = makePool(0x40401, 200, 3);
  const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 256 * 2 ** 20 }]);
  const { readBytes: _r, writeBytes: _w, ...scalar } = linearEl2Memory(mem, toPa);
  const plain = bitmapPageAllocator().createPool({
    name: "hpool",
    pfn: 0x40401,
    nrPages: 200,
    reservedPages: 3,
    memory: scalar,
    vmemmap: toVa(RECORDS_PA) - 0x40401 * 4,
    physToVirt: toVa,
    virtToPhys: toPa,
  });
  for (const pool of [bulk.pool, plain]) {
    const held = [0, 1, 2, 3].map((o) => pool.allocPages(o)!);
    pool.putPage(held[2]!);
    assertEquals(pool.checkInvariants(), undefined);
  }
  assertEquals(mem.digest(), bulk.mem.digest());
});

Deno.test("BitmapPool created again over the same records supersedes the last pool", () => {
  const { mem, el2, pool: first } = makePool(0x40403, 300, 5);
  const a = first.allocPages(3)!;
  first.allocPages(0);
  const again = bitmapPageAllocator().createPool({
    name: "again",
    pfn: 0x40403,
    nrPages: 300,
    reservedPages: 5,
    memory: el2,
    vmemmap: toVa(RECORDS_PA) - 0x40403 * 4,
    physToVirt: toVa,
    virtToPhys: toPa,
  });
  // The same state as a pool created over fresh memory, records included.
  const fresh = makePool(0x40403, 300, 5);
  assertEquals(again.stats(), fresh.pool.stats());
  assertEquals(mem.readBytes(RECORDS_PA, 1200), fresh.mem.readBytes(RECORDS_PA, 1200));
  assertEquals(again.checkInvariants(), undefined);
  assertEquals(idx(again, again.allocPages(2)), idx(fresh.pool, fresh.pool.allocPages(2)));
  const why = `a pool was created again over its records (pool "again"), so its bitmaps are ` +
    `no longer what memory holds`;
  assertThrows(() => first.putPage(a), Error, `Cannot use pool "hpool": ${why}`);
  assertThrows(() => first.allocPages(0), Error, why);
  assertEquals(first.checkInvariants(), why);
});
