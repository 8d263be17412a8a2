/**
 * The hand-built EL2 world of the switch tests: addresses of the old and new
 * tables, the idmap page, stack and continuation, the EL2 TCR/SCTLR/MAIR
 * values, and a tiny 4-level table builder (4 KiB granule, 48-bit VA).
 *
 * @module
 */
import type { PhysicalMemory } from "./deps.ts";

/** The idmap page the sequences run from (VA = PA). */
export const CODE = 0x4008_0000;
/** Table base before the switch. */
export const OLD_PGD = 0x4100_0000;
/** Table base after the switch. */
export const NEW_PGD = 0x4120_0000;
/** PA of the stack page. */
export const STACK_PA = 0x4140_0000;
/** PA the continuation maps to in the new tables. */
export const FN_PA = 0x4150_0000;
/** VA of the stack (top of its page). */
export const STACK_VA = 0x8000_0010_0000;
/** VA of the continuation. */
export const FN_VA = 0x8000_0000_4000;
/** SCTLR_EL2 with the MMU on. */
export const SCTLR_ON = 0x30e5183dn;
/** T0SZ = 16, IRGN0/ORGN0 = WB, SH0 = inner, TG0 = 4K, PS = 40 bits, RES1 bits 31 and 23. */
export const TCR = (1n << 31n) | (1n << 23n) | (2n << 16n) | (3n << 12n) | (1n << 10n) |
  (1n << 8n) | 16n;
/** Attr0: Normal WB. */
export const MAIR = 0xffn;

/** A tiny table builder: one table page per level, allocated after `pgd`. */
export class Tables {
  #next: number;
  /** Adds to the table at `pgd`; new table pages come from `pgd + offset` on. */
  constructor(readonly mem: PhysicalMemory, readonly pgd: number, offset = 0) {
    this.#next = pgd + 0x1000 + offset;
    if (offset === 0) mem.zero(pgd, 0x1000);
  }
  /** Maps the 4 KiB page at `va` to `pa` (AF, inner shareable, AttrIndx 0). */
  map(va: number, pa: number, exec: boolean, writable: boolean): void {
    let table = this.pgd;
    for (let level = 0; level < 3; level++) {
      const idx = Math.floor(va / 2 ** (39 - 9 * level)) % 512;
      const slot = table + 8 * idx;
      let d = this.mem.read64(slot);
      if ((d & 3n) !== 3n) {
        const t = this.#next;
        this.#next += 0x1000;
        this.mem.zero(t, 0x1000);
        d = BigInt(t) | 3n;
        this.mem.write64(slot, d);
      }
      table = Number(d & 0x0000_ffff_ffff_f000n);
    }
    const idx = Math.floor(va / 4096) % 512;
    const ap = writable ? 0n : 1n << 7n;
    const xn = exec ? 0n : 1n << 54n;
    this.mem.write64(table + 8 * idx, BigInt(pa) | xn | (1n << 10n) | (3n << 8n) | ap | 3n);
  }
}
