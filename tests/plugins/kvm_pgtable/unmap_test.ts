import { assertEquals, assertThrows } from "@std/assert";
import { ERRNO, KernelErrnoError, PAGE_HYP, PAGE_HYP_RO } from "../../../core/mod.ts";
import { checkTableRefcounts, encodeHypLeaf } from "../../../plugins/kvm_pgtable/mod.ts";
import { fixture, G1, K4, M2 } from "./_fixture.ts";

Deno.test("kvm_pgtable_hyp_unmap() frees every table it empties and restores refcounts", () => {
  const { pgt, pool } = fixture("mainline");
  const pgd = pgt.pgd;
  const digest = pool.memory.digest();
  assertEquals(pgt.map(0x4000_0000, 3 * M2 + K4, 0x8000_1000, PAGE_HYP), 0);
  assertEquals(pool.live(), 1 + 1 + 1 + 4);
  assertEquals(pgt.unmap(0x4000_0000, 3 * M2 + K4), 3 * M2 + K4);
  assertEquals(pool.live(), 1);
  assertEquals(pool.refcount(pgd), 1);
  assertEquals(pgt.tablePages(), [pgd]);
  assertEquals(pgt.maplets(), []);
  assertEquals(pool.memory.digest(), digest);
  assertEquals(checkTableRefcounts(pgt, pool.memory), undefined);
});

Deno.test("kvm_pgtable_hyp_unmap() keeps tables that still hold entries", () => {
  const { pgt, pool } = fixture("mainline");
  assertEquals(pgt.map(0x4000_0000, 4 * K4, 0x8000_0000, PAGE_HYP), 0);
  const pte = pgt.tablePages()[3]!;
  assertEquals(pool.refcount(pte), 5);
  assertEquals(pgt.unmap(0x4000_1000, 2 * K4), 2 * K4);
  assertEquals(pool.refcount(pte), 3);
  assertEquals(pgt.tablePages().length, 4);
  assertEquals(pgt.maplets(), [
    { va: 0x4000_0000, pa: 0x8000_0000, size: K4, prot: PAGE_HYP },
    { va: 0x4000_3000, pa: 0x8000_3000, size: K4, prot: PAGE_HYP },
  ]);
  assertEquals(checkTableRefcounts(pgt, pool.memory), undefined);
});

Deno.test("kvm_pgtable_hyp_unmap() unmaps whole blocks and the 1 GiB block", () => {
  const { pgt, pool } = fixture("mainline");
  assertEquals(pgt.map(0x4000_0000, 2 * M2, 0x8000_0000, PAGE_HYP), 0);
  assertEquals(pgt.map(0x8000_0000, G1, 0x1_4000_0000, PAGE_HYP_RO), 0);
  assertEquals(pgt.unmap(0x4000_0000, 2 * M2), 2 * M2);
  assertEquals(pgt.unmap(0x8000_0000, G1), G1);
  assertEquals(pool.live(), 1);
});

Deno.test("kvm_pgtable_hyp_unmap() stops at the first invalid entry", () => {
  const { pgt, pool } = fixture("mainline");
  assertEquals(pgt.map(0x4000_0000, 2 * K4, 0x8000_0000, PAGE_HYP), 0);
  assertEquals(pgt.map(0x4000_3000, K4, 0x8000_3000, PAGE_HYP), 0);
  // Page 2 is a hole: pages 0-1 go, the walk stops, page 3 stays and so do
  // the tables (TABLE_POST never runs for them).
  assertEquals(pgt.unmap(0x4000_0000, 4 * K4), 2 * K4);
  assertEquals(pgt.maplets(), [{ va: 0x4000_3000, pa: 0x8000_3000, size: K4, prot: PAGE_HYP }]);
  assertEquals(checkTableRefcounts(pgt, pool.memory), undefined);
  // Starting in a hole unmaps nothing.
  assertEquals(pgt.unmap(0x4000_2000, 2 * K4), 0);
  assertEquals(pgt.maplets().length, 1);
});

Deno.test("kvm_pgtable_hyp_unmap() leaves an empty table behind when the walk stops early", () => {
  const { pgt, pool } = fixture("mainline");
  assertEquals(pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP), 0);
  assertEquals(pgt.unmap(0x4000_0000, 2 * K4), K4);
  // The PTE table is empty (count 1) but was not freed.
  assertEquals(pgt.tablePages().length, 4);
  assertEquals(pool.refcount(pgt.tablePages()[3]!), 1);
  assertEquals(checkTableRefcounts(pgt, pool.memory), undefined);
  // A later exact unmap of an empty range hits the invalid PTE first: -EINVAL, nothing.
  assertEquals(pgt.unmap(0x4000_0000, K4), 0);
  assertEquals(pgt.tablePages().length, 4);
});

Deno.test("kvm_pgtable_hyp_unmap() does not split a block it only partly covers", () => {
  const { pgt, pool } = fixture("mainline");
  assertEquals(pgt.map(0x4000_0000, M2, 0x8000_0000, PAGE_HYP), 0);
  const digest = pool.memory.digest();
  assertEquals(pgt.unmap(0x4000_0000, M2 - K4), 0);
  assertEquals(pgt.unmap(0x4000_1000, M2 - K4), 0);
  assertEquals(pool.memory.digest(), digest);
  // From inside the block with at least a block's worth of range left, the
  // kernel clears the whole block, including the part before addr.
  assertEquals(pgt.unmap(0x4000_1000, M2), M2);
  assertEquals(pgt.maplets(), []);
});

Deno.test("kvm_pgtable_hyp_unmap() issues TLBI vale2is (leaf level hint) per leaf and vae2is (no hint) per freed table", () => {
  const calls: string[] = [];
  const { pgt } = fixture("mainline", {
    tlbi: (op, va, level) => calls.push(`${op} 0x${va.toString(16)} ${level}`),
  });
  pgt.map(0x4000_0000, M2, 0x8000_1000, PAGE_HYP); // 512 pages
  pgt.map(0x4020_0000, M2, 0x8020_0000, PAGE_HYP); // one block
  assertEquals(pgt.unmap(0x4000_0000, 2 * M2), 2 * M2);
  assertEquals(calls.length, 512 + 4);
  assertEquals(calls[1], "vale2is 0x40001000 3");
  assertEquals(calls.slice(511), [
    "vale2is 0x401ff000 3",
    // Tables: TLBI_TTL_UNKNOWN, as mainline's hyp_unmap_walker passes;
    // level hints are for leaf entries only (36e008323926).
    "vae2is 0x40000000 unknown", // the PTE table
    "vale2is 0x40200000 2",
    "vae2is 0x40000000 unknown", // the PMD table
    "vae2is 0x40000000 unknown", // the PUD table
  ]);
});

Deno.test("kvm_pgtable_hyp_unmap() returns 0 when mm_ops has no page_count", () => {
  const { pgt, pool } = fixture("mainline", { early: true });
  pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP);
  const digest = pool.memory.digest();
  assertEquals(pgt.unmap(0x4000_0000, K4), 0);
  assertEquals(pool.memory.digest(), digest);
});

Deno.test("kvm_pgtable_hyp_unmap() does not exist in v5.13: -ENOTSUPP, nothing changes", () => {
  const { pgt, pool } = fixture("v5.13");
  pgt.map(0x4000_0000, K4, 0x8000_0000, PAGE_HYP);
  const digest = pool.memory.digest();
  const e = assertThrows(() => pgt.unmap(0x4000_0000, K4), KernelErrnoError, "v5.13");
  assertEquals(e.errno, ERRNO.ENOTSUPP);
  assertEquals(pool.memory.digest(), digest);
  assertEquals(pgt.getLeaf(0x4000_0000).pte, encodeHypLeaf(0x8000_0000, PAGE_HYP, 3));
});

Deno.test("kvm_pgtable_hyp_unmap() past 2^ia_bits unmaps nothing", () => {
  const { pgt } = fixture("mainline", { iaBits: 39 });
  pgt.map(2 ** 39 - K4, K4, 0x8000_0000, PAGE_HYP);
  assertEquals(pgt.unmap(2 ** 39 - K4, 2 * K4), 0);
  assertEquals(pgt.maplets().length, 1);
  assertThrows(() => pgt.unmap(0, -1), RangeError);
});
