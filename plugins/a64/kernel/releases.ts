/**
 * Kernel release models: for each release the checker knows, the
 * configuration its conditionals are decided on, the constants its headers
 * and asm-offsets define, the models of the header macros a file uses, and
 * how the kernel reaches the routines of hyp-init.S.
 *
 * @module
 */

import type { A64ReleaseModels } from "./types.ts";
import { V6_1 } from "./v6_1.ts";
import { V6_12 } from "./v6_12.ts";
import { V7_2 } from "./v7_2.ts";

export type { A64ReleaseModels, EntryArg, KernelEntry } from "./types.ts";

const RELEASES: Record<string, A64ReleaseModels> = { "v6.1": V6_1, "v6.12": V6_12, "v7.2": V7_2 };

/**
 * Every release with models, oldest first.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { KERNEL_RELEASES } from "../mod.ts";
 * assertEquals(KERNEL_RELEASES, ["v6.1", "v6.12", "v7.2"]);
 * ```
 */
export const KERNEL_RELEASES: readonly string[] = Object.keys(RELEASES);

/**
 * The release used when a text needs models and none is named: the newest.
 * @example A text that includes headers gets the newest models
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DEFAULT_RELEASE, parseA64 } from "../mod.ts";
 * const p = parseA64("#include <asm/assembler.h>\nisb");
 * assertEquals(p.release, DEFAULT_RELEASE);
 * ```
 */
export const DEFAULT_RELEASE = "v7.2";

/**
 * A release's models.
 * @param name `v6.1`, `v6.12` or `v7.2` (the `v` is optional).
 * @returns The models.
 * @throws {RangeError} An unknown release, listing the known ones.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { kernelRelease } from "../mod.ts";
 * assertEquals(kernelRelease("6.12").name, "v6.12");
 * assertThrows(() => kernelRelease("v5.4"), RangeError, "v6.1, v6.12, v7.2");
 * ```
 */
export function kernelRelease(name: string): A64ReleaseModels {
  const key = name.startsWith("v") ? name : `v${name}`;
  const r = RELEASES[key];
  if (r === undefined) {
    throw new RangeError(
      `Unknown kernel release "${name}": models exist for ${
        Object.keys(RELEASES).join(", ") || "none"
      }`,
    );
  }
  return r;
}
