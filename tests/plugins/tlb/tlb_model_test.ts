import { assertEquals, assertThrows } from "@std/assert";
import { Cpu, type TlbEntry, type TlbiOp, type TlbWalkEntry, Trace } from "../../../core/mod.ts";
import { tlb, TlbModel } from "../../../plugins/tlb/mod.ts";

const PAGE = 4096;
const M2 = 2 ** 21;
const G1 = 2 ** 30;

function entry(va: number, size: number, pa: number, base = 0x4000_0000): TlbEntry {
  const level = size === PAGE ? 3 : size === M2 ? 2 : 1;
  return {
    regime: "EL2",
    base,
    va,
    size,
    pa,
    level,
    pte: BigInt(pa) | 0x741n | (level === 3 ? 2n : 0n),
    speculative: false,
  };
}

const WALK_SIZES = [2 ** 39, G1, M2];

/** A walk-cache entry for `level`'s table descriptor covering `va`. */
function walkEntry(va: number, level: number, table: number): TlbWalkEntry {
  const size = WALK_SIZES[level]!;
  return {
    regime: "EL2",
    base: 0x4000_0000,
    level,
    va: Math.floor(va / size) * size,
    size,
    table,
    apTable: false,
    xnTable: false,
  };
}

function setup(policy: "adversarial" | "optimistic" = "adversarial", cpus = 2) {
  const trace = new Trace();
  const t = new TlbModel(policy, trace);
  return { t, trace, cpus: Array.from({ length: cpus }, (_, i) => new Cpu(i)) };
}

Deno.test("TlbModel.lookup() finds pages and blocks by VA and counts hits and misses; peek() does not count", () => {
  const { t, cpus: [c] } = setup();
  const p = entry(0x7fff_8000_1000, PAGE, 0x5000_0000);
  const b = entry(0x7fff_8020_0000, M2, 0x5020_0000);
  const g = entry(0x80_0000_0000, G1, 0x4000_0000);
  for (const e of [p, b, g]) t.fill(c!, e);
  assertEquals(t.lookup(c!, 0x7fff_8000_1fff), p);
  assertEquals(t.lookup(c!, 0x7fff_803f_ffff), b);
  assertEquals(t.lookup(c!, 0x80_3fff_ffff), g);
  assertEquals(t.lookup(c!, 0x7fff_8000_2000), undefined);
  assertEquals(t.peek(c!, 0x7fff_8000_1000), p);
  assertEquals(t.stats(), { hits: 3, misses: 1, fills: 3, invalidated: 0, stale: 0 });
  assertEquals(t.entries(c!).map((e) => e.va), [
    0x80_0000_0000,
    0x7fff_8000_1000,
    0x7fff_8020_0000,
  ]);
});

Deno.test("TlbModel.lookup() prefers a page over a 2 MiB block over a 1 GiB block", () => {
  const { t, cpus: [c] } = setup();
  const g = entry(0, G1, 0x4000_0000);
  const b = entry(0, M2, 0x4800_0000);
  const p = entry(0x1000, PAGE, 0x4900_0000);
  t.fill(c!, g);
  assertEquals(t.lookup(c!, 0x1000), g);
  t.fill(c!, b);
  assertEquals(t.lookup(c!, 0x1000), b);
  t.fill(c!, p);
  assertEquals(t.lookup(c!, 0x1000), p);
  assertEquals(t.lookup(c!, 0x2000), b);
  assertEquals(t.lookup(c!, 0x20_0000), g);
  // Refilling the same VA and size replaces the entry.
  const p2 = entry(0x1000, PAGE, 0x4a00_0000);
  t.fill(c!, p2);
  assertEquals([t.lookup(c!, 0x1000), t.entries(c!).length], [p2, 3]);
});

Deno.test("TlbModel.lookup() ignores the table base: nVHE EL2 has no ASID", () => {
  const { t, cpus: [c] } = setup();
  const old = entry(0x1000, PAGE, 0x5000_0000, 0x4000_0000);
  t.fill(c!, old);
  t.onSysregWrite(c!, "TTBR0_EL2", 0x4800_0000n);
  assertEquals(t.lookup(c!, 0x1000), old);
  assertEquals(t.lookup(c!, 0x1000)!.base, 0x4000_0000);
});

Deno.test("tlbi vae2 / vale2 remove every entry translating the VA on the issuing CPU only", () => {
  const { t, cpus: [c0, c1] } = setup();
  for (const c of [c0!, c1!]) {
    t.fill(c, entry(0x1000, PAGE, 0x5000_0000));
    t.fill(c, entry(0, M2, 0x4800_0000));
    t.fill(c, entry(0x5000, PAGE, 0x5000_5000));
  }
  assertEquals(t.invalidate(c0!, "vae2", 0x1abc), 2); // the page and the block
  assertEquals(t.lookup(c0!, 0x1000), undefined);
  assertEquals(t.lookup(c0!, 0x5000)?.pa, 0x5000_5000);
  assertEquals(t.lookup(c1!, 0x1000)?.pa, 0x5000_0000);
  assertEquals(t.invalidate(c0!, "vale2", 0x5000), 1);
  assertEquals(t.entries(c0!), []);
  assertEquals(t.entries(c1!).length, 3);
  assertEquals(t.stats().invalidated, 3);
});

Deno.test("a TTL hint: adversarial removes only that level's entries; no hint removes every level", () => {
  const { t, trace, cpus: [c0, c1] } = setup("adversarial");
  const fillAll = () => {
    for (const c of [c0!, c1!]) {
      t.fill(c, entry(0x20_1000, PAGE, 0x5000_0000));
      t.fill(c, entry(0x20_0000, M2, 0x4800_0000));
      t.fill(c, entry(0, G1, 0x8000_0000));
    }
  };
  fillAll();
  // A wrong hint need not remove anything (Arm ARM, FEAT_TTL); this policy keeps it.
  assertEquals(t.invalidate(c0!, "vale2", 0x20_1000, 2), 1);
  assertEquals(t.entries(c0!).map((e) => e.level), [1, 3]);
  assertEquals(t.invalidate(c0!, "vae2", 0x20_1000, 3), 1);
  assertEquals(t.invalidate(c0!, "vae2", 0x20_1000, 3), 0);
  assertEquals(t.entries(c0!).map((e) => e.level), [1]);
  // Broadcast with a hint: level 1 on both CPUs, nothing else.
  assertEquals(t.invalidate(c0!, "vale2is", 0x20_1000, 1), 2);
  assertEquals(t.entries(c1!).map((e) => e.level), [2, 3]);
  // "unknown" (TLBI_TTL_UNKNOWN) and no hint remove every level, as before.
  fillAll();
  assertEquals(t.invalidate(c0!, "vae2", 0x20_1000, "unknown"), 3);
  assertEquals(t.invalidate(c1!, "vale2", 0x20_1000), 3);
  assertEquals(
    trace.filter("tlb_invalidate").map((e) => e.data.ttl),
    [2, 3, 3, 1, undefined, undefined],
  );
});

Deno.test("a TTL hint: optimistic (QEMU-like) removes every level whatever the hint", () => {
  const { t, cpus: [c] } = setup("optimistic", 1);
  t.fill(c!, entry(0x20_1000, PAGE, 0x5000_0000));
  t.fill(c!, entry(0x20_0000, M2, 0x4800_0000));
  t.fill(c!, entry(0, G1, 0x8000_0000));
  assertEquals(t.invalidate(c!, "vale2", 0x20_1000, 2), 3);
  assertEquals(t.entries(c!), []);
});

Deno.test("a TTL hint on a non-VA form, or one that names no leaf level, throws and changes nothing", () => {
  const { t, cpus: [c] } = setup();
  t.fill(c!, entry(0x1000, PAGE, 0x5000_0000));
  const before = t.stats();
  assertThrows(() => t.invalidate(c!, "alle2", undefined, 3), TypeError, "only the VA forms");
  for (const bad of [0, 4, -1, 2.5]) {
    assertThrows(
      () => t.invalidate(c!, "vae2", 0x1000, bad as 1),
      RangeError,
      "a hint is a leaf level (1, 2 or 3",
    );
  }
  assertEquals([t.stats(), t.entries(c!).length], [before, 1]);
});

Deno.test("broadcast forms (alle2is, vae2is, vale2is) act on every CPU; alle2 only locally", () => {
  const { t, cpus } = setup("adversarial", 3);
  const fillAll = () => {
    for (const c of cpus) {
      t.fill(c, entry(0x1000, PAGE, 0x5000_0000));
      t.fill(c, entry(0x2000, PAGE, 0x5000_1000));
    }
  };
  fillAll();
  assertEquals(t.invalidate(cpus[1]!, "vae2is", 0x1000), 3);
  assertEquals(cpus.map((c) => t.entries(c).length), [1, 1, 1]);
  assertEquals(t.invalidate(cpus[2]!, "vale2is", 0x2000), 3);
  fillAll();
  assertEquals(t.invalidate(cpus[0]!, "alle2", undefined), 2);
  assertEquals(cpus.map((c) => t.entries(c).length), [0, 2, 2]);
  assertEquals(t.invalidate(cpus[0]!, "alle2is"), 4);
  assertEquals(cpus.map((c) => t.entries(c).length), [0, 0, 0]);
});

Deno.test("alle1 / vmalle1 (and is forms) do not touch EL2 entries", () => {
  const { t, trace, cpus: [c] } = setup();
  t.fill(c!, entry(0x1000, PAGE, 0x5000_0000));
  for (const op of ["alle1", "alle1is", "vmalle1", "vmalle1is"] as const) {
    assertEquals(t.invalidate(c!, op), 0);
  }
  assertEquals(t.entries(c!).length, 1);
  assertEquals(trace.filter("tlb_invalidate").map((e) => e.data), [
    { op: "alle1", removed: 0 },
    { op: "alle1is", removed: 0 },
    { op: "vmalle1", removed: 0 },
    { op: "vmalle1is", removed: 0 },
  ]);
});

Deno.test("fills and invalidations are traced with hex addresses", () => {
  const { t, trace, cpus: [c] } = setup();
  t.fill(c!, entry(0x20_0000, M2, 0x4800_0000));
  t.invalidate(c!, "vae2", 0x21_0000);
  assertEquals(trace.filter("tlb_fill")[0]!.data, {
    va: "0x200000",
    pa: "0x48000000",
    level: 2,
    base: "0x40000000",
    speculative: false,
  });
  assertEquals(trace.filter("tlb_invalidate")[0]!.data, { op: "vae2", va: "0x210000", removed: 1 });
  assertEquals(trace.filter("tlb_fill")[0]!.cpu, 0);
});

Deno.test("bad TLBI operations and bad entries throw and leave the TLB as it was", () => {
  const { t, cpus: [c] } = setup();
  t.fill(c!, entry(0x1000, PAGE, 0x5000_0000));
  const before = t.stats();
  assertThrows(() => t.invalidate(c!, "vae2"), TypeError, "needs a VA operand");
  assertThrows(() => t.invalidate(c!, "vae2is", -1), TypeError, "needs a VA operand");
  assertThrows(() => t.invalidate(c!, "ipas2e1" as TlbiOp), TypeError, "tlbi ipas2e1");
  assertThrows(
    () => t.fill(c!, { ...entry(0, PAGE, 0), size: 8192 }),
    RangeError,
    "4 KiB, 2 MiB or 1 GiB",
  );
  assertThrows(() => t.fill(c!, entry(0x1000, M2, 0x4800_0000)), RangeError, "size-aligned");
  assertThrows(() => t.fill(c!, entry(0x20_0000, M2, 0x4810_0000)), RangeError, "size-aligned");
  assertThrows(
    () => t.fill(c!, { ...entry(0, PAGE, 0), regime: "EL1" as "EL2" }),
    RangeError,
    "not EL2",
  );
  assertEquals(t.stats(), before);
  assertEquals(t.entries(c!).length, 1);
  assertThrows(() => new TlbModel("lazy" as "optimistic", new Trace()), TypeError, '"lazy"');
  assertThrows(() => tlb({ policy: "lazy" as "optimistic" }), TypeError, '"lazy"');
});

Deno.test("adversarial policy keeps entries across SCTLR_EL2 and TTBR0_EL2 writes and keeps prefetches", () => {
  const { t, cpus: [c] } = setup("adversarial");
  t.fill(c!, entry(0x1000, PAGE, 0x5000_0000));
  t.onSysregWrite(c!, "SCTLR_EL2", 0x30c50830n);
  t.onSysregWrite(c!, "TTBR0_EL2", 0x4800_0000n);
  assertEquals(t.entries(c!).length, 1);
  assertEquals(t.prefetch(c!, { ...entry(0x2000, PAGE, 0x5000_1000), speculative: true }), true);
  assertEquals([t.entries(c!).length, t.stats().fills], [2, 2]);
});

Deno.test("optimistic policy flushes on an SCTLR_EL2 change or any TTBR0_EL2 or TCR_EL2 write, and drops prefetches", () => {
  const { t, trace, cpus: [c0, c1] } = setup("optimistic");
  const refill = () => {
    t.fill(c0!, entry(0x1000, PAGE, 0x5000_0000));
    t.fill(c1!, entry(0x1000, PAGE, 0x5000_0000));
  };
  refill();
  t.onSysregWrite(c0!, "SCTLR_EL2", c0!.sysreg("SCTLR_EL2")); // same value: no flush
  t.onSysregWrite(c0!, "MAIR_EL2", 0xffn); // QEMU's MAIR_EL2 has no writefn: no flush
  assertEquals(t.entries(c0!).length, 1);
  t.onSysregWrite(c0!, "SCTLR_EL2", 0x30c50831n);
  assertEquals([t.entries(c0!).length, t.entries(c1!).length], [0, 1]);
  refill();
  t.onSysregWrite(c0!, "ttbr0_el2", 0n); // any TTBR write, same value or not
  assertEquals(t.entries(c0!).length, 0);
  refill();
  // QEMU's vmsa_tcr_el12_write flushes on every TCR_EL2 write, same value or not.
  t.onSysregWrite(c0!, "TCR_EL2", 0x80803510n);
  assertEquals([t.entries(c0!).length, t.entries(c1!).length], [0, 1]);
  assertEquals(trace.filter("tlb_invalidate").map((e) => e.data.op), [
    "flush on SCTLR_EL2 write",
    "flush on TTBR0_EL2 write",
    "flush on TCR_EL2 write",
  ]);
  assertEquals(t.prefetch(c0!, { ...entry(0x2000, PAGE, 0x5000_1000), speculative: true }), false);
  assertEquals(t.entries(c0!), []);
});

Deno.test("tlb() plugin provides the TLB with the adversarial policy by default", () => {
  const p = tlb();
  assertEquals([p.name, p.provides[0]!.name], ["tlb", "tlb"]);
});

Deno.test("walk cache: lookupWalk() gives the deepest entry covering the VA, without counting", () => {
  const { t, cpus: [c] } = setup();
  const VA = 0x7fff_8020_1000;
  const w0 = walkEntry(VA, 0, 0x4100_0000);
  const w1 = walkEntry(VA, 1, 0x4100_1000);
  const w2 = walkEntry(VA, 2, 0x4100_2000);
  for (const w of [w0, w1, w2]) assertEquals(t.fillWalk(c!, w), true);
  assertEquals(t.lookupWalk(c!, VA + 0xfff), w2);
  assertEquals(t.lookupWalk(c!, VA + M2), w1); // the next 2 MiB: only the 1 GiB entry
  assertEquals(t.lookupWalk(c!, VA + G1), w0);
  assertEquals(t.lookupWalk(c!, 0), undefined);
  assertEquals(t.walkEntries(c!), [w0, w1, w2]);
  assertEquals(t.stats(), { hits: 0, misses: 0, fills: 0, invalidated: 0, stale: 0 });
});

Deno.test("walk cache: vale2 keeps it, vae2 removes the VA's entries, alle2 all; counts stay leaf-only", () => {
  const { t, cpus: [c0, c1] } = setup();
  const VA = 0x20_1000;
  const fill = () => {
    for (const c of [c0!, c1!]) {
      t.fill(c, entry(VA, PAGE, 0x5000_0000));
      for (const l of [0, 1, 2]) t.fillWalk(c, walkEntry(VA, l, 0x4100_0000 + l * PAGE));
      t.fillWalk(c, walkEntry(VA + M2, 2, 0x4100_8000)); // another 2 MiB region
    }
  };
  fill();
  // Leaf-only: the table descriptors stay cached (a freed table stays reachable).
  assertEquals(t.invalidate(c0!, "vale2", VA), 1);
  assertEquals(t.walkEntries(c0!).length, 4);
  assertEquals(t.invalidate(c0!, "vae2", VA), 0);
  assertEquals(t.walkEntries(c0!).map((w) => [w.level, w.va]), [[2, 2 * M2]]);
  assertEquals(t.walkEntries(c1!).length, 4); // local form
  // The level-0 and level-1 descriptors translate VA + 2 MiB too: they go with it.
  assertEquals(t.invalidate(c0!, "vae2is", VA + M2), 0);
  assertEquals(t.walkEntries(c0!), []);
  assertEquals(t.walkEntries(c1!).map((w) => [w.level, w.va]), [[2, M2]]);
  fill();
  assertEquals(t.invalidate(c1!, "alle2is"), 2);
  assertEquals([t.walkEntries(c0!), t.walkEntries(c1!)], [[], []]);
  assertEquals(t.stats().invalidated, 3);
});

Deno.test("walk cache: vae2 hinted with level L removes the entries above L only (adversarial)", () => {
  const { t, cpus: [c] } = setup();
  const VA = 0x20_1000;
  const fill = () => {
    for (const l of [0, 1, 2]) t.fillWalk(c!, walkEntry(VA, l, 0x4100_0000 + l * PAGE));
  };
  fill();
  t.invalidate(c!, "vae2", VA, 2);
  assertEquals(t.walkEntries(c!).map((w) => w.level), [2]);
  fill();
  t.invalidate(c!, "vae2", VA, 3);
  assertEquals(t.walkEntries(c!), []);
});

Deno.test("walk cache: the optimistic policy keeps none; bad entries throw", () => {
  const { t: o, cpus: [c] } = setup("optimistic", 1);
  assertEquals(o.fillWalk(c!, walkEntry(0x1000, 2, 0x4100_0000)), false);
  assertEquals([o.lookupWalk(c!, 0x1000), o.walkEntries(c!)], [undefined, []]);
  const { t } = setup();
  assertThrows(
    () => t.fillWalk(c!, { ...walkEntry(0, 2, 0x4100_0000), level: 3 }),
    RangeError,
    "levels 0..2",
  );
  assertThrows(
    () => t.fillWalk(c!, { ...walkEntry(0, 2, 0x4100_0000), va: 0x1000 }),
    RangeError,
    "0x200000-byte region",
  );
  assertThrows(() => t.fillWalk(c!, walkEntry(0, 1, 0x4100_0010)), RangeError, "page-aligned");
  assertEquals(t.walkEntries(c!), []);
});

Deno.test("fillMark/fillsSince: the fills after a mark, per CPU, oldest first; undefined past the log", () => {
  const t = new TlbModel("adversarial", new Trace());
  const c0 = new Cpu(0);
  const c1 = new Cpu(1);
  assertEquals(t.fillMark(c0), 0);
  assertEquals(t.fillsSince(c0, 0), []);
  const a = entry(0x1000, PAGE, 0x8000_1000);
  t.fill(c0, a);
  const mark = t.fillMark(c0);
  assertEquals(mark, 1);
  const b = entry(0x2000, PAGE, 0x8000_2000);
  const c = entry(0x20_0000, M2, 0x8020_0000);
  t.fill(c0, b);
  t.fill(c1, entry(0x3000, PAGE, 0x8000_3000)); // another CPU's fill is not this CPU's
  t.prefetch(c0, { ...c, speculative: true });
  assertEquals(t.fillsSince(c0, mark)!.map((e) => e.va), [0x2000, 0x20_0000]);
  assertEquals(t.fillsSince(c0, 0)!.map((e) => e.va), [0x1000, 0x2000, 0x20_0000]);
  assertEquals(t.fillsSince(c1, 0)!.map((e) => e.va), [0x3000]);
  assertEquals(t.fillsSince(c0, 4), undefined, "a mark from the future");
  // The log is bounded: a mark older than what it keeps gives undefined.
  for (let i = 0; i < 2000; i++) t.fill(c0, entry(0x100_0000 + i * PAGE, PAGE, 0x9000_0000));
  assertEquals(t.fillsSince(c0, mark), undefined);
  const late = t.fillMark(c0);
  t.fill(c0, b);
  assertEquals(t.fillsSince(c0, late), [b]);
});
