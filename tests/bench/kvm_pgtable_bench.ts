/**
 * kvm_pgtable performance: map 1 GiB with 4 KiB pages (262,144 leaves, 515
 * table pages) and with 2 MiB blocks, each ≤ 4× the same map in C (a
 * kernel-style recursive walker with a visitor, see `_targets.ts`); the
 * views of 262,144 leaves: maplets ≤ 100 ms.
 *
 * Each map starts from a fresh table and page pool over the same simulated
 * memory, as the C maps into the same buffer each time: the table pages
 * are zeroed when allocated (the kernel's memset), inside the timing.
 */

import { PAGE_HYP, PhysicalMemory } from "../../core/mod.ts";
import { type HypPgtable, kvmPgtableFactory } from "../../plugins/kvm_pgtable/mod.ts";
import { testPagePool } from "../plugins/kvm_pgtable/_page_pool.ts";
import { budget, C_FIGURES, RATIO, target } from "./_targets.ts";

const G1 = 2 ** 30;

function table(
  version: "v5.13" | "mainline",
  memory?: PhysicalMemory,
  pages = 4096,
  base = 0x4000_0000,
): HypPgtable {
  // A pool the size the map needs (515 table pages, or 3): less garbage
  // from the untimed setup for a collection to land inside the timing.
  const pool = testPagePool(memory === undefined ? { pages, base } : { memory, pages, base });
  const pgt = kvmPgtableFactory({ version }).hypInit({
    iaBits: 48,
    mmOps: pool.mmOps,
    memory: pool.memory,
  });
  if (typeof pgt === "number") throw new Error(`hypInit returned ${pgt}`);
  return pgt;
}

for (const version of ["v5.13", "mainline"] as const) {
  const memory = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 30 }]);
  Deno.bench({
    group: "kvm_pgtable map 1 GiB of 4 KiB pages",
    name: `${version}: 262,144 leaves ${target(RATIO.mmu, C_FIGURES.map4kMs, "ms")}`,
    baseline: version === "v5.13",
    fn(b) {
      const pgt = table(version, memory, 520);
      b.start();
      // PA 4 KiB off a 2 MiB boundary: every leaf is a page.
      const ret = pgt.map(0x4000_0000, G1, 0x1_0000_1000, PAGE_HYP);
      b.end();
      if (ret !== 0) throw new Error(`map returned ${ret}`);
    },
  });

  // One 2 MiB-block map takes a few µs, below the time under which
  // `deno bench` ignores start()/end() and times the whole function, setup
  // included; so each iteration maps 1 GiB into 16 fresh tables (own pools,
  // own pages) and the target is 16 times the C map's.
  const tables = 16;
  Deno.bench({
    group: "kvm_pgtable map 1 GiB of 2 MiB blocks",
    name: `${version}: 512 blocks, ${tables} tables per iteration ${
      target(RATIO.mmu, Number((C_FIGURES.map2mUs * tables).toPrecision(3)), "µs")
    }`,
    baseline: version === "v5.13",
    fn(b) {
      const pgts: HypPgtable[] = [];
      for (let k = 0; k < tables; k++) {
        pgts.push(table(version, memory, 8, 0x4000_0000 + k * 8 * 4096));
      }
      b.start();
      let ret = 0;
      for (let k = 0; k < tables; k++) {
        ret |= pgts[k]!.map(0x4000_0000, G1, 0x1_0020_0000, PAGE_HYP);
      }
      b.end();
      if (ret !== 0) throw new Error(`map returned ${ret}`);
    },
  });

  const full = table(version);
  full.map(0x4000_0000, G1, 0x1_0000_1000, PAGE_HYP);
  Deno.bench({
    group: "kvm_pgtable views of 262,144 leaves",
    name: `${version}: maplets ${budget(100, "ms")}`,
    baseline: version === "v5.13",
    fn() {
      if (full.maplets().length !== 1) throw new Error("expected one maplet");
    },
  });
  Deno.bench({
    group: "kvm_pgtable views of 262,144 leaves",
    name: `${version}: ptdump text`,
    fn() {
      full.dump();
    },
  });
}
