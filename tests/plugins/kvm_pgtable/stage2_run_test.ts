/**
 * The host stage-2 annotation walker's batched level-3 visits (`leafRun`)
 * against a model of one visit per page: random annotations (seeded) with a
 * few owners, overlapping ranges and re-annotations, must give every
 * return code (-EAGAIN stops a 6.1 walk, later walkers skip it), every
 * annotation and every table page's refcount (one per non-zero entry) the
 * single visits give — with mm_ops that batch `get_page`, that do not, and
 * that batch only part of a run.
 */
import { assertEquals } from "@std/assert";
import { type KvmPgtableVersion, PhysicalMemory, Prng } from "../../../core/mod.ts";
import { stage2PgtableInit } from "../../../plugins/kvm_pgtable/mod.ts";
import { testPagePool } from "./_page_pool.ts";

const EAGAIN = -11;
const OWNERS = [1n << 2n, 2n << 2n, 3n << 2n] as const;

for (const version of ["v6.1", "v6.12", "v7.2"] as KvmPgtableVersion[]) {
  for (const shape of ["getPages", "getPage", "getPages<=3"] as const) {
    Deno.test(`stage-2 annotation runs match one visit per page (${version}, ${shape})`, () => {
      const memory = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 31 }]);
      const pool = testPagePool({ memory, base: 0x7000_0000, pages: 4096, vaOffset: 0 });
      const mmOps = { ...pool.mmOps };
      if (shape === "getPage") delete mmOps.getPages;
      if (shape === "getPages<=3") {
        mmOps.getPages = (va, n) => pool.mmOps.getPages!(va, Math.min(n, 3));
      }
      const pgd = mmOps.zallocPage()!;
      const s2 = stage2PgtableInit(version, {
        iaBits: 39,
        startLevel: 1,
        pgd,
        pgdPages: 1,
        mmOps,
        memory,
      });
      // The model: page index (from 0x4000_0000) -> owner annotation.
      const model = new Map<number, bigint>();
      const prng = new Prng(version.length * 31 + shape.length);
      for (let i = 0; i < 1500; i++) {
        const first = prng.int(3 * 512 + 40);
        const n = 1 + (prng.int(4) === 0 ? prng.int(1200) : prng.int(6));
        const pte = OWNERS[prng.int(OWNERS.length)]!;
        let want = 0;
        for (let p = first; p < first + n; p++) {
          if (model.get(p) === pte) {
            if (version === "v6.1") {
              want = EAGAIN;
              break;
            }
            continue;
          }
          model.set(p, pte);
        }
        assertEquals(s2.annotate(0x4000_0000 + first * 4096, n * 4096, pte), want);
      }
      const runs: { ipa: number; size: number; pte: bigint }[] = [];
      for (const p of [...model.keys()].sort((a, b) => a - b)) {
        const ipa = 0x4000_0000 + p * 4096;
        const pte = model.get(p)!;
        const last = runs[runs.length - 1];
        if (last && last.ipa + last.size === ipa && last.pte === pte) last.size += 4096;
        else runs.push({ ipa, size: 4096, pte });
      }
      assertEquals(s2.annotations(), runs);
      for (const tp of s2.tablePages().slice(1)) {
        let used = 0;
        for (let o = 0; o < 4096; o += 8) if (memory.read64(tp + o) !== 0n) used++;
        assertEquals(pool.refcount(tp), 1 + used);
      }
    });
  }
}
