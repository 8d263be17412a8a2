/**
 * A64 executor and checker figures:
 * - parse + check the mainline sequence (target ≤ 200 µs);
 * - the executor on a straight-line loop (target ≥ 2 million simple
 *   instructions per second): 100 000 instructions per iteration, so
 *   instructions/s = 100 000 / (time per iteration).
 */
import { checkProgram, Cpu, executeA64, MAINLINE_S, parseA64 } from "../plugins/a64/deps.ts";

Deno.bench({
  group: "a64 check",
  name: "parse + check mainline (static run, R1-R18)",
  baseline: true,
  fn() {
    checkProgram(parseA64(MAINLINE_S));
  },
});

const parsed = parseA64(MAINLINE_S);
Deno.bench({
  group: "a64 check",
  name: "check mainline (already parsed)",
  fn() {
    checkProgram(parsed);
  },
});

// 30 data-processing instructions, then the loop counter and branch: 32 per pass.
const BODY = [
  "add x0, x0, #1",
  "orr x1, x1, #0xff",
  "sub x3, x3, #2",
  "and x4, x0, #0xffff",
  "add x5, x0, x4",
  "lsl x6, x5, #3",
  "lsr x7, x6, #1",
  "mov x8, x7",
  "bic x9, x8, x1",
  "movk x10, #0x1234, lsl #16",
].join("\n");
const LOOP = parseA64(`1:\n${BODY}\n${BODY}\n${BODY}\nsub x2, x2, #1\ncbnz x2, 1b`);
const PASSES = 3125; // 3125 × 32 = 100 000 instructions
const cpu = new Cpu(0);

Deno.bench({
  group: "a64 executor",
  name: "straight-line loop, 100 000 instructions",
  fn() {
    cpu.setX(2, BigInt(PASSES));
    const r = executeA64(LOOP, { cpu, codeBase: 0x4008_0000, maxSteps: 1_000_000 });
    if (r.steps !== PASSES * 32) throw new Error(`ran ${r.steps} instructions`);
  },
});
