import { assert, assertEquals, assertNotStrictEquals, assertStrictEquals } from "@std/assert";
import { assertThrows } from "@std/assert";
import { A64SyntaxError, parseA64 } from "../../../plugins/a64/mod.ts";
import { ParseCache } from "../../../plugins/a64/parse_cache.ts";
import { builtinSequence } from "../../../plugins/switch_sequence/mod.ts";

const PARAMS = "ldr x3, [x0, #NVHE_INIT_PGD_PA]\nmsr ttbr0_el2, x3\nisb\nret x1";
const REGS = "phys_to_ttbr x5, x0\nmsr ttbr0_el2, x5\nset_sctlr_el2 x3\nret x2";
const V6_1 = { NVHE_INIT_PGD_PA: 40n, NVHE_INIT_STACK_PA: 32n };

Deno.test("a second parse of the same text and options is the first program", () => {
  const c = new ParseCache();
  const a = c.parse(REGS, {});
  assertStrictEquals(c.parse(REGS, { features: [], errata: [] }), a);
  assertEquals(a, parseA64(REGS));
});

Deno.test("constants the text does not name do not matter: the check's parse serves the run", () => {
  const c = new ParseCache();
  const a = c.parse(REGS, {});
  const b = c.parse(REGS, { symbols: V6_1 });
  assertStrictEquals(b, a);
  assertEquals(b, parseA64(REGS, { symbols: V6_1 }));
});

Deno.test("a constant the text names, with another value, is a new parse", () => {
  const c = new ParseCache();
  const a = c.parse(PARAMS, {});
  const b = c.parse(PARAMS, { symbols: V6_1 });
  assertNotStrictEquals(b, a);
  assertEquals(a.instructions[0]!.imm, 32n);
  assertEquals(b.instructions[0]!.imm, 40n);
  assertEquals(b, parseA64(PARAMS, { symbols: V6_1 }));
  // The same value as the default is the same program.
  assertStrictEquals(c.parse(PARAMS, { symbols: V6_1 }), b);
  assertEquals(c.parse(PARAMS, {}), a);
});

Deno.test("features and errata are part of the key (alternatives, errata macros)", () => {
  const src = "pre_disable_mmu_workaround\nmsr sctlr_el2, x0\nisb\nret";
  const c = new ParseCache();
  const plain = c.parse(src, {});
  const falkor = c.parse(src, { errata: ["falkor-e1041"] });
  assertEquals(plain.instructions.length + 1, falkor.instructions.length);
  assertEquals(falkor, parseA64(src, { errata: ["falkor-e1041"] }));
  const seq = builtinSequence("v7.2").source;
  const noCnp = c.parse(seq, {});
  const cnp = c.parse(seq, { features: ["cnp"] });
  assertNotStrictEquals(cnp, noCnp);
  assertEquals(cnp, parseA64(seq, { features: ["cnp"] }));
});

Deno.test("a text with #include (release models in scope) and a failed parse are never cached", () => {
  const src = "#include <asm/assembler.h>\nmsr ttbr0_el2, x0\nisb\nret";
  const c = new ParseCache();
  const a = c.parse(src, {});
  assertNotStrictEquals(c.parse(src, {}), a);
  assertEquals(c.parse(src, {}), a);
  assertThrows(() => c.parse("frobnicate x0", {}), A64SyntaxError);
  assertThrows(() => c.parse("frobnicate x0", {}), A64SyntaxError);
});

Deno.test("every built-in sequence: the cached program equals a fresh parse, whatever was parsed before", () => {
  const c = new ParseCache();
  const names = ["v3", "v5.13", "v6.1", "v6.12", "v7.2"];
  const options = [{}, { symbols: V6_1 }, { features: ["cnp"] }, {
    symbols: V6_1,
    features: ["cnp"],
  }];
  let hits = 0;
  for (let round = 0; round < 2; round++) {
    for (const n of names) {
      const src = builtinSequence(n).source;
      for (const o of options) {
        const before = c.parse(src, o);
        const again = c.parse(src, o);
        if (again === before) hits++;
        assertEquals(again, parseA64(src, o));
      }
    }
  }
  assert(hits > 0);
});
