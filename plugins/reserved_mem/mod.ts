/**
 * memblock + reserved_mem: the host's memblock and `kvm_hyp_reserve()`,
 * which sizes the hyp pool (v5.13 or mainline formulas) and carves it
 * top-down out of memblock.
 *
 * @example Reserve the pool on the default machine
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createReservedMem, memblockFromRam } from "./mod.ts";
 * const mb = memblockFromRam([{ base: 0x4000_0000, size: 2 ** 32 }]);
 * const r = createReservedMem({ version: "v5.13" }).kvmHypReserve(mb);
 * assertEquals(r.pages, { hyp_s1: 2569, host_s2_mem: 2070, host_s2_dev: 515, vmemmap: 45, total: 5199 });
 * assertEquals(mb.reserved, [{ base: 0x1_3ea0_0000, size: 22 * 2 ** 20 }]);
 * ```
 *
 * @module
 */

export * from "./kvm_hyp_reserve.ts";
export * from "./layout.ts";
export * from "./memblock.ts";
export * from "./plugin.ts";
export * from "./sizing.ts";
