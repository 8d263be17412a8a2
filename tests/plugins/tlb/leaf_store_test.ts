import { assertEquals, assertStrictEquals } from "@std/assert";
import { Cpu, Prng, type TlbEntry, Trace } from "../../../core/mod.ts";
import { LeafStore } from "../../../plugins/tlb/leaf_store.ts";
import { TlbModel } from "../../../plugins/tlb/mod.ts";

const SIZES = [4096, 2 ** 21, 2 ** 30];

interface Ref {
  va: number;
  cls: number;
  pa: number;
  base: number;
  lo: number;
  hi: number;
  id: number;
}

Deno.test("LeafStore agrees with a Map over thousands of random put/remove/find/clear, through growth, id reuse and wrap-around", () => {
  const prng = new Prng(11);
  const s = new LeafStore(4);
  // Key: VA / size × 4 + class, as the store keys them.
  const ref = new Map<number, Ref>();
  const keyOf = (va: number, cls: number) => (va / SIZES[cls]!) * 4 + cls;
  const pick = () => {
    const cls = prng.float() < 0.8 ? 0 : prng.float() < 0.7 ? 1 : 2;
    const size = SIZES[cls]!;
    // Clustered hyp-like VAs (probe runs, backward shifts) and some up to 2^48.
    const va = prng.float() < 0.7
      ? Math.floor((0x7fff_8000_0000 + prng.int(600) * 4096) / size) * size
      : Math.floor((prng.float() * 2 ** 48) / size) * size;
    return { cls, va };
  };
  const findRef = (va: number): Ref | undefined => {
    for (let cls = 0; cls < 3; cls++) {
      const r = ref.get(keyOf(Math.floor(va / SIZES[cls]!) * SIZES[cls]!, cls));
      if (r !== undefined) return r;
    }
    return undefined;
  };
  for (let i = 0; i < 30000; i++) {
    const op = prng.int(10);
    const known = ref.size > 0 && prng.float() < 0.6;
    const { cls, va } = known ? [...ref.values()][prng.int(ref.size)]! : pick();
    const probe = va + prng.int(SIZES[cls]!);
    if (op < 4) {
      const pa = Math.floor((0x4000_0000 + prng.int(1 << 20) * 4096) / SIZES[cls]!) *
        SIZES[cls]!;
      const base = 0x4000_0000 + prng.int(3) * 4096;
      const lo = prng.nextU32();
      const hi = prng.nextU32() & 0xffff;
      const id = s.put(va, cls, pa, base, lo, hi, (3 - cls) << 2);
      ref.set(keyOf(va, cls), { va, cls, pa, base, lo, hi, id });
    } else if (op < 6) {
      const level = prng.int(4); // 0: every size, else only that level's
      let n = 0;
      for (let c = 0; c < 3; c++) {
        if (level !== 0 && level !== 3 - c) continue;
        const k = keyOf(Math.floor(probe / SIZES[c]!) * SIZES[c]!, c);
        if (ref.delete(k)) n++;
      }
      assertEquals(s.remove(probe, level), n, `remove ${probe} level ${level} at step ${i}`);
    } else if (op < 9) {
      const r = findRef(probe);
      const id = s.find(probe);
      assertEquals(id, r === undefined ? -1 : r.id, `find ${probe} at step ${i}`);
      if (r !== undefined) {
        const c = s.chunk(id);
        const j = id & 16383;
        assertEquals(probe + c.f[j * 6 + 1]!, r.pa + (probe - r.va));
        assertEquals([s.bases[c.u[j * 12 + 6]!], c.u[j * 12 + 7], c.u[j * 12 + 8]], [
          r.base,
          r.lo,
          r.hi,
        ]);
        const e = s.entryAt(id);
        assertStrictEquals(s.entryAt(id), e, "the same object every time");
        assertEquals([e.va, e.size, e.pa, e.base], [r.va, SIZES[r.cls], r.pa, r.base]);
      }
    } else if (prng.float() < 0.05) {
      assertEquals(s.clear(), ref.size);
      ref.clear();
    }
    assertEquals(s.size, ref.size);
    assertEquals(
      [...s.counts],
      [0, 1, 2].map((c) => [...ref.values()].filter((r) => r.cls === c).length),
    );
  }
  assertEquals(
    s.ids().sort((a, b) => a - b),
    [...ref.values()].map((r) => r.id).sort((a, b) => a - b),
  );
  for (const r of ref.values()) assertEquals(s.live(r.id), true);
});

Deno.test("TlbModel: entries filled from numbers and from objects keep their identity through lookup, entries and fillsSince, and come back whole when filled again", () => {
  const t = new TlbModel("adversarial", new Trace());
  const cpu = new Cpu(0);
  const mark = t.fillMark(cpu);
  const id = t.fillLeaf(
    cpu,
    0x1000,
    4096,
    0x4100_0000,
    3,
    0x4000_0000,
    0x41000743,
    0,
    0x300,
    7,
    9,
    false,
  );
  const plain: TlbEntry = {
    regime: "EL2",
    base: 0x4000_0000,
    va: 0x20_0000,
    size: 2 ** 21,
    pa: 0x4020_0000,
    level: 2,
    pte: 0x40200741n,
    speculative: false,
  };
  t.fill(cpu, plain);
  const e = t.lookup(cpu, 0x1234)!;
  assertEquals([e.va, e.pa, e.level, e.pte, e.base], [
    0x1000,
    0x4100_0000,
    3,
    0x41000743n,
    0x4000_0000,
  ]);
  assertStrictEquals(t.peek(cpu, 0x1fff), e);
  assertStrictEquals(t.lookup(cpu, 0x20_1000), plain);
  const since = t.fillsSince(cpu, mark)!;
  assertStrictEquals(since[0], e);
  assertStrictEquals(since[1], plain);
  assertEquals(t.entries(cpu).map((x) => x === e || x === plain), [true, true]);
  // The MMU's words (re-verification state) ride on the object: remove the
  // entry, fill the object back, and they are there again.
  const l = t.leaves(cpu)!;
  l.chunk(id).f[(id & 16383) * 6 + 2] = 42;
  l.chunk(id).chain[id & 16383] = [1, 2, 3];
  assertStrictEquals(t.peek(cpu, 0x1000), e); // refreshes the words it carries
  assertEquals(t.invalidate(cpu, "vae2", 0x1000), 1);
  assertStrictEquals(t.fillsSince(cpu, mark)![0], e, "a removed entry's object, from the log");
  t.fill(cpu, e);
  const id2 = t.peekId(cpu, 0x1000);
  assertStrictEquals(t.peek(cpu, 0x1000), e);
  const c2 = l.chunk(id2);
  const j2 = id2 & 16383;
  assertEquals([c2.f[j2 * 6 + 2], c2.u[j2 * 12 + 10], c2.chain[j2], c2.u[j2 * 12 + 9]! & 0xff00], [
    42,
    9,
    [1, 2, 3],
    0x300,
  ]);
  assertEquals(t.stats(), { hits: 2, misses: 0, fills: 3, invalidated: 1, stale: 0 });
});

Deno.test("fillsSince: the log keeps the 1024 fills after the latest mark, whatever came before it, and no further", () => {
  const t = new TlbModel("adversarial", new Trace());
  const cpu = new Cpu(0);
  const fill = (i: number) =>
    t.fillLeaf(cpu, i * 4096, 4096, 0x4000_0000, 3, 0x4000_0000, 0x4000_0743, 0, 0, 0, 1, false);
  for (let i = 0; i < 5000; i++) fill(i); // no mark: the log stops after 1024
  assertEquals(t.fillsSince(cpu, 4000), undefined);
  const mark = t.fillMark(cpu);
  assertEquals(t.fillsSince(cpu, mark), []);
  for (let i = 0; i < 1024; i++) fill(10000 + i);
  assertEquals(
    t.fillsSince(cpu, mark)!.map((e) => e.va / 4096),
    [...Array(1024).keys()].map((i) => 10000 + i),
  );
  assertEquals(t.fillsSince(cpu, mark - 1), undefined, "before the mark: not logged");
  fill(20000);
  assertEquals(t.fillsSince(cpu, mark), undefined, "1025 fills later: past the log");
  // A later mark while the log still runs keeps it going from the earlier one.
  const m2 = t.fillMark(cpu);
  fill(20001);
  const m3 = t.fillMark(cpu);
  for (let i = 0; i < 1000; i++) fill(30000 + i);
  assertEquals(t.fillsSince(cpu, m2)!.length, 1001);
  assertEquals(t.fillsSince(cpu, m3)!.length, 1000);
});

Deno.test("LeafStore past one chunk: 40000 pages across three chunks, every third removed and refilled through reused ids", () => {
  const s = new LeafStore();
  const VA = 0x7fff_8000_0000;
  const ids: number[] = [];
  for (let i = 0; i < 40000; i++) {
    ids.push(s.put(VA + i * 4096, 0, 0x4000_0000 + i * 4096, 0x4000_0000, i, 0, 3 << 2));
  }
  assertEquals([s.size, s.chunks.length], [40000, 3]);
  for (let i = 0; i < 40000; i += 3) assertEquals(s.remove(VA + i * 4096, 3), 1);
  for (let i = 0; i < 40000; i++) {
    const id = s.find(VA + i * 4096 + 8);
    assertEquals(id, i % 3 === 0 ? -1 : ids[i]);
  }
  for (let i = 0; i < 40000; i += 3) {
    const id = s.put(VA + i * 4096, 0, 0x6000_0000 + i * 4096, 0x4000_0000, i, 0, 3 << 2);
    assertEquals(id < 40000, true, "a freed id is reused");
  }
  assertEquals([s.size, s.chunks.length], [40000, 3]);
  for (let i = 0; i < 40000; i++) {
    const id = s.find(VA + i * 4096);
    const c = s.chunk(id);
    assertEquals(c.u[(id & 16383) * 12 + 7], i);
    assertEquals(
      VA + i * 4096 + c.f[(id & 16383) * 6 + 1]!,
      (i % 3 === 0 ? 0x6000_0000 : 0x4000_0000) + i * 4096,
    );
  }
  assertEquals(s.clear(), 40000);
  assertEquals([s.size, s.find(VA), s.live(ids[5]!)], [0, -1, false]);
});

Deno.test("LeafStore.find's remembered answers agree with a reference over thousands of read-heavy steps: pages under blocks, memo slots shared by pages far apart", () => {
  const prng = new Prng(23);
  const s = new LeafStore(4);
  // key → id of the live entries (the reference).
  const ref = new Map<number, number>();
  const keyOf = (va: number, cls: number) => Math.floor(va / SIZES[cls]!) * 4 + cls;
  // Pages of two 2 MiB blocks, and pages 4 MiB apart (the same memo slot:
  // 1024 pages), with a 1 GiB block over all of them.
  const BASE = 0x7fff_8000_0000;
  const vaOf = () =>
    BASE + (prng.int(2) * 1024 + prng.int(2) * 512 + prng.int(8)) * 4096 + prng.int(4096);
  for (let i = 0; i < 40000; i++) {
    const va = vaOf();
    const op = prng.int(20);
    if (op === 0) {
      const cls = prng.int(3);
      const at = Math.floor(va / SIZES[cls]!) * SIZES[cls]!;
      ref.set(keyOf(va, cls), s.put(at, cls, 0x4000_0000, 0x4000_0000, 0x743, 0, (3 - cls) << 2));
    } else if (op === 1) {
      const level = prng.int(4);
      let n = 0;
      for (let c = 0; c < 3; c++) {
        if ((level === 0 || level === 3 - c) && ref.delete(keyOf(va, c))) n++;
      }
      assertEquals(s.remove(va, level), n, `remove at step ${i}`);
    } else if (op === 2 && prng.float() < 0.05) {
      assertEquals(s.clear(), ref.size);
      ref.clear();
    } else {
      // A page entry wins over a 2 MiB block, which wins over a 1 GiB block.
      const want = ref.get(keyOf(va, 0)) ?? ref.get(keyOf(va, 1)) ?? ref.get(keyOf(va, 2)) ?? -1;
      assertEquals(s.find(va), want, `find ${va} at step ${i}`);
    }
  }
});
