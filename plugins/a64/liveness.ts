/**
 * Register liveness over a program: for each instruction, the registers
 * (and the condition flags) some path from it reads before writing. The
 * static run merges two states at a branch target when they differ only
 * in dead registers — what keeps the paths through the kernel's EL2 setup
 * macros (a dozen independent feature tests) from multiplying.
 *
 * The analysis over-approximates: a register branch (`ret`, `br`, `blr`),
 * an exception (`hvc`, `eret`) or the end of the text counts every register
 * as live, so a merge never drops a value a later instruction reads.
 *
 * @module
 */

import { AddrMode, Op, SINK, SP, XZR } from "./opcodes.ts";
import type { A64Program } from "./program.ts";

/** Bit index of the condition flags in a liveness set. */
export const FLAGS = 34;

/** Liveness sets: bit r of word (r >> 5) of entry i is register r live into instruction i. */
export interface Liveness {
  /**
   * Whether register `r` (0–30, 32 = SP, 34 = flags) is live into instruction `i`.
   * @param i Instruction index.
   * @param r Register.
   * @returns True when some path reads it before writing it.
   */
  live(i: number, r: number): boolean;
}

const ALL_LO = 0x7fffffff; // x0..x30
const ALL_HI = (1 << (SP - 32)) | (1 << (FLAGS - 32));

function add(set: [number, number], r: number): void {
  if (r < 0 || r === XZR || r === SINK) return;
  if (r < 32) set[0] |= 1 << r;
  else set[1] |= 1 << (r - 32);
}

/** Registers an instruction reads and writes. */
function effects(ins: A64Program["instructions"][number]): {
  use: [number, number];
  def: [number, number];
  all: boolean;
} {
  const use: [number, number] = [0, 0];
  const def: [number, number] = [0, 0];
  let all = false;
  switch (ins.op) {
    case Op.NOP:
    case Op.HINT:
    case Op.ISB:
    case Op.DSB:
    case Op.DMB:
    case Op.B:
      break;
    case Op.MOV_IMM:
    case Op.MOVZ:
    case Op.MOVN:
    case Op.ADR:
    case Op.ADRP:
    case Op.LDR_LIT:
    case Op.MRS:
      add(def, ins.rd);
      if (ins.op === Op.MRS && ins.sysreg === "NZCV") add(use, FLAGS);
      break;
    case Op.MOVK:
    case Op.BFI:
    case Op.BFXIL:
      add(use, ins.rd);
      add(use, ins.rn);
      add(def, ins.rd);
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
      add(use, ins.rn);
      add(def, ins.rd);
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
      add(use, ins.rn);
      add(use, ins.rm);
      add(def, ins.rd);
      break;
    case Op.SUBS_IMM:
    case Op.ADDS_IMM:
    case Op.ANDS_IMM:
      add(use, ins.rn);
      add(def, ins.rd);
      add(def, FLAGS);
      break;
    case Op.SUBS_REG:
    case Op.ADDS_REG:
    case Op.ANDS_REG:
      add(use, ins.rn);
      add(use, ins.rm);
      add(def, ins.rd);
      add(def, FLAGS);
      break;
    case Op.CCMP_IMM:
    case Op.CCMN_IMM:
    case Op.CCMP_REG:
    case Op.CCMN_REG:
      add(use, ins.rn);
      add(use, ins.rm);
      add(use, FLAGS);
      add(def, FLAGS);
      break;
    case Op.CSEL:
    case Op.CSINC:
    case Op.CSINV:
    case Op.CSNEG:
      add(use, ins.rn);
      add(use, ins.rm);
      add(use, FLAGS);
      add(def, ins.rd);
      break;
    case Op.BCOND:
      add(use, FLAGS);
      break;
    case Op.CBZ:
    case Op.CBNZ:
    case Op.TBZ:
    case Op.TBNZ:
    case Op.MSR:
    case Op.TLBI:
    case Op.IC:
    case Op.DC:
      add(use, ins.rn);
      break;
    case Op.MSR_IMM:
      if (ins.operation === "spsel") add(def, SP);
      break;
    case Op.BL:
      add(def, 30);
      break;
    case Op.LDR:
    case Op.LDP:
      add(use, ins.rn);
      add(def, ins.rd);
      if (ins.op === Op.LDP) add(def, ins.rm);
      if (ins.mode !== AddrMode.OFFSET) add(def, ins.rn);
      break;
    case Op.STR:
    case Op.STP:
      add(use, ins.rn);
      add(use, ins.rd);
      if (ins.op === Op.STP) add(use, ins.rm);
      break;
    default:
      // br, blr, ret, hvc, eret and anything new: every register may be read.
      all = true;
  }
  // A post/pre-indexed load that writes its base also reads it: keep it live.
  if ((ins.op === Op.LDR || ins.op === Op.LDP) && ins.mode !== AddrMode.OFFSET) {
    def[ins.rn < 32 ? 0 : 1] &= ~(1 << (ins.rn < 32 ? ins.rn : ins.rn - 32));
  }
  return { use, def, all };
}

/**
 * Computes register liveness for a program (cached per program).
 * @param program The program.
 * @returns The liveness sets.
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
  const fx = ins.map(effects);
  const lo = new Int32Array(n + 1);
  const hi = new Int32Array(n + 1);
  // At the end of the text nothing is read any more.
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = n - 1; i >= 0; i--) {
      const x = ins[i]!;
      const e = fx[i]!;
      let outLo = 0;
      let outHi = 0;
      if (e.all) {
        outLo = ALL_LO;
        outHi = ALL_HI;
      } else {
        const succ: number[] = [];
        switch (x.op) {
          case Op.B:
            succ.push(x.target);
            break;
          case Op.BL:
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
          if (s < 0 || s > n) {
            outLo = ALL_LO;
            outHi = ALL_HI;
            continue;
          }
          outLo |= lo[s]!;
          outHi |= hi[s]!;
        }
      }
      const inLo = (outLo & ~e.def[0]) | e.use[0];
      const inHi = (outHi & ~e.def[1]) | e.use[1];
      if (inLo !== lo[i] || inHi !== hi[i]) {
        lo[i] = inLo;
        hi[i] = inHi;
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
