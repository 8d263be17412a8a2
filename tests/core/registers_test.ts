import { assertEquals, assertThrows } from "@std/assert";
import {
  Cpu,
  CPU_CORTEX_A57,
  CPU_MAX,
  CPU_NEOVERSE_N1,
  depositField,
  extractField,
  HCR_EL2_RW,
  ID_REGISTER_NAMES,
  RegisterError,
  SCTLR_EL2_MMU_OFF,
  SYSREG_DEFS,
  SystemRegisters,
} from "../../mod.ts";

Deno.test("SystemRegisters reset values are architectural", () => {
  const r = new SystemRegisters();
  assertEquals(r.read("SCTLR_EL2"), 0x30c50830n);
  assertEquals(SCTLR_EL2_MMU_OFF, 0x30c50830n);
  assertEquals(r.read("TCR_EL2"), 0x80800000n);
  assertEquals(r.read("TTBR0_EL2"), 0n);
  assertEquals(r.read("sctlr_el2"), 0x30c50830n, "names are case-insensitive");
});

Deno.test("every declared field round-trips, clear of RES1, RES0 and other fields", () => {
  const r = new SystemRegisters();
  for (const d of Object.values(SYSREG_DEFS)) {
    let seen = 0n;
    for (const [field, [lsb, width]] of Object.entries(d.fields)) {
      const mask = ((1n << BigInt(width)) - 1n) << BigInt(lsb);
      // A field over RES1 or strict-RES0 bits could never be written freely:
      // say so here instead of skipping the write as this test used to.
      assertEquals(mask & d.res1, 0n, `${d.name}.${field} overlaps RES1 bits`);
      assertEquals(mask & d.res0, 0n, `${d.name}.${field} overlaps RES0 bits`);
      assertEquals(mask & seen, 0n, `${d.name}.${field} overlaps another field`);
      seen |= mask;
      const max = (1n << BigInt(width)) - 1n;
      for (const v of [0n, 1n, max]) {
        const value = depositField(d.name, field, d.reset, v);
        assertEquals(extractField(d.name, field, value), v, `${d.name}.${field}`);
        assertEquals(r.validate(d.name, value), undefined, `${d.name}.${field} = ${v} is valid`);
        if (!d.readOnly) {
          r.write(d.name, value);
          // RAO/WI bits (HCR_EL2.RW) keep reading as 1 whatever was written.
          const want = extractField(d.name, field, value | (d.rao ?? 0n));
          assertEquals(r.field(d.name, field), want, `${d.name}.${field} via write`);
        }
      }
    }
  }
});

Deno.test("every declared register resets to its pinned value", () => {
  // Architecturally UNKNOWN bits are modelled as 0, so most registers reset
  // to their RES1 bits (and RAO bits); the rest are hyplab's stated choices.
  const want: Record<string, bigint> = {
    SCTLR_EL2: 0x30c50830n, // INIT_SCTLR_EL2_MMU_OFF = RES1
    TCR_EL2: 0x80800000n, // RES1 {31, 23}
    TTBR0_EL2: 0n,
    MAIR_EL2: 0n,
    HCR_EL2: 0x80000000n, // RW RAO/WI: EL1 is AArch64-only
    VBAR_EL2: 0n,
    ESR_EL2: 0n,
    ELR_EL2: 0n,
    SPSR_EL2: 0n,
    FAR_EL2: 0n,
    TPIDR_EL2: 0n,
    VTTBR_EL2: 0n,
    VTCR_EL2: 0x80000000n, // RES1 bit 31
    CPTR_EL2: 0x32ffn, // CPTR_NVHE_EL2_RES1
    MDCR_EL2: 0n,
    CNTHCTL_EL2: 0n,
    VPIDR_EL2: 0n, // UNKNOWN at reset; head.S copies MIDR_EL1 in
    VMPIDR_EL2: 0x80000000n, // RES1 bit 31; head.S copies MPIDR_EL1 in
    SCTLR_EL1: 0x30d00800n, // RES1 without PAN/ExS/CSV2
    TCR_EL1: 0n,
    TTBR0_EL1: 0n,
    TTBR1_EL1: 0n,
    MAIR_EL1: 0n,
    VBAR_EL1: 0n,
    ESR_EL1: 0n,
    ELR_EL1: 0n,
    SPSR_EL1: 0n,
    FAR_EL1: 0n,
    TPIDR_EL1: 0n,
    MPIDR_EL1: 0x80000000n, // RES1 bit 31; Aff0 is set per CPU
    // The identification registers read as 0 in a bare register file; a
    // Cpu gives them its CPU model's values (checked below).
    ...Object.fromEntries(ID_REGISTER_NAMES.map((n) => [n, 0n])),
  };
  assertEquals(Object.keys(SYSREG_DEFS).sort(), Object.keys(want).sort(), "every register pinned");
  const r = new SystemRegisters();
  for (const [name, value] of Object.entries(want)) {
    assertEquals(SYSREG_DEFS[name]!.reset, value, `${name} reset`);
    assertEquals(r.read(name), value, `${name} after SystemRegisters()`);
  }
  assertEquals(new Cpu(5).sysreg("MPIDR_EL1"), 0x80000005n);
  // A Cpu reads its model's ID registers: cortex-a57 (the default) and
  // neoverse-n1 as QEMU 7.2's aarch64_a57_initfn()/aarch64_neoverse_n1_initfn()
  // set ID_AA64MMFR0_EL1 (PARange 4 = 44 bits, and 5 = 48 bits).
  assertEquals(new Cpu(0).sysreg("ID_AA64MMFR0_EL1"), 0x1124n);
  assertEquals(new Cpu(0, CPU_NEOVERSE_N1).sysreg("ID_AA64MMFR0_EL1"), 0x101125n);
  for (const model of [CPU_CORTEX_A57, CPU_NEOVERSE_N1, CPU_MAX]) {
    const cpu = new Cpu(1, model);
    for (const n of ID_REGISTER_NAMES) {
      assertEquals(cpu.sysreg(n), model.idRegs[n], `${model.name} ${n}`);
    }
  }
});

Deno.test("TCR_EL2 strict RES0 accepts every field of the E2H = 0 layout", () => {
  const r = new SystemRegisters();
  const reset = 0x80800000n;
  const named = { HWU59: 25, HWU60: 26, HWU61: 27, HWU62: 28, TBID: 29, TCMA: 30, MTX: 33 };
  for (const [field, bit] of Object.entries(named)) {
    assertEquals(r.validate("TCR_EL2", reset | (1n << BigInt(bit))), undefined, field);
    assertEquals(SYSREG_DEFS.TCR_EL2!.fields[field], [bit, 1], field);
  }
  for (const bit of [6, 7, 19, 34, 63]) {
    assertEquals(
      r.validate("TCR_EL2", reset | (1n << BigInt(bit))),
      `Cannot write TCR_EL2 = 0x${(reset | (1n << BigInt(bit))).toString(16)}: RES0 bits 0x${
        (1n << BigInt(bit)).toString(16)
      } are set`,
    );
  }
  assertEquals(SYSREG_DEFS.TTBR0_EL2!.fields.ASID, undefined, "nVHE TTBR0_EL2 has no ASID");
});

Deno.test("CPTR_EL2 has the nVHE RES1 bits (Linux CPTR_NVHE_EL2_RES1) and resets to them", () => {
  const r = new SystemRegisters();
  assertEquals(r.read("CPTR_EL2"), 0x32ffn);
  assertEquals(SYSREG_DEFS.CPTR_EL2!.res1, 0x32ffn);
  assertThrows(() => r.write("CPTR_EL2", 0n), RegisterError, "RES1 bits 0x32ff are clear");
  assertThrows(() => r.write("CPTR_EL2", 0x32ffn | (1n << 11n)), RegisterError, "RES0 bits 0x800");
  r.setField("CPTR_EL2", "TFP", 1n);
  r.setField("CPTR_EL2", "TZ", 1n);
  assertEquals(r.read("CPTR_EL2"), 0x37ffn, "TZ and TFP sit at bits 8 and 10");
});

Deno.test("HCR_EL2.RW is RAO/WI: EL1 is modelled as AArch64-only", () => {
  const r = new SystemRegisters();
  assertEquals(r.read("HCR_EL2"), 1n << 31n, "reset has RW = 1");
  assertEquals(SYSREG_DEFS.HCR_EL2!.reset, HCR_EL2_RW);
  r.write("HCR_EL2", 0n); // not an error, unlike a RES1 bit
  assertEquals(r.field("HCR_EL2", "RW"), 1n, "a write cannot clear RW");
  r.setField("HCR_EL2", "RW", 0n);
  assertEquals(r.field("HCR_EL2", "RW"), 1n);
  r.write("HCR_EL2", 1n << 27n);
  assertEquals(r.read("HCR_EL2"), (1n << 31n) | (1n << 27n), "other bits are stored");
  r.set("HCR_EL2", 0n);
  assertEquals(r.field("HCR_EL2", "RW"), 1n, "set keeps RAO bits too");
});

Deno.test("SCTLR_EL2 fields sit where the Arm ARM puts them", () => {
  const r = new SystemRegisters();
  r.setField("SCTLR_EL2", "M", 1n);
  r.setField("SCTLR_EL2", "C", 1n);
  r.setField("SCTLR_EL2", "I", 1n);
  r.setField("SCTLR_EL2", "SA", 1n);
  r.setField("SCTLR_EL2", "WXN", 1n);
  r.setField("SCTLR_EL2", "IESB", 1n);
  r.setField("SCTLR_EL2", "ITFSB", 1n);
  // mainline INIT_SCTLR_EL2_MMU_ON
  assertEquals(r.read("SCTLR_EL2"), 0x2030ed183dn);
});

Deno.test("bad register accesses are rejected and change nothing", async (t) => {
  const r = new SystemRegisters();
  await t.step("unknown register", () => {
    assertThrows(() => r.read("SCTLR_EL9"), RegisterError, "unknown register");
  });
  await t.step("unknown field", () => {
    assertThrows(() => r.field("SCTLR_EL2", "Q"), RegisterError, "unknown field");
  });
  await t.step("RES1 violation", () => {
    assertThrows(() => r.write("SCTLR_EL2", 0x1n), RegisterError, "RES1 bits 0x30c50830 are clear");
    assertEquals(r.read("SCTLR_EL2"), 0x30c50830n);
  });
  await t.step("RES0 violation", () => {
    assertThrows(() => r.write("SCTLR_EL2", 0x30c50830n | (1n << 7n)), RegisterError, "RES0");
    assertThrows(() => r.write("VBAR_EL2", 0x400n), RegisterError, "RES0 bits 0x400");
    assertEquals(r.read("VBAR_EL2"), 0n);
  });
  await t.step("field value too wide", () => {
    assertThrows(() => r.setField("TCR_EL2", "T0SZ", 64n), RegisterError, "6 bits");
  });
  await t.step("read-only register", () => {
    assertThrows(() => r.write("MPIDR_EL1", 0n), RegisterError, "read-only");
  });
});

Deno.test("Cpu general registers, xzr and banked stack pointers", () => {
  const cpu = new Cpu(3);
  assertEquals(cpu.sysreg("MPIDR_EL1") & 0xffn, 3n);
  for (let i = 0; i < 31; i++) cpu.setX(i, BigInt(i) << 40n);
  for (let i = 0; i < 31; i++) assertEquals(cpu.x(i), BigInt(i) << 40n);
  cpu.setX(31, 5n);
  assertEquals(cpu.x(31), 0n);
  cpu.setX(0, -1n);
  assertEquals(cpu.x(0), 0xffff_ffff_ffff_ffffn);
  cpu.pstate.el = 1;
  cpu.sp = 0x1111n;
  cpu.pstate.el = 2;
  cpu.sp = 0x2222n;
  cpu.pstate.spsel = 0;
  cpu.sp = 0x3333n;
  assertEquals([...cpu.spEl], [0x3333n, 0x1111n, 0x2222n]);
});
