/**
 * The switch-sequence plugin: the `__pkvm_init_switch_pgd` text boot step 5
 * runs — the built-in variants `v3` (the reviewed patch), `v5.13` (merged),
 * `v6.1`, `v6.12`, `v7.2` (the releases' own text), `mainline` (Tosi ABI)
 * and `set_sctlr` (the bare macro with its preparation), shipped as `.S`
 * files, or a user's own file.
 *
 * @example Check every built-in variant
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { check } from "../a64/mod.ts";
 * import { BUILTIN_VARIANTS, builtinSequence } from "./mod.ts";
 * const verdicts = BUILTIN_VARIANTS.map((v) => check(builtinSequence(v).source).verdict);
 * // set_sctlr: every barrier right, but it runs off its end (R17).
 * assertEquals(verdicts, ["fail", "fail", "fail", "pass", "pass", "pass", "fail"]);
 * ```
 *
 * @module
 */

export * from "./builtin_sources.ts";
export * from "./builtins.ts";
export * from "./load.ts";
export * from "./plugin.ts";
