/**
 * Kernel release models: for each release the checker knows, the
 * configuration its conditionals are decided on, the constants its headers
 * and asm-offsets define, the models of the header macros a file uses, and
 * how the kernel reaches the routines of hyp-init.S.
 *
 * @module
 */

import type { KernelRelease } from "./types.ts";
import { V6_1 } from "./v6_1.ts";
import { V6_12 } from "./v6_12.ts";
import { V7_2 } from "./v7_2.ts";

export type { EntryArg, KernelEntry, KernelRelease } from "./types.ts";

const RELEASES: Record<string, KernelRelease> = { "v6.1": V6_1, "v6.12": V6_12, "v7.2": V7_2 };

/** Every release with models, oldest first. */
export const KERNEL_RELEASES: readonly string[] = Object.keys(RELEASES);

/** The release used when a text needs models and none is named: the newest. */
export const DEFAULT_RELEASE = "v7.2";

/**
 * A release's models.
 * @param name `v6.1`, `v6.12` or `v7.2` (the `v` is optional).
 * @returns The models.
 * @throws {RangeError} An unknown release, listing the known ones.
 */
export function kernelRelease(name: string): KernelRelease {
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
