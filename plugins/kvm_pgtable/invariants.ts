/**
 * Checks of the hyp stage-1 table invariants (refcounting, hyp/pgtable.c).
 *
 * @module
 */

import type { KvmPgtable, PhysicalMemory } from "../../core/mod.ts";
import { PTRS_PER_PTE } from "./geometry.ts";

/**
 * Mainline's table refcounting: every table page's refcount (`mm_ops.page_count`)
 * is 1 + its valid entries, pgd included. v5.13 keeps no hyp stage-1
 * refcounts, so this applies to mainline tables only.
 *
 * @param pgt The table (its mm_ops must have `pageCount`).
 * @param memory The memory the tables live in.
 * @returns The first violation, or undefined.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkTableRefcounts } from "./invariants.ts";
 * import { kvmPgtableFactory } from "./plugin.ts";
 * import { PAGE_HYP, PhysicalMemory } from "../../core/mod.ts";
 *
 * const memory = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * const counts = new Map<number, number>();
 * let next = 0x4000_0000;
 * const page = (va: number) => va - (va % 4096);
 * const mmOps = {
 *   zallocPage: () => { counts.set(next, 1); return (next += 4096) - 4096; },
 *   getPage: (va: number) => { counts.set(page(va), counts.get(page(va))! + 1); },
 *   putPage: (va: number) => { counts.set(page(va), counts.get(page(va))! - 1); },
 *   pageCount: (va: number) => counts.get(page(va)) ?? 0,
 *   physToVirt: (pa: number) => pa,
 *   virtToPhys: (va: number) => va,
 * };
 * const pgt = kvmPgtableFactory({ version: "mainline" }).hypInit({ iaBits: 48, mmOps, memory });
 * if (typeof pgt === "number") throw new Error("no pgd");
 * pgt.map(0x8000_0000, 0x3000, 0x4080_0000, PAGE_HYP);
 * assertEquals(checkTableRefcounts(pgt, memory), undefined);
 * ```
 */
export function checkTableRefcounts(pgt: KvmPgtable, memory: PhysicalMemory): string | undefined {
  const mm = pgt.mmOps;
  if (mm.pageCount === undefined) return "mm_ops has no page_count";
  const buf = new Uint32Array(2);
  for (const pa of pgt.tablePages()) {
    let valid = 0;
    for (let i = 0; i < PTRS_PER_PTE; i++) {
      memory.read64Parts(pa + i * 8, buf);
      if ((buf[0]! & 1) !== 0) valid++;
    }
    const count = mm.pageCount(mm.physToVirt(pa));
    if (count !== 1 + valid) {
      return `table page 0x${
        pa.toString(16)
      } has refcount ${count}, expected 1 + ${valid} valid entries`;
    }
  }
  return undefined;
}
