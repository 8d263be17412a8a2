import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import {
  BUILTIN_VARIANTS,
  builtinSequence,
  check,
  createMachine,
  inferSequenceAbi,
  loadSwitchSequence,
  MAINLINE_S,
  parseA64,
  resolveSwitchSequence,
  SET_SCTLR_S,
  SWITCH_SEQUENCE,
  switchSequence,
  V3_S,
  V5_13_S,
  V6_12_S,
  V6_1_S,
  V7_2_S,
} from "../a64/deps.ts";
import { Op } from "../../../plugins/a64/opcodes.ts";
import { FILES, render } from "./generate_sources.ts";

const DIR = new URL("../../../plugins/switch_sequence/", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, DIR));

Deno.test("the built-in TS strings are identical to the shipped .S files", async () => {
  const embedded: Record<string, string> = {
    "v3.S": V3_S,
    "v5_13.S": V5_13_S,
    "mainline.S": MAINLINE_S,
    "set_sctlr.S": SET_SCTLR_S,
    "v6_1.S": V6_1_S,
    "v6_12.S": V6_12_S,
    "v7_2.S": V7_2_S,
  };
  const texts = new Map<string, string>();
  for (const [file] of FILES) {
    const text = await read(`sequences/${file}`);
    texts.set(file, text);
    assertEquals(embedded[file], text, `${file} differs: run generate_sources.ts`);
  }
  // And the generated module is exactly what the generator writes.
  assertEquals(await read("builtin_sources.ts"), render(texts));
});

Deno.test("builtinSequence() knows every variant and its ABI", () => {
  assertEquals(BUILTIN_VARIANTS.map((v) => [v, builtinSequence(v).abi]), [
    ["v3", "params"],
    ["v5.13", "params"],
    ["v6.1", "params"],
    ["v6.12", "registers"],
    ["v7.2", "registers"],
    ["mainline", "registers"],
    ["set_sctlr", "registers"],
  ]);
  // Each ABI is the one the text implies.
  for (const v of BUILTIN_VARIANTS) {
    assertEquals(inferSequenceAbi(builtinSequence(v).source), builtinSequence(v).abi, v);
  }
  // v3's tail is not in the reviewed quote: both say so.
  assertStringIncludes(builtinSequence("v3").description, "not in the reviewed quote");
  assertStringIncludes(builtinSequence("v3").source, "not confirmed for v3 itself");
  assertThrows(
    () => builtinSequence("v4"),
    RangeError,
    "built-in variants are v3, v5.13, v6.1, v6.12, v7.2, mainline, set_sctlr",
  );
});

Deno.test("the built-in texts are the kernel's (instruction by instruction)", async (t) => {
  const texts = (name: string) =>
    parseA64(builtinSequence(name).source).instructions.map((i) => i.text);
  await t.step(
    "mainline: x0 pgd, x1 SP, x2 continuation; dsb nsh; isb; set_sctlr_el2 x3; ret x2",
    () => {
      assertEquals(texts("mainline"), [
        "mrs x3, sctlr_el2",
        "bic x4, x3, #SCTLR_ELx_M",
        "msr sctlr_el2, x4",
        "isb",
        "tlbi alle2",
        "mov x5, x0",
        "nop",
        "msr ttbr0_el2, x5",
        "mov sp, x1",
        "dsb nsh",
        "isb",
        "msr sctlr_el2, x3",
        "isb",
        "ic iallu",
        "dsb nsh",
        "isb",
        "ret x2",
      ]);
      assertEquals(
        parseA64(builtinSequence("mainline").source).labels.get("__pkvm_init_switch_pgd"),
        0,
      );
    },
  );
  await t.step("v5.13: two loads at M=0 and no dsb nsh; isb before set_sctlr_el2", () => {
    const v = texts("v5.13");
    assertEquals(v.filter((x) => x.startsWith("ldr")), [
      "ldr x3, [x0, #NVHE_INIT_PGD_PA]",
      "ldr x0, [x0, #NVHE_INIT_STACK_HYP_VA]",
    ]);
    assertEquals(v.slice(v.indexOf("mov sp, x0") + 1), [
      "msr sctlr_el2, x2",
      "isb",
      "ic iallu",
      "dsb nsh",
      "isb",
      "ret x1",
    ]);
  });
  await t.step("v3: the mail's open-coded tail msr; ic iallu; isb", () => {
    const v = texts("v3");
    assertEquals(v.slice(v.indexOf("mov sp, x0") + 1), [
      "dsb nsh",
      "isb",
      "msr sctlr_el2, x2",
      "ic iallu",
      "isb",
      "ret x1",
    ]);
  });
  await t.step("CnP is an alternative on ARM64_HAS_CNP", () => {
    const p = parseA64(builtinSequence("mainline").source, { features: ["cnp"] });
    assertEquals(p.instructions.some((i) => i.text === "orr x5, x5, #TTBRx_EL1_CnP"), true);
    const v3 = parseA64(builtinSequence("v3").source, { features: ["cnp"] });
    assertEquals(v3.instructions.some((i) => i.text === "orr x4, x4, #TTBR_CNP_BIT"), true);
  });
  await t.step("v6.1: the v5.13 body; v6.12 and v7.2: mainline's, with their own CnP names", () => {
    const body = (name: string) => texts(name).filter((x) => x !== "nop");
    assertEquals(body("v6.1"), body("v5.13"));
    assertEquals(body("v6.12"), body("mainline"));
    assertEquals(body("v7.2"), body("mainline"));
    const cnp = (name: string) =>
      parseA64(builtinSequence(name).source, { features: ["cnp"] }).instructions.find((i) =>
        i.op === Op.ORR_IMM
      )!.text;
    assertEquals([cnp("v6.1"), cnp("v6.12"), cnp("v7.2")], [
      "orr x4, x4, #TTBR_CNP_BIT",
      "orr x5, x5, #TTBR_CNP_BIT",
      "orr x5, x5, #TTBRx_EL1_CnP",
    ]);
  });
  await t.step("the v6.x/v7.x texts are cut verbatim from the Debian sources", () => {
    // The header comment is ours; from the routine on, the text is the file's.
    for (const v of ["v6.1", "v6.12", "v7.2"]) {
      const src = builtinSequence(v).source;
      assertStringIncludes(src, "cut verbatim from arch/arm64/kvm/hyp/nvhe/hyp-init.S");
      assertStringIncludes(src, "SYM_FUNC_END(__pkvm_init_switch_pgd)\n");
    }
  });
  await t.step("verdicts: v3, v5.13, v6.1 fail; v6.12, v7.2, mainline pass; set_sctlr R17", () => {
    assertEquals(BUILTIN_VARIANTS.map((v) => check(builtinSequence(v).source).verdict), [
      "fail",
      "fail",
      "fail",
      "pass",
      "pass",
      "pass",
      "fail",
    ]);
    const rules = (
      v: string,
    ) => [...new Set(check(builtinSequence(v).source).findings.map((f) => f.rule))];
    // v6.1 predates 040113fa32f2 (v6.8): no dsb nsh; isb before set_sctlr_el2.
    assertEquals(rules("v6.1"), ["R4", "R3"]);
    assertEquals(rules("set_sctlr"), ["R17"]);
  });
});

Deno.test("switchSequence() provides SWITCH_SEQUENCE", () => {
  const get = (p: ReturnType<typeof switchSequence>) =>
    createMachine({ cpus: 1, plugins: [p] }).get(SWITCH_SEQUENCE);
  assertEquals(get(switchSequence()).name, "v5.13");
  assertEquals(get(switchSequence({ variant: "mainline" })).source, MAINLINE_S);
  const own = get(switchSequence({ name: "mine", source: "ret x2", abi: "registers" }));
  assertEquals([own.name, own.abi, own.source], ["mine", "registers", "ret x2"]);
  assertStringIncludes(own.description, "mine");
  assertThrows(() => switchSequence({ variant: "v9" as "v3" }), RangeError, "v9");
  assertThrows(
    () => switchSequence({ name: "x", source: "", abi: "stack" as "params" }),
    RangeError,
    'abi must be "params" or "registers"',
  );
});

Deno.test("loadSwitchSequence() and resolveSwitchSequence() read a user file", async () => {
  const path = new URL("fixtures/user_switch.S", import.meta.url).pathname;
  const seq = await loadSwitchSequence(path);
  assertEquals([seq.name, seq.abi], [path, "registers"]);
  assertEquals(check(seq.source).verdict, "pass");
  assertEquals((await loadSwitchSequence(path, { abi: "params", name: "u" })).name, "u");
  assertEquals((await resolveSwitchSequence("v3")).source, V3_S);
  assertEquals((await resolveSwitchSequence("v6.12")).source, V6_12_S);
  assertEquals((await resolveSwitchSequence("builtin:set_sctlr")).source, SET_SCTLR_S);
  assertEquals((await resolveSwitchSequence(path)).source, seq.source);
  await assertRejects(() => resolveSwitchSequence("builtin:nope"), RangeError, "nope");
  await assertRejects(() => loadSwitchSequence("/nonexistent/switch.S"), Deno.errors.NotFound);
});
