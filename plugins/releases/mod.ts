/**
 * Kernel releases as data: one descriptor per Linux release hyplab follows
 * (`v5.13`, `v6.1`, `v6.12`, `v7.2`), each a typed object that says what that
 * release does in the pKVM boot. `mainline` names the newest release checked
 * against a real kernel.
 *
 * @example Look a release up and read one fact
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { release } from "./mod.ts";
 * assertEquals(release("v6.1").reserve.hypPageBytes, 4);
 * assertEquals(release("mainline").name, "v7.2");
 * ```
 *
 * @module
 */

import type { KernelRelease } from "./types.ts";
import { V5_13 } from "./v5_13.ts";
import { V6_1 } from "./v6_1.ts";
import { V6_12 } from "./v6_12.ts";
import { V7_2 } from "./v7_2.ts";

export type * from "./host_boot.ts";
export type * from "./types.ts";
export { V5_13, V6_1, V6_12, V7_2 };
export { SPECTRE_BHB_6, SPECTRE_BHB_7 } from "./spectre_bhb.ts";

/** Every release, oldest first. */
export const RELEASES: readonly KernelRelease[] = [V5_13, V6_1, V6_12, V7_2];

/** The newest release checked against a real kernel, which `mainline` names. */
export const MAINLINE: KernelRelease = V7_2;

/** Every name `release()` accepts: the releases and `mainline`. */
export const RELEASE_NAMES: readonly string[] = [...RELEASES.map((r) => r.name), "mainline"];

/**
 * A release by name (`v5.13`, `v6.1`, `v6.12`, `v7.2`, or `mainline`), or a
 * descriptor passed through.
 *
 * @param name Release name or descriptor.
 * @returns The descriptor.
 * @throws {RangeError} An unknown name, listing the known ones.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { release } from "./mod.ts";
 * assertEquals(release("v6.12").kernel, "6.12");
 * assertThrows(() => release("v6.6"), RangeError, "v5.13, v6.1, v6.12, v7.2, mainline");
 * ```
 */
export function release(name: string | KernelRelease): KernelRelease {
  if (typeof name !== "string") return name;
  if (name === "mainline") return MAINLINE;
  // A plain loop, no callback: per-table call sites (the table walker's
  // facts) reach this once per walk, cold code included.
  for (let i = 0; i < RELEASES.length; i++) {
    const r = RELEASES[i]!;
    if (r.name === name) return r;
  }
  throw new RangeError(`Unknown kernel release "${name}": choose ${RELEASE_NAMES.join(", ")}`);
}
