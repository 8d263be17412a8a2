import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  A64ExecutionError,
  Cpu,
  EC,
  eret,
  ExceptionVectors,
  executeA64,
  HazardChecker,
  parseA64,
  PhysicalMemory,
  resolveCheckConfig,
  Trace,
  VECTOR,
} from "./deps.ts";
import { FakeMmu, FakeTlb } from "./fake_mmu.ts";

const BASE = 0x4008_0000;
const MASK = (1n << 64n) - 1n;

function run(src: string, setup: (cpu: Cpu) => void = () => {}) {
  const cpu = new Cpu(0);
  setup(cpu);
  const r = executeA64(parseA64(src), { cpu, codeBase: BASE });
  return { cpu, r };
}

Deno.test("executeA64() runs every data-processing instruction with its effect", async (t) => {
  const x = (src: string, setup: (cpu: Cpu) => void = () => {}) => run(src, setup).cpu;
  await t.step("mov, movz, movk, mov_q", () => {
    assertEquals(x("mov x0, #0x30").x(0), 0x30n);
    assertEquals(x("mov x0, #-1").x(0), MASK);
    assertEquals(x("mov x1, #7\nmov x2, x1").x(2), 7n);
    assertEquals(x("movz x0, #0xc600, lsl #16\nmovk x0, #0x1").x(0), 0xc600_0001n);
    assertEquals(x("mov x0, #-1\nmovk x0, #0x1234, lsl #32").x(0), 0xffff_1234_ffff_ffffn);
    assertEquals(x("mov_q x5, INIT_SCTLR_EL2_MMU_OFF").x(5), 0x30c50830n);
    assertEquals(x("mov_q x5, 0x1122334455667788").x(5), 0x1122334455667788n);
    assertEquals(x("mov_q x5, 0x0000123456789abc").x(5), 0x123456789abcn);
    assertEquals(x("mov_q x5, -2").x(5), MASK - 1n);
    assertEquals(x("mov_q x5, 0xffff800000001000").x(5), 0xffff800000001000n);
    assertEquals(x("mov x0, #5\nmov xzr, x0\nmov x1, xzr").x(1), 0n);
  });
  await t.step("logical, arithmetic and shifts", () => {
    const c = x(
      [
        "mov x1, #0xf0",
        "orr x2, x1, #0xf",
        "and x3, x2, #0x3c",
        "bic x4, x2, #SCTLR_ELx_M",
        "mov x5, #1",
        "orr x6, x1, x5, lsl #8",
        "and x7, x2, x5",
        "bic x8, x2, x1",
        "add x9, x1, #16",
        "sub x10, x1, #0x10, lsl #0",
        "add x11, x1, x5, lsl #4",
        "sub x12, x1, x5",
        "lsl x13, x5, #63",
        "lsr x14, x13, #60",
        "mov x15, #66",
        "lsl x16, x5, x15",
        "lsr x17, x13, x15",
        "sub x18, xzr, x5",
        "add x19, x18, #2",
        "phys_to_ttbr x20, x1",
      ].join("\n"),
    );
    assertEquals(
      [2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20].map((r) => c.x(r)),
      [
        0xffn,
        0x3cn,
        0xfen,
        0x1f0n,
        1n,
        0xfn,
        0x100n,
        0xe0n,
        0x100n,
        0xefn,
        1n << 63n,
        8n,
        4n,
        1n << 61n,
        MASK,
        1n,
        0xf0n,
      ],
    );
  });
  await t.step("mov to and from sp, add/sub on sp", () => {
    const c = x("mov x1, #0x8000\nmov sp, x1\nsub sp, sp, #16\nmov x2, sp");
    assertEquals([c.sp, c.x(2)], [0x7ff0n, 0x7ff0n]);
  });
});

Deno.test("executeA64() loads and stores with every addressing mode", () => {
  const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x100_0000 }]);
  const cpu = new Cpu(0);
  cpu.setX(0, 0x4010_0000n);
  cpu.sp = 0x4020_0000n;
  mem.write64(0x4010_0020, 0x4120_0000n);
  mem.write64(0x4010_0018, 0x8000_0010_0000n);
  const src = [
    "ldr x3, [x0, #NVHE_INIT_PGD_PA]",
    "ldr x4, [x0, #NVHE_INIT_STACK_HYP_VA]",
    "mov x5, #0x55",
    "mov x6, #0x66",
    "str x5, [sp, #-16]!",
    "str x6, [sp, #8]",
    "stp x5, x6, [sp, #-16]!",
    "ldp x7, x8, [sp], #16",
    "ldr x9, [sp], #16",
    "ldr x10, [x0, #-8]",
    "str x3, [x0]",
    "ldr x11, [x0]",
  ].join("\n");
  const r = executeA64(parseA64(src), { cpu, codeBase: BASE, memory: mem });
  assertEquals(r.stopped, "end");
  assertEquals([cpu.x(3), cpu.x(4)], [0x4120_0000n, 0x8000_0010_0000n]);
  assertEquals([mem.read64(0x401f_fff0), mem.read64(0x401f_fff8)], [0x55n, 0x66n]);
  assertEquals([mem.read64(0x401f_ffe0), mem.read64(0x401f_ffe8)], [0x55n, 0x66n]);
  assertEquals([cpu.x(7), cpu.x(8), cpu.x(9), cpu.sp], [0x55n, 0x66n, 0x55n, 0x4020_0000n]);
  assertEquals([cpu.x(10), cpu.x(11)], [0n, 0x4120_0000n]);
});

Deno.test("executeA64() branches: b, bl, cbz, cbnz, br, blr, ret", () => {
  const src = [
    "\tmov x0, #3",
    "1:\tsub x0, x0, #1",
    "\tadd x1, x1, #1",
    "\tcbnz x0, 1b",
    "\tcbz x0, 2f",
    "\tmov x2, #99",
    "2:\tbl sub",
    "\tb out",
    "sub:\tmov x3, #7",
    "\tret",
    "out:\tmov x4, #1",
    "\tbr x9",
  ].join("\n");
  const { cpu, r } = run(src, (c) => c.setX(9, 0xdead_0000n));
  assertEquals([cpu.x(0), cpu.x(1), cpu.x(2), cpu.x(3), cpu.x(4)], [0n, 3n, 0n, 7n, 1n]);
  assertEquals(cpu.x(30), BigInt(BASE + 4 * 7));
  assertEquals([r.stopped, r.target, cpu.pc, r.line], [
    "branch-out",
    0xdead_0000,
    0xdead_0000n,
    12,
  ]);
  const blr = run("blr x5\nmov x6, #1", (c) => c.setX(5, 0x1234n));
  assertEquals([blr.r.stopped, blr.r.target, blr.cpu.x(30)], [
    "branch-out",
    0x1234,
    BigInt(BASE + 4),
  ]);
  // A register branch back into the program continues there.
  const back = run(
    "mov x1, #2\nadr: add x0, x0, #1\nsub x1, x1, #1\ncbz x1, done\nbr x7\ndone: nop",
    (c) => c.setX(7, BigInt(BASE + 4)),
  );
  assertEquals([back.r.stopped, back.cpu.x(0)], ["end", 2n]);
  assertEquals(back.cpu.pc, BigInt(BASE + 4 * 6));
});

Deno.test("executeA64() explore: forks on input values, follows known ones, merges seen states", async (t) => {
  const explore = (src: string, setup: (cpu: Cpu) => void = () => {}) => {
    const p = parseA64(src);
    const cpu = new Cpu(0);
    setup(cpu);
    const start = { sctlr: 0x30c50830n, ttbr0: 0n, abi: "registers" as const };
    const checker = new HazardChecker(p, resolveCheckConfig(), start);
    return executeA64(p, { cpu, codeBase: BASE, checker, explore: true });
  };
  await t.step("a branch on an argument runs both ways; one on a mov #imm only one", () => {
    // x0 = 5: the fall-through runs first, the taken side after it; both
    // reach `cbz x1` with the same state, so the second merges there.
    const src = "cbz x0, 1f\nnop\n1: mov x1, #1\ncbz x1, 2f\nnop\n2: ret x2";
    const r = explore(src, (c) => c.setX(0, 5n));
    assertEquals([r.stopped, r.paths], ["branch-out", 2]);
    // Without explore, only the path the value takes.
    const one = run(src, (c) => c.setX(0, 5n)).r;
    assertEquals([one.stopped, one.paths], ["branch-out", undefined]);
  });
  await t.step("a loop on an input value ends where its state repeats", () => {
    const r = explore("1: ldr x9, [x0]\ncbnz x9, 1b\nret x2");
    assertEquals([r.stopped, r.paths], ["branch-out", 2]);
  });
  await t.step("no path leaves: loop", () => {
    assertEquals(explore("nop\n1: b 1b").stopped, "loop");
    assertEquals(explore("1: cbz x0, 1b\nb 1b").stopped, "loop");
  });
  await t.step("the step limit bounds all paths together", () => {
    const p = parseA64("mov x9, #20\n1: sub x9, x9, #1\ncbnz x9, 1b\nret x2");
    const checker = new HazardChecker(p, resolveCheckConfig(), {
      sctlr: 0x30c50830n,
      ttbr0: 0n,
      abi: "registers",
    });
    const r = executeA64(p, {
      cpu: new Cpu(0),
      codeBase: BASE,
      checker,
      explore: true,
      maxSteps: 30,
    });
    assertEquals(r.stopped, "max-steps");
  });
  await t.step("only for static runs", () => {
    const p = parseA64("nop");
    const checker = new HazardChecker(p, resolveCheckConfig(), {
      sctlr: 0n,
      ttbr0: 0n,
      abi: "registers",
    });
    const memory = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
    assertThrows(
      () => executeA64(p, { cpu: new Cpu(0), codeBase: BASE, checker, memory, explore: true }),
      RangeError,
      "static runs",
    );
    assertThrows(
      () => executeA64(p, { cpu: new Cpu(0), codeBase: BASE, explore: true }),
      RangeError,
      "checker",
    );
  });
});

Deno.test("executeA64() keeps msr pending until a context synchronisation event", () => {
  const trace = new Trace();
  const cpu = new Cpu(0);
  const tlb = new FakeTlb();
  cpu.setX(0, 0x4120_0001n);
  const src = "msr ttbr0_el2, x0\nmrs x1, ttbr0_el2\nmov x2, #0\nisb\nmrs x3, ttbr0_el2";
  const p = parseA64(src);
  // Stop after three instructions: the write is still pending.
  const r1 = executeA64(p, { cpu, codeBase: BASE, maxSteps: 3, tlb });
  assertEquals(r1.stopped, "max-steps");
  assertEquals(cpu.sysreg("TTBR0_EL2"), 0n);
  assertEquals(cpu.x(1), 0x4120_0001n); // the PE reads its own pending write
  assertEquals(tlb.sysregWrites, []);
  const cpu2 = new Cpu(0);
  cpu2.setX(0, 0x4120_0001n);
  executeA64(p, { cpu: cpu2, codeBase: BASE, tlb, trace });
  assertEquals(cpu2.sysreg("TTBR0_EL2"), 0x4120_0001n);
  assertEquals(tlb.sysregWrites, [["TTBR0_EL2", 0x4120_0001n]]);
  assertEquals(trace.filter("sysreg_write").map((e) => [e.data.reg, e.data.pending]), [
    ["TTBR0_EL2", true],
    ["TTBR0_EL2", false],
  ]);
  assertEquals(trace.filter("insn").map((e) => e.data.line), [1, 2, 3, 4, 5]);
  assertEquals(trace.filter("insn")[0]!.data.text, "msr ttbr0_el2, x0");
});

Deno.test("executeA64() stores an msr value as the CPU model does, RES1 bits clear included", () => {
  // QEMU 7.2 does not police RES0/RES1 on MSR, and Linux 7.2 relies on it:
  // its generated SCTLR_EL2_RES1 is 0, so INIT_SCTLR_EL2_MMU_ON clears the
  // E2H=0 RES1 bits (a real 7.2 boot on cortex-a57 reads back 0x68180d).
  const { cpu } = run("mov x0, #0\nmsr sctlr_el2, x0\nisb");
  assertEquals(cpu.sysreg("SCTLR_EL2"), 0n);
  const v72 = run("msr sctlr_el2, x0\nisb", (c) => c.setX(0, 0x20_0068_180dn)).cpu;
  // cortex-a57 (the default CPU) has no MTE: SCTLR_EL2.ITFSB (bit 37) reads as 0.
  assertEquals(v72.sysreg("SCTLR_EL2"), 0x68_180dn);
  // What cannot execute still stops the run at its line: an ERET to EL3.
  const e = assertThrows(
    () => run("mov x0, #0xd\nmsr spsr_el2, x0\neret"),
    A64ExecutionError,
    "illegal return state",
  );
  assertEquals(e.line, 3);
});

Deno.test("executeA64() holds TLBI until a DSB, then tells the TLB", () => {
  const tlb = new FakeTlb();
  const cpu = new Cpu(0);
  cpu.setX(0, 0x8000_0000_4n);
  const src = "tlbi alle2\ntlbi vae2, x0\ndmb sy\ndsb ishst\nnop\ndsb nsh\ntlbi alle1is";
  const p = parseA64(src);
  executeA64(p, { cpu, codeBase: BASE, tlb, maxSteps: 5 });
  assertEquals(tlb.invalidations, []); // DMB and DSB ST do not complete TLB maintenance
  const cpu2 = new Cpu(0);
  cpu2.setX(0, 0x8000_0000_4n);
  executeA64(p, { cpu: cpu2, codeBase: BASE, tlb });
  assertEquals(tlb.invalidations, [{ op: "alle2" }, { op: "vae2", va: 0x8000_0000_4000 }]);
});

function mmuMachine() {
  const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x400_0000 }]);
  const tlb = new FakeTlb();
  const mmu = new FakeMmu(tlb);
  const cpu = new Cpu(0);
  return { mem, tlb, mmu, cpu };
}

Deno.test("executeA64() fetches through the MMU while it is on", async (t) => {
  await t.step("idmap present in the new tables: runs to the branch-out", () => {
    const { mem, tlb, mmu, cpu } = mmuMachine();
    mmu.map(0x4100_0000, BASE, BASE);
    mmu.map(0x4120_0000, BASE, BASE);
    cpu.sysregs.set("SCTLR_EL2", 0x30e5183dn);
    cpu.sysregs.set("TTBR0_EL2", 0x4100_0000n);
    cpu.setX(0, 0x4120_0000n);
    cpu.setX(2, 0x8000_0000_4000n);
    const r = executeA64(parseA64("msr ttbr0_el2, x0\nisb\nnop\nret x2"), {
      cpu,
      codeBase: BASE,
      memory: mem,
      mmu,
      tlb,
    });
    assertEquals([r.stopped, r.target], ["branch-out", 0x8000_0000_4000]);
    assertEquals(mmu.calls.filter(([, a]) => a === "exec").length, 2); // once per page per state
    // While M may be 1 the executor lets the MMU walk speculatively, from both tables in view.
    assertEquals(mmu.prefetches.some(([, b]) => b === 0x4120_0000), true);
    assertEquals(mmu.prefetches.some(([, b]) => b === 0x4100_0000), true);
  });
  await t.step("idmap missing from the new tables: instruction abort", () => {
    const { mem, tlb, mmu, cpu } = mmuMachine();
    mmu.map(0x4100_0000, BASE, BASE);
    cpu.sysregs.set("TTBR0_EL2", 0x4120_0000n); // MMU off, new tables installed
    cpu.sysregs.set("VBAR_EL2", 0x4000_0800n);
    cpu.setX(3, 0x30e5183dn);
    const src = "msr sctlr_el2, x3\nisb\nnop";
    const r = executeA64(parseA64(src), { cpu, codeBase: BASE, memory: mem, mmu, tlb });
    assertEquals(r.stopped, "fault");
    assertEquals([r.fault!.access, r.fault!.va, r.fault!.line], ["instruction", BASE + 8, 3]);
    assertEquals(cpu.sysreg("ESR_EL2") >> 26n, BigInt(EC.IABT_CUR));
    assertEquals([cpu.sysreg("ELR_EL2"), cpu.sysreg("FAR_EL2")], [
      BigInt(BASE + 8),
      BigInt(BASE + 8),
    ]);
    assertEquals(cpu.pc, 0x4000_0800n + BigInt(VECTOR.CUR_SPX_SYNC));
  });
  await t.step(
    "TTBR switched with the MMU on: a speculative fill from the old tables survives",
    () => {
      // The hazard of R7, made concrete: the old tables map the idmap, the new
      // ones do not, yet the fetch after the switch hits a stale entry.
      const { mem, tlb, mmu, cpu } = mmuMachine();
      mmu.map(0x4100_0000, BASE, BASE);
      cpu.sysregs.set("SCTLR_EL2", 0x30e5183dn);
      cpu.sysregs.set("TTBR0_EL2", 0x4100_0000n);
      cpu.setX(0, 0x4120_0000n);
      const src = "tlbi alle2\ndsb nsh\nmsr ttbr0_el2, x0\nisb\nnop";
      const r = executeA64(parseA64(src), { cpu, codeBase: BASE, memory: mem, mmu, tlb });
      assertEquals(r.stopped, "end");
      assertEquals(tlb.entries().map((e) => [e.va, e.base, e.speculative]), [[
        BASE,
        0x4100_0000,
        true,
      ]]);
    },
  );
  await t.step("idmap mapped elsewhere: fetch-mismatch", () => {
    const { mem, tlb, mmu, cpu } = mmuMachine();
    mmu.map(0x4100_0000, BASE, BASE + 0x10_0000);
    cpu.sysregs.set("SCTLR_EL2", 0x30e5183dn);
    cpu.sysregs.set("TTBR0_EL2", 0x4100_0000n);
    const r = executeA64(parseA64("nop"), { cpu, codeBase: BASE, memory: mem, mmu, tlb });
    assertEquals(r.stopped, "fetch-mismatch");
    assertStringIncludes(r.fault!.message, "not VA = PA");
  });
});

Deno.test("executeA64() takes data aborts as values and stops", async (t) => {
  await t.step("translation fault with the MMU on", () => {
    const { mem, tlb, mmu, cpu } = mmuMachine();
    mmu.map(0x4100_0000, BASE, BASE);
    cpu.sysregs.set("SCTLR_EL2", 0x30e5183dn);
    cpu.sysregs.set("TTBR0_EL2", 0x4100_0000n);
    cpu.setX(1, 0x8000_0000_0000n);
    cpu.setX(3, 0x77n);
    const r = executeA64(parseA64("nop\nstr x3, [x1, #8]\nnop"), {
      cpu,
      codeBase: BASE,
      memory: mem,
      mmu,
      tlb,
    });
    assertEquals([r.stopped, r.fault!.access, r.fault!.va, r.fault!.line, r.steps], [
      "fault",
      "data",
      0x8000_0000_0008,
      2,
      2,
    ]);
    const esr = cpu.sysreg("ESR_EL2");
    assertEquals([esr >> 26n, esr & 0x3fn, (esr >> 6n) & 1n], [BigInt(EC.DABT_CUR), 0x07n, 1n]);
    assertEquals(cpu.sysreg("ELR_EL2"), BigInt(BASE + 4));
  });
  await t.step("MMU off: stack at a VA reaches a PA outside RAM (external abort)", () => {
    const { mem, tlb, mmu, cpu } = mmuMachine();
    cpu.setX(1, 0x8000_0010_0000n);
    const src = "mov sp, x1\nstp x29, x30, [sp, #-16]!";
    const r = executeA64(parseA64(src), { cpu, codeBase: BASE, memory: mem, mmu, tlb });
    assertEquals([r.stopped, r.fault!.line], ["fault", 2]);
    assertStringIncludes(r.fault!.message, "outside RAM");
    assertEquals(cpu.sysreg("ESR_EL2") & 0x3fn, 0x10n);
  });
  await t.step("MMU off: unaligned access to Device memory (alignment fault)", () => {
    const { mem, tlb, mmu, cpu } = mmuMachine();
    cpu.setX(0, 0x4000_0004n);
    const r = executeA64(parseA64("ldr x1, [x0]"), { cpu, codeBase: BASE, memory: mem, mmu, tlb });
    assertEquals(r.stopped, "fault");
    assertEquals(cpu.sysreg("ESR_EL2") & 0x3fn, 0x21n);
  });
  await t.step("a pending sysreg write is committed by the exception entry", () => {
    const { mem, tlb, mmu, cpu } = mmuMachine();
    cpu.setX(0, 0x4000_0004n);
    cpu.setX(2, 0x4000_1000n);
    executeA64(parseA64("msr tpidr_el2, x2\nldr x1, [x0]"), {
      cpu,
      codeBase: BASE,
      memory: mem,
      mmu,
      tlb,
    });
    assertEquals(cpu.sysreg("TPIDR_EL2"), 0x4000_1000n);
  });
});

Deno.test("executeA64() hvc runs the EL2 vector handler; eret returns", () => {
  const vectors = new ExceptionVectors();
  vectors.on(VECTOR.CUR_SPX_SYNC, (c, info) => {
    c.setX(0, BigInt(info.iss) + 1n);
    eret(c);
  });
  const cpu = new Cpu(0);
  const trace = new Trace();
  const r = executeA64(parseA64("hvc #0x41\nmov x1, x0"), { cpu, codeBase: BASE, vectors, trace });
  assertEquals([r.stopped, cpu.x(0), cpu.x(1)], ["end", 0x42n, 0x42n]);
  assertEquals(trace.filter("exception").map((e) => e.data.type), ["hvc64"]);
  const none = executeA64(parseA64("hvc #1"), { cpu: new Cpu(0), codeBase: BASE });
  assertEquals(none.stopped, "exception");
  const cpu2 = new Cpu(0);
  cpu2.sysregs.set("ELR_EL2", 0x1000n);
  cpu2.sysregs.set("SPSR_EL2", 0x3c5n);
  const e = executeA64(parseA64("eret"), { cpu: cpu2, codeBase: BASE });
  assertEquals([e.stopped, e.target, cpu2.pstate.el], ["branch-out", 0x1000, 1]);
});

Deno.test("executeA64() stops at the step limit", () => {
  const r = run("1: b 1b");
  assertEquals([r.r.stopped, r.r.steps], ["max-steps", 100_000]);
  const small = executeA64(parseA64("1: add x0, x0, #1\nb 1b"), {
    cpu: new Cpu(0),
    codeBase: BASE,
    maxSteps: 10,
  });
  assertEquals(small.steps, 10);
});

Deno.test("executeA64() on bad input leaves the CPU and memory as they were", () => {
  const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
  const cpu = new Cpu(0);
  cpu.setX(0, 0x4000_0100n);
  cpu.sp = 0x4000_8000n;
  mem.write64(0x4000_0100, 0xabcdn);
  const before = {
    x: Array.from({ length: 31 }, (_, r) => cpu.x(r)),
    sp: cpu.sp,
    pc: cpu.pc,
    sysregs: cpu.sysregs.snapshot(),
    digest: mem.digest(),
  };
  const src = [
    "mov x1, #0x77",
    "str x1, [x0]",
    "stp x1, x1, [sp, #-16]!",
    "msr tpidr_el2, x1",
    "isb",
    "mov x2, #0xd",
    "msr spsr_el2, x2", // M = 0b01101, EL3h
    "eret", // an illegal return from EL2: cannot execute
  ].join("\n");
  const e = assertThrows(
    () => executeA64(parseA64(src), { cpu, codeBase: BASE, memory: mem }),
    A64ExecutionError,
    "illegal return state",
  );
  assertEquals(e.line, 8);
  assertEquals(Array.from({ length: 31 }, (_, r) => cpu.x(r)), before.x);
  assertEquals([cpu.sp, cpu.pc], [before.sp, before.pc]);
  assertEquals(cpu.sysregs.snapshot(), before.sysregs);
  assertEquals(mem.digest(), before.digest);
  assertEquals(mem.read64(0x4000_0100), 0xabcdn);
});

Deno.test("executeA64() runs ic, dc and the set_sctlr_el1 macro", () => {
  const trace = new Trace();
  const cpu = new Cpu(0);
  cpu.setX(0, 0x4000_0000n);
  cpu.setX(1, 0x30d00801n); // SCTLR_EL1 with M set
  const src = "ic iallu\nic ialluis\nic ivau, x0\ndc civac, x0\ndc cvac, x0\nset_sctlr_el1 x1";
  const r = executeA64(parseA64(src), { cpu, codeBase: BASE, trace });
  assertEquals([r.stopped, r.steps], ["end", 10]);
  assertEquals(cpu.sysreg("SCTLR_EL1"), 0x30d00801n);
  assertEquals(trace.filter("insn").map((x) => x.data.text).slice(5), [
    "msr sctlr_el1, x1",
    "isb",
    "ic iallu",
    "dsb nsh",
    "isb",
  ]);
  assertEquals(trace.filter("insn").map((x) => x.data.line).slice(5), [6, 6, 6, 6, 6]);
});
