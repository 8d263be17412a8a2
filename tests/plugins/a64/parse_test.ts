import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { type A64Instruction, A64SyntaxError, parseA64 } from "./deps.ts";
import { AddrMode, Domain, Op, SINK, SP, XZR } from "../../../plugins/a64/opcodes.ts";

const one = (text: string): A64Instruction => {
  const p = parseA64(text);
  assertEquals(p.instructions.length, 1, text);
  return p.instructions[0]!;
};

const err = (text: string): A64SyntaxError => assertThrows(() => parseA64(text), A64SyntaxError);

Deno.test("parseA64() decodes every instruction of the EL2 subset", async (t) => {
  await t.step("system registers and barriers", () => {
    assertEquals([one("mrs x3, sctlr_el2").op, one("mrs x3, sctlr_el2").sysreg], [
      Op.MRS,
      "SCTLR_EL2",
    ]);
    const msr = one("msr TTBR0_EL2, x5");
    assertEquals([msr.op, msr.sysreg, msr.rn], [Op.MSR, "TTBR0_EL2", 5]);
    assertEquals(one("msr vbar_el2, xzr").rn, XZR);
    assertEquals([one("isb").op, one("isb sy").op], [Op.ISB, Op.ISB]);
    for (
      const [opt, dom] of [
        ["sy", Domain.SY],
        ["ish", Domain.ISH],
        ["ishst", Domain.ISH],
        ["nsh", Domain.NSH],
        ["nshst", Domain.NSH],
        ["osh", Domain.OSH],
        ["ld", Domain.SY],
        ["ishld", Domain.ISH],
        ["nshld", Domain.NSH],
        ["oshst", Domain.OSH],
        ["oshld", Domain.OSH],
        ["st", Domain.SY],
      ] as const
    ) {
      assertEquals([one(`dsb ${opt}`).op, one(`dsb ${opt}`).domain], [Op.DSB, dom], opt);
      assertEquals(one(`dmb ${opt}`).op, Op.DMB);
    }
  });
  await t.step("maintenance", () => {
    for (const op of ["alle2", "alle2is", "alle1", "alle1is", "vmalle1", "vmalle1is"]) {
      assertEquals([one(`tlbi ${op}`).op, one(`tlbi ${op}`).operation], [Op.TLBI, op]);
    }
    assertEquals([one("tlbi vae2, x0").rn, one("tlbi vae2is, x7").operation], [0, "vae2is"]);
    assertEquals([one("ic iallu").operation, one("ic ialluis").operation], ["iallu", "ialluis"]);
    assertEquals(one("ic ivau, x1").rn, 1);
    assertEquals([one("dc civac, x2").operation, one("dc cvac, x3").rn], ["civac", 3]);
  });
  await t.step("moves and arithmetic", () => {
    assertEquals([one("mov x1, x2").op, one("mov x1, x2").rn], [Op.MOV_REG, 2]);
    assertEquals([one("mov sp, x1").rd, one("mov x0, sp").rn], [SP, SP]);
    assertEquals([one("mov x0, #0x30").op, one("mov x0, #0x30").imm], [Op.MOV_IMM, 0x30n]);
    assertEquals(one("mov x0, #-1").imm, (1n << 64n) - 1n);
    assertEquals([one("movz x0, #0xc600, lsl #16").shift, one("movz x0, #0xc600, lsl #16").imm], [
      16,
      0xc600n,
    ]);
    assertEquals([one("movz x0, #0x10000").shift, one("movz x0, #0x10000").imm], [16, 1n]);
    assertEquals([one("movk x0, #0x1").op, one("movk x0, #1, lsl #48").shift], [Op.MOVK, 48]);
    assertEquals([one("orr x5, x5, #TTBRx_EL1_CnP").op, one("orr x5, x5, #1").imm], [
      Op.ORR_IMM,
      1n,
    ]);
    assertEquals([one("orr x1, x2, x3, lsl #4").op, one("orr x1, x2, x3, lsl #4").shift], [
      Op.ORR_REG,
      4,
    ]);
    // gas: bic with an immediate is `and` with the inverted immediate.
    const bic = one("bic x4, x3, #SCTLR_ELx_M");
    assertEquals([bic.op, bic.imm], [Op.AND_IMM, (1n << 64n) - 2n]);
    assertEquals(one("bic x4, x3, x2").op, Op.BIC_REG);
    assertEquals([one("and x1, x1, #0xff").op, one("and x1, x1, x2").op], [Op.AND_IMM, Op.AND_REG]);
    assertEquals([one("add x0, x0, #16").op, one("add sp, sp, #0x10").rd], [Op.ADD_IMM, SP]);
    assertEquals([one("add x0, x0, #1, lsl #12").imm, one("add x0, x0, #-8").op], [
      4096n,
      Op.SUB_IMM,
    ]);
    assertEquals([one("sub x0, x1, #4").op, one("sub x0, x1, x2").op, one("add x0, x1, x2").op], [
      Op.SUB_IMM,
      Op.SUB_REG,
      Op.ADD_REG,
    ]);
    assertEquals([one("lsl x0, x1, #12").op, one("lsl x0, x1, #12").shift], [Op.LSL_IMM, 12]);
    assertEquals([one("lsr x0, x1, #46").op, one("lsl x0, x1, x2").op, one("lsr x0, x1, x2").op], [
      Op.LSR_IMM,
      Op.LSL_REG,
      Op.LSR_REG,
    ]);
    assertEquals(one("mov xzr, x1").rd, SINK);
  });
  await t.step("loads and stores", () => {
    const l = one("ldr x3, [x0, #NVHE_INIT_PGD_PA]");
    assertEquals([l.op, l.rd, l.rn, l.imm, l.mode, l.offsetSymbol], [
      Op.LDR,
      3,
      0,
      32n,
      AddrMode.OFFSET,
      "NVHE_INIT_PGD_PA",
    ]);
    assertEquals([one("ldr x0, [x1]").imm, one("str x0, [sp, #8]").rn], [0n, SP]);
    assertEquals([one("str x0, [sp, #-16]!").mode, one("str x0, [sp, #-16]!").imm], [
      AddrMode.PRE,
      -16n,
    ]);
    assertEquals([one("ldr x0, [sp], #16").mode, one("ldr x0, [sp], #16").imm], [
      AddrMode.POST,
      16n,
    ]);
    assertEquals(one("ldr x0, [x1, #-8]").imm, -8n); // ldur form
    const stp = one("stp x29, x30, [sp, #-16]!");
    assertEquals([stp.op, stp.rd, stp.rm, stp.rn, stp.mode], [Op.STP, 29, 30, SP, AddrMode.PRE]);
    assertEquals([one("ldp x0, x1, [x2], #16").mode, one("ldp x0, x1, [x2, #8]").imm], [
      AddrMode.POST,
      8n,
    ]);
  });
  await t.step("branches and exceptions", () => {
    const p = parseA64("start: nop\n\tb start\n\tbl start\n\tcbz x0, start\n\tcbnz x1, start");
    assertEquals(p.instructions.map((i) => [i.op, i.target]), [
      [Op.NOP, -1],
      [Op.B, 0],
      [Op.BL, 0],
      [Op.CBZ, 0],
      [Op.CBNZ, 0],
    ]);
    assertEquals([one("br x3").op, one("blr x4").rn, one("ret").rn, one("ret x2").rn], [
      Op.BR,
      4,
      30,
      2,
    ]);
    assertEquals([one("hvc #0").op, one("hvc #0x1234").imm, one("eret").op, one("nop").op], [
      Op.HVC,
      0x1234n,
      Op.ERET,
      Op.NOP,
    ]);
    assertEquals(one("ret lr").rn, 30);
  });
});

Deno.test("parseA64() reads the kernel's text: comments, separators, labels, SYM_* and constants", () => {
  const src = [
    "/* a block",
    "   comment */ SYM_TYPED_FUNC_START(fn) // trailing",
    "1:\tmrs x3, sctlr_el2; bic x4, x3, #SCTLR_ELx_M ; msr sctlr_el2, x4",
    "\tisb /* inline */ ; cbz x0, 1b",
    "\tcbnz x0, 2f",
    "2:",
    "\tmov x0, #(PSR_F_BIT | PSR_I_BIT | PSR_A_BIT | PSR_D_BIT | PSR_MODE_EL2h)",
    "SYM_FUNC_END(fn)",
    "SYM_CODE_START(other)",
    "\tret",
    "SYM_CODE_END(other)",
  ].join("\n");
  const p = parseA64(src);
  assertEquals(p.instructions.map((i) => i.text), [
    "mrs x3, sctlr_el2",
    "bic x4, x3, #SCTLR_ELx_M",
    "msr sctlr_el2, x4",
    "isb",
    "cbz x0, 1b",
    "cbnz x0, 2f",
    "mov x0, #(PSR_F_BIT | PSR_I_BIT | PSR_A_BIT | PSR_D_BIT | PSR_MODE_EL2h)",
    "ret",
  ]);
  assertEquals(p.instructions.map((i) => [i.line, i.column]), [
    [3, 4],
    [3, 23],
    [3, 50],
    [4, 2],
    [4, 21],
    [5, 2],
    [7, 2],
    [10, 2],
  ]);
  assertEquals([p.instructions[4]!.target, p.instructions[5]!.target], [0, 6]);
  assertEquals(p.instructions[6]!.imm, 0x3c9n);
  assertEquals([p.labels.get("fn"), p.labels.get("other")], [0, 7]);
});

Deno.test("parseA64() expands the built-in macros with the invocation's line", async (t) => {
  await t.step("set_sctlr, set_sctlr_el1, set_sctlr_el2 (assembler.h)", () => {
    const body = ["isb", "ic iallu", "dsb nsh", "isb"];
    assertEquals(parseA64("set_sctlr sctlr_el2, x3").instructions.map((i) => i.text), [
      "msr sctlr_el2, x3",
      ...body,
    ]);
    const el1 = parseA64("\n  set_sctlr_el1 x9").instructions;
    assertEquals(el1.map((i) => i.text), ["msr sctlr_el1, x9", ...body]);
    assertEquals(
      el1.map((i) => [i.line, i.column, i.macro]),
      el1.map(() => [2, 3, "set_sctlr_el1"]),
    );
    assertEquals(parseA64("set_sctlr_el2\tx2").instructions[0]!.sysreg, "SCTLR_EL2");
  });
  await t.step("phys_to_ttbr is a mov without 52-bit PAs", () => {
    assertEquals(parseA64("phys_to_ttbr x5, x0").instructions.map((i) => [i.op, i.rd, i.rn]), [[
      Op.MOV_REG,
      5,
      0,
    ]]);
  });
  await t.step("pre_disable_mmu_workaround is an isb only with Falkor E1041", () => {
    assertEquals(parseA64("pre_disable_mmu_workaround").instructions.length, 0);
    const p = parseA64("pre_disable_mmu_workaround", { errata: ["falkor-e1041"] });
    assertEquals(p.instructions.map((i) => [i.text, i.macro]), [[
      "isb",
      "pre_disable_mmu_workaround",
    ]]);
  });
  await t.step("mov_q uses 2, 3 or 4 instructions by magnitude and sign", () => {
    const texts = (v: string) => parseA64(`mov_q x5, ${v}`).instructions.map((i) => i.text);
    assertEquals(texts("INIT_SCTLR_EL2_MMU_OFF"), ["movz x5, #0x30c5, lsl #16", "movk x5, #0x830"]);
    assertEquals(texts("0x123456789a"), [
      "movz x5, #0x12, lsl #32",
      "movk x5, #0x3456, lsl #16",
      "movk x5, #0x789a",
    ]);
    assertEquals(texts("0x1122334455667788").length, 4);
    assertEquals(texts("-2"), ["movn x5, #0x0, lsl #16", "movk x5, #0xfffe"]);
  });
});

Deno.test("parseA64() resolves alternatives by the configured CPU features", () => {
  const src =
    "alternative_if ARM64_HAS_CNP\n\torr x5, x5, #TTBRx_EL1_CnP\nalternative_else_nop_endif\nmsr ttbr0_el2, x5";
  const without = parseA64(src).instructions;
  assertEquals(without.map((i) => [i.text, i.line]), [["nop", 2], ["msr ttbr0_el2, x5", 4]]);
  assertStringIncludes(without[0]!.note!, "ARM64_HAS_CNP absent");
  const withCnp = parseA64(src, { features: ["cnp"] }).instructions;
  assertEquals(withCnp.map((i) => i.text), ["orr x5, x5, #TTBRx_EL1_CnP", "msr ttbr0_el2, x5"]);
  const ifElse =
    "alternative_if_not ARM64_HAS_CNP\n\tnop\nalternative_else\n\tisb\nalternative_endif";
  assertEquals(parseA64(ifElse).instructions.map((i) => i.text), ["nop"]);
  assertEquals(parseA64(ifElse, { features: ["cnp"] }).instructions.map((i) => i.text), ["isb"]);
  // The inactive branch is still checked.
  assertEquals(err("alternative_if ARM64_HAS_CNP\n  frob x0\nalternative_else_nop_endif").line, 2);
});

Deno.test("parseA64() rejects anything else with line:column, the text and what is supported", async (t) => {
  const cases: [string, number, number, string][] = [
    ["isb\n  udiv x0, x1, x2", 2, 3, 'unknown instruction or macro "udiv"'],
    ["mrs x0, foo_el2", 1, 9, "unknown system register"],
    ["mrs x0, s3_4_c16_c0_0", 1, 9, "unknown system register"],
    ["msr id_aa64mmfr0_el1, x0", 1, 5, "read-only"],
    ["mov x0, w1", 1, 9, "32-bit registers"],
    ["dsb foo", 1, 5, "bad dsb option"],
    ["tlbi vae2", 1, 1, "needs a register"],
    ["tlbi alle2, x0", 1, 1, "takes no register"],
    ["tlbi vale3", 1, 6, "unsupported tlbi operation"],
    ["ic ivau", 1, 1, "needs a register"],
    ["dc zva, x0", 1, 4, "unsupported dc operation"],
    ["orr x0, x0, #0x12345", 1, 13, "bitmask"],
    ["mov x0, #0x12345", 1, 9, "mov_q"],
    ["add x0, x0, #0x1001", 1, 13, "out of range"],
    ["ldr x0, [x1, x2]", 1, 14, "register offsets"],
    ["str x0, =0x1234", 1, 9, "a literal only loads"],
    ["ldr x0, [x1, #4096000]", 1, 1, "out of range"],
    ["stp x0, x1, [sp, #-1024]!", 1, 1, "out of range"],
    ["b nowhere", 1, 3, 'undefined label "nowhere"'],
    ["  orr x0, x0, #UNKNOWN_THING", 1, 16, 'unknown constant "UNKNOWN_THING"'],
    [".frobnicate", 1, 1, "directive"],
    ["#include <asm/unknown.h>", 1, 11, "models have no <asm/unknown.h>"],
    ["#ifdef CONFIG_MYSTERY\nnop\n#endif", 1, 1, "does not say whether CONFIG_MYSTERY is set"],
    ["nop\n#frob", 2, 1, "unknown preprocessor directive"],
    [".macro m a\nnop", 1, 1, ".macro never closed"],
    [".if 1\nnop", 1, 1, ".if never closed"],
    [".quad 0", 1, 1, "data (.quad) in a code section"],
    ["nop\n\x00\x01", 2, 1, "binary input (control byte 0x00)"],
    ["alternative_if ARM64_HAS_FOO", 1, 1, "unknown CPU capability"],
    ["alternative_if ARM64_HAS_CNP\nnop", 1, 1, "never closed"],
    ["alternative_endif", 1, 1, "without alternative_if"],
    ["set_sctlr_el2", 1, 1, "takes 1 argument"],
    ["SYM_FUNC_END(x)", 1, 1, "without a start"],
    ["a: nop\na: nop", 2, 1, "defined twice"],
    ["/* open", 1, 1, "unterminated"],
    ["ldaxr x0, [x1]", 1, 1, "unknown instruction"],
    ["hvc #0x10000", 1, 5, "16 bits"],
    ["nop\n\n   mov sp, xzr", 3, 12, "xzr is not allowed"],
    // Inside a macro expansion the column is the argument's in the invocation.
    ["  set_sctlr_el2 w3", 1, 17, "32-bit registers"],
    ["  set_sctlr_el2\tw3", 1, 17, "32-bit registers"],
    ["phys_to_ttbr x5,   w0", 1, 20, "32-bit registers"],
    ["mov_q x3, BOGUS", 1, 11, 'unknown constant "BOGUS"'],
    ["  mov_q   x3,   #(1 + BOGUS)", 1, 23, 'unknown constant "BOGUS"'],
  ];
  for (const [src, line, column, problem] of cases) {
    await t.step(src.replaceAll("\n", "\\n"), () => {
      const e = err(src);
      assertEquals([e.line, e.column], [line, column], e.message);
      assertStringIncludes(e.message, problem);
      assertStringIncludes(e.message, `${line}:${column}:`);
      assertStringIncludes(e.message, "supported:");
    });
  }
  const e = err("\tudiv x0, x1, x2");
  assertEquals(e.text, "udiv x0, x1, x2");
  assertStringIncludes(e.supported, "mrs, msr, isb");
});
