import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  createMachine,
  type Memblock,
  type MemblockRegion,
  Prng,
  RESERVED_MEM,
  type ReservedMem,
  Trace,
} from "../../../core/mod.ts";
import { ConformanceError } from "../../../core/conformance/mod.ts";
import { reservedMemConformance } from "../../../core/conformance/reserved_mem.ts";
import {
  cloneMemblock,
  createReservedMem,
  kvmHypReserve,
  MEMBLOCK_FLAGS,
  memblockAddRange,
  memblockFromRam,
  registerMemblockRegions,
  reservedMem,
  sizingProfile,
} from "../../../plugins/reserved_mem/mod.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const PAGE = 4096;
const V513 = sizingProfile("v5.13");
const MAINLINE = sizingProfile("mainline");

function logs(trace: Trace): string[] {
  return trace.filter("log").map((e) => `${e.data.level}: ${e.data.message}`);
}

Deno.test("kvm_hyp_reserve() v5.13 worked example: 5199 pages as 22 MiB at 0x13ea00000", () => {
  const mb = memblockFromRam([{ base: 0x4000_0000, size: 4 * GiB }]);
  const trace = new Trace();
  const r = kvmHypReserve(mb, V513, trace);
  assertEquals(r.ok, true);
  // 0x140000000 - 22 MiB = 0x13ea00000, already 2 MiB-aligned.
  assertEquals([r.base, r.size, r.align], [0x1_3ea0_0000, 22 * MiB, 2 * MiB]);
  assertEquals(r.pages, {
    hyp_s1: 2569,
    host_s2_mem: 2070,
    host_s2_dev: 515,
    vmemmap: 45,
    total: 5199,
  });
  assertEquals(r.layout.map((t) => t.name), ["vmemmap", "hyp_s1", "host_s2_mem", "host_s2_dev"]);
  assertEquals([r.nrRegions, r.regions], [1, [{ base: 0x4000_0000, size: 4 * GiB }]]);
  assertEquals(r.reason, undefined);
  assertEquals(mb.reserved, [{ base: 0x1_3ea0_0000, size: 22 * MiB }]);
  assertEquals(logs(trace), ["info: Reserved 22 MiB at 0x13ea00000"]);
});

Deno.test("kvm_hyp_reserve() mainline: 7218 pages as 30 MiB, reserved with MEMBLOCK_RSRV_KERN", () => {
  const mb = memblockFromRam([{ base: 0x4000_0000, size: 4 * GiB }]);
  const trace = new Trace();
  const r = kvmHypReserve(mb, MAINLINE, trace);
  // 7218 × 4 KiB = 28.2 MiB → 30 MiB at 0x140000000 - 30 MiB = 0x13e200000.
  assertEquals([r.ok, r.base, r.size, r.align], [true, 0x1_3e20_0000, 30 * MiB, 2 * MiB]);
  assertEquals(r.pages.total, 7218);
  assertEquals(r.layout.map((t) => t.name), [
    "selftest",
    "vmemmap",
    "vm_table",
    "hyp_s1",
    "host_s2",
    "ffa_proxy",
  ]);
  assertEquals(mb.reserved, [{ base: 0x1_3e20_0000, size: 30 * MiB, flags: 0x20 }]);
  assertEquals(logs(trace), ["info: Reserved 30 MiB at 0x13e200000"]);
});

Deno.test("kvm_hyp_reserve() over several banks carves from the highest one", () => {
  for (const profile of [V513, MAINLINE]) {
    const mb = memblockFromRam([
      { base: 0x4000_0000, size: 2 * GiB },
      { base: 0x1_0000_0000, size: GiB },
    ]);
    const r = kvmHypReserve(mb, profile);
    // v5.13 4169 pages → 18 MiB; mainline 5686 pages → 24 MiB (see sizing_test.ts).
    const mib = profile.version === "v5.13" ? 18 : 24;
    assertEquals([r.base, r.size], [0x1_4000_0000 - mib * MiB, mib * MiB], profile.version);
    assertEquals(r.nrRegions, 2);
  }
});

Deno.test("kvm_hyp_reserve() avoids reserved regions and steps below them", () => {
  const mb = memblockFromRam([{ base: 0x4000_0000, size: 4 * GiB }], [
    { base: 0x4020_0000, size: 32 * MiB }, // kernel image
    { base: 0x1_3f00_0000, size: 0x80_1000 }, // ends 4 KiB past 0x13f800000
    { base: 0x1_3fc0_0000, size: 4 * MiB }, // top 4 MiB
  ]);
  const r = kvmHypReserve(mb, V513);
  // Highest free range: [0x13f801000, 0x13fc00000) is too small; the next one ends at
  // 0x13f000000, so the pool is [0x13da00000, 0x13f000000), touching the reservation
  // above it — memblock_reserve() merges them.
  assertEquals([r.base, r.size], [0x1_3da0_0000, 22 * MiB]);
  assertEquals(mb.reserved, [
    { base: 0x4020_0000, size: 32 * MiB },
    { base: 0x1_3da0_0000, size: 22 * MiB + 0x80_1000 },
    { base: 0x1_3fc0_0000, size: 4 * MiB },
  ]);
});

Deno.test("kvm_hyp_reserve() pool touching a reservation: v5.13 merges, mainline keeps it apart", () => {
  const ram = [{ base: 0x4000_0000, size: 4 * GiB }];
  const top = [{ base: 0x1_3fe0_0000, size: 2 * MiB }];
  const a = memblockFromRam(ram, top);
  kvmHypReserve(a, V513);
  assertEquals(a.reserved, [{ base: 0x1_3e80_0000, size: 24 * MiB }]);
  const b = memblockFromRam(ram, top);
  kvmHypReserve(b, MAINLINE);
  assertEquals(b.reserved, [
    { base: 0x1_3e00_0000, size: 30 * MiB, flags: MEMBLOCK_FLAGS.RSRV_KERN },
    { base: 0x1_3fe0_0000, size: 2 * MiB },
  ]);
});

Deno.test("kvm_hyp_reserve() falls back from ALIGN(size, 2 MiB) at 2 MiB to size at 4 KiB", () => {
  for (const profile of [V513, MAINLINE]) {
    const pages = profile.version === "v5.13" ? 5199 : 7218;
    // One free hole of pages + 1 pages at an odd base; everything else reserved.
    const hole = 0x4000_1000;
    const holeEnd = hole + (pages + 1) * PAGE;
    const mb = memblockFromRam([{ base: 0x4000_0000, size: 4 * GiB }], [
      { base: 0x4000_0000, size: hole - 0x4000_0000 },
      { base: holeEnd, size: 0x1_4000_0000 - holeEnd },
    ]);
    const trace = new Trace();
    const r = kvmHypReserve(mb, profile, trace);
    // Top-down inside the hole: round_down(holeEnd - size, 4 KiB) = hole + 4 KiB.
    assertEquals([r.ok, r.base, r.size, r.align], [true, hole + PAGE, pages * PAGE, PAGE]);
    // "%lld MiB" rounds down: 5199 pages is 20.3 MiB, 7218 pages 28.2 MiB.
    const mib = Math.floor(pages * PAGE / MiB);
    assertEquals(logs(trace), [`info: Reserved ${mib} MiB at 0x40002000`]);
  }
});

Deno.test("kvm_hyp_reserve() with more than 128 regions reserves nothing (-ENOMEM)", () => {
  for (const profile of [V513, MAINLINE]) {
    const regions = (n: number) => {
      const mb: Memblock = { memory: [], reserved: [] };
      // 64 MiB regions 128 MiB apart, so none touch.
      for (let i = 0; i < n; i++) {
        memblockAddRange(mb.memory, 0x4000_0000 + i * 128 * MiB, 64 * MiB);
      }
      return mb;
    };
    const ok = kvmHypReserve(regions(128), profile);
    assertEquals([ok.ok, ok.nrRegions], [true, 128]);

    const mb = regions(129);
    const before = cloneMemblock(mb);
    const trace = new Trace();
    const r = kvmHypReserve(mb, profile, trace);
    assertEquals(r, {
      ok: false,
      base: 0,
      size: 0,
      align: 0,
      pages: { hyp_s1: 0, host_s2_mem: 0, host_s2_dev: 0, vmemmap: 0, total: 0 },
      layout: [],
      nrRegions: 0,
      regions: [],
      reason: "Failed to register hyp memblocks: -12",
    });
    assertEquals(mb, before);
    assertEquals(logs(trace), ["error: Failed to register hyp memblocks: -12"]);
  }
});

Deno.test("kvm_hyp_reserve() with no room logs the failure and changes nothing", () => {
  for (const profile of [V513, MAINLINE]) {
    // A 4 MiB bank cannot hold the pool: about 1062 pages (v5.13) or 1074 (mainline).
    const mb = memblockFromRam([{ base: 0x4000_0000, size: 4 * MiB }]);
    const before = cloneMemblock(mb);
    const trace = new Trace();
    const r = kvmHypReserve(mb, profile, trace);
    assertEquals([r.ok, r.base, r.size, r.align], [false, 0, 0, 0]);
    assertEquals(r.reason, "Failed to reserve hyp memory");
    // The terms are still reported, and hyp_memory[] stays registered.
    assertEquals(r.nrRegions, 1);
    assertEquals(r.pages.total > 1024, true);
    assertEquals(mb, before);
    assertEquals(logs(trace), ["error: Failed to reserve hyp memory"]);
  }
});

Deno.test("kvm_hyp_reserve() rejects a malformed memblock and changes nothing", () => {
  const mb: Memblock = {
    memory: [{ base: 0x8000_0000, size: GiB }, { base: 0x4000_0000, size: GiB }],
    reserved: [],
  };
  const before = cloneMemblock(mb);
  assertThrows(() => kvmHypReserve(mb, V513), RangeError, "sorted by base and disjoint");
  assertEquals(mb, before);
});

Deno.test("register_memblock_regions(): sorting hyp_memory[] by base is a release fact (v5.13..6.12 sort, 7.x does not)", () => {
  const unsorted: MemblockRegion[] = [
    { base: 0x1_0000_0000, size: GiB },
    { base: 0x4000_0000, size: GiB, flags: MEMBLOCK_FLAGS.NOMAP },
  ];
  assertEquals(registerMemblockRegions(unsorted, true), [unsorted[1], unsorted[0]]);
  assertEquals(registerMemblockRegions(unsorted, false), unsorted);
  const many = Array.from({ length: 129 }, (_, i) => ({ base: i * 2 * PAGE, size: PAGE }));
  assertEquals(registerMemblockRegions(many, true), -12);
  assertEquals(registerMemblockRegions(many.slice(0, 128), false), many.slice(0, 128));
});

Deno.test("the reserved_mem plugin logs to the machine's trace and names its version", () => {
  const m = createMachine({ plugins: [reservedMem({ version: "mainline" })] });
  const rm = m.get(RESERVED_MEM);
  // mainline is v7.2: the plugin keeps the name it was given and reports
  // the release whose kvm_hyp_reserve() it follows (8-byte struct hyp_page).
  assertEquals([rm.name, rm.version, rm.hypPageBytes], ["reserved_mem_mainline", "v7.2", 8]);
  assertEquals(m.providerOf(RESERVED_MEM), "reserved_mem_mainline");
  rm.kvmHypReserve(memblockFromRam(m.memory.banks));
  assertEquals(logs(m.trace), ["info: Reserved 30 MiB at 0x13e200000"]);
  // An explicit trace wins over the machine's.
  const own = new Trace();
  rm.kvmHypReserve(memblockFromRam(m.memory.banks), own);
  assertEquals(own.length, 1);
  assertEquals(m.trace.filter("log").length, 1);
  const v513 = createReservedMem();
  assertEquals([v513.name, v513.version, v513.hypPageBytes], ["reserved_mem_v5_13", "v5.13", 32]);
});

Deno.test("reserved_mem v5.13 passes the RESERVED_MEM conformance suite", (t) =>
  reservedMemConformance(createReservedMem({ version: "v5.13" }), t));

Deno.test("reserved_mem mainline passes the RESERVED_MEM conformance suite", (t) =>
  reservedMemConformance(createReservedMem({ version: "mainline", nvheEl2Debug: true }), t));

// ---------------------------------------------------------------------------
// Property test over seeded random layouts: the pool kvm_hyp_reserve() carves
// lies in RAM, clear of other reservations, aligned and large enough, with
// the carve position checked against a brute-force reference.

function randomLayout(prng: Prng): Memblock {
  const mb: Memblock = { memory: [], reserved: [] };
  const many = prng.int(20) === 0; // sometimes close to or past 128 regions
  const n = many ? 120 + prng.int(16) : 1 + prng.int(8);
  let base = prng.int(4) === 0 ? prng.int(64) * PAGE : 0x4000_0000 + prng.int(512) * 2 * MiB;
  for (let i = 0; i < n; i++) {
    const size = many
      ? (1 + prng.int(64)) * MiB
      : prng.pick([PAGE * (1 + prng.int(8192)), (1 + prng.int(64)) * MiB, (1 + prng.int(8)) * GiB]);
    const flags = prng.int(15) === 0 ? MEMBLOCK_FLAGS.NOMAP : 0;
    if (base + size > 2 ** 48) break;
    memblockAddRange(mb.memory, base, size, flags);
    // Touching banks merge (unless flags differ); otherwise leave a gap. The
    // many-region layouts never touch, so they really pass 128.
    const gap = many
      ? (1 + prng.int(8)) * 2 * MiB
      : prng.int(3) === 0
      ? 0
      : prng.pick([PAGE, 2 * MiB, 256 * MiB]) * prng.int(8);
    base += size + gap;
  }
  const first = mb.memory[0]!;
  // The kernel image near the start of RAM.
  memblockAddRange(mb.reserved, first.base + prng.int(16) * 2 * MiB, (8 + prng.int(64)) * MiB);
  const end = base;
  for (let i = prng.int(8); i > 0; i--) {
    const at = first.base + prng.int(Math.max(1, Math.floor((end - first.base) / PAGE))) * PAGE;
    const size = prng.pick([PAGE * (1 + prng.int(64)), (1 + prng.int(512)) * MiB]);
    memblockAddRange(mb.reserved, at, size);
  }
  return mb;
}

/** Free ranges computed independently: each usable memory region minus every reservation. */
function referenceFree(mb: Memblock): [number, number][] {
  const out: [number, number][] = [];
  for (const m of mb.memory) {
    if ((m.flags ?? 0) & MEMBLOCK_FLAGS.NOMAP) continue;
    let pieces: [number, number][] = [[m.base, m.base + m.size]];
    for (const r of mb.reserved) {
      const next: [number, number][] = [];
      for (const [s, e] of pieces) {
        if (r.base + r.size <= s || r.base >= e) next.push([s, e]);
        else {
          if (r.base > s) next.push([s, r.base]);
          if (r.base + r.size < e) next.push([r.base + r.size, e]);
        }
      }
      pieces = next;
    }
    out.push(...pieces);
  }
  return out;
}

/** The highest `align`-aligned base above page 0 whose `size` bytes fit in one free range. */
function referenceTopDown(free: [number, number][], size: number, align: number): number {
  let best = 0;
  for (const [s, e] of free) {
    const lo = Math.max(s, PAGE);
    if (e - size < lo) continue;
    const cand = Math.floor((e - size) / align) * align;
    if (cand >= lo && cand > best) best = cand;
  }
  return best;
}

for (const profile of [V513, MAINLINE]) {
  Deno.test(`kvm_hyp_reserve (${profile.version}): 4,000 seeded layouts, the carve is sound and where a reference puts it`, () => {
    const prng = new Prng(profile.version === "v5.13" ? 0x513 : 0x6e6);
    const rm = createReservedMem({ version: profile.version });
    const seen = { pmd: 0, page: 0, noRoom: 0, tooMany: 0 };
    for (let i = 0; i < 4000; i++) {
      const mb = randomLayout(prng);
      const before = cloneMemblock(mb);
      const r = rm.kvmHypReserve(mb);
      const ctx = `layout ${i}: ${JSON.stringify(before)}`;
      if (before.memory.length > 128) {
        seen.tooMany++;
        assertEquals([r.ok, r.nrRegions, r.reason], [
          false,
          0,
          "Failed to register hyp memblocks: -12",
        ], ctx);
        assertEquals(mb, before, ctx);
        continue;
      }
      const total = r.pages.total;
      assertEquals(total, r.layout.reduce((s, t) => s + t.pages, 0), ctx);
      const free = referenceFree(before);
      const pmdSize = Math.ceil(total * PAGE / (2 * MiB)) * 2 * MiB;
      const pmd = referenceTopDown(free, pmdSize, 2 * MiB);
      const page = pmd ? 0 : referenceTopDown(free, total * PAGE, PAGE);
      if (!pmd && !page) {
        seen.noRoom++;
        assertEquals([r.ok, r.base, r.size, r.reason], [
          false,
          0,
          0,
          "Failed to reserve hyp memory",
        ], ctx);
        assertEquals(mb, before, ctx);
        continue;
      }
      // Top-down: exactly the highest slot, PMD path first.
      if (pmd) {
        seen.pmd++;
        assertEquals([r.base, r.size, r.align], [pmd, pmdSize, 2 * MiB], ctx);
        assertEquals(r.base % (2 * MiB), 0, ctx);
      } else {
        seen.page++;
        assertEquals([r.base, r.size, r.align], [page, total * PAGE, PAGE], ctx);
      }
      // Inside DRAM (one usable memory region), disjoint from the other
      // reservations, page-aligned, at least the computed size.
      const end = r.base + r.size;
      const bank = before.memory.find((m) => r.base >= m.base && end <= m.base + m.size);
      assertEquals(bank !== undefined && !((bank.flags ?? 0) & MEMBLOCK_FLAGS.NOMAP), true, ctx);
      for (const res of before.reserved) {
        assertEquals(end <= res.base || r.base >= res.base + res.size, true, ctx);
      }
      assertEquals([r.base % PAGE, r.size % PAGE], [0, 0], ctx);
      assertEquals(r.size >= total * PAGE, true, ctx);
      // memblock.reserved gained exactly the pool, memory is untouched.
      const bytes = (m: Memblock) => m.reserved.reduce((s, x) => s + x.size, 0);
      assertEquals(bytes(mb), bytes(before) + r.size, ctx);
      assertEquals(mb.memory, before.memory, ctx);
      // What EL2 carves fits in the pool.
      const carved = rm.poolLayout(r.regions, { base: r.base, size: r.size });
      const last = carved[carved.length - 1]!;
      assertEquals(last.offset + last.pages <= r.size / PAGE, true, ctx);
    }
    // The generator reaches every outcome (counts for seed 0x513 / 0x6e6 printed on failure).
    for (const [k, v] of Object.entries(seen)) {
      assertEquals(v > 0, true, `no ${k} case in ${JSON.stringify(seen)}`);
    }
  });
}

Deno.test("the RESERVED_MEM suite checks the shape of a failed reservation", async () => {
  const inner = createReservedMem({ version: "v5.13" });
  const failing = (name: string, patch: object): ReservedMem => ({
    name,
    version: inner.version,
    hypPageBytes: inner.hypPageBytes,
    kvmHypReserve(m) {
      const r = inner.kvmHypReserve(m);
      return r.ok ? r : { ...r, ...patch };
    },
    poolLayout: (regions, pool) => inner.poolLayout(regions, pool),
  });
  await assertRejects(
    () => reservedMemConformance(failing("base_on_failure", { base: 0x1000 })),
    ConformanceError,
    "base and size after a failed reservation",
  );
  await assertRejects(
    () => reservedMemConformance(failing("no_reason", { reason: "" })),
    ConformanceError,
    "a failure gives a reason",
  );
});
