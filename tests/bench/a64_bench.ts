/**
 * A64 executor and checker figures:
 * - parse + check the mainline sequence (target ≤ 200 µs);
 * - a boot's parses of the sequence through the executor plugin: check,
 *   then parse for the run, the second served by the plugin's ParseCache;
 * - the executor on a straight-line loop (target ≥ 2 million simple
 *   instructions per second): 100 000 instructions per iteration, so
 *   instructions/s = 100 000 / (time per iteration).
 */
import { checkProgram, Cpu, executeA64, MAINLINE_S, parseA64 } from "../plugins/a64/deps.ts";
import { ParseCache } from "../../plugins/a64/parse_cache.ts";

Deno.bench({
  group: "a64 check",
  name: "parse + check mainline (static run, R1-R18)",
  baseline: true,
  fn() {
    checkProgram(parseA64(MAINLINE_S));
  },
});

// The run passes v7.2's NVHE_INIT_* offsets (hyp_switch.ts initParamsSymbols); the
// mainline text names none of them, so the check's program serves the run.
const V7_2_INIT = { NVHE_INIT_STACK_PA: 32n, NVHE_INIT_PGD_PA: 40n, NVHE_INIT_TMP: 72n };
Deno.bench({
  group: "a64 parses for check + run",
  name: "parseA64 twice (before the cache)",
  baseline: true,
  fn() {
    parseA64(MAINLINE_S);
    parseA64(MAINLINE_S, { features: [], errata: [], symbols: V7_2_INIT });
  },
});

Deno.bench({
  group: "a64 parses for check + run",
  name: "ParseCache: parse, then the cached program",
  fn() {
    const cache = new ParseCache();
    cache.parse(MAINLINE_S, { features: [], errata: [] });
    cache.parse(MAINLINE_S, { features: [], errata: [], symbols: V7_2_INIT });
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
