import { assertEquals } from "@std/assert";
import { Prng } from "../../../core/mod.ts";
import { checkRoutines, Cpu, executeA64, parseA64 } from "./deps.ts";

const M = (1n << 64n) - 1n;

/** Runs a text from x0.. = args on a fresh CPU; returns the CPU. */
function exec(text: string, args: Record<number, bigint>): Cpu {
  const cpu = new Cpu(0);
  for (const [r, v] of Object.entries(args)) cpu.setX(Number(r), v);
  executeA64(parseA64(text), { cpu, codeBase: 0x4000_0000 });
  return cpu;
}

function flagsRef(a: bigint, b: bigint, sub: boolean): number {
  const bb = sub ? (~b & M) : b;
  const full = a + bb + (sub ? 1n : 0n);
  const r = full & M;
  const n = Number(r >> 63n);
  const z = r === 0n ? 1 : 0;
  const c = full >> 64n !== 0n ? 1 : 0;
  const v = Number((((~(a ^ bb)) & (a ^ r)) >> 63n) & 1n);
  return (n << 3) | (z << 2) | (c << 1) | v;
}

function holdsRef(cond: string, nzcv: number): boolean {
  const n = (nzcv >> 3) & 1, z = (nzcv >> 2) & 1, c = (nzcv >> 1) & 1, v = nzcv & 1;
  const table: Record<string, boolean> = {
    eq: z === 1,
    ne: z === 0,
    hs: c === 1,
    lo: c === 0,
    mi: n === 1,
    pl: n === 0,
    vs: v === 1,
    vc: v === 0,
    hi: c === 1 && z === 0,
    ls: !(c === 1 && z === 0),
    ge: n === v,
    lt: n !== v,
    gt: z === 0 && n === v,
    le: !(z === 0 && n === v),
  };
  return table[cond]!;
}

const CONDS = ["eq", "ne", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le"];

Deno.test("cmp/cmn set NZCV as the Arm ARM's AddWithCarry, and every condition reads them (3000 cases)", () => {
  const p = new Prng(31);
  const pick = () =>
    p.pick([
      0n,
      1n,
      M,
      1n << 63n,
      (1n << 63n) - 1n,
      BigInt(p.int(1000)),
      BigInt(p.int(0x7fffffff)) << 32n,
    ]);
  for (let k = 0; k < 3000; k++) {
    const a = pick(), b = pick();
    const sub = p.int(2) === 0;
    const cond = p.pick(CONDS);
    const cpu = exec(
      `${sub ? "cmp" : "cmn"} x0, x1\ncset x2, ${cond}\ncsel x3, x0, x1, ${cond}\nret x9`,
      {
        0: a,
        1: b,
        9: 0x9000n,
      },
    );
    const nzcv = flagsRef(a, b, sub);
    assertEquals(cpu.pstate.nzcv, nzcv, `${a} ${sub ? "-" : "+"} ${b}`);
    const holds = holdsRef(cond, nzcv);
    assertEquals([cpu.x(2), cpu.x(3)], [holds ? 1n : 0n, holds ? a : b], `${cond} ${nzcv}`);
  }
});

Deno.test("b.cond and ccmp follow the same conditions", () => {
  const p = new Prng(32);
  for (let k = 0; k < 1000; k++) {
    const a = BigInt(p.int(8)), b = BigInt(p.int(8)), c = BigInt(p.int(8));
    const cond = p.pick(CONDS);
    const nzcv = p.int(16);
    const cpu = exec(
      `cmp x0, x1\nccmp x0, x2, #${nzcv}, ${cond}\nb.${cond} 1f\nmov x4, #0\nret x9\n1: mov x4, #1\nret x9`,
      { 0: a, 1: b, 2: c, 9: 0x9000n },
    );
    const first = flagsRef(a, b, true);
    const second = holdsRef(cond, first) ? flagsRef(a, c, true) : nzcv;
    assertEquals(cpu.pstate.nzcv, second);
    assertEquals(cpu.x(4), holdsRef(cond, second) ? 1n : 0n);
  }
});

Deno.test("bitfield moves match their definitions (3000 cases)", () => {
  const p = new Prng(33);
  for (let k = 0; k < 3000; k++) {
    const v = (BigInt(p.int(0x7fffffff)) << 33n) ^ BigInt(p.int(0x7fffffff)) ^
      (p.int(2) ? 1n << 63n : 0n);
    const old = BigInt(p.int(0x7fffffff)) * 0x10001n;
    const lsb = p.int(64);
    const width = 1 + p.int(64 - lsb);
    const mask = (1n << BigInt(width)) - 1n;
    const field = (v >> BigInt(lsb)) & mask;
    const signed = (x: bigint) => BigInt.asUintN(64, BigInt.asIntN(width, x));
    const cpu = exec(
      [
        `ubfx x2, x0, #${lsb}, #${width}`,
        `sbfx x3, x0, #${lsb}, #${width}`,
        `ubfiz x4, x0, #${lsb}, #${width}`,
        `sbfiz x5, x0, #${lsb}, #${width}`,
        `bfi x6, x0, #${lsb}, #${width}`,
        `bfxil x7, x0, #${lsb}, #${width}`,
        "ret x9",
      ].join("\n"),
      { 0: v, 6: old, 7: old, 9: 0x9000n },
    );
    assertEquals(cpu.x(2), field);
    assertEquals(cpu.x(3), signed(field));
    assertEquals(cpu.x(4), ((v & mask) << BigInt(lsb)) & M);
    assertEquals(cpu.x(5), (signed(v & mask) << BigInt(lsb)) & M);
    assertEquals(cpu.x(6), (old & ~(mask << BigInt(lsb)) & M) | ((v & mask) << BigInt(lsb)));
    assertEquals(cpu.x(7), (old & ~mask & M) | field);
  }
});

Deno.test("tbz/tbnz, adr/adrp/ldr= and :lo12: compute what the hardware does", () => {
  const cpu = exec(
    "tbz x0, #3, 1f\nmov x1, #1\n1: adr x2, 1b\nadr x5, 2f\nldr x3, =0x1234\nadrp x4, 1b\nadd x4, x4, :lo12:1b\n2: ret x9",
    { 0: 8n, 9: 0x9000n },
  );
  assertEquals(cpu.x(1), 1n); // bit 3 set: no branch
  assertEquals([cpu.x(2), cpu.x(3), cpu.x(4), cpu.x(5)], [
    0x4000_0008n,
    0x1234n,
    0x4000_0008n,
    0x4000_001cn,
  ]);
});

Deno.test("msr SPSel switches the stack pointer at once; CurrentEL reads the EL", () => {
  const cpu = new Cpu(0);
  cpu.spEl[0] = 0x100n;
  cpu.spEl[2] = 0x200n;
  cpu.setX(9, 0x9000n);
  executeA64(
    parseA64("mrs x0, CurrentEL\nmov x1, sp\nmsr SPSel, #0\nmov x2, sp\nmsr SPSel, #1\nret x9"),
    {
      cpu,
      codeBase: 0x4000_0000,
    },
  );
  assertEquals([cpu.x(0), cpu.x(1), cpu.x(2)], [8n, 0x200n, 0x100n]);
});

/** A random terminating program over branches on values the text does and does not fix. */
function randomProgram(p: Prng): string {
  const n = 6 + p.int(14);
  const lines: string[] = [];
  const regs = () => `x${p.int(6)}`;
  for (let i = 0; i < n; i++) {
    const fwd = `L${i + 1 + p.int(n - i)}`;
    lines.push(
      `L${i}: ` + p.pick([
        () => `mov ${regs()}, #${p.int(4)}`,
        () => `mrs ${regs()}, id_aa64mmfr1_el1`,
        () => `ldr ${regs()}, [x6]`,
        () => `orr ${regs()}, ${regs()}, #${1 << p.int(8)}`,
        () => `ubfx ${regs()}, ${regs()}, #${p.int(8)}, #2`,
        () => `cmp ${regs()}, #${p.int(3)}`,
        () => `b.${p.pick(CONDS)} ${fwd}`,
        () => `cbz ${regs()}, ${fwd}`,
        () => `tbnz ${regs()}, #${p.int(3)}, ${fwd}`,
        () => `csel ${regs()}, ${regs()}, ${regs()}, ${p.pick(CONDS)}`,
        () => p.pick(["isb", "dsb nsh", "tlbi alle2", "ic iallu"]),
        () => "mrs x7, sctlr_el2\nbic x7, x7, #SCTLR_ELx_M\nmsr sctlr_el2, x7",
        () =>
          `mrs x7, sctlr_el2\norr x7, x7, #SCTLR_ELx_M\ncbz ${regs()}, ${fwd}\nmsr sctlr_el2, x7`,
        () => `msr ttbr0_el2, ${regs()}`,
        () => `bl H`,
      ])(),
    );
  }
  lines.push(`L${n}: ret`, "H: cbz x3, 1f", "isb", "1: ret");
  // `ret` in H returns into the text; the last `ret` leaves (x30 saved in x20 first).
  return `mov x20, x30\n${lines.join("\n")}`.replace(`L${n}: ret`, `L${n}: ret x20`);
}

Deno.test("merging explored states by what can still matter finds what exact merging finds (1500 programs)", () => {
  const p = new Prng(34);
  let nonEmpty = 0;
  for (let k = 0; k < 1500; k++) {
    const src = randomProgram(p);
    const prog = parseA64(src);
    const cfg = { assume: { "mmu-on-at-entry": p.int(2) === 0 } };
    // The same findings; paths may be explored in another order.
    const key = (r: ReturnType<typeof checkRoutines>) =>
      r.findings.map((f) => `${f.line}:${f.rule}:${f.severity}:${f.message}`).sort();
    const fast = checkRoutines(prog, cfg);
    const exact = checkRoutines(prog, cfg, { exactMerge: true });
    assertEquals(key(fast), key(exact), src);
    if (fast.findings.length > 0) nonEmpty++;
  }
  assertEquals(nonEmpty > 300, true, `${nonEmpty} programs with findings`);
});
