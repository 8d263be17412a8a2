/**
 * Capability keys and the interfaces their providers implement.
 *
 * @module
 */

export * from "./a64.ts";
export * from "./early_allocator.ts";
export * from "./el2_memory.ts";
export * from "./kvm_pgtable.ts";
export * from "./mmu.ts";
export * from "./page_allocator.ts";
export * from "./pkvm.ts";
export * from "./reserved_mem.ts";
export * from "./tlb_rows.ts";
