import { assertEquals } from "@std/assert";
import {
  createMachine,
  linearEl2Memory,
  PAGE_ALLOCATOR,
  PAGE_SIZE,
  pageAllocatorConformance,
  PhysicalMemory,
  PKVM,
  profile,
} from "../../mod.ts";
import { extentAllocator, plugin } from "../../examples/custom_allocator.ts";

Deno.test("examples/custom_allocator.ts passes the page-allocator conformance suite", (t) =>
  pageAllocatorConformance(extentAllocator, t, { refcountMax: 0xffff }));

Deno.test("examples/custom_allocator.ts is a plugin providing PAGE_ALLOCATOR", () => {
  const m = createMachine({ plugins: [plugin] });
  assertEquals(m.get(PAGE_ALLOCATOR).name, "extent");
});

Deno.test("examples/custom_allocator.ts boots both profiles", () => {
  for (const name of ["v5.13", "mainline"] as const) {
    const m = createMachine({ cpus: 1, plugins: profile(name, { allocator: plugin }) });
    m.trace.enabled = false;
    const r = m.get(PKVM).boot();
    assertEquals([r.ok, r.failure?.reason], [true, undefined], name);
  }
});

Deno.test("examples/custom_allocator.ts: a VA inside a page names that page (hyp_virt_to_page)", () => {
  const memory = linearEl2Memory(
    new PhysicalMemory([{ base: 0x40000000, size: 0x100000 }]),
    (va) => va,
  );
  const pool = extentAllocator.createPool({
    name: "t",
    pfn: 0x40000,
    nrPages: 64,
    reservedPages: 0,
    memory,
    vmemmap: 0,
    physToVirt: (pa) => pa,
    virtToPhys: (va) => va,
  });
  const va = pool.allocPages(1)!;
  pool.getPage(va + 0x80);
  assertEquals([pool.pageCount(va), pool.pageCount(va + PAGE_SIZE - 1)], [2, 2]);
  pool.putPage(va + 0x80);
  assertEquals(pool.pageCount(va + 0x80), 1);
  pool.putPage(va + PAGE_SIZE - 8);
  assertEquals(pool.stats().free, 64);
});

Deno.test("examples/custom_allocator.ts: checkInvariants() sees dirty free memory", () => {
  const memory = linearEl2Memory(
    new PhysicalMemory([{ base: 0x40000000, size: 0x100000 }]),
    (va) => va,
  );
  const pool = extentAllocator.createPool({
    name: "t",
    pfn: 0x40000,
    nrPages: 64,
    reservedPages: 0,
    memory,
    vmemmap: 0,
    physToVirt: (pa) => pa,
    virtToPhys: (va) => va,
  });
  assertEquals(pool.checkInvariants(), undefined);
  memory.write8(0x40000000 + 10 * PAGE_SIZE + 3, 1);
  assertEquals(pool.checkInvariants(), "free extent [0, 64) is not zero");
  assertEquals(pool.checkInvariants({ contents: false }), undefined);
});
