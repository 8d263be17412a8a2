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
