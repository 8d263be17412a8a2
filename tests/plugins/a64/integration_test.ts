/**
 * The executor on a machine with the real `mmu()` and `tlb()` plugins:
 * hand-built 4-level EL2 tables (4 KiB granule, 48-bit VA) in simulated
 * memory, the switch sequences run from an idmap page.
 */
import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  A64_EXECUTOR,
  A64ConfigError,
  A64ExecutionError,
  a64Executor,
  A64SyntaxError,
  builtinSequence,
  createMachine,
  MMU,
  TLB,
} from "./deps.ts";
import { mmu } from "../../../plugins/mmu/mod.ts";
import { tlb } from "../../../plugins/tlb/mod.ts";
import {
  CODE,
  FN_PA,
  FN_VA,
  MAIR,
  NEW_PGD,
  OLD_PGD,
  SCTLR_ON,
  STACK_PA,
  STACK_VA,
  Tables,
  TCR,
} from "./_switch_world.ts";

const PARAMS = 0x4130_0000;

function machine(opts: { idmapInNew?: boolean; policy?: "adversarial" | "optimistic" } = {}) {
  const m = createMachine({
    ram: [{ base: 0x4000_0000, size: 0x2000_0000 }],
    cpus: 1,
    plugins: [tlb({ policy: opts.policy ?? "adversarial" }), mmu(), a64Executor()],
  });
  const mem = m.memory;
  const old = new Tables(mem, OLD_PGD);
  old.map(CODE, CODE, true, false);
  const neu = new Tables(mem, NEW_PGD);
  if (opts.idmapInNew ?? true) neu.map(CODE, CODE, true, false);
  neu.map(STACK_VA - 0x1000, STACK_PA, false, true);
  neu.map(FN_VA, FN_PA, true, false);
  mem.write64(PARAMS + 24, BigInt(STACK_VA));
  mem.write64(PARAMS + 32, BigInt(NEW_PGD));
  const cpu = m.cpu(0);
  cpu.sysregs.write("TCR_EL2", TCR);
  cpu.sysregs.write("MAIR_EL2", MAIR);
  cpu.sysregs.write("TTBR0_EL2", BigInt(OLD_PGD));
  cpu.sysregs.write("SCTLR_EL2", SCTLR_ON);
  cpu.sysregs.write("VBAR_EL2", 0x4000_0800n);
  return { m, cpu, exec: m.get(A64_EXECUTOR), tlb: m.get(TLB) };
}

Deno.test("mainline on the real MMU/TLB switches tables and returns to the continuation", () => {
  const { cpu, exec, m } = machine();
  const r = exec.run(cpu, builtinSequence("mainline").source, {
    codeBase: CODE,
    args: { 0: BigInt(NEW_PGD), 1: BigInt(STACK_VA), 2: BigInt(FN_VA) },
    abi: "registers",
  });
  assertEquals([r.stopped, r.target, r.verdict, r.findings], ["branch-out", FN_VA, "pass", []]);
  // What __pkvm_init_finalise relies on: TTBR0 = pgd, M = 1, SP = the new stack.
  assertEquals([cpu.sysreg("TTBR0_EL2"), cpu.sysreg("SCTLR_EL2") & 1n, cpu.sp], [
    BigInt(NEW_PGD),
    1n,
    BigInt(STACK_VA),
  ]);
  // The continuation is fetchable under the new tables.
  const t = m.get(MMU).translate(cpu, FN_VA, "exec");
  assertEquals(t.kind === "ok" && t.pa, FN_PA);
  const sysregs = m.trace.filter("sysreg_write").map((e) => [e.data.reg, e.data.pending]);
  assertEquals(sysregs.slice(0, 4), [["SCTLR_EL2", true], ["SCTLR_EL2", false], [
    "TTBR0_EL2",
    true,
  ], ["TTBR0_EL2", false]]);
  assertEquals(m.trace.filter("insn").length >= 17, true);
});

Deno.test("v5.13 and v3 on the real MMU/TLB: params ABI, loads at M=0, rule findings", () => {
  for (const [name, rules] of [["v5.13", ["R3", "R4"]], ["v3", ["R1", "R9", "R10"]]] as const) {
    const { cpu, exec } = machine();
    const r = exec.run(cpu, builtinSequence(name).source, {
      codeBase: CODE,
      args: { 0: BigInt(PARAMS), 1: BigInt(FN_VA) },
      abi: "params",
    });
    assertEquals([r.stopped, r.target, r.verdict], ["branch-out", FN_VA, "fail"], name);
    assertEquals([...new Set(r.findings.map((f) => f.rule))].sort(), [...rules].sort(), name);
    assertEquals([cpu.sysreg("TTBR0_EL2"), cpu.sp], [BigInt(NEW_PGD), BigInt(STACK_VA)], name);
  }
});

Deno.test("an idmap missing from the new tables faults on the first fetch after MMU-on", () => {
  const { cpu, exec } = machine({ idmapInNew: false });
  const src = builtinSequence("mainline").source;
  const r = exec.run(cpu, src, {
    codeBase: CODE,
    args: { 0: BigInt(NEW_PGD), 1: BigInt(STACK_VA), 2: BigInt(FN_VA) },
  });
  assertEquals([r.stopped, r.fault?.access], ["fault", "instruction"]);
  const macroLine = src.split("\n").findIndex((l) => l.includes("set_sctlr_el2\tx3")) + 1;
  assertEquals(r.fault!.line, macroLine);
  assertEquals(cpu.sysreg("ESR_EL2") >> 26n, 0x21n);
  assertEquals(cpu.pc, 0x4000_0a00n);
});

Deno.test("dropping the TLBI leaves a stale old-table entry in the adversarial TLB (R5)", () => {
  const args = { 0: BigInt(NEW_PGD), 1: BigInt(STACK_VA), 2: BigInt(FN_VA) };
  const OLD_FN_PA = 0x4160_0000;
  const setup = () => {
    const x = machine();
    // The old tables map the continuation's VA elsewhere, and EL2 used it before the switch.
    new Tables(x.m.memory, OLD_PGD, 0x10_0000).map(FN_VA, OLD_FN_PA, true, false);
    assertEquals(x.m.get(MMU).translate(x.cpu, FN_VA, "exec").kind, "ok");
    return x;
  };
  const noTlbi = builtinSequence("mainline").source.replace("\ttlbi\talle2\n", "");
  const bad = setup();
  const r = bad.exec.run(bad.cpu, noTlbi, { codeBase: CODE, args });
  assertEquals([r.stopped, r.verdict, r.findings.map((f) => f.rule)], ["branch-out", "fail", [
    "R5",
  ]]);
  assertStringIncludes(r.findings[0]!.message, "old tables");
  const stale = bad.m.get(MMU).translate(bad.cpu, FN_VA, "exec");
  assertEquals(stale.kind === "ok" && [stale.pa, stale.fromTlb], [OLD_FN_PA, true]);
  assertEquals(bad.tlb.stats().stale >= 1, true);
  const good = setup();
  good.exec.run(good.cpu, builtinSequence("mainline").source, { codeBase: CODE, args });
  const fresh = good.m.get(MMU).translate(good.cpu, FN_VA, "exec");
  assertEquals(fresh.kind === "ok" && fresh.pa, FN_PA);
});

Deno.test("adversarial TLB: entries walked after a TLBI's issue survive its completion", async (t) => {
  // The TLBI is issued while the MMU is still on: before the MMU-off takes
  // effect the PE may walk the old tables again, and those entries survive
  // the DSB (R5, R7). The ones present at issue are removed.
  const src = [
    "tlbi alle2",
    "nop",
    "mrs x3, sctlr_el2",
    "bic x4, x3, #SCTLR_ELx_M",
    "msr sctlr_el2, x4",
    "isb",
    "dsb nsh",
  ].join("\n");
  await t.step("issued with the MMU on: the refilled code page is still there", () => {
    const { cpu, exec, tlb } = machine();
    exec.run(cpu, src, { codeBase: CODE });
    const old = tlb.entries(cpu).filter((e) => e.base === OLD_PGD);
    assertEquals(old.map((e) => [e.va, e.speculative]), [[CODE, true]]);
  });
  await t.step("issued with the MMU off: nothing is walked, nothing survives", () => {
    const { cpu, exec, tlb } = machine();
    const off = src.replace("tlbi alle2\n", "").replace("dsb nsh", "tlbi alle2\ndsb nsh");
    exec.run(cpu, off, { codeBase: CODE });
    assertEquals(tlb.entries(cpu), []);
  });
  await t.step("a TLBI never completed removes nothing (it may not be performed yet)", () => {
    const { cpu, exec, tlb } = machine();
    exec.run(cpu, src.replace("\ndsb nsh", ""), { codeBase: CODE });
    assertEquals(tlb.entries(cpu).filter((e) => e.base === OLD_PGD).length > 0, true);
  });
});

Deno.test("a64Executor() check() is the static run", () => {
  const { exec } = machine();
  assertEquals(exec.check(builtinSequence("mainline").source).verdict, "pass");
  assertEquals(exec.name, "a64_executor");
});

Deno.test("run() rejects bad text and configuration before touching the CPU", () => {
  const { cpu, exec } = machine();
  const before = cpu.sysregs.snapshot();
  assertThrows(
    () => exec.run(cpu, "mov x0, #1\n  frob x1", { codeBase: CODE }),
    A64SyntaxError,
    "2:3:",
  );
  assertThrows(
    () => exec.run(cpu, "nop", { codeBase: CODE, config: { features: ["sve"] } }),
    A64ConfigError,
    "sve",
  );
  assertEquals([cpu.x(0), cpu.sysregs.snapshot()], [0n, before]);
});

Deno.test("run() that cannot execute an instruction leaves the CPU, arguments included, as it was", () => {
  const { cpu, exec } = machine();
  const before = { x: [cpu.x(0), cpu.x(1)], sysregs: cpu.sysregs.snapshot() };
  assertThrows(
    // SPSR_EL2.M = 0b01101 names EL3h: an illegal return from EL2.
    () => exec.run(cpu, "msr spsr_el2, x1\neret", { codeBase: CODE, args: { 0: 5n, 1: 0xdn } }),
    A64ExecutionError,
    "illegal return state",
  );
  assertEquals([[cpu.x(0), cpu.x(1)], cpu.sysregs.snapshot()], [before.x, before.sysregs]);
  assertThrows(() => exec.run(cpu, "nop", { codeBase: CODE, args: { 31: 1n } }), RangeError, "x31");
});

Deno.test("run() passes symbols to the parser (a params sequence against another struct layout)", () => {
  const { cpu, exec, m } = machine();
  m.memory.write64(PARAMS + 40, 0x4444_0000n);
  cpu.sysregs.write("SCTLR_EL2", 0x30c50830n); // MMU off: the params are read by PA
  const src = "ldr x3, [x0, #NVHE_INIT_PGD_PA]";
  exec.run(cpu, src, { codeBase: CODE, args: { 0: BigInt(PARAMS) } });
  assertEquals(cpu.x(3), BigInt(NEW_PGD)); // v5.13 offset 32
  exec.run(cpu, src, {
    codeBase: CODE,
    args: { 0: BigInt(PARAMS) },
    symbols: { NVHE_INIT_PGD_PA: 40n },
  });
  assertEquals(cpu.x(3), 0x4444_0000n);
});
