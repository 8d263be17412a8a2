/**
 * Comparing variants: run one scenario (a machine and a workload) under
 * several variant sets with the same seed, and diff what each did.
 *
 * @example The three built-in switch sequences on one machine
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { compareVariants, parseVariantSpec, resolveVariant } from "./mod.ts";
 * const variants = await Promise.all(
 *   ["v3:switch=v3", "v5.13:switch=v5.13", "mainline:switch=mainline"]
 *     .map((s) => resolveVariant(parseVariantSpec(s))),
 * );
 * const c = compareVariants({ cpus: 1 }, variants);
 * assertEquals(c.runs[0]!.metrics["switch.verdict"], "fail");
 * ```
 *
 * @module
 */

export * from "./compare.ts";
export * from "./run.ts";
export * from "./table.ts";
export * from "./variant_spec.ts";
export * from "./workloads.ts";
