import { assertEquals, assertNotEquals } from "@std/assert";
import { createMachine, Prng, Trace } from "../../mod.ts";

function workload(seed: number): string {
  const m = createMachine({ seed, cpus: 2 });
  for (let i = 0; i < 200; i++) {
    const pa = 0x4000_0000 + m.prng.int(1 << 20) * 8;
    m.trace.cpu = m.prng.int(2);
    m.trace.emit("alloc", { allocator: "t", pool: "p", pa: `0x${pa.toString(16)}`, order: 0 });
  }
  return JSON.stringify(m.trace);
}

Deno.test("the trace is identical for identical inputs and seed", () => {
  assertEquals(workload(7), workload(7));
  assertNotEquals(workload(7), workload(8));
});

Deno.test("Trace records kind, order, CPU and EL and filters by kind", () => {
  const t = new Trace();
  t.cpu = 1;
  t.el = 2;
  t.emit("log", { level: "info", message: "a" });
  t.emit("step", { step: 1, name: "carve", status: "start" }, { cpu: -1, el: 1 });
  t.emit("log", { level: "warn", message: "b" });
  assertEquals(t.length, 3);
  assertEquals(t.filter("log").map((e) => [e.seq, e.cpu, e.el, e.data.message]), [
    [0, 1, 2, "a"],
    [2, 1, 2, "b"],
  ]);
  assertEquals(t.filter("step")[0]!.el, 1);
  t.clear();
  assertEquals(t.events(), []);
});

Deno.test("Trace can be disabled or restricted to some kinds", () => {
  const t = new Trace({ kinds: ["log"] });
  t.emit("alloc", { allocator: "a", pool: "p", pa: "0x0", order: 0 });
  t.emit("log", { level: "info", message: "kept" });
  assertEquals(t.length, 1);
  assertEquals(t.wants("alloc"), false);
  t.enabled = false;
  t.emit("log", { level: "info", message: "dropped" });
  assertEquals(t.length, 1);
});

Deno.test("Prng is deterministic and uniform enough", () => {
  const a = new Prng(123);
  const b = new Prng(123);
  const xs = Array.from({ length: 1000 }, () => a.nextU32());
  assertEquals(xs, Array.from({ length: 1000 }, () => b.nextU32()));
  const buckets = new Array(10).fill(0);
  const p = new Prng(5);
  for (let i = 0; i < 100_000; i++) buckets[p.int(10)]++;
  for (const n of buckets) assertEquals(Math.abs(n - 10_000) < 500, true, `bucket ${n}`);
  const r = p.range(5, 7);
  assertEquals(r === 5 || r === 6, true);
  const f = p.float();
  assertEquals(f >= 0 && f < 1, true);
  assertEquals(new Prng(0).nextU32() !== new Prng(1).nextU32(), true);
});

// An independent reference, written with BigInt arithmetic from the algorithm
// descriptions rather than from core/prng.ts: xoshiro128** (Blackman and
// Vigna: result = rotl(s1 * 5, 7) * 9; t = s1 << 9; s2 ^= s0; s3 ^= s1;
// s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11)), seeded by splitmix32
// (a Weyl sequence x += 0x9e3779b9, each value through the murmur3 fmix32
// finaliser: xor-shift 16, * 0x85ebca6b, xor-shift 13, * 0xc2b2ae35,
// xor-shift 16).
const M32 = 0xffff_ffffn;
const rotl32 = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M32;
function* xoshiro128ss(state: readonly bigint[]): Generator<number> {
  const s = [...state];
  while (true) {
    const r = (rotl32((s[1]! * 5n) & M32, 7n) * 9n) & M32;
    const t = (s[1]! << 9n) & M32;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl32(s[3]!, 11n);
    yield Number(r);
  }
}
function splitmix32State(seed: number): bigint[] {
  let x = BigInt(seed >>> 0);
  const out: bigint[] = [];
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9n) & M32;
    let z = x;
    z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & M32;
    z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & M32;
    out.push(z ^ (z >> 16n));
  }
  return out;
}
const take = (g: Iterator<number>, n: number): number[] =>
  Array.from({ length: n }, () => g.next().value as number);

Deno.test("Prng matches known-answer vectors for xoshiro128** seeded by splitmix32", () => {
  // The reference's own check: the published first outputs from state {1,2,3,4}.
  assertEquals(take(xoshiro128ss([1n, 2n, 3n, 4n]), 8), [
    11520,
    0,
    5927040,
    70819200,
    2031721883,
    1637235492,
    1287239034,
    3734860849,
  ]);
  // Pinned outputs (from the reference), so a change to either side shows.
  const pinned: Record<number, number[]> = {
    0: [3809008728, 1133695204, 53579671, 2891528803, 139681546, 2203266335],
    1: [2442144158, 3238099751, 3819917871, 2104621829, 2021136066, 4223536128],
    42: [2837322924, 544945897, 479756282, 3500138142, 339756180, 113173290],
  };
  for (const [seed, want] of Object.entries(pinned)) {
    const p = new Prng(Number(seed));
    assertEquals(
      take(xoshiro128ss(splitmix32State(Number(seed))), 6),
      want,
      `reference, seed ${seed}`,
    );
    assertEquals(Array.from({ length: 6 }, () => p.nextU32()), want, `Prng, seed ${seed}`);
  }
  for (const seed of [7, 0xffff_ffff, -1, 123456789]) {
    const p = new Prng(seed);
    assertEquals(
      Array.from({ length: 100 }, () => p.nextU32()),
      take(xoshiro128ss(splitmix32State(seed)), 100),
      `seed ${seed}`,
    );
  }
});

Deno.test("emit copies the payload: changing it afterwards does not rewrite the trace", () => {
  const t = new Trace();
  const data = { level: "info" as const, message: "original" };
  t.emit("log", data);
  data.message = "mutated";
  const args = ["0x1"];
  t.emit("hypercall", { name: "h", id: 1, kind: "hvc", x0: "0x0", x1: "0x0", args });
  args[0] = "0x2";
  assertEquals(t.filter("log")[0]!.data.message, "original");
  assertEquals(t.filter("hypercall")[0]!.data.args, ["0x1"]);
  assertEquals(JSON.parse(JSON.stringify(t))[0].data.message, "original");
});
