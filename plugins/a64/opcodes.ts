/**
 * Opcode numbers and register numbering of the decoded A64 subset.
 *
 * The executor's hot path switches on these small integers; keep them dense.
 *
 * @module
 */

/** Decoded operation numbers (one per instruction form). */
export const Op = {
  NOP: 0,
  MOV_REG: 1,
  MOV_IMM: 2,
  MOVZ: 3,
  MOVK: 4,
  MOVN: 5,
  ORR_IMM: 6,
  ORR_REG: 7,
  AND_IMM: 8,
  AND_REG: 9,
  BIC_REG: 10,
  ADD_IMM: 11,
  ADD_REG: 12,
  SUB_IMM: 13,
  SUB_REG: 14,
  LSL_IMM: 15,
  LSL_REG: 16,
  LSR_IMM: 17,
  LSR_REG: 18,
  B: 19,
  BL: 20,
  CBZ: 21,
  CBNZ: 22,
  BR: 23,
  BLR: 24,
  RET: 25,
  LDR: 26,
  STR: 27,
  LDP: 28,
  STP: 29,
  MRS: 30,
  MSR: 31,
  ISB: 32,
  DSB: 33,
  DMB: 34,
  TLBI: 35,
  IC: 36,
  DC: 37,
  HVC: 38,
  ERET: 39,
  /** `subs`/`cmp`: flags from xn - operand. */
  SUBS_IMM: 40,
  SUBS_REG: 41,
  /** `adds`/`cmn`. */
  ADDS_IMM: 42,
  ADDS_REG: 43,
  /** `ands`/`tst`. */
  ANDS_IMM: 44,
  ANDS_REG: 45,
  /** `ccmp`/`ccmn`: compare if the condition holds, else flags = #nzcv (`imm2`). */
  CCMP_IMM: 46,
  CCMP_REG: 47,
  CCMN_IMM: 48,
  CCMN_REG: 49,
  /** `b.<cond>`. */
  BCOND: 50,
  /** `csel`, `csinc`, `csinv`, `csneg` (and the aliases cset, csetm, cinc, cinv, cneg). */
  CSEL: 51,
  CSINC: 52,
  CSINV: 53,
  CSNEG: 54,
  /** `tbz`/`tbnz`: bit `imm2` of xt. */
  TBZ: 55,
  TBNZ: 56,
  /** Bitfield moves: field at `shift`, `imm2` bits wide. */
  UBFX: 57,
  SBFX: 58,
  UBFIZ: 59,
  SBFIZ: 60,
  BFI: 61,
  BFXIL: 62,
  /** `adr`/`adrp`: a label (`target`) or an external symbol (`symbol`). */
  ADR: 63,
  ADRP: 64,
  /** `ldr xt, =value|symbol`. */
  LDR_LIT: 65,
  /** `msr <pstatefield>, #imm` (`operation` names the field). */
  MSR_IMM: 66,
  ASR_IMM: 67,
  ASR_REG: 68,
  EOR_IMM: 69,
  EOR_REG: 70,
  ORN_REG: 71,
  /** An instruction with no effect the model tracks: `wfe`, `wfi`, `bti`, `hint`, `yield`. */
  HINT: 72,
} as const;

/** A decoded operation number. */
export type OpCode = typeof Op[keyof typeof Op];

/** Register index that always reads zero (`xzr` as a source). */
export const XZR = 31;
/** Register index of the current stack pointer (`sp`). */
export const SP = 32;
/** Register index writes to `xzr` go to (discarded). */
export const SINK = 33;
/** Size of the executor's register file (x0–x30, zero, sp, sink). */
export const REGFILE_SIZE = 34;

/**
 * Condition codes (`b.eq` ...), by their A64 encoding.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CONDITIONS } from "./opcodes.ts";
 * assertEquals([CONDITIONS.eq, CONDITIONS.lo, CONDITIONS.cc], [0, 3, 3]);
 * ```
 */
export const CONDITIONS: Readonly<Record<string, number>> = {
  eq: 0,
  ne: 1,
  cs: 2,
  hs: 2,
  cc: 3,
  lo: 3,
  mi: 4,
  pl: 5,
  vs: 6,
  vc: 7,
  hi: 8,
  ls: 9,
  ge: 10,
  lt: 11,
  gt: 12,
  le: 13,
  al: 14,
  nv: 15,
};

/**
 * Whether condition `cond` holds for the flags `nzcv` (N = bit 3 ... V = bit 0).
 * @param cond Condition code.
 * @param nzcv Flags.
 * @returns True when it holds.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { conditionHolds, CONDITIONS } from "./opcodes.ts";
 * assertEquals(conditionHolds(CONDITIONS.eq!, 0b0100), true); // Z set
 * ```
 */
export function conditionHolds(cond: number, nzcv: number): boolean {
  const n = (nzcv >> 3) & 1;
  const z = (nzcv >> 2) & 1;
  const c = (nzcv >> 1) & 1;
  const v = nzcv & 1;
  let r: boolean;
  switch (cond >> 1) {
    case 0:
      r = z === 1;
      break;
    case 1:
      r = c === 1;
      break;
    case 2:
      r = n === 1;
      break;
    case 3:
      r = v === 1;
      break;
    case 4:
      r = c === 1 && z === 0;
      break;
    case 5:
      r = n === v;
      break;
    case 6:
      r = n === v && z === 0;
      break;
    default:
      return true; // al, nv
  }
  return (cond & 1) === 1 ? !r : r;
}

/** PSTATE fields `msr <field>, #imm` may write. */
export const PSTATE_FIELDS: readonly string[] = ["spsel", "daifset", "daifclr"];

/** Shift kinds of a shifted-register operand. */
export const Shift = { LSL: 0, LSR: 1, ASR: 2 } as const;

/** Addressing modes of loads and stores. */
export const AddrMode = { OFFSET: 0, PRE: 1, POST: 2 } as const;

/**
 * Barrier shareability domains, ordered by reach: a DSB completes maintenance
 * whose scope its domain covers (`nsh` < `ish` < `osh` < `sy`).
 */
export const Domain = { NSH: 0, ISH: 1, OSH: 2, SY: 3 } as const;

/** Access types of a barrier option (`st` waits for stores only, `ld` for loads). */
export const BarrierType = { FULL: 0, ST: 1, LD: 2 } as const;

/** DSB/DMB options: name → [domain, type]. */
export const BARRIER_OPTIONS: Readonly<Record<string, readonly [number, number]>> = {
  sy: [Domain.SY, BarrierType.FULL],
  st: [Domain.SY, BarrierType.ST],
  ld: [Domain.SY, BarrierType.LD],
  ish: [Domain.ISH, BarrierType.FULL],
  ishst: [Domain.ISH, BarrierType.ST],
  ishld: [Domain.ISH, BarrierType.LD],
  nsh: [Domain.NSH, BarrierType.FULL],
  nshst: [Domain.NSH, BarrierType.ST],
  nshld: [Domain.NSH, BarrierType.LD],
  osh: [Domain.OSH, BarrierType.FULL],
  oshst: [Domain.OSH, BarrierType.ST],
  oshld: [Domain.OSH, BarrierType.LD],
};

/** TLBI operations and whether each is broadcast to the Inner Shareable domain. */
export const TLBI_OPS: Readonly<Record<string, { broadcast: boolean; el2: boolean; va: boolean }>> =
  {
    alle2: { broadcast: false, el2: true, va: false },
    alle2is: { broadcast: true, el2: true, va: false },
    vae2: { broadcast: false, el2: true, va: true },
    vae2is: { broadcast: true, el2: true, va: true },
    vale2: { broadcast: false, el2: true, va: true },
    vale2is: { broadcast: true, el2: true, va: true },
    alle1: { broadcast: false, el2: false, va: false },
    alle1is: { broadcast: true, el2: false, va: false },
    vmalle1: { broadcast: false, el2: false, va: false },
    vmalle1is: { broadcast: true, el2: false, va: false },
    vmalls12e1: { broadcast: false, el2: false, va: false },
    vmalls12e1is: { broadcast: true, el2: false, va: false },
  };

/** IC operations: broadcast scope and whether the operation takes an address. */
export const IC_OPS: Readonly<Record<string, { broadcast: boolean; va: boolean }>> = {
  iallu: { broadcast: false, va: false },
  ialluis: { broadcast: true, va: false },
  // IC IVAU invalidates to the PoU for every PE in the Inner Shareable domain.
  ivau: { broadcast: true, va: true },
};

/** DC operations (clean / clean+invalidate to the PoC, by VA). */
export const DC_OPS: readonly string[] = ["civac", "cvac"];

/** Whether an op is a barrier or cache/TLB maintenance instruction (mutation candidates). */
export function isBarrierOrMaintenance(op: number): boolean {
  return op === Op.ISB || op === Op.DSB || op === Op.DMB || op === Op.TLBI || op === Op.IC ||
    op === Op.DC;
}
