/**
 * `HypPool.getPages`, the batched `hyp_get_page` table walkers use for a
 * run of entries in one page: it must leave the pool, its counters and the
 * memory (every refcount store) exactly as that many `getPage` calls, and
 * stop before the call that would fail.
 */
import { assertEquals, assertThrows } from "@std/assert";
import { KernelBugError, PAGE_SIZE, Prng } from "../../../core/mod.ts";
import type { BuddyVersion } from "../../../plugins/buddy_allocator/mod.ts";
import { makePool, snapshot } from "./_fixture.ts";

for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as BuddyVersion[]) {
  Deno.test(`getPages(va, n) is n getPage calls, stopping before a failing one (${version})`, () => {
    const a = makePool(version, { nrPages: 64 });
    const b = makePool(version, { nrPages: 64 });
    const vas = [0, 1, 2, 3].map(() => {
      const va = a.pool.allocPages(0)!;
      assertEquals(b.pool.allocPages(0), va);
      return va;
    });
    const prng = new Prng(7);
    for (let i = 0; i < 2000; i++) {
      const va = vas[prng.int(vas.length)]! + 8 * prng.int(512);
      const n = prng.int(40);
      const taken = a.pool.getPages!(va, n);
      assertEquals(taken, n);
      for (let k = 0; k < n; k++) b.pool.getPage(va);
      assertEquals(snapshot(a), snapshot(b));
    }
    assertEquals(a.pool.checkInvariants(), undefined);
  });
}

Deno.test("getPages stops at the u16 refcount's maximum, where getPage's BUG_ON fires (v7.2)", () => {
  const { pool } = makePool("v7.2", { nrPages: 8 });
  const va = pool.allocPages(0)!;
  assertEquals(pool.getPages!(va, 65_530), 65_530);
  assertEquals(pool.pageCount(va), 65_531);
  assertEquals(pool.getPages!(va, 10), 4);
  assertEquals(pool.pageCount(va), 65_535);
  assertEquals(pool.getPages!(va, 1), 0);
  assertThrows(() => pool.getPage(va), KernelBugError, "USHRT_MAX");
  assertEquals(pool.stats().gets, 65_534);
});

Deno.test("getPages takes nothing outside the pool: getPage decides (v5.13 BUG, mainline external)", () => {
  const old = makePool("v5.13", { nrPages: 8 });
  assertThrows(() => old.pool.getPages!(old.pool.rangeEnd + 0x10_0000, 3), KernelBugError);
  const ml = makePool("v7.2", { nrPages: 8 });
  assertEquals(ml.pool.getPages!(ml.pool.rangeEnd + PAGE_SIZE, 3), 0);
});
