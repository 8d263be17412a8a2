/**
 * The assembler front end: what gas does with the preprocessed text before
 * an instruction is encoded. Statements (`;`-separated, labels first),
 * the directives of the kernel's assembly (sections, `.align`, symbol
 * visibility, `.set`/`.equ`, `.req`, `.macro`, `.if` and its variants,
 * `.irp`/`.irpc`/`.rept`, `.inst`, `.error`), the `alternative_*` blocks
 * resolved by the configured CPU features, the `SYM_*` annotations of
 * linux/linkage.h (routine boundaries), and the built-in macros of
 * `macros.ts`. Directives that do not change what executes (CFI, `.type`,
 * `.size`, data in data sections) are accepted; anything else is an
 * {@link A64SyntaxError}.
 *
 * @module
 */

import { A64SyntaxError } from "./errors.ts";
import type { CppLine } from "./cpp.ts";
import {
  type Decoded,
  Decoder,
  normalizeText,
  type Operand,
  splitOperands,
  type Stmt,
} from "./decode.ts";
import { evalExpr, ExprError } from "./expr.ts";
import {
  bindMacroArgs,
  decodeInstWord,
  type GasMacro,
  parseMacroHead,
  splitMacroArgs,
  substituteMacroLine,
} from "./gas.ts";
import type { A64MacroDef } from "./macros.ts";
import { Op } from "./opcodes.ts";
import {
  type A64Instruction,
  type A64Program,
  type A64Symbol,
  BLANK_INSTRUCTION,
} from "./program.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What `alternative_if` may name: a feature, an erratum, or never present. */
export type AlternativeCap = { feature: string } | { erratum: string } | { never: true };

/** Options of {@link Assembler}. */
export interface AssemblerOptions {
  /** Configured CPU features (alternatives). */
  features: ReadonlySet<string>;
  /** Configured errata (alternatives, built-in macros). */
  errata: ReadonlySet<string>;
  /** Constants for `#NAME` operands and `.if` (copied; `.set` adds). */
  symbols: Readonly<Record<string, bigint>>;
  /** Built-in macros (lower-case names). */
  builtins: Readonly<Record<string, A64MacroDef>>;
  /** Capabilities `alternative_if` accepts. */
  capabilities: Readonly<Record<string, AlternativeCap>>;
}

interface AltFrame {
  cap: string;
  cond: boolean;
  parentActive: boolean;
  inElse: boolean;
  line: number;
  column: number;
  skipped: { line: number; column: number; text: string }[];
}

interface CondFrame {
  active: boolean;
  taken: boolean;
  parent: boolean;
  inElse: boolean;
  line: number;
}

interface Capture {
  kind: "macro" | "repeat";
  head: string;
  depth: number;
  body: string[];
  line: number;
  column: number;
  /** For `.irp`/`.irpc`/`.rept`: the parameter and its successive values. */
  param?: string;
  values?: string[];
}

interface PendingRef {
  index: number;
  ref: NonNullable<Decoded["ref"]>;
  seq: number;
  line: number;
  text: string;
}

/** Where a statement comes from (for errors in headers). */
interface Where {
  file: string;
  fileLine: number;
  main: boolean;
}

const SYM_START =
  /^(SYM_FUNC_START|SYM_FUNC_START_LOCAL|SYM_FUNC_START_NOALIGN|SYM_FUNC_START_WEAK|SYM_TYPED_FUNC_START|SYM_CODE_START|SYM_CODE_START_LOCAL|SYM_CODE_START_NOALIGN)\s*\(\s*([A-Za-z_.$][\w.$]*)\s*\)$/;
const SYM_END = /^(SYM_FUNC_END|SYM_CODE_END)\s*\(\s*([A-Za-z_.$][\w.$]*)\s*\)$/;
const SYM_INNER =
  /^SYM_INNER_LABEL(?:_ALIGN)?\s*\(\s*([A-Za-z_.$][\w.$]*)\s*,\s*(SYM_L_GLOBAL|SYM_L_LOCAL|SYM_L_WEAK)\s*\)$/;
const SYM_ALIAS =
  /^SYM_FUNC_ALIAS(?:_LOCAL|_WEAK)?\s*\(\s*([A-Za-z_.$][\w.$]*)\s*,\s*([A-Za-z_.$][\w.$]*)\s*\)$/;

/** Directives accepted and ignored: they do not change what executes. */
const IGNORED = new Set([
  ".type",
  ".size",
  ".hidden",
  ".protected",
  ".internal",
  ".file",
  ".ident",
  ".loc",
  ".arch",
  ".arch_extension",
  ".cpu",
  ".ltorg",
  ".pool",
  ".warning",
  ".print",
  ".nops",
  ".purgem",
  ".altmacro",
  ".noaltmacro",
]);
const DATA = new Set([
  ".quad",
  ".8byte",
  ".dword",
  ".long",
  ".4byte",
  ".word",
  ".int",
  ".short",
  ".hword",
  ".2byte",
  ".byte",
  ".ascii",
  ".asciz",
  ".string",
  ".space",
  ".skip",
  ".zero",
  ".fill",
  ".org",
]);

const SUPPORTED_DIRECTIVES =
  ".text, .data, .section, .pushsection, .popsection, .previous, .align, .p2align, .balign, .globl, .global, .local, .weak, .type, .size, .set, .equ, .req, .macro/.endm, .if/.ifdef/.ifc/.ifb/... /.else/.endif, .irp/.irpc/.rept/.endr, .inst, .error, .cfi_*, and data directives outside code sections";

/**
 * Assembles preprocessed lines into a program.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Assembler } from "./assembler.ts";
 * const asm = new Assembler({ features: new Set(), errata: new Set(), symbols: {}, builtins: {}, capabilities: {} });
 * const text = [".macro two r", "\tmov \\r, #2", ".endm", "\ttwo x3"];
 * asm.feed(text.map((t, k) => ({ text: t, file: "a.S", line: k + 1, mainLine: k + 1 })), "a.S");
 * assertEquals(asm.finish("").instructions.map((i) => i.text), ["mov x3, #2"]);
 * ```
 */
export class Assembler {
  #o: AssemblerOptions;
  #symbols: Record<string, bigint>;
  #aliases = new Map<string, string>();
  #decoder: Decoder;
  #out: Mutable<A64Instruction>[] = [];
  #labels = new Map<string, number>();
  #numeric = new Map<string, { seq: number; index: number }[]>();
  #refs: PendingRef[] = [];
  #seq = 0;
  #alts: AltFrame[] = [];
  #conds: CondFrame[] = [];
  #capture: Capture | null = null;
  #macros = new Map<string, GasMacro>();
  #counter = 0;
  #sections: { name: string; exec: boolean }[] = [{ name: ".text", exec: true }];
  #previous: { name: string; exec: boolean } = { name: ".text", exec: true };
  #open: {
    name: string;
    kind: "func" | "code";
    global: boolean;
    start: number;
    line: number;
    align: number;
  }[] = [];
  #symbolsOut: Mutable<A64Symbol>[] = [];
  #globals = new Set<string>();
  #alignSinceInsn = 4;
  #where: Where = { file: "", fileLine: 0, main: true };

  /**
   * Creates an assembler.
   * @param options Features, errata, constants, built-in macros, capabilities.
   */
  constructor(options: AssemblerOptions) {
    this.#o = options;
    // A null-prototype table, so `#constructor` is an unknown constant, not Object's.
    this.#symbols = Object.assign(Object.create(null), options.symbols);
    this.#decoder = new Decoder(this.#symbols, this.#aliases);
  }

  /** The live constant table (models add to it with `.set`). */
  get symbols(): Readonly<Record<string, bigint>> {
    return this.#symbols;
  }

  get #exec(): boolean {
    return this.#sections[this.#sections.length - 1]!.exec;
  }

  get #altActive(): boolean {
    const f = this.#alts[this.#alts.length - 1];
    if (f === undefined) return true;
    return f.parentActive && (f.inElse ? !f.cond : f.cond);
  }

  get #condActive(): boolean {
    const f = this.#conds[this.#conds.length - 1];
    return f === undefined || f.active;
  }

  /**
   * Assembles lines (a prelude of models, or the file).
   * @param lines Preprocessed lines.
   * @param mainFile The file whose lines positions refer to (others are headers).
   * @throws {A64SyntaxError} With the main file's `line:column`.
   */
  feed(lines: readonly CppLine[], mainFile: string): void {
    for (const l of lines) {
      this.#where = { file: l.file, fileLine: l.line, main: l.file === mainFile };
      this.#line(l.text, l.mainLine, 1, undefined, 0);
    }
  }

  #err(
    s: { line: number; column: number },
    text: string,
    problem: string,
    supported: string,
  ): never {
    const w = this.#where;
    const where = w.main ? problem : `${problem} (${w.file}:${w.fileLine})`;
    throw new A64SyntaxError(s.line, w.main ? s.column : 1, text, where, supported);
  }

  /** One line: captured into a definition, or split into statements. */
  #line(raw: string, line: number, column: number, macro: string | undefined, depth: number): void {
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (this.#capture !== null) {
      this.#captureLine(text);
      return;
    }
    if (!text.includes(";")) {
      // The common case: one statement (or none) on the line.
      const trimmed = text.trim();
      if (trimmed === "") return;
      const col = macro === undefined ? column + text.length - text.trimStart().length : column;
      const s: Stmt = { text: trimmed, line, column: col };
      if (macro !== undefined) s.macro = macro;
      this.#statement(s, depth);
      return;
    }
    let start = 0;
    let quote = false;
    for (let i = 0; i <= text.length; i++) {
      const c = text[i];
      if (c === '"') quote = !quote;
      if (i < text.length && (c !== ";" || quote)) continue;
      const piece = text.slice(start, i);
      const trimmed = piece.trim();
      if (trimmed !== "") {
        const lead = piece.length - piece.trimStart().length;
        const col = macro === undefined ? column + start + lead : column;
        const s: Stmt = { text: trimmed, line, column: col };
        if (macro !== undefined) s.macro = macro;
        this.#statement(s, depth);
        // A `.macro` or `.irp` opened mid-line captures the rest of the line.
        if (this.#capture !== null && i < text.length) {
          this.#captureLine(text.slice(i + 1));
          return;
        }
      }
      start = i + 1;
    }
  }

  #captureLine(text: string): void {
    const cap = this.#capture!;
    const word = /^\s*(?:[\w.$]+:\s*)?(\.[A-Za-z_]\w*)/.exec(text)?.[1]?.toLowerCase();
    const opens = cap.kind === "macro" ? [".macro"] : [".irp", ".irpc", ".rept"];
    const closes = cap.kind === "macro" ? ".endm" : ".endr";
    if (word !== undefined && opens.includes(word)) cap.depth++;
    if (word === closes) {
      if (cap.depth === 0) {
        this.#capture = null;
        this.#closeCapture(cap);
        return;
      }
      cap.depth--;
    }
    cap.body.push(text);
  }

  #closeCapture(cap: Capture): void {
    const at = { line: cap.line, column: cap.column };
    if (cap.kind === "macro") {
      const head = parseMacroHead(cap.head);
      if (typeof head === "string") {
        this.#err(at, `.macro ${cap.head}`, head, ".macro name, param, ...");
      }
      this.#macros.set(head.name.toLowerCase(), {
        name: head.name,
        params: head.params,
        body: cap.body,
      });
      return;
    }
    for (const v of cap.values!) {
      const args = new Map([[cap.param!, v]]);
      for (const b of cap.body) {
        this.#line(
          substituteMacroLine(b, args, this.#counter),
          cap.line,
          cap.column,
          "(repeat)",
          1,
        );
      }
    }
  }

  #statement(s: Stmt, depth: number): void {
    // Inside a false `.if`, only the conditionals themselves count.
    if (!this.#condActive) {
      const w = /^\.(\w+)/.exec(s.text)?.[1]?.toLowerCase();
      if (
        w !== undefined && (w.startsWith("if") || w === "else" || w === "elseif" || w === "endif")
      ) {
        this.#conditional(s, `.${w}`, s.text.slice(w.length + 1).trim());
      }
      return;
    }
    // Leading labels.
    while (s.text.includes(":")) {
      const m = /^([A-Za-z_.$][\w.$]*|\d+)\s*:(?!:)/.exec(s.text);
      if (!m) break;
      this.#defineLabel(m[1]!, s);
      const rest = s.text.slice(m[0].length);
      const lead = rest.length - rest.trimStart().length;
      s = { ...s, text: rest.trim(), column: s.column + m[0].length + lead };
      if (s.text === "") return;
    }
    if (s.text.startsWith("SYM_") && this.#sym(s)) return;
    const mm = /^[A-Za-z_.][\w.]*/.exec(s.text);
    if (!mm) this.#err(s, s.text, "cannot read a mnemonic", this.#supported());
    const word = mm[0];
    const lower = word.toLowerCase();
    const restRaw = s.text.slice(word.length);
    const rest = restRaw.trim();
    // `name .req reg`, `name = expr`, `name .set expr`.
    const second = /^\s*(\.req|\.unreq|=)\s*(.*)$/i.exec(restRaw);
    if (second && !word.startsWith(".")) {
      const kind = second[1]!.toLowerCase();
      if (kind === ".req") this.#aliases.set(word.toLowerCase(), second[2]!.trim());
      else if (kind === "=") this.#set(s, word, second[2]!);
      return;
    }
    if (lower === ".unreq") {
      this.#aliases.delete(rest.toLowerCase());
      return;
    }
    if (lower.startsWith("alternative_")) return this.#alternative(s, lower, rest);
    if (word.startsWith(".") && !lower.startsWith(".l")) return this.#directive(s, lower, rest);
    if (word.startsWith(".")) {
      this.#err(s, s.text, `unknown directive "${word}"`, SUPPORTED_DIRECTIVES);
    }
    const gas = this.#macros.get(lower);
    if (gas !== undefined) return this.#expandGas(s, gas, restRaw, depth);
    const builtin = Object.hasOwn(this.#o.builtins, lower) ? this.#o.builtins[lower] : undefined;
    if (builtin !== undefined) return this.#expandBuiltin(s, word, builtin, restRaw, depth);
    const ops = splitOperands(restRaw, s.column + word.length);
    const decoded = this.#decoder.decode(s, lower, ops);
    this.#emit(s, decoded);
  }

  #supported(): string {
    return `instructions, macros (${
      [...this.#macros.values()].map((m) => m.name).concat(Object.keys(this.#o.builtins)).join(", ")
    }), labels, SYM_* annotations, alternatives, directives`;
  }

  #sym(s: Stmt): boolean {
    const start = SYM_START.exec(s.text);
    if (start) {
      const [, kind, name] = start;
      this.#open.push({
        name: name!,
        kind: kind!.includes("FUNC") ? "func" : "code",
        global: !kind!.endsWith("_LOCAL"),
        start: this.#out.length,
        line: s.line,
        align: this.#alignSinceInsn,
      });
      this.#defineLabel(name!, s);
      return true;
    }
    const end = SYM_END.exec(s.text);
    if (end) {
      const [, kind, name] = end;
      const top = this.#open.pop();
      if (top === undefined || top.name !== name) {
        this.#err(
          s,
          s.text,
          top ? `${kind}(${name}) closes ${top.name}` : `${kind}(${name}) without a start`,
          `a ${kind!.replace("_END", "_START")}(${name}) earlier`,
        );
      }
      this.#symbolsOut.push({
        name: top.name,
        kind: top.kind,
        global: top.global,
        start: top.start,
        end: this.#out.length,
        line: top.line,
        align: top.align,
      });
      return true;
    }
    const inner = SYM_INNER.exec(s.text);
    if (inner) {
      this.#defineLabel(inner[1]!, s);
      const enclosing = this.#open[this.#open.length - 1];
      this.#symbolsOut.push({
        name: inner[1]!,
        kind: "inner",
        global: inner[2] !== "SYM_L_LOCAL",
        start: this.#out.length,
        end: -1,
        line: s.line,
        align: this.#alignSinceInsn,
      });
      if (enclosing === undefined) {
        this.#err(
          s,
          s.text,
          "SYM_INNER_LABEL outside a SYM_*_START ... _END",
          "an enclosing routine",
        );
      }
      return true;
    }
    const alias = SYM_ALIAS.exec(s.text);
    if (alias) {
      const target = this.#labels.get(alias[2]!);
      if (target === undefined) {
        this.#err(s, s.text, `alias of unknown ${alias[2]}`, "an earlier symbol");
      }
      if (this.#altActive) this.#labels.set(alias[1]!, target);
      return true;
    }
    if (/^SYM_[A-Z_]+\s*\(/.test(s.text)) {
      this.#err(
        s,
        s.text,
        "unsupported SYM_ annotation",
        "SYM_FUNC_START/_LOCAL/_NOALIGN/_WEAK, SYM_TYPED_FUNC_START, SYM_CODE_START/_LOCAL/_NOALIGN, SYM_FUNC_END, SYM_CODE_END, SYM_INNER_LABEL, SYM_FUNC_ALIAS",
      );
    }
    return false;
  }

  #defineLabel(name: string, s: Stmt): void {
    if (!this.#altActive) return;
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

  #expr(s: Stmt, text: string, column: number): bigint {
    try {
      return evalExpr(text, this.#symbols);
    } catch (e) {
      if (e instanceof ExprError) {
        this.#err({ line: s.line, column: column + e.offset }, text, e.message, e.supported);
      }
      throw e;
    }
  }

  #set(s: Stmt, name: string, exprText: string): void {
    if (name === ".") {
      this.#err(s, s.text, "moving the location counter is not supported", ".align");
    }
    const col = s.column + s.text.indexOf(exprText);
    this.#symbols[name] = this.#expr(s, exprText.trim(), col);
  }

  #directive(s: Stmt, name: string, rest: string): void {
    const restCol = s.column + name.length + (s.text.length - name.length - rest.length);
    if (
      name.startsWith(".if") || name === ".else" || name === ".elseif" || name === ".endif"
    ) {
      return this.#conditional(s, name, rest);
    }
    if (IGNORED.has(name) || name.startsWith(".cfi_")) return;
    if (DATA.has(name)) {
      if (this.#exec) {
        this.#err(
          s,
          s.text,
          `data (${name}) in a code section is not modelled`,
          "instructions; data in .data/.rodata sections",
        );
      }
      return;
    }
    switch (name) {
      case ".text":
        this.#sections[this.#sections.length - 1] = { name, exec: true };
        return;
      case ".data":
      case ".bss":
      case ".rodata":
        this.#sections[this.#sections.length - 1] = { name, exec: false };
        return;
      case ".section":
      case ".pushsection": {
        const m = /^([^\s,]+)\s*(?:,\s*"([^"]*)")?/.exec(rest);
        if (!m) this.#err(s, s.text, `${name} needs a section name`, `${name} .name[, "flags"]`);
        const sec = { name: m[1]!, exec: /text/.test(m[1]!) || (m[2] ?? "").includes("x") };
        if (name === ".pushsection") this.#sections.push(sec);
        else {
          this.#previous = this.#sections[this.#sections.length - 1]!;
          this.#sections[this.#sections.length - 1] = sec;
        }
        return;
      }
      case ".popsection":
        if (this.#sections.length === 1) {
          this.#err(s, s.text, ".popsection without .pushsection", ".pushsection first");
        }
        this.#sections.pop();
        return;
      case ".previous": {
        const cur = this.#sections[this.#sections.length - 1]!;
        this.#sections[this.#sections.length - 1] = this.#previous;
        this.#previous = cur;
        return;
      }
      case ".subsection":
        return;
      case ".align":
      case ".p2align":
      case ".balign": {
        const first = rest.split(",")[0]!.trim();
        const v = Number(this.#expr(s, first, restCol));
        const bytes = name === ".balign" ? v : 2 ** v;
        if (!Number.isInteger(bytes) || bytes < 1 || bytes > 65536 || (bytes & (bytes - 1)) !== 0) {
          this.#err(s, s.text, `bad alignment ${first}`, "a power of two up to 64 KiB");
        }
        this.#align(s, bytes);
        return;
      }
      case ".globl":
      case ".global":
      case ".weak":
        for (const g of rest.split(",").map((x) => x.trim()).filter((x) => x !== "")) {
          this.#globals.add(g);
        }
        return;
      case ".local":
        return;
      case ".set":
      case ".equ":
      case ".equiv":
      case ".eqv": {
        const m = /^([A-Za-z_.$][\w.$]*)\s*,\s*(.+)$/.exec(rest);
        if (!m) this.#err(s, s.text, `${name} needs a symbol and a value`, `${name} sym, expr`);
        this.#set(s, m[1]!, m[2]!);
        return;
      }
      case ".req":
        this.#err(s, s.text, ".req needs a name before it", "name .req register");
        return;
      case ".macro":
        this.#capture = {
          kind: "macro",
          head: rest,
          depth: 0,
          body: [],
          line: s.line,
          column: s.column,
        };
        return;
      case ".endm":
        this.#err(s, s.text, ".endm without .macro", ".macro first");
        return;
      case ".exitm":
        throw EXITM;
      case ".irp":
      case ".irpc": {
        const m = /^([A-Za-z_]\w*)\s*,?\s*(.*)$/.exec(rest);
        if (!m) this.#err(s, s.text, `${name} needs a parameter`, `${name} param, values`);
        const values = name === ".irp"
          ? splitMacroArgs(m[2]!, Infinity).map((a) => a.text)
          : [...m[2]!.replace(/\s+/g, "")];
        this.#capture = {
          kind: "repeat",
          head: rest,
          depth: 0,
          body: [],
          line: s.line,
          column: s.column,
          param: m[1]!,
          values,
        };
        return;
      }
      case ".rept": {
        const n = Number(this.#expr(s, rest, restCol));
        if (n < 0 || n > 4096) this.#err(s, s.text, `.rept count ${n}`, "0..4096");
        this.#capture = {
          kind: "repeat",
          head: rest,
          depth: 0,
          body: [],
          line: s.line,
          column: s.column,
          param: "",
          values: Array.from({ length: n }, () => ""),
        };
        return;
      }
      case ".endr":
        this.#err(s, s.text, ".endr without .irp/.rept", ".irp, .irpc or .rept first");
        return;
      case ".inst": {
        for (const piece of splitOperands(rest, restCol)) {
          const w = this.#expr(s, piece.text, piece.column);
          const text = decodeInstWord(Number(w & 0xffff_ffffn));
          if (text === undefined) {
            this.#err(
              { line: s.line, column: piece.column },
              piece.text,
              `cannot decode .inst 0x${w.toString(16)}`,
              "system-register moves (mrs_s/msr_s), hints and barriers",
            );
          }
          this.#statement({ ...s, text }, 1);
        }
        return;
      }
      case ".error":
        this.#err(s, s.text, `.error ${rest}`, "input the macro accepts");
        return;
      default:
        this.#err(s, s.text, `unsupported assembler directive "${name}"`, SUPPORTED_DIRECTIVES);
    }
  }

  /** NOPs up to the next `bytes` boundary (gas fills code sections with NOPs). */
  #align(s: Stmt, bytes: number): void {
    if (!this.#exec) return;
    this.#alignSinceInsn = Math.max(this.#alignSinceInsn, bytes);
    if (!this.#altActive) return;
    while ((this.#out.length * 4) % bytes !== 0) {
      this.#out.push({
        ...BLANK_INSTRUCTION,
        op: Op.NOP,
        mnemonic: "nop",
        text: "nop",
        line: s.line,
        column: s.column,
        padding: true,
        ...(s.macro !== undefined ? { macro: s.macro } : {}),
      });
    }
  }

  #conditional(s: Stmt, name: string, rest: string): void {
    const top = this.#conds[this.#conds.length - 1];
    const restCol = s.column + s.text.indexOf(rest);
    const evalCond = (): boolean => {
      const strs = (): [string, string] => {
        const parts = splitMacroArgs(rest, 2).map((a) => a.text.replace(/^"(.*)"$/, "$1"));
        return [parts[0] ?? "", parts.slice(1).join(",")];
      };
      switch (name) {
        case ".if":
        case ".ifne":
        case ".elseif":
          return this.#expr(s, rest, restCol) !== 0n;
        case ".ifeq":
          return this.#expr(s, rest, restCol) === 0n;
        case ".ifgt":
          return BigInt.asIntN(64, this.#expr(s, rest, restCol)) > 0n;
        case ".ifge":
          return BigInt.asIntN(64, this.#expr(s, rest, restCol)) >= 0n;
        case ".iflt":
          return BigInt.asIntN(64, this.#expr(s, rest, restCol)) < 0n;
        case ".ifle":
          return BigInt.asIntN(64, this.#expr(s, rest, restCol)) <= 0n;
        case ".ifb":
          return rest.trim() === "";
        case ".ifnb":
          return rest.trim() !== "";
        case ".ifc":
        case ".ifeqs": {
          const [a, b] = strs();
          return a === b;
        }
        case ".ifnc":
        case ".ifnes": {
          const [a, b] = strs();
          return a !== b;
        }
        case ".ifdef":
          return this.#symbols[rest.trim()] !== undefined || this.#labels.has(rest.trim());
        case ".ifndef":
        case ".ifnotdef":
          return this.#symbols[rest.trim()] === undefined && !this.#labels.has(rest.trim());
        default:
          return this.#err(s, s.text, `unknown conditional "${name}"`, SUPPORTED_DIRECTIVES);
      }
    };
    if (name === ".else") {
      if (top === undefined || top.inElse) this.#err(s, s.text, ".else without .if", ".if first");
      top.inElse = true;
      top.active = top.parent && !top.taken;
      top.taken = true;
      return;
    }
    if (name === ".elseif") {
      if (top === undefined || top.inElse) this.#err(s, s.text, ".elseif without .if", ".if first");
      if (top.parent && !top.taken) {
        top.active = evalCond();
        top.taken = top.active;
      } else top.active = false;
      return;
    }
    if (name === ".endif") {
      if (this.#conds.pop() === undefined) this.#err(s, s.text, ".endif without .if", ".if first");
      return;
    }
    const parent = this.#condActive;
    const cond = parent ? evalCond() : false;
    this.#conds.push({ active: parent && cond, taken: cond, parent, inElse: false, line: s.line });
  }

  #expandGas(s: Stmt, mac: GasMacro, restRaw: string, depth: number): void {
    if (depth > 32) this.#err(s, s.text, "macro expansion too deep", "non-recursive macros");
    const args = splitMacroArgs(restRaw, mac.params.length);
    const bound = bindMacroArgs(mac, args);
    if (typeof bound === "string") {
      this.#err(
        s,
        s.text,
        bound,
        mac.params.length === 0
          ? mac.name
          : `${mac.name} ${mac.params.map((p) => p.name).join(", ")}`,
      );
    }
    const counter = this.#counter++;
    const restCol = s.column + s.text.length - restRaw.length;
    const macro = s.macro ?? mac.name;
    const conds = this.#conds.length;
    try {
      for (const b of mac.body) {
        this.#line(substituteMacroLine(b, bound, counter), s.line, s.column, macro, depth + 1);
      }
    } catch (e) {
      if (e === EXITM) {
        this.#conds.length = conds;
        return;
      }
      if (!(e instanceof A64SyntaxError)) throw e;
      // Point at the invocation's argument the error names, else at the invocation.
      const k = args.findIndex((a) =>
        a.text === e.text || (a.text !== "" && e.text.includes(a.text))
      );
      const column = k >= 0 && args[k]!.text === e.text ? restCol + args[k]!.at : s.column;
      throw new A64SyntaxError(
        e.line,
        this.#where.main ? column : e.column,
        e.text,
        e.problem,
        e.supported,
      );
    }
  }

  #expandBuiltin(s: Stmt, word: string, macro: A64MacroDef, restRaw: string, depth: number): void {
    if (depth > 32) this.#err(s, s.text, "macro expansion too deep", "non-recursive macros");
    const rest = restRaw.trim();
    let args = rest === "" ? [] : splitMacroArgs(rest, macro.params.length).map((a) => a.text);
    if (args.length < macro.params.length && rest !== "") {
      args = rest.split(/[\s,]+/).filter((a) => a !== "");
    }
    const argColumns = macroArgColumns(restRaw, s.column + word.length, args);
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
        errata: this.#o.errata,
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
          : s.column + word.length + 1;
        this.#err({ line: s.line, column }, s.text, e.message, e.supported);
      }
      if (e instanceof Error && !(e instanceof A64SyntaxError)) {
        this.#err(s, s.text, e.message, `${word} ${macro.params.join(", ")}`);
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
      throw new A64SyntaxError(
        e.line,
        this.#where.main ? column : e.column,
        e.text,
        e.problem,
        e.supported,
      );
    }
  }

  #alternative(s: Stmt, word: string, rest: string): void {
    const top = this.#alts[this.#alts.length - 1];
    switch (word) {
      case "alternative_if":
      case "alternative_if_not": {
        const caps = this.#o.capabilities;
        const cap = Object.hasOwn(caps, rest) ? caps[rest] : undefined;
        if (cap === undefined) {
          this.#err(
            s,
            s.text,
            `unknown CPU capability "${rest}"`,
            `the capabilities ${Object.keys(caps).join(", ")}`,
          );
        }
        const present = "feature" in cap
          ? this.#o.features.has(cap.feature)
          : "erratum" in cap
          ? this.#o.errata.has(cap.erratum)
          : false;
        this.#alts.push({
          cap: rest,
          cond: word === "alternative_if" ? present : !present,
          parentActive: this.#altActive,
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
        this.#err(s, s.text, `unknown alternative directive "${word}"`, this.#supported());
    }
  }

  #emit(s: Stmt, d: Decoded): void {
    const text = normalizeText(s.text);
    if (!this.#altActive) {
      const f = this.#alts[this.#alts.length - 1]!;
      if (!f.inElse) f.skipped.push({ line: s.line, column: s.column, text });
      return;
    }
    const ins: Mutable<A64Instruction> = {
      ...BLANK_INSTRUCTION,
      ...d.fields,
      mnemonic: d.mnemonic,
      text,
      line: s.line,
      column: s.column,
    };
    if (s.macro !== undefined) ins.macro = s.macro;
    this.#out.push(ins);
    this.#alignSinceInsn = 4;
    if (d.ref !== undefined) {
      this.#refs.push({
        index: this.#out.length - 1,
        ref: d.ref,
        seq: this.#seq++,
        line: s.line,
        text: s.text,
      });
    }
  }

  /**
   * Ends the text: checks that every block is closed, resolves labels and
   * symbols, and returns the program.
   * @param source The source text the program records.
   * @returns The program.
   * @throws {A64SyntaxError} An unclosed block or an undefined label.
   */
  finish(source: string): A64Program {
    this.#where = { file: "", fileLine: 0, main: true };
    const cap = this.#capture;
    if (cap !== null) {
      this.#err(
        cap,
        cap.kind === "macro" ? `.macro ${cap.head}` : cap.head,
        `${cap.kind === "macro" ? ".macro" : "repeat block"} never closed`,
        cap.kind === "macro" ? ".endm" : ".endr",
      );
    }
    const cond = this.#conds[this.#conds.length - 1];
    if (cond !== undefined) {
      this.#err({ line: cond.line, column: 1 }, ".if", ".if never closed", ".endif");
    }
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
    // A routine with no SYM_*_END (a truncated text) runs to the end of the
    // text: the check reports what happens there (R17), not a parse error.
    for (const top of this.#open.reverse()) {
      this.#symbolsOut.push({ ...top, end: this.#out.length });
    }
    this.#open = [];
    this.#resolve();
    // Inner labels end with their enclosing symbol; `.globl` labels become routines.
    const symbols = this.#symbolsOut.map((x) => {
      if (x.end >= 0) return x;
      const enclosing = this.#symbolsOut.filter((e) =>
        e.end >= 0 && e.start <= x.start && x.start < e.end
      )
        .sort((a, b) => a.end - b.end)[0];
      return { ...x, end: enclosing?.end ?? this.#out.length };
    });
    for (const g of this.#globals) {
      const at = this.#labels.get(g);
      if (at === undefined) continue;
      const sym = symbols.find((x) => x.name === g);
      if (sym !== undefined) sym.global = true;
      else {symbols.push({
          name: g,
          kind: "label",
          global: true,
          start: at,
          end: -1,
          line: this.#out[at]?.line ?? 0,
          align: 4,
        });}
    }
    symbols.sort((a, b) => a.start - b.start || b.end - a.end);
    for (const x of symbols) {
      if (x.end < 0) {
        const next = symbols.find((y) => y.start > x.start);
        x.end = next?.start ?? this.#out.length;
      }
    }
    return {
      source,
      instructions: this.#out.map((i) => Object.freeze(i)),
      labels: this.#labels,
      symbols,
    };
  }

  #resolve(): void {
    for (const r of this.#refs) {
      const { ref } = r;
      const name = ref.name;
      let target: number | undefined;
      const num = /^(\d+)([bf])$/.exec(name);
      const dot = /^\.(?:([-+])(0x[0-9a-f]+|\d+))?$/i.exec(name);
      if (num) {
        const defs = this.#numeric.get(num[1]!) ?? [];
        const d = num[2] === "b"
          ? defs.filter((x) => x.seq < r.seq).pop()
          : defs.find((x) => x.seq > r.seq);
        target = d?.index;
      } else if (dot) {
        const off = dot[2] === undefined ? 0 : Number(dot[2]) * (dot[1] === "-" ? -1 : 1);
        if (off % 4 !== 0) {
          throw new A64SyntaxError(
            r.line,
            ref.operand.column,
            r.text,
            `"${name}" is not a multiple of 4 bytes from here`,
            ". + 4*n",
          );
        }
        target = r.index + off / 4;
        if (target < 0 || target > this.#out.length) target = undefined;
      } else {
        target = this.#labels.get(name);
      }
      const ins = this.#out[r.index]!;
      if (target !== undefined) {
        ins.target = target;
        continue;
      }
      if (ref.kind !== "branch" && !num && !dot) {
        // An external symbol: its address comes from the run.
        ins.symbol = name;
        continue;
      }
      throw new A64SyntaxError(
        r.line,
        ref.operand.column,
        r.text,
        `undefined label "${name}"`,
        `labels defined in this text (${[...this.#labels.keys()].join(", ") || "none"})`,
      );
    }
  }
}

/** Thrown by `.exitm` to leave the current macro expansion. */
const EXITM = Symbol("exitm");

/** The 1-based column of each macro argument in the invocation. */
function macroArgColumns(rest: string, column: number, args: readonly string[]): number[] {
  const out: number[] = [];
  let from = 0;
  for (const a of args) {
    const at = rest.indexOf(a, from);
    out.push(at >= 0 ? column + at : column);
    if (at >= 0) from = at + a.length;
  }
  return out;
}

export type { Operand };
