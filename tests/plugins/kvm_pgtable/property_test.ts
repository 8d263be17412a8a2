/**
 * Property tests: random map/unmap sequences (seeded), checked after every
 * operation against a reference model (a Map of page → {pa, prot}).
 */

import { assert, assertEquals } from "@std/assert";
import {
  type KvmPgtableVersion,
  type Maplet,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  Prng,
} from "../../../core/mod.ts";
import {
  checkTableRefcounts,
  encodeHypLeaf,
  type HypPgtable,
  KVM_GRANULE_SIZES,
  KVM_PGTABLE_PROT_SW,
} from "../../../plugins/kvm_pgtable/mod.ts";
import { fixture, K4, M2 } from "./_fixture.ts";

type Page = { pa: number; prot: number };

/** A mapped range as the test issued it. */
interface Region {
  va: number;
  size: number;
  pa: number;
  prot: number;
}

const WINDOWS = [0x12_3400_0000, 0x7fff_c000_0000];
const WINDOW_SIZE = 16 * 2 ** 20;
const PROTS = [PAGE_HYP, PAGE_HYP_EXEC, PAGE_HYP_RO, PAGE_HYP_DEVICE];

class Model {
  pages = new Map<number, Page>();

  free(va: number, size: number): boolean {
    for (let a = va; a < va + size; a += K4) if (this.pages.has(a)) return false;
    return true;
  }

  intact(r: Region): boolean {
    for (let off = 0; off < r.size; off += K4) {
      const p = this.pages.get(r.va + off);
      if (p === undefined || p.pa !== r.pa + off || p.prot !== r.prot) return false;
    }
    return true;
  }

  set(r: Region): void {
    for (let off = 0; off < r.size; off += K4) {
      this.pages.set(r.va + off, { pa: r.pa + off, prot: r.prot });
    }
  }

  drop(r: Region): void {
    for (let off = 0; off < r.size; off += K4) this.pages.delete(r.va + off);
  }

  maplets(): Maplet[] {
    const out: Maplet[] = [];
    for (const va of [...this.pages.keys()].sort((a, b) => a - b)) {
      const p = this.pages.get(va)!;
      const last = out[out.length - 1];
      if (
        last && last.va + last.size === va && last.pa + last.size === p.pa && last.prot === p.prot
      ) {
        last.size += K4;
      } else {
        out.push({ va, pa: p.pa, size: K4, prot: p.prot });
      }
    }
    return out;
  }
}

function randomRegion(rng: Prng, version: KvmPgtableVersion): Region {
  const window = rng.pick(WINDOWS);
  const kind = rng.int(100);
  let va: number;
  let size: number;
  if (kind < 60) {
    size = rng.range(1, 33) * K4;
    va = window + rng.int((WINDOW_SIZE - size) / K4) * K4;
  } else if (kind < 85) {
    const head = rng.int(3) * K4;
    size = rng.range(1, 3) * M2 + head + rng.int(3) * K4;
    va = window + rng.int(WINDOW_SIZE / M2 - 4) * M2 + (M2 - head) % M2;
  } else {
    size = rng.range(64, 300) * K4;
    va = window + rng.int((WINDOW_SIZE - size) / K4) * K4;
  }
  // PA congruent to VA modulo 2 MiB (blocks possible) or off by some pages.
  const paBase = 0x8000_0000 + rng.int(2048) * M2;
  const pa = paBase + (va % M2) + (rng.int(3) === 0 ? rng.range(1, 512) * K4 : 0);
  let prot = rng.pick(PROTS);
  if (version === "mainline" && rng.int(8) === 0) prot |= KVM_PGTABLE_PROT_SW.SW1;
  return { va, size, pa, prot };
}

/** getLeaf of every mapped page gives the descriptor the model predicts. */
function checkLeaves(pgt: HypPgtable, model: Model, version: KvmPgtableVersion, rng: Prng): void {
  for (const [va, p] of model.pages) {
    const { pte, level } = pgt.getLeaf(va);
    assert(level >= 1 && level <= 3, `leaf of 0x${va.toString(16)} at level ${level}`);
    const g = KVM_GRANULE_SIZES[level]!;
    const blockVa = va - (va % g);
    assertEquals(
      pte,
      encodeHypLeaf(p.pa - (va - blockVa), p.prot, level, { version }),
      `leaf of 0x${va.toString(16)}`,
    );
  }
  // And a sample of unmapped pages resolve to an invalid entry.
  for (let i = 0; i < 64; i++) {
    const va = rng.pick(WINDOWS) + rng.int(WINDOW_SIZE / K4) * K4;
    if (!model.pages.has(va)) {
      assertEquals(pgt.getLeaf(va).pte & 1n, 0n, `0x${va.toString(16)} is unmapped`);
    }
  }
}

function run(version: KvmPgtableVersion, seed: number, ops: number): void {
  const rng = new Prng(seed);
  // v5.13 cannot unmap, so its windows fill up: start a fresh table every
  // few hundred operations instead.
  const epochs = version === "v5.13" ? 6 : 1;
  for (let e = 0; e < epochs; e++) runEpoch(version, rng, seed, Math.floor(ops / epochs));
}

function runEpoch(version: KvmPgtableVersion, rng: Prng, seed: number, ops: number): void {
  const { pgt, pool } = fixture(version, { pages: 16384 });
  // Count descriptor writes (cheaper than hashing memory after every op).
  const memory = pool.memory;
  const write64Parts = memory.write64Parts.bind(memory);
  let writes = 0;
  memory.write64Parts = (pa: number, lo: number, hi: number) => {
    writes++;
    write64Parts(pa, lo, hi);
  };
  const model = new Model();
  let regions: Region[] = [];
  const counts = { map: 0, same: 0, sw: 0, conflict: 0, unmap: 0, overrun: 0, hole: 0 };

  for (let i = 0; i < ops; i++) {
    const op = rng.int(100);
    const r = regions.length > 0 ? rng.pick(regions) : undefined;
    const where = `op ${i} (seed ${seed})`;
    if (op < 45 || r === undefined) {
      const fresh = randomRegion(rng, version);
      if (!model.free(fresh.va, fresh.size)) continue;
      assertEquals(pgt.map(fresh.va, fresh.size, fresh.pa, fresh.prot), 0, `${where}: map`);
      model.set(fresh);
      regions.push(fresh);
      counts.map++;
    } else if (!model.intact(r)) {
      throw new Error(`${where}: region 0x${r.va.toString(16)} no longer intact`);
    } else if (op < 55) {
      const warns = pgt.warnCount;
      const before = writes;
      assertEquals(pgt.map(r.va, r.size, r.pa, r.prot), 0, `${where}: same map`);
      assertEquals(pgt.warnCount, warns, `${where}: same map WARNs`);
      assertEquals(writes, before, `${where}: same map writes`);
      counts.same++;
    } else if (version === "mainline" && op < 62) {
      // Only the software bits change: overwritten without a WARN.
      const prot = r.prot ^ KVM_PGTABLE_PROT_SW.SW2;
      assertEquals(pgt.map(r.va, r.size, r.pa, prot), 0, `${where}: sw remap`);
      assertEquals(pgt.warnCount, 0, `${where}: sw remap WARNs`);
      r.prot = prot;
      model.set(r);
      counts.sw++;
    } else if (version === "v5.13" && op < 62) {
      // A different PA: every leaf WARNs and is kept.
      const warns = pgt.warnCount;
      const before = writes;
      assertEquals(pgt.map(r.va, r.size, r.pa + M2, r.prot), 0, `${where}: conflicting map`);
      assert(pgt.warnCount > warns, `${where}: conflicting map must WARN`);
      assertEquals(writes, before, `${where}: conflicting map writes`);
      counts.conflict++;
    } else if (version === "mainline" && op < 80) {
      assertEquals(pgt.unmap(r.va, r.size), r.size, `${where}: unmap`);
      model.drop(r);
      regions = regions.filter((x) => x !== r);
      counts.unmap++;
    } else if (version === "mainline" && op < 90) {
      // Past the region's end into a hole: the walk stops at the hole.
      const end = r.va + r.size;
      if (model.pages.has(end)) continue;
      assertEquals(pgt.unmap(r.va, r.size + rng.range(1, 8) * K4), r.size, `${where}: overrun`);
      model.drop(r);
      regions = regions.filter((x) => x !== r);
      counts.overrun++;
    } else if (version === "mainline") {
      // Starting in a hole unmaps nothing.
      const va = rng.pick(WINDOWS) + rng.int(WINDOW_SIZE / K4) * K4;
      if (model.pages.has(va)) continue;
      const before = writes;
      assertEquals(pgt.unmap(va, rng.range(1, 600) * K4), 0, `${where}: unmap from a hole`);
      assertEquals(writes, before, `${where}: unmap from a hole writes`);
      counts.hole++;
    } else {
      continue;
    }
    assertEquals(pgt.maplets(), model.maplets(), `${where}: maplets`);
    if (version === "mainline") {
      assertEquals(checkTableRefcounts(pgt, pool.memory), undefined, `${where}: refcounts`);
    }
    if (i % 50 === 0) checkLeaves(pgt, model, version, rng);
  }
  checkLeaves(pgt, model, version, rng);
  // Every operation kind ran a fair number of times.
  for (const [kind, n] of Object.entries(counts)) {
    const applies = version === "mainline" ? kind !== "conflict" : ["map", "same", "conflict"]
      .includes(kind);
    if (applies) assert(n >= ops / 40, `${kind} ran only ${n} times`);
  }
  pgt.destroy();
  assertEquals(pool.live(), 0, "pages left after destroy");
}

Deno.test("kvm_pgtable (mainline): random map/unmap keeps maplets, leaves and refcounts right", () => {
  run("mainline", 0x5eed_0001, 2000);
});

Deno.test("kvm_pgtable (v5.13): random maps and conflicting remaps keep maplets and leaves right", () => {
  run("v5.13", 0x5eed_0002, 1500);
});
