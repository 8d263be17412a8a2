/**
 * The kernel assembler macros hyplab expands from a built-in table (the
 * release models of `kernel/` define the others as gas `.macro`s).
 *
 * Bodies follow arch/arm64/include/asm/assembler.h (checked against the
 * mainline file and the v4 patch "arm64: asm: Provide set_sctlr_el2 macro",
 * 8f4de66e247b, which introduced `set_sctlr` / `set_sctlr_el2`):
 * - `pre_disable_mmu_workaround`: `isb` under CONFIG_QCOM_FALKOR_ERRATUM_E1041.
 *   hyplab emits it when the `falkor-e1041` erratum is configured (a kernel
 *   built with the option emits it everywhere, where it is harmless).
 * - `phys_to_ttbr ttbr, phys`: `mov` (CONFIG_ARM64_PA_BITS_52=n, the 4K-page case).
 * - `set_sctlr sreg, reg`: `msr; isb; ic iallu; dsb nsh; isb`; `set_sctlr_el1/_el2 reg`.
 * - `mov_q reg, val`: 2–4 `movz`/`movk` depending on the magnitude and sign of
 *   `val` (the kernel's `:abs_g*_s:` relocations turn a negative first chunk
 *   into `movn`).
 * - `mrs_s rt, sreg` / `msr_s sreg, rt` (asm/sysreg.h): the kernel emits the
 *   encoding with `.inst`; here the `SYS_*` value names the register.
 *
 * @module
 */

import { sysregByEncoding } from "./sysregs.ts";

/** How a macro expands: statements (text) given its arguments, or an error message. */
export interface A64MacroDef {
  /** Argument names, in order. */
  readonly params: readonly string[];
  /**
   * Expansion.
   * @param args Argument texts.
   * @param ctx Configured errata and a constant evaluator.
   * @returns Statements to parse in place of the invocation.
   */
  expand(args: readonly string[], ctx: A64MacroContext): string[];
}

/** What an expansion may consult. */
export interface A64MacroContext {
  /** Configured errata. */
  readonly errata: ReadonlySet<string>;
  /**
   * Evaluates an immediate expression.
   * @param text Expression.
   * @returns 64-bit value.
   */
  evaluate(text: string): bigint;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** Expands `mov_q` the way assembler.h does: 2, 3 or 4 instructions. */
function movQ(reg: string, value: bigint): string[] {
  const v = BigInt.asIntN(64, value);
  const chunk = (n: bigint) => (BigInt.asUintN(64, v) >> (16n * n)) & 0xffffn;
  const top = (n: bigint) => {
    // A `:abs_gN_s:` chunk: movz when the value is non-negative, movn of the
    // inverted chunk when it is negative.
    const c = chunk(n);
    return v < 0n
      ? `movn ${reg}, #${hex(~c & 0xffffn)}, lsl #${16n * n}`
      : `movz ${reg}, #${hex(c)}, lsl #${16n * n}`;
  };
  const out: string[] = [];
  if (v >> 31n === 0n || v >> 31n === -1n) {
    out.push(top(1n));
  } else if (v >> 47n === 0n || v >> 47n === -1n) {
    out.push(top(2n), `movk ${reg}, #${hex(chunk(1n))}, lsl #16`);
  } else {
    out.push(
      `movz ${reg}, #${hex(chunk(3n))}, lsl #48`,
      `movk ${reg}, #${hex(chunk(2n))}, lsl #32`,
      `movk ${reg}, #${hex(chunk(1n))}, lsl #16`,
    );
  }
  out.push(`movk ${reg}, #${hex(chunk(0n))}`);
  return out;
}

function sysregName(value: bigint): string {
  if (value < 0n || value > 0x1fffffn || (value & 0x1fn) !== 0n || (value >> 19n) < 2n) {
    throw new Error(`0x${value.toString(16)} is not a sys_reg() encoding`);
  }
  return sysregByEncoding(Number(value)).name.toLowerCase();
}

/**
 * The macros every configuration has: `mov_q`, `mrs_s`, `msr_s`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { A64_CORE_MACROS } from "./mod.ts";
 * const ctx = { errata: new Set<string>(), evaluate: (t: string) => BigInt(t) };
 * assertEquals(A64_CORE_MACROS.msr_s!.expand(["0x1c2000", "x5"], ctx), ["msr ttbr0_el2, x5"]);
 * ```
 */
export const A64_CORE_MACROS: Readonly<Record<string, A64MacroDef>> = {
  mov_q: {
    params: ["reg", "val"],
    expand: ([reg, val], ctx) => movQ(reg!, ctx.evaluate(val!.replace(/^#/, ""))),
  },
  mrs_s: {
    params: ["rt", "sreg"],
    expand: ([rt, sreg], ctx) => [`mrs ${rt}, ${sysregName(ctx.evaluate(sreg!))}`],
  },
  msr_s: {
    params: ["sreg", "rt"],
    expand: ([sreg, rt], ctx) => [`msr ${sysregName(ctx.evaluate(sreg!))}, ${rt}`],
  },
};

/**
 * The built-in macro table of a text read without release models: the core
 * macros and the assembler.h macros a switch sequence uses.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { A64_MACROS } from "./mod.ts";
 * const ctx = { errata: new Set<string>(), evaluate: (t: string) => BigInt(t) };
 * assertEquals(A64_MACROS.set_sctlr_el2!.expand(["x3"], ctx), ["set_sctlr sctlr_el2, x3"]);
 * ```
 */
export const A64_MACROS: Readonly<Record<string, A64MacroDef>> = {
  pre_disable_mmu_workaround: {
    params: [],
    expand: (_args, ctx) => (ctx.errata.has("falkor-e1041") ? ["isb"] : []),
  },
  phys_to_ttbr: {
    params: ["ttbr", "phys"],
    expand: ([ttbr, phys]) => [`mov ${ttbr}, ${phys}`],
  },
  set_sctlr: {
    params: ["sreg", "reg"],
    expand: ([sreg, reg]) => [`msr ${sreg}, ${reg}`, "isb", "ic iallu", "dsb nsh", "isb"],
  },
  set_sctlr_el1: {
    params: ["reg"],
    expand: ([reg]) => [`set_sctlr sctlr_el1, ${reg}`],
  },
  set_sctlr_el2: {
    params: ["reg"],
    expand: ([reg]) => [`set_sctlr sctlr_el2, ${reg}`],
  },
  ...A64_CORE_MACROS,
};
