/**
 * The A64 parser, accepting the kernel's own text: the C preprocessor pass
 * (`#include`, `#if`/`#ifdef` on the configuration, `#define`), then the
 * assembler front end (labels named and numeric, `//` and `/* *\/`
 * comments, `;` separators, `#imm` and `#CONSTANT` operands, gas
 * directives and `.macro`s, `SYM_*` annotations, `alternative_*` blocks
 * resolved by the configured CPU features), then instruction decoding.
 *
 * Without release models the built-in macros of `macros.ts` and the
 * constants of `symbols.ts` stand in for the headers (a switch sequence
 * cut out of hyp-init.S reads as it did). With a release (`release`, or
 * any text with `#include`), each `#include` reads that release's model
 * of the header (`kernel/`), or the header itself from a kernel tree when
 * an `include` resolver is given.
 *
 * Anything else is an {@link A64SyntaxError} naming `line:column`, the text
 * and what is supported.
 *
 * @module
 */

import { A64_CORE_MACROS, A64_MACROS } from "./macros.ts";
import { Assembler } from "./assembler.ts";
import { CppError, type IncludeResolver, Preprocessor } from "./cpp.ts";
import { A64SyntaxError } from "./errors.ts";
import { DEFAULT_RELEASE, kernelRelease } from "./kernel/releases.ts";
import type { A64Program } from "./program.ts";
import { A64_SYMBOLS, ALTERNATIVE_CAPS } from "./symbols.ts";
import { A64_SYSREG_SYMBOLS } from "./sysregs.ts";

export { A64_MNEMONICS } from "./decode.ts";

/** Options of {@link parseA64}. */
export interface A64ParseOptions {
  /** CPU features (`cnp`, `ets`, ...) for `alternative_if`. */
  features?: readonly string[];
  /** Errata (`falkor-e1041`, `tx2-219`) for alternatives and `pre_disable_mmu_workaround`. */
  errata?: readonly string[];
  /** Extra or overriding constants for `#NAME` operands. */
  symbols?: Readonly<Record<string, bigint | number>>;
  /**
   * Kernel release whose models stand in for the headers (`v6.1`, `v6.12`,
   * `v7.2`). Default: none for a text without `#include` (the built-in
   * macros), the newest release for one with.
   */
  release?: string;
  /** `CONFIG_*` values over the release's configuration (`y`, `m`, `n`, or a value). */
  config?: Readonly<Record<string, string>>;
  /**
   * Reads `#include`d headers from a kernel tree instead of the models
   * (see `kernel/source_tree.ts`).
   */
  include?: IncludeResolver;
  /** The text's name in messages from headers (default `input`). */
  file?: string;
}

/**
 * What the kernel build predefines for hyp-init.S: `-D__ASSEMBLY__` for a
 * `.S` file, `-D__KVM_NVHE_HYPERVISOR__` for the nVHE hypervisor objects
 * (arch/arm64/kvm/hyp/nvhe/Makefile), `__KERNEL__`, and the compiler's
 * AArch64 LP64 predefines the headers test.
 */
const KERNEL_BUILD_DEFINES: Readonly<Record<string, string>> = {
  __ASSEMBLY__: "1",
  __ASSEMBLER__: "1",
  __KERNEL__: "1",
  __KVM_NVHE_HYPERVISOR__: "1",
  __aarch64__: "1",
  __LP64__: "1",
  __CHAR_BIT__: "8",
  __SIZEOF_INT__: "4",
  __SIZEOF_LONG__: "8",
  __SIZEOF_LONG_LONG__: "8",
  __SIZEOF_POINTER__: "8",
};

/** Names the preprocessor leaves to the assembler even when a header defines them. */
const KEEP = new Set([
  "SYM_FUNC_START",
  "SYM_FUNC_START_LOCAL",
  "SYM_FUNC_START_NOALIGN",
  "SYM_FUNC_START_WEAK",
  "SYM_TYPED_FUNC_START",
  "SYM_CODE_START",
  "SYM_CODE_START_LOCAL",
  "SYM_CODE_START_NOALIGN",
  "SYM_FUNC_END",
  "SYM_CODE_END",
  "SYM_INNER_LABEL",
  "SYM_INNER_LABEL_ALIGN",
  "SYM_FUNC_ALIAS",
  "SYM_FUNC_ALIAS_LOCAL",
  "SYM_FUNC_ALIAS_WEAK",
  "SYM_L_GLOBAL",
  "SYM_L_LOCAL",
  "SYM_L_WEAK",
]);

/**
 * Refuses what is not text: a NUL or another control character (other
 * than tab, newline, carriage return, form feed, vertical tab, escape).
 * @param source The input.
 * @throws {A64SyntaxError} Naming the byte and its position.
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { A64SyntaxError, checkText } from "./mod.ts";
 * checkText("isb\n\tret\n");
 * assertThrows(() => checkText("isb\n\x00"), A64SyntaxError, "binary input (control byte 0x00)");
 * ```
 */
export function checkText(source: string): void {
  // deno-lint-ignore no-control-regex
  const m = /[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd]/.exec(source);
  if (!m) return;
  const before = source.slice(0, m.index);
  const line = before.split("\n").length;
  const column = m.index - before.lastIndexOf("\n");
  const code = m[0].charCodeAt(0);
  throw new A64SyntaxError(
    line,
    column,
    code === 0xfffd ? "\ufffd" : `\\x${code.toString(16).padStart(2, "0")}`,
    code === 0xfffd
      ? "not UTF-8 text (a byte sequence that does not decode)"
      : `binary input (control byte 0x${code.toString(16).padStart(2, "0")})`,
    "a text file of A64 assembly",
  );
}

/**
 * Parses A64 assembly in the kernel's spelling.
 *
 * @param source The assembly text.
 * @param options Features and errata (for alternatives and macros), extra
 *   constants, the kernel release and configuration, a header reader.
 * @returns The program: decoded instructions with source positions, labels, routines.
 * @throws {A64SyntaxError} With `line:column`, the text and what is supported.
 * @throws {RangeError} An unknown release.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseA64 } from "./mod.ts";
 * const p = parseA64("bic x4, x3, #SCTLR_ELx_M // M off\nset_sctlr_el2 x3");
 * assertEquals(p.instructions.map((i) => i.text), [
 *   "bic x4, x3, #SCTLR_ELx_M", "msr sctlr_el2, x3", "isb", "ic iallu", "dsb nsh", "isb",
 * ]);
 * assertEquals(p.instructions[5]!.line, 2); // expansions keep the invocation's line
 * ```
 */
export function parseA64(source: string, options: A64ParseOptions = {}): A64Program {
  checkText(source);
  const file = options.file ?? "input";
  const hasInclude = /^[ \t]*#[ \t]*include\b/m.test(source);
  const releaseName = options.release ??
    (hasInclude || options.include !== undefined ? DEFAULT_RELEASE : undefined);
  const rel = releaseName === undefined ? undefined : kernelRelease(releaseName);
  const symbols: Record<string, bigint> = {
    ...A64_SYSREG_SYMBOLS,
    ...(rel?.symbols ?? A64_SYMBOLS),
  };
  for (const [k, v] of Object.entries(options.symbols ?? {})) symbols[k] = BigInt(v);
  const asm = new Assembler({
    features: new Set(options.features ?? []),
    errata: new Set(options.errata ?? []),
    symbols,
    builtins: rel === undefined ? A64_MACROS : A64_CORE_MACROS,
    capabilities: ALTERNATIVE_CAPS,
  });
  const included = new Set<string>();
  const include: IncludeResolver = (name, quoted) => {
    if (included.has(name)) return null;
    included.add(name);
    if (options.include !== undefined) return options.include(name, quoted);
    const text = rel?.headers[name];
    if (text === undefined) {
      throw new Error(
        rel === undefined
          ? `no header <${name}> without release models`
          : `the ${rel.name} models have no <${name}> (headers: ${
            Object.keys(rel.headers).join(", ")
          })`,
      );
    }
    return { name: `${rel!.name} model of <${name}>`, text };
  };
  const cpp = new Preprocessor({
    config: { ...rel?.config, ...options.config },
    defines: rel === undefined
      ? { __ASSEMBLY__: "1", __ASSEMBLER__: "1" }
      : { ...KERNEL_BUILD_DEFINES, ...rel.defines },
    include,
    keep: new Set([...KEEP, ...Object.keys(ALTERNATIVE_CAPS)]),
  });
  try {
    if (rel !== undefined && !hasInclude && options.include === undefined) {
      // A snippet without #include: every model header is in scope, as the
      // built-in macros are without a release.
      for (const name of Object.keys(rel.headers)) {
        const h = include(name, false);
        if (h !== null) asm.feed(cpp.run(h.text, h.name, 1), file);
      }
    }
    asm.feed(cpp.run(source, file), file);
  } catch (e) {
    if (e instanceof CppError) {
      const inMain = e.file === file;
      throw new A64SyntaxError(
        inMain ? e.line : 1,
        inMain ? e.column : 1,
        e.text,
        inMain ? e.problem : `${e.problem} (${e.file}:${e.line})`,
        e.supported,
      );
    }
    throw e;
  }
  const program = asm.finish(source);
  return rel === undefined ? program : { ...program, release: rel.name };
}
