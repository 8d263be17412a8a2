/**
 * Immediate expressions of `#...` operands and of gas directives: numbers,
 * constants and the operators gas accepts in the kernel's text
 * (`+ - * / % << >> & | ^ ~ !`, the comparisons `== != <> < <= > >=`, `&&`,
 * `||`, parentheses). As in gas, values are 64-bit, `>>` shifts in zeros,
 * and a comparison is -1 when true and 0 when false (`mov_q` in
 * asm/assembler.h relies on both).
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

const OPS = [
  "<<",
  ">>",
  "==",
  "!=",
  "<>",
  "<=",
  ">=",
  "&&",
  "||",
  "<",
  ">",
  "+",
  "-",
  "*",
  "/",
  "%",
  "&",
  "|",
  "^",
  "~",
  "!",
  "(",
  ")",
];
const SUPPORTED = "numbers, constants, + - * / % << >> & | ^ ~ ! == != < <= > >= && || ( )";

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
        SUPPORTED,
      );
    }
    out.push({ kind: "op", op, at: i });
    i += op.length;
  }
  return out;
}

/** Up to eight known constants that share the unknown name's longest prefix, as a hint. */
function nearest(name: string, symbols: Readonly<Record<string, bigint>>): string {
  const keys = Object.keys(symbols).filter((k) => !k.startsWith(".") && !k.startsWith("SYS_"));
  for (let n = Math.min(name.length, 12); n >= 0; n--) {
    const near = keys.filter((k) => k.startsWith(name.slice(0, n)));
    if (near.length > 0 && (near.length <= 8 || n === 0)) {
      return near.length <= 8
        ? near.join(", ")
        : `${near.slice(0, 8).join(", ")} and ${near.length - 8} more`;
    }
  }
  return "none";
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
    throw new ExprError(msg, peek()?.at ?? text.length, SUPPORTED);
  };
  const isOp = (o: string) => {
    const t = peek();
    return t !== undefined && t.kind === "op" && t.op === o;
  };
  // Precedence, lowest first: || and &&, the comparisons, | ^, &, << >>,
  // + -, * / % (the kernel's expressions are parenthesised so that C's and
  // gas's orders agree).
  const levels: string[][] = [
    ["||"],
    ["&&"],
    ["==", "!=", "<>", "<", "<=", ">", ">="],
    ["|", "^"],
    ["&"],
    ["<<", ">>"],
    ["+", "-"],
    ["*", "/", "%"],
  ];
  const u64 = (x: bigint) => BigInt.asUintN(64, x);
  const truth = (b: boolean) => (b ? -1n : 0n);
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
          v = u64(v) >> r;
          break;
        case "||":
          v = truth(v !== 0n || r !== 0n);
          break;
        case "&&":
          v = truth(v !== 0n && r !== 0n);
          break;
        case "==":
          v = truth(u64(v) === u64(r));
          break;
        case "!=":
        case "<>":
          v = truth(u64(v) !== u64(r));
          break;
        case "<":
          v = truth(BigInt.asIntN(64, v) < BigInt.asIntN(64, r));
          break;
        case "<=":
          v = truth(BigInt.asIntN(64, v) <= BigInt.asIntN(64, r));
          break;
        case ">":
          v = truth(BigInt.asIntN(64, v) > BigInt.asIntN(64, r));
          break;
        case ">=":
          v = truth(BigInt.asIntN(64, v) >= BigInt.asIntN(64, r));
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
      v = BigInt.asIntN(64, v);
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
    if (isOp("!")) {
      p++;
      return unary() === 0n ? 1n : 0n;
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
          `the constants of the headers in use (${
            nearest(t.name, symbols)
          }), numbers, or expressions`,
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
