/**
 * Which register values can still change what a static run finds: for
 * each instruction, the registers (and the condition flags) whose value or
 * address-space tag some path from it uses in a way that matters — a
 * branch decision, a branch target, a memory address, the stack pointer,
 * or a write to a system register whose value is used (SCTLR_EL2,
 * TTBR0_EL2, TCR_EL2, MAIR_EL2, ELR_EL2, SPSR_EL2, or any register the
 * text reads back with `mrs`) — directly or through the arithmetic that
 * computes it. The static run merges two states at a branch target when
 * they differ only elsewhere: what keeps the paths through the kernel's
 * EL2 setup macros (a dozen independent feature tests, each ORing a trap
 * bit into a value only a trap register receives) from multiplying.
 *
 * The analysis over-approximates, so a merge never drops a value a later
 * instruction depends on: `br`/`blr` (a target the text does not fix)
 * count every register. A `ret` continues at the return sites of the calls
 * to its routine, or leaves the text, where only the return address
 * counts; an `eret` leaves.
 *
 * @module
 */

import { AddrMode, Op, SINK, SP, XZR } from "./opcodes.ts";
import type { A64Program } from "./program.ts";

/**
 * Bit index of the condition flags in a liveness set.
 * @example `cmp` makes the flags matter until `b.eq` reads them
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FLAGS, liveness, parseA64 } from "./mod.ts";
 * const live = liveness(parseA64("cmp x0, #1\nb.eq 1f\nnop\n1: ret"));
 * assertEquals([live.live(0, FLAGS), live.live(1, FLAGS), live.live(2, FLAGS)], [false, true, false]);
 * ```
 */
export const FLAGS = 34;

/** For each instruction, the registers whose value matters from there on. */
export interface Liveness {
  /**
   * Whether register `r` (0–30, 32 = SP, 34 = flags) matters into instruction `i`.
   * @param i Instruction index.
   * @param r Register.
   * @returns True when some path uses its value (or tag) in a way that matters.
   */
  live(i: number, r: number): boolean;
}

const ALL_LO = 0x7fffffff; // x0..x30
const ALL_HI = (1 << (SP - 32)) | (1 << (FLAGS - 32));

/** System registers whose written value the run or the checker uses. */
const VALUE_SYSREGS = new Set([
  "SCTLR_EL2",
  "TTBR0_EL2",
  "TCR_EL2",
  "MAIR_EL2",
  "ELR_EL2",
  "SPSR_EL2",
]);

type Set2 = [number, number];

function bit(r: number): Set2 {
  if (r < 0 || r === XZR || r === SINK) return [0, 0];
  return r < 32 ? [1 << r, 0] : [0, 1 << (r - 32)];
}

function or(a: Set2, b: Set2): Set2 {
  return [a[0] | b[0], a[1] | b[1]];
}

/**
 * One instruction's effect: `use` always matters; `def` is overwritten;
 * `deps`: if `dst` matters afterwards, the `src` registers matter before.
 */
interface Effect {
  use: Set2;
  def: Set2;
  deps: { dst: number; src: number[] }[];
  all: boolean;
}

function effects(ins: A64Program["instructions"][number], readBack: ReadonlySet<string>): Effect {
  const e: Effect = { use: [0, 0], def: [0, 0], deps: [], all: false };
  const use = (...rs: number[]) => rs.forEach((r) => (e.use = or(e.use, bit(r))));
  const def = (...rs: number[]) => rs.forEach((r) => (e.def = or(e.def, bit(r))));
  const dep = (dst: number, ...src: number[]) => {
    def(dst);
    e.deps.push({ dst, src });
  };
  switch (ins.op) {
    case Op.NOP:
    case Op.HINT:
    case Op.ISB:
    case Op.DSB:
    case Op.DMB:
    case Op.B:
    case Op.ERET:
    case Op.HVC:
      break;
    case Op.MOV_IMM:
    case Op.MOVZ:
    case Op.MOVN:
    case Op.ADR:
    case Op.ADRP:
    case Op.LDR_LIT:
      def(ins.rd);
      break;
    case Op.MRS:
      if (ins.sysreg === "NZCV") dep(ins.rd, FLAGS);
      else def(ins.rd);
      break;
    case Op.MOVK:
    case Op.BFI:
    case Op.BFXIL:
      dep(ins.rd, ins.rd, ins.rn);
      break;
    case Op.MOV_REG:
    case Op.ORR_IMM:
    case Op.AND_IMM:
    case Op.EOR_IMM:
    case Op.ADD_IMM:
    case Op.SUB_IMM:
    case Op.LSL_IMM:
    case Op.LSR_IMM:
    case Op.ASR_IMM:
    case Op.UBFX:
    case Op.SBFX:
    case Op.UBFIZ:
    case Op.SBFIZ:
      dep(ins.rd, ins.rn);
      break;
    case Op.ORR_REG:
    case Op.AND_REG:
    case Op.BIC_REG:
    case Op.EOR_REG:
    case Op.ORN_REG:
    case Op.ADD_REG:
    case Op.SUB_REG:
    case Op.LSL_REG:
    case Op.LSR_REG:
    case Op.ASR_REG:
      dep(ins.rd, ins.rn, ins.rm);
      break;
    case Op.SUBS_IMM:
    case Op.ADDS_IMM:
    case Op.ANDS_IMM:
      dep(ins.rd, ins.rn);
      dep(FLAGS, ins.rn);
      break;
    case Op.SUBS_REG:
    case Op.ADDS_REG:
    case Op.ANDS_REG:
      dep(ins.rd, ins.rn, ins.rm);
      dep(FLAGS, ins.rn, ins.rm);
      break;
    case Op.CCMP_IMM:
    case Op.CCMN_IMM:
    case Op.CCMP_REG:
    case Op.CCMN_REG:
      dep(FLAGS, FLAGS, ins.rn, ins.rm);
      break;
    case Op.CSEL:
    case Op.CSINC:
    case Op.CSINV:
    case Op.CSNEG:
      dep(ins.rd, FLAGS, ins.rn, ins.rm);
      break;
    case Op.BCOND:
      use(FLAGS);
      break;
    case Op.CBZ:
    case Op.CBNZ:
    case Op.TBZ:
    case Op.TBNZ:
    case Op.TLBI:
    case Op.IC:
    case Op.DC:
      use(ins.rn);
      break;
    case Op.MSR:
      if (VALUE_SYSREGS.has(ins.sysreg) || readBack.has(ins.sysreg)) use(ins.rn);
      break;
    case Op.MSR_IMM:
      if (ins.operation === "spsel") def(SP);
      break;
    case Op.BL:
      def(30);
      break;
    case Op.RET:
      use(ins.rn);
      break;
    case Op.LDR:
    case Op.LDP:
      use(ins.rn);
      if (ins.mode !== AddrMode.OFFSET) dep(ins.rn, ins.rn);
      def(ins.rd);
      if (ins.op === Op.LDP) def(ins.rm);
      break;
    case Op.STR:
    case Op.STP:
      // The stored value goes to memory, which no key holds; the address matters.
      use(ins.rn);
      if (ins.mode !== AddrMode.OFFSET) dep(ins.rn, ins.rn);
      break;
    default:
      // br, blr and anything new: every register may matter.
      e.all = true;
  }
  // SP is an address: what is copied into it matters.
  return e;
}

/**
 * Computes the analysis for a program (cached per program).
 * @param program The program.
 * @returns The sets.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { liveness, parseA64 } from "./mod.ts";
 * const l = liveness(parseA64("mov x0, #1\n1: mrs x0, sctlr_el2\nmsr sctlr_el2, x0\nret"));
 * assertEquals([l.live(1, 0), l.live(2, 0)], [false, true]); // x0 is written before it is read
 * ```
 */
export function liveness(program: A64Program): Liveness {
  const cached = CACHE.get(program);
  if (cached !== undefined) return cached;
  const ins = program.instructions;
  const n = ins.length;
  const readBack = new Set(ins.filter((x) => x.op === Op.MRS).map((x) => x.sysreg));
  const fx = ins.map((x) => effects(x, readBack));
  const returnSites = returnSitesOf(program);
  // SP's value matters wherever SP is (stack accesses, exceptions): keep it.
  const spBit = bit(SP);
  const lo = new Int32Array(n + 1);
  const hi = new Int32Array(n + 1);
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = n - 1; i >= 0; i--) {
      const x = ins[i]!;
      const e = fx[i]!;
      let out: Set2 = [0, 0];
      if (e.all) out = [ALL_LO, ALL_HI];
      else {
        const succ: number[] = [];
        switch (x.op) {
          case Op.B:
            succ.push(x.target);
            break;
          case Op.RET:
            succ.push(...returnSites(i));
            break;
          case Op.ERET:
            break;
          case Op.BL:
            // The callee's `ret` continues at i + 1 (see returnSitesOf).
            succ.push(x.target);
            break;
          case Op.BCOND:
          case Op.CBZ:
          case Op.CBNZ:
          case Op.TBZ:
          case Op.TBNZ:
            succ.push(x.target, i + 1);
            break;
          default:
            succ.push(i + 1);
        }
        for (const s of succ) {
          if (s < 0 || s > n) out = [ALL_LO, ALL_HI];
          else out = or(out, [lo[s]!, hi[s]!]);
        }
      }
      let inn: Set2 = [out[0] & ~e.def[0], out[1] & ~e.def[1]];
      inn = or(inn, e.use);
      for (const d of e.deps) {
        const b = bit(d.dst);
        if ((out[0] & b[0]) !== 0 || (out[1] & b[1]) !== 0) {
          for (const r of d.src) inn = or(inn, bit(r));
        }
      }
      inn = or(inn, spBit);
      if (inn[0] !== lo[i] || inn[1] !== hi[i]) {
        lo[i] = inn[0];
        hi[i] = inn[1];
        changed = true;
      }
    }
  }
  const result: Liveness = {
    live: (i, r) => (r < 32 ? (lo[i]! >>> r) & 1 : (hi[i]! >>> (r - 32)) & 1) === 1,
  };
  CACHE.set(program, result);
  return result;
}

const CACHE = new WeakMap<A64Program, Liveness>();

/**
 * Where a `ret` at instruction i may continue inside the text: after each
 * `bl` whose callee can reach that `ret` (following the callee's own
 * branches, and stepping over the calls it makes). A return that leaves
 * the text adds nothing (the return address itself is the `ret`'s use).
 */
function returnSitesOf(program: A64Program): (i: number) => number[] {
  const ins = program.instructions;
  const n = ins.length;
  const sites = new Map<number, number[]>();
  const calls = new Map<number, number[]>();
  ins.forEach((x, k) => {
    if (x.op === Op.BL && x.target >= 0) {
      const l = calls.get(x.target) ?? [];
      l.push(k + 1);
      calls.set(x.target, l);
    }
  });
  for (const [entry, returns] of calls) {
    const seen = new Uint8Array(n + 1);
    const work = [entry];
    while (work.length > 0) {
      const k = work.pop()!;
      if (k < 0 || k >= n || seen[k]) continue;
      seen[k] = 1;
      const x = ins[k]!;
      switch (x.op) {
        case Op.RET: {
          const l = sites.get(k) ?? [];
          l.push(...returns);
          sites.set(k, l);
          break;
        }
        case Op.BR:
        case Op.BLR:
        case Op.ERET:
          break;
        case Op.B:
          work.push(x.target);
          break;
        case Op.BCOND:
        case Op.CBZ:
        case Op.CBNZ:
        case Op.TBZ:
        case Op.TBNZ:
          work.push(x.target, k + 1);
          break;
        default:
          // A nested call is taken to return: continue after it.
          work.push(k + 1);
      }
    }
  }
  return (i) => sites.get(i) ?? [];
}
