/**
 * The C preprocessor pass a kernel `.S` file goes through before gas sees
 * it (the kernel builds `.S` files with `$(CC) -E -D__ASSEMBLY__`):
 * `\`-newline splicing, comments, `#include`, `#define` / `#undef`
 * (object-like and function-like, with `#` and `##`), the conditionals
 * `#if` / `#ifdef` / `#ifndef` / `#elif` / `#else` / `#endif` with
 * `defined` and the kconfig tests `IS_ENABLED`, `IS_BUILTIN`, `IS_MODULE`,
 * `IS_REACHABLE`, and `#error`.
 *
 * Configuration symbols follow the profile's configuration: a `CONFIG_*`
 * symbol the configuration does not list cannot be decided, and a
 * conditional that needs one is an error naming it (never a silent "not
 * set").
 *
 * Line numbers are kept: every physical line of the input gives one output
 * line (directives and spliced continuations become blank lines), so gas
 * positions are the file's own.
 *
 * @module
 */

/**
 * Where a problem is: file, 1-based line and column.
 * @example A conditional on an option the configuration does not list
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { CppError, Preprocessor } from "./mod.ts";
 * const e = assertThrows(
 *   () => new Preprocessor().run("#ifdef CONFIG_X\nnop\n#endif", "a.S"),
 *   CppError,
 * );
 * assertEquals([e.file, e.line, e.text], ["a.S", 1, "#ifdef CONFIG_X"]);
 * ```
 */
export class CppError extends Error {
  /** File name as given to the preprocessor (or the header's include name). */
  readonly file: string;
  /** 1-based line in that file. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** The offending text. */
  readonly text: string;
  /** What is wrong. */
  readonly problem: string;
  /** What is accepted there. */
  readonly supported: string;
  /**
   * Creates the error.
   * @param file File.
   * @param line Line.
   * @param column Column.
   * @param text Offending text.
   * @param problem What is wrong.
   * @param supported What is accepted.
   */
  constructor(
    file: string,
    line: number,
    column: number,
    text: string,
    problem: string,
    supported: string,
  ) {
    super(`${file}:${line}:${column}: ${problem} in "${text}"`);
    this.name = "CppError";
    this.file = file;
    this.line = line;
    this.column = column;
    this.text = text;
    this.problem = problem;
    this.supported = supported;
  }
}

/** A header, as the include resolver returns it. */
export interface CppHeader {
  /** Name used in messages (e.g. `asm/assembler.h` or a path). */
  readonly name: string;
  /** Its text. */
  readonly text: string;
}

/**
 * Resolves `#include`: a header's text, `null` when it is included already
 * or needs nothing, or throws a message naming what is missing.
 */
export type IncludeResolver = (name: string, quoted: boolean) => CppHeader | null;

/** One output line. */
export interface CppLine {
  /** Text after preprocessing (comments removed, macros expanded). */
  readonly text: string;
  /** File it came from. */
  readonly file: string;
  /** 1-based line in that file. */
  readonly line: number;
  /**
   * 1-based line of the main file this text stands for: its own line, or
   * the `#include` line for header text.
   */
  readonly mainLine: number;
}

interface Macro {
  params: string[] | null;
  variadic: boolean;
  body: string;
}

/** kconfig tests taking one `CONFIG_*` argument. */
const KCONFIG_TESTS = new Set(["IS_ENABLED", "IS_BUILTIN", "IS_MODULE", "IS_REACHABLE"]);

const CONDITIONALS = "#if, #ifdef, #ifndef, #elif, #else, #endif";
const DIRECTIVES = `#include, #define, #undef, ${CONDITIONALS}, #error, #warning, #pragma, #line`;

/**
 * Replaces comments by spaces (newlines kept, so lines and columns stay),
 * leaving string literals alone.
 * @param source Text.
 * @param file File name for the error.
 * @returns The text without comments.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { stripComments } from "./mod.ts";
 * assertEquals(stripComments("isb // done"), "isb        ");
 * const [open, close] = ["/" + "*", "*" + "/"]; // a block comment
 * assertEquals(stripComments(`a ${open} x\ny ${close} b`), "a     \n     b");
 * ```
 */
export function stripComments(source: string, file = "input"): string {
  if (!source.includes("/")) return source;
  let out = "";
  let i = 0;
  let from = 0;
  const n = source.length;
  while (i < n) {
    const c = source.charCodeAt(i);
    if (c === 34 /* " */) {
      i++;
      while (i < n && source[i] !== '"' && source[i] !== "\n") i += source[i] === "\\" ? 2 : 1;
      i++;
      continue;
    }
    if (c === 47 /* / */ && source.charCodeAt(i + 1) === 47) {
      let j = source.indexOf("\n", i);
      if (j < 0) j = n;
      out += source.slice(from, i) + " ".repeat(j - i);
      i = from = j;
      continue;
    }
    if (c === 47 && source.charCodeAt(i + 1) === 42 /* * */) {
      const end = source.indexOf("*/", i + 2);
      if (end < 0) {
        const before = source.slice(0, i);
        const line = before.split("\n").length;
        const column = i - before.lastIndexOf("\n");
        throw new CppError(file, line, column, "/*", "unterminated block comment", "/* ... */");
      }
      out += source.slice(from, i) + source.slice(i, end + 2).replace(/[^\n]/g, " ");
      i = from = end + 2;
      continue;
    }
    i++;
  }
  return out + source.slice(from);
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;

/** Options of {@link Preprocessor}. */
export interface PreprocessorOptions {
  /** Predefined object-like macros (name → replacement text). */
  defines?: Readonly<Record<string, string>>;
  /**
   * The configuration: `CONFIG_*` name → `y`, `m`, `n`, or a value. A
   * `CONFIG_*` symbol not listed cannot be decided.
   */
  config?: Readonly<Record<string, string>>;
  /** `#include` resolver (default: every include is an error). */
  include?: IncludeResolver;
  /** Names never expanded as macros (handled later by the assembler). */
  keep?: ReadonlySet<string>;
}

interface Frame {
  /** This branch is being emitted. */
  active: boolean;
  /** Some branch of this group was taken. */
  taken: boolean;
  /** Seen #else. */
  inElse: boolean;
  /** Enclosing group active. */
  parent: boolean;
  line: number;
}

/**
 * A C preprocessor whose macro table persists across the texts it is given
 * (a prelude of models, then the file).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Preprocessor } from "./cpp.ts";
 * const cpp = new Preprocessor({ config: { CONFIG_ARM64_BTI_KERNEL: "n" } });
 * const out = cpp.run("#define F(x) (x + 1)\n#ifdef CONFIG_ARM64_BTI_KERNEL\nbti c\n#endif\nmov x0, #F(2)", "a.S");
 * assertEquals(out.map((l) => l.text), ["", "", "", "", "mov x0, #(2 + 1)"]);
 * ```
 */
export class Preprocessor {
  #macros = new Map<string, Macro>();
  #config: Readonly<Record<string, string>>;
  #include: IncludeResolver;
  #keep: ReadonlySet<string>;
  #depth = 0;

  /**
   * Creates a preprocessor.
   * @param options Predefined macros, configuration, include resolver.
   */
  constructor(options: PreprocessorOptions = {}) {
    this.#config = options.config ?? {};
    this.#include = options.include ?? ((name) => {
      throw new Error(`no header "${name}" is available`);
    });
    this.#keep = options.keep ?? new Set();
    for (const [k, v] of Object.entries(options.defines ?? {})) {
      this.#macros.set(k, { params: null, variadic: false, body: v });
    }
    for (const [k, v] of Object.entries(this.#config)) {
      // kconfig: y → CONFIG_X 1, m → CONFIG_X_MODULE 1, n → not defined.
      if (v === "y") this.#macros.set(k, { params: null, variadic: false, body: "1" });
      else if (v === "m") {
        this.#macros.set(`${k}_MODULE`, { params: null, variadic: false, body: "1" });
      } else if (v !== "n") this.#macros.set(k, { params: null, variadic: false, body: v });
    }
  }

  /**
   * Whether a macro is defined.
   * @param name Macro name.
   * @returns True when defined.
   */
  defined(name: string): boolean {
    return this.#macros.has(name);
  }

  /**
   * Preprocesses a text.
   * @param source The text.
   * @param file Its name (for messages).
   * @param mainLine For header text: the main file's line of the `#include`.
   * @returns One line per physical input line, plus the lines of included headers.
   * @throws {CppError} A directive it cannot process, an undecidable
   *   conditional, `#error`, an unbalanced conditional.
   */
  run(source: string, file: string, mainLine?: number): CppLine[] {
    const text = stripComments(source, file);
    const phys = text.split("\n");
    const out: CppLine[] = [];
    const stack: Frame[] = [];
    const active = () => stack.length === 0 || stack[stack.length - 1]!.active;
    for (let i = 0; i < phys.length; i++) {
      const lineNo = i + 1;
      let logical = phys[i]!.endsWith("\r") ? phys[i]!.slice(0, -1) : phys[i]!;
      let extra = 0;
      while (logical.endsWith("\\") && i + 1 + extra < phys.length) {
        extra++;
        const next = phys[i + extra]!;
        logical = logical.slice(0, -1) + " " + (next.endsWith("\r") ? next.slice(0, -1) : next);
      }
      const at = mainLine ?? lineNo;
      const emit = (t: string) => out.push({ text: t, file, line: lineNo, mainLine: at });
      const dm = /^\s*#\s*([A-Za-z_]*)/.exec(logical);
      if (dm) {
        const col = logical.indexOf("#") + 1;
        const name = dm[1]!;
        const rest = logical.slice(dm[0].length);
        const err: (problem: string, supported: string, column?: number) => never = (
          problem,
          supported,
          column = col,
        ) => {
          throw new CppError(file, lineNo, column, logical.trim(), problem, supported);
        };
        switch (name) {
          case "if":
          case "ifdef":
          case "ifndef": {
            const parent = active();
            let cond = false;
            if (parent) {
              if (name === "if") cond = this.#evalIf(rest, err);
              else {
                const m = /^\s*([A-Za-z_]\w*)\s*$/.exec(rest);
                if (!m) err(`#${name} needs one macro name`, `#${name} NAME`);
                this.#needConfig(m[1]!, err);
                cond = this.#macros.has(m[1]!) === (name === "ifdef");
              }
            }
            stack.push({
              active: parent && cond,
              taken: cond,
              inElse: false,
              parent,
              line: lineNo,
            });
            break;
          }
          case "elif": {
            const f = stack[stack.length - 1];
            if (f === undefined || f.inElse) err("#elif without #if", CONDITIONALS);
            if (f.parent && !f.taken) {
              const cond = this.#evalIf(rest, err);
              f.active = cond;
              f.taken = cond;
            } else f.active = false;
            break;
          }
          case "else": {
            const f = stack[stack.length - 1];
            if (f === undefined || f.inElse) err("#else without #if", CONDITIONALS);
            f.inElse = true;
            f.active = f.parent && !f.taken;
            f.taken = true;
            break;
          }
          case "endif":
            if (stack.pop() === undefined) err("#endif without #if", CONDITIONALS);
            break;
          case "define":
            if (active()) this.#define(rest, err);
            break;
          case "undef":
            if (active()) {
              const m = /^\s*([A-Za-z_]\w*)\s*$/.exec(rest);
              if (!m) err("#undef needs one macro name", "#undef NAME");
              this.#macros.delete(m[1]!);
            }
            break;
          case "include":
            if (active()) {
              const m = /^\s*(?:<([^>]+)>|"([^"]+)")\s*$/.exec(rest);
              if (!m) err("malformed #include", '#include <file> or #include "file"');
              const hname = m[1] ?? m[2]!;
              let header: CppHeader | null;
              try {
                header = this.#include(hname, m[2] !== undefined);
              } catch (e) {
                err(
                  (e as Error).message,
                  "a header the models provide, or --kernel-src DIR",
                  col + rest.indexOf(hname) + dm[0].length - col + 1,
                );
              }
              emit("");
              if (header !== null) {
                if (this.#depth > 40) err("#include nested too deeply", "headers with guards");
                this.#depth++;
                try {
                  out.push(...this.run(header.text, header.name, at));
                } catch (e) {
                  // Report at this #include, naming the header's own line.
                  if (!(e instanceof CppError) || e.file === file) throw e;
                  throw new CppError(
                    file,
                    lineNo,
                    col,
                    e.text,
                    `${e.problem} (${e.file}:${e.line})`,
                    e.supported,
                  );
                } finally {
                  this.#depth--;
                }
              }
              for (let k = 0; k < extra; k++) {
                out.push({
                  text: "",
                  file,
                  line: lineNo + k + 1,
                  mainLine: mainLine ?? lineNo + k + 1,
                });
              }
              i += extra;
              continue;
            }
            break;
          case "error":
            if (active()) err(`#error ${rest.trim()}`, "a configuration the file accepts");
            break;
          case "warning":
          case "pragma":
          case "line":
          case "":
            break;
          default:
            // `# 12 "file"` line markers are fine; anything else is not C.
            if (/^\s*#\s*\d/.test(logical)) break;
            if (active()) err(`unknown preprocessor directive "#${name}"`, DIRECTIVES);
        }
        emit("");
      } else if (active()) {
        emit(this.#expandLine(logical, (problem, column) => {
          throw new CppError(
            file,
            lineNo,
            column,
            logical.trim(),
            problem,
            "balanced macro arguments",
          );
        }));
      } else emit("");
      for (let k = 0; k < extra; k++) {
        out.push({ text: "", file, line: lineNo + k + 1, mainLine: mainLine ?? lineNo + k + 1 });
      }
      i += extra;
    }
    const open = stack[stack.length - 1];
    if (open !== undefined) {
      throw new CppError(file, open.line, 1, "#if", "conditional never closed", "#endif");
    }
    return out;
  }

  /** A `CONFIG_*` name the configuration does not decide. */
  #needConfig(name: string, err: (p: string, s: string) => never): void {
    if (!name.startsWith("CONFIG_")) return;
    const base = name.endsWith("_MODULE") && !(name in this.#config)
      ? name.slice(0, -"_MODULE".length)
      : name;
    if (!(base in this.#config)) {
      err(
        `cannot decide: the configuration does not say whether ${base} is set`,
        `--config ${base}=y|n (or a release profile that lists it)`,
      );
    }
  }

  #define(rest: string, err: (p: string, s: string) => never): void {
    const m = /^\s*([A-Za-z_]\w*)(\(([^)]*)\))?\s?(.*)$/.exec(rest);
    if (!m) err("#define needs a macro name", "#define NAME value, #define NAME(args) value");
    const name = m[1]!;
    if (this.#keep.has(name)) return;
    let params: string[] | null = null;
    let variadic = false;
    if (m[2] !== undefined) {
      params = m[3]!.split(",").map((p) => p.trim()).filter((p) => p !== "");
      if (params.length > 0 && params[params.length - 1]!.endsWith("...")) {
        variadic = true;
        const last = params.pop()!.slice(0, -3).trim();
        params.push(last === "" ? "__VA_ARGS__" : last);
      }
    }
    this.#macros.set(name, { params, variadic, body: m[4]!.trim() });
  }

  #evalIf(rest: string, err: (p: string, s: string, c?: number) => never): boolean {
    // defined X / defined(X) before expansion; the kconfig tests likewise.
    let text = rest.replace(
      /\b(IS_ENABLED|IS_BUILTIN|IS_MODULE|IS_REACHABLE)\s*\(\s*([A-Za-z_]\w*)\s*\)/g,
      (_m, test: string, name: string) => String(this.#kconfig(test, name, err)),
    );
    text = text.replace(/\bdefined\s*(?:\(\s*([A-Za-z_]\w*)\s*\)|([A-Za-z_]\w*))/g, (_m, a, b) => {
      const name = (a ?? b) as string;
      this.#needConfig(name, err);
      return this.#macros.has(name) ? "1" : "0";
    });
    text = this.#expandLine(text, (p) => err(p, "balanced macro arguments"));
    // What is left after expansion: identifiers are 0, except undecidable CONFIG_*.
    text = text.replace(/\b[A-Za-z_]\w*\b/g, (id) => {
      this.#needConfig(id, err);
      return "0";
    });
    try {
      return evalC(text) !== 0n;
    } catch (e) {
      return err(`cannot evaluate #if: ${(e as Error).message}`, "an integer constant expression");
    }
  }

  #kconfig(test: string, name: string, err: (p: string, s: string) => never): 0 | 1 {
    this.#needConfig(name, err);
    const v = this.#config[name];
    const y = v === "y";
    const m = v === "m";
    switch (test) {
      case "IS_BUILTIN":
        return y ? 1 : 0;
      case "IS_MODULE":
        return m ? 1 : 0;
      default:
        return y || m ? 1 : 0;
    }
  }

  /** Expands macros in a line (outside string literals). */
  #expandLine(line: string, err: (problem: string, column: number) => never): string {
    if (this.#macros.size === 0 || !/[A-Za-z_]/.test(line)) return line;
    return this.#expand(line, new Set(), err);
  }

  #expand(
    text: string,
    disabled: ReadonlySet<string>,
    err: (p: string, c: number) => never,
  ): string {
    let out = "";
    let i = 0;
    const n = text.length;
    while (i < n) {
      const c = text[i]!;
      if (c === '"') {
        let j = i + 1;
        while (j < n && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
        out += text.slice(i, j + 1);
        i = j + 1;
        continue;
      }
      // An identifier not preceded by an identifier character, a backslash
      // (gas macro argument) or a digit.
      if (/[A-Za-z_]/.test(c) && (i === 0 || !/[\w\\.$]/.test(text[i - 1]!))) {
        IDENT.lastIndex = i;
        const m = IDENT.exec(text)!;
        const name = m[0];
        const end = i + name.length;
        // A name followed by `.`/`$` continues as a gas symbol (e.g. `.L__x`): leave it.
        const mac = this.#macros.get(name);
        if (
          mac === undefined || disabled.has(name) || this.#keep.has(name) ||
          KCONFIG_TESTS.has(name)
        ) {
          out += name;
          i = end;
          continue;
        }
        if (mac.params === null) {
          const inner = new Set(disabled).add(name);
          out += this.#expand(mac.body, inner, err);
          i = end;
          continue;
        }
        let j = end;
        while (j < n && (text[j] === " " || text[j] === "\t")) j++;
        if (text[j] !== "(") {
          out += name;
          i = end;
          continue;
        }
        const args: string[] = [];
        let depth = 0;
        let start = j + 1;
        let k = j + 1;
        for (; k < n; k++) {
          const ch = text[k];
          if (ch === "(") depth++;
          else if (ch === ")") {
            if (depth === 0) break;
            depth--;
          } else if (ch === "," && depth === 0) {
            args.push(text.slice(start, k));
            start = k + 1;
          }
        }
        if (k >= n) err(`unterminated arguments of macro ${name}`, i + 1);
        args.push(text.slice(start, k));
        const params = mac.params;
        if (args.length === 1 && args[0]!.trim() === "" && params.length === 0) args.length = 0;
        if (mac.variadic) {
          const fixed = params.length - 1;
          const va = args.slice(fixed).join(",");
          args.length = fixed;
          args.push(va);
        }
        if (args.length !== params.length) {
          err(`macro ${name} takes ${params.length} argument(s), got ${args.length}`, i + 1);
        }
        const inner = new Set(disabled).add(name);
        const expanded = args.map((a) => this.#expand(a.trim(), disabled, err));
        const body = substitute(mac.body, params, args.map((a) => a.trim()), expanded);
        out += this.#expand(body, inner, err);
        i = k + 1;
        continue;
      }
      out += c;
      i++;
    }
    return out;
  }
}

/** Replaces parameters in a function-like macro body, with `#` and `##`. */
function substitute(
  body: string,
  params: readonly string[],
  raw: readonly string[],
  expanded: readonly string[],
): string {
  const index = new Map(params.map((p, k) => [p, k]));
  // Tokens: identifiers, `##`, `#`, everything else one char at a time.
  const toks: { t: string; id: boolean }[] = [];
  for (let i = 0; i < body.length;) {
    IDENT.lastIndex = i;
    const m = /[A-Za-z_]/.test(body[i]!) ? IDENT.exec(body) : null;
    if (m) {
      toks.push({ t: m[0], id: true });
      i += m[0].length;
    } else if (body.startsWith("##", i)) {
      toks.push({ t: "##", id: false });
      i += 2;
    } else {
      toks.push({ t: body[i]!, id: false });
      i++;
    }
  }
  const out: string[] = [];
  for (let k = 0; k < toks.length; k++) {
    const tok = toks[k]!;
    if (tok.t === "#" && k + 1 < toks.length) {
      // Stringification: `# param` (skipping spaces).
      let j = k + 1;
      while (j < toks.length && toks[j]!.t === " ") j++;
      const p = toks[j];
      if (p?.id && index.has(p.t)) {
        out.push(JSON.stringify(raw[index.get(p.t)!]!));
        k = j;
        continue;
      }
    }
    if (tok.t === "##") {
      while (out.length > 0 && out[out.length - 1] === " ") out.pop();
      let j = k + 1;
      while (j < toks.length && toks[j]!.t === " ") j++;
      const p = toks[j];
      if (p !== undefined) {
        out.push(p.id && index.has(p.t) ? raw[index.get(p.t)!]! : p.t);
        k = j;
      }
      continue;
    }
    if (tok.id && index.has(tok.t)) {
      // An operand of ## is pasted unexpanded.
      let j = k + 1;
      while (j < toks.length && toks[j]!.t === " ") j++;
      const pasted = toks[j]?.t === "##";
      out.push(pasted ? raw[index.get(tok.t)!]! : expanded[index.get(tok.t)!]!);
      continue;
    }
    out.push(tok.t);
  }
  return out.join("");
}

/**
 * Evaluates a C integer constant expression (64-bit two's complement).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { evalC } from "./mod.ts";
 * assertEquals(evalC("(1 << 12) | 0x4"), 0x1004n);
 * assertEquals(evalC("~0 >> 60"), -1n); // signed: an arithmetic shift
 * assertEquals(evalC("3 > 2 ? 10 : 20"), 10n);
 * ```
 */
export function evalC(text: string): bigint {
  const toks = text.match(
    /0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|'.'|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!<>?:()]/g,
  ) ??
    [];
  const rest = text.replace(
    /0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|'.'|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!<>?:()]|\s+/g,
    "",
  );
  if (rest !== "") throw new Error(`unexpected "${rest}"`);
  let p = 0;
  const peek = () => toks[p];
  const take = (t: string) => {
    if (toks[p] !== t) throw new Error(`expected "${t}"`);
    p++;
  };
  const w = (v: bigint) => BigInt.asIntN(64, v);
  const primary = (): bigint => {
    const t = toks[p++];
    if (t === undefined) throw new Error("expression ends early");
    if (t === "(") {
      const v = cond();
      take(")");
      return v;
    }
    if (t === "-") return w(-primary());
    if (t === "+") return primary();
    if (t === "~") return w(~primary());
    if (t === "!") return primary() === 0n ? 1n : 0n;
    if (t.startsWith("'")) return BigInt(t.charCodeAt(1));
    if (/^\d|^0x/i.test(t)) return w(BigInt(t.replace(/[uUlL]+$/, "")));
    throw new Error(`unexpected "${t}"`);
  };
  const LEVELS: string[][] = [
    ["||"],
    ["&&"],
    ["|"],
    ["^"],
    ["&"],
    ["==", "!="],
    ["<", ">", "<=", ">="],
    ["<<", ">>"],
    ["+", "-"],
    ["*", "/", "%"],
  ];
  const bin = (level: number): bigint => {
    if (level === LEVELS.length) return primary();
    let v = bin(level + 1);
    while (peek() !== undefined && LEVELS[level]!.includes(peek()!)) {
      const op = toks[p++]!;
      const r = bin(level + 1);
      switch (op) {
        case "||":
          v = v !== 0n || r !== 0n ? 1n : 0n;
          break;
        case "&&":
          v = v !== 0n && r !== 0n ? 1n : 0n;
          break;
        case "|":
          v = v | r;
          break;
        case "^":
          v = v ^ r;
          break;
        case "&":
          v = v & r;
          break;
        case "==":
          v = v === r ? 1n : 0n;
          break;
        case "!=":
          v = v !== r ? 1n : 0n;
          break;
        case "<":
          v = v < r ? 1n : 0n;
          break;
        case ">":
          v = v > r ? 1n : 0n;
          break;
        case "<=":
          v = v <= r ? 1n : 0n;
          break;
        case ">=":
          v = v >= r ? 1n : 0n;
          break;
        case "<<":
          v = w(v << r);
          break;
        case ">>":
          v = v >> r;
          break;
        case "+":
          v = w(v + r);
          break;
        case "-":
          v = w(v - r);
          break;
        case "*":
          v = w(v * r);
          break;
        default:
          if (r === 0n) throw new Error("division by zero");
          v = op === "/" ? v / r : v % r;
      }
    }
    return v;
  };
  const cond = (): bigint => {
    const c = bin(0);
    if (peek() !== "?") return c;
    p++;
    const a = cond();
    take(":");
    const b = cond();
    return c !== 0n ? a : b;
  };
  if (toks.length === 0) throw new Error("empty expression");
  const v = cond();
  if (p !== toks.length) throw new Error(`unexpected "${toks[p]}"`);
  return v;
}
