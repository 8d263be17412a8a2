import { assert, assertEquals, assertThrows } from "@std/assert";
import { KernelBugError, PAGE_SIZE, Prng, Trace } from "../../../core/mod.ts";
import type { BuddyVersion } from "../../../plugins/buddy_allocator/mod.ts";
import { lists, makePool, toVa } from "./_fixture.ts";
import { ReferencePool } from "./_reference_pool.ts";

const OPS = 100_000;
/** Invariants (structure) after every operation this long, contents for the first third. */
const EVERY_OP = 3000;
/** Then a full check every this many operations. */
const CADENCE = 97;

interface Held {
  i: number;
  order: number;
  refs: number;
}

for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as BuddyVersion[]) {
  Deno.test(`100,000 random alloc/get/put/split operations follow the kernel's lists (${version})`, () => {
    // An odd first pfn and reserved pages exercise absolute alignment and the
    // range/reserved edges; 300 pages give max_order 9.
    const pfn = 0x40403;
    const nr = 300;
    const reserved = 5;
    const trace = new Trace();
    trace.enabled = false;
    const f = makePool(version, { pfn, nrPages: nr, reserved, trace });
    const { pool, el2 } = f;
    const ref = new ReferencePool(version, pfn, nr, reserved);
    const prng = new Prng(version === "v5.13" ? 0x5130 : 0x6160);
    const held: Held[] = [];
    const reservedLeft = Array.from({ length: reserved }, (_, i) => i);
    const va = (i: number) => toVa((pfn + i) * PAGE_SIZE);
    const top = pool.maxAllocOrder;
    let bugs = 0;
    let splits = 0;
    let nulls = 0;

    const check = (op: number, contents: boolean) => {
      const bad = pool.checkInvariants({ contents });
      if (bad !== undefined) throw new Error(`after op ${op}: ${bad}`);
      assertEquals(lists(pool), ref.lists, `free lists after op ${op}`);
      assertEquals(pool.stats().free, ref.free(), `free pages after op ${op}`);
    };

    for (let op = 0; op < OPS; op++) {
      const r = prng.int(100);
      const freeShare = ref.free() / nr;
      const allocCut = freeShare > 0.5 ? 50 : 30;
      if (r < allocCut || held.length === 0) {
        // Mostly small orders, sometimes up to one past the top.
        const order = prng.int(8) === 0 ? prng.int(top + 2) : prng.int(4);
        const got = pool.allocPages(order);
        const want = ref.alloc(order);
        const gotIndex = got === null ? null : (got - va(0)) / PAGE_SIZE;
        assertEquals(gotIndex, want, `op ${op}: alloc(${order})`);
        if (got === null) {
          nulls++;
        } else {
          const size = PAGE_SIZE << order;
          if (op < EVERY_OP) assert(el2.isZero(got, size), `op ${op}: block not zeroed`);
          else assertEquals(el2.read32(got) | el2.read32(got + size - 4), 0, `op ${op}: dirty`);
          // Dirty it, node bytes included, so the free path must zero it.
          el2.write32(got, prng.nextU32() | 1);
          el2.write32(got + 8, prng.nextU32() | 1);
          el2.write32(got + size - 4, prng.nextU32() | 1);
          held.push({ i: want!, order, refs: 1 });
        }
      } else if (r < allocCut + 10) {
        const h = held[prng.int(held.length)]!;
        pool.getPage(va(h.i));
        ref.get(h.i);
        h.refs++;
      } else if (r < 92) {
        const k = prng.int(held.length);
        const h = held[k]!;
        pool.putPage(va(h.i));
        ref.put(h.i);
        if (--h.refs === 0) {
          held[k] = held[held.length - 1]!;
          held.pop();
        }
      } else if (r < 94 && version !== "v5.13") {
        // hyp_split_page: the block becomes 2^order independent pages.
        const k = prng.int(held.length);
        const h = held[k]!;
        pool.splitPage!(va(h.i));
        ref.split(h.i);
        held[k] = { i: h.i, order: 0, refs: h.refs };
        for (let t = 1; t < 1 << h.order; t++) held.push({ i: h.i + t, order: 0, refs: 1 });
        splits++;
      } else if (r < 96 && reservedLeft.length > 0) {
        // Release a reserved page (v5.13 keeps them at refcount 0: get first).
        const i = reservedLeft.pop()!;
        if (version === "v5.13") {
          pool.getPage(va(i));
          ref.get(i);
        }
        pool.putPage(va(i));
        ref.put(i);
      } else {
        // Misuse: put a free block head (refcount 0) - a double free.
        const free = ref.lists.flat();
        if (free.length > 0) {
          const i = free[prng.int(free.length)]!;
          const before = JSON.stringify(pool.stats());
          assertThrows(() => pool.putPage(va(i)), KernelBugError, "refcount is 0");
          assertEquals(JSON.stringify(pool.stats()), before, `op ${op}: refused put changed stats`);
          bugs++;
        }
      }
      if (op < EVERY_OP) check(op, op < EVERY_OP / 3);
      else if (op % CADENCE === 0) check(op, true);
    }
    // Everything back: the pool returns to its initial shape.
    for (const h of held) for (let n = 0; n < h.refs; n++) pool.putPage(va(h.i));
    for (const h of held) for (let n = 0; n < h.refs; n++) ref.put(h.i);
    check(OPS, true);
    assert(
      bugs > 100 && nulls > 100,
      `misuse ${bugs}, failed allocs ${nulls}: too few to mean much`,
    );
    if (version !== "v5.13") assert(splits > 100, `only ${splits} splits`);
    assertEquals(pool.stats().free, nr - reservedLeft.length);
  });
}
