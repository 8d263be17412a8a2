import { assertEquals } from "@std/assert";
import { Prng } from "../../../core/mod.ts";
import { RangeSet } from "../../../plugins/oracle/mod.ts";

Deno.test("RangeSet: refuses overlapping adds and partial removes, merges equal flags only", () => {
  const s = new RangeSet();
  assertEquals(s.add(0x1000n, 0x1000n), null);
  assertEquals(s.add(0x1800n, 0x1000n), "overlaps [0x1000-0x2000)");
  assertEquals(s.add(0x2000n, 0x1000n, 4), null);
  assertEquals(s.ranges().map((r) => [r.base, r.size, r.flags]), [[0x1000n, 0x1000n, 0], [
    0x2000n,
    0x1000n,
    4,
  ]]);
  assertEquals(s.remove(0x2800n, 0x1000n), "only 0x800 of its 0x1000 bytes are in the set");
  assertEquals(s.remove(0x1800n, 0x1000n), null);
  assertEquals(s.ranges().map((r) => [r.base, r.size, r.flags]), [[0x1000n, 0x800n, 0], [
    0x2800n,
    0x800n,
    4,
  ]]);
  assertEquals([s.covers(0x1000n, 0x800n), s.covers(0x1000n, 0x801n), s.overlaps(0x17ffn, 2n)], [
    true,
    false,
    true,
  ]);
  assertEquals([s.add(0x5000n, 0n), s.remove(0x9000n, 0n)], [null, null]);
});

Deno.test("property: RangeSet agrees with a page bitmap over thousands of operations", () => {
  const rng = new Prng(7);
  const pages = 512;
  const bits = new Uint8Array(pages);
  const s = new RangeSet();
  for (let op = 0; op < 20000; op++) {
    const at = rng.int(pages);
    const n = 1 + rng.int(Math.min(16, pages - at));
    const inSet = [...bits.subarray(at, at + n)];
    const base = BigInt(at) * 0x1000n;
    const size = BigInt(n) * 0x1000n;
    if (rng.int(2) === 0) {
      const ok = s.add(base, size) === null;
      assertEquals(ok, inSet.every((b) => !b), `op ${op}`);
      if (ok) bits.fill(1, at, at + n);
    } else {
      const ok = s.remove(base, size) === null;
      assertEquals(ok, inSet.every((b) => b === 1), `op ${op}`);
      if (ok) bits.fill(0, at, at + n);
    }
    if (op % 97 === 0) {
      const want: bigint[][] = [];
      for (let i = 0; i < pages;) {
        if (!bits[i]) {
          i++;
          continue;
        }
        let j = i;
        while (j < pages && bits[j]) j++;
        want.push([BigInt(i) * 0x1000n, BigInt(j - i) * 0x1000n]);
        i = j;
      }
      assertEquals(s.ranges().map((r) => [r.base, r.size]), want, `op ${op}`);
    }
  }
});
