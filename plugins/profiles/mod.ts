/**
 * Profiles: `profile("v5.13" | "mainline", overrides)` gives the plugin list
 * of a kernel's variants, with any capability swapped by name
 * (`{ allocator: "buddy-mainline", switch: "v3", tlb: "optimistic" }`) or by
 * a plugin.
 *
 * @example Boot the mainline profile with the v3 switch sequence
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, PKVM } from "../../core/mod.ts";
 * import { profile } from "./mod.ts";
 * const m = createMachine({ cpus: 1, plugins: profile("mainline", { switch: "mainline" }) });
 * assertEquals(m.get(PKVM).version, "mainline");
 * ```
 *
 * @module
 */

export * from "./profile.ts";
