import { assertEquals, assertThrows } from "@std/assert";
import { MemoryFaultError } from "../../../core/mod.ts";
import { enable, PROT } from "./_tables.ts";
import { rig } from "./_machine.ts";

const A = 0x5000_0000;
const HYP = 0x7f00_0000_0000; // a hyp VA well above the RAM PAs

function mapped() {
  const r = rig();
  const cpu = r.m.cpu(0);
  r.t.mapPages(HYP, A, 4 * 4096, PROT.RW);
  r.t.map(HYP + 0x4000, A + 0x4000, 4096, PROT.RO);
  r.t.map(HYP + 0x6000, 0x1000_0000, 4096, PROT.RW); // PA outside RAM
  r.t.map(HYP + 0x7000, A + 0x7000, 4096, PROT.DEVICE);
  enable(cpu, r.t.root);
  return { ...r, cpu, el2: r.mmu.el2Memory(cpu) };
}

function memFault(fn: () => unknown): MemoryFaultError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MemoryFaultError) return e;
    throw e;
  }
  throw new Error("expected a MemoryFaultError");
}

Deno.test("El2Memory over the MMU: 8/16/32/64-bit round trips land at the translated PA", () => {
  const { m, el2 } = mapped();
  el2.write8(HYP + 1, 0x1ab);
  el2.write16(HYP + 2, 0x1_beef);
  el2.write32(HYP + 4, 0xdead_beef);
  el2.write64(HYP + 8, 0x0123_4567_89ab_cdefn);
  assertEquals(el2.read8(HYP + 1), 0xab);
  assertEquals(el2.read16(HYP + 2), 0xbeef);
  assertEquals(el2.read32(HYP + 4), 0xdead_beef);
  assertEquals(el2.read64(HYP + 8), 0x0123_4567_89ab_cdefn);
  assertEquals(m.memory.read64(A + 8), 0x0123_4567_89ab_cdefn);
  assertEquals(m.memory.read32(A + 4), 0xdead_beef);
});

Deno.test("El2Memory: an access crossing a page boundary is split across both translations", () => {
  const { m, t, el2 } = mapped();
  // Make the second page non-contiguous in PA.
  t.map(HYP + 0x1000, A + 0x10_0000, 4096, PROT.RW);
  el2.write64(HYP + 0xffc, 0x1122_3344_5566_7788n);
  assertEquals(m.memory.read32(A + 0xffc), 0x5566_7788);
  assertEquals(m.memory.read32(A + 0x10_0000), 0x1122_3344);
  assertEquals(el2.read64(HYP + 0xffc), 0x1122_3344_5566_7788n);
  el2.write32(HYP + 0xffe, 0xa1b2_c3d4);
  assertEquals(el2.read32(HYP + 0xffe), 0xa1b2_c3d4);
  el2.write16(HYP + 0xfff, 0xeeff);
  assertEquals(el2.read16(HYP + 0xfff), 0xeeff);
  assertEquals(m.memory.read8(A + 0x10_0000), 0xee);
});

Deno.test("El2Memory: a store crossing into a read-only page writes nothing", () => {
  const { m, el2 } = mapped();
  const digest = m.memory.digest();
  const e = memFault(() => el2.write64(HYP + 0x3ffc, 0xffff_ffff_ffff_ffffn));
  // The fault names the first faulting byte: the start of the read-only page.
  assertEquals([e.fault?.fault, e.fault?.level, e.va], ["permission", 3, HYP + 0x4000]);
  assertEquals(m.memory.digest(), digest);
});

Deno.test("El2Memory: faults throw MemoryFaultError carrying the MMU fault", () => {
  const { el2 } = mapped();
  const w = memFault(() => el2.write32(HYP + 0x4000, 1));
  assertEquals([w.fault?.fault, w.fault?.fsc, w.fault?.access], ["permission", 0x0f, "write"]);
  assertEquals(w.message.startsWith(`Cannot access hyp VA 0x${(HYP + 0x4000).toString(16)}`), true);
  assertEquals(el2.read32(HYP + 0x4000), 0);
  const u = memFault(() => el2.read64(HYP + 0x5000));
  assertEquals([u.fault?.fault, u.fault?.level, u.fault?.fsc], ["translation", 3, 0x07]);
  const x = memFault(() => el2.read8(HYP + 0x6000));
  assertEquals([x.fault?.fault, x.fault?.fsc], ["external_abort", 0x10]);
  assertEquals(x.message.includes("PA 0x10000000 is outside every RAM bank"), true);
  const a = memFault(() => el2.read32(HYP + 0x7002));
  assertEquals([a.fault?.fault, a.fault?.fsc], ["alignment", 0x21]);
  assertEquals(el2.read32(HYP + 0x7004), 0); // aligned Device access is fine
});

Deno.test("El2Memory with takeAbort also takes the data abort on the CPU", () => {
  const { mmu, cpu } = mapped();
  cpu.pc = 0x4000_2000n;
  const el2 = mmu.el2Memory(cpu, { takeAbort: true });
  memFault(() => el2.write64(HYP + 0x4000, 1n));
  const esr = cpu.sysreg("ESR_EL2");
  assertEquals([Number(esr >> 26n), Number(esr & 0x3fn), (esr >> 6n) & 1n], [0x25, 0x0f, 1n]);
  assertEquals([cpu.sysreg("FAR_EL2"), cpu.sysreg("ELR_EL2")], [
    BigInt(HYP + 0x4000),
    0x4000_2000n,
  ]);
  memFault(() => el2.read64(HYP + 0x6000));
  assertEquals(Number(cpu.sysreg("ESR_EL2") & 0x3fn), 0x10);
  // Without takeAbort the CPU is untouched.
  const quiet = mmu.el2Memory(cpu);
  cpu.sysregs.set("ESR_EL2", 0n);
  memFault(() => quiet.read64(HYP + 0x5000));
  assertEquals(cpu.sysreg("ESR_EL2"), 0n);
});

Deno.test("El2Memory.zero / isZero translate every page first; a fault leaves memory unchanged", () => {
  const { m, el2 } = mapped();
  m.memory.fill(A, 4 * 4096, 0x5a);
  assertEquals(el2.isZero(HYP + 0x800, 0x2000), false);
  el2.zero(HYP + 0x800, 0x2000);
  assertEquals(el2.isZero(HYP + 0x800, 0x2000), true);
  assertEquals(m.memory.read8(A + 0x7ff), 0x5a);
  assertEquals(m.memory.read8(A + 0x2800), 0x5a);
  const digest = m.memory.digest();
  const e = memFault(() => el2.zero(HYP + 0x3000, 0x2000)); // second page is read-only
  assertEquals(e.fault?.fault, "permission");
  assertEquals(m.memory.digest(), digest);
  el2.zero(HYP, 0);
  assertThrows(() => el2.zero(HYP, -1), RangeError);
});

Deno.test("El2Memory with the MMU off is a flat Device-memory view (alignment checked)", () => {
  const { m, mmu } = rig();
  const el2 = mmu.el2Memory(m.cpu(0));
  el2.write64(0x4100_0000, 7n);
  assertEquals(m.memory.read64(0x4100_0000), 7n);
  assertEquals(memFault(() => el2.read16(0x4100_0001)).fault?.fault, "alignment");
  assertEquals(memFault(() => el2.read8(0x1000)).fault?.fault, "external_abort");
});

Deno.test("El2Memory.readBytes / writeBytes copy across pages; a faulting page leaves memory unchanged", () => {
  const { m, t, el2 } = mapped();
  t.map(HYP + 0x1000, A + 0x10_0000, 4096, PROT.RW); // second page elsewhere in PA
  const data = Uint8Array.from({ length: 0x1800 }, (_, i) => (i * 7 + 1) & 0xff);
  el2.writeBytes!(HYP + 0x800, data);
  assertEquals(el2.readBytes!(HYP + 0x800, data.length), data);
  assertEquals(m.memory.read8(A + 0x800), data[0]);
  assertEquals(m.memory.read8(A + 0x10_0000), data[0x800]);
  assertEquals(el2.readBytes!(HYP + 0x2000, 16), new Uint8Array(16)); // never written
  const digest = m.memory.digest();
  assertEquals(memFault(() => el2.writeBytes!(HYP + 0x3800, data)).fault?.fault, "permission");
  assertEquals(m.memory.digest(), digest);
  assertEquals(memFault(() => el2.readBytes!(HYP + 0x4800, 0x1000)).fault?.fault, "translation");
});

Deno.test("El2Memory: bulk accesses translate once per page, not per word (TLB lookups counted)", () => {
  const { tlb, el2 } = mapped();
  const lookups = () => {
    const s = tlb.stats();
    return s.hits + s.misses;
  };
  // [length, start offset in the first page, pages touched]
  const cases: [number, number, number][] = [
    [4096, 0, 1], // one whole page: one translation
    [4096 * 4, 0, 4],
    [4096 * 2, 8, 3], // unaligned start: the third page's first 8 bytes
    [16, 4088, 2], // a list node across a page boundary
    [8, 16, 1],
  ];
  for (const [n, off, pages] of cases) {
    for (const op of ["zero", "writeBytes", "readBytes", "isZero"] as const) {
      const before = lookups();
      const va = HYP + off;
      if (op === "zero") el2.zero(va, n);
      else if (op === "writeBytes") el2.writeBytes!(va, new Uint8Array(n).fill(7));
      else if (op === "readBytes") el2.readBytes!(va, n);
      else el2.isZero(va, n);
      assertEquals(lookups() - before, pages, `${op} of ${n} bytes at +${off}`);
    }
  }
  // A 64-bit store and load: one translation each.
  const before = lookups();
  el2.write64(HYP + 64, 5n);
  el2.read64(HYP + 64);
  assertEquals(lookups() - before, 2);
});
