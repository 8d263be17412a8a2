/**
 * Loading a user's switch sequence from a file. Reading needs
 * `--allow-read`, and only when this is called.
 *
 * @module
 */

import { inferSequenceAbi, type SwitchSequence } from "../../core/mod.ts";
import { builtinSequence, isBuiltinVariant } from "./builtins.ts";

/** Options of {@link loadSwitchSequence}. */
export interface LoadSequenceOptions {
  /** Calling convention (default: `params` if the text names `NVHE_INIT_*`, else `registers`). */
  abi?: "params" | "registers";
  /** Name (default: the path). */
  name?: string;
}

/**
 * Reads a switch sequence from an assembly file.
 *
 * @param path File path.
 * @param options ABI and name.
 * @returns The sequence.
 * @throws {Deno.errors.NotFound} / {Deno.errors.PermissionDenied} as `Deno.readTextFile` does.
 * @example
 * ```ts ignore
 * import { loadSwitchSequence } from "./mod.ts";
 * const seq = await loadSwitchSequence("my_switch.S");
 * console.log(seq.abi);
 * ```
 */
export async function loadSwitchSequence(
  path: string,
  options: LoadSequenceOptions = {},
): Promise<SwitchSequence> {
  const source = await Deno.readTextFile(path);
  return {
    name: options.name ?? path,
    description: `user sequence from ${path}`,
    source,
    abi: options.abi ?? inferSequenceAbi(source),
  };
}

/**
 * Resolves a `--switch NAME|PATH` argument: a built-in variant name (also as
 * `builtin:NAME`), otherwise a file path (read only then).
 *
 * @param spec Variant name, `builtin:NAME`, or a path.
 * @param options ABI and name for files.
 * @returns The sequence.
 * @throws {RangeError} `builtin:` with an unknown name.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resolveSwitchSequence } from "./mod.ts";
 * assertEquals((await resolveSwitchSequence("builtin:v5.13")).abi, "params");
 * ```
 */
export async function resolveSwitchSequence(
  spec: string,
  options: LoadSequenceOptions = {},
): Promise<SwitchSequence> {
  if (spec.startsWith("builtin:")) return builtinSequence(spec.slice("builtin:".length));
  if (isBuiltinVariant(spec)) return builtinSequence(spec);
  return await loadSwitchSequence(spec, options);
}
