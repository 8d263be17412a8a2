/**
 * The `switch_sequence` plugin: provides {@link SWITCH_SEQUENCE}, the text
 * boot step 5 runs, as a built-in variant or the user's own text.
 *
 * @module
 */

import { type Plugin, SWITCH_SEQUENCE, type SwitchSequence } from "../../core/mod.ts";
import { builtinSequence, type BuiltinVariant } from "./builtins.ts";

/** Options of {@link switchSequence}: a built-in variant, or a sequence of one's own. */
export type SwitchSequenceOptions =
  | {
    /**
     * Built-in variant: `v3`, `v5.13`, `v6.1`, `v6.12`, `v7.2`, `mainline`, `set_sctlr`.
     * @default "v5.13"
     */
    variant?: BuiltinVariant;
  }
  | {
    /** Name shown in reports. */
    name: string;
    /** Assembly text, kernel spelling. */
    source: string;
    /** Calling convention. */
    abi: "params" | "registers";
    /** One line on where it comes from. */
    description?: string;
  };

/**
 * Creates the switch-sequence plugin.
 *
 * @param options A built-in variant (default `v5.13`, the default profile) or
 *   `{ name, source, abi }`.
 * @returns The plugin (provides `switch_sequence`).
 * @throws {RangeError} An unknown variant.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, SWITCH_SEQUENCE } from "../../core/mod.ts";
 * import { switchSequence } from "./mod.ts";
 * const m = createMachine({ cpus: 1, plugins: [switchSequence({ variant: "mainline" })] });
 * assertEquals(m.get(SWITCH_SEQUENCE).abi, "registers");
 * ```
 */
export function switchSequence(options: SwitchSequenceOptions = {}): Plugin {
  let seq: SwitchSequence;
  if ("source" in options) {
    if (options.abi !== "params" && options.abi !== "registers") {
      throw new RangeError(
        `Cannot use switch sequence "${options.name}": abi must be "params" or "registers", got ${
          String(options.abi)
        }`,
      );
    }
    seq = {
      name: options.name,
      description: options.description ?? `user sequence ${options.name}`,
      source: options.source,
      abi: options.abi,
    };
  } else {
    seq = builtinSequence(options.variant ?? "v5.13");
  }
  return {
    name: "switch_sequence",
    provides: [SWITCH_SEQUENCE],
    setup(ctx) {
      ctx.provide(SWITCH_SEQUENCE, seq);
    },
  };
}
