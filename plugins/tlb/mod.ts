/**
 * The EL2 TLB: per-CPU entries tagged with the table base they came from,
 * `tlbi alle2/vae2/vale2` (and the `is` broadcast forms, with level hints),
 * hit/miss/fill/invalidate/stale counters, and two policies — `adversarial`
 * (entries stay until invalidated, speculative fills, a walk cache of table
 * descriptors that leaf-only TLBIs keep) and `optimistic` (QEMU-like
 * flushes, no walk cache).
 *
 * @example Plug it in next to the MMU
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, TLB } from "../../core/mod.ts";
 * import { tlb } from "./mod.ts";
 * const m = createMachine({ plugins: [tlb()] });
 * assertEquals(m.get(TLB).policy, "adversarial");
 * ```
 *
 * @module
 */

export * from "./tlb.ts";
export * from "./tlb_model.ts";
export * from "./leaf_store.ts";
export * from "./stored_entry.ts";
