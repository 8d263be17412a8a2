// kvm_pgtable_hyp_unmap on a table the MMU is walking: the walker's TLBI
// hook, wired to the TLB, removes what the MMU cached (leaves with their
// level hint, freed tables with none). Without the hook the TLB never hears
// of the kernel's TLBIs and the next access is a stale hit — a false
// positive, which is why a live unmap must wire the hook.

import { assertEquals } from "@std/assert";
import { PAGE_HYP, type TlbiTtl } from "../../../core/mod.ts";
import { kvmPgtableFactory } from "../../../plugins/kvm_pgtable/mod.ts";
import { fault, ok, rig } from "../mmu/_machine.ts";
import { enable } from "../mmu/_tables.ts";
import { testPagePool } from "./_page_pool.ts";

const VA = 0x7000_0000;
const PA = 0x5000_0000;
const M2 = 2 ** 21;

function liveTable(wired: boolean) {
  const { m, mmu, tlb } = rig();
  const cpu = m.cpu(0);
  // The rig's own tables start at 0x40000000; keep the pool clear of them.
  const pool = testPagePool({ memory: m.memory, base: 0x4800_0000, pages: 64 });
  const calls: string[] = [];
  const hook = (op: "vae2is" | "vale2is", va: number, ttl: TlbiTtl) => {
    calls.push(`${op} 0x${va.toString(16)} ${ttl}`);
    tlb.invalidate(cpu, op, va, ttl);
  };
  const init = { iaBits: 48, mmOps: pool.mmOps, memory: m.memory };
  const pgt = kvmPgtableFactory({ version: "mainline" }).hypInit(
    wired ? { ...init, tlbi: hook } : init,
  );
  if (typeof pgt === "number") throw new Error(`hypInit returned ${pgt}`);
  assertEquals(pgt.map(VA, 2 * 4096, PA, PAGE_HYP), 0); // two pages
  assertEquals(pgt.map(VA + M2, M2, PA + M2, PAGE_HYP), 0); // one 2 MiB block
  enable(cpu, pgt.pgd);
  for (const va of [VA, VA + 4096, VA + M2]) ok(mmu.translate(cpu, va, "read"));
  assertEquals(tlb.entries(cpu).map((e) => e.level), [3, 3, 2]);
  // Two calls: an unmap stops at the first invalid entry (the third page).
  assertEquals(pgt.unmap(VA, 2 * 4096), 2 * 4096);
  assertEquals(pgt.unmap(VA + M2, M2), M2);
  return { m, mmu, tlb, cpu, calls };
}

Deno.test("kvm_pgtable_hyp_unmap() with its TLBI hook wired to the TLB leaves no stale entry", () => {
  const { mmu, tlb, cpu, calls } = liveTable(true);
  assertEquals(calls, [
    `vale2is 0x${VA.toString(16)} 3`,
    `vale2is 0x${(VA + 4096).toString(16)} 3`,
    `vae2is 0x${VA.toString(16)} unknown`, // the emptied PTE table
    `vale2is 0x${(VA + M2).toString(16)} 2`,
    // TABLE_POST sees the address the walk had on reaching the entry.
    `vae2is 0x${(VA + M2).toString(16)} unknown`, // the PMD table
    `vae2is 0x${(VA + M2).toString(16)} unknown`, // the PUD table
  ]);
  assertEquals(tlb.entries(cpu), []);
  for (const va of [VA, VA + 4096, VA + M2]) {
    assertEquals(fault(mmu.translate(cpu, va, "read")).fault, "translation");
  }
  assertEquals(tlb.stats().stale, 0);
});

Deno.test("kvm_pgtable_hyp_unmap() without the hook: the TLB keeps the entries and reports stale hits", () => {
  const { m, mmu, tlb, cpu } = liveTable(false);
  assertEquals(ok(mmu.translate(cpu, VA, "read")).pa, PA);
  assertEquals(tlb.stats().stale, 1);
  assertEquals(m.trace.filter("tlb_stale")[0]!.data.walk.startsWith("Translation fault"), true);
});

/**
 * Maps two pages at VA and a block after them, translates VA (filling the
 * walk cache), unmaps the pages (their table is freed), then maps two pages
 * 4 MiB further on: the pool hands the freed table page out again, and
 * VA's index in it now holds the new mapping. `tableOp` is the TLBI the
 * hook applies for a freed table.
 */
function reusedTable(tableOp: "vae2is" | "vale2is") {
  const { m, mmu, tlb } = rig();
  const cpu = m.cpu(0);
  const pool = testPagePool({ memory: m.memory, base: 0x4800_0000, pages: 64 });
  const pgt = kvmPgtableFactory({ version: "mainline" }).hypInit({
    iaBits: 48,
    mmOps: pool.mmOps,
    memory: m.memory,
    tlbi: (op, va, ttl) => tlb.invalidate(cpu, op === "vae2is" ? tableOp : op, va, ttl),
  });
  if (typeof pgt === "number") throw new Error(`hypInit returned ${pgt}`);
  assertEquals(pgt.map(VA, 2 * 4096, PA, PAGE_HYP), 0);
  assertEquals(pgt.map(VA + M2, M2, PA + M2, PAGE_HYP), 0); // keeps the PMD table alive
  enable(cpu, pgt.pgd);
  ok(mmu.translate(cpu, VA, "read"));
  assertEquals(pgt.unmap(VA, 2 * 4096), 2 * 4096);
  const frees = pool.frees;
  assertEquals(pgt.map(VA + 2 * M2, 2 * 4096, PA + 0x80_0000, PAGE_HYP), 0);
  assertEquals([frees, pool.frees], [1, 1]); // the PTE table page, freed then reused
  return { m, mmu, tlb, cpu };
}

Deno.test("a freed table invalidated with vae2is (hyp_unmap_walker) is not walked again", () => {
  const { mmu, tlb, cpu } = reusedTable("vae2is");
  assertEquals(fault(mmu.translate(cpu, VA, "read")).level, 2);
  assertEquals(tlb.stats().stale, 0);
});

Deno.test("a freed table invalidated with vale2is only: the walk cache reaches the reused page, reported stale", () => {
  const { m, mmu, tlb, cpu } = reusedTable("vale2is");
  // The cached level-2 descriptor still names the old page, now another
  // range's table: VA translates to that range's PA.
  assertEquals(ok(mmu.translate(cpu, VA, "read")).pa, PA + 0x80_0000);
  assertEquals(tlb.stats().stale, 1);
  const ev = m.trace.filter("tlb_stale")[0]!;
  assertEquals(ev.data.tlb.includes("via the level-2 walk-cache entry"), true);
  assertEquals(ev.data.walk.startsWith("Translation fault at level 2"), true);
});
