/**
 * A parsed A64 program: decoded instructions in order, each carrying the
 * source position of the text it came from (the macro invocation for
 * expanded macros), plus the labels.
 *
 * @module
 */

/** One decoded instruction. Register fields use the numbering of `opcodes.ts`. */
export interface A64Instruction {
  /** Decoded operation (`Op`). */
  readonly op: number;
  /** Mnemonic as written, lowercase. */
  readonly mnemonic: string;
  /** The instruction text (after macro expansion), e.g. `msr sctlr_el2, x3`. */
  readonly text: string;
  /** 1-based line of the text, or of the macro invocation it expanded from. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** Outermost macro this instruction was expanded from. */
  readonly macro?: string;
  /** Why it is there when an alternative replaced the written instruction with `nop`. */
  readonly note?: string;
  /** Destination / transfer register. */
  readonly rd: number;
  /** First source / base register. */
  readonly rn: number;
  /** Second source register (register forms), second transfer register (ldp/stp). */
  readonly rm: number;
  /** Immediate (64-bit pattern), offset, or shift-left amount for movz/movk. */
  readonly imm: bigint;
  /** Shift kind (`Shift`) of a shifted-register operand. */
  readonly shiftKind: number;
  /** Shift amount. */
  readonly shift: number;
  /** Addressing mode (`AddrMode`) of loads and stores. */
  readonly mode: number;
  /** Branch target (instruction index; `length` means the end of the program). */
  readonly target: number;
  /** System register name (Arm ARM spelling, uppercase) for mrs/msr. */
  readonly sysreg: string;
  /** Operation name of tlbi/ic/dc, or the barrier option of dsb/dmb/isb. */
  readonly operation: string;
  /** Barrier domain (`Domain`) of dsb/dmb. */
  readonly domain: number;
  /** Barrier access type (`BarrierType`) of dsb/dmb. */
  readonly barrierType: number;
  /** The constant named in a load/store offset (`#NVHE_INIT_PGD_PA`), if any. */
  readonly offsetSymbol: string;
  /** Condition code (`CONDITIONS`) of b.cond, csel, ccmp. */
  readonly cond: number;
  /** Second immediate: bitfield width, tbz bit, ccmp #nzcv, PSTATE field value. */
  readonly imm2: number;
  /**
   * An external symbol the instruction refers to (`ldr x0, =sym`, `adrp`,
   * `:lo12:sym`): its address comes from the run; "" when none (a label of
   * the text is in `target` instead).
   */
  readonly symbol: string;
  /** A NOP the assembler inserted to honour `.align` (never written by the author). */
  readonly padding?: boolean;
}

/**
 * A routine boundary: a `SYM_*_START` ... `SYM_*_END` pair, a
 * `SYM_INNER_LABEL`, or a label declared `.globl`.
 */
export interface A64Symbol {
  /** Symbol name. */
  readonly name: string;
  /** `func` (SYM_FUNC_*), `code` (SYM_CODE_*), `inner` (SYM_INNER_LABEL), `label` (.globl). */
  readonly kind: "func" | "code" | "inner" | "label";
  /** Reachable from outside the file (not a `_LOCAL` / `SYM_L_LOCAL` symbol). */
  readonly global: boolean;
  /** First instruction index. */
  readonly start: number;
  /** One past the last instruction (the `_END`), or the end of the enclosing symbol. */
  readonly end: number;
  /** Source line of the start annotation. */
  readonly line: number;
  /** Alignment in bytes in force at the start (`.align 11` before a vector table: 2048). */
  readonly align: number;
}

/** A parsed program. */
export interface A64Program {
  /** The source it was parsed from. */
  readonly source: string;
  /** Instructions in execution order (alternatives resolved, macros expanded). */
  readonly instructions: readonly A64Instruction[];
  /** Named labels → instruction index. */
  readonly labels: ReadonlyMap<string, number>;
  /** Routine boundaries, in text order. */
  readonly symbols?: readonly A64Symbol[];
  /** The preprocessed configuration the text was read with (release models, when any). */
  readonly release?: string;
}

/** Field defaults, so each decoder sets only what its form uses. */
export const BLANK_INSTRUCTION: Omit<
  A64Instruction,
  "op" | "mnemonic" | "text" | "line" | "column"
> = {
  rd: -1,
  rn: -1,
  rm: -1,
  imm: 0n,
  shiftKind: 0,
  shift: 0,
  mode: 0,
  target: -1,
  sysreg: "",
  operation: "",
  domain: 0,
  barrierType: 0,
  offsetSymbol: "",
  cond: 0,
  imm2: 0,
  symbol: "",
};

/**
 * A copy of a program with instruction `index` removed; branch targets after
 * it move up by one (mutation mode).
 *
 * @param program The program.
 * @param index Instruction to drop.
 * @returns The mutant.
 */
export function dropInstruction(program: A64Program, index: number): A64Program {
  const fix = (t: number) => (t > index ? t - 1 : t);
  const instructions = program.instructions.filter((_, i) => i !== index).map((ins) =>
    ins.target >= 0 ? { ...ins, target: fix(ins.target) } : ins
  );
  const labels = new Map([...program.labels].map(([k, v]) => [k, fix(v)]));
  const out: A64Program = { source: program.source, instructions, labels };
  if (program.symbols === undefined) return out;
  const symbols = program.symbols.map((s) => ({ ...s, start: fix(s.start), end: fix(s.end) }));
  return { ...out, symbols };
}

/**
 * A copy of a program with instructions `index` and `index + 1` swapped;
 * labels stay at their positions (mutation mode).
 *
 * @param program The program.
 * @param index First of the pair.
 * @returns The mutant.
 */
export function swapInstructions(program: A64Program, index: number): A64Program {
  const instructions = [...program.instructions];
  const a = instructions[index]!;
  instructions[index] = instructions[index + 1]!;
  instructions[index + 1] = a;
  return { ...program, instructions };
}
