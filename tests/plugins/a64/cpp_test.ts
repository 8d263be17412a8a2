import { assertEquals, assertThrows } from "@std/assert";
import { Prng } from "../../../core/mod.ts";
import { CppError, evalC, Preprocessor, stripComments } from "./deps.ts";

const run = (src: string, config: Record<string, string> = {}, include?: (n: string) => string) => {
  const cpp = new Preprocessor(
    include === undefined
      ? { config }
      : { config, include: (n) => ({ name: n, text: include(n) }) },
  );
  return cpp.run(src, "t.S");
};
const texts = (src: string, config: Record<string, string> = {}) =>
  run(src, config).map((l) => l.text.trim());

Deno.test("Preprocessor keeps one output line per input line", () => {
  const out = run("#define A 1\nmov x0, #A\n#if A\nisb\n#else\nnop\n#endif\nmov x1, \\\n  #2\nret");
  assertEquals(out.map((l) => l.line), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assertEquals(out.map((l) => l.text.trim()), [
    "",
    "mov x0, #1",
    "",
    "isb",
    "",
    "",
    "",
    "mov x1,    #2",
    "",
    "ret",
  ]);
});

Deno.test("Preprocessor decides conditionals on the configuration, and names what it cannot decide", () => {
  const src = "#ifdef CONFIG_A\na\n#elif IS_ENABLED(CONFIG_B)\nb\n#else\nc\n#endif";
  assertEquals(texts(src, { CONFIG_A: "y", CONFIG_B: "n" }).filter((x) => x), ["a"]);
  assertEquals(texts(src, { CONFIG_A: "n", CONFIG_B: "m" }).filter((x) => x), ["b"]);
  assertEquals(texts(src, { CONFIG_A: "n", CONFIG_B: "n" }).filter((x) => x), ["c"]);
  // IS_BUILTIN / IS_MODULE follow y / m.
  assertEquals(texts("#if IS_BUILTIN(CONFIG_B)\nx\n#endif", { CONFIG_B: "m" }).join(""), "");
  assertEquals(texts("#if IS_MODULE(CONFIG_B)\nx\n#endif", { CONFIG_B: "m" }).join(""), "x");
  // Values: CONFIG_ARM64_VA_BITS=52 is a number.
  assertEquals(texts("#if CONFIG_X > 48\nx\n#endif", { CONFIG_X: "52" }).join(""), "x");
  const e = assertThrows(() => run(src, { CONFIG_A: "n" }), CppError);
  assertEquals([e.line, e.problem], [
    3,
    "cannot decide: the configuration does not say whether CONFIG_B is set",
  ]);
  // A skipped branch is not evaluated.
  assertEquals(texts("#if 0\n#if CONFIG_NOBODY\n#endif\n#endif\nok").join(""), "ok");
  // Symbols that are not CONFIG_ are 0 when undefined, as in C.
  assertEquals(texts("#if __NOT_DEFINED__\nx\n#else\ny\n#endif").join(""), "y");
});

Deno.test("Preprocessor expands object-like and function-like macros with # and ##", () => {
  const src = [
    "#define ID(x) __KVM_HOST_SMCCC_FUNC_##x",
    "#define __KVM_HOST_SMCCC_FUNC___kvm_hyp_init 0",
    "#define CALL(id) ((1 << 31) | (id))",
    "#define STR(x) #x",
    "#define VA(a, rest...) a + rest",
    "mov x3, #CALL(ID(__kvm_hyp_init))",
    "name: .ascii STR(hello)",
    "mov x0, #VA(1, 2, 3)",
    "\\name_not_expanded .Lname_not_expanded CALL",
  ].join("\n");
  assertEquals(texts(src).filter((x) => x), [
    "mov x3, #((1 << 31) | (0))",
    'name: .ascii "hello"',
    "mov x0, #1 + 2, 3",
    "\\name_not_expanded .Lname_not_expanded CALL",
  ]);
});

Deno.test("Preprocessor includes headers once they are resolved, and reports inside them", () => {
  const headers: Record<string, string> = {
    "a.h": "#define FROM_A 7\n#include <b.h>",
    "b.h": "#ifdef CONFIG_Q\n#endif",
  };
  const out = run("#include <a.h>\nmov x0, #FROM_A", { CONFIG_Q: "y" }, (n) => headers[n]!);
  assertEquals(out.map((l) => l.text.trim()).filter((x) => x), ["mov x0, #7"]);
  // Header lines carry the main file's line of the #include.
  assertEquals(out.filter((l) => l.file === "b.h").every((l) => l.mainLine === 1), true);
  const e = assertThrows(() => run("\n#include <a.h>", {}, (n) => headers[n]!), CppError);
  assertEquals([e.file, e.line], ["t.S", 2]);
  assertEquals(e.problem.includes("CONFIG_Q") && e.problem.includes("(b.h:1)"), true);
  assertThrows(() => run("#include <missing.h>"), CppError, "no header");
});

Deno.test("Preprocessor refuses what is not C preprocessing", () => {
  for (
    const [src, problem] of [
      ["#frob", 'unknown preprocessor directive "#frob"'],
      ["#if 1", "conditional never closed"],
      ["#endif", "#endif without #if"],
      ["#else", "#else without #if"],
      ["#error stop here", "#error stop here"],
      ["#define F(x) x\nF(1", "unterminated arguments of macro F"],
      ["#define F(x, y) x\nF(1)", "macro F takes 2 argument(s), got 1"],
    ] as const
  ) {
    const e = assertThrows(() => run(src), CppError, undefined, src);
    assertEquals(e.problem.startsWith(problem), true, `${src}: ${e.problem}`);
  }
});

Deno.test("stripComments keeps lines and columns", () => {
  assertEquals(stripComments("a /* b\nc */ d // e\nf"), "a     \n     d     \nf");
  assertEquals(stripComments('.ascii "//not" // yes'), '.ascii "//not"       ');
});

Deno.test("evalC agrees with a reference evaluator over 5000 random expressions", () => {
  const p = new Prng(21);
  const w = (v: bigint) => BigInt.asIntN(64, v);
  const gen = (depth: number): [string, bigint] => {
    if (depth === 0 || p.int(3) === 0) {
      const v = BigInt(p.int(2) ? p.int(100) : p.int(0x7fffffff));
      return [p.int(2) ? `${v}` : `0x${v.toString(16)}UL`, v];
    }
    const [a, va] = gen(depth - 1);
    const [b, vb] = gen(depth - 1);
    const op = p.pick(["+", "-", "*", "&", "|", "^", "<<", "==", "!=", "<", ">=", "&&", "||"]);
    const sh = BigInt(Number(vb & 31n));
    const v = op === "+"
      ? w(va + vb)
      : op === "-"
      ? w(va - vb)
      : op === "*"
      ? w(va * vb)
      : op === "&"
      ? va & vb
      : op === "|"
      ? va | vb
      : op === "^"
      ? va ^ vb
      : op === "<<"
      ? w(va << sh)
      : op === "=="
      ? BigInt(va === vb)
      : op === "!="
      ? BigInt(va !== vb)
      : op === "<"
      ? BigInt(va < vb)
      : op === ">="
      ? BigInt(va >= vb)
      : op === "&&"
      ? BigInt(va !== 0n && vb !== 0n)
      : BigInt(va !== 0n || vb !== 0n);
    return [`(${a} ${op} ${op === "<<" ? `(${b} & 31)` : b})`, v];
  };
  for (let k = 0; k < 5000; k++) {
    const [text, value] = gen(4);
    assertEquals(evalC(text), value, text);
  }
});
