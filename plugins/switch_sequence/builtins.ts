/**
 * The built-in switch sequences: the text run at boot step 5, in each
 * version the simulator compares.
 *
 * @module
 */

import type { SwitchSequence } from "../../core/mod.ts";
import { MAINLINE_S, SET_SCTLR_S, V3_S, V5_13_S } from "./builtin_sources.ts";

/** Names of the built-in variants. */
export type BuiltinVariant = "v3" | "v5.13" | "mainline" | "set_sctlr";

/**
 * Every built-in variant name.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BUILTIN_VARIANTS } from "./mod.ts";
 * assertEquals(BUILTIN_VARIANTS, ["v3", "v5.13", "mainline", "set_sctlr"]);
 * ```
 */
export const BUILTIN_VARIANTS: readonly BuiltinVariant[] = ["v3", "v5.13", "mainline", "set_sctlr"];

const TABLE: Readonly<Record<BuiltinVariant, SwitchSequence>> = {
  "v3": {
    name: "v3",
    description:
      "__pkvm_init_switch_pgd from [PATCH v3 15/32] (Mar 2021): params ABI, two loads at M=0, open-coded MMU enable (tail ret x1 UNVERIFIED)",
    source: V3_S,
    abi: "params",
  },
  "v5.13": {
    name: "v5.13",
    description:
      "__pkvm_init_switch_pgd as merged (f320bc742bc2): params ABI, set_sctlr_el2, no dsb nsh; isb before it",
    source: V5_13_S,
    abi: "params",
  },
  "mainline": {
    name: "mainline",
    description:
      "__pkvm_init_switch_pgd in mainline: x0 = pgd, x1 = SP, x2 = continuation (Tosi ABI), dsb nsh; isb; set_sctlr_el2",
    source: MAINLINE_S,
    abi: "registers",
  },
  "set_sctlr": {
    name: "set_sctlr",
    description:
      "the bare set_sctlr_el2 macro with its preparation (TLBI; DSB; TTBR write; ISB), x0 = pgd",
    source: SET_SCTLR_S,
    abi: "registers",
  },
};

/**
 * Whether a name is a built-in variant.
 *
 * @param name Candidate name.
 * @returns True for `v3`, `v5.13`, `mainline`, `set_sctlr`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isBuiltinVariant } from "./mod.ts";
 * assertEquals([isBuiltinVariant("v3"), isBuiltinVariant("v4")], [true, false]);
 * ```
 */
export function isBuiltinVariant(name: string): name is BuiltinVariant {
  return (BUILTIN_VARIANTS as readonly string[]).includes(name);
}

/**
 * A built-in variant.
 *
 * @param name Variant name.
 * @returns The sequence (name, description, text, ABI).
 * @throws {RangeError} For an unknown name, listing the known ones.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { builtinSequence } from "./mod.ts";
 * assertEquals(builtinSequence("mainline").abi, "registers");
 * ```
 */
export function builtinSequence(name: string): SwitchSequence {
  if (!isBuiltinVariant(name)) {
    throw new RangeError(
      `Unknown switch sequence "${name}": built-in variants are ${BUILTIN_VARIANTS.join(", ")}`,
    );
  }
  return TABLE[name];
}
