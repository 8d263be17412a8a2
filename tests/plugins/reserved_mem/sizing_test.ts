import { assertEquals, assertThrows } from "@std/assert";
import {
  dividePoolLayout,
  hostS2DevPgtablePages,
  hostS2MemPgtablePages,
  hostS2PgtablePages,
  hypFfaProxyPages,
  hypPgtableMaxPages,
  hypPgtableTotalPages,
  hypReserveTerms,
  hypS1PgtablePages,
  hypVmemmapPages,
  hypVmemmapSpan,
  hypVmTablePages,
  reservePageCounts,
  sizingProfile,
  vmemmapFixedPointPages,
} from "../../../plugins/reserved_mem/mod.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const ONE_4G = [{ base: 0x4000_0000, size: 4 * GiB }];
// Two banks that do not touch: 2 GiB at 1 GiB and 1 GiB at 4 GiB.
const TWO_BANKS = [{ base: 0x4000_0000, size: 2 * GiB }, { base: 0x1_0000_0000, size: GiB }];

Deno.test("__hyp_pgtable_max_pages() runs 4 rounds in v5.13 and 5 in mainline", () => {
  // 1 GiB = 262144 pages: 512 + 1 + 1 + 1 (+ 1).
  assertEquals(hypPgtableMaxPages(262144, 4), 515);
  assertEquals(hypPgtableMaxPages(262144, 5), 516);
  // 4 GiB = 1048576 pages: 2048 + 4 + 1 + 1 (+ 1).
  assertEquals(hypPgtableMaxPages(1048576, 4), 2054);
  assertEquals(hypPgtableMaxPages(1048576, 5), 2055);
  // One page still needs one table per level.
  assertEquals(hypPgtableMaxPages(1, 4), 4);
  assertEquals(hypPgtableMaxPages(0, 4), 0);
});

Deno.test("__hyp_pgtable_total_pages() counts whole pages per region (size >> PAGE_SHIFT)", () => {
  // 4 KiB + 4095 bytes is one page; 513 pages need 2 leaf tables.
  assertEquals(hypPgtableTotalPages([{ base: 0x4000_0000, size: 8191 }], 4), 4);
  assertEquals(hypPgtableTotalPages([{ base: 0x4000_0000, size: 513 * 4096 }], 4), 2 + 1 + 1 + 1);
  assertEquals(hypPgtableTotalPages(TWO_BANKS, 4), 1028 + 515);
});

Deno.test("v5.13 worked example: one 4 GiB bank gives 2569 + 2070 + 515 + 45 = 5199 pages", () => {
  const levels = 4;
  assertEquals(hypS1PgtablePages(ONE_4G, levels), 2569); // 2054 + 515
  assertEquals(hostS2MemPgtablePages(ONE_4G, levels), 2070); // 2054 + 16
  assertEquals(hostS2DevPgtablePages(levels), 515);
  // Fixed point: ceil(5154 × 32 / 4096) = 41, + max_pages(41) = 4 → 45;
  // then ceil(5199 × 32 / 4096) = 41 again → 45.
  assertEquals(vmemmapFixedPointPages(5154, 32, levels), 45);
  const terms = hypReserveTerms(ONE_4G, sizingProfile("v5.13"));
  assertEquals(terms, [
    { name: "vmemmap", symbol: "vmemmap_base", pages: 45, offset: 0 },
    { name: "hyp_s1", symbol: "hyp_pgt_base", pages: 2569, offset: 45 },
    { name: "host_s2_mem", symbol: "host_s2_mem_pgt_base", pages: 2070, offset: 45 + 2569 },
    { name: "host_s2_dev", symbol: "host_s2_dev_pgt_base", pages: 515, offset: 45 + 2569 + 2070 },
  ]);
  assertEquals(reservePageCounts(terms), {
    hyp_s1: 2569,
    host_s2_mem: 2070,
    host_s2_dev: 515,
    vmemmap: 45,
    total: 5199,
  });
});

Deno.test("the v5.13 vmemmap fixed point is a fixed point of the kernel's step", () => {
  for (const pool of [0, 1, 127, 128, 5154, 40_000, 1_000_000, 12_345_678]) {
    const nr = vmemmapFixedPointPages(pool, 32, 4);
    const step = Math.ceil((pool + nr) * 32 / 4096) + hypPgtableMaxPages(
      Math.ceil((pool + nr) * 32 / 4096),
      4,
    );
    assertEquals(step, nr, `pool ${pool}`);
  }
  assertThrows(() => vmemmapFixedPointPages(10, 8192, 4), RangeError, "no fixed point");
});

Deno.test("mainline one 4 GiB bank: every term by hand", () => {
  const levels = 5;
  // hyp_s1 = total (2055) + 1 GiB of private mappings (516).
  assertEquals(hypS1PgtablePages(ONE_4G, levels), 2571);
  // host_s2 = total (2055) + 16 + 1 GiB of MMIO (516).
  assertEquals(hostS2PgtablePages(ONE_4G, levels), 2587);
  // vm_table = PAGE_ALIGN(255 × 8 = 2040) = 1 page.
  assertEquals(hypVmTablePages(), 1);
  // vmemmap: start = 0x40000 × 8 = 0x200000, 1048576 × 8 = 8 MiB → 2048 pages.
  assertEquals(hypVmemmapPages(ONE_4G, 8), 2048);
  // ffa_proxy = 2 mailboxes + ceil((48 + 16 + 16 + 2048 × 16 = 32848) / 4096 = 8.02) = 2 + 9.
  assertEquals(hypFfaProxyPages(), 11);
  const terms = hypReserveTerms(ONE_4G, sizingProfile("mainline"));
  assertEquals(terms.map((t) => [t.name, t.symbol, t.pages, t.offset]), [
    ["selftest", "selftest_base", 0, 0],
    ["vmemmap", "vmemmap_base", 2048, 0],
    ["vm_table", "vm_table_base", 1, 2048],
    ["hyp_s1", "hyp_pgt_base", 2571, 2049],
    ["host_s2", "host_s2_pgt_base", 2587, 4620],
    ["ffa_proxy", "ffa_proxy_pages", 11, 7207],
  ]);
  // 2571 + 2587 + 1 + 2048 + 0 + 11 = 7218.
  assertEquals(reservePageCounts(terms), {
    hyp_s1: 2571,
    host_s2_mem: 2587,
    host_s2_dev: 0,
    vmemmap: 2048,
    total: 7218,
  });
});

Deno.test("mainline with CONFIG_NVHE_EL2_DEBUG reserves 32 selftest pages first", () => {
  const terms = hypReserveTerms(ONE_4G, sizingProfile("mainline", { nvheEl2Debug: true }));
  assertEquals(terms[0], { name: "selftest", symbol: "selftest_base", pages: 32, offset: 0 });
  assertEquals(terms[1]!.offset, 32);
  assertEquals(reservePageCounts(terms).total, 7218 + 32);
  // v5.13 has no selftest term at all.
  assertEquals(
    hypReserveTerms(ONE_4G, sizingProfile("v5.13", { nvheEl2Debug: true })).length,
    4,
  );
});

Deno.test("two banks, v5.13: 1028 + 515 table pages, total 4169", () => {
  const terms = reservePageCounts(hypReserveTerms(TWO_BANKS, sizingProfile("v5.13")));
  // total = max4(524288) + max4(262144) = 1028 + 515 = 1543.
  // s1 = 1543 + 515 = 2058; mem = 1543 + 16 = 1559; dev = 515; P = 4132.
  // vmemmap: ceil(4132 × 32 / 4096) = 33, + 4 = 37; ceil(4169 × 32 / 4096) = 33 → 37.
  assertEquals(terms, {
    hyp_s1: 2058,
    host_s2_mem: 1559,
    host_s2_dev: 515,
    vmemmap: 37,
    total: 4169,
  });
});

Deno.test("two banks, mainline: per-region vmemmap and 5-level tables, total 5686", () => {
  const terms = reservePageCounts(hypReserveTerms(TWO_BANKS, sizingProfile("mainline")));
  // total = max5(524288) + max5(262144) = 1029 + 516 = 1545.
  // s1 = 1545 + 516 = 2061; host_s2 = 1545 + 16 + 516 = 2077.
  // vmemmap: 524288 × 8 / 4096 = 1024 and 262144 × 8 / 4096 = 512 (both ranges page-aligned).
  // total = 2061 + 2077 + 1 + 1536 + 0 + 11 = 5686.
  assertEquals(terms, {
    hyp_s1: 2061,
    host_s2_mem: 2077,
    host_s2_dev: 0,
    vmemmap: 1536,
    total: 5686,
  });
});

Deno.test("hyp_vmemmap_memblock_size() rounds each region out to pages; shared pages count twice", () => {
  // [0x40001000, +1 MiB): start 0x40001 × 8 = 0x200008 → 0x200000; end 0x200808 → 0x201000.
  assertEquals(hypVmemmapSpan(0x4000_1000, MiB, 8), { start: 0x200000, end: 0x201000 });
  // A second region whose entries start in the same vmemmap page: A covers
  // [0x200000, 0x200800) → 1 page; B starts at 0x40180 × 8 = 0x200c00 and
  // ends at 0x201400 → pages 0x200000 and 0x201000. Two distinct pages cover
  // both, but the kernel sums 1 + 2.
  const regions = [{ base: 0x4000_0000, size: MiB }, { base: 0x4018_0000, size: MiB }];
  assertEquals(hypVmemmapPages(regions, 8), 3);
  // 32-byte entries (v5.13 layout): 256 pages × 32 = 8 KiB from 0x800000.
  assertEquals(hypVmemmapSpan(0x4000_0000, MiB, 32), { start: 0x800000, end: 0x802000 });
});

Deno.test("divide_memory_pool(): v5.13 sizes the vmemmap from the pool, mainline from all memory", () => {
  const pool = { base: 0x1_3ea0_0000, size: 22 * MiB };
  const v513 = dividePoolLayout(ONE_4G, pool, sizingProfile("v5.13"));
  // 5632 pool pages × 32 bytes = 176 KiB = 44 pages, from 0x13ea00 × 32 = 0x27d4000 (aligned).
  assertEquals(v513.map((t) => [t.name, t.pages, t.offset]), [
    ["vmemmap", 44, 0],
    ["hyp_s1", 2569, 44],
    ["host_s2_mem", 2070, 44 + 2569],
    ["host_s2_dev", 515, 44 + 2569 + 2070],
  ]);
  // An unaligned pool base spills into one more vmemmap page: 0x13ea01 × 32 = 0x27d4020.
  const spill = dividePoolLayout(
    ONE_4G,
    { base: 0x1_3ea0_1000, size: 22 * MiB },
    sizingProfile("v5.13"),
  );
  assertEquals(spill[0]!.pages, 45);
  const mainline = sizingProfile("mainline");
  assertEquals(dividePoolLayout(ONE_4G, pool, mainline), hypReserveTerms(ONE_4G, mainline));
});

Deno.test("sizingProfile() rejects an unknown version", () => {
  assertThrows(
    () => sizingProfile("v6.6" as "v5.13"),
    RangeError,
    `Unknown kernel release "v6.6": choose v5.13, v6.1, v6.12, v7.2, mainline`,
  );
});
