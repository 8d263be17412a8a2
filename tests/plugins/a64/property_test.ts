import { assertEquals } from "@std/assert";
import {
  BARRIER_RULES,
  check,
  checkProgram,
  Cpu,
  dropInstruction,
  executeA64,
  MAINLINE_S,
  parseA64,
  Prng,
  swapInstructions,
  V5_13_S,
} from "./deps.ts";

const MASK = (1n << 64n) - 1n;
const hex = (v: bigint) => `0x${v.toString(16)}`;

/** Bitmask immediates: a run of `ones` ones in an element of `size` bits, rotated, replicated. */
function bitmask(p: Prng): bigint {
  const size = p.pick([2, 4, 8, 16, 32, 64]);
  const ones = 1 + p.int(size - 1); // 1..size-1
  const rot = p.int(size);
  const mask = (1n << BigInt(size)) - 1n;
  let e = (1n << BigInt(ones)) - 1n;
  e = ((e >> BigInt(rot)) | (e << BigInt(size - rot))) & mask;
  let v = 0n;
  for (let i = 0; i < 64; i += size) v |= e << BigInt(i);
  return v;
}

Deno.test("executeA64() agrees with a reference model over 5000 random data-processing instructions", () => {
  const p = new Prng(0xa64);
  for (let round = 0; round < 5; round++) {
    const regs: bigint[] = Array.from(
      { length: 31 },
      () => BigInt(p.nextU32()) << BigInt(p.int(33)),
    );
    const lines: string[] = [];
    const ref = [...regs];
    const r = () => p.int(31);
    const get = (n: number) => ref[n]!;
    for (let k = 0; k < 1000; k++) {
      const d = r();
      const n = r();
      const m = r();
      const sh = p.int(64);
      let v: bigint;
      switch (p.int(14)) {
        case 0: {
          const imm = BigInt(p.int(4096));
          lines.push(`add x${d}, x${n}, #${imm}`);
          v = (get(n) + imm) & MASK;
          break;
        }
        case 1: {
          const imm = BigInt(p.int(4096)) << 12n;
          lines.push(`sub x${d}, x${n}, #${hex(imm)}`);
          v = (get(n) - imm) & MASK;
          break;
        }
        case 2:
          lines.push(`add x${d}, x${n}, x${m}, lsl #${sh}`);
          v = (get(n) + ((get(m) << BigInt(sh)) & MASK)) & MASK;
          break;
        case 3:
          lines.push(`sub x${d}, x${n}, x${m}, lsr #${sh}`);
          v = (get(n) - (get(m) >> BigInt(sh))) & MASK;
          break;
        case 4: {
          const imm = bitmask(p);
          lines.push(`orr x${d}, x${n}, #${hex(imm)}`);
          v = get(n) | imm;
          break;
        }
        case 5: {
          const imm = bitmask(p);
          lines.push(`and x${d}, x${n}, #${hex(imm)}`);
          v = get(n) & imm;
          break;
        }
        case 6: {
          const imm = bitmask(p);
          lines.push(`bic x${d}, x${n}, #${hex(imm)}`);
          v = get(n) & ~imm & MASK;
          break;
        }
        case 7:
          lines.push(`orr x${d}, x${n}, x${m}, asr #${sh}`);
          v = get(n) | BigInt.asUintN(64, BigInt.asIntN(64, get(m)) >> BigInt(sh));
          break;
        case 8:
          lines.push(`bic x${d}, x${n}, x${m}`);
          v = get(n) & ~get(m) & MASK;
          break;
        case 9:
          lines.push(`lsl x${d}, x${n}, #${sh}`);
          v = (get(n) << BigInt(sh)) & MASK;
          break;
        case 10:
          lines.push(`lsr x${d}, x${n}, x${m}`);
          v = get(n) >> (get(m) & 63n);
          break;
        case 11: {
          const imm = BigInt(p.int(0x10000));
          const s = p.pick([0, 16, 32, 48]);
          lines.push(`movk x${d}, #${hex(imm)}, lsl #${s}`);
          v = (get(d) & ~(0xffffn << BigInt(s)) & MASK) | (imm << BigInt(s));
          break;
        }
        case 12: {
          const imm = BigInt(p.int(0x10000));
          const s = p.pick([0, 16, 32, 48]);
          lines.push(`movz x${d}, #${hex(imm)}, lsl #${s}`);
          v = imm << BigInt(s);
          break;
        }
        default: {
          const q = (BigInt(p.nextU32()) << 32n) | BigInt(p.nextU32());
          const val = p.int(2) ? q : BigInt.asIntN(64, q) >> BigInt(p.int(64));
          lines.push(`mov_q x${d}, ${val}`);
          v = BigInt.asUintN(64, val);
        }
      }
      ref[d] = v;
    }
    const cpu = new Cpu(0);
    regs.forEach((v, i) => cpu.setX(i, v));
    const res = executeA64(parseA64(lines.join("\n")), { cpu, codeBase: 0x4008_0000 });
    assertEquals(res.stopped, "end");
    assertEquals(
      Array.from({ length: 31 }, (_, i) => hex(cpu.x(i))),
      ref.map(hex),
      `round ${round}`,
    );
  }
});

Deno.test("parseA64() decodes an instruction's normalised text to the same instruction", () => {
  const p = new Prng(7);
  const forms = [
    () => `add x${p.int(31)}, x${p.int(31)}, #${p.int(4096)}`,
    () => `orr x${p.int(31)}, x${p.int(31)}, x${p.int(31)}, lsl #${p.int(64)}`,
    () => `ldr x${p.int(31)}, [sp, #${8 * p.int(100)}]`,
    () => `stp x${p.int(31)}, x${p.int(31)}, [x${p.int(31)}, #${8 * p.range(-64, 63)}]!`,
    () => `ldr x${p.int(31)}, [x${p.int(31)}], #${p.range(-256, 255)}`,
    () => `msr ${p.pick(["sctlr_el2", "ttbr0_el2", "tcr_el2", "vbar_el2"])}, x${p.int(31)}`,
    () => `dsb ${p.pick(["sy", "ish", "ishst", "nsh", "nshst", "osh"])}`,
    () => `tlbi ${p.pick(["alle2", "alle2is", "vmalle1"])}`,
    () => `tlbi vae2is, x${p.int(31)}`,
    () => `movk x${p.int(31)}, #${p.int(0x10000)}, lsl #${p.pick([0, 16, 32, 48])}`,
  ];
  for (let k = 0; k < 2000; k++) {
    const text = p.pick(forms)();
    const a = parseA64(text).instructions[0]!;
    const b = parseA64(a.text).instructions[0]!;
    assertEquals({ ...b, column: 0 }, { ...a, column: 0 }, text);
  }
});

Deno.test("check() findings keep their invariants over 2000 random mutants of mainline and v5.13", () => {
  const p = new Prng(13);
  const warnOnly = new Set(["R6", "R11", "R14", "R18"]);
  const bases = [
    [parseA64(MAINLINE_S, { features: ["cnp"] }), MAINLINE_S],
    [parseA64(V5_13_S), V5_13_S],
  ] as const;
  let failing = 0;
  for (let k = 0; k < 2000; k++) {
    const [base] = p.pick(bases);
    let prog = base;
    for (let j = p.range(1, 3); j > 0 && prog.instructions.length > 2; j--) {
      const i = p.int(prog.instructions.length - 1);
      prog = p.int(2) ? dropInstruction(prog, i) : swapInstructions(prog, i);
    }
    const assume = {
      "code-patched-at-pou": p.int(2) === 1,
      "alloc-when-off": p.int(2) === 1,
      "multi-pe": p.int(4) === 0,
    };
    const errata = p.int(2) ? ["tx2-219", "falkor-e1041"] : [];
    const r = checkProgram(prog, { assume, errata, features: ["cnp"] });
    const lines = r.findings.map((f) => f.line);
    assertEquals(lines, [...lines].sort((a, b) => a - b));
    const seen = new Set<string>();
    for (const f of r.findings) {
      assertEquals(f.rule in BARRIER_RULES, true, f.rule);
      if (f.severity === "warn") assertEquals(warnOnly.has(f.rule), true, `${f.rule} warned`);
      assertEquals(f.message.length > 20 && f.message.endsWith("."), true, f.message); // one sentence
      const key = `${f.rule}:${f.line}`;
      assertEquals(seen.has(key), false, `duplicate ${key}`);
      seen.add(key);
    }
    const verdict = r.findings.some((f) => f.severity === "fail")
      ? "fail"
      : r.findings.length
      ? "warn"
      : "pass";
    assertEquals(r.verdict, verdict);
    if (verdict === "fail") failing++;
  }
  // The mutants are mostly broken: the checker notices.
  assertEquals(failing > 1000, true, `${failing} failing`);
  assertEquals(check(MAINLINE_S).verdict, "pass");
});
