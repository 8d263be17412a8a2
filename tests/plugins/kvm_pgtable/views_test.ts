import { assertEquals, assertThrows } from "@std/assert";
import {
  createMachine,
  HyplabError,
  KernelBugError,
  KVM_PGTABLE,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
} from "../../../core/mod.ts";
import { encodeHypTable, kvmPgtable } from "../../../plugins/kvm_pgtable/mod.ts";
import { fixture, G1, K4, M2 } from "./_fixture.ts";
import { testPagePool } from "./_page_pool.ts";

Deno.test("maplets() merges across levels when VA and PA run on with equal prot", () => {
  const { pgt } = fixture("mainline");
  // Pages up to a 2 MiB boundary, then a block, then pages: one maplet.
  const va = 0x4000_0000 + M2 - 2 * K4;
  assertEquals(pgt.map(va, M2 + 3 * K4, 0x8000_0000 + M2 - 2 * K4, PAGE_HYP), 0);
  assertEquals([va, va + 2 * K4, va + 2 * K4 + M2].map((a) => pgt.getLeaf(a).level), [3, 2, 3]);
  assertEquals(pgt.maplets(), [{
    va,
    pa: 0x8000_0000 + M2 - 2 * K4,
    size: M2 + 3 * K4,
    prot: PAGE_HYP,
  }]);
});

Deno.test("maplets() splits on a prot change, a PA jump or a VA hole, sorted by VA", () => {
  const { pgt } = fixture("v5.13");
  pgt.map(0x4000_4000, K4, 0x8000_4000, PAGE_HYP); // mapped out of order on purpose
  pgt.map(0x4000_0000, 2 * K4, 0x8000_0000, PAGE_HYP);
  pgt.map(0x4000_2000, K4, 0x8000_2000, PAGE_HYP_RO); // prot change
  pgt.map(0x4000_3000, K4, 0x9000_0000, PAGE_HYP_RO); // PA jump
  pgt.map(0x7000_0000_0000, K4, 0x9000_0000, PAGE_HYP_DEVICE); // far VA, same PA again
  assertEquals(pgt.maplets(), [
    { va: 0x4000_0000, pa: 0x8000_0000, size: 2 * K4, prot: PAGE_HYP },
    { va: 0x4000_2000, pa: 0x8000_2000, size: K4, prot: PAGE_HYP_RO },
    { va: 0x4000_3000, pa: 0x9000_0000, size: K4, prot: PAGE_HYP_RO },
    { va: 0x4000_4000, pa: 0x8000_4000, size: K4, prot: PAGE_HYP },
    { va: 0x7000_0000_0000, pa: 0x9000_0000, size: K4, prot: PAGE_HYP_DEVICE },
  ]);
});

Deno.test("maplets() ignores reserved encodings the hardware would fault on", () => {
  const { pgt, pool } = fixture("mainline", { iaBits: 39 });
  pgt.map(0, K4, 0x8000_0000, PAGE_HYP);
  const pte = pgt.tablePages()[2]!;
  // A level-3 entry with bit 1 clear (a "block" at level 3) is reserved.
  pool.memory.write64(pte + 8, 0x0040_0000_8000_1741n);
  assertEquals(pgt.maplets(), [{ va: 0, pa: 0x8000_0000, size: K4, prot: PAGE_HYP }]);
});

Deno.test("dump() prints one ptdump-like line per run of equal leaves", () => {
  const { pgt } = fixture("v5.13");
  pgt.map(0x4000_0000, 2 * M2, 0x8000_0000, PAGE_HYP);
  pgt.map(0x4040_0000, 2 * K4, 0x9000_0000, PAGE_HYP_EXEC);
  pgt.map(0x4040_2000, K4, 0x9000_2000, PAGE_HYP_RO);
  pgt.map(0x8000_0000, K4, 0x0900_0000, PAGE_HYP_DEVICE);
  const pgd = pgt.pgd.toString(16);
  assertEquals(
    pgt.dump(),
    [
      `---[ test_pgtable (v5.13): ia_bits 48, start level 0, pgd 0x${pgd}, 6 table pages ]---`,
      "0x0000000040000000-0x0000000040400000        4M PMD -> 0x0000000080000000  RW NX SHD AF BLK MEM/NORMAL",
      "0x0000000040400000-0x0000000040402000        8K PTE -> 0x0000000090000000  ro x  SHD AF     MEM/NORMAL",
      "0x0000000040402000-0x0000000040403000        4K PTE -> 0x0000000090002000  ro NX SHD AF     MEM/NORMAL",
      "0x0000000080000000-0x0000000080001000        4K PTE -> 0x0000000009000000  RW NX SHD AF     DEVICE/nGnRE",
      "",
    ].join("\n"),
  );
});

Deno.test("dump() of an empty or destroyed table says so", () => {
  const { pgt } = fixture("mainline");
  assertEquals(pgt.dump().endsWith("1 table pages ]---\n(no mappings)\n"), true);
  pgt.destroy();
  assertEquals(pgt.dump(), "---[ test_pgtable (mainline): destroyed ]---\n(no mappings)\n");
});

Deno.test("tablePages() lists the pgd first, then tables in walk order", () => {
  const { pgt, pool } = fixture("mainline");
  pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP);
  pgt.map(0x4060_0000, K4, 0x8000_0000, PAGE_HYP);
  const pages = pgt.tablePages();
  assertEquals(pages.length, 5);
  assertEquals(pages[0], pgt.pgd);
  assertEquals(pool.memory.read64(pages[0]!), encodeHypTable(pages[1]!));
  assertEquals(pool.memory.read64(pages[1]! + 8), encodeHypTable(pages[2]!));
});

for (const version of ["v5.13", "mainline"] as const) {
  Deno.test(`kvm_pgtable_hyp_destroy() (${version}) frees every table page`, () => {
    const { pgt, pool } = fixture(version);
    pgt.map(0x4000_0000, G1 + M2 + K4, 0x8000_1000, PAGE_HYP);
    pgt.map(0x7f00_0000_0000, 2 * M2, 0x8000_0000, PAGE_HYP_RO);
    assertEquals(pool.live() > 500, true);
    pgt.destroy();
    assertEquals(pool.live(), 0);
    assertEquals(pool.frees, pool.allocs);
    assertEquals(pgt.warnCount, 0);
    assertThrows(() => pgt.destroy(), HyplabError, "already destroyed");
  });
}

Deno.test("kvm_pgtable_hyp_destroy() needs put_page and changes nothing without it", () => {
  const { pgt, pool } = fixture("v5.13", { early: true });
  pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP);
  const digest = pool.memory.digest();
  assertThrows(() => pgt.destroy(), KernelBugError, "put_page");
  assertEquals(pool.memory.digest(), digest);
  assertEquals(pgt.maplets().length, 1);
});

Deno.test("mmOps can be swapped after init, as the boot does with the buddy", () => {
  const { pgt, pool } = fixture("mainline", { early: true });
  pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP);
  pgt.mmOps = pool.mmOps;
  pgt.map(0x4000_1000, K4, 0x8000_1000, PAGE_HYP);
  // Only the second map took a reference on the PTE table.
  assertEquals(pool.refcount(pgt.tablePages()[3]!), 2);
});

Deno.test("kvmPgtable() provides KVM_PGTABLE and traces into the machine's trace", () => {
  for (const version of ["v5.13", "mainline"] as const) {
    const m = createMachine({ plugins: [kvmPgtable({ version })] });
    const factory = m.get(KVM_PGTABLE);
    assertEquals([factory.name, factory.version], [`kvm_pgtable-${version}`, version]);
    const pool = testPagePool({ memory: m.memory });
    const pgt = factory.hypInit({ iaBits: 48, mmOps: pool.mmOps, memory: m.memory });
    if (typeof pgt === "number") throw new Error("hypInit");
    assertEquals(pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP), 0);
    assertEquals(m.trace.filter("map").length, 1);
  }
  assertEquals(createMachine({ plugins: [kvmPgtable()] }).get(KVM_PGTABLE).version, "v5.13");
});
