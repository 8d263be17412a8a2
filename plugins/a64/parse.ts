/**
 * The A64 parser for the EL2 system subset, accepting the kernel's own text:
 * labels (named and numeric `1:` / `1b` / `1f`), `//` and `/* *\/` comments,
 * `;` separators, `#imm` and `#CONSTANT` operands, `SYM_FUNC_START/END`,
 * `SYM_TYPED_FUNC_START`, `SYM_CODE_START/END`, `alternative_*` blocks resolved
 * by the configured CPU features, and the macros of `macros.ts`.
 *
 * Anything else is an {@link A64SyntaxError} naming `line:column`, the text
 * and what is supported.
 *
 * @module
 */

import { SYSREG_DEFS } from "../../core/mod.ts";
import { A64SyntaxError } from "./errors.ts";
import { evalExpr, ExprError } from "./expr.ts";
import { A64_MACROS } from "./macros.ts";
import {
  AddrMode,
  BARRIER_OPTIONS,
  DC_OPS,
  IC_OPS,
  Op,
  Shift,
  SINK,
  SP,
  TLBI_OPS,
  XZR,
} from "./opcodes.ts";
import { type A64Instruction, type A64Program, BLANK_INSTRUCTION } from "./program.ts";
import { A64_SYMBOLS, ALTERNATIVE_CAPS } from "./symbols.ts";

/** Options of {@link parseA64}. */
export interface A64ParseOptions {
  /** CPU features (`cnp`, `ets`) for `alternative_if`. */
  features?: readonly string[];
  /** Errata (`falkor-e1041`, `tx2-219`) for alternatives and `pre_disable_mmu_workaround`. */
  errata?: readonly string[];
  /** Extra or overriding constants for `#NAME` operands. */
  symbols?: Readonly<Record<string, bigint | number>>;
}

/** The mnemonics the parser accepts, as listed in error messages. */
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
  "orr",
  "bic",
  "and",
  "add",
  "sub",
  "lsl",
  "lsr",
  "ldr",
  "str",
  "ldp",
  "stp",
  "b",
  "bl",
  "br",
  "blr",
  "ret",
  "cbz",
  "cbnz",
  "hvc",
  "eret",
  "nop",
];

const SUPPORTED_STATEMENTS = `the instructions ${A64_MNEMONICS.join(", ")}; the macros ${
  Object.keys(A64_MACROS).join(", ")
}; labels; SYM_FUNC_START/SYM_TYPED_FUNC_START/SYM_FUNC_END/SYM_CODE_START/SYM_CODE_END(name); alternative_if, alternative_if_not, alternative_else, alternative_endif, alternative_else_nop_endif`;

const SYSREG_LIST = Object.keys(SYSREG_DEFS).map((n) => n.toLowerCase()).join(", ");

interface Stmt {
  text: string;
  line: number;
  column: number;
  macro?: string;
}

interface Operand {
  text: string;
  /** 1-based column of the operand. */
  column: number;
}

interface AltFrame {
  cap: string;
  cond: boolean;
  parentActive: boolean;
  inElse: boolean;
  line: number;
  column: number;
  /** Instructions of the if-branch when it was inactive (for alternative_else_nop_endif). */
  skipped: { line: number; column: number; text: string }[];
}

interface BranchRef {
  index: number;
  label: string;
  seq: number;
  line: number;
  column: number;
  text: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Replaces block comments by spaces (newlines kept) so columns stay right. */
function stripBlockComments(source: string): string {
  let start = source.indexOf("/*");
  if (start < 0) return source;
  const parts: string[] = [];
  let i = 0;
  while (start >= 0) {
    parts.push(source.slice(i, start));
    const end = source.indexOf("*/", start + 2);
    if (end < 0) {
      const before = source.slice(0, start);
      const line = before.split("\n").length;
      const column = start - before.lastIndexOf("\n");
      throw new A64SyntaxError(line, column, "/*", "unterminated block comment", "/* ... */");
    }
    // Each line of the comment becomes as many spaces (cheaper than a regex).
    const lines = source.slice(start, end + 2).split("\n");
    for (let k = 0; k < lines.length; k++) lines[k] = " ".repeat(lines[k]!.length);
    parts.push(lines.join("\n"));
    i = end + 2;
    start = source.indexOf("/*", i);
  }
  parts.push(source.slice(i));
  return parts.join("");
}

/**
 * A statement's text with whitespace runs as one space and commas as ", ":
 * exactly `text.replace(/\s+/g, " ").replace(/\s*,\s*\/g, ", ")`, done in
 * one scan for ASCII text (the regular expressions serve the rest).
 */
function normalizeText(text: string): string {
  let out = "";
  let from = 0; // text[from, i) is copied as is
  // What ends `out`: 0 other, 1 a collapsed space, 2 the space of a ", ".
  let tail = 0;
  let changed = false;
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c >= 127) return normalizeSlow(text); // a character that might be \s
    if (c === 32 || (c >= 9 && c <= 13)) {
      let j = i + 1;
      while (j < text.length) {
        const d = text.charCodeAt(j);
        if (d !== 32 && !(d >= 9 && d <= 13)) break;
        j++;
      }
      if (c !== 32 || j > i + 1) changed = true;
      out += text.slice(from, i);
      if (tail === 2 && from === i) {
        // Already the space after a comma (the comma's \s* took this run).
        changed = true;
      } else {
        out += " ";
        tail = 1;
      }
      from = i = j;
      continue;
    }
    if (c === 44) {
      out += text.slice(from, i);
      if (from === i && tail === 1) {
        out = out.slice(0, -1); // the \s* before the comma
        changed = true;
      }
      out += ", ";
      tail = 2;
      let j = i + 1;
      while (j < text.length) {
        const d = text.charCodeAt(j);
        if (d !== 32 && !(d >= 9 && d <= 13)) break;
        j++;
      }
      if (j !== i + 2 || text.charCodeAt(i + 1) !== 32) changed = true;
      from = i = j;
      continue;
    }
    if (from === i) tail = 0;
    i++;
  }
  if (!changed) return text;
  return out + text.slice(from);
}

function normalizeSlow(text: string): string {
  return text.replace(/\s+/g, " ").replace(/\s*,\s*/g, ", ");
}

/** Splits operands at top-level commas, keeping their columns. */
function splitOperands(text: string, column: number): Operand[] {
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
 * The 1-based column of each macro argument in the invocation, split as the
 * parser splits them: at commas, or (`spaced`) at commas and whitespace.
 * @param rest The text after the macro name.
 * @param column Column of `rest`'s first character.
 * @param spaced Whether the arguments are separated by whitespace.
 */
function macroArgColumns(rest: string, column: number, spaced: boolean): number[] {
  const out: number[] = [];
  for (const m of rest.matchAll(spaced ? /[^\s,]+/g : /[^,]+/g)) {
    const lead = m[0].length - m[0].trimStart().length;
    if (m[0].trim() !== "") out.push(column + m.index + lead);
  }
  return out;
}

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
 */
function isBitmaskImmediate(value: bigint): boolean {
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
 * Parses A64 assembly in the kernel's spelling.
 *
 * @param source The assembly text.
 * @param options Features and errata (for alternatives and macros), extra constants.
 * @returns The program: decoded instructions with source positions, and labels.
 * @throws {A64SyntaxError} With `line:column`, the text and what is supported.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseA64 } from "./mod.ts";
 * const p = parseA64("bic x4, x3, #SCTLR_ELx_M // M off\nset_sctlr_el2 x3");
 * assertEquals(p.instructions.map((i) => i.text), [
 *   "bic x4, x3, #SCTLR_ELx_M", "msr sctlr_el2, x3", "isb", "ic iallu", "dsb nsh", "isb",
 * ]);
 * assertEquals(p.instructions[5]!.line, 2); // expansions keep the invocation's line
 * ```
 */
export function parseA64(source: string, options: A64ParseOptions = {}): A64Program {
  return new Parser(source, options).parse();
}

class Parser {
  #source: string;
  #features: Set<string>;
  #errata: Set<string>;
  #symbols: Record<string, bigint>;
  #out: Mutable<A64Instruction>[] = [];
  #labels = new Map<string, number>();
  #numeric = new Map<string, { seq: number; index: number }[]>();
  #refs: BranchRef[] = [];
  #seq = 0;
  #alts: AltFrame[] = [];
  #syms: { name: string; line: number }[] = [];

  constructor(source: string, options: A64ParseOptions) {
    this.#source = source;
    this.#features = new Set(options.features ?? []);
    this.#errata = new Set(options.errata ?? []);
    // A null-prototype table, so `#constructor` is an unknown constant, not Object's.
    this.#symbols = Object.assign(Object.create(null), A64_SYMBOLS);
    for (const [k, v] of Object.entries(options.symbols ?? {})) this.#symbols[k] = BigInt(v);
  }

  get #active(): boolean {
    const f = this.#alts[this.#alts.length - 1];
    if (f === undefined) return true;
    return f.parentActive && (f.inElse ? !f.cond : f.cond);
  }

  parse(): A64Program {
    const lines = stripBlockComments(this.#source).split("\n");
    lines.forEach((raw, li) => {
      const line = li + 1;
      let text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      const cut = text.indexOf("//");
      if (cut >= 0) text = text.slice(0, cut);
      if (text.includes("#") && /^\s*#/.test(text)) {
        const col = text.indexOf("#") + 1;
        throw new A64SyntaxError(
          line,
          col,
          text.trim(),
          "C preprocessor directive",
          "plain assembly (the built-in macros and #CONSTANT operands stand in for the headers)",
        );
      }
      let start = 0;
      for (;;) {
        const semi = text.indexOf(";", start);
        const i = semi < 0 ? text.length : semi;
        const piece = text.slice(start, i);
        const trimmed = piece.trim();
        if (trimmed !== "") {
          const lead = piece.length - piece.trimStart().length;
          this.#statement({ text: trimmed, line, column: start + lead + 1 }, 0);
        }
        if (semi < 0) break;
        start = i + 1;
      }
    });
    const open = this.#alts[this.#alts.length - 1];
    if (open !== undefined) {
      throw new A64SyntaxError(
        open.line,
        open.column,
        `alternative_if ${open.cap}`,
        "alternative block never closed",
        "alternative_endif or alternative_else_nop_endif",
      );
    }
    this.#resolveBranches();
    return {
      source: this.#source,
      instructions: this.#out.map((i) => Object.freeze(i)),
      labels: this.#labels,
    };
  }

  #err(
    s: { line: number; column: number },
    text: string,
    problem: string,
    supported: string,
  ): never {
    throw new A64SyntaxError(s.line, s.column, text, problem, supported);
  }

  #statement(s: Stmt, depth: number): void {
    // Leading labels.
    while (s.text.includes(":")) {
      const m = /^([A-Za-z_.$][\w.$]*|\d+)\s*:/.exec(s.text);
      if (!m) break;
      this.#defineLabel(m[1]!, s);
      const rest = s.text.slice(m[0].length);
      const lead = rest.length - rest.trimStart().length;
      s = { ...s, text: rest.trim(), column: s.column + m[0].length + lead };
      if (s.text === "") return;
    }
    const sym = s.text.startsWith("SYM_") &&
      /^(SYM_FUNC_START|SYM_TYPED_FUNC_START|SYM_FUNC_START_LOCAL|SYM_CODE_START|SYM_CODE_START_LOCAL|SYM_FUNC_END|SYM_CODE_END)\s*\(\s*([A-Za-z_.$][\w.$]*)\s*\)$/
        .exec(s.text);
    if (sym) {
      const [, kind, name] = sym;
      if (kind!.endsWith("_END")) {
        const top = this.#syms.pop();
        if (top === undefined || top.name !== name) {
          this.#err(
            s,
            s.text,
            top ? `${kind}(${name}) closes ${top.name}` : `${kind}(${name}) without a start`,
            `a ${kind!.replace("_END", "_START")}(${name}) earlier`,
          );
        }
      } else {
        this.#syms.push({ name: name!, line: s.line });
        this.#defineLabel(name!, s);
      }
      return;
    }
    if (s.text.startsWith("SYM_") && /^SYM_[A-Z_]+\s*\(/.test(s.text)) {
      this.#err(s, s.text, "unsupported SYM_ annotation", SUPPORTED_STATEMENTS);
    }
    const mm = /^[A-Za-z_.][\w.]*/.exec(s.text);
    if (!mm) this.#err(s, s.text, "cannot read a mnemonic", SUPPORTED_STATEMENTS);
    const word = mm[0];
    const mnemonic = word.toLowerCase();
    const restRaw = s.text.slice(word.length);
    const restCol = s.column + word.length + (restRaw.length - restRaw.trimStart().length);
    const rest = restRaw.trim();
    if (mnemonic.startsWith("alternative_")) return this.#alternative(s, mnemonic, rest);
    if (word.startsWith(".")) {
      this.#err(s, s.text, `unsupported assembler directive "${word}"`, SUPPORTED_STATEMENTS);
    }
    // Own properties only: `constructor` or `toString` must not find Object.prototype.
    const macro = Object.hasOwn(A64_MACROS, word) ? A64_MACROS[word] : undefined;
    if (macro !== undefined) {
      if (depth > 8) this.#err(s, s.text, "macro expansion too deep", "non-recursive macros");
      let args = rest === "" ? [] : rest.split(",").map((a) => a.trim());
      let spaced = false;
      if (args.length < macro.params.length) {
        args = args.flatMap((a) => a.split(/\s+/)).filter((a) => a !== "");
        spaced = true;
      }
      const argColumns = macroArgColumns(restRaw, s.column + word.length, spaced);
      if (args.length !== macro.params.length || args.some((a) => a === "")) {
        this.#err(
          s,
          s.text,
          `macro ${word} takes ${macro.params.length} argument(s), got ${args.length}`,
          macro.params.length === 0 ? word : `${word} ${macro.params.join(", ")}`,
        );
      }
      let body: string[];
      let evaluating = "";
      try {
        body = macro.expand(args, {
          errata: this.#errata,
          evaluate: (t) => {
            evaluating = t;
            return evalExpr(t, this.#symbols);
          },
        });
      } catch (e) {
        if (e instanceof ExprError) {
          // Point at the offending token of the argument being evaluated
          // (`mov_q`'s value, passed without its `#`).
          const k = args.findIndex((a) => a.includes(evaluating));
          const column = k >= 0 && evaluating !== ""
            ? argColumns[k]! + args[k]!.indexOf(evaluating) + e.offset
            : restCol;
          this.#err({ line: s.line, column }, s.text, e.message, e.supported);
        }
        throw e;
      }
      try {
        for (const b of body) {
          this.#statement(
            { text: b, line: s.line, column: s.column, macro: s.macro ?? word },
            depth + 1,
          );
        }
      } catch (e) {
        // Columns inside the expansion count in the expanded text, not in the
        // source: point at the invocation's argument the error names, else at
        // the invocation.
        if (!(e instanceof A64SyntaxError)) throw e;
        const k = args.indexOf(e.text);
        const column = k >= 0 ? argColumns[k] ?? s.column : s.column;
        throw new A64SyntaxError(e.line, column, e.text, e.problem, e.supported);
      }
      return;
    }
    const ops = splitOperands(restRaw, s.column + word.length);
    this.#instruction(s, mnemonic, ops);
  }

  #defineLabel(name: string, s: Stmt): void {
    if (!this.#active) return;
    const index = this.#out.length;
    if (/^\d+$/.test(name)) {
      const defs = this.#numeric.get(name) ?? [];
      defs.push({ seq: this.#seq++, index });
      this.#numeric.set(name, defs);
      return;
    }
    if (this.#labels.has(name)) {
      this.#err(s, `${name}:`, `label "${name}" defined twice`, "each named label once");
    }
    this.#labels.set(name, index);
  }

  #alternative(s: Stmt, word: string, rest: string): void {
    const top = this.#alts[this.#alts.length - 1];
    switch (word) {
      case "alternative_if":
      case "alternative_if_not": {
        const cap = ALTERNATIVE_CAPS[rest];
        if (cap === undefined) {
          this.#err(
            s,
            s.text,
            `unknown CPU capability "${rest}"`,
            `the capabilities ${Object.keys(ALTERNATIVE_CAPS).join(", ")}`,
          );
        }
        const present = "feature" in cap
          ? this.#features.has(cap.feature)
          : "erratum" in cap
          ? this.#errata.has(cap.erratum)
          : false;
        this.#alts.push({
          cap: rest,
          cond: word === "alternative_if" ? present : !present,
          parentActive: this.#active,
          inElse: false,
          line: s.line,
          column: s.column,
          skipped: [],
        });
        return;
      }
      case "alternative_else":
        if (top === undefined || top.inElse) {
          this.#err(
            s,
            s.text,
            "alternative_else without alternative_if",
            "alternative_if CAP first",
          );
        }
        top.inElse = true;
        return;
      case "alternative_endif":
        if (top === undefined) {
          this.#err(
            s,
            s.text,
            "alternative_endif without alternative_if",
            "alternative_if CAP first",
          );
        }
        this.#alts.pop();
        return;
      case "alternative_else_nop_endif":
        if (top === undefined || top.inElse) {
          this.#err(
            s,
            s.text,
            "alternative_else_nop_endif without alternative_if",
            "alternative_if CAP first",
          );
        }
        this.#alts.pop();
        // The kernel patches the alternative block to NOPs when the capability is absent.
        if (top.parentActive && !top.cond) {
          for (const k of top.skipped) {
            this.#out.push({
              ...BLANK_INSTRUCTION,
              op: Op.NOP,
              mnemonic: "nop",
              text: "nop",
              line: k.line,
              column: k.column,
              note: `alternative: ${top.cap} absent, "${k.text}" patched to nop`,
            });
          }
        }
        return;
      default:
        this.#err(s, s.text, `unknown alternative directive "${word}"`, SUPPORTED_STATEMENTS);
    }
  }

  #reg(o: Operand | undefined, s: Stmt, role: "dst" | "src", allowSp = false): number {
    if (o === undefined) this.#err(s, s.text, "missing register operand", "x0-x30, xzr");
    const t = o.text.toLowerCase();
    // Fast path: x0..x30.
    if (t.length >= 2 && t.length <= 3 && t.charCodeAt(0) === 120) {
      const n = Number(t.slice(1));
      if (Number.isInteger(n) && n >= 0 && n <= 30 && String(n) === t.slice(1)) return n;
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

  #imm(o: Operand | undefined, s: Stmt): bigint {
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
      (/^[A-Za-z_]\w*$/.test(o.text) && this.#symbols[o.text] !== undefined));
  }

  #count(s: Stmt, ops: Operand[], min: number, max: number, form: string): void {
    if (ops.length < min || ops.length > max) {
      this.#err(s, s.text, `wrong number of operands (${ops.length})`, form);
    }
  }

  #shiftOperand(o: Operand | undefined, s: Stmt): [number, number] {
    if (o === undefined) return [Shift.LSL, 0];
    const m = /^(lsl|lsr|asr)\s+#?(.+)$/i.exec(o.text);
    if (!m) {
      this.#err({ line: s.line, column: o.column }, o.text, "bad shift", "lsl #n, lsr #n, asr #n");
    }
    const amount = this.#imm({ text: m[2]!, column: o.column + m[0].indexOf(m[2]!) }, s);
    if (amount > 63n) {
      this.#err({ line: s.line, column: o.column }, o.text, "shift amount above 63", "0..63");
    }
    const kind = { lsl: Shift.LSL, lsr: Shift.LSR, asr: Shift.ASR }[m[1]!.toLowerCase() as "lsl"];
    return [kind, Number(amount)];
  }

  #emit(s: Stmt, fields: Partial<A64Instruction> & { op: number }, mnemonic: string): number {
    const text = normalizeText(s.text);
    if (!this.#active) {
      const f = this.#alts[this.#alts.length - 1]!;
      if (!f.inElse) f.skipped.push({ line: s.line, column: s.column, text });
      return -1;
    }
    const ins: Mutable<A64Instruction> = {
      ...BLANK_INSTRUCTION,
      ...fields,
      mnemonic,
      text,
      line: s.line,
      column: s.column,
    };
    if (s.macro !== undefined) ins.macro = s.macro;
    this.#out.push(ins);
    return this.#out.length - 1;
  }

  #branchRef(index: number, o: Operand, s: Stmt): void {
    if (!/^([A-Za-z_.$][\w.$]*|\d+[bf])$/.test(o.text)) {
      this.#err(
        { line: s.line, column: o.column },
        o.text,
        "not a label",
        "a label name, or 1b / 1f",
      );
    }
    if (index >= 0) {
      this.#refs.push({
        index,
        label: o.text,
        seq: this.#seq++,
        line: s.line,
        column: o.column,
        text: s.text,
      });
    }
  }

  #resolveBranches(): void {
    for (const r of this.#refs) {
      let target: number | undefined;
      const num = /^(\d+)([bf])$/.exec(r.label);
      if (num) {
        const defs = this.#numeric.get(num[1]!) ?? [];
        const d = num[2] === "b"
          ? defs.filter((x) => x.seq < r.seq).pop()
          : defs.find((x) => x.seq > r.seq);
        target = d?.index;
      } else {
        target = this.#labels.get(r.label);
      }
      if (target === undefined) {
        throw new A64SyntaxError(
          r.line,
          r.column,
          r.text,
          `undefined label "${r.label}"`,
          `labels defined in this text (${[...this.#labels.keys()].join(", ") || "none"})`,
        );
      }
      this.#out[r.index]!.target = target;
    }
  }

  #memOperand(
    o: Operand | undefined,
    s: Stmt,
  ): { rn: number; imm: bigint; pre: boolean; symbol: string } {
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
    if (m[2] !== undefined) {
      const offCol = o.column + o.text.indexOf(m[2]);
      const off = { text: m[2], column: offCol };
      if (!this.#isImm(off)) {
        this.#err(
          { line: s.line, column: offCol },
          m[2],
          "register offsets are not supported",
          "an immediate offset #imm or #CONSTANT",
        );
      }
      imm = BigInt.asIntN(64, this.#imm(off, s));
      const sm = /^#?\s*([A-Za-z_]\w*)$/.exec(m[2]);
      if (sm) symbol = sm[1]!;
    }
    if (m[3] === "!" && m[2] === undefined) {
      this.#err(
        { line: s.line, column: o.column },
        o.text,
        "pre-index needs an offset",
        "[xn, #imm]!",
      );
    }
    return { rn, imm, pre: m[3] === "!", symbol };
  }

  #instruction(s: Stmt, mn: string, ops: Operand[]): void {
    const at = (o: Operand) => ({ line: s.line, column: o.column });
    switch (mn) {
      case "nop":
      case "eret":
        this.#count(s, ops, 0, 0, mn);
        this.#emit(s, { op: mn === "nop" ? Op.NOP : Op.ERET }, mn);
        return;
      case "isb": {
        this.#count(s, ops, 0, 1, "isb, isb sy");
        if (ops[0] && ops[0].text.toLowerCase() !== "sy") {
          this.#err(at(ops[0]), ops[0].text, "bad isb option", "sy");
        }
        this.#emit(s, { op: Op.ISB, operation: "sy" }, mn);
        return;
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
        this.#emit(
          s,
          { op: mn === "dsb" ? Op.DSB : Op.DMB, operation: opt, domain: b[0], barrierType: b[1] },
          mn,
        );
        return;
      }
      case "tlbi": {
        this.#count(s, ops, 1, 2, "tlbi <op>[, xt]");
        const name = ops[0]!.text.toLowerCase();
        const t = Object.hasOwn(TLBI_OPS, name) ? TLBI_OPS[name] : undefined;
        if (t === undefined) {
          this.#err(
            at(ops[0]!),
            ops[0]!.text,
            "unsupported tlbi operation",
            Object.keys(TLBI_OPS).join(", "),
          );
        }
        if (t.va !== (ops.length === 2)) {
          this.#err(
            s,
            s.text,
            t.va ? `tlbi ${name} needs a register` : `tlbi ${name} takes no register`,
            t.va ? `tlbi ${name}, xt` : `tlbi ${name}`,
          );
        }
        this.#emit(
          s,
          { op: Op.TLBI, operation: name, rn: t.va ? this.#reg(ops[1], s, "src") : -1 },
          mn,
        );
        return;
      }
      case "ic": {
        this.#count(s, ops, 1, 2, "ic <op>[, xt]");
        const name = ops[0]!.text.toLowerCase();
        const t = Object.hasOwn(IC_OPS, name) ? IC_OPS[name] : undefined;
        if (t === undefined) {
          this.#err(
            at(ops[0]!),
            ops[0]!.text,
            "unsupported ic operation",
            Object.keys(IC_OPS).join(", "),
          );
        }
        if (t.va !== (ops.length === 2)) {
          this.#err(
            s,
            s.text,
            t.va ? `ic ${name} needs a register` : `ic ${name} takes no register`,
            t.va ? `ic ${name}, xt` : `ic ${name}`,
          );
        }
        this.#emit(
          s,
          { op: Op.IC, operation: name, rn: t.va ? this.#reg(ops[1], s, "src") : -1 },
          mn,
        );
        return;
      }
      case "dc": {
        this.#count(s, ops, 2, 2, "dc civac|cvac, xt");
        const name = ops[0]!.text.toLowerCase();
        if (!DC_OPS.includes(name)) {
          this.#err(at(ops[0]!), ops[0]!.text, "unsupported dc operation", DC_OPS.join(", "));
        }
        this.#emit(s, { op: Op.DC, operation: name, rn: this.#reg(ops[1], s, "src") }, mn);
        return;
      }
      case "mrs":
      case "msr": {
        this.#count(s, ops, 2, 2, mn === "mrs" ? "mrs xt, <sysreg>" : "msr <sysreg>, xt");
        const regOp = mn === "mrs" ? ops[1]! : ops[0]!;
        const def = SYSREG_DEFS[regOp.text.toUpperCase()];
        if (def === undefined) {
          this.#err(at(regOp), regOp.text, "unknown system register", SYSREG_LIST);
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
              "msr <sysreg>, xt",
            );
          }
          this.#emit(s, { op: Op.MSR, sysreg: def.name, rn: this.#reg(ops[1], s, "src") }, mn);
        } else {
          this.#emit(s, { op: Op.MRS, sysreg: def.name, rd: this.#reg(ops[0], s, "dst") }, mn);
        }
        return;
      }
      case "mov": {
        this.#count(s, ops, 2, 2, "mov xd, xn | mov xd, #imm | mov sp, xn | mov xd, sp");
        if (this.#isImm(ops[1])) {
          const rd = this.#reg(ops[0], s, "dst");
          const v = this.#imm(ops[1], s);
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
          this.#emit(s, { op: Op.MOV_IMM, rd, imm: v }, mn);
          return;
        }
        const dstSp = ops[0]!.text.toLowerCase() === "sp";
        const srcSp = ops[1]!.text.toLowerCase() === "sp";
        // MOV to or from SP is ADD #0, where register 31 means SP: no xzr there.
        const rd = this.#reg(ops[0], s, "dst", dstSp || srcSp);
        const rn = this.#reg(ops[1], s, "src", dstSp || srcSp);
        this.#emit(s, { op: Op.MOV_REG, rd, rn }, mn);
        return;
      }
      case "movz":
      case "movk":
      case "movn": {
        // movn appears only in mov_q expansions (a negative top chunk).
        if (mn === "movn" && s.macro === undefined) {
          this.#err(s, s.text, `unknown instruction or macro "${mn}"`, SUPPORTED_STATEMENTS);
        }
        this.#count(s, ops, 2, 3, `${mn} xd, #imm16[, lsl #0|16|32|48]`);
        const rd = this.#reg(ops[0], s, "dst");
        let v = this.#imm(ops[1], s);
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
        this.#emit(s, { op, rd, imm: v, shift: sh }, mn);
        return;
      }
      case "orr":
      case "and":
      case "bic": {
        this.#count(s, ops, 3, 4, `${mn} xd, xn, #imm | ${mn} xd, xn, xm[, lsl|lsr|asr #n]`);
        const rd = this.#reg(ops[0], s, "dst");
        const rn = this.#reg(ops[1], s, "src");
        if (this.#isImm(ops[2])) {
          if (ops[3]) {
            this.#err(at(ops[3]), ops[3].text, "no shift with an immediate", `${mn} xd, xn, #imm`);
          }
          let v = this.#imm(ops[2], s);
          // gas takes `bic xd, xn, #imm` as `and xd, xn, #~imm`.
          if (mn === "bic") v = BigInt.asUintN(64, ~v);
          if (!isBitmaskImmediate(v)) {
            this.#err(
              at(ops[2]!),
              ops[2]!.text,
              "not a logical (bitmask) immediate",
              "a rotated run of ones, replicated",
            );
          }
          this.#emit(s, { op: mn === "orr" ? Op.ORR_IMM : Op.AND_IMM, rd, rn, imm: v }, mn);
          return;
        }
        const rm = this.#reg(ops[2], s, "src");
        const [shiftKind, shift] = this.#shiftOperand(ops[3], s);
        const op = mn === "orr" ? Op.ORR_REG : mn === "and" ? Op.AND_REG : Op.BIC_REG;
        this.#emit(s, { op, rd, rn, rm, shiftKind, shift }, mn);
        return;
      }
      case "add":
      case "sub": {
        this.#count(s, ops, 3, 4, `${mn} xd, xn, #imm[, lsl #12] | ${mn} xd, xn, xm[, lsl #n]`);
        if (this.#isImm(ops[2])) {
          const rd = this.#reg(ops[0], s, "dst", ops[0]!.text.toLowerCase() === "sp");
          const rn = this.#reg(ops[1], s, "src", ops[1]!.text.toLowerCase() === "sp");
          let v = BigInt.asIntN(64, this.#imm(ops[2], s));
          if (ops[3]) {
            const [kind, amount] = this.#shiftOperand(ops[3], s);
            if (kind !== Shift.LSL || (amount !== 0 && amount !== 12)) {
              this.#err(at(ops[3]), ops[3].text, "bad shift", "lsl #0 or lsl #12");
            }
            v <<= BigInt(amount);
          }
          let op: number = mn === "add" ? Op.ADD_IMM : Op.SUB_IMM;
          if (v < 0n) {
            v = -v;
            op = op === Op.ADD_IMM ? Op.SUB_IMM : Op.ADD_IMM;
          }
          if (!(v <= 0xfffn || ((v & 0xfffn) === 0n && v >> 12n <= 0xfffn))) {
            this.#err(
              at(ops[2]!),
              ops[2]!.text,
              "immediate out of range",
              "0..4095, optionally shifted left by 12",
            );
          }
          this.#emit(s, { op, rd, rn, imm: v }, mn);
          return;
        }
        const rd = this.#reg(ops[0], s, "dst");
        const rn = this.#reg(ops[1], s, "src");
        const rm = this.#reg(ops[2], s, "src");
        const [shiftKind, shift] = this.#shiftOperand(ops[3], s);
        this.#emit(
          s,
          { op: mn === "add" ? Op.ADD_REG : Op.SUB_REG, rd, rn, rm, shiftKind, shift },
          mn,
        );
        return;
      }
      case "lsl":
      case "lsr": {
        this.#count(s, ops, 3, 3, `${mn} xd, xn, #n | ${mn} xd, xn, xm`);
        const rd = this.#reg(ops[0], s, "dst");
        const rn = this.#reg(ops[1], s, "src");
        if (this.#isImm(ops[2])) {
          const n = this.#imm(ops[2], s);
          if (n > 63n) this.#err(at(ops[2]!), ops[2]!.text, "shift amount above 63", "#0..#63");
          this.#emit(
            s,
            { op: mn === "lsl" ? Op.LSL_IMM : Op.LSR_IMM, rd, rn, shift: Number(n) },
            mn,
          );
          return;
        }
        const rm = this.#reg(ops[2], s, "src");
        this.#emit(s, { op: mn === "lsl" ? Op.LSL_REG : Op.LSR_REG, rd, rn, rm }, mn);
        return;
      }
      case "ldr":
      case "str": {
        this.#count(s, ops, 2, 3, `${mn} xt, [xn{, #imm}] | [xn, #imm]! | [xn], #imm`);
        const rd = this.#reg(ops[0], s, mn === "ldr" ? "dst" : "src");
        if (ops[1] && ops[1].text.startsWith("=")) {
          this.#err(at(ops[1]), ops[1].text, "literal loads are not supported", "mov_q xt, value");
        }
        const mem = this.#memOperand(ops[1], s);
        let mode: number = mem.pre ? AddrMode.PRE : AddrMode.OFFSET;
        let imm = mem.imm;
        if (ops[2]) {
          if (mem.pre || mem.imm !== 0n) {
            this.#err(at(ops[2]), ops[2].text, "post-index after an offset", "[xn], #imm");
          }
          mode = AddrMode.POST;
          imm = BigInt.asIntN(64, this.#imm(ops[2], s));
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
        this.#emit(s, {
          op: mn === "ldr" ? Op.LDR : Op.STR,
          rd,
          rn: mem.rn,
          imm,
          mode,
          offsetSymbol: mem.symbol,
        }, mn);
        return;
      }
      case "ldp":
      case "stp": {
        this.#count(s, ops, 3, 4, `${mn} xt1, xt2, [xn{, #imm}] | [xn, #imm]! | [xn], #imm`);
        const role = mn === "ldp" ? "dst" : "src";
        const rd = this.#reg(ops[0], s, role);
        const rm = this.#reg(ops[1], s, role);
        const mem = this.#memOperand(ops[2], s);
        let mode: number = mem.pre ? AddrMode.PRE : AddrMode.OFFSET;
        let imm = mem.imm;
        if (ops[3]) {
          if (mem.pre || mem.imm !== 0n) {
            this.#err(at(ops[3]), ops[3].text, "post-index after an offset", "[xn], #imm");
          }
          mode = AddrMode.POST;
          imm = BigInt.asIntN(64, this.#imm(ops[3], s));
        }
        if (imm < -512n || imm > 504n || imm % 8n !== 0n) {
          this.#err(s, s.text, `offset ${imm} out of range`, "-512..504 in steps of 8");
        }
        if (mn === "ldp" && rd === rm && rd !== SINK) {
          this.#err(s, s.text, "ldp with the same register twice", "two different registers");
        }
        this.#emit(s, { op: mn === "ldp" ? Op.LDP : Op.STP, rd, rm, rn: mem.rn, imm, mode }, mn);
        return;
      }
      case "b":
      case "bl": {
        this.#count(s, ops, 1, 1, `${mn} label`);
        const i = this.#emit(s, { op: mn === "b" ? Op.B : Op.BL }, mn);
        this.#branchRef(i, ops[0]!, s);
        return;
      }
      case "cbz":
      case "cbnz": {
        this.#count(s, ops, 2, 2, `${mn} xt, label`);
        const rn = this.#reg(ops[0], s, "src");
        const i = this.#emit(s, { op: mn === "cbz" ? Op.CBZ : Op.CBNZ, rn }, mn);
        this.#branchRef(i, ops[1]!, s);
        return;
      }
      case "br":
      case "blr":
      case "ret": {
        this.#count(s, ops, mn === "ret" ? 0 : 1, 1, mn === "ret" ? "ret [xn]" : `${mn} xn`);
        const rn = ops[0] ? this.#reg(ops[0], s, "src") : 30;
        const op = mn === "br" ? Op.BR : mn === "blr" ? Op.BLR : Op.RET;
        this.#emit(s, { op, rn }, mn);
        return;
      }
      case "hvc": {
        this.#count(s, ops, 1, 1, "hvc #imm16");
        const v = this.#imm(ops[0], s);
        if (v > 0xffffn) {
          this.#err(at(ops[0]!), ops[0]!.text, "immediate above 16 bits", "#0..#0xffff");
        }
        this.#emit(s, { op: Op.HVC, imm: v }, mn);
        return;
      }
      default:
        this.#err(s, s.text, `unknown instruction or macro "${mn}"`, SUPPORTED_STATEMENTS);
    }
  }
}
