import { assertEquals, assertThrows } from "@std/assert";
import {
  type AccessKind,
  faultStatusCode,
  mmuFaultStatusCode,
  UnsupportedMmuConfigError,
} from "../../../core/mod.ts";
import { D, enable, PROT, Tables, tcr } from "./_tables.ts";
import { fault, ok, rig } from "./_machine.ts";

const DATA = 0x5000_0000; // PA of mapped data pages

Deno.test("MMU off: flat translation, data Device-nGnRnE, fetch Normal", () => {
  const { m, mmu, tlb } = rig();
  const cpu = m.cpu(0);
  const r = ok(mmu.translate(cpu, 0x4123_4567, "write"));
  assertEquals(
    [r.pa, r.level, r.pte, r.memType, r.attrs, r.mmuOff, r.fromTlb, r.writable, r.executable],
    [0x4123_4567, -1, 0n, "device", 0x00, true, false, true, true],
  );
  const f = ok(mmu.translate(cpu, 0x4123_4000, "exec"));
  assertEquals([f.memType, f.attrs], ["normal", 0x44]);
  cpu.sysregs.setField("SCTLR_EL2", "I", 1n);
  assertEquals(ok(mmu.translate(cpu, 0x4123_4000, "exec")).attrs, 0xaa);
  // Nothing reaches the TLB with the MMU off.
  assertEquals(tlb.stats().fills + tlb.stats().misses, 0);
});

Deno.test("MMU off: a VA beyond PARange is an address size fault at level 0", () => {
  const { m, mmu } = rig();
  const f = fault(mmu.translate(m.cpu(0), 2 ** 48, "read"));
  assertEquals([f.fault, f.level, f.fsc], ["address_size", 0, 0x00]);
});

Deno.test("MMU off: unaligned data access to Device memory is an alignment fault", () => {
  const { m, mmu } = rig();
  const f = fault(mmu.translate(m.cpu(0), 0x4000_0004, "read", { size: 8 }));
  assertEquals([f.fault, f.fsc], ["alignment", 0x21]);
  ok(mmu.translate(m.cpu(0), 0x4000_0008, "read", { size: 8 }));
  ok(mmu.translate(m.cpu(0), 0x4000_0002, "exec", { size: 4 })); // no data alignment rule
});

Deno.test("translate() walks 4 levels (T0SZ 16), 3 (T0SZ 25) and 2 (T0SZ 34) from the right start level", () => {
  for (const [t0sz, start] of [[16, 0], [25, 1], [34, 2]] as const) {
    const { m, mmu, t } = rig({ t0sz });
    assertEquals(t.startLevel, start);
    const va = 0x1000_0000 + 0x5000;
    t.map(va, DATA + 0x3000, 4096, PROT.RW);
    enable(m.cpu(0), t.root, { t0sz });
    const r = ok(mmu.translate(m.cpu(0), va + 0x123, "read"));
    assertEquals([r.pa, r.level, r.pte], [DATA + 0x3123, 3, BigInt(DATA + 0x3000) | PROT.RW | 3n]);
  }
});

Deno.test("translate() uses 2 MiB and 1 GiB blocks with the VA offset inside the block", () => {
  const { m, mmu, t } = rig();
  t.map(0x20_0000, 0x4060_0000, 2 ** 21, PROT.RW);
  t.map(0x80_0000_0000, 0x4000_0000, 2 ** 30, PROT.RO);
  enable(m.cpu(0), t.root);
  const b2 = ok(mmu.translate(m.cpu(0), 0x21_2345, "write"));
  assertEquals([b2.pa, b2.level, b2.pte & 3n], [0x4061_2345, 2, 1n]);
  const b1 = ok(mmu.translate(m.cpu(0), 0x80_1234_5678, "read"));
  assertEquals([b1.pa, b1.level, b1.writable], [0x5234_5678, 1, false]);
});

Deno.test("PAGE_HYP / PAGE_HYP_EXEC / PAGE_HYP_RO / PAGE_HYP_DEVICE decode to the kernel's permissions", () => {
  const { m, mmu, t } = rig();
  const cases = [
    [PROT.RW, true, false, "normal", 0xff],
    [PROT.RX, false, true, "normal", 0xff],
    [PROT.RO, false, false, "normal", 0xff],
    [PROT.DEVICE, true, false, "device", 0x04],
  ] as const;
  cases.forEach(([prot], i) => t.map(0x1000 * (i + 1), DATA + 0x1000 * i, 4096, prot));
  enable(m.cpu(0), t.root);
  // kvm_pgtable_hyp_map's PAGE_HYP page at PA 0 (XN, AF, inner shareable, AP RW, valid page).
  assertEquals(BigInt(0) | PROT.RW | 3n, 0x0040000000000743n);
  cases.forEach(([, w, x, mt, attrs], i) => {
    const r = ok(mmu.translate(m.cpu(0), 0x1000 * (i + 1), "read"));
    assertEquals([r.writable, r.executable, r.memType, r.attrs], [w, x, mt, attrs]);
  });
  // A fetch from Device memory (were it executable) is Normal Non-cacheable.
  t.map(0x9000, DATA, 4096, PROT.DEVICE & ~D.XN);
  const f = ok(mmu.translate(m.cpu(0), 0x9000, "exec"));
  assertEquals([f.memType, f.attrs], ["normal", 0x44]);
});

Deno.test("translation faults: invalid descriptor at each level, with the level's status code", () => {
  const { m, mmu, t } = rig();
  const va = 0x12_3456_7000;
  enable(m.cpu(0), t.root);
  // Nothing mapped: level 0 invalid.
  let f = fault(mmu.translate(m.cpu(0), va, "read"));
  assertEquals([f.fault, f.level, f.fsc], ["translation", 0, 0x04]);
  // Create tables down to level 3, leaving the leaf invalid.
  t.slot(va, 3);
  f = fault(mmu.translate(m.cpu(0), va, "read"));
  assertEquals([f.fault, f.level, f.fsc], ["translation", 3, 0x07]);
  assertEquals(
    f.message.startsWith("Translation fault at level 3 on read of VA 0x1234567000"),
    true,
  );
  // Invalid at level 2 and 1.
  t.set(va, 2, 0n);
  assertEquals(fault(mmu.translate(m.cpu(0), va, "read")).fsc, 0x06);
  t.set(va, 1, 0x4000_0000n); // bit 0 clear: invalid even with an address
  assertEquals(fault(mmu.translate(m.cpu(0), va, "write")).fsc, 0x05);
});

Deno.test("translation faults: block at level 0 and the reserved level-3 encoding", () => {
  const { m, mmu, t } = rig();
  enable(m.cpu(0), t.root);
  t.set(0, 0, 0x4000_0000n | PROT.RW | D.BLOCK);
  const f0 = fault(mmu.translate(m.cpu(0), 0x1000, "read"));
  assertEquals([f0.fault, f0.level, f0.fsc], ["translation", 0, 0x04]);
  assertEquals(f0.message.includes("invalid at level 0"), true);
  const va = 0x80_0000_0000;
  t.set(va, 3, BigInt(DATA) | PROT.RW | D.BLOCK); // bits[1:0] = 0b01 at level 3
  const f3 = fault(mmu.translate(m.cpu(0), va, "read"));
  assertEquals([f3.fault, f3.level, f3.fsc], ["translation", 3, 0x07]);
  assertEquals(f3.message.includes("reserved level-3 encoding"), true);
});

Deno.test("translation fault at level 0 for a VA above 2^(64 - T0SZ), and for T0SZ outside 16..39", () => {
  const { m, mmu, t } = rig({ t0sz: 25 });
  t.map(0, DATA, 4096, PROT.RW);
  enable(m.cpu(0), t.root, { t0sz: 25 });
  const f = fault(mmu.translate(m.cpu(0), 2 ** 39, "read"));
  assertEquals([f.fault, f.level, f.fsc], ["translation", 0, 0x04]);
  assertEquals(f.message.includes("39-bit input range"), true);
  t.map(2 ** 39 - 4096, DATA, 4096, PROT.RW);
  assertEquals(ok(mmu.translate(m.cpu(0), 2 ** 39 - 1, "read")).pa, DATA + 0xfff);
  m.cpu(0).sysregs.write("TCR_EL2", tcr(12));
  const g = fault(mmu.translate(m.cpu(0), 0, "read"));
  assertEquals([g.fault, g.level], ["translation", 0]);
  assertEquals(g.message.includes("T0SZ = 12 is outside 16..39"), true);
});

Deno.test("access flag fault at the leaf level (page and block)", () => {
  const { m, mmu, t } = rig();
  t.map(0x1000, DATA, 4096, PROT.RW & ~D.AF);
  t.map(0x40_0000, 0x4040_0000, 2 ** 21, PROT.RO & ~D.AF);
  enable(m.cpu(0), t.root);
  const f = fault(mmu.translate(m.cpu(0), 0x1000, "read"));
  assertEquals([f.fault, f.level, f.fsc], ["access_flag", 3, 0x0b]);
  const g = fault(mmu.translate(m.cpu(0), 0x40_0000, "write"));
  assertEquals([g.fault, g.level, g.fsc], ["access_flag", 2, 0x0a]);
  assertEquals(g.message.includes("has AF = 0"), true);
});

Deno.test("permission faults: write to read-only, fetch from XN, at the leaf level", () => {
  const { m, mmu, t } = rig();
  t.map(0x1000, DATA, 4096, PROT.RO);
  t.map(0x2000, DATA, 4096, PROT.RW);
  t.map(0x20_0000, 0x4020_0000, 2 ** 21, PROT.RX);
  enable(m.cpu(0), t.root);
  const cpu = m.cpu(0);
  const w = fault(mmu.translate(cpu, 0x1000, "write"));
  assertEquals([w.fault, w.level, w.fsc, w.access], ["permission", 3, 0x0f, "write"]);
  assertEquals(w.message.includes("read-only (AP[2] = 1)"), true);
  const x = fault(mmu.translate(cpu, 0x2000, "exec"));
  assertEquals([x.fault, x.level, x.fsc], ["permission", 3, 0x0f]);
  assertEquals(x.message.includes("execute-never (XN = 1)"), true);
  const bw = fault(mmu.translate(cpu, 0x21_0000, "write"));
  assertEquals([bw.level, bw.fsc], [2, 0x0e]);
  ok(mmu.translate(cpu, 0x21_0000, "exec"));
  ok(mmu.translate(cpu, 0x1000, "read"));
});

Deno.test("WXN: a writable mapping is execute-never; read-only executable stays executable", () => {
  const { m, mmu, tlb, t } = rig();
  t.map(0x1000, DATA, 4096, PROT.RWX);
  t.map(0x2000, DATA, 4096, PROT.RX);
  enable(m.cpu(0), t.root, { wxn: false });
  const cpu = m.cpu(0);
  assertEquals(ok(mmu.translate(cpu, 0x1000, "exec")).executable, true);
  cpu.sysregs.setField("SCTLR_EL2", "WXN", 1n);
  // WXN may be cached in the TLB entry: it applies once the entry is gone.
  tlb.invalidate(cpu, "alle2");
  const f = fault(mmu.translate(cpu, 0x1000, "exec"));
  assertEquals([f.fault, f.level], ["permission", 3]);
  assertEquals(f.message.includes("WXN = 1"), true);
  assertEquals(ok(mmu.translate(cpu, 0x1000, "write")).executable, false);
  assertEquals(ok(mmu.translate(cpu, 0x2000, "exec")).executable, true);
});

Deno.test("hierarchical permissions: APTable[1] and XNTable apply unless TCR_EL2.HPD = 1", () => {
  const { m, mmu, tlb, t } = rig();
  t.map(0x1000, DATA, 4096, PROT.RWX);
  const l2 = t.slot(0x1000, 2);
  m.memory.write64(l2, m.memory.read64(l2) | D.AP_TABLE_RO | D.XN_TABLE);
  enable(m.cpu(0), t.root);
  const cpu = m.cpu(0);
  const w = fault(mmu.translate(cpu, 0x1000, "write"));
  assertEquals(w.message.includes("APTable[1] = 1"), true);
  const x = fault(mmu.translate(cpu, 0x1000, "exec"));
  assertEquals(x.message.includes("XNTable = 1"), true);
  cpu.sysregs.write("TCR_EL2", tcr(16, 5, 1n << 24n)); // HPD
  // The TLB may hold the attributes walked under HPD = 0 until invalidated.
  assertEquals(fault(mmu.translate(cpu, 0x1000, "write")).fault, "permission");
  tlb.invalidate(cpu, "alle2");
  ok(mmu.translate(cpu, 0x1000, "write"));
  ok(mmu.translate(cpu, 0x1000, "exec"));
});

Deno.test("address size faults: TTBR base, table address and output address beyond TCR_EL2.PS", () => {
  const { m, mmu, t } = rig();
  const walk = (va: number) => mmu.walk(m.cpu(0), va, "read"); // no TLB in the way
  const cpu = m.cpu(0);
  t.map(0x1000, DATA, 4096, PROT.RW);
  // PS = 0: 32-bit output. The tables sit at 0x4000_0000 (< 2^32): fine.
  enable(cpu, t.root, { ps: 0 });
  ok(mmu.translate(cpu, 0x1000, "read"));
  // A leaf pointing above 4 GiB.
  t.map(0x2000, 0x1_0000_0000, 4096, PROT.RW);
  const f = fault(mmu.translate(cpu, 0x2000, "read"));
  assertEquals([f.fault, f.level, f.fsc], ["address_size", 3, 0x03]);
  // A table descriptor pointing above 4 GiB: level of that descriptor.
  t.set(0x80_0000_0000, 1, 0x2_0000_0000n | D.TABLE);
  const g = fault(mmu.translate(cpu, 0x80_0000_0000, "read"));
  assertEquals([g.fault, g.level, g.fsc], ["address_size", 1, 0x01]);
  // TTBR0_EL2 above 4 GiB: level 0, before any descriptor is read.
  cpu.sysregs.write("TTBR0_EL2", 0x1_4000_0000n);
  const h = fault(walk(0x1000));
  assertEquals([h.fault, h.level, h.fsc], ["address_size", 0, 0x00]);
  assertEquals(h.message.includes("TTBR0_EL2 base 0x140000000"), true);
  // PS above PARange behaves as PARange: PS = 48 bits on a 40-bit PE.
  cpu.sysregs.write("TTBR0_EL2", BigInt(t.root));
  cpu.sysregs.write("TCR_EL2", tcr(16, 5));
  t.map(0x3000, 2 ** 40, 4096, PROT.RW);
  ok(walk(0x3000));
  cpu.sysregs.set("ID_AA64MMFR0_EL1", 2n); // PARange = 40 bits
  const k = fault(walk(0x3000));
  assertEquals([k.fault, k.level], ["address_size", 3]);
  assertEquals(k.message.includes("40-bit output size"), true);
});

Deno.test("address size fault takes priority over the access flag fault", () => {
  const { m, mmu, t } = rig();
  t.map(0x1000, 0x1_0000_0000, 4096, PROT.RW & ~D.AF);
  enable(m.cpu(0), t.root, { ps: 0 });
  assertEquals(fault(mmu.translate(m.cpu(0), 0x1000, "read")).fault, "address_size");
});

Deno.test("a descriptor read outside RAM is a synchronous external abort on the walk", () => {
  const { m, mmu, t } = rig();
  t.set(0x1000, 2, 0x1000_0000n | D.TABLE); // level-3 table at 0x10000000: not RAM
  enable(m.cpu(0), t.root);
  const f = fault(mmu.translate(m.cpu(0), 0x1000, "read"));
  assertEquals([f.fault, f.level, f.fsc], ["external_abort_on_walk", 3, 0x17]);
  // TTBR0_EL2 at reset (0) with the MMU on: the first read misses RAM.
  m.cpu(0).sysregs.write("TTBR0_EL2", 0n);
  assertEquals(fault(mmu.translate(m.cpu(0), 0x1000, "read")).fsc, 0x14);
});

Deno.test("SCTLR_EL2.A: an unaligned access faults before translation; Device mappings always check", () => {
  const { m, mmu, t } = rig();
  t.map(0x1000, DATA, 4096, PROT.RW);
  t.map(0x2000, DATA, 4096, PROT.DEVICE);
  enable(m.cpu(0), t.root);
  const cpu = m.cpu(0);
  ok(mmu.translate(cpu, 0x1004, "read", { size: 8 })); // Normal: unaligned is fine
  assertEquals(fault(mmu.translate(cpu, 0x2004, "read", { size: 8 })).fault, "alignment");
  cpu.sysregs.setField("SCTLR_EL2", "A", 1n);
  assertEquals(fault(mmu.translate(cpu, 0x1004, "read", { size: 8 })).fault, "alignment");
  // Before translation: even an unmapped VA reports the alignment fault.
  assertEquals(fault(mmu.translate(cpu, 0x9_0004, "write", { size: 8 })).fault, "alignment");
});

Deno.test("fault status codes match the Arm ARM encodings for every kind and level", () => {
  for (let level = 0; level <= 3; level++) {
    assertEquals(mmuFaultStatusCode("address_size", level), 0x00 + level);
    assertEquals(mmuFaultStatusCode("translation", level), 0x04 + level);
    assertEquals(mmuFaultStatusCode("access_flag", level), 0x08 + level);
    assertEquals(mmuFaultStatusCode("permission", level), 0x0c + level);
    assertEquals(mmuFaultStatusCode("external_abort_on_walk", level), 0x14 + level);
    assertEquals(mmuFaultStatusCode("translation", level), faultStatusCode("translation", level));
  }
  assertEquals(mmuFaultStatusCode("alignment", 0), 0x21);
  assertEquals(mmuFaultStatusCode("external_abort", 0), 0x10);
});

Deno.test("abort option: a data fault takes the abort with ESR_EL2 (EC 0x25, WnR, DFSC) and FAR_EL2", () => {
  const { m, mmu, t } = rig();
  t.map(0x1000, DATA, 4096, PROT.RO);
  enable(m.cpu(0), t.root);
  const cpu = m.cpu(0);
  cpu.sysregs.write("VBAR_EL2", 0x4800_0000n);
  const f = fault(mmu.translate(cpu, 0x1008, "write", { abort: true, pc: 0x4000_1234n }));
  const esr = cpu.sysreg("ESR_EL2");
  assertEquals(Number(esr >> 26n), 0x25);
  assertEquals(Number(esr & 0x3fn), f.fsc);
  assertEquals((esr >> 6n) & 1n, 1n);
  assertEquals([cpu.sysreg("FAR_EL2"), cpu.sysreg("ELR_EL2"), cpu.pc], [
    0x1008n,
    0x4000_1234n,
    0x4800_0200n,
  ]);
  assertEquals(m.trace.filter("exception").length, 1);
});

Deno.test("abort option: an instruction fetch fault is EC 0x21; walk external abort uses its FSC", () => {
  const { m, mmu, t } = rig();
  enable(m.cpu(0), t.root);
  const cpu = m.cpu(0);
  fault(mmu.translate(cpu, 0x1000, "exec", { abort: true }));
  assertEquals(Number(cpu.sysreg("ESR_EL2") >> 26n), 0x21);
  assertEquals(Number(cpu.sysreg("ESR_EL2") & 0x3fn), 0x04);
  cpu.sysregs.write("TTBR0_EL2", 0n);
  fault(mmu.translate(cpu, 0x1000, "read", { abort: true }));
  assertEquals(Number(cpu.sysreg("ESR_EL2") & 0x3fn), 0x14);
  assertEquals(Number(cpu.sysreg("ESR_EL2") >> 26n), 0x25);
});

Deno.test("debug translation changes nothing: no TLB fill, no counters, no trace, no abort", () => {
  const { m, mmu, tlb, t } = rig();
  t.map(0x1000, DATA, 4096, PROT.RW);
  enable(m.cpu(0), t.root);
  const cpu = m.cpu(0);
  const before = m.trace.length;
  const r = ok(mmu.translate(cpu, 0x1000, "read", { debug: true }));
  assertEquals([r.pa, r.fromTlb], [DATA, false]);
  fault(mmu.translate(cpu, 0x5000, "write", { debug: true, abort: true }));
  assertEquals(tlb.entries(cpu), []);
  assertEquals(tlb.stats(), { hits: 0, misses: 0, fills: 0, invalidated: 0, stale: 0 });
  assertEquals(m.trace.length, before);
  assertEquals(cpu.sysreg("ESR_EL2"), 0n);
  // With an entry present, debug reads it without counting, even if stale.
  ok(mmu.translate(cpu, 0x1000, "read"));
  t.map(0x1000, DATA + 0x1000, 4096, PROT.RW);
  const s = tlb.stats();
  const events = m.trace.length;
  const d = ok(mmu.translate(cpu, 0x1000, "read", { debug: true }));
  assertEquals([d.pa, d.fromTlb], [DATA, true]);
  assertEquals([tlb.stats(), m.trace.length], [s, events]);
});

Deno.test("walk() ignores the TLB and SCTLR_EL2.M and has no side effect; base walks other tables", () => {
  const { m, mmu, tlb, t } = rig();
  t.map(0x1000, DATA, 4096, PROT.RW);
  enable(m.cpu(0), t.root, { on: false });
  const cpu = m.cpu(0);
  const r = ok(mmu.walk(cpu, 0x1000, "read"));
  assertEquals([r.pa, r.mmuOff, r.fromTlb, r.level], [DATA, false, false, 3]);
  const other = new Tables(m.memory, 0x4100_0000);
  other.map(0x1000, DATA + 0x5000, 4096, PROT.RO);
  assertEquals(ok(mmu.walk(cpu, 0x1000, "read", { base: other.root })).pa, DATA + 0x5000);
  assertEquals(fault(mmu.walk(cpu, 0x1000, "write", { base: other.root })).fault, "permission");
  assertEquals(tlb.stats().fills + tlb.stats().misses, 0);
  assertEquals(m.trace.length, 0);
});

Deno.test("unsupported configurations with the MMU on throw a clear error", () => {
  const { m, mmu, t } = rig();
  enable(m.cpu(0), t.root);
  const cpu = m.cpu(0);
  const cases: [bigint, string][] = [
    [tcr(16, 5, 1n << 14n), "TG0 = 0b01 selects the 64 KiB granule"],
    [tcr(16, 5, 2n << 14n), "TG0 = 0b10 selects the 16 KiB granule"],
    // DS (LPA2) and HA/HD are modelled: see e2h_lpa2_test.ts.
  ];
  for (const [v, msg] of cases) {
    cpu.sysregs.write("TCR_EL2", v);
    assertThrows(() => mmu.translate(cpu, 0, "read"), UnsupportedMmuConfigError, msg);
    assertThrows(() => mmu.walk(cpu, 0, "read"), UnsupportedMmuConfigError, msg);
  }
  cpu.sysregs.write("TCR_EL2", tcr(16));
  cpu.sysregs.setField("SCTLR_EL2", "EE", 1n);
  assertThrows(() => mmu.translate(cpu, 0, "read"), UnsupportedMmuConfigError, "EE = 1");
  // With the MMU off, TCR_EL2 does not matter.
  cpu.sysregs.setField("SCTLR_EL2", "EE", 0n);
  cpu.sysregs.write("TCR_EL2", tcr(16, 5, 1n << 14n));
  cpu.sysregs.setField("SCTLR_EL2", "M", 0n);
  ok(mmu.translate(cpu, 0x4000_0000, "read"));
});

Deno.test("bad arguments throw and leave the TLB as it was", () => {
  const { m, mmu, tlb, t } = rig();
  enable(m.cpu(0), t.root);
  const cpu = m.cpu(0);
  assertThrows(() => mmu.translate(cpu, -1, "read"), RangeError, "Cannot translate VA -1");
  assertThrows(() => mmu.translate(cpu, 0.5, "read"), RangeError);
  assertThrows(() => mmu.translate(cpu, 0, "load" as AccessKind), TypeError, 'access "load"');
  assertThrows(() => mmu.translate(cpu, 0, "read", { size: 3 }), RangeError, "3-byte");
  assertThrows(() => mmu.walk(cpu, 0, "read", { base: -4096 }), RangeError, "table base");
  assertEquals(tlb.stats(), { hits: 0, misses: 0, fills: 0, invalidated: 0, stale: 0 });
});

Deno.test("TTBR0_EL2 CnP and the bits below the start-level table size are ignored", () => {
  const { m, mmu, t } = rig({ t0sz: 36 }); // 28-bit VAs: level 2 table of 128 entries (1 KiB)
  t.map(0x1000, DATA, 4096, PROT.RW);
  enable(m.cpu(0), t.root, { t0sz: 36 });
  m.cpu(0).sysregs.write("TTBR0_EL2", BigInt(t.root) | 0x3f1n); // CnP + low junk below 1 KiB
  assertEquals(ok(mmu.translate(m.cpu(0), 0x1000, "read")).pa, DATA);
});
