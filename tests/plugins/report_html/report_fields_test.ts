/**
 * The boot report's fields the pictures need: the table tree (checked
 * against the table itself over thousands of random maps), memblock with
 * its labels, and the switch sequence's text.
 */

import { assert, assertEquals } from "@std/assert";
import {
  createMachine,
  type KvmPgtableVersion,
  type Maplet,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  type PgtableTreeReport,
  PKVM,
  Prng,
} from "../../../mod.ts";
import { profile } from "../../../plugins/profiles/mod.ts";
import { pgtableTree } from "../../../plugins/pkvm/report.ts";
import { fixture } from "../kvm_pgtable/_fixture.ts";

const PROTS = [PAGE_HYP, PAGE_HYP_EXEC, PAGE_HYP_RO, PAGE_HYP_DEVICE];

function entrySpan(level: number): number {
  return 2 ** (12 + 9 * (3 - level));
}

/** Every invariant of a tree against the table's own views. */
function checkTree(tree: PgtableTreeReport, maplets: readonly Maplet[], tablePages: number): void {
  assertEquals(tree.levels.reduce((s, l) => s + l.tables, 0), tablePages, "table pages per level");
  // The leaves translate exactly the mapped bytes.
  const leafBytes = tree.levels.reduce(
    (s, l) => s + l.pages * 4096 + l.blocks * entrySpan(l.level),
    0,
  );
  assertEquals(leafBytes, maplets.reduce((s, m) => s + m.size, 0), "leaf bytes = maplet bytes");
  for (const l of tree.levels) {
    const runs = tree.runs.filter((r) => r.level === l.level);
    assertEquals(runs.reduce((s, r) => s + r.tables, 0), l.tables, `runs at L${l.level}`);
    assertEquals(runs.reduce((s, r) => s + r.pages, 0), l.pages);
    assertEquals(runs.reduce((s, r) => s + r.blocks, 0), l.blocks);
    for (let i = 1; i < runs.length; i++) {
      const a = runs[i - 1]!;
      assert(Number(a.va) + Number(a.span) <= Number(runs[i]!.va), "runs sorted, apart");
    }
    for (const r of runs) {
      // A table at level L translates what one entry at level L - 1 does.
      if (r.level > tree.start_level) {
        assertEquals(Number(r.span), r.tables * entrySpan(r.level - 1), "run span");
      }
      for (const k of r.maplets) {
        const m = maplets[k]!;
        assert(
          m.va < Number(r.va) + Number(r.span) && m.va + m.size > Number(r.va),
          "served maplet overlaps",
        );
      }
    }
  }
  const root = tree.runs.find((r) => r.level === tree.start_level);
  assertEquals(root?.maplets, maplets.map((_, i) => i), "the pgd serves every maplet");
}

for (const version of ["v5.13", "mainline"] as KvmPgtableVersion[]) {
  Deno.test(`table tree (${version}): per-level counts, runs and leaves agree with the table over 1500 random maps`, () => {
    const { pgt, pool } = fixture(version, { pages: 4096 });
    const prng = new Prng(0x7ee + version.length);
    const windows = [0x40_0000_0000, 0x7f00_0000_0000, 0x12_3400_0000];
    for (let op = 0; op < 1500; op++) {
      const w = prng.pick(windows);
      // Mostly pages, sometimes a 2 MiB block-sized, aligned range.
      const block = prng.int(10) === 0;
      const size = block ? 2 ** 21 : 4096 * (1 + prng.int(8));
      const va = w + (block ? prng.int(8) * 2 ** 21 : prng.int(4096) * 4096);
      const pa = 0x8000_0000 + (block ? prng.int(64) * 2 ** 21 : prng.int(1 << 16) * 4096);
      if (version === "mainline" && prng.int(4) === 0) pgt.unmap(va, size);
      else pgt.map(va, size, pa, prng.pick(PROTS));
      if (op % 5 !== 4 && op !== 1499) continue;
      const maplets = pgt.maplets();
      const tree = pgtableTree(pgt, maplets, 0, (p) => pool.memory.read32(p));
      checkTree(tree, maplets, pgt.tablePages().length);
    }
  });
}

Deno.test("table tree of a booted machine: the report's counts and runs", () => {
  for (const name of ["v5.13", "v6.1", "v6.12", "v7.2"] as const) {
    const m = createMachine({ cpus: 2, plugins: profile(name) });
    const pk = m.get(PKVM);
    const r = pk.boot();
    const maplets = r.pgtable.mappings.map((x) => ({
      va: Number(x.va),
      pa: Number(x.pa),
      size: Number(x.size),
      prot: 0,
    }));
    checkTree(r.pgtable.tree, maplets, r.pgtable.table_pages);
    assertEquals(r.pgtable.tree.start_level, 0);
  }
});

Deno.test("memblock in the report: memory as the host has it, reserved labelled, the pool apart", () => {
  const r = createMachine({ cpus: 4, plugins: profile("v6.1") }).get(PKVM).boot();
  assertEquals(r.memblock.memory, [{ base: "0x40000000", size: "0x100000000" }]);
  const res = r.memblock.reserved;
  for (let i = 1; i < res.length; i++) {
    assert(Number(res[i - 1]!.base) + Number(res[i - 1]!.size) <= Number(res[i]!.base), "sorted");
  }
  const pool = res.filter((x) => x.what === "hyp pool (kvm_hyp_reserve)");
  assertEquals(pool.map((x) => [x.base, x.size]), [[r.reserve.base, r.reserve.size]]);
  assertEquals(res.map((x) => x.what), [
    "kernel image",
    "device tree blob",
    "hyp pool (kvm_hyp_reserve)",
    "linear-map page tables, unflattened device tree",
  ]);
  const image = res[0]!;
  assert(Number(image.base) <= Number(r.layout.image[".text"]![0]));
});

Deno.test("a failed boot's report has the new fields, empty", () => {
  // 24 MiB leave no room for the pool beside the image: the boot fails at step 1.
  const r = createMachine({
    ram: [{ base: 0x4000_0000, size: 24 * 2 ** 20 }],
    cpus: 1,
    plugins: profile("v5.13"),
  }).get(PKVM).boot();
  assertEquals([r.ok, r.failure?.step], [false, 1]);
  assertEquals(r.pgtable.tree.runs, []);
  assertEquals(r.memblock.reserved.some((x) => x.what === "hyp pool (kvm_hyp_reserve)"), false);
  assert(r.switch.source.length > 0);
});

Deno.test("switch.source is the sequence whose lines the findings name", () => {
  const r = createMachine({ cpus: 1, plugins: profile("v5.13", { switch: "v3" }) }).get(PKVM)
    .boot();
  const lines = r.switch.source.split("\n");
  assert(r.switch.findings.length > 0);
  for (const f of r.switch.findings) {
    assert(f.line >= 1 && f.line <= lines.length, `line ${f.line}`);
  }
});
