import { assertEquals } from "@std/assert";
import { Prng } from "../../../core/mod.ts";
import { PageIndex } from "../../../plugins/tlb/page_index.ts";

Deno.test("PageIndex agrees with a Map over 30,000 random set/swap/delete/get/clear steps (dense runs, far pages, three classes), and keeps at most one empty bucket", () => {
  const prng = new Prng(41);
  const x = new PageIndex(1);
  const ref = new Map<string, number>();
  const live: [number, number][] = [];
  let nextId = 0;
  const pick = (): [number, number] => {
    if (live.length > 0 && prng.float() < 0.5) return live[prng.int(live.length)]!;
    const cls = prng.float() < 0.8 ? 0 : prng.int(3);
    // Runs of neighbours (shared buckets, bucket edges), numbers past 2^32
    // (the low bits through ToInt32) and far ones up to a 52-bit VA's.
    const r = prng.float();
    const vpn = r < 0.6
      ? 0x7_fff8_0000 + prng.int(300)
      : r < 0.8
      ? 2 ** 32 - 100 + prng.int(200)
      : Math.floor(prng.float() * 2 ** 40);
    return [cls, vpn];
  };
  // Nothing but what the Map holds: every number of the two dense ranges.
  const sweep = () => {
    for (let cls = 0; cls < 3; cls++) {
      for (const [from, n] of [[0x7_fff8_0000 - 64, 428], [2 ** 32 - 164, 328]]) {
        for (let v = from!; v < from! + n!; v++) {
          assertEquals(x.get(cls, v), ref.get(`${cls}:${v}`) ?? -1, `sweep ${cls}:${v}`);
        }
      }
    }
  };
  for (let i = 0; i < 30000; i++) {
    const [cls, vpn] = pick();
    const key = `${cls}:${vpn}`;
    const op = prng.int(10);
    if (op < 4) {
      const id = nextId++ % 2 ** 20;
      if (!ref.has(key)) {
        x.set(cls, vpn, id);
        live.push([cls, vpn]);
      } else {
        // A replacement: swap hands back the id it replaces.
        assertEquals(x.swap(cls, vpn, id), ref.get(key), `swap ${key} at step ${i}`);
      }
      ref.set(key, id);
    } else if (op === 9 && prng.float() < 0.5) {
      // swap into an empty slot is a set.
      const want = ref.get(key);
      const id = nextId++ % 2 ** 20;
      assertEquals(x.swap(cls, vpn, id), want ?? -1, `swap ${key} at step ${i}`);
      if (want === undefined) live.push([cls, vpn]);
      ref.set(key, id);
    } else if (op < 7) {
      const want = ref.get(key);
      assertEquals(x.delete(cls, vpn), want ?? -1, `delete ${key} at step ${i}`);
      if (want !== undefined) {
        ref.delete(key);
        const at = live.findIndex(([c, v]) => c === cls && v === vpn);
        live[at] = live[live.length - 1]!;
        live.pop();
      }
    } else if (op < 9 || prng.float() < 0.99) {
      assertEquals(x.get(cls, vpn), ref.get(key) ?? -1, `get ${key} at step ${i}`);
    } else {
      x.clear();
      ref.clear();
      live.length = 0;
    }
    if (i % 100 === 0) sweep();
    const buckets = new Set(live.map(([c, v]) => `${c}:${Math.floor(v / 64)}`)).size;
    const n = x.buckets;
    if (n !== buckets && n !== buckets + 1) {
      throw new Error(`step ${i}: ${n} buckets for ${buckets} in use`);
    }
  }
  for (const [k, id] of ref) {
    const [c, v] = k.split(":").map(Number);
    assertEquals(x.get(c!, v!), id);
  }
  sweep();
});

Deno.test("PageIndex past one block of buckets: 5000 lone numbers and 20,000 dense ones, half removed, cleared and filled again, against a Map", () => {
  const prng = new Prng(43);
  const x = new PageIndex(1);
  for (let round = 0; round < 2; round++) {
    const ref = new Map<number, number>();
    // 5000 lone numbers (a bucket each: more than the 1024 of a block).
    for (let i = 0; i < 5000; i++) ref.set(Math.floor(prng.float() * 2 ** 36) * 64 + 5, i);
    for (let i = 0; i < 20000; i++) ref.set(0x7_fff8_0000 + i, 5000 + i);
    for (const [v, id] of ref) x.set(0, v, id);
    for (const [v, id] of ref) assertEquals(x.get(0, v), id);
    let n = 0;
    for (const v of [...ref.keys()]) {
      if (n++ % 2 === 0) {
        assertEquals(x.delete(0, v), ref.get(v));
        ref.delete(v);
      }
    }
    for (const [v, id] of ref) assertEquals(x.get(0, v), id);
    for (let i = 0; i < 20000; i++) {
      assertEquals(x.get(0, 0x7_fff8_0000 + i), ref.get(0x7_fff8_0000 + i) ?? -1);
    }
    x.clear();
    assertEquals(x.buckets, 0);
    for (const v of ref.keys()) assertEquals(x.get(0, v), -1);
  }
});
