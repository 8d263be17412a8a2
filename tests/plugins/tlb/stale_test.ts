// The observable symptom of a missing TLBI: a TLB hit that differs from a
// walk of memory now is still used, and recorded as `tlb_stale`.

import { assertEquals } from "@std/assert";
import { D, enable, MAIR, PROT, Tables, tcr } from "../mmu/_tables.ts";
import { fault, ok, rig } from "../mmu/_machine.ts";

const A = 0x5000_0000;
const B = 0x5800_0000;

Deno.test("adversarial: a descriptor changed without TLBI keeps translating to the old PA until tlbi vae2", () => {
  const { m, mmu, tlb, t } = rig();
  const cpu = m.cpu(0);
  t.map(0x1000, A, 4096, PROT.RW);
  enable(cpu, t.root);
  assertEquals(ok(mmu.translate(cpu, 0x1008, "read")).pa, A + 8);
  t.map(0x1000, B, 4096, PROT.RW); // remap, no TLBI
  const r = ok(mmu.translate(cpu, 0x1008, "read"));
  assertEquals([r.pa, r.fromTlb], [A + 8, true]);
  assertEquals(tlb.stats().stale, 1);
  const ev = m.trace.filter("tlb_stale");
  assertEquals(ev.length, 1);
  assertEquals(ev[0]!.data.va, "0x1008");
  assertEquals(ev[0]!.data.tlb.startsWith("PA 0x50000008 level 3 RW XN"), true);
  assertEquals(ev[0]!.data.walk.startsWith("PA 0x58000008 level 3 RW XN"), true);
  assertEquals(ev[0]!.cpu, 0);
  // Every further hit on the stale entry is recorded again.
  ok(mmu.translate(cpu, 0x1ff0, "write"));
  assertEquals(tlb.stats().stale, 2);
  // The invalidation ends it: the next access walks the new descriptor.
  tlb.invalidate(cpu, "vae2", 0x1000);
  const n = ok(mmu.translate(cpu, 0x1008, "read"));
  assertEquals([n.pa, n.fromTlb], [B + 8, false]);
  ok(mmu.translate(cpu, 0x1008, "read"));
  assertEquals(tlb.stats().stale, 2);
});

Deno.test("adversarial: an unmapped page stays accessible through the TLB; the walk side shows the fault", () => {
  const { m, mmu, tlb, t } = rig();
  const cpu = m.cpu(0);
  const dpa = t.map(0x1000, A, 4096, PROT.RW);
  enable(cpu, t.root);
  ok(mmu.translate(cpu, 0x1000, "write"));
  m.memory.write64(dpa, 0n); // unmap without break-before-make's TLBI
  assertEquals(ok(mmu.translate(cpu, 0x1000, "write")).pa, A);
  const ev = m.trace.filter("tlb_stale")[0]!;
  assertEquals(ev.data.walk.startsWith("Translation fault at level 3"), true);
  assertEquals(fault(mmu.walk(cpu, 0x1000, "write")).fault, "translation");
  tlb.invalidate(cpu, "vale2", 0x1000);
  assertEquals(fault(mmu.translate(cpu, 0x1000, "write")).fault, "translation");
});

Deno.test("adversarial: a permission downgrade without TLBI lets the write through (stale), not after it", () => {
  const { m, mmu, tlb, t } = rig();
  const cpu = m.cpu(0);
  t.map(0x1000, A, 4096, PROT.RW);
  enable(cpu, t.root);
  ok(mmu.translate(cpu, 0x1000, "read"));
  t.map(0x1000, A, 4096, PROT.RO);
  assertEquals(ok(mmu.translate(cpu, 0x1000, "write")).writable, true);
  assertEquals(tlb.stats().stale, 1);
  assertEquals(m.trace.filter("tlb_stale")[0]!.data.walk.includes(" RO "), true);
  tlb.invalidate(cpu, "vae2", 0x1000);
  assertEquals(fault(mmu.translate(cpu, 0x1000, "write")).fault, "permission");
});

Deno.test("writes to data (not tables) never make a hit stale", () => {
  const { m, mmu, tlb, t } = rig();
  const cpu = m.cpu(0);
  t.map(0x1000, A, 4096, PROT.RW);
  enable(cpu, t.root);
  const el2 = mmu.el2Memory(cpu);
  for (let i = 0; i < 100; i++) {
    el2.write64(0x1000 + 8 * i, BigInt(i));
    assertEquals(el2.read64(0x1000 + 8 * i), BigInt(i));
  }
  assertEquals(tlb.stats().stale, 0);
  assertEquals(tlb.stats().misses, 1);
  assertEquals(m.trace.filter("tlb_stale").length, 0);
});

Deno.test("a table descriptor changed above the leaf also makes the hit stale", () => {
  const { m, mmu, tlb, t } = rig();
  const cpu = m.cpu(0);
  t.map(0x1000, A, 4096, PROT.RW);
  enable(cpu, t.root);
  ok(mmu.translate(cpu, 0x1000, "read"));
  // Point the level-2 entry at a fresh level-3 table mapping the VA elsewhere.
  const l3 = t.alloc();
  m.memory.write64(l3 + 8, BigInt(B) | PROT.RW | D.TABLE);
  m.memory.write64(t.slot(0x1000, 2), BigInt(l3) | D.TABLE);
  assertEquals(ok(mmu.translate(cpu, 0x1000, "read")).pa, A);
  assertEquals(tlb.stats().stale, 1);
});

Deno.test("a stale 2 MiB block split into pages is stale only where the pages differ", () => {
  const { m, mmu, tlb, t } = rig();
  const cpu = m.cpu(0);
  t.map(0x20_0000, 0x4820_0000, 2 ** 21, PROT.RW);
  enable(cpu, t.root);
  ok(mmu.translate(cpu, 0x20_0000, "read"));
  // Replace the block by a table of pages with the same PAs except one.
  const l3 = t.alloc();
  for (let i = 0; i < 512; i++) {
    const pa = i === 7 ? B : 0x4820_0000 + i * 4096;
    m.memory.write64(l3 + 8 * i, BigInt(pa) | PROT.RW | D.TABLE);
  }
  m.memory.write64(t.slot(0x20_0000, 2), BigInt(l3) | D.TABLE);
  for (let i = 0; i < 512; i += 3) ok(mmu.translate(cpu, 0x20_0000 + i * 4096, "read"));
  assertEquals(tlb.stats().stale, 0);
  assertEquals(ok(mmu.translate(cpu, 0x20_7000, "read")).pa, 0x4820_7000);
  assertEquals(tlb.stats().stale, 1);
  ok(mmu.translate(cpu, 0x20_8000, "read"));
  assertEquals(tlb.stats().stale, 1);
});

Deno.test("TTBR0_EL2 switch without TLBI: adversarial uses old-table entries, optimistic (QEMU-like) walks the new tables", () => {
  for (const policy of ["adversarial", "optimistic"] as const) {
    const { m, mmu, tlb, t } = rig({ policy });
    const cpu = m.cpu(0);
    t.map(0x1000, A, 4096, PROT.RX);
    enable(cpu, t.root);
    ok(mmu.translate(cpu, 0x1000, "exec"));
    const next = new Tables(m.memory, 0x4100_0000);
    next.map(0x1000, B, 4096, PROT.RX);
    // __pkvm_init_switch_pgd without its tlbi alle2: MMU off, new TTBR, MMU on.
    cpu.sysregs.setField("SCTLR_EL2", "M", 0n);
    ok(mmu.translate(cpu, 0x4000_0000, "exec")); // runs flat in the idmap
    cpu.sysregs.write("TTBR0_EL2", BigInt(next.root));
    tlb.onSysregWrite(cpu, "TTBR0_EL2", BigInt(next.root)); // as the executor reports it
    cpu.sysregs.setField("SCTLR_EL2", "M", 1n);
    const r = ok(mmu.translate(cpu, 0x1000, "exec"));
    if (policy === "adversarial") {
      assertEquals([r.pa, r.fromTlb, tlb.stats().stale], [A, true, 1]);
      assertEquals(tlb.entries(cpu)[0]!.base, t.root); // provenance: the old table
      assertEquals(
        m.trace.filter("tlb_stale")[0]!.data.walk.includes("from table 0x41000000"),
        true,
      );
    } else {
      assertEquals([r.pa, r.fromTlb, tlb.stats().stale], [B, false, 0]);
      assertEquals(tlb.entries(cpu)[0]!.base, next.root);
    }
    // With the tlbi alle2 the two policies agree.
    tlb.invalidate(cpu, "alle2");
    assertEquals(ok(mmu.translate(cpu, 0x1000, "exec")).pa, B);
  }
});

Deno.test("the MMU reports a direct TCR_EL2 write to the TLB: optimistic flushes, as QEMU does", () => {
  const { m, mmu, tlb, t } = rig({ policy: "optimistic" });
  const cpu = m.cpu(0);
  t.map(0x1000, A, 4096, PROT.RW);
  enable(cpu, t.root);
  ok(mmu.translate(cpu, 0x1000, "read"));
  cpu.sysregs.write("TCR_EL2", tcr(16, 5, 1n << 24n)); // HPD = 1: same translation
  // A debug translation predicts the flush without doing it.
  assertEquals(ok(mmu.translate(cpu, 0x1000, "read", { debug: true })).fromTlb, false);
  assertEquals(tlb.entries(cpu).length, 1);
  const r = ok(mmu.translate(cpu, 0x1000, "read"));
  assertEquals([r.fromTlb, tlb.stats().fills], [false, 2]);
});

Deno.test("the MMU reports direct SCTLR_EL2 / TTBR0_EL2 writes to the TLB (optimistic flush without an executor)", () => {
  const { m, mmu, tlb, t } = rig({ policy: "optimistic" });
  const cpu = m.cpu(0);
  t.map(0x1000, A, 4096, PROT.RW);
  enable(cpu, t.root);
  ok(mmu.translate(cpu, 0x1000, "read"));
  assertEquals(tlb.entries(cpu).length, 1);
  cpu.sysregs.write("MAIR_EL2", 0xffn); // neither SCTLR nor TTBR: kept
  ok(mmu.translate(cpu, 0x1000, "read"));
  assertEquals(tlb.stats().fills, 1);
  cpu.sysregs.setField("SCTLR_EL2", "WXN", 1n);
  const r = ok(mmu.translate(cpu, 0x1000, "read"));
  assertEquals([r.fromTlb, tlb.stats().fills], [false, 2]);
  // A debug translation predicts that flush without doing it.
  cpu.sysregs.setField("SCTLR_EL2", "WXN", 0n);
  assertEquals(ok(mmu.translate(cpu, 0x1000, "read", { debug: true })).fromTlb, false);
  assertEquals(tlb.entries(cpu).length, 1);
});

Deno.test("adversarial: a hit uses the SCTLR_EL2.WXN cached at its fill; a WXN change without TLBI is stale", () => {
  const { m, mmu, tlb, t } = rig();
  const cpu = m.cpu(0);
  t.map(0x1000, A, 4096, PROT.RWX);
  enable(cpu, t.root, { wxn: false });
  assertEquals(ok(mmu.translate(cpu, 0x1000, "exec")).executable, true);
  cpu.sysregs.setField("SCTLR_EL2", "WXN", 1n); // no TLBI
  const r = ok(mmu.translate(cpu, 0x1000, "exec"));
  assertEquals([r.fromTlb, r.executable, tlb.stats().stale], [true, true, 1]);
  const ev = m.trace.filter("tlb_stale")[0]!;
  assertEquals(ev.data.tlb.startsWith("PA 0x50000000 level 3 RW X attrs 0xff"), true);
  assertEquals(ev.data.walk.startsWith("PA 0x50000000 level 3 RW XN(WXN) attrs 0xff"), true);
  tlb.invalidate(cpu, "vae2", 0x1000);
  const f = fault(mmu.translate(cpu, 0x1000, "exec"));
  assertEquals([f.fault, f.message.includes("WXN = 1")], ["permission", true]);
  assertEquals(tlb.stats().stale, 1);
});

Deno.test("adversarial: a hit uses the MAIR_EL2 attribute cached at its fill; a MAIR change without TLBI is stale", () => {
  const { m, mmu, tlb, t } = rig();
  const cpu = m.cpu(0);
  t.map(0x1000, A, 4096, PROT.RW); // AttrIndx 0: 0xff, Normal WB
  enable(cpu, t.root);
  assertEquals(ok(mmu.translate(cpu, 0x1000, "read")).attrs, 0xff);
  cpu.sysregs.write("MAIR_EL2", MAIR & ~0xffn); // AttrIndx 0 becomes Device-nGnRnE
  const r = ok(mmu.translate(cpu, 0x1000, "read"));
  assertEquals([r.attrs, r.memType, r.fromTlb, tlb.stats().stale], [0xff, "normal", true, 1]);
  assertEquals(m.trace.filter("tlb_stale")[0]!.data.walk.includes(" attrs 0x0 "), true);
  tlb.invalidate(cpu, "vae2", 0x1000);
  const n = ok(mmu.translate(cpu, 0x1000, "read"));
  assertEquals([n.attrs, n.memType, n.fromTlb], [0x00, "device", false]);
  ok(mmu.translate(cpu, 0x1000, "read"));
  assertEquals(tlb.stats().stale, 1);
});

Deno.test("optimistic: a hit reads the current MAIR_EL2 (no stale hit); a WXN change flushes with SCTLR_EL2", () => {
  const { m, mmu, tlb, t } = rig({ policy: "optimistic" });
  const cpu = m.cpu(0);
  t.map(0x1000, A, 4096, PROT.RWX);
  enable(cpu, t.root, { wxn: false });
  ok(mmu.translate(cpu, 0x1000, "exec"));
  cpu.sysregs.write("MAIR_EL2", MAIR & ~0xffn);
  const r = ok(mmu.translate(cpu, 0x1000, "read"));
  assertEquals([r.attrs, r.fromTlb, tlb.stats().stale], [0x00, true, 0]);
  cpu.sysregs.setField("SCTLR_EL2", "WXN", 1n);
  assertEquals(fault(mmu.translate(cpu, 0x1000, "exec")).fault, "permission");
  assertEquals(tlb.stats().stale, 0);
});

Deno.test("2 CPUs: local tlbi vae2 leaves the other CPU stale; vae2is cleans both", () => {
  const { m, mmu, tlb, t } = rig({ cpus: 2 });
  const [c0, c1] = [m.cpu(0), m.cpu(1)];
  t.map(0x1000, A, 4096, PROT.RW);
  enable(c0, t.root);
  enable(c1, t.root);
  ok(mmu.translate(c0, 0x1000, "read"));
  ok(mmu.translate(c1, 0x1000, "read"));
  t.map(0x1000, B, 4096, PROT.RW);
  tlb.invalidate(c0, "vae2", 0x1000);
  assertEquals(ok(mmu.translate(c0, 0x1000, "read")).pa, B);
  assertEquals(ok(mmu.translate(c1, 0x1000, "read")).pa, A);
  assertEquals(tlb.stats().stale, 1);
  assertEquals(m.trace.filter("tlb_stale")[0]!.cpu, 1);
  t.map(0x1000, A + 0x1000, 4096, PROT.RW);
  tlb.invalidate(c0, "vae2is", 0x1000);
  assertEquals(ok(mmu.translate(c0, 0x1000, "read")).pa, A + 0x1000);
  assertEquals(ok(mmu.translate(c1, 0x1000, "read")).pa, A + 0x1000);
  assertEquals(tlb.stats().stale, 1);
});

Deno.test("2 CPUs: alle2 is local, alle2is broadcast", () => {
  const { m, mmu, tlb, t } = rig({ cpus: 2 });
  const [c0, c1] = [m.cpu(0), m.cpu(1)];
  t.mapPages(0, A, 4 * 4096, PROT.RW);
  for (const c of [c0, c1]) {
    enable(c, t.root);
    for (let i = 0; i < 4; i++) ok(mmu.translate(c, i * 4096, "read"));
  }
  assertEquals(tlb.invalidate(c1, "alle2"), 4);
  assertEquals([tlb.entries(c0).length, tlb.entries(c1).length], [4, 0]);
  assertEquals(tlb.invalidate(c1, "alle2is"), 4);
  assertEquals(tlb.entries(c0).length, 0);
});

Deno.test("prefetch(): adversarial fills speculatively from a not-yet-installed table; optimistic does nothing", () => {
  for (const policy of ["adversarial", "optimistic"] as const) {
    const { m, mmu, tlb, t } = rig({ policy });
    const cpu = m.cpu(0);
    t.map(0x1000, A, 4096, PROT.RW);
    enable(cpu, t.root);
    const pending = new Tables(m.memory, 0x4100_0000);
    pending.map(0x2000, B, 4096, PROT.RW);
    const e = mmu.prefetch(cpu, 0x2000, { base: pending.root });
    assertEquals(mmu.prefetch(cpu, 0x9000), undefined); // a faulting walk fills nothing
    if (policy === "adversarial") {
      assertEquals([e?.speculative, e?.base, e?.pa], [true, pending.root, B]);
      assertEquals(m.trace.filter("tlb_fill")[0]!.data.speculative, true);
      // The current tables do not map 0x2000, yet the speculative entry hits.
      assertEquals(ok(mmu.translate(cpu, 0x2000, "read")).pa, B);
      assertEquals(tlb.stats().stale, 1);
    } else {
      assertEquals(e, undefined);
      assertEquals(tlb.entries(cpu), []);
      assertEquals(fault(mmu.translate(cpu, 0x2000, "read")).fault, "translation");
    }
  }
});

Deno.test("a hit re-checks memory only after a write: a stale entry detected once is recorded on every hit", () => {
  const { m, mmu, tlb, t } = rig();
  const cpu = m.cpu(0);
  t.map(0x1000, A, 4096, PROT.RW);
  enable(cpu, t.root);
  ok(mmu.translate(cpu, 0x1000, "read"));
  t.map(0x1000, B, 4096, PROT.RW);
  for (let i = 0; i < 10; i++) ok(mmu.translate(cpu, 0x1000 + i * 8, "read"));
  assertEquals(tlb.stats().stale, 10);
  // Restoring the descriptor makes the entry current again.
  t.map(0x1000, A, 4096, PROT.RW);
  ok(mmu.translate(cpu, 0x1000, "read"));
  assertEquals(tlb.stats().stale, 10);
});

/**
 * A 2 MiB region of pages behind one level-3 table, translated once (the
 * leaf and the table descriptors above it are cached); then the table is
 * unlinked and its page reused as another level-3 table, mapping the VA to
 * B — what a freed and reallocated table page looks like.
 */
function freedTable(op: "vale2" | "vae2") {
  const { m, mmu, tlb, t } = rig();
  const cpu = m.cpu(0);
  const VA = 0x20_0000;
  t.mapPages(VA, A, 2 * 4096, PROT.RW);
  enable(cpu, t.root);
  assertEquals(ok(mmu.translate(cpu, VA, "read")).pa, A);
  assertEquals(tlb.walkEntries!(cpu).map((w) => w.level), [0, 1, 2]);
  const l2 = t.slot(VA, 2);
  const table = Number(m.memory.read64(l2) & 0xffff_ffff_f000n);
  m.memory.write64(l2, 0n); // unlink the table
  tlb.invalidate(cpu, op, VA);
  m.memory.write64(table, BigInt(B) | PROT.RW | D.TABLE); // the page, reused
  return { m, mmu, tlb, cpu, VA };
}

Deno.test("walk cache: a freed table followed by tlbi vale2 stays reachable; the stale check reports the walk", () => {
  const { m, mmu, tlb, cpu, VA } = freedTable("vale2");
  // The leaf is gone, but the cached level-2 descriptor still leads to the old table page.
  const r = ok(mmu.translate(cpu, VA, "read"));
  assertEquals([r.pa, r.fromTlb, r.viaWalkCache, tlb.stats().stale], [B, false, true, 1]);
  const ev = m.trace.filter("tlb_stale")[0]!;
  assertEquals(ev.data.tlb.startsWith("PA 0x58000000 level 3 RW XN"), true);
  assertEquals(ev.data.tlb.includes("via the level-2 walk-cache entry for table"), true);
  assertEquals(ev.data.walk.startsWith("Translation fault at level 2"), true);
  // The leaf it filled is stale on every hit too.
  assertEquals(ok(mmu.translate(cpu, VA + 8, "read")).fromTlb, true);
  assertEquals(tlb.stats().stale, 2);
  // tlbi vae2 removes the walk-cache entries: the access now faults as memory says.
  tlb.invalidate(cpu, "vae2", VA);
  assertEquals(fault(mmu.translate(cpu, VA, "read")).level, 2);
  assertEquals(tlb.stats().stale, 2);
});

Deno.test("walk cache: a freed table followed by tlbi vae2 (as hyp_unmap_walker does) leaves nothing stale", () => {
  const { mmu, tlb, cpu, VA } = freedTable("vae2");
  assertEquals(tlb.walkEntries!(cpu), []);
  const f = fault(mmu.translate(cpu, VA, "read"));
  assertEquals([f.fault, f.level, tlb.stats().stale], ["translation", 2, 0]);
});

Deno.test("walk cache: an exact walk-cache entry changes no result, and stays exact across unrelated stores", () => {
  const { m, mmu, tlb, t } = rig();
  const cpu = m.cpu(0);
  t.mapPages(0x20_0000, A, 4 * 4096, PROT.RW);
  enable(cpu, t.root);
  ok(mmu.translate(cpu, 0x20_0000, "read"));
  const el2 = mmu.el2Memory(cpu);
  for (let i = 1; i < 4; i++) {
    // A miss below the cached level-2 descriptor, after a data store moved
    // the memory generation: the descriptors above still hold.
    const r = ok(mmu.translate(cpu, 0x20_0000 + i * 4096, "read"));
    assertEquals([r.pa, r.viaWalkCache], [A + i * 4096, true]);
    el2.write64(0x20_0000 + i * 4096, BigInt(i));
  }
  assertEquals([tlb.stats().misses, tlb.stats().stale], [4, 0]);
  // A remap of a page below the cached table is a leaf change: the walk sees it.
  t.map(0x20_3000, B, 4096, PROT.RW);
  tlb.invalidate(cpu, "vale2", 0x20_3000);
  assertEquals(ok(mmu.translate(cpu, 0x20_3000, "read")).pa, B);
  assertEquals(tlb.stats().stale, 0);
});

Deno.test("walk cache: the optimistic policy has none", () => {
  const { m, mmu, tlb, t } = rig({ policy: "optimistic" });
  const cpu = m.cpu(0);
  t.mapPages(0x20_0000, A, 4096, PROT.RW);
  enable(cpu, t.root);
  ok(mmu.translate(cpu, 0x20_0000, "read"));
  assertEquals(tlb.walkEntries!(cpu), []);
});
