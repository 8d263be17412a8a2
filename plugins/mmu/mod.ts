/**
 * The EL2 stage-1 MMU (4 KiB granule): `translate` from SCTLR_EL2, TCR_EL2,
 * TTBR0_EL2 and MAIR_EL2 — flat with the MMU off, otherwise through the TLB
 * or a walk of the descriptors in physical memory — with faults as values
 * (translation, access flag, permission, address size, alignment, external
 * abort on walk) carrying the ESR fault status code; a side-effect-free
 * `walk`, a speculative `prefetch`, and an {@link El2Memory} accessor for
 * hyp VAs. Every TLB hit is compared with memory: a difference is a
 * `tlb_stale` event, the symptom of a missing TLBI. Loops over many
 * accesses use `translateInto` / `walkInto`, which fill a reused
 * {@link TranslationOut} instead of returning an object.
 *
 * @example Map one 4 KiB page by hand and load through it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, MMU } from "../../core/mod.ts";
 * import { tlb } from "../tlb/mod.ts";
 * import { mmu } from "./mod.ts";
 * const m = createMachine({ cpus: 1, plugins: [tlb(), mmu()] });
 * const mem = m.memory;
 * // T0SZ = 25 (39-bit VAs): level 1 → 2 → 3.
 * mem.write64(0x4000_0000, 0x4000_1003n);               // L1[0] → table
 * mem.write64(0x4000_1000, 0x4000_2003n);               // L2[0] → table
 * mem.write64(0x4000_2008, 0x0040_0000_4800_0743n);     // L3[1]: VA 0x1000 → PA 0x48000000, RW, XN
 * mem.write64(0x4800_0010, 42n);
 * const cpu = m.cpu(0);
 * cpu.sysregs.write("TCR_EL2", 0x80803519n | (5n << 16n));
 * cpu.sysregs.write("TTBR0_EL2", 0x4000_0000n);
 * cpu.sysregs.write("MAIR_EL2", 0xffn);
 * cpu.sysregs.setField("SCTLR_EL2", "M", 1n);
 * assertEquals(m.get(MMU).el2Memory(cpu).read64(0x1010), 42n);
 * ```
 *
 * @module
 */

export * from "./mmu.ts";
export * from "./stage1_mmu.ts";
export * from "./translation_out.ts";
