/**
 * Conformance suites a provider of a capability runs in one line, e.g.
 * `Deno.test("my allocator", (t) => pageAllocatorConformance(t, myAllocator))`.
 *
 * @module
 */

export { ConformanceError, type StepContext } from "./_suite.ts";
export * from "./kvm_pgtable.ts";
export * from "./page_allocator.ts";
export * from "./reserved_mem.ts";
export * from "./switch_sequence.ts";
export * from "./tlb.ts";
