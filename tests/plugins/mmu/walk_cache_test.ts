// The walk cache (the level-3 table remembered per 2 MiB of VA) must never
// change a result: any store, an upper-level descriptor rewrite included,
// makes the next walk read every level again.

import { assertEquals } from "@std/assert";
import { PhysicalMemory } from "../../../core/mod.ts";
import { decodeRegime } from "../../../plugins/mmu/regime.ts";
import { WALK_FAULT, WalkState, walkTables } from "../../../plugins/mmu/table_walk.ts";
import { D, MAIR, PROT, Tables, tcr } from "./_tables.ts";

const VA = 0x7fff_8000_0000;

function setup() {
  const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 28 }]);
  const t = new Tables(mem, 0x4000_0000);
  t.mapPages(VA, 0x5000_0000, 2 * 4096, PROT.RW);
  const cfg = decodeRegime(0x30c5_0831n | 1n, tcr(16), BigInt(t.root), MAIR, 5n);
  return { mem, t, cfg };
}

Deno.test("walkTables() reads every level again after an upper-level descriptor changes", () => {
  const { mem, t, cfg } = setup();
  const s = new WalkState();
  assertEquals(walkTables(mem, cfg, VA, s), true);
  assertEquals(walkTables(mem, cfg, VA + 4096, s), true); // the cached level-3 table
  assertEquals(s.outPa, 0x5000_1000);
  // Point the level-2 entry at a second level-3 table mapping other PAs.
  const l3 = t.alloc();
  mem.write64(l3 + Tables.index(VA + 4096, 3) * 8, BigInt(0x5800_1000) | PROT.RW | D.TABLE);
  mem.write64(t.slot(VA, 2), BigInt(l3) | D.TABLE);
  assertEquals(walkTables(mem, cfg, VA + 4096, s), true);
  assertEquals([s.level, s.outPa], [3, 0x5800_1000]);
  // Invalidate the level-1 entry: a translation fault at level 1, not a stale leaf.
  mem.write64(t.slot(VA, 1), 0n);
  assertEquals(walkTables(mem, cfg, VA + 4096, s), false);
  assertEquals([s.fault, s.level], [WALK_FAULT.INVALID, 1]);
});

Deno.test("walkTables() with a cached table still sets APTable/XNTable from the upper levels", () => {
  const { mem, t, cfg } = setup();
  const l2 = t.slot(VA, 2);
  mem.write64(l2, mem.read64(l2) | D.AP_TABLE_RO | D.XN_TABLE);
  const s = new WalkState();
  for (const va of [VA, VA + 4096]) {
    assertEquals(walkTables(mem, cfg, va, s), true);
    assertEquals([s.ro, s.apTable, s.xnTable], [true, true, true]);
  }
  // Another regime object (say, after a TCR write) walks from the root.
  const hpd = decodeRegime(0x30c5_0831n | 1n, tcr(16, 5, 1n << 24n), BigInt(t.root), MAIR, 5n);
  assertEquals(walkTables(mem, hpd, VA + 4096, s), true);
  assertEquals([s.ro, s.apTable, s.xnTable], [false, false, false]);
});

Deno.test("walkTables() on a recording walk reads and records every level", () => {
  const { mem, cfg } = setup();
  const s = new WalkState();
  walkTables(mem, cfg, VA, s);
  assertEquals(walkTables(mem, cfg, VA + 4096, s, true), true);
  assertEquals(s.n, 4);
});
