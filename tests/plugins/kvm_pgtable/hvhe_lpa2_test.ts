// hVHE and LPA2 descriptors, level -1 tables, and the host stage-2's owner
// annotations, against the values real 6.12 and 7.2 boots under QEMU read
// back, and as properties over seeded random operations.

import { assertEquals, assertThrows } from "@std/assert";
import {
  ERRNO,
  PAGE_HYP,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  PhysicalMemory,
  Prng,
} from "../../../core/mod.ts";
import {
  decodeHypPte,
  encodeHypLeaf,
  encodeHypTable,
  hypPteProt,
  kernelPteProt,
  KVM_PGTABLE_PROT_SW,
  kvmPgtableFactory,
  stage2PgtableInit,
} from "../../../plugins/kvm_pgtable/mod.ts";
import { testPagePool } from "./_page_pool.ts";

Deno.test("hVHE leaves: the EL2&0 AP encodings and each release's execute-never bits, as real boots read them", () => {
  // 6.12 on neoverse-n1 (48 bits): RW 0x…703 with bit 54, exec 0x783.
  const v612 = { version: "v6.12", hvhe: true } as const;
  assertEquals(encodeHypLeaf(0, PAGE_HYP, 3, v612), 0x0040_0000_0000_0703n);
  assertEquals(encodeHypLeaf(0, PAGE_HYP_EXEC, 3, v612), 0x783n);
  assertEquals(encodeHypLeaf(0, PAGE_HYP_RO, 3, v612), 0x0040_0000_0000_0783n);
  // With LPA2 (6.12 on max): no SH.
  assertEquals(encodeHypLeaf(0, PAGE_HYP, 3, { ...v612, lpa2: true }), 0x0040_0000_0000_0403n);
  // 7.2 on max: PXN|UXN on everything not executable, LPA2.
  const v72 = { version: "v7.2", hvhe: true, lpa2: true } as const;
  assertEquals(encodeHypLeaf(0, PAGE_HYP, 3, v72), 0x0060_0000_0000_0403n);
  assertEquals(encodeHypLeaf(0, PAGE_HYP_EXEC, 3, v72), 0x483n);
  assertEquals(encodeHypLeaf(0, PAGE_HYP_RO, 3, v72), 0x0060_0000_0000_0483n);
  // Software bits ride along (the vgic state, PAGE_HYP_RO | SHARED_OWNED).
  const shared = PAGE_HYP_RO | KVM_PGTABLE_PROT_SW.SW0;
  assertEquals(encodeHypLeaf(0, shared, 3, v612), 0x00c0_0000_0000_0783n);
  // The decoders follow the format.
  for (const prot of [PAGE_HYP, PAGE_HYP_EXEC, PAGE_HYP_RO, shared]) {
    for (const o of [v612, v72, { version: "v6.1" } as const]) {
      assertEquals(hypPteProt(encodeHypLeaf(0x4020_0000, prot, 2, o), o), prot);
    }
  }
  // The kernel's own decoder: 7.2 hVHE gives PX|UX (X) for an exec leaf.
  assertEquals(kernelPteProt(0x483n, v72), 0x8n | 0x3n);
  assertEquals(kernelPteProt(0x0060_0000_0000_0403n, v72), 0xcn);
  assertEquals(kernelPteProt(0x783n, v612), 0x5n);
});

Deno.test("LPA2 output addresses: bits 49:12 in place, 51:50 in descriptor bits 9:8, round trip over random PAs", () => {
  const prng = new Prng(52);
  for (let i = 0; i < 4000; i++) {
    const level = 1 + prng.int(3);
    const g = 2 ** (12 + 9 * (3 - level));
    const pa = Math.floor((prng.nextU32() * 2 ** 20 + prng.int(2 ** 20)) / g) * g;
    const o = { version: "v7.2", hvhe: i % 2 === 0, lpa2: true } as const;
    const pte = encodeHypLeaf(pa, PAGE_HYP, level, o);
    assertEquals(Number((pte >> 8n) & 3n), Math.floor(pa / 2 ** 50) & 3);
    const d = decodeHypPte(pte, level, o);
    assertEquals([d.oa, d.prot, d.sh], [pa, PAGE_HYP, 0]);
    const t = encodeHypTable(Math.floor(pa / 4096) * 4096, { lpa2: true });
    assertEquals(decodeHypPte(t, 0, o).oa, Math.floor(pa / 4096) * 4096);
  }
  assertThrows(() => encodeHypLeaf(2 ** 48, PAGE_HYP, 3), RangeError, "2^48");
  assertEquals(
    decodeHypPte(encodeHypLeaf(2 ** 51, PAGE_HYP, 3, { lpa2: true }), 3, { lpa2: true }).oa,
    2 ** 51,
  );
});

Deno.test("a 52-bit table starts at level -1 and maps, looks up and unmaps across its 16 top entries", () => {
  const pool = testPagePool({ pages: 8192 });
  const f = kvmPgtableFactory({ version: "v7.2" });
  const pgt = f.hypInit({
    iaBits: 52,
    mmOps: pool.mmOps,
    memory: pool.memory,
    hvhe: true,
    lpa2: true,
  });
  if (typeof pgt === "number") throw new Error(`hypInit: ${pgt}`);
  assertEquals(pgt.startLevel, -1);
  const prng = new Prng(7);
  const mapped = new Map<number, number>();
  for (let i = 0; i < 600; i++) {
    // VAs over the whole 52-bit space, so every top-level entry gets used.
    const va = (prng.int(16) * 2 ** 48) + prng.int(2 ** 20) * 4096 * 16;
    const pa = 0x5000_0000 + prng.int(0x1000) * 4096;
    if (mapped.has(va)) continue;
    assertEquals(pgt.map(va, 4096, pa, PAGE_HYP), 0);
    mapped.set(va, pa);
  }
  for (const [va, pa] of mapped) {
    const l = pgt.getLeaf(va);
    assertEquals(l.level, 3);
    assertEquals(decodeHypPte(l.pte, 3, { version: "v7.2", hvhe: true, lpa2: true }).oa, pa);
    assertEquals(l.pte & 0xfffn, 0x403n);
  }
  const maplets = pgt.maplets();
  assertEquals(maplets.reduce((n, m) => n + m.size, 0), mapped.size * 4096);
  assertEquals(maplets.every((m) => m.prot === PAGE_HYP), true);
  // Mainline refcounts: each table page holds 1 + its valid entries.
  const pages = pgt.tablePages();
  for (const pa of pages) {
    let valid = 0;
    for (let o = 0; o < 4096; o += 8) if ((pool.memory.read64(pa + o) & 1n) === 1n) valid++;
    assertEquals(pool.refcount(pa), 1 + valid, `table page 0x${pa.toString(16)}`);
  }
  assertEquals(pgt.dump().includes("P4D") || pgt.dump().includes("PTE"), true);
  // Unmap everything: only the pgd remains.
  for (const va of mapped.keys()) assertEquals(pgt.unmap(va, 4096), 4096);
  assertEquals(pgt.tablePages().length, 1);
  assertEquals(pgt.maplets(), []);
});

Deno.test("host stage-2 annotations: every page annotated is listed, merged, and each table page counts its non-zero entries", () => {
  const memory = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 31 }]);
  for (
    const [iaBits, start, pgdPages, lpa2, pte] of [
      [48, 0, 1, false, 1n << 2n],
      [40, 1, 2, false, 1n << 2n],
      [52, 0, 16, true, (2n << 60n) | (1n << 1n)],
    ] as const
  ) {
    // The pgd pages come first from the pool (kvm_host_prepare_stage2's
    // zalloc_pages_exact from the host stage-2 pool): contiguous, aligned.
    const pool = testPagePool({ memory, base: 0x7000_0000, pages: 4096, vaOffset: 0 });
    const pgd = pool.mmOps.zallocPage()!;
    for (let i = 1; i < pgdPages; i++) pool.mmOps.zallocPage();
    const s2 = stage2PgtableInit("v7.2", {
      iaBits,
      startLevel: start,
      pgd,
      pgdPages,
      mmOps: pool.mmOps,
      memory,
      lpa2,
    });
    const prng = new Prng(iaBits);
    const pages = new Set<number>();
    for (let i = 0; i < 1500; i++) {
      const pa = 0x4000_0000 + prng.int(2 ** 19) * 4096;
      const n = 1 + prng.int(4);
      assertEquals(s2.annotate(pa, n * 4096, pte), 0);
      for (let k = 0; k < n; k++) pages.add(pa + k * 4096);
    }
    // Annotating again changes nothing (the walker's -EAGAIN).
    const before = s2.tablePages().length;
    assertEquals(s2.annotate([...pages][0]!, 4096, pte), 0);
    assertEquals(s2.tablePages().length, before);
    const sorted = [...pages].sort((a, b) => a - b);
    const runs: { ipa: number; size: number; pte: bigint }[] = [];
    for (const p of sorted) {
      const last = runs[runs.length - 1];
      if (last && last.ipa + last.size === p) last.size += 4096;
      else runs.push({ ipa: p, size: 4096, pte });
    }
    assertEquals(s2.annotations(), runs);
    for (const tp of s2.tablePages().slice(pgdPages)) {
      let used = 0;
      for (let o = 0; o < 4096; o += 8) if (memory.read64(tp + o) !== 0n) used++;
      assertEquals(pool.refcount(tp), 1 + used);
    }
  }
  const pool = testPagePool({ memory, base: 0x7000_0000, pages: 64, vaOffset: 0 });
  const s2 = stage2PgtableInit("v6.12", {
    iaBits: 48,
    startLevel: 0,
    pgd: 0x7000_0000,
    pgdPages: 1,
    mmOps: pool.mmOps,
    memory,
  });
  // A valid descriptor is no annotation; nor is zero.
  assertEquals(s2.annotate(0x4000_0000, 4096, 0x403n), ERRNO.EINVAL);
  assertEquals(s2.annotate(0x4000_0000, 4096, 0n), ERRNO.EINVAL);
  assertThrows(
    () =>
      stage2PgtableInit("v6.12", {
        iaBits: 52,
        startLevel: 0,
        pgd: 0x7000_1000,
        pgdPages: 16,
        mmOps: pool.mmOps,
        memory,
      }),
    RangeError,
    "alignment",
  );
});
