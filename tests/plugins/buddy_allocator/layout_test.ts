/**
 * The bytes in simulated memory, read back with offsets written out by hand
 * from the kernel's structs (not from the plugin's layout constants).
 */
import { assertEquals, assertThrows } from "@std/assert";
import {
  KernelBugError,
  linearEl2Memory,
  PAGE_SIZE,
  PhysicalMemory,
  Prng,
} from "../../../core/mod.ts";
import { OFF_MACHINE_POOL_VA } from "../../../plugins/buddy_allocator/mod.ts";
import {
  makePool,
  POOL_STRUCT_PA,
  RAM_BASE,
  snapshot,
  toPa,
  toVa,
  VMEMMAP_PA,
} from "./_fixture.ts";

const PFN = 0x40400;
const POOL_VA = toVa(POOL_STRUCT_PA);
const head = (o: number) => POOL_VA + 8 + 16 * o; // &pool->free_area[o]
const page = (i: number) => (PFN + i) * PAGE_SIZE;

Deno.test("v5.13 vmemmap bytes: 32-byte hyp_page {u32 refcount, u32 order, pool, list node}", () => {
  const { mem, pool } = makePool("v5.13", { nrPages: 16 });
  const ent = (i: number) => VMEMMAP_PA + i * 32;
  const node = (i: number) => toVa(ent(i) + 16); // &hyp_vmemmap[pfn].node
  const u64 = (pa: number) => Number(mem.read64(pa));
  // Two order-3 blocks: free_area[3] = head -> page 0 -> page 8 -> head.
  assertEquals([mem.read32(ent(0)), mem.read32(ent(0) + 4)], [0, 3]);
  assertEquals(u64(ent(0) + 8), POOL_VA);
  assertEquals([u64(ent(0) + 16), u64(ent(0) + 24)], [node(8), head(3)]);
  assertEquals([u64(ent(8) + 16), u64(ent(8) + 24)], [head(3), node(0)]);
  // A tail: order UINT_MAX, node pointing at itself (INIT_LIST_HEAD), refcount 0.
  assertEquals([mem.read32(ent(1)), mem.read32(ent(1) + 4)], [0, 0xffff_ffff]);
  assertEquals([u64(ent(1) + 16), u64(ent(1) + 24)], [node(1), node(1)]);
  // struct hyp_pool: lock, free_area[], range_start, range_end, u32 max_order.
  assertEquals(mem.read32(POOL_STRUCT_PA), 0);
  assertEquals([u64(POOL_STRUCT_PA + 8 + 48), u64(POOL_STRUCT_PA + 8 + 56)], [node(0), node(8)]);
  assertEquals([u64(POOL_STRUCT_PA + 8), u64(POOL_STRUCT_PA + 16)], [head(0), head(0)]);
  assertEquals(u64(POOL_STRUCT_PA + 184), page(0));
  assertEquals(u64(POOL_STRUCT_PA + 192), page(16));
  assertEquals(mem.read32(POOL_STRUCT_PA + 200), 4);
  // free_area[4..10] are not initialised in v5.13 (i < max_order only).
  assertEquals(u64(POOL_STRUCT_PA + 8 + 4 * 16), 0);

  // alloc(0) takes page 0, appends 4, 2 and 1; page 0 is list_del_init'ed.
  const va = pool.allocPages(0)!;
  assertEquals([mem.read32(ent(0)), mem.read32(ent(0) + 4)], [1, 0]);
  assertEquals([u64(ent(0) + 16), u64(ent(0) + 24)], [node(0), node(0)]);
  assertEquals([mem.read32(ent(1) + 4), u64(ent(1) + 16), u64(ent(1) + 24)], [0, head(0), head(0)]);
  assertEquals([u64(POOL_STRUCT_PA + 8), u64(POOL_STRUCT_PA + 16)], [node(1), node(1)]);
  assertEquals([mem.read32(ent(4) + 4), u64(ent(4) + 16)], [2, head(2)]);
  assertEquals([u64(POOL_STRUCT_PA + 8 + 48), u64(POOL_STRUCT_PA + 8 + 56)], [node(8), node(8)]);
  // Free: page 0 coalesces back to order 3 and goes to the tail, behind 8.
  mem.write32(page(0) + 100, 7);
  pool.putPage(va);
  assertEquals(mem.read32(page(0) + 100), 0);
  assertEquals([mem.read32(ent(0)), mem.read32(ent(0) + 4)], [0, 3]);
  assertEquals([u64(ent(8) + 16), u64(ent(8) + 24)], [node(0), head(3)]);
  assertEquals([u64(ent(0) + 16), u64(ent(0) + 24)], [head(3), node(8)]);
  assertEquals([mem.read32(ent(1) + 4), u64(ent(1) + 16)], [0xffff_ffff, node(1)]);
  assertEquals([mem.read32(ent(4) + 4), u64(ent(4) + 16)], [0xffff_ffff, node(4)]);
  // Free pages hold no list node in v5.13: all zero.
  assertEquals(mem.readBytes(page(0), 16 * PAGE_SIZE).every((b) => b === 0), true);
});

Deno.test("mainline vmemmap bytes: 8-byte hyp_page {u16 refcount, u8 order, states, u32 count}; node in the free page", () => {
  const f = makePool("mainline", { nrPages: 16 });
  const { mem } = f;
  const ent = (i: number) => VMEMMAP_PA + i * 8;
  const u64 = (pa: number) => Number(mem.read64(pa));
  const nodeOf = (i: number) => toVa(page(i)); // the list node is the page itself
  // One order-4 block; free_area[0..4] initialised (i <= max_order).
  assertEquals([mem.read16(ent(0)), mem.read8(ent(0) + 2)], [0, 4]);
  assertEquals([mem.read16(ent(1)), mem.read8(ent(1) + 2)], [0, 0xff]);
  assertEquals([u64(page(0)), u64(page(0) + 8)], [head(4), head(4)]);
  assertEquals([u64(POOL_STRUCT_PA + 8 + 64), u64(POOL_STRUCT_PA + 8 + 72)], [
    nodeOf(0),
    nodeOf(0),
  ]);
  assertEquals([u64(POOL_STRUCT_PA + 8), u64(POOL_STRUCT_PA + 16)], [head(0), head(0)]);
  assertEquals(u64(POOL_STRUCT_PA + 8 + 5 * 16), 0); // free_area[5] untouched
  assertEquals([u64(POOL_STRUCT_PA + 184), u64(POOL_STRUCT_PA + 192)], [page(0), page(16)]);
  assertEquals(mem.read8(POOL_STRUCT_PA + 200), 4); // u8 max_order

  const va = f.pool.allocPages(0)!;
  // Page 0: refcount 1, order 0, its node cleared (memset(node, 0, 16)).
  assertEquals([mem.read16(ent(0)), mem.read8(ent(0) + 2)], [1, 0]);
  assertEquals(mem.readBytes(page(0), PAGE_SIZE).every((b) => b === 0), true);
  // Upper halves 8, 4, 2, 1 each head their list; their nodes are in the pages.
  for (const [i, o] of [[8, 3], [4, 2], [2, 1], [1, 0]]) {
    assertEquals(mem.read8(ent(i!) + 2), o);
    assertEquals([u64(page(i!)), u64(page(i!) + 8)], [head(o!), head(o!)]);
    assertEquals(u64(POOL_STRUCT_PA + 8 + 16 * o!), nodeOf(i!));
  }
  // Free with a dirty page: zeroed, merged back, node rewritten.
  mem.write64(page(0), 0xdead_beef_dead_beefn);
  mem.write32(page(0) + 4000, 1);
  f.pool.putPage(va);
  assertEquals([u64(page(0)), u64(page(0) + 8)], [head(4), head(4)]);
  assertEquals(mem.readBytes(page(0) + 16, 16 * PAGE_SIZE - 16).every((b) => b === 0), true);
  assertEquals(mem.read8(ent(8) + 2), 0xff);
  assertEquals(f.pool.checkInvariants(), undefined);
});

Deno.test("mainline keeps the host/hyp state byte and the share count of each hyp_page", () => {
  const { mem } = makePool("mainline", { nrPages: 1 }); // only to get memory
  mem.write8(VMEMMAP_PA + 5 * 8 + 3, 0x21);
  mem.write32(VMEMMAP_PA + 5 * 8 + 4, 7);
  const { pool } = makePool("mainline", { nrPages: 16, memory: mem });
  const va = pool.allocPages(0)!;
  for (let i = 0; i < 15; i++) pool.allocPages(0);
  pool.putPage(va); // free page 0, keep the rest (page 5 allocated)
  assertEquals(mem.read8(VMEMMAP_PA + 5 * 8 + 3), 0x21);
  assertEquals(mem.read32(VMEMMAP_PA + 5 * 8 + 4), 7);
  assertEquals(mem.read16(VMEMMAP_PA + 5 * 8), 1);
});

Deno.test("without poolVa, list heads are off-machine at OFF_MACHINE_POOL_VA", () => {
  const { mem, pool } = makePool("mainline", { nrPages: 16, onMachine: false });
  assertEquals(pool.onMachine, false);
  assertEquals(Number(mem.read64(page(0))), OFF_MACHINE_POOL_VA + 8 + 4 * 16);
  assertEquals(mem.read64(POOL_STRUCT_PA + 184), 0n); // nothing written there
  pool.putPage(pool.allocPages(2)!);
  assertEquals(pool.checkInvariants(), undefined);
});

Deno.test("v6.12 external pages are queued at their order, never coalesced", () => {
  const f = makePool("v6.12", { nrPages: 16 });
  const { mem, pool } = f;
  const ext = 64; // page index past the pool's 16 pages
  const ent = VMEMMAP_PA + ext * 4; // struct hyp_page is 4 bytes: u16 refcount, u16 order
  // What a caller like guest_s2_zalloc_page does: refcount 1, order 0.
  mem.write16(ent, 1);
  mem.write16(ent + 2, 0);
  mem.write32(page(ext) + 16, 0xabcd);
  pool.putPage(toVa(page(ext)));
  assertEquals(pool.freeList(0), [page(ext)]);
  assertEquals(mem.read16(ent), 0);
  assertEquals(mem.read32(page(ext) + 16), 0);
  assertEquals(Number(mem.read64(page(ext))), head(0));
  assertEquals(pool.stats().free, 17);
  assertEquals(pool.checkInvariants(), undefined);
  // The smallest non-empty order >= 0 is free_area[0]: the external page.
  assertEquals(pool.allocPages(0), toVa(page(ext)));
  assertEquals(mem.read16(ent), 1);
  assertEquals(pool.stats().free, 16);
  // An order-1 external page would need a split with a NULL buddy.
  const ext2 = 66;
  mem.write16(VMEMMAP_PA + ext2 * 4, 1);
  mem.write16(VMEMMAP_PA + ext2 * 4 + 2, 1);
  pool.putPage(toVa(page(ext2)));
  assertEquals(pool.freeList(1), [page(ext2)]);
  const before = snapshot(f);
  const e = assertThrows(() => pool.allocPages(0), KernelBugError, "NULL");
  assertEquals(e.fn, "__hyp_extract_page");
  assertEquals(snapshot(f), before);
  // At its own order it is handed out whole.
  assertEquals(pool.allocPages(1), toVa(page(ext2)));
});

Deno.test("v7.2 external pages are forced to order 0 (their order field is untrusted)", () => {
  const f = makePool("v7.2", { nrPages: 16 });
  const { mem, pool } = f;
  const ext = 66;
  const ent = VMEMMAP_PA + ext * 8;
  mem.write16(ent, 1);
  mem.write8(ent + 2, 1); // a stale order: 7.x __hyp_attach_page ignores it
  mem.write32(page(ext) + 4096 + 16, 0xabcd); // the next page: not part of an order-0 free
  pool.putPage(toVa(page(ext)));
  assertEquals(pool.freeList(0), [page(ext)]);
  assertEquals(pool.freeList(1), []);
  assertEquals(mem.read32(page(ext) + 4096 + 16), 0xabcd);
  assertEquals(pool.stats().free, 17);
  assertEquals(pool.allocPages(0), toVa(page(ext)));
});

for (const version of ["v5.13", "mainline"] as const) {
  Deno.test(`an accessor without bulk or direct access leaves the same bytes (${version})`, () => {
    const bulkMem = new PhysicalMemory([{ base: RAM_BASE, size: 64 * 2 ** 20 }]);
    const scalarMem = new PhysicalMemory([{ base: RAM_BASE, size: 64 * 2 ** 20 }]);
    if (version !== "v5.13") {
      // A host-state byte set: the scalar path then reads entry by entry.
      for (const m of [bulkMem, scalarMem]) m.write8(VMEMMAP_PA + 5 * 8 + 3, 0x21);
    }
    // The fixture's accessor has bulk and fused stores and range views (so
    // the pool stores entries straight into pinned vmemmap pages); this one
    // has none of them, so every store is a scalar call.
    const bulk = makePool(version, { pfn: 0x40401, nrPages: 300, reserved: 7, memory: bulkMem });
    const {
      readBytes: _r,
      writeBytes: _w,
      pageView: _v,
      rangeView: _rv,
      zeroThenWrite: _z,
      ...scalar
    } = linearEl2Memory(scalarMem, toPa);
    const plain = makePool(version, {
      pfn: 0x40401,
      nrPages: 300,
      reserved: 7,
      memory: scalarMem,
      el2: scalar,
    });
    assertEquals(scalarMem.digest(), bulk.mem.digest());
    // The same seeded operations on both, bytes compared as they go.
    const rngs = [new Prng(5), new Prng(5)];
    const held: number[][] = [[], []];
    for (let step = 0; step < 3000; step++) {
      [bulk, plain].forEach((f, k) => {
        const rng = rngs[k]!;
        const h = held[k]!;
        const op = rng.int(4);
        if (op < 2 || h.length === 0) {
          const va = f.pool.allocPages(rng.int(4));
          if (va !== null) h.push(va);
        } else if (op === 2) {
          const va = h[rng.int(h.length)]!;
          f.pool.getPage(va);
          h.push(va);
        } else {
          const i = rng.int(h.length);
          f.pool.putPage(h[i]!);
          h[i] = h[h.length - 1]!;
          h.pop();
        }
      });
      if (step % 500 === 499) {
        assertEquals(scalarMem.digest(), bulk.mem.digest(), `step ${step}`);
        assertEquals(plain.pool.checkInvariants(), undefined);
      }
    }
    assertEquals(bulk.pool.checkInvariants(), undefined);
  });
}
