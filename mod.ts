/**
 * hyplab: a simulator of the arm64 pKVM (protected KVM, nVHE) EL2
 * memory-management boot, built from a small core and swappable plugins.
 *
 * @example Create a machine and touch its memory
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine } from "./mod.ts";
 *
 * const m = createMachine({ ram: [{ base: 0x4000_0000, size: 2 ** 30 }], cpus: 2 });
 * m.memory.write64(0x4000_0000, 0x0040000000000743n);
 * assertEquals(m.memory.read64(0x4000_0000), 0x0040000000000743n);
 * assertEquals(m.cpu(1).sysreg("SCTLR_EL2"), 0x30C50830n);
 * ```
 *
 * @module
 */

export * from "./core/mod.ts";
export * from "./core/conformance/mod.ts";
export * from "./plugins/reserved_mem/mod.ts";
export * from "./plugins/early_alloc/mod.ts";
export * from "./plugins/buddy_allocator/mod.ts";
export * from "./plugins/bitmap_allocator/mod.ts";
export * from "./plugins/a64/mod.ts";
export * from "./plugins/switch_sequence/mod.ts";
export * from "./plugins/kvm_pgtable/mod.ts";
export * from "./plugins/pkvm/mod.ts";
export * from "./plugins/profiles/mod.ts";
export * from "./plugins/tlb/mod.ts";
export * from "./plugins/mmu/mod.ts";
export * from "./plugins/compare/mod.ts";
export * from "./plugins/releases/mod.ts";
export * from "./plugins/oracle/mod.ts";
export * from "./plugins/report_html/mod.ts";
