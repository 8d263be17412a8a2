import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { A64SyntaxError, check, decodeInstWord, parseA64 } from "./deps.ts";
import { Op } from "../../../plugins/a64/opcodes.ts";

const texts = (src: string) =>
  parseA64(src).instructions.filter((i) => !i.padding).map((i) => i.text);
const err = (src: string) => assertThrows(() => parseA64(src), A64SyntaxError);

Deno.test("gas .macro: arguments, defaults, :req, :vararg, keywords, \\@ and \\()", () => {
  const src = [
    ".macro load reg, base, off=0",
    "\tldr\t\\reg, [\\base, #\\off]",
    ".endm",
    ".macro twice name:req, rest:vararg",
    ".L\\name\\()_\\@:",
    "\tnop",
    "\t\\rest",
    ".endm",
    "\tload x1, x0",
    "\tload x2 x0 8",
    "\tload off=16, reg=x3, base=x0",
    "\ttwice a, mov x4, x5",
    "\tLOAD x6, x0", // macro names are case-insensitive, as in gas
  ].join("\n");
  const p = parseA64(src);
  assertEquals(p.instructions.map((i) => i.text), [
    "ldr x1, [x0, #0]",
    "ldr x2, [x0, #8]",
    "ldr x3, [x0, #16]",
    "nop",
    "mov x4, x5",
    "ldr x6, [x0, #0]",
  ]);
  assertEquals(p.labels.has(".La_3"), true);
  // Expansions keep the invocation's line and name the outermost macro.
  assertEquals(p.instructions.map((i) => [i.line, i.macro]), [
    [9, "load"],
    [10, "load"],
    [11, "load"],
    [12, "twice"],
    [12, "twice"],
    [13, "load"],
  ]);
  assertStringIncludes(
    err(".macro m a:req\nnop\n.endm\nm").message,
    'missing value for required parameter "a"',
  );
});

Deno.test("gas conditionals and repeats", () => {
  const src = [
    ".set FEAT, 2",
    ".if FEAT > 1",
    "\tmov x0, #1",
    ".elseif FEAT == 1",
    "\tmov x0, #2",
    ".else",
    "\tmov x0, #3",
    ".endif",
    ".ifc abc, abc",
    "\tnop",
    ".endif",
    ".ifnb",
    "\tbad junk here",
    ".endif",
    ".ifdef FEAT",
    "\tisb",
    ".endif",
    ".irp r, 1, 2",
    "\tmov x\\r, xzr",
    ".endr",
    ".rept 2",
    "\tdsb nsh",
    ".endr",
  ].join("\n");
  assertEquals(texts(src), [
    "mov x0, #1",
    "nop",
    "isb",
    "mov x1, xzr",
    "mov x2, xzr",
    "dsb nsh",
    "dsb nsh",
  ]);
  // mov_q's own test: a negative value shifted right is a 64-bit logical shift.
  assertEquals(texts(".if ((-2 >> 31) == 0x1ffffffff)\nnop\n.endif"), ["nop"]);
});

Deno.test("directives that do not change what executes are accepted; .align pads with NOPs", () => {
  const src = [
    "\t.text",
    '\t.pushsection .idmap.text, "ax"',
    "\t.globl\tentry",
    "\t.type\tentry, %function",
    "\tnop",
    "\t.align\t4",
    "entry:\tisb",
    "\t.cfi_startproc",
    "\t.size\tentry, . - entry",
    "\t.pushsection .rodata",
    "\t.quad\t0x1234",
    "\t.popsection",
    "\t.popsection",
    "\tret",
  ].join("\n");
  const p = parseA64(src);
  assertEquals(p.instructions.map((i) => [i.text, i.padding ?? false]), [
    ["nop", false],
    ["nop", true],
    ["nop", true],
    ["nop", true],
    ["isb", false],
    ["ret", false],
  ]);
  assertEquals(p.labels.get("entry"), 4); // 16-byte aligned
  assertEquals(p.symbols!.map((s) => [s.name, s.global, s.start]), [["entry", true, 4]]);
  assertStringIncludes(err("\t.quad 0").message, "data (.quad) in a code section");
  assertStringIncludes(err("\t.frob").message, 'unsupported assembler directive ".frob"');
  assertStringIncludes(err('.error "stop"').message, '.error "stop"');
});

Deno.test("SYM_* annotations give routines; an unclosed one runs to the end of the text", () => {
  const src = [
    "SYM_CODE_START(outer)",
    "\tnop",
    "SYM_INNER_LABEL(inner, SYM_L_LOCAL)",
    "\tret",
    "SYM_CODE_END(outer)",
    "SYM_FUNC_START_LOCAL(helper)",
    "\tret",
    "SYM_FUNC_END(helper)",
    "SYM_FUNC_ALIAS(helper_alias, helper)",
    "SYM_TYPED_FUNC_START(cut)",
    "\tisb",
  ].join("\n");
  const p = parseA64(src);
  assertEquals(p.symbols!.map((s) => [s.name, s.kind, s.global, s.start, s.end]), [
    ["outer", "code", true, 0, 2],
    ["inner", "inner", false, 1, 2],
    ["helper", "func", false, 2, 3],
    ["cut", "func", true, 3, 4],
  ]);
  assertEquals(p.labels.get("helper_alias"), 2);
  assertStringIncludes(
    err("SYM_FUNC_START(a)\nSYM_FUNC_END(b)").message,
    "SYM_FUNC_END(b) closes a",
  );
});

Deno.test("labels: numeric, named, `.` and `. + n`; register aliases", () => {
  const p = parseA64("lr2 .req x30\n1: b .\nb . + 8\nb 1b\nnop\nret lr2");
  assertEquals(p.instructions.map((i) => i.target), [0, 3, 0, -1, -1]);
  assertEquals(p.instructions[4]!.rn, 30);
  assertStringIncludes(err("b . + 6").message, "not a multiple of 4 bytes");
});

Deno.test(".inst decodes what mrs_s/msr_s, hints and barriers emit", () => {
  assertEquals(decodeInstWord(0xd5200000 | 0x1c2000 | 3), "mrs x3, ttbr0_el2");
  assertEquals(decodeInstWord(0xd5000000 | 0x1cc9a0 | 31), "msr icc_sre_el2, xzr");
  assertEquals(decodeInstWord(0xd503209f >>> 0), "sev");
  assertEquals(decodeInstWord(0xd503379f >>> 0), "dsb nsh");
  assertEquals(decodeInstWord(0xd5033fdf >>> 0), "isb");
  assertEquals(decodeInstWord(0x8b000000), undefined);
  assertEquals(texts(".inst 0xd5000000 | (3 << 19 | 4 << 16 | 2 << 12) | 5"), [
    "msr ttbr0_el2, x5",
  ]);
  assertStringIncludes(err(".inst 0x8b000000").message, "cannot decode .inst 0x8b000000");
});

Deno.test("system registers: named, the generic s<op0>_<op1>_c<n>_c<m>_<op2> spelling, PSTATE", () => {
  const p = parseA64(
    "msr s3_4_c2_c0_0, x5\nmrs x1, S3_4_C15_C2_1\nmrs x2, CurrentEL\nmsr SPSel, #1\nmsr_s SYS_ICC_SRE_EL2, x0",
  );
  assertEquals(p.instructions.map((i) => [i.op, i.sysreg || i.operation]), [
    [Op.MSR, "TTBR0_EL2"],
    [Op.MRS, "S3_4_C15_C2_1"],
    [Op.MRS, "CURRENTEL"],
    [Op.MSR_IMM, "spsel"],
    [Op.MSR, "ICC_SRE_EL2"],
  ]);
  assertStringIncludes(err("msr currentel, x0").message, "read-only");
});

Deno.test("the kernel's mov_q works through its own :abs_gN: relocations", () => {
  // The v6.12 header macro, not the built-in one.
  const kernel = [
    ".macro kmov_q, reg, val",
    ".if (((\\val) >> 31) == 0 || ((\\val) >> 31) == 0x1ffffffff)",
    "\tmovz\t\\reg, :abs_g1_s:\\val",
    ".else",
    ".if (((\\val) >> 47) == 0 || ((\\val) >> 47) == 0x1ffff)",
    "\tmovz\t\\reg, :abs_g2_s:\\val",
    ".else",
    "\tmovz\t\\reg, :abs_g3:\\val",
    "\tmovk\t\\reg, :abs_g2_nc:\\val",
    ".endif",
    "\tmovk\t\\reg, :abs_g1_nc:\\val",
    ".endif",
    "\tmovk\t\\reg, :abs_g0_nc:\\val",
    ".endm",
  ].join("\n");
  const ops = (v: string) =>
    parseA64(`${kernel}\nkmov_q x5, ${v}`).instructions.map((i) => [i.op, i.imm, i.shift]);
  const builtin = (v: string) =>
    parseA64(`mov_q x5, ${v}`).instructions.map((i) => [i.op, i.imm, i.shift]);
  for (const v of ["0x30c50830", "-2", "0x123456789a", "0x1122334455667788", "-0x123456789a"]) {
    assertEquals(ops(v), builtin(v), v);
  }
});

Deno.test("a text with no instruction, or a binary one, is bad input", () => {
  for (const src of ["", "// a comment\n\t.text\n\t.align 3\n", "/* */"]) {
    const e = assertThrows(() => check(src), A64SyntaxError, "no instructions");
    assertEquals([e.line, e.column], [1, 1]);
  }
  const bin = assertThrows(() => check("isb\n\x01\x02"), A64SyntaxError);
  assertEquals([bin.line, bin.column], [2, 1]);
  assertEquals(bin.message.includes("\x01"), false);
  assertStringIncludes(bin.message, "\\x01");
});
