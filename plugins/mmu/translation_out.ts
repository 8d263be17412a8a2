/**
 * A reusable translation record: what `Stage1Mmu.translateInto` and
 * `Stage1Mmu.walkInto` fill in place of the object `translate()` and
 * `walk()` return, so a caller that translates in a loop allocates nothing
 * per access (no object, no BigInt: the descriptor stays as two 32-bit
 * halves).
 *
 * @module
 */

import { type MmuFault, pteOf } from "../../core/mod.ts";

/**
 * The fields of a `Translation` as plain numbers and booleans,
 * overwritten by every call that fills it. After a fault only `fault` (and
 * `va`) are meaningful.
 *
 * @example Translate twice into one record
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, MMU } from "../../core/mod.ts";
 * import { tlb } from "../tlb/mod.ts";
 * import { mmu, Stage1Mmu, TranslationOut } from "./mod.ts";
 * const m = createMachine({ cpus: 1, plugins: [tlb(), mmu()] });
 * const cpu = m.cpu(0);
 * m.memory.write64(0x4000_0000, 0x4020_0000n | 0x741n); // 2 MiB block, RW, AF
 * cpu.sysregs.write("TCR_EL2", 0x80803522n | (5n << 16n)); // T0SZ 34: start at level 2
 * cpu.sysregs.write("TTBR0_EL2", 0x4000_0000n);
 * cpu.sysregs.write("MAIR_EL2", 0xffn);
 * cpu.sysregs.setField("SCTLR_EL2", "M", 1n);
 * const mmuCap = m.get(MMU) as Stage1Mmu;
 * const out = new TranslationOut();
 * assertEquals(mmuCap.translateInto(cpu, 0x1234, "write", out), true);
 * assertEquals([out.pa, out.level, out.fromTlb, out.pte], [0x4020_1234, 2, false, 0x40200741n]);
 * assertEquals(mmuCap.translateInto(cpu, 0x1238, "read", out), true);
 * assertEquals([out.pa, out.fromTlb], [0x4020_1238, true]);
 * ```
 */
export class TranslationOut {
  /** The VA translated. */
  va = 0;
  /** Its PA (the VA itself when the MMU is off). */
  pa = 0;
  /** Level of the leaf (3 = page; -1 when the MMU is off). */
  level = 0;
  /** Low half of the leaf descriptor (0 when the MMU is off). */
  pteLo = 0;
  /** High half of the leaf descriptor. */
  pteHi = 0;
  /** Device memory (`memType: "device"`), else Normal. */
  device = false;
  /** The MAIR_EL2 attribute byte. */
  attrs = 0;
  /** Writable at EL2. */
  writable = false;
  /** Executable at EL2. */
  executable = false;
  /** Served by a TLB entry. */
  fromTlb = false;
  /** The walk started below a walk-cache entry. */
  viaWalkCache = false;
  /** The MMU was off (VA = PA). */
  mmuOff = false;
  /** The fault, when the call returned false. */
  fault: MmuFault | undefined = undefined;

  /** The leaf descriptor as a BigInt (made on each read: not for hot paths). */
  get pte(): bigint {
    return pteOf(this.pteLo, this.pteHi);
  }
}
