/**
 * Instruction decoding: one A64 statement (mnemonic and operands, kernel
 * spelling) to the fields of an {@link A64Instruction}, or an
 * {@link A64SyntaxError} naming `line:column`, the text and what is
 * supported. Labels and symbols are left for the assembler to resolve.
 *
 * @module
 */

import { A64SyntaxError } from "./errors.ts";
import { evalExpr, ExprError } from "./expr.ts";
import {
  AddrMode,
  BARRIER_OPTIONS,
  CONDITIONS,
  DC_OPS,
  IC_OPS,
  Op,
  PSTATE_FIELDS,
  Shift,
  SINK,
  SP,
  TLBI_OPS,
  XZR,
} from "./opcodes.ts";
import type { A64Instruction } from "./program.ts";
import { A64_SYSREG_NAMES, resolveSysreg } from "./sysregs.ts";

/** One statement as the assembler hands it over. */
export interface Stmt {
  /** Text without labels or comments. */
  text: string;
  /** 1-based line (of the outermost macro invocation for expansions). */
  line: number;
  /** 1-based column. */
  column: number;
  /** Outermost macro this statement was expanded from. */
  macro?: string;
}

/** An operand with its column. */
export interface Operand {
  /** Text, trimmed. */
  text: string;
  /** 1-based column. */
  column: number;
}

/** A reference to resolve once every label is known. */
export interface SymbolRef {
  /** Branch target, `adr` operand, literal `=sym`, or `:lo12:sym` offset. */
  kind: "branch" | "adr" | "literal" | "lo12";
  /** The operand naming it. */
  operand: Operand;
  /** The name (label, numeric label like `1f`, `.`, or external symbol). */
  name: string;
}

/** A decoded statement. */
export interface Decoded {
  /** Instruction fields (op and the operands its form uses). */
  fields: Partial<A64Instruction> & { op: number };
  /** Mnemonic, lower case. */
  mnemonic: string;
  /** A label or symbol to resolve. */
  ref?: SymbolRef;
}

/**
 * The mnemonics the decoder accepts, as listed in error messages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { A64_MNEMONICS } from "./mod.ts";
 * assertEquals(["msr", "tlbi", "b.<cond>"].every((m) => A64_MNEMONICS.includes(m)), true);
 * ```
 */
export const A64_MNEMONICS: readonly string[] = [
  "mrs",
  "msr",
  "isb",
  "dsb",
  "dmb",
  "tlbi",
  "ic",
  "dc",
  "mov",
  "movz",
  "movk",
  "movn",
  "mvn",
  "neg",
  "orr",
  "orn",
  "eor",
  "bic",
  "and",
  "ands",
  "tst",
  "add",
  "adds",
  "sub",
  "subs",
  "cmp",
  "cmn",
  "ccmp",
  "ccmn",
  "lsl",
  "lsr",
  "asr",
  "ubfx",
  "sbfx",
  "ubfiz",
  "sbfiz",
  "bfi",
  "bfxil",
  "csel",
  "csinc",
  "csinv",
  "csneg",
  "cset",
  "csetm",
  "cinc",
  "cinv",
  "cneg",
  "adr",
  "adrp",
  "ldr",
  "str",
  "ldp",
  "stp",
  "b",
  "b.<cond>",
  "bl",
  "br",
  "blr",
  "ret",
  "cbz",
  "cbnz",
  "tbz",
  "tbnz",
  "hvc",
  "eret",
  "nop",
  "wfe",
  "wfi",
  "yield",
  "sev",
  "sevl",
  "bti",
  "hint",
];

function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/**
 * Whether `value` is an A64 logical immediate: an element of 2–64 bits
 * holding a rotated run of ones (not all ones), replicated. Works on two
 * 32-bit halves; a rotated run has exactly two bit transitions around the
 * element.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isBitmaskImmediate } from "./mod.ts";
 * assertEquals(isBitmaskImmediate(0xff00n), true); // a run of ones in a 64-bit element
 * assertEquals(isBitmaskImmediate(0x5555_5555_5555_5555n), true); // "01" replicated
 * assertEquals(isBitmaskImmediate(0x1234n), false);
 * assertEquals(isBitmaskImmediate(0xffff_ffff_ffff_ffffn), false);
 * ```
 */
export function isBitmaskImmediate(value: bigint): boolean {
  const lo = Number(value & 0xffff_ffffn) >>> 0;
  const hi = Number((value >> 32n) & 0xffff_ffffn) >>> 0;
  if (hi !== lo) {
    // 64-bit element: rotate right by one across the halves.
    const rLo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    const rHi = ((hi >>> 1) | ((lo & 1) << 31)) >>> 0;
    return popcount32((lo ^ rLo) >>> 0) + popcount32((hi ^ rHi) >>> 0) === 2;
  }
  let e = 32;
  while (e > 2) {
    const half = e / 2;
    const m = half === 32 ? 0xffff_ffff : (1 << half) - 1;
    if (((lo >>> half) & m) !== (lo & m)) break;
    e = half;
  }
  const mask = e === 32 ? 0xffff_ffff : (1 << e) - 1;
  const x = (lo & mask) >>> 0;
  const rot = (((x >>> 1) | ((x & 1) << (e - 1))) & mask) >>> 0;
  return popcount32((x ^ rot) >>> 0) === 2;
}

/** Which 16-bit chunk holds the only set bits of `v`, or -1. */
function singleChunk(v: bigint): number {
  for (let s = 0; s < 64; s += 16) {
    if ((v & ~(0xffffn << BigInt(s))) === 0n) return s;
  }
  return -1;
}

/**
 * Splits operands at top-level commas, keeping their columns.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { splitOperands } from "./mod.ts";
 * assertEquals(splitOperands("x0, [x1, #8]", 5), [
 *   { text: "x0", column: 5 },
 *   { text: "[x1, #8]", column: 9 },
 * ]);
 * ```
 */
export function splitOperands(text: string, column: number): Operand[] {
  const out: Operand[] = [];
  let depth = 0;
  let start = 0;
  const push = (end: number) => {
    const raw = text.slice(start, end);
    const lead = raw.length - raw.trimStart().length;
    out.push({ text: raw.trim(), column: column + start + lead });
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "[" || c === "(") depth++;
    else if (c === "]" || c === ")") depth--;
    else if (c === "," && depth === 0) {
      push(i);
      start = i + 1;
    }
  }
  if (text.trim() !== "") push(text.length);
  return out;
}

/**
 * A statement's text with whitespace runs as one space and commas as ", "
 * (what instruction texts look like in listings and traces).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { normalizeText } from "./mod.ts";
 * assertEquals(normalizeText("msr\tsctlr_el2,x0"), "msr sctlr_el2, x0");
 * ```
 */
export function normalizeText(text: string): string {
  if (!/\s\s|[\t\n\r\f\v]|\s,|,(?! )|, \s/.test(text)) return text;
  return text.replace(/\s+/g, " ").replace(/\s*,\s*/g, ", ");
}

const SYM_NAME = /^[A-Za-z_.$][\w.$]*$/;

/**
 * Decodes statements against a symbol table (constants, `.set` symbols)
 * and register aliases (`.req`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Decoder, splitOperands } from "./decode.ts";
 * import { Op } from "./opcodes.ts";
 * const d = new Decoder({}, new Map());
 * const s = { text: "cmp x0, #3", line: 1, column: 1 };
 * assertEquals(d.decode(s, "cmp", splitOperands(" x0, #3", 4)).fields.op, Op.SUBS_IMM);
 * ```
 */
export class Decoder {
  #symbols: Record<string, bigint>;
  #aliases: ReadonlyMap<string, string>;

  /**
   * Creates a decoder.
   * @param symbols Constants for `#NAME` operands (read live: `.set` may add).
   * @param aliases Register aliases from `.req` (name → register).
   */
  constructor(symbols: Record<string, bigint>, aliases: ReadonlyMap<string, string>) {
    this.#symbols = symbols;
    this.#aliases = aliases;
  }

  #err(
    s: { line: number; column: number },
    text: string,
    problem: string,
    supported: string,
  ): never {
    throw new A64SyntaxError(s.line, s.column, text, problem, supported);
  }

  /**
   * Evaluates an expression against the symbol table.
   * @param o The operand (with or without `#`).
   * @param s The statement, for errors.
   * @returns The 64-bit value.
   */
  imm(o: Operand | undefined, s: Stmt): bigint {
    if (o === undefined) this.#err(s, s.text, "missing immediate operand", "#imm or #CONSTANT");
    const text = o.text.startsWith("#") ? o.text.slice(1) : o.text;
    try {
      return evalExpr(text, this.#symbols);
    } catch (e) {
      if (e instanceof ExprError) {
        const col = o.column + (o.text.startsWith("#") ? 1 : 0) + e.offset;
        this.#err({ line: s.line, column: col }, o.text, e.message, e.supported);
      }
      throw e;
    }
  }

  #isImm(o: Operand | undefined): boolean {
    return o !== undefined && (o.text.startsWith("#") || /^[-(~0-9]/.test(o.text) ||
      (/^[A-Za-z_.]\w*$/.test(o.text) && this.#symbols[o.text] !== undefined));
  }

  #count(s: Stmt, ops: Operand[], min: number, max: number, form: string): void {
    if (ops.length < min || ops.length > max) {
      this.#err(s, s.text, `wrong number of operands (${ops.length})`, form);
    }
  }

  #reg(o: Operand | undefined, s: Stmt, role: "dst" | "src", allowSp = false): number {
    if (o === undefined) this.#err(s, s.text, "missing register operand", "x0-x30, xzr");
    let t = o.text.toLowerCase();
    // Fast path: x0..x30.
    if (t.length >= 2 && t.length <= 3 && t.charCodeAt(0) === 120) {
      const n = Number(t.slice(1));
      if (Number.isInteger(n) && n >= 0 && n <= 30 && String(n) === t.slice(1)) return n;
    }
    const alias = this.#aliases.get(t);
    if (alias !== undefined) {
      t = alias.toLowerCase();
      const m = /^x([0-9]|[12][0-9]|30)$/.exec(t);
      if (m) return Number(m[1]);
    }
    const where = { line: s.line, column: o.column };
    if (t === "lr") return 30;
    if (t === "fp") return 29;
    if (t === "xzr") {
      if (allowSp) this.#err(where, o.text, "xzr is not allowed here", "x0-x30, sp");
      return role === "dst" ? SINK : XZR;
    }
    if (t === "sp") {
      if (!allowSp) this.#err(where, o.text, "sp is not allowed here", "x0-x30, xzr");
      return SP;
    }
    if (/^w([0-9]|[12][0-9]|30|zr)$/.test(t) || t === "wsp") {
      this.#err(
        where,
        o.text,
        "32-bit registers are not supported",
        "the 64-bit registers x0-x30, xzr, sp",
      );
    }
    this.#err(where, o.text, "not a register", allowSp ? "x0-x30, sp" : "x0-x30, xzr");
  }

  #shiftOperand(o: Operand | undefined, s: Stmt): [number, number] {
    if (o === undefined) return [Shift.LSL, 0];
    const m = /^(lsl|lsr|asr)\s+#?(.+)$/i.exec(o.text);
    if (!m) {
      this.#err({ line: s.line, column: o.column }, o.text, "bad shift", "lsl #n, lsr #n, asr #n");
    }
    const amount = this.imm({ text: m[2]!, column: o.column + m[0].indexOf(m[2]!) }, s);
    if (amount > 63n) {
      this.#err({ line: s.line, column: o.column }, o.text, "shift amount above 63", "0..63");
    }
    const kind = { lsl: Shift.LSL, lsr: Shift.LSR, asr: Shift.ASR }[m[1]!.toLowerCase() as "lsl"];
    return [kind, Number(amount)];
  }

  #cond(o: Operand | undefined, s: Stmt): number {
    const t = o?.text.toLowerCase() ?? "";
    const c = Object.hasOwn(CONDITIONS, t) ? CONDITIONS[t] : undefined;
    if (c === undefined) {
      this.#err(
        o === undefined ? s : { line: s.line, column: o.column },
        o?.text ?? s.text,
        "not a condition",
        Object.keys(CONDITIONS).join(", "),
      );
    }
    return c;
  }

  #small(o: Operand | undefined, s: Stmt, max: number, what: string): number {
    const v = this.imm(o, s);
    if (v > BigInt(max)) {
      this.#err(
        { line: s.line, column: o!.column },
        o!.text,
        `${what} above ${max}`,
        `#0..#${max}`,
      );
    }
    return Number(v);
  }

  #label(o: Operand, s: Stmt): SymbolRef {
    const t = o.text;
    if (
      !/^([A-Za-z_.$][\w.$]*|\d+[bf])$/.test(t) && !/^\.\s*[-+]\s*(0x[0-9a-f]+|\d+)$/i.test(t)
    ) {
      this.#err(
        { line: s.line, column: o.column },
        t,
        "not a label",
        "a label name, 1b / 1f, or .",
      );
    }
    return { kind: "branch", operand: o, name: t.replace(/\s+/g, "") };
  }

  #memOperand(
    o: Operand | undefined,
    s: Stmt,
  ): { rn: number; imm: bigint; pre: boolean; symbol: string; lo12?: SymbolRef } {
    if (o === undefined) {
      this.#err(s, s.text, "missing memory operand", "[xn], [xn, #imm], [xn, #imm]!");
    }
    const m = /^\[\s*([^,\]]+?)\s*(?:,\s*([^\]]+?)\s*)?\](!?)$/.exec(o.text);
    if (!m) {
      this.#err(
        { line: s.line, column: o.column },
        o.text,
        "bad memory operand",
        "[xn|sp], [xn|sp, #imm], [xn|sp, #imm]! (register offsets are not supported)",
      );
    }
    const rn = this.#reg({ text: m[1]!, column: o.column + 1 }, s, "src", true);
    let imm = 0n;
    let symbol = "";
    let lo12: SymbolRef | undefined;
    if (m[2] !== undefined) {
      const offCol = o.column + o.text.indexOf(m[2]);
      const off = { text: m[2], column: offCol };
      const lo = /^:lo12:\s*([A-Za-z_.$][\w.$]*|\d+[bf])$/.exec(m[2]);
      if (lo) {
        lo12 = { kind: "lo12", operand: off, name: lo[1]! };
      } else {
        if (!this.#isImm(off)) {
          this.#err(
            { line: s.line, column: offCol },
            m[2],
            "register offsets are not supported",
            "an immediate offset #imm or #CONSTANT, or :lo12:symbol",
          );
        }
        imm = BigInt.asIntN(64, this.imm(off, s));
        const sm = /^#?\s*([A-Za-z_]\w*)$/.exec(m[2]);
        if (sm) symbol = sm[1]!;
      }
    }
    if (m[3] === "!" && m[2] === undefined) {
      this.#err(
        { line: s.line, column: o.column },
        o.text,
        "pre-index needs an offset",
        "[xn, #imm]!",
      );
    }
    return lo12 === undefined
      ? { rn, imm, pre: m[3] === "!", symbol }
      : { rn, imm, pre: m[3] === "!", symbol, lo12 };
  }

  /**
   * Decodes one instruction.
   * @param s The statement.
   * @param mn Mnemonic, lower case.
   * @param ops Operands.
   * @returns The fields, and a label or symbol reference to resolve.
   * @throws {A64SyntaxError} An unknown mnemonic or a bad operand.
   */
  decode(s: Stmt, mn: string, ops: Operand[]): Decoded {
    const at = (o: Operand) => ({ line: s.line, column: o.column });
    const d = (fields: Decoded["fields"], ref?: SymbolRef): Decoded =>
      ref === undefined ? { fields, mnemonic: mn } : { fields, mnemonic: mn, ref };
    if (mn.startsWith("b.")) {
      this.#count(s, ops, 1, 1, "b.<cond> label");
      const cond = this.#cond({ text: mn.slice(2), column: s.column + 2 }, s);
      return d({ op: Op.BCOND, cond }, this.#label(ops[0]!, s));
    }
    switch (mn) {
      case "nop":
      case "eret":
        this.#count(s, ops, 0, 0, mn);
        return d({ op: mn === "nop" ? Op.NOP : Op.ERET });
      case "wfe":
      case "wfi":
      case "yield":
      case "sev":
      case "sevl":
        this.#count(s, ops, 0, 0, mn);
        return d({ op: Op.HINT, operation: mn });
      case "bti": {
        this.#count(s, ops, 0, 1, "bti [c|j|jc]");
        const t = ops[0]?.text.toLowerCase() ?? "";
        if (!["", "c", "j", "jc"].includes(t)) {
          this.#err(at(ops[0]!), ops[0]!.text, "bad bti target", "c, j, jc");
        }
        return d({ op: Op.HINT, operation: "bti" });
      }
      case "hint": {
        this.#count(s, ops, 1, 1, "hint #imm");
        const v = this.#small(ops[0], s, 127, "hint number");
        // hint #32..#38 (even) are the BTI forms the kernel's `bti` macro emits.
        const named = ["nop", "yield", "wfe", "wfi", "sev", "sevl"][v];
        if (named === "nop") return d({ op: Op.NOP });
        return d({
          op: Op.HINT,
          operation: named ?? (v >= 32 && v <= 38 && v % 2 === 0 ? "bti" : "hint"),
        });
      }
      case "isb": {
        this.#count(s, ops, 0, 1, "isb, isb sy");
        if (ops[0] && ops[0].text.toLowerCase() !== "sy") {
          this.#err(at(ops[0]), ops[0].text, "bad isb option", "sy");
        }
        return d({ op: Op.ISB, operation: "sy" });
      }
      case "dsb":
      case "dmb": {
        this.#count(s, ops, 1, 1, `${mn} <option>`);
        const opt = ops[0]!.text.toLowerCase();
        const b = Object.hasOwn(BARRIER_OPTIONS, opt) ? BARRIER_OPTIONS[opt] : undefined;
        if (b === undefined) {
          this.#err(
            at(ops[0]!),
            ops[0]!.text,
            `bad ${mn} option`,
            Object.keys(BARRIER_OPTIONS).join(", "),
          );
        }
        return d({
          op: mn === "dsb" ? Op.DSB : Op.DMB,
          operation: opt,
          domain: b[0],
          barrierType: b[1],
        });
      }
      case "tlbi":
      case "ic": {
        const table = mn === "tlbi" ? TLBI_OPS : IC_OPS;
        this.#count(s, ops, 1, 2, `${mn} <op>[, xt]`);
        const name = ops[0]!.text.toLowerCase();
        const t = Object.hasOwn(table, name) ? table[name] : undefined;
        if (t === undefined) {
          this.#err(
            at(ops[0]!),
            ops[0]!.text,
            `unsupported ${mn} operation`,
            Object.keys(table).join(", "),
          );
        }
        if (t.va !== (ops.length === 2)) {
          this.#err(
            s,
            s.text,
            t.va ? `${mn} ${name} needs a register` : `${mn} ${name} takes no register`,
            t.va ? `${mn} ${name}, xt` : `${mn} ${name}`,
          );
        }
        return d({
          op: mn === "tlbi" ? Op.TLBI : Op.IC,
          operation: name,
          rn: t.va ? this.#reg(ops[1], s, "src") : -1,
        });
      }
      case "dc": {
        this.#count(s, ops, 2, 2, "dc civac|cvac, xt");
        const name = ops[0]!.text.toLowerCase();
        if (!DC_OPS.includes(name)) {
          this.#err(at(ops[0]!), ops[0]!.text, "unsupported dc operation", DC_OPS.join(", "));
        }
        return d({ op: Op.DC, operation: name, rn: this.#reg(ops[1], s, "src") });
      }
      case "mrs":
      case "msr":
        return this.#sysreg(s, mn, ops);
      case "mov":
        return this.#mov(s, ops);
      case "movz":
      case "movk":
      case "movn": {
        this.#count(s, ops, 2, 3, `${mn} xd, #imm16[, lsl #0|16|32|48]`);
        const rd = this.#reg(ops[0], s, "dst");
        // The group relocations of asm/assembler.h's mov_q: :abs_gN[_s|_nc]:value.
        const rel = /^#?:abs_g([0-3])(_s|_nc)?:(.+)$/i.exec(ops[1]?.text ?? "");
        if (rel && ops.length === 2) {
          const group = Number(rel[1]);
          const value = BigInt.asIntN(
            64,
            this.imm({ text: rel[3]!, column: ops[1]!.column + rel[0].length - rel[3]!.length }, s),
          );
          const chunkOf = (x: bigint) => (BigInt.asUintN(64, x) >> BigInt(16 * group)) & 0xffffn;
          // A signed group on a negative value is a MOVN of the inverted chunk.
          const neg = rel[2]?.toLowerCase() === "_s" && value < 0n && mn !== "movk";
          return d({
            op: mn === "movk" ? Op.MOVK : neg ? Op.MOVN : mn === "movn" ? Op.MOVN : Op.MOVZ,
            rd,
            imm: neg ? chunkOf(~value) : chunkOf(value),
            shift: 16 * group,
          });
        }
        let v = this.imm(ops[1], s);
        let sh = 0;
        if (ops[2]) {
          const [kind, amount] = this.#shiftOperand(ops[2], s);
          if (kind !== Shift.LSL || amount % 16 !== 0) {
            this.#err(at(ops[2]), ops[2].text, "bad shift", "lsl #0, #16, #32 or #48");
          }
          sh = amount;
        } else if (v > 0xffffn && singleChunk(v) > 0) {
          sh = singleChunk(v);
          v >>= BigInt(sh);
        }
        if (v > 0xffffn) {
          this.#err(at(ops[1]!), ops[1]!.text, "immediate above 16 bits", "#0..#0xffff");
        }
        const op = mn === "movz" ? Op.MOVZ : mn === "movk" ? Op.MOVK : Op.MOVN;
        return d({ op, rd, imm: v, shift: sh });
      }
      case "mvn":
      case "neg": {
        this.#count(s, ops, 2, 3, `${mn} xd, xm[, shift]`);
        const rd = this.#reg(ops[0], s, "dst");
        const rm = this.#reg(ops[1], s, "src");
        const [shiftKind, shift] = this.#shiftOperand(ops[2], s);
        return d({ op: mn === "mvn" ? Op.ORN_REG : Op.SUB_REG, rd, rn: XZR, rm, shiftKind, shift });
      }
      case "orr":
      case "and":
      case "bic":
      case "eor":
      case "orn":
      case "ands":
      case "tst":
        return this.#logical(s, mn, ops);
      case "add":
      case "sub":
      case "adds":
      case "subs":
      case "cmp":
      case "cmn":
        return this.#arith(s, mn, ops);
      case "ccmp":
      case "ccmn": {
        this.#count(s, ops, 4, 4, `${mn} xn, #imm5|xm, #nzcv, cond`);
        const rn = this.#reg(ops[0], s, "src");
        const nzcv = this.#small(ops[2], s, 15, "nzcv");
        const cond = this.#cond(ops[3], s);
        if (this.#isImm(ops[1])) {
          const imm = BigInt(this.#small(ops[1], s, 31, "immediate"));
          return d({ op: mn === "ccmp" ? Op.CCMP_IMM : Op.CCMN_IMM, rn, imm, imm2: nzcv, cond });
        }
        const rm = this.#reg(ops[1], s, "src");
        return d({ op: mn === "ccmp" ? Op.CCMP_REG : Op.CCMN_REG, rn, rm, imm2: nzcv, cond });
      }
      case "lsl":
      case "lsr":
      case "asr": {
        this.#count(s, ops, 3, 3, `${mn} xd, xn, #n | ${mn} xd, xn, xm`);
        const rd = this.#reg(ops[0], s, "dst");
        const rn = this.#reg(ops[1], s, "src");
        if (this.#isImm(ops[2])) {
          const n = this.imm(ops[2], s);
          if (n > 63n) this.#err(at(ops[2]!), ops[2]!.text, "shift amount above 63", "#0..#63");
          const op = mn === "lsl" ? Op.LSL_IMM : mn === "lsr" ? Op.LSR_IMM : Op.ASR_IMM;
          return d({ op, rd, rn, shift: Number(n) });
        }
        const rm = this.#reg(ops[2], s, "src");
        const op = mn === "lsl" ? Op.LSL_REG : mn === "lsr" ? Op.LSR_REG : Op.ASR_REG;
        return d({ op, rd, rn, rm });
      }
      case "ubfx":
      case "sbfx":
      case "ubfiz":
      case "sbfiz":
      case "bfi":
      case "bfxil": {
        this.#count(s, ops, 4, 4, `${mn} xd, xn, #lsb, #width`);
        const rd = this.#reg(ops[0], s, "dst");
        const rn = this.#reg(ops[1], s, "src");
        const lsb = this.#small(ops[2], s, 63, "lsb");
        const width = this.#small(ops[3], s, 64, "width");
        if (width < 1 || lsb + width > 64) {
          this.#err(
            s,
            s.text,
            `bitfield #${lsb}, #${width} leaves the register`,
            "lsb + width <= 64, width >= 1",
          );
        }
        const op = {
          ubfx: Op.UBFX,
          sbfx: Op.SBFX,
          ubfiz: Op.UBFIZ,
          sbfiz: Op.SBFIZ,
          bfi: Op.BFI,
          bfxil: Op.BFXIL,
        }[mn];
        return d({ op, rd, rn, shift: lsb, imm2: width });
      }
      case "csel":
      case "csinc":
      case "csinv":
      case "csneg": {
        this.#count(s, ops, 4, 4, `${mn} xd, xn, xm, cond`);
        const op = { csel: Op.CSEL, csinc: Op.CSINC, csinv: Op.CSINV, csneg: Op.CSNEG }[mn];
        return d({
          op,
          rd: this.#reg(ops[0], s, "dst"),
          rn: this.#reg(ops[1], s, "src"),
          rm: this.#reg(ops[2], s, "src"),
          cond: this.#cond(ops[3], s),
        });
      }
      case "cset":
      case "csetm": {
        // cset xd, cond = csinc xd, xzr, xzr, invert(cond).
        this.#count(s, ops, 2, 2, `${mn} xd, cond`);
        const cond = this.#cond(ops[1], s) ^ 1;
        const op = mn === "cset" ? Op.CSINC : Op.CSINV;
        return d({ op, rd: this.#reg(ops[0], s, "dst"), rn: XZR, rm: XZR, cond });
      }
      case "cinc":
      case "cinv":
      case "cneg": {
        this.#count(s, ops, 3, 3, `${mn} xd, xn, cond`);
        const rn = this.#reg(ops[1], s, "src");
        const cond = this.#cond(ops[2], s) ^ 1;
        const op = { cinc: Op.CSINC, cinv: Op.CSINV, cneg: Op.CSNEG }[mn];
        return d({ op, rd: this.#reg(ops[0], s, "dst"), rn, rm: rn, cond });
      }
      case "adr":
      case "adrp": {
        this.#count(s, ops, 2, 2, `${mn} xd, label`);
        const rd = this.#reg(ops[0], s, "dst");
        const t = ops[1]!.text;
        if (!SYM_NAME.test(t) && !/^\d+[bf]$/.test(t)) {
          this.#err(at(ops[1]!), t, "not a label or symbol", "a label, 1b / 1f, or a symbol name");
        }
        return d({ op: mn === "adr" ? Op.ADR : Op.ADRP, rd }, {
          kind: "adr",
          operand: ops[1]!,
          name: t,
        });
      }
      case "ldr":
      case "str":
        return this.#loadStore(s, mn, ops);
      case "ldp":
      case "stp": {
        this.#count(s, ops, 3, 4, `${mn} xt1, xt2, [xn{, #imm}] | [xn, #imm]! | [xn], #imm`);
        const role = mn === "ldp" ? "dst" : "src";
        const rd = this.#reg(ops[0], s, role);
        const rm = this.#reg(ops[1], s, role);
        const mem = this.#memOperand(ops[2], s);
        if (mem.lo12) this.#err(at(ops[2]!), ops[2]!.text, ":lo12: in a pair", "ldr/str");
        let mode: number = mem.pre ? AddrMode.PRE : AddrMode.OFFSET;
        let imm = mem.imm;
        if (ops[3]) {
          if (mem.pre || mem.imm !== 0n) {
            this.#err(at(ops[3]), ops[3].text, "post-index after an offset", "[xn], #imm");
          }
          mode = AddrMode.POST;
          imm = BigInt.asIntN(64, this.imm(ops[3], s));
        }
        if (imm < -512n || imm > 504n || imm % 8n !== 0n) {
          this.#err(s, s.text, `offset ${imm} out of range`, "-512..504 in steps of 8");
        }
        if (mn === "ldp" && rd === rm && rd !== SINK) {
          this.#err(s, s.text, "ldp with the same register twice", "two different registers");
        }
        return d({ op: mn === "ldp" ? Op.LDP : Op.STP, rd, rm, rn: mem.rn, imm, mode });
      }
      case "b":
      case "bl":
        this.#count(s, ops, 1, 1, `${mn} label`);
        return d({ op: mn === "b" ? Op.B : Op.BL }, this.#label(ops[0]!, s));
      case "cbz":
      case "cbnz": {
        this.#count(s, ops, 2, 2, `${mn} xt, label`);
        const rn = this.#reg(ops[0], s, "src");
        return d({ op: mn === "cbz" ? Op.CBZ : Op.CBNZ, rn }, this.#label(ops[1]!, s));
      }
      case "tbz":
      case "tbnz": {
        this.#count(s, ops, 3, 3, `${mn} xt, #bit, label`);
        const rn = this.#reg(ops[0], s, "src");
        const bit = this.#small(ops[1], s, 63, "bit number");
        return d({ op: mn === "tbz" ? Op.TBZ : Op.TBNZ, rn, imm2: bit }, this.#label(ops[2]!, s));
      }
      case "br":
      case "blr":
      case "ret": {
        this.#count(s, ops, mn === "ret" ? 0 : 1, 1, mn === "ret" ? "ret [xn]" : `${mn} xn`);
        const rn = ops[0] ? this.#reg(ops[0], s, "src") : 30;
        const op = mn === "br" ? Op.BR : mn === "blr" ? Op.BLR : Op.RET;
        return d({ op, rn });
      }
      case "hvc": {
        this.#count(s, ops, 1, 1, "hvc #imm16");
        const v = this.imm(ops[0], s);
        if (v > 0xffffn) {
          this.#err(at(ops[0]!), ops[0]!.text, "immediate above 16 bits", "#0..#0xffff");
        }
        return d({ op: Op.HVC, imm: v });
      }
      default:
        this.#err(
          s,
          s.text,
          `unknown instruction or macro "${mn}"`,
          `the instructions ${A64_MNEMONICS.join(", ")}`,
        );
    }
  }

  #sysreg(s: Stmt, mn: "mrs" | "msr", ops: Operand[]): Decoded {
    const at = (o: Operand) => ({ line: s.line, column: o.column });
    this.#count(s, ops, 2, 2, mn === "mrs" ? "mrs xt, <sysreg>" : "msr <sysreg>, xt");
    const regOp = mn === "mrs" ? ops[1]! : ops[0]!;
    if (mn === "msr" && PSTATE_FIELDS.includes(regOp.text.toLowerCase()) && this.#isImm(ops[1])) {
      const field = regOp.text.toLowerCase();
      const v = this.#small(ops[1], s, 15, "immediate");
      if (field === "spsel" && v > 1) {
        this.#err(at(ops[1]!), ops[1]!.text, "SPSel takes #0 or #1", "#0, #1");
      }
      return { fields: { op: Op.MSR_IMM, operation: field, imm2: v }, mnemonic: mn };
    }
    const def = resolveSysreg(regOp.text);
    if (def === undefined) {
      this.#err(
        at(regOp),
        regOp.text,
        "unknown system register",
        `${A64_SYSREG_NAMES.join(", ")}, or s<op0>_<op1>_c<n>_c<m>_<op2>`,
      );
    }
    if (mn === "msr") {
      if (def.readOnly) {
        this.#err(at(regOp), regOp.text, `${def.name} is read-only`, "a writable register");
      }
      if (this.#isImm(ops[1])) {
        this.#err(
          at(ops[1]!),
          ops[1]!.text,
          "msr with an immediate is not supported",
          `msr <sysreg>, xt; msr ${PSTATE_FIELDS.join("|")}, #imm`,
        );
      }
      return {
        fields: { op: Op.MSR, sysreg: def.name, rn: this.#reg(ops[1], s, "src") },
        mnemonic: mn,
      };
    }
    return {
      fields: { op: Op.MRS, sysreg: def.name, rd: this.#reg(ops[0], s, "dst") },
      mnemonic: mn,
    };
  }

  #mov(s: Stmt, ops: Operand[]): Decoded {
    const at = (o: Operand) => ({ line: s.line, column: o.column });
    this.#count(s, ops, 2, 2, "mov xd, xn | mov xd, #imm | mov sp, xn | mov xd, sp");
    if (this.#isImm(ops[1])) {
      const rd = this.#reg(ops[0], s, "dst");
      const v = this.imm(ops[1], s);
      if (
        singleChunk(v) < 0 && singleChunk(BigInt.asUintN(64, ~v)) < 0 && !isBitmaskImmediate(v)
      ) {
        this.#err(
          at(ops[1]!),
          ops[1]!.text,
          "immediate cannot be encoded in one mov",
          "a 16-bit chunk, its inverse, or a bitmask immediate (use mov_q for others)",
        );
      }
      return { fields: { op: Op.MOV_IMM, rd, imm: v }, mnemonic: "mov" };
    }
    const dstSp = ops[0]!.text.toLowerCase() === "sp";
    const srcSp = ops[1]!.text.toLowerCase() === "sp";
    // MOV to or from SP is ADD #0, where register 31 means SP: no xzr there.
    const rd = this.#reg(ops[0], s, "dst", dstSp || srcSp);
    const rn = this.#reg(ops[1], s, "src", dstSp || srcSp);
    return { fields: { op: Op.MOV_REG, rd, rn }, mnemonic: "mov" };
  }

  #logical(s: Stmt, mn: string, ops: Operand[]): Decoded {
    const at = (o: Operand) => ({ line: s.line, column: o.column });
    const test = mn === "tst";
    const lo = test ? 2 : 3;
    this.#count(
      s,
      ops,
      lo,
      lo + 1,
      test
        ? "tst xn, #imm | tst xn, xm[, shift]"
        : `${mn} xd, xn, #imm | ${mn} xd, xn, xm[, lsl|lsr|asr #n]`,
    );
    const rd = test ? SINK : this.#reg(ops[0], s, "dst");
    const rest = test ? ops : ops.slice(1);
    const rn = this.#reg(rest[0], s, "src");
    const flags = mn === "ands" || test;
    if (this.#isImm(rest[1])) {
      if (rest[2]) {
        this.#err(at(rest[2]), rest[2].text, "no shift with an immediate", `${mn} xd, xn, #imm`);
      }
      if (mn === "orn") {
        this.#err(at(rest[1]!), rest[1]!.text, "orn takes registers", "orn xd, xn, xm");
      }
      let v = this.imm(rest[1], s);
      // gas takes `bic xd, xn, #imm` as `and xd, xn, #~imm`.
      if (mn === "bic") v = BigInt.asUintN(64, ~v);
      if (!isBitmaskImmediate(v)) {
        this.#err(
          at(rest[1]!),
          rest[1]!.text,
          "not a logical (bitmask) immediate",
          "a rotated run of ones, replicated",
        );
      }
      const op = mn === "orr"
        ? Op.ORR_IMM
        : mn === "eor"
        ? Op.EOR_IMM
        : flags
        ? Op.ANDS_IMM
        : Op.AND_IMM;
      return { fields: { op, rd, rn, imm: v }, mnemonic: mn };
    }
    const rm = this.#reg(rest[1], s, "src");
    const [shiftKind, shift] = this.#shiftOperand(rest[2], s);
    const op = {
      orr: Op.ORR_REG,
      and: Op.AND_REG,
      bic: Op.BIC_REG,
      eor: Op.EOR_REG,
      orn: Op.ORN_REG,
      ands: Op.ANDS_REG,
      tst: Op.ANDS_REG,
    }[mn]!;
    return { fields: { op, rd, rn, rm, shiftKind, shift }, mnemonic: mn };
  }

  #arith(s: Stmt, mn: string, ops: Operand[]): Decoded {
    const at = (o: Operand) => ({ line: s.line, column: o.column });
    const compare = mn === "cmp" || mn === "cmn";
    const lo = compare ? 2 : 3;
    this.#count(
      s,
      ops,
      lo,
      lo + 1,
      compare
        ? `${mn} xn, #imm | ${mn} xn, xm[, shift]`
        : `${mn} xd, xn, #imm[, lsl #12] | ${mn} xd, xn, xm[, lsl #n]`,
    );
    const rest = compare ? ops : ops.slice(1);
    const flags = compare || mn === "adds" || mn === "subs";
    const add = mn === "add" || mn === "adds" || mn === "cmn";
    const lo12 = /^#?:lo12:\s*([A-Za-z_.$][\w.$]*|\d+[bf])$/.exec(rest[1]?.text ?? "");
    if (lo12 && add && !flags) {
      const rd = this.#reg(ops[0], s, "dst", ops[0]!.text.toLowerCase() === "sp");
      const rn = this.#reg(rest[0], s, "src", rest[0]!.text.toLowerCase() === "sp");
      return {
        fields: { op: Op.ADD_IMM, rd, rn, imm: 0n },
        mnemonic: mn,
        ref: { kind: "lo12", operand: rest[1]!, name: lo12[1]! },
      };
    }
    if (this.#isImm(rest[1])) {
      const spOk = (o: Operand | undefined) => o !== undefined && o.text.toLowerCase() === "sp";
      const rd = compare ? SINK : this.#reg(ops[0], s, "dst", !flags && spOk(ops[0]));
      const rn = this.#reg(rest[0], s, "src", spOk(rest[0]));
      let v = BigInt.asIntN(64, this.imm(rest[1], s));
      if (rest[2]) {
        const [kind, amount] = this.#shiftOperand(rest[2], s);
        if (kind !== Shift.LSL || (amount !== 0 && amount !== 12)) {
          this.#err(at(rest[2]), rest[2].text, "bad shift", "lsl #0 or lsl #12");
        }
        v <<= BigInt(amount);
      }
      let isAdd = add;
      if (v < 0n) {
        v = -v;
        isAdd = !isAdd;
      }
      if (!(v <= 0xfffn || ((v & 0xfffn) === 0n && v >> 12n <= 0xfffn))) {
        this.#err(
          at(rest[1]!),
          rest[1]!.text,
          "immediate out of range",
          "0..4095, optionally shifted left by 12",
        );
      }
      const op = flags ? (isAdd ? Op.ADDS_IMM : Op.SUBS_IMM) : (isAdd ? Op.ADD_IMM : Op.SUB_IMM);
      return { fields: { op, rd, rn, imm: v }, mnemonic: mn };
    }
    const rd = compare ? SINK : this.#reg(ops[0], s, "dst");
    const rn = this.#reg(rest[0], s, "src");
    const rm = this.#reg(rest[1], s, "src");
    const [shiftKind, shift] = this.#shiftOperand(rest[2], s);
    const op = flags ? (add ? Op.ADDS_REG : Op.SUBS_REG) : (add ? Op.ADD_REG : Op.SUB_REG);
    return { fields: { op, rd, rn, rm, shiftKind, shift }, mnemonic: mn };
  }

  #loadStore(s: Stmt, mn: string, ops: Operand[]): Decoded {
    const at = (o: Operand) => ({ line: s.line, column: o.column });
    this.#count(s, ops, 2, 3, `${mn} xt, [xn{, #imm}] | [xn, #imm]! | [xn], #imm | ldr xt, =value`);
    const rd = this.#reg(ops[0], s, mn === "ldr" ? "dst" : "src");
    if (ops[1] && ops[1].text.startsWith("=")) {
      if (mn !== "ldr" || ops.length !== 2) {
        this.#err(at(ops[1]), ops[1].text, "a literal only loads", "ldr xt, =value");
      }
      const body = { text: ops[1].text.slice(1).trim(), column: ops[1].column + 1 };
      if (SYM_NAME.test(body.text) && this.#symbols[body.text] === undefined) {
        return {
          fields: { op: Op.LDR_LIT, rd },
          mnemonic: mn,
          ref: { kind: "literal", operand: body, name: body.text },
        };
      }
      return { fields: { op: Op.LDR_LIT, rd, imm: this.imm(body, s) }, mnemonic: mn };
    }
    const mem = this.#memOperand(ops[1], s);
    let mode: number = mem.pre ? AddrMode.PRE : AddrMode.OFFSET;
    let imm = mem.imm;
    if (ops[2]) {
      if (mem.pre || mem.imm !== 0n || mem.lo12) {
        this.#err(at(ops[2]), ops[2].text, "post-index after an offset", "[xn], #imm");
      }
      mode = AddrMode.POST;
      imm = BigInt.asIntN(64, this.imm(ops[2], s));
    }
    const ok = mode === AddrMode.OFFSET
      ? (imm >= 0n && imm <= 32760n && imm % 8n === 0n) || (imm >= -256n && imm <= 255n)
      : imm >= -256n && imm <= 255n;
    if (!ok) {
      this.#err(
        s,
        s.text,
        `offset ${imm} out of range`,
        mode === AddrMode.OFFSET ? "0..32760 in steps of 8, or -256..255" : "-256..255",
      );
    }
    const fields = {
      op: mn === "ldr" ? Op.LDR : Op.STR,
      rd,
      rn: mem.rn,
      imm,
      mode,
      offsetSymbol: mem.symbol,
    };
    return mem.lo12 === undefined
      ? { fields, mnemonic: mn }
      : { fields, mnemonic: mn, ref: mem.lo12 };
  }
}
