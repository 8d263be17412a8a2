// A concrete run under HCR_EL2.E2H = 1 (hVHE): writes in the E2H = 0
// layouts are findings at their msr line, and still stored as the CPU does.

import { assertEquals } from "@std/assert";
import { Cpu, CPU_CORTEX_A57, CPU_NEOVERSE_N1, Trace } from "../../../core/mod.ts";
import { e2hLayoutProblem, parseA64, runProgram } from "../../../plugins/a64/mod.ts";

const E2H = 1n << 34n;
// x0 = 0x80843510: 6.1's nVHE TCR_EL2 on cortex-a57 (PS = 4, RES1 31 and 23).
const NVHE_TCR = `mov x0, #0x3510
movk x0, #0x8084, lsl #16
msr tcr_el2, x0
isb
ret`;

function cpuWith(hcr: bigint, model = CPU_NEOVERSE_N1): Cpu {
  const cpu = new Cpu(0, model);
  cpu.msr("HCR_EL2", hcr);
  return cpu;
}

Deno.test("E2H = 1: an E2H = 0 TCR_EL2 value is an E2H finding at its msr line; the CPU stores it", () => {
  const cpu = cpuWith(0x80000000n | E2H);
  const trace = new Trace();
  const r = runProgram(parseA64(NVHE_TCR), {
    cpu,
    codeBase: 0x4008_0000,
    args: { 30: 0x4009_0000n },
    trace,
  });
  assertEquals(r.findings.map((f) => [f.rule, f.line, f.severity]), [["E2H", 3, "fail"]]);
  assertEquals(r.verdict, "fail");
  assertEquals(r.findings[0]!.message.includes("TCR_EL1's layout"), true);
  assertEquals(cpu.sysreg("TCR_EL2"), 0x80843510n);
  // The caller's trace still gets what it asked for.
  assertEquals(trace.filter("sysreg_write").length > 0, true);
});

Deno.test("E2H = 0, or a CPU without VHE: the same sequence has no E2H finding", () => {
  for (const cpu of [cpuWith(0x80000000n), cpuWith(0x80000000n, CPU_CORTEX_A57)]) {
    const r = runProgram(parseA64(NVHE_TCR), {
      cpu,
      codeBase: 0x4008_0000,
      args: { 30: 0x4009_0000n },
    });
    assertEquals(r.findings.filter((f) => f.rule === "E2H"), []);
  }
});

Deno.test("E2H = 1: a sequence that sets E2H itself is judged from that write on; hVHE values pass", () => {
  // 6.12's hVHE TCR_EL2 on neoverse-n1 (a real boot's value) passes.
  assertEquals(e2hLayoutProblem("TCR_EL2", 0x5001f5b5d53510n), undefined);
  // CPTR_EL2 = 0x33ff (the E2H = 0 value) traps FP at EL2 once E2H = 1.
  const src = `mov x1, #0x80000000
orr x1, x1, #0x400000000
msr hcr_el2, x1
isb
mov x0, #0x33ff
msr cptr_el2, x0
isb
ret`;
  const cpu = cpuWith(0x80000000n);
  const r = runProgram(parseA64(src), { cpu, codeBase: 0x4008_0000, args: { 30: 0x4009_0000n } });
  assertEquals(r.findings.filter((f) => f.rule === "E2H").map((f) => f.line), [6]);
});
