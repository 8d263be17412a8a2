/**
 * The built-in switch sequences: the text run at boot step 5, in each
 * version the simulator compares. `v6.1`, `v6.12` and `v7.2` are the
 * routine as Debian's linux-source packages of those releases ship it,
 * cut verbatim from arch/arm64/kvm/hyp/nvhe/hyp-init.S; `v3` and `v5.13`
 * are the March 2021 review and the first merge; `mainline` is the current
 * text (the v6.12 / v7.2 body); `set_sctlr` the bare macro.
 *
 * @module
 */

import type { SwitchSequence } from "../../core/mod.ts";
import {
  MAINLINE_S,
  SET_SCTLR_S,
  V3_S,
  V5_13_S,
  V6_12_S,
  V6_1_S,
  V7_2_S,
} from "./builtin_sources.ts";

/** Names of the built-in variants. */
export type BuiltinVariant =
  | "v3"
  | "v5.13"
  | "v6.1"
  | "v6.12"
  | "v7.2"
  | "mainline"
  | "set_sctlr";

/**
 * Every built-in variant name.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BUILTIN_VARIANTS } from "./mod.ts";
 * assertEquals(BUILTIN_VARIANTS, ["v3", "v5.13", "v6.1", "v6.12", "v7.2", "mainline", "set_sctlr"]);
 * ```
 */
export const BUILTIN_VARIANTS: readonly BuiltinVariant[] = [
  "v3",
  "v5.13",
  "v6.1",
  "v6.12",
  "v7.2",
  "mainline",
  "set_sctlr",
];

const TABLE: Readonly<Record<BuiltinVariant, SwitchSequence>> = {
  "v3": {
    name: "v3",
    description:
      "__pkvm_init_switch_pgd from [PATCH v3 15/32] (Mar 2021): params ABI, two loads at M=0, open-coded MMU enable (the tail ret x1 is not in the reviewed quote)",
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
  "v6.1": {
    name: "v6.1",
    description:
      "__pkvm_init_switch_pgd of Debian linux-source-6.1 6.1.176-1: params ABI, no dsb nsh; isb before set_sctlr_el2 (added by 040113fa32f2 for v6.8)",
    source: V6_1_S,
    abi: "params",
  },
  "v6.12": {
    name: "v6.12",
    description:
      "__pkvm_init_switch_pgd of Debian linux-source-6.12 6.12.117-1: x0 = pgd, x1 = SP, x2 = continuation (ea9d7c83d14e), dsb nsh; isb; set_sctlr_el2",
    source: V6_12_S,
    abi: "registers",
  },
  "v7.2": {
    name: "v7.2",
    description:
      "__pkvm_init_switch_pgd of Debian linux-source-7.2 7.2.13-1: as v6.12, CnP spelled TTBRx_EL1_CnP",
    source: V7_2_S,
    abi: "registers",
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
 * @returns True for the names of {@link BUILTIN_VARIANTS}.
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
