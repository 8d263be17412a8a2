/**
 * gas macro machinery the assembler uses: `.macro` definitions and their
 * expansion (`\arg`, `\()`, `\@`, defaults, `:req`, `:vararg`, keyword
 * arguments, names case-insensitive as gas has them), argument splitting,
 * and `.inst` words decoded back to the instruction they encode.
 *
 * @module
 */

import { BARRIER_OPTIONS } from "./opcodes.ts";
import { sysregByEncoding } from "./sysregs.ts";

/** One parameter of a `.macro`. */
export interface GasParam {
  /** Name. */
  readonly name: string;
  /** Default text (`p=def`); "" when none. */
  readonly def: string;
  /** `:req`. */
  readonly req: boolean;
  /** `:vararg` (the rest of the arguments). */
  readonly vararg: boolean;
}

/** A `.macro` definition. */
export interface GasMacro {
  /** Name as written. */
  readonly name: string;
  /** Parameters. */
  readonly params: readonly GasParam[];
  /** Body lines, as written. */
  readonly body: readonly string[];
}

/**
 * Parses the text after `.macro`: the name, then parameters separated by
 * commas or spaces.
 * @param rest Text after `.macro`.
 * @returns Name and parameters, or a message.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseMacroHead } from "./mod.ts";
 * const h = parseMacroHead("set_sctlr, sreg, reg:req");
 * assertEquals(typeof h === "string" ? h : [h.name, h.params.map((p) => p.name), h.params[1]!.req], [
 *   "set_sctlr",
 *   ["sreg", "reg"],
 *   true,
 * ]);
 * ```
 */
export function parseMacroHead(rest: string): { name: string; params: GasParam[] } | string {
  const m = /^\s*([A-Za-z_.$][\w.$]*)\s*,?\s*(.*)$/.exec(rest);
  if (!m) return "a .macro needs a name";
  const params: GasParam[] = [];
  const list = m[2]!.replace(/\s*=\s*/g, "=").replace(/\s*:\s*(req|vararg)\b/g, ":$1");
  for (const raw of list.split(/\s*,\s*|\s+/).filter((p) => p !== "")) {
    const pm = /^([A-Za-z_][\w]*)(?::(req|vararg))?(?:=(.*))?$/.exec(raw);
    if (!pm) return `bad macro parameter "${raw}"`;
    params.push({
      name: pm[1]!,
      def: pm[3] ?? "",
      req: pm[2] === "req",
      vararg: pm[2] === "vararg",
    });
  }
  return { name: m[1]!, params };
}

/**
 * Splits macro arguments the way gas reads them: at commas outside
 * parentheses and quotes, and, when that gives fewer pieces than `want`,
 * also at blanks outside parentheses.
 * @param text Argument text.
 * @param want Number of parameters.
 * @returns The arguments with their offsets in `text`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { splitMacroArgs } from "./mod.ts";
 * assertEquals(splitMacroArgs("x0, (1 << 2)", 2).map((a) => a.text), ["x0", "(1 << 2)"]);
 * assertEquals(splitMacroArgs("sctlr_el2 x3", 2).map((a) => a.text), ["sctlr_el2", "x3"]);
 * ```
 */
export function splitMacroArgs(text: string, want: number): { text: string; at: number }[] {
  const split = (blanks: boolean) => {
    const out: { text: string; at: number }[] = [];
    let depth = 0;
    let quote = false;
    let start = -1;
    const push = (end: number) => {
      if (start >= 0) out.push({ text: text.slice(start, end).trim(), at: start });
      start = -1;
    };
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (quote) {
        if (c === '"') quote = false;
        continue;
      }
      if (c === '"') {
        quote = true;
        if (start < 0) start = i;
        continue;
      }
      if (c === "(" || c === "[") depth++;
      else if (c === ")" || c === "]") depth--;
      if (depth === 0 && c === ",") {
        if (start < 0) out.push({ text: "", at: i });
        else push(i);
        continue;
      }
      if (depth === 0 && blanks && (c === " " || c === "\t")) {
        // A blank next to an operator keeps the expression together.
        const prev = text.slice(0, i).trimEnd().slice(-1);
        const next = text.slice(i).trimStart()[0] ?? "";
        if (/[-+*/%|&^<>=!~(]/.test(prev) || /[-+*/%|&^<>=!)]/.test(next)) continue;
        push(i);
        continue;
      }
      if (start < 0 && c !== " " && c !== "\t") start = i;
    }
    push(text.length);
    return out.map((a) => ({ text: a.text.trim(), at: a.at }));
  };
  const commas = split(false);
  if (commas.length >= want || text.trim() === "") return text.trim() === "" ? [] : commas;
  return split(true);
}

/**
 * Binds invocation arguments to a macro's parameters.
 * @param mac The macro.
 * @param args Arguments as split.
 * @returns Parameter name → text, or a message.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { bindMacroArgs, parseMacroHead, splitMacroArgs } from "./mod.ts";
 * const head = parseMacroHead("m, a, b=7");
 * if (typeof head === "string") throw new Error(head);
 * const mac = { ...head, body: [] };
 * const bound = bindMacroArgs(mac, splitMacroArgs("x1", 2));
 * assertEquals(typeof bound === "string" ? bound : [...bound], [["a", "x1"], ["b", "7"]]);
 * ```
 */
export function bindMacroArgs(
  mac: GasMacro,
  args: readonly { text: string; at: number }[],
): Map<string, string> | string {
  const bound = new Map<string, string>();
  let pos = 0;
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!.text;
    const kw = /^([A-Za-z_]\w*)\s*=(.*)$/.exec(a);
    if (kw && mac.params.some((p) => p.name === kw[1])) {
      bound.set(kw[1]!, kw[2]!.trim());
      continue;
    }
    const p = mac.params[pos];
    if (p === undefined) {
      return `macro ${mac.name} takes ${mac.params.length} argument(s), got ${args.length}`;
    }
    if (p.vararg) {
      bound.set(p.name, args.slice(k).map((x) => x.text).join(", "));
      pos++;
      break;
    }
    bound.set(p.name, a);
    pos++;
  }
  for (const p of mac.params) {
    if (!bound.has(p.name) || bound.get(p.name) === "") {
      if (p.req) return `macro ${mac.name}: missing value for required parameter "${p.name}"`;
      if (!bound.has(p.name) || p.def !== "") bound.set(p.name, p.def);
    }
  }
  return bound;
}

/**
 * Substitutes `\param`, `\()` and `\@` in one body line.
 * @param line Body line.
 * @param args Parameter values.
 * @param counter The expansion's number (`\@`).
 * @returns The line to assemble.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { substituteMacroLine } from "./mod.ts";
 * const args = new Map([["reg", "x3"]]);
 * assertEquals(substituteMacroLine("msr sctlr_el2, \\reg", args, 0), "msr sctlr_el2, x3");
 * assertEquals(substituteMacroLine("9\\@: b 9\\@b", args, 4), "94: b 94b");
 * ```
 */
export function substituteMacroLine(
  line: string,
  args: ReadonlyMap<string, string>,
  counter: number,
): string {
  if (!line.includes("\\")) return line;
  return line.replace(/\\(\(\)|@|[A-Za-z_][\w]*)/g, (m, what: string) => {
    if (what === "()") return "";
    if (what === "@") return String(counter);
    return args.get(what) ?? m;
  });
}

const BARRIER_BY_CRM: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries({
    sy: 15,
    st: 14,
    ld: 13,
    ish: 11,
    ishst: 10,
    ishld: 9,
    nsh: 7,
    nshst: 6,
    nshld: 5,
    osh: 3,
    oshst: 2,
    oshld: 1,
  }).filter(([k]) => k in BARRIER_OPTIONS).map(([k, v]) => [v, k]),
);

/**
 * The instruction a `.inst` word encodes, as text: a system-register
 * move (`mrs`/`msr`, what the kernel's `mrs_s`/`msr_s` emit), a hint or a
 * barrier; undefined for anything else.
 * @param word The 32-bit word.
 * @returns Assembly text, or undefined.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeInstWord } from "./gas.ts";
 * assertEquals(decodeInstWord(0xd5000000 | 0x1c2000 | 5), "msr ttbr0_el2, x5");
 * assertEquals(decodeInstWord(0xd503201f), "nop");
 * ```
 */
export function decodeInstWord(word: number): string | undefined {
  const w = word >>> 0;
  const reg = (n: number) => (n === 31 ? "xzr" : `x${n}`);
  if ((w & 0xffd00000) >>> 0 === 0xd5100000) {
    const r = sysregByEncoding(w & 0x1fffe0).name.toLowerCase();
    return ((w >>> 21) & 1) === 1 ? `mrs ${reg(w & 31)}, ${r}` : `msr ${r}, ${reg(w & 31)}`;
  }
  if ((w & 0xfffff01f) >>> 0 === 0xd503201f) {
    const imm = (w >>> 5) & 0x7f;
    return ["nop", "yield", "wfe", "wfi", "sev", "sevl"][imm] ?? `hint #${imm}`;
  }
  if ((w & 0xfffff01f) >>> 0 === 0xd503301f) {
    const crm = (w >>> 8) & 15;
    const op2 = (w >>> 5) & 7;
    const opt = BARRIER_BY_CRM[crm];
    if (op2 === 6 && crm === 15) return "isb";
    if ((op2 === 4 || op2 === 5) && opt !== undefined) return `${op2 === 4 ? "dsb" : "dmb"} ${opt}`;
  }
  return undefined;
}
