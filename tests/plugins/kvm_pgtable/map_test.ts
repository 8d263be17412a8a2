import { assertEquals, assertThrows } from "@std/assert";
import {
  ERRNO,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  Trace,
} from "../../../core/mod.ts";
import {
  checkTableRefcounts,
  encodeHypLeaf,
  encodeHypTable,
  KVM_PGTABLE_PROT_SW,
  kvmPgtableFactory,
} from "../../../plugins/kvm_pgtable/mod.ts";
import { fixture, G1, K4, M2 } from "./_fixture.ts";
import { testPagePool } from "./_page_pool.ts";

const VERSIONS = ["v5.13", "mainline"] as const;

for (const version of VERSIONS) {
  Deno.test(`kvm_pgtable_hyp_map() (${version}) maps 1 GiB of 4 KiB pages with exactly 515 table pages`, () => {
    const { pgt, pool } = fixture(version);
    // VA 1 GiB-aligned, PA 4 KiB-misaligned: no block fits anywhere.
    assertEquals(pgt.map(0x4000_0000, G1, 0x1_0000_1000, PAGE_HYP), 0);
    assertEquals(pool.allocs, 515); // __hyp_pgtable_max_pages(262144) in v5.13
    assertEquals(pgt.tablePages().length, 515);
    assertEquals(pgt.maplets(), [{ va: 0x4000_0000, pa: 0x1_0000_1000, size: G1, prot: PAGE_HYP }]);
    assertEquals(pgt.getLeaf(0x4000_0000 + G1 - K4).level, 3);
    if (version === "mainline") assertEquals(checkTableRefcounts(pgt, pool.memory), undefined);
  });

  Deno.test(`kvm_pgtable_hyp_map() (${version}) uses blocks where VA, PA and size allow`, () => {
    const { pgt, pool } = fixture(version);
    // 2 MiB-aligned but not 1 GiB-aligned: 512 level-2 blocks in one table.
    assertEquals(pgt.map(0x4000_0000, G1, 0x1_0020_0000, PAGE_HYP), 0);
    assertEquals(pool.allocs, 3);
    for (const off of [0, M2, G1 - M2]) {
      assertEquals(pgt.getLeaf(0x4000_0000 + off), {
        pte: encodeHypLeaf(0x1_0020_0000 + off, PAGE_HYP, 2, { version }),
        level: 2,
      });
    }
    // 1 GiB-aligned VA and PA: one level-1 block.
    assertEquals(pgt.map(0x8000_0000, G1, 0x1_4000_0000, PAGE_HYP_RO), 0);
    assertEquals(pool.allocs, 3);
    assertEquals(pgt.getLeaf(0x8000_0000).level, 1);
  });

  Deno.test(`kvm_pgtable_hyp_map() (${version}) falls back to pages at misaligned edges`, () => {
    const { pgt } = fixture(version);
    // [2M - 4K, 6M + 4K): pages, two blocks, pages.
    const va = 0x4000_0000 + M2 - K4;
    assertEquals(pgt.map(va, 2 * M2 + 2 * K4, 0x8000_0000 + M2 - K4, PAGE_HYP), 0);
    const levels = [va, va + K4, va + K4 + M2, va + K4 + 2 * M2].map((a) => pgt.getLeaf(a).level);
    assertEquals(levels, [3, 2, 2, 3]);
    // Aligned VA but PA off by a page: pages only.
    assertEquals(pgt.map(0x8000_0000, M2, 0x9000_1000, PAGE_HYP), 0);
    assertEquals(pgt.getLeaf(0x8000_0000).level, 3);
    assertEquals(pgt.getLeaf(0x8000_0000 + M2 - K4).level, 3);
    // A block must fit before the end.
    assertEquals(pgt.map(0xc000_0000, M2 - K4, 0xa000_0000, PAGE_HYP), 0);
    assertEquals(pgt.getLeaf(0xc000_0000).level, 3);
  });

  Deno.test(`kvm_pgtable_hyp_map() (${version}) rounds addr down and phys down to pages`, () => {
    const { pgt } = fixture(version);
    // end = PAGE_ALIGN(ALIGN_DOWN(addr) + size): one page, not two.
    assertEquals(pgt.map(0x4000_1800, K4, 0x8000_0fff, PAGE_HYP_EXEC), 0);
    assertEquals(pgt.maplets(), [{
      va: 0x4000_1000,
      pa: 0x8000_0000,
      size: K4,
      prot: PAGE_HYP_EXEC,
    }]);
  });

  Deno.test(`kvm_pgtable_hyp_map() (${version}) writes the version's descriptors`, () => {
    const { pgt } = fixture(version);
    const cases = [PAGE_HYP, PAGE_HYP_EXEC, PAGE_HYP_RO, PAGE_HYP_DEVICE];
    cases.forEach((prot, i) => {
      assertEquals(pgt.map(0x4000_0000 + i * K4, K4, 0x9000_0000 + i * K4, prot), 0);
      assertEquals(
        pgt.getLeaf(0x4000_0000 + i * K4).pte,
        encodeHypLeaf(0x9000_0000 + i * K4, prot, 3, { version }),
      );
    });
    const device = pgt.getLeaf(0x4000_0000 + 3 * K4).pte & 0xfffn;
    assertEquals(device, version === "v5.13" ? 0x757n : 0x753n);
  });

  Deno.test(`kvm_pgtable_hyp_map() (${version}) rejects bad prot with -EINVAL and changes nothing`, () => {
    const { pgt, pool } = fixture(version);
    pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP);
    const digest = pool.memory.digest();
    const allocs = pool.allocs;
    // The kernel's three rules only (no R, W with X, X with DEVICE); an
    // ignored bit (0x10) does not rescue a rejected prot.
    for (const prot of [0x0, 0x2, 0x3, 0x7, 0xd, 0xf, 0x12, 0x17, 0x1d]) {
      assertEquals(pgt.map(0x5000_0000, M2, 0x8000_0000, prot), ERRNO.EINVAL);
    }
    assertEquals(pool.memory.digest(), digest);
    assertEquals(pool.allocs, allocs);
    assertEquals(pgt.warnCount, 0);
    assertThrows(() => pgt.map(0x4000_0000, K4, 2 ** 48, PAGE_HYP), RangeError, "48-bit");
    assertThrows(() => pgt.map(-4096, K4, 0, PAGE_HYP), RangeError, "non-negative");
    assertThrows(() => pgt.map(0, 0.5, 0, PAGE_HYP), RangeError);
    assertEquals(pool.memory.digest(), digest);
  });

  Deno.test(`kvm_pgtable_hyp_map() (${version}) ignores the prot bits hyp_set_prot_attr does not read`, () => {
    const { pgt } = fixture(version);
    const sw0 = KVM_PGTABLE_PROT_SW.SW0;
    // R | bit 4 (mainline's NORMAL_NC, stage-2 only) maps as PAGE_HYP_RO: read-only, XN.
    assertEquals(pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP_RO | 0x10), 0);
    assertEquals(
      pgt.getLeaf(0x4000_0000).pte,
      encodeHypLeaf(0x8000_0000, PAGE_HYP_RO, 3, { version }),
    );
    // Unnamed bits, and a 2 MiB block through the same path.
    assertEquals(pgt.map(0x4020_0000, M2, 0x8020_0000, PAGE_HYP | (1 << 30)), 0);
    assertEquals(pgt.getLeaf(0x4020_0000), {
      pte: encodeHypLeaf(0x8020_0000, PAGE_HYP, 2, { version }),
      level: 2,
    });
    // SW0: copied to bit 55 in mainline, dropped by v5.13 (its enum has no software bits).
    assertEquals(pgt.map(0x4040_0000, K4, 0x8040_0000, PAGE_HYP | sw0), 0);
    assertEquals(
      pgt.getLeaf(0x4040_0000).pte,
      version === "mainline"
        ? encodeHypLeaf(0x8040_0000, PAGE_HYP | sw0, 3, { version })
        : encodeHypLeaf(0x8040_0000, PAGE_HYP, 3, { version }),
    );
    assertEquals(pgt.warnCount, 0);
  });

  Deno.test(`kvm_pgtable_hyp_map() (${version}) returns -ENOMEM when mm_ops runs dry, keeping what it mapped`, () => {
    // pgd + 3 pages: enough for the first 2 MiB of pages (pud, pmd, one pte table).
    const { pgt, pool } = fixture(version, { pages: 4 });
    assertEquals(pgt.map(0x4000_0000, 2 * M2, 0x8000_1000, PAGE_HYP), ERRNO.ENOMEM);
    // No rollback: the first 512 pages stay mapped.
    assertEquals(pgt.maplets(), [{ va: 0x4000_0000, pa: 0x8000_1000, size: M2, prot: PAGE_HYP }]);
    assertEquals(pool.allocs, 4);
  });

  Deno.test(`kvm_pgtable_hyp_map() (${version}) re-mapping the same range is a silent no-op`, () => {
    const { pgt, pool } = fixture(version);
    assertEquals(pgt.map(0x4000_0000, 3 * M2, 0x8000_0000, PAGE_HYP), 0);
    const digest = pool.memory.digest();
    assertEquals(pgt.map(0x4000_0000, 3 * M2, 0x8000_0000, PAGE_HYP), 0);
    assertEquals(pool.memory.digest(), digest);
    assertEquals(pgt.warnCount, 0);
    if (version === "mainline") assertEquals(checkTableRefcounts(pgt, pool.memory), undefined);
  });

  Deno.test(`kvm_pgtable_hyp_map() (${version}) records map events and WARNs in the trace`, () => {
    const { pgt, trace } = fixture(version);
    pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP);
    pgt.map(0x4000_0000, K4, 0x8000_1000, PAGE_HYP);
    assertEquals(trace.filter("map")[0]!.data, {
      table: "test_pgtable",
      va: "0x40000000",
      pa: "0x80000000",
      size: "0x1000",
      prot: "PAGE_HYP",
    });
    const warns = trace.filter("log").map((e) => e.data.message);
    // v5.13 WARNs once and keeps the entry; mainline WARNs in try_leaf, then
    // again at level 3 where no table can go.
    assertEquals(warns.length, version === "v5.13" ? 1 : 2);
    assertEquals(warns.length, pgt.warnCount);
    assertEquals(warns[0]!.startsWith("WARN in "), true);
  });
}

Deno.test("kvm_pgtable_hyp_map() (v5.13) keeps a different valid leaf with a WARN and succeeds", () => {
  const { pgt, pool } = fixture("v5.13");
  assertEquals(pgt.map(0x4000_0000, 2 * K4, 0x8000_0000, PAGE_HYP), 0);
  const digest = pool.memory.digest();
  // Different PA, different prot, software bits: all kept.
  assertEquals(pgt.map(0x4000_0000, 2 * K4, 0x9000_0000, PAGE_HYP), 0);
  assertEquals(pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP_RO), 0);
  assertEquals(pgt.warnCount, 3);
  assertEquals(pool.memory.digest(), digest);
  assertEquals(pgt.maplets(), [{ va: 0x4000_0000, pa: 0x8000_0000, size: 2 * K4, prot: PAGE_HYP }]);
  // A block where one fits is also kept.
  assertEquals(pgt.map(0x4020_0000, M2, 0x8020_0000, PAGE_HYP), 0);
  assertEquals(pgt.map(0x4020_0000, M2, 0x8040_0000, PAGE_HYP_EXEC), 0);
  assertEquals(pgt.warnCount, 4);
  assertEquals(pgt.getLeaf(0x4020_0000).pte, encodeHypLeaf(0x8020_0000, PAGE_HYP, 2));
});

Deno.test("kvm_pgtable_hyp_map() (v5.13) replaces a valid block with an empty table when no leaf fits", () => {
  const { pgt } = fixture("v5.13");
  assertEquals(pgt.map(0x4000_0000, M2, 0x8000_0000, PAGE_HYP), 0);
  // A page inside the block: kvm_set_table_pte WARNs and installs a new table;
  // the rest of the old block is gone.
  assertEquals(pgt.map(0x4000_1000, K4, 0x9000_0000, PAGE_HYP_RO), 0);
  assertEquals(pgt.warnCount, 1);
  assertEquals(pgt.maplets(), [{ va: 0x4000_1000, pa: 0x9000_0000, size: K4, prot: PAGE_HYP_RO }]);
});

Deno.test("kvm_pgtable_hyp_map() (mainline) overwrites a leaf differing only in software bits", () => {
  const { pgt, pool } = fixture("mainline");
  const sw = KVM_PGTABLE_PROT_SW.SW0;
  assertEquals(pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP), 0);
  assertEquals(pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP | sw), 0);
  assertEquals(pgt.warnCount, 0);
  assertEquals(
    pgt.getLeaf(0x4000_0000).pte,
    encodeHypLeaf(0x8000_0000, PAGE_HYP | sw, 3, { version: "mainline" }),
  );
  assertEquals(pgt.maplets()[0]!.prot, PAGE_HYP | sw);
  assertEquals(checkTableRefcounts(pgt, pool.memory), undefined);
});

Deno.test("kvm_pgtable_hyp_map() (mainline) fails a level-3 conflict with -EINVAL and a WARN", () => {
  const { pgt, pool } = fixture("mainline");
  assertEquals(pgt.map(0x4000_1000, K4, 0x8000_0000, PAGE_HYP), 0);
  // The walk maps the first page, then stops at the conflict.
  assertEquals(pgt.map(0x4000_0000, 3 * K4, 0x9000_0000, PAGE_HYP), ERRNO.EINVAL);
  assertEquals(pgt.warnCount, 2); // try_leaf's WARN, then hyp_map_walker's at level 3
  assertEquals(pgt.maplets(), [
    { va: 0x4000_0000, pa: 0x9000_0000, size: K4, prot: PAGE_HYP },
    { va: 0x4000_1000, pa: 0x8000_0000, size: K4, prot: PAGE_HYP },
  ]);
  assertEquals(checkTableRefcounts(pgt, pool.memory), undefined);
});

Deno.test("kvm_pgtable_hyp_map() (mainline) silently puts a table over a block too big for the range and over-counts its slot", () => {
  const { pgt, pool } = fixture("mainline");
  assertEquals(pgt.map(0x4000_0000, M2, 0x8000_0000, PAGE_HYP), 0);
  // No block fits a 4 KiB range, so try_leaf bails out before comparing:
  // no WARN, and the new table drops the rest of the old block.
  assertEquals(pgt.map(0x4000_1000, K4, 0x9000_0000, PAGE_HYP_RO), 0);
  assertEquals(pgt.warnCount, 0);
  assertEquals(pgt.maplets(), [{ va: 0x4000_1000, pa: 0x9000_0000, size: K4, prot: PAGE_HYP_RO }]);
  // The kernel's get_page(ptep) on a slot that was already valid leaves the
  // level-2 table one reference high: its refcount is no longer 1 + its valid entries.
  const pmd = pgt.tablePages()[2]!;
  assertEquals(pool.refcount(pmd), 3);
  assertEquals(checkTableRefcounts(pgt, pool.memory)?.includes("refcount 3, expected 1 + 1"), true);
});

Deno.test("kvm_pgtable_hyp_map() (mainline) re-maps a conflicting block as pages after a WARN", () => {
  const { pgt, pool } = fixture("mainline");
  assertEquals(pgt.map(0x4000_0000, M2, 0x8000_0000, PAGE_HYP), 0);
  // Same size, other PA: try_leaf WARNs, a table replaces the block and the
  // walk descends into it, mapping the new PA with 512 pages.
  assertEquals(pgt.map(0x4000_0000, M2, 0x9000_0000, PAGE_HYP), 0);
  assertEquals(pgt.warnCount, 1);
  assertEquals(pgt.maplets(), [{ va: 0x4000_0000, pa: 0x9000_0000, size: M2, prot: PAGE_HYP }]);
  assertEquals(pgt.getLeaf(0x4000_0000).level, 3);
  // The slot was counted once as a block and again for the table.
  assertEquals(checkTableRefcounts(pgt, pool.memory)?.includes("expected 1 + 1"), true);
});

Deno.test("kvm_pgtable_hyp_map() (mainline) sets GP on executable leaves with BTI", () => {
  const pool = testPagePool();
  const pgt = kvmPgtableFactory({ version: "mainline", bti: true }).hypInit({
    iaBits: 48,
    mmOps: pool.mmOps,
    memory: pool.memory,
  });
  if (typeof pgt === "number") throw new Error("hypInit");
  pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP_EXEC);
  assertEquals(
    pgt.getLeaf(0x4000_0000).pte,
    encodeHypLeaf(0x8000_0000, PAGE_HYP_EXEC, 3, { version: "mainline", bti: true }),
  );
});

Deno.test("kvm_pgtable_hyp_map() (mainline) takes a reference for every entry it fills", () => {
  const { pgt, pool } = fixture("mainline");
  assertEquals(pgt.map(0x4000_0000, 3 * K4, 0x8000_0000, PAGE_HYP), 0);
  const [pgd, pud, pmd, pte] = pgt.tablePages();
  assertEquals([pgd, pud, pmd, pte].map((pa) => pool.refcount(pa!)), [2, 2, 2, 4]);
});

Deno.test("kvm_pgtable_hyp_map() (v5.13) takes no references and needs no get_page", () => {
  const { pgt, pool } = fixture("v5.13", { early: true });
  assertEquals(pgt.map(0x4000_0000, 3 * K4, 0x8000_0000, PAGE_HYP), 0);
  assertEquals(pgt.tablePages().map((pa) => pool.refcount(pa)), [1, 1, 1, 1]);
});

Deno.test("kvm_pgtable_hyp_init() derives levels from ia_bits and fails cleanly", async (t) => {
  for (const version of VERSIONS) {
    await t.step(version, () => {
      const starts = [48, 40, 39, 32, 30, 22, 21, 13].map((iaBits) => {
        const pgt = fixture(version, { iaBits }).pgt;
        return pgt.startLevel;
      });
      assertEquals(starts, [0, 0, 1, 1, 2, 2, 3, 3]);
      const pool = testPagePool();
      const f = kvmPgtableFactory({ version });
      const init = { mmOps: pool.mmOps, memory: pool.memory };
      assertEquals(f.hypInit({ ...init, iaBits: 12 }), ERRNO.EINVAL);
      assertThrows(() => f.hypInit({ ...init, iaBits: 47.5 }), RangeError);
      assertEquals(pool.allocs, 0);
      // 49..52 bits start at level -1 where the walker has it (the LPA2
      // support of 6.12 and later); v5.13's walker has no level below 0.
      const lpa2 = f.hypInit({ ...init, iaBits: 52, lpa2: true });
      if (version === "v5.13") assertEquals(lpa2, ERRNO.EINVAL);
      else assertEquals(typeof lpa2 === "number" ? lpa2 : lpa2.startLevel, -1);
      const dry = testPagePool({ pages: 0 });
      assertEquals(
        f.hypInit({ iaBits: 48, mmOps: dry.mmOps, memory: dry.memory }),
        ERRNO.ENOMEM,
      );
    });
  }
});

Deno.test("kvm_pgtable_hyp_map() in a 39-bit table starts at level 1", () => {
  const { pgt, pool } = fixture("mainline", { iaBits: 39 });
  assertEquals(pgt.map(0, G1, 0x1_0000_1000, PAGE_HYP), 0);
  assertEquals(pool.allocs, 1 + 1 + 512);
  const pgd = pgt.tablePages()[0]!;
  assertEquals(pool.memory.read64(pgd) & 3n, 3n);
  assertEquals(pool.memory.read64(pgd), encodeHypTable(pgt.tablePages()[1]!));
});

Deno.test("kvm_pgtable_hyp_map() uses the factory's trace only when it wants the kind", () => {
  const pool = testPagePool();
  const trace = new Trace({ kinds: ["unmap"] });
  const pgt = kvmPgtableFactory({ version: "mainline", trace }).hypInit({
    iaBits: 48,
    mmOps: pool.mmOps,
    memory: pool.memory,
  });
  if (typeof pgt === "number") throw new Error("hypInit");
  pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP);
  assertEquals(trace.length, 0);
  pgt.unmap(0x4000_0000, K4);
  assertEquals(trace.filter("unmap")[0]!.data, {
    table: "pkvm_pgtable",
    va: "0x40000000",
    size: "0x1000",
  });
});
