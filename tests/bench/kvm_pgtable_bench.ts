/**
 * kvm_pgtable performance (issue 4 targets): map 1 GiB with 4 KiB pages
 * ≤ 150 ms, with 2 MiB blocks ≤ 5 ms; 262,144 leaves to maplets ≤ 100 ms.
 */

import { PAGE_HYP } from "../../core/mod.ts";
import { type HypPgtable, kvmPgtableFactory } from "../../plugins/kvm_pgtable/mod.ts";
import { testPagePool } from "../plugins/kvm_pgtable/_page_pool.ts";

const G1 = 2 ** 30;

function table(version: "v5.13" | "mainline"): HypPgtable {
  const pool = testPagePool();
  const pgt = kvmPgtableFactory({ version }).hypInit({
    iaBits: 48,
    mmOps: pool.mmOps,
    memory: pool.memory,
  });
  if (typeof pgt === "number") throw new Error(`hypInit returned ${pgt}`);
  return pgt;
}

for (const version of ["v5.13", "mainline"] as const) {
  Deno.bench({
    group: "kvm_pgtable map 1 GiB of 4 KiB pages",
    name: `${version}: 262,144 leaves (target ≤ 150 ms)`,
    baseline: version === "v5.13",
    fn(b) {
      const pgt = table(version);
      b.start();
      // PA 4 KiB off a 2 MiB boundary: every leaf is a page.
      const ret = pgt.map(0x4000_0000, G1, 0x1_0000_1000, PAGE_HYP);
      b.end();
      if (ret !== 0) throw new Error(`map returned ${ret}`);
    },
  });

  Deno.bench({
    group: "kvm_pgtable map 1 GiB of 2 MiB blocks",
    name: `${version}: 512 blocks (target ≤ 5 ms)`,
    baseline: version === "v5.13",
    fn(b) {
      const pgt = table(version);
      b.start();
      const ret = pgt.map(0x4000_0000, G1, 0x1_0020_0000, PAGE_HYP);
      b.end();
      if (ret !== 0) throw new Error(`map returned ${ret}`);
    },
  });

  const full = table(version);
  full.map(0x4000_0000, G1, 0x1_0000_1000, PAGE_HYP);
  Deno.bench({
    group: "kvm_pgtable views of 262,144 leaves",
    name: `${version}: maplets (target ≤ 100 ms)`,
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
