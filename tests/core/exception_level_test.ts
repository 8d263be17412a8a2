import { assertEquals, assertThrows } from "@std/assert";
import {
  Cpu,
  EC,
  eret,
  ExceptionVectors,
  faultStatusCode,
  hvc,
  takeAbort,
  Trace,
  UnhandledExceptionError,
  VECTOR,
} from "../../mod.ts";

function el1Cpu(): Cpu {
  const cpu = new Cpu(0);
  cpu.sysregs.write("VBAR_EL2", 0x8000_0800n);
  cpu.pstate.el = 1;
  cpu.pstate.spsel = 1;
  cpu.pstate.daif = 0b0101;
  cpu.pstate.nzcv = 0b1001;
  cpu.pc = 0xffff_8000_1000_0000n;
  return cpu;
}

Deno.test("hvc from EL1 enters EL2 at VBAR_EL2+0x400 and eret returns", () => {
  const cpu = el1Cpu();
  const trace = new Trace();
  const v = new ExceptionVectors();
  const seen: Record<string, bigint | number>[] = [];
  v.on(VECTOR.LOWER_A64_SYNC, (c, info) => {
    seen.push({
      el: c.pstate.el,
      pc: c.pc,
      esr: c.sysreg("ESR_EL2"),
      elr: c.sysreg("ELR_EL2"),
      spsr: c.sysreg("SPSR_EL2"),
      daif: c.pstate.daif,
      ec: info.ec,
      iss: info.iss,
    });
    c.setX(0, 0n);
    c.setX(1, 42n);
    eret(c, trace);
  });
  cpu.setX(0, 0xc600000fn);
  hvc(cpu, 0x1234, v, trace);
  assertEquals(seen, [{
    el: 2,
    pc: 0x8000_0c00n,
    esr: (0x16n << 26n) | (1n << 25n) | 0x1234n,
    elr: 0xffff_8000_1000_0004n,
    spsr: (0b1001n << 28n) | (0b0101n << 6n) | 0b0101n,
    daif: 0xf,
    ec: EC.HVC64,
    iss: 0x1234,
  }]);
  assertEquals(cpu.pstate, { el: 1, spsel: 1, daif: 0b0101, nzcv: 0b1001 });
  assertEquals(cpu.pc, 0xffff_8000_1000_0004n);
  assertEquals([cpu.x(0), cpu.x(1)], [0n, 42n]);
  assertEquals(trace.filter("exception").map((e) => e.data.type), ["hvc64", "eret"]);
});

Deno.test("hvc with no handler is an UnhandledExceptionError", () => {
  const cpu = el1Cpu();
  assertThrows(() => hvc(cpu, 0, new ExceptionVectors()), UnhandledExceptionError, "0x400");
});

Deno.test("data and instruction aborts at EL2 enter at VBAR_EL2+0x200", async (t) => {
  await t.step("data abort, write, level 3 translation", () => {
    const cpu = el1Cpu();
    cpu.pstate.el = 2;
    const off = takeAbort(cpu, {
      access: "data",
      far: 0x6000_0000_1000n,
      fault: "translation",
      level: 3,
      write: true,
      pc: 0x8000_1234n,
    });
    assertEquals(off, 0x200);
    assertEquals(cpu.pc, 0x8000_0a00n);
    assertEquals(cpu.sysreg("ESR_EL2"), (0x25n << 26n) | (1n << 25n) | (1n << 6n) | 0x07n);
    assertEquals(cpu.sysreg("FAR_EL2"), 0x6000_0000_1000n);
    assertEquals(cpu.sysreg("ELR_EL2"), 0x8000_1234n);
  });
  await t.step("instruction abort, permission at level 2", () => {
    const cpu = el1Cpu();
    cpu.pstate.el = 2;
    takeAbort(cpu, {
      access: "instruction",
      far: 0x1000n,
      fault: "permission",
      level: 2,
      pc: 0x1000n,
    });
    assertEquals(cpu.sysreg("ESR_EL2") >> 26n, 0x21n);
    assertEquals(cpu.sysreg("ESR_EL2") & 0x3fn, 0x0en);
  });
  await t.step("abort from EL1 goes to the lower-EL vector", () => {
    const cpu = el1Cpu();
    const off = takeAbort(cpu, { access: "data", far: 0n, fault: "access_flag", level: 1, pc: 0n });
    assertEquals(off, 0x400);
    assertEquals(cpu.sysreg("ESR_EL2") >> 26n, 0x24n);
  });
});

Deno.test("fault status codes carry the level", () => {
  assertEquals(
    [0, 1, 2, 3].map((l) => faultStatusCode("address_size", l)),
    [0x00, 0x01, 0x02, 0x03],
  );
  assertEquals([0, 1, 2, 3].map((l) => faultStatusCode("translation", l)), [4, 5, 6, 7]);
  assertEquals([0, 1, 2, 3].map((l) => faultStatusCode("access_flag", l)), [8, 9, 10, 11]);
  assertEquals([0, 1, 2, 3].map((l) => faultStatusCode("permission", l)), [12, 13, 14, 15]);
  assertEquals(faultStatusCode("translation", -1), 0x2b);
  assertThrows(() => faultStatusCode("permission", 4), RangeError);
});

Deno.test("eret refuses an illegal SPSR and a non-EL2 caller", () => {
  const cpu = el1Cpu();
  assertThrows(() => eret(cpu), RangeError, "from EL1");
  cpu.pstate.el = 2;
  cpu.sysregs.set("SPSR_EL2", 0b1100n); // EL3
  assertThrows(() => eret(cpu), RangeError, "illegal return state");
  assertEquals(cpu.pstate.el, 2);
});

Deno.test("eret treats every reserved SPSR_EL2.M encoding as an illegal return", () => {
  const valid = new Map([[0b0000, [0, 0]], [0b0100, [1, 0]], [0b0101, [1, 1]], [0b1000, [2, 0]], [
    0b1001,
    [2, 1],
  ]]);
  for (let m = 0; m < 32; m++) {
    const cpu = new Cpu(0);
    cpu.sysregs.set("SPSR_EL2", BigInt(m) | 0x3c0n);
    cpu.sysregs.set("ELR_EL2", 0x1000n);
    const want = valid.get(m);
    if (want === undefined) {
      assertThrows(() => eret(cpu), RangeError, "illegal return state", `M = 0b${m.toString(2)}`);
      assertEquals([cpu.pstate.el, cpu.pstate.spsel, cpu.pc], [2, 1, 0n], "nothing changed");
    } else {
      eret(cpu);
      assertEquals([cpu.pstate.el, cpu.pstate.spsel], want, `M = 0b${m.toString(2)}`);
    }
  }
});

Deno.test("eret from EL2 to EL1 with HCR_EL2.TGE = 1 is an illegal return", () => {
  const cpu = new Cpu(0);
  cpu.sysregs.setField("HCR_EL2", "TGE", 1n);
  cpu.sysregs.set("SPSR_EL2", 0x3c5n); // EL1h
  assertThrows(() => eret(cpu), RangeError, "HCR_EL2.TGE = 1");
  assertEquals(cpu.pstate.el, 2);
  cpu.sysregs.set("SPSR_EL2", 0x3c9n); // EL2h is still a legal return
  eret(cpu);
  assertEquals(cpu.pstate.el, 2);
  cpu.sysregs.setField("HCR_EL2", "TGE", 0n);
  cpu.sysregs.set("SPSR_EL2", 0x3c5n);
  eret(cpu);
  assertEquals(cpu.pstate.el, 1);
});

Deno.test("ExceptionVectors rejects offsets that are not vector entries", () => {
  const v = new ExceptionVectors();
  assertThrows(() => v.on(0x410, () => {}), RangeError);
  assertThrows(() => v.on(0x800, () => {}), RangeError);
});
