import { assertEquals, assertThrows } from "@std/assert";
import {
  createMachine,
  EARLY_ALLOCATOR,
  type EarlyAllocator,
  type El2Memory,
  linearEl2Memory,
  MemoryFaultError,
  PhysicalMemory,
  Prng,
} from "../../../core/mod.ts";
import {
  createEarlyAllocator,
  earlyAllocator,
  type EarlyAllocVersion,
  hypEarlyAllocInit,
} from "../../../plugins/early_alloc/mod.ts";

const PAGE = 4096;
const RAM = 0x4000_0000;
// A linear map like the hyp's: va = pa - OFFSET.
const OFFSET = 0x4000_0000 - 0x8000_0000_0000;
const toPa = (va: number) => va + OFFSET;
const toVa = (pa: number) => pa - OFFSET;

function setup(pages: number, version: EarlyAllocVersion = "v5.13", at = RAM) {
  const mem = new PhysicalMemory([{ base: RAM, size: 2 ** 26 }]);
  // Dirty the range so that zeroing is visible.
  mem.fill(at, pages * PAGE, 0xa5);
  const el2 = linearEl2Memory(mem, toPa);
  const ea = hypEarlyAllocInit({
    virt: toVa(at),
    size: pages * PAGE,
    memory: el2,
    physToVirt: toVa,
    virtToPhys: toPa,
  }, version);
  return { mem, el2, ea };
}

function state(ea: EarlyAllocator) {
  return { base: ea.base, cur: ea.cur, end: ea.end, used: ea.nrUsedPages() };
}

Deno.test("hyp_early_alloc_init() sets base = cur = virt and end = virt + size", () => {
  const { ea } = setup(8);
  assertEquals(state(ea), { base: toVa(RAM), cur: toVa(RAM), end: toVa(RAM) + 8 * PAGE, used: 0 });
});

Deno.test("hyp_early_alloc_contig() bumps cur and returns zeroed pages in address order", () => {
  const { mem, ea } = setup(8);
  const a = ea.contig(3);
  const b = ea.page();
  assertEquals([a, b], [toVa(RAM), toVa(RAM) + 3 * PAGE]);
  assertEquals(mem.readBytes(RAM, 4 * PAGE).every((x) => x === 0), true);
  // The rest of the range is untouched.
  assertEquals(mem.read8(RAM + 4 * PAGE), 0xa5);
  assertEquals(ea.nrUsedPages(), 4);
  // Exactly the remaining four pages fit.
  assertEquals(ea.contig(4), toVa(RAM) + 4 * PAGE);
  assertEquals(state(ea).cur, ea.end);
});

Deno.test("hyp_early_alloc_contig(0) and an allocation past end return null and change nothing", () => {
  const { mem, ea } = setup(4);
  ea.contig(1);
  const before = state(ea);
  assertEquals(ea.contig(0), null);
  assertEquals(ea.contig(4), null);
  assertEquals(state(ea), before);
  // Nothing was zeroed by the failed call.
  assertEquals(mem.read8(RAM + PAGE), 0xa5);
  assertEquals(ea.contig(3), toVa(RAM) + PAGE);
  assertEquals(ea.page(), null);
  assertEquals(ea.mmOps.zallocPage(), null);
});

Deno.test("a range that is not a whole number of pages only hands out whole pages", () => {
  const mem = new PhysicalMemory([{ base: RAM, size: 2 ** 20 }]);
  const ea = hypEarlyAllocInit({
    virt: RAM,
    size: 2 * PAGE + 100,
    memory: linearEl2Memory(mem, (va) => va),
    physToVirt: (pa) => pa,
    virtToPhys: (va) => va,
  });
  assertEquals([ea.contig(2), ea.contig(1)], [RAM, null]);
  assertEquals(ea.nrUsedPages(), 2);
});

Deno.test("nr_pages is an unsigned int: the size wraps at 2^20 pages, as in the kernel", () => {
  // `nr_pages << PAGE_SHIFT` is computed in 32 bits: 2^20 pages → size 0, so the
  // kernel returns cur without moving it. 2^20 + 1 pages → 4 KiB.
  const { ea } = setup(4);
  const before = state(ea);
  assertEquals(ea.contig(2 ** 20), toVa(RAM));
  assertEquals(state(ea), before);
  assertEquals(ea.contig(2 ** 20 + 1), toVa(RAM));
  assertEquals(ea.nrUsedPages(), 1);
});

Deno.test("hyp_early_alloc_contig() rejects counts that are not unsigned ints, unchanged", () => {
  const { ea } = setup(4);
  const before = state(ea);
  for (const bad of [-1, 1.5, 2 ** 32, Number.NaN]) {
    assertThrows(() => ea.contig(bad), RangeError, "nr_pages is an unsigned int");
  }
  assertEquals(state(ea), before);
});

Deno.test("hyp_early_alloc_init() rejects a non-address range", () => {
  const mem = new PhysicalMemory([{ base: RAM, size: 2 ** 20 }]);
  const base = {
    memory: linearEl2Memory(mem, (va) => va),
    physToVirt: (pa: number) => pa,
    virtToPhys: (va: number) => va,
  };
  assertThrows(() => hypEarlyAllocInit({ ...base, virt: -4096, size: PAGE }), RangeError, "virt");
  assertThrows(() => hypEarlyAllocInit({ ...base, virt: RAM, size: 0.5 }), RangeError, "size");
  assertThrows(
    () => hypEarlyAllocInit({ ...base, virt: 2 ** 53 - 4096, size: 2 * PAGE }),
    RangeError,
    "past 2^53",
  );
});

Deno.test("a faulting zero (unbacked hyp VA) throws and leaves the allocator unchanged", () => {
  const mem = new PhysicalMemory([{ base: RAM, size: 2 * PAGE }]);
  // The range runs past the end of RAM: the third page faults.
  const ea = hypEarlyAllocInit({
    virt: RAM,
    size: 4 * PAGE,
    memory: linearEl2Memory(mem, (va) => va),
    physToVirt: (pa) => pa,
    virtToPhys: (va) => va,
  });
  assertEquals(ea.contig(2), RAM);
  const before = state(ea);
  assertThrows(() => ea.contig(1), MemoryFaultError);
  assertEquals(state(ea), before);
});

Deno.test("hyp_early_alloc_mm_ops: v5.13 leaves get/put_page NULL, mainline has no-ops", () => {
  const v513 = setup(4, "v5.13").ea.mmOps;
  assertEquals([v513.getPage, v513.putPage, v513.pageCount], [undefined, undefined, undefined]);
  const { ea } = setup(4, "mainline");
  const ops = ea.mmOps;
  assertEquals([typeof ops.getPage, typeof ops.putPage, ops.pageCount], [
    "function",
    "function",
    undefined,
  ]);
  const page = ops.zallocPage()!;
  const before = state(ea);
  ops.getPage!(page);
  ops.putPage!(page);
  assertEquals(state(ea), before);
  // zalloc_page is hyp_early_alloc_page: the same bump state.
  assertEquals(page, toVa(RAM));
  assertEquals(ea.page(), toVa(RAM) + PAGE);
  assertEquals([ops.virtToPhys(page), ops.physToVirt(RAM)], [RAM, toVa(RAM)]);
});

Deno.test("hyp_early_alloc_init() twice gives independent allocators (pool, then hyp_pgt)", () => {
  const { mem, el2, ea } = setup(64);
  const s1 = ea.contig(10)!;
  ea.contig(20);
  const pgt = hypEarlyAllocInit({
    virt: s1,
    size: 10 * PAGE,
    memory: el2,
    physToVirt: toVa,
    virtToPhys: toPa,
  });
  assertEquals([pgt.page(), pgt.nrUsedPages(), ea.nrUsedPages()], [s1, 1, 30]);
  assertEquals([pgt.base, pgt.end], [s1, s1 + 10 * PAGE]);
  // The second allocator zeroed its page again; the first one's state is its own.
  assertEquals(mem.read8(toPa(s1)), 0);
  assertEquals(ea.page(), toVa(RAM) + 30 * PAGE);
});

Deno.test("the early_alloc plugin provides EARLY_ALLOCATOR per version", () => {
  const m = createMachine({ plugins: [earlyAllocator({ version: "mainline" })] });
  const f = m.get(EARLY_ALLOCATOR);
  // mainline is v7.2: the name is the one asked for, the version the release.
  assertEquals([f.name, f.version, m.providerOf(EARLY_ALLOCATOR)], [
    "early_alloc_mainline",
    "v7.2",
    "early_alloc_mainline",
  ]);
  const ea = f.init({
    virt: RAM,
    size: 2 * PAGE,
    memory: linearEl2Memory(m.memory, (va) => va),
    physToVirt: (pa) => pa,
    virtToPhys: (va) => va,
  });
  assertEquals([ea.page(), typeof ea.mmOps.getPage], [RAM, "function"]);
  assertEquals(createEarlyAllocator().name, "early_alloc_v5_13");
  // Per release: v5.13 leaves hyp_early_alloc_mm_ops.get_page/put_page NULL;
  // 6.1, 6.12 and 7.2 (nvhe/early_alloc.c, hyp_early_alloc_init()) set them
  // to no-ops.
  const getPut = {
    "v5.13": "undefined",
    "v6.1": "function",
    "v6.12": "function",
    "v7.2": "function",
  };
  for (const [version, kind] of Object.entries(getPut)) {
    const g = createEarlyAllocator({ version });
    assertEquals([g.name, g.version], [`early_alloc_${version.replace(".", "_")}`, version]);
    const mm = g.init({
      virt: RAM,
      size: 2 * PAGE,
      memory: linearEl2Memory(m.memory, (va) => va),
      physToVirt: (pa) => pa,
      virtToPhys: (va) => va,
    }).mmOps;
    assertEquals([typeof mm.getPage, typeof mm.putPage], [kind, kind], version);
  }
});

// What hyp_early_alloc_contig() keeps (nvhe/early_alloc.c, v5.13 and
// mainline), over seeded random operations: base <= cur <= end; cur moves
// forward in whole pages; what it returns is zeroed; a NULL return changes
// nothing.
for (const version of ["v5.13", "mainline"] as const) {
  Deno.test(`early allocator (${version}): 20,000 random contig() calls over 400 pools keep base <= cur <= end`, () => {
    const prng = new Prng(version === "v5.13" ? 3 : 33);
    const mem = new PhysicalMemory([{ base: RAM, size: 2 ** 26 }]);
    let ops = 0;
    const seen = { zero: 0, full: 0, ok: 0 };
    for (let pool = 0; pool < 400; pool++) {
      const pages = 1 + prng.int(64);
      const at = RAM + prng.int(2 ** 26 / PAGE - pages) * PAGE;
      mem.fill(at, pages * PAGE, 1 + prng.int(255));
      const memory: El2Memory = linearEl2Memory(mem, toPa);
      const ea = hypEarlyAllocInit({
        virt: toVa(at),
        size: pages * PAGE,
        memory,
        physToVirt: toVa,
        virtToPhys: toPa,
      }, version);
      for (let i = 0; i < 50; i++, ops++) {
        const before = state(ea);
        // Sometimes through mm_ops->zalloc_page (one page), else contig(n).
        const viaMmOps = prng.int(4) === 0;
        const asked = viaMmOps ? 1 : prng.pick([0, 1, 2, prng.int(8), prng.int(pages + 4)]);
        const ret = viaMmOps ? ea.mmOps.zallocPage() : ea.contig(asked);
        const after = state(ea);
        // base ≤ cur ≤ end, and base/end never move.
        assertEquals(after.base <= after.cur && after.cur <= after.end, true);
        assertEquals([after.base, after.end], [before.base, before.end]);
        if (ret === null) {
          // null: n == 0 or not enough room, and nothing changed.
          assertEquals(asked === 0 || before.end - before.cur < asked * PAGE, true);
          assertEquals(after, before);
          seen[asked === 0 ? "zero" : "full"]++;
          continue;
        }
        // Success: the old cur, moved forward by whole pages, memory zeroed.
        assertEquals(ret, before.cur);
        assertEquals((after.cur - before.cur) % PAGE, 0);
        assertEquals(after.cur - before.cur, asked * PAGE);
        assertEquals(after.used, before.used + asked);
        assertEquals(memory.isZero(ret, asked * PAGE), true);
        seen.ok++;
        // Dirty what we got, as a user would; later allocations must not see it.
        if (asked > 0) memory.write8(ret + prng.int(asked * PAGE), 0xff);
      }
    }
    assertEquals(ops, 20_000);
    assertEquals(Object.values(seen).every((n) => n > 100), true, JSON.stringify(seen));
  });
}
