/**
 * kvm_pgtable: hyp stage-1 page tables in simulated physical memory, after
 * `arch/arm64/kvm/hyp/pgtable.c`, in two variants — v5.13 (remap WARNs and
 * keeps the old entry, no refcounts, no unmap) and mainline (refcounted
 * table pages, `kvm_pgtable_hyp_unmap`, software bits).
 *
 * Map, unmap, lookup, destroy, the ptdump-like dump and the maplets are all
 * visitors over one walker (`kvm_pgtable_walk`).
 *
 * @example Map, look up, view
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PAGE_HYP_EXEC, PhysicalMemory } from "../../core/mod.ts";
 * import { encodeHypLeaf, kvmPgtableFactory } from "./mod.ts";
 *
 * const memory = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * let next = 0x4000_0000;
 * const mmOps = {
 *   zallocPage: () => (next += 4096) - 4096,
 *   physToVirt: (pa: number) => pa,
 *   virtToPhys: (va: number) => va,
 * };
 * const pgt = kvmPgtableFactory().hypInit({ iaBits: 48, mmOps, memory });
 * if (typeof pgt === "number") throw new Error("no pgd");
 * assertEquals(pgt.map(0x4080_0000, 0x2000, 0x4080_0000, PAGE_HYP_EXEC), 0);
 * assertEquals(pgt.getLeaf(0x4080_1000).pte, encodeHypLeaf(0x4080_1000, PAGE_HYP_EXEC, 3));
 * assertEquals(pgt.tablePages().length, 4);
 * ```
 *
 * @module
 */

export * from "./descriptor.ts";
export {
  KVM_GRANULE_SIZES,
  kvmGranuleShift,
  kvmGranuleSize,
  kvmPgtableLevels,
  kvmPgtableStartLevel,
} from "./geometry.ts";
export * from "./hyp_pgtable.ts";
export * from "./invariants.ts";
export * from "./plugin.ts";
export * from "./stage2.ts";
