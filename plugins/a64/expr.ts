/**
 * Immediate expressions of `#...` operands: numbers, constants and the
 * operators gas accepts in the kernel's text (`+ - * / % << >> & | ^ ~`, parentheses).
 *
 * @module
 */

const MASK64 = (1n << 64n) - 1n;

/** Why an expression could not be evaluated, with the 0-based offset of the problem. */
export class ExprError extends Error {
  /** 0-based offset inside the expression text. */
  readonly offset: number;
  /** What is accepted there. */
  readonly supported: string;
  /**
   * Creates the error.
   * @param message Problem.
   * @param offset Offset in the expression.
   * @param supported What is accepted.
   */
  constructor(message: string, offset: number, supported: string) {
    super(message);
    this.offset = offset;
    this.supported = supported;
  }
}

type Tok = { kind: "num"; value: bigint; at: number } | { kind: "id"; name: string; at: number } | {
  kind: "op";
  op: string;
  at: number;
};

const OPS = ["<<", ">>", "+", "-", "*", "/", "%", "&", "|", "^", "~", "(", ")"];

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === " " || c === "\t") {
      i++;
      continue;
    }
    const num = /^(0x[0-9a-f_]+|0b[01_]+|[0-9][0-9_]*)/i.exec(text.slice(i));
    if (num) {
      const raw = num[1]!.replaceAll("_", "");
      out.push({ kind: "num", value: BigInt(raw), at: i });
      i += num[1]!.length;
      if (/^[a-z_]/i.test(text.slice(i))) {
        throw new ExprError(
          `bad number "${text.slice(i - num[1]!.length)}"`,
          i,
          "decimal, 0x hex, 0b binary",
        );
      }
      continue;
    }
    const id = /^[A-Za-z_.$][\w.$]*/.exec(text.slice(i));
    if (id) {
      out.push({ kind: "id", name: id[0], at: i });
      i += id[0].length;
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (op === undefined) {
      throw new ExprError(
        `unexpected character "${c}"`,
        i,
        "numbers, constants, + - * / % << >> & | ^ ~ ( )",
      );
    }
    out.push({ kind: "op", op, at: i });
    i += op.length;
  }
  return out;
}

/**
 * Evaluates an immediate expression to a 64-bit value (two's complement wrap).
 *
 * @param text Expression without the leading `#`.
 * @param symbols Constant table.
 * @returns The value, in [0, 2^64).
 * @throws {ExprError} Unknown constant or malformed expression.
 */
export function evalExpr(text: string, symbols: Readonly<Record<string, bigint>>): bigint {
  const toks = tokenize(text);
  let p = 0;
  const peek = () => toks[p];
  const fail = (msg: string): never => {
    throw new ExprError(
      msg,
      peek()?.at ?? text.length,
      "numbers, constants, + - * / % << >> & | ^ ~ ( )",
    );
  };
  const isOp = (o: string) => {
    const t = peek();
    return t !== undefined && t.kind === "op" && t.op === o;
  };
  // Precedence (gas): | ^ lowest, then &, then << >>, then + -, then * / %.
  const levels: string[][] = [["|", "^"], ["&"], ["<<", ">>"], ["+", "-"], ["*", "/", "%"]];
  const binary = (level: number): bigint => {
    if (level === levels.length) return unary();
    let v = binary(level + 1);
    for (;;) {
      const t = peek();
      if (t === undefined || t.kind !== "op" || !levels[level]!.includes(t.op)) return v;
      p++;
      const r = binary(level + 1);
      switch (t.op) {
        case "|":
          v = v | r;
          break;
        case "^":
          v = v ^ r;
          break;
        case "&":
          v = v & r;
          break;
        case "<<":
          v = v << r;
          break;
        case ">>":
          v = v >> r;
          break;
        case "+":
          v = v + r;
          break;
        case "-":
          v = v - r;
          break;
        case "*":
          v = v * r;
          break;
        default:
          if (r === 0n) throw new ExprError("division by zero", t.at, "a non-zero divisor");
          v = t.op === "/" ? v / r : v % r;
      }
      v = BigInt.asIntN(128, v);
    }
  };
  const unary = (): bigint => {
    if (isOp("-")) {
      p++;
      return -unary();
    }
    if (isOp("+")) {
      p++;
      return unary();
    }
    if (isOp("~")) {
      p++;
      return ~unary();
    }
    if (isOp("(")) {
      p++;
      const v = binary(0);
      if (!isOp(")")) fail('missing ")"');
      p++;
      return v;
    }
    const t = peek();
    if (t === undefined) return fail("expression ends early");
    if (t.kind === "num") {
      p++;
      return t.value;
    }
    if (t.kind === "id") {
      const v = Object.hasOwn(symbols, t.name) ? symbols[t.name] : undefined;
      if (v === undefined) {
        throw new ExprError(
          `unknown constant "${t.name}"`,
          t.at,
          `the constants ${Object.keys(symbols).join(", ")}`,
        );
      }
      p++;
      return v;
    }
    return fail(`unexpected "${t.op}"`);
  };
  if (toks.length === 0) fail("empty expression");
  const v = binary(0);
  if (p !== toks.length) fail(`unexpected "${text.slice(peek()!.at)}"`);
  return v & MASK64;
}
