/**
 * The map visitors' batched LEAF visits (`leafRun`) against one visit per
 * entry: the same random maps (seeded), over tables seeded with stray
 * invalid bits, different valid leaves and software-bit variants, must
 * leave every table word, every refcount, every WARN, every return code and
 * the store's record of the last write exactly as the walk that visits each
 * entry with `cb`.
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  PhysicalMemory,
  Prng,
} from "../../../core/mod.ts";
import { KVM_PGTABLE_PROT_SW } from "../../../plugins/kvm_pgtable/mod.ts";
import { hypMapWalker, type MapEnv } from "../../../plugins/kvm_pgtable/map_walker.ts";
import { protAttrParts, pteFormat } from "../../../plugins/kvm_pgtable/_pte.ts";
import {
  type FastWalker,
  kvmPgtableWalk,
  PteStore,
  type WalkTarget,
} from "../../../plugins/kvm_pgtable/walker.ts";
import { collectMaplets } from "../../../plugins/kvm_pgtable/views.ts";
import { granuleAt } from "../../../plugins/kvm_pgtable/geometry.ts";
import { leafProt, pteToPhys } from "../../../plugins/kvm_pgtable/_pte.ts";
import { KernelBugError, type Maplet, type PgtableMmOps } from "../../../core/mod.ts";
import { WALK } from "../../../core/mod.ts";
import { testPagePool } from "./_page_pool.ts";

const K4 = 4096;
const M2 = 2 ** 21;
const G1 = 2 ** 30;
const PROTS = [
  PAGE_HYP,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  PAGE_HYP_DEVICE,
  PAGE_HYP | KVM_PGTABLE_PROT_SW.SW0,
  PAGE_HYP | KVM_PGTABLE_PROT_SW.SW3,
];

/** One table over its own memory and pool, mapped with or without runs. */
class Side {
  readonly memory = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 32 }]);
  readonly pool;
  readonly store: PteStore;
  readonly target: WalkTarget;
  readonly warns: string[] = [];
  readonly env: MapEnv;
  readonly #attr = new Uint32Array(2);

  /**
   * @param mmShape The mm_ops the table is given: the pool's own (with the
   *   batched getPages), getPage only (a user's mm_ops: one call per leaf),
   *   or a getPages that takes one reference too many (a mutation the
   *   comparison must catch).
   */
  constructor(
    readonly version: string,
    readonly lpa2: boolean,
    pages: number,
    mmShape: "getPages" | "getPage" | "getPages+1" = "getPages",
  ) {
    this.pool = testPagePool({ memory: this.memory, pages });
    this.store = new PteStore(this.memory);
    const own = this.pool.mmOps;
    const mmOps: PgtableMmOps = { ...own };
    if (mmShape !== "getPages") delete mmOps.getPages;
    if (mmShape === "getPages+1") {
      mmOps.getPages = (va, n) => {
        const k = own.getPages!(va, n);
        if (k > 0) own.getPage!(va);
        return k;
      };
    }
    const pgd = this.pool.mmOps.zallocPage()!;
    this.target = {
      store: this.store,
      pgdPa: this.pool.mmOps.virtToPhys(pgd),
      iaBits: lpa2 ? 52 : 48,
      startLevel: lpa2 ? -1 : 0,
      version,
      lpa2,
    };
    this.env = {
      store: this.store,
      mmOps,
      lpa2,
      warn: (fn, message) => void this.warns.push(`${fn}: ${message}`),
    };
  }

  map(va: number, size: number, pa: number, prot: number, runs: boolean): number {
    const fmt = pteFormat(this.version, { lpa2: this.lpa2 });
    protAttrParts(prot, fmt, this.#attr);
    const w = hypMapWalker(this.env, fmt.facts, pa, this.#attr[0]!, this.#attr[1]!);
    assert(w.leafRun !== undefined, "the map visitor takes runs");
    const walker: FastWalker = runs ? w : {
      flags: w.flags,
      trusted: w.trusted === true,
      cb: (ctx, visit) => w.cb(ctx, visit),
    };
    return kvmPgtableWalk(this.target, va, size, walker);
  }

  /** Every word of every pool page, and every refcount. */
  snapshot(): number[] {
    const out: number[] = [];
    const buf = new Uint32Array(2);
    for (let i = 0; i < 64; i++) {
      const pa = this.pool.base + i * K4;
      out.push(this.pool.refcount(pa));
      for (let off = 0; off < K4; off += 8) {
        this.memory.read64Parts(pa + off, buf);
        out.push(buf[0]!, buf[1]!);
      }
    }
    return out;
  }
}

/**
 * The maplets by one LEAF visit per entry (no runs): a valid leaf above
 * level 0 that is not a reserved level-3 encoding, merged with the one
 * before when VA, PA and prot continue it.
 */
function mapletsOneByOne(side: Side): Maplet[] {
  const fmt = pteFormat(side.version, { lpa2: side.lpa2 });
  const out: Maplet[] = [];
  kvmPgtableWalk(side.target, 0, 2 ** side.target.iaBits, {
    flags: WALK.LEAF,
    cb(ctx) {
      const { lo, hi, level } = ctx;
      if ((lo & 1) === 0 || level <= 0 || (level === 3 && (lo & 2) === 0)) return 0;
      const g = granuleAt(level);
      const va = Math.floor(ctx.addr / g) * g;
      const pa = pteToPhys(lo, hi, fmt.lpa2);
      const prot = leafProt(lo, hi, fmt);
      const last = out[out.length - 1];
      if (last && last.va + last.size === va && last.pa + last.size === pa && last.prot === prot) {
        last.size += g;
      } else {
        out.push({ va, pa, size: g, prot });
      }
      return 0;
    },
  });
  return out;
}

/** The two snapshots are equal (std's deep equality is slow on 65,600 numbers). */
function assertSameSnapshot(a: Side, b: Side, what: string): void {
  const x = a.snapshot();
  const y = b.snapshot();
  assertEquals(x.length, y.length, what);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) {
      const page = Math.floor(i / 1025);
      const word = (i % 1025) - 1;
      assertEquals(
        x[i],
        y[i],
        `${what}: pool page ${page}, ${word < 0 ? "refcount" : `word ${word}`}`,
      );
    }
  }
}

/**
 * A random map inside a 64 MiB window across a 1 GiB boundary, to PAs
 * across a 4 GiB boundary (and, with LPA2, across 2^50: bits 51:50 go to
 * descriptor bits 9:8).
 */
function randomMap(
  rng: Prng,
  lpa2: boolean,
): { va: number; size: number; pa: number; prot: number } {
  const window = 0x1_4000_0000 - 32 * M2;
  const blocky = rng.int(2) === 0;
  const va = window + (blocky ? rng.int(32) * M2 : rng.int(16384) * K4);
  const size = rng.int(3) === 0 ? rng.range(1, 2 * M2) : rng.range(1, 6) * M2 + rng.int(4) * K4;
  const base = lpa2 && rng.int(2) === 0 ? 2 ** 50 : 0x8_0000_0000;
  const pa = base - 32 * M2 + (rng.int(2) === 0 ? rng.int(64) * M2 : rng.int(16384) * K4);
  return { va, size, pa, prot: PROTS[rng.int(PROTS.length)]! };
}

/** Writes the same odd entry into both sides: stray invalid bits, or a different valid leaf. */
function scribble(rng: Prng, a: Side, b: Side): void {
  const page = a.pool.base + rng.int(8) * K4;
  if (a.pool.refcount(page) === 0) return;
  const ptep = page + rng.int(512) * 8;
  const parts = new Uint32Array(2);
  a.memory.read64Parts(ptep, parts);
  // Keep table entries: the pages below them are counted.
  if ((parts[0]! & 3) === 3 && rng.int(4) !== 0) return;
  let lo: number;
  let hi: number;
  if (rng.int(3) === 0) {
    // Zero a few entries (a page left all zero goes back to sparse: the
    // written extent a run leaves must be what one store per entry leaves).
    const n = 1 + rng.int(Math.min(64, 512 - (ptep - page) / 8));
    a.memory.zero(ptep, n * 8);
    b.memory.zero(ptep, n * 8);
    return;
  }
  if (rng.int(2) === 0) {
    lo = (rng.nextU32() & ~1) >>> 0; // invalid, with other bits set
    hi = rng.nextU32();
  } else {
    // A different valid leaf (a block above level 3), SW0 set or not.
    lo = ((rng.int(4096) * K4) | 0x741) >>> 0;
    hi = 0x9 | (rng.int(2) === 0 ? 0 : 1 << 23);
  }
  a.memory.write64Parts(ptep, lo, hi);
  b.memory.write64Parts(ptep, lo, hi);
}

/** Every pool page's refcount, by page index. */
function refcounts(side: Side, pages: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < pages; i++) out.push(side.pool.refcount(side.pool.base + i * K4));
  return out;
}

for (const version of ["v5.13", "v6.1", "mainline"]) {
  for (const lpa2 of [false, true]) {
    if (lpa2 && version === "v5.13") continue;
    // v5.13 counts nothing: one mm_ops shape is enough.
    const shapes = version === "v5.13" ? ["getPages"] as const : ["getPages", "getPage"] as const;
    for (const shape of shapes) {
      const label = `${version}${lpa2 ? ", LPA2" : ""}${
        version === "v5.13" ? "" : `, mm_ops with ${shape}`
      }`;
      Deno.test(`map leaf runs (${label}) do what one visit per entry does`, () => {
        leafRunsAgainstVisits(version, lpa2, shape);
      });
    }
  }
}

function leafRunsAgainstVisits(version: string, lpa2: boolean, shape: "getPages" | "getPage") {
  for (let seed = 1; seed <= 12; seed++) {
    const rng = new Prng(seed * 7919 + (lpa2 ? 1 : 0));
    // A small pool now and then, so a map runs out of table pages mid-walk.
    const pages = rng.int(3) === 0 ? 6 + rng.int(6) : 64;
    // The runs' side takes references per run or per leaf; the other
    // visits each entry, with one get_page per leaf.
    const a = new Side(version, lpa2, pages, shape);
    const b = new Side(version, lpa2, pages, "getPage");
    let last = randomMap(rng, lpa2);
    let warned = 0;
    for (let op = 0; op < 60; op++) {
      if (rng.int(3) === 0) scribble(rng, a, b);
      // Now and then the last map again, with another prot (identical
      // entries, software-bit updates, different valid leaves).
      const m = rng.int(4) === 0
        ? { ...last, prot: PROTS[rng.int(PROTS.length)]! }
        : randomMap(rng, lpa2);
      last = m;
      const ra = a.map(m.va, m.size, m.pa, m.prot, true);
      const rb = b.map(m.va, m.size, m.pa, m.prot, false);
      const what = `seed ${seed} op ${op} map(${m.va.toString(16)}, ${m.size.toString(16)})`;
      assertEquals(ra, rb, `${what}: return code`);
      assertEquals(a.warns.length, b.warns.length, `${what}: WARNs`);
      assertEquals(a.warns.slice(warned), b.warns.slice(warned), `${what}: WARNs`);
      warned = a.warns.length;
      assertEquals(a.pool.allocs, b.pool.allocs, `${what}: pages allocated`);
      assertEquals(a.memory.residentBytes, b.memory.residentBytes, `${what}: resident bytes`);
      assertEquals(
        [a.store.writes, a.store.lastPtep, a.store.lastLo, a.store.lastHi],
        [b.store.writes, b.store.lastPtep, b.store.lastLo, b.store.lastHi],
        `${what}: the store's record`,
      );
      if (op % 6 === 5) assertSameSnapshot(a, b, `${what}: tables and refcounts`);
    }
    assertSameSnapshot(a, b, `seed ${seed}: tables and refcounts`);
    assertEquals(refcounts(a, pages), refcounts(b, pages), `seed ${seed}: refcounts`);
    // The views read leaves in runs too.
    const fmt = pteFormat(version, { lpa2 });
    assertEquals(
      collectMaplets({ ...a.target, fmt }),
      mapletsOneByOne(a),
      `seed ${seed}: maplets`,
    );
  }
}

Deno.test("a batched get_page one reference off is caught by the run/visit comparison", () => {
  const a = new Side("mainline", false, 16, "getPages+1");
  const b = new Side("mainline", false, 16, "getPage");
  assertEquals(a.map(0x4000_0000, 8 * K4, 0x8_0000_0000, PAGE_HYP, true), 0);
  assertEquals(b.map(0x4000_0000, 8 * K4, 0x8_0000_0000, PAGE_HYP, false), 0);
  assertThrows(() => assertEquals(refcounts(a, 16), refcounts(b, 16)));
  assertThrows(() => assertSameSnapshot(a, b, "off by one"));
});

Deno.test("a run that takes the u16 refcount past USHRT_MAX fails where get_page one by one fails", () => {
  for (const shape of ["getPages", "getPage"] as const) {
    for (const headroom of [0, 1, 5, 9, 10, 11]) {
      const sides = [new Side("mainline", false, 16, shape), new Side("mainline", false, 16)];
      const errors = sides.map((s, i) => {
        const runs = i === 0;
        assertEquals(s.map(0x4000_0000, K4, 0x8_0000_0000, PAGE_HYP, runs), 0);
        // The level-3 page at 0xffff - headroom (hyp_page_ref_inc BUG_ONs at USHRT_MAX).
        const l3 = s.pool.base + 3 * K4;
        const va = s.pool.mmOps.physToVirt(l3);
        while (s.pool.refcount(l3) < 0xffff - headroom) s.pool.mmOps.getPage!(va);
        try {
          s.map(0x4000_1000, 10 * K4, 0x8_0000_1000, PAGE_HYP, runs);
          return "no error";
        } catch (e) {
          if (!(e instanceof KernelBugError)) throw e;
          return e.message;
        }
      });
      const what = `${shape}, headroom ${headroom}`;
      assertEquals(errors[0], errors[1], what);
      assertEquals(errors[0] === "no error", headroom >= 10, what);
      assertEquals(refcounts(sides[0]!, 16), refcounts(sides[1]!, 16), what);
      assertSameSnapshot(sides[0]!, sides[1]!, what);
      assertEquals(
        [sides[0]!.store.writes, sides[0]!.store.lastPtep, sides[0]!.memory.residentBytes],
        [sides[1]!.store.writes, sides[1]!.store.lastPtep, sides[1]!.memory.residentBytes],
        what,
      );
    }
  }
});

Deno.test("a leaf run counts as a store to a page read as a table (the TLB's stale check sees it)", () => {
  const s = new Side("mainline", false, 16);
  assertEquals(s.map(0x4000_0000, K4, 0x8_0000_0000, PAGE_HYP, true), 0);
  // The level-3 page: read as a table by a walker, then a run of 511 leaves.
  const l3 = s.pool.base + 3 * K4;
  s.memory.readTableEntry(l3, new Uint32Array(2));
  const g = s.memory.tableGeneration;
  assertEquals(s.map(0x4000_1000, 511 * K4, 0x8_0000_1000, PAGE_HYP, true), 0);
  assert(s.memory.tableGeneration > g);
  assertEquals(s.pool.refcount(l3), 1 + 512);
});

Deno.test("a 1 GiB map in 2 MiB blocks is one run at level 2", () => {
  const s = new Side("mainline", false, 16);
  assertEquals(s.map(G1, G1, 0x8_0020_0000, PAGE_HYP, true), 0);
  // pgd, level 1, level 2: one store each above, 512 in the run.
  assertEquals(s.store.writes, 2 + 512);
  assertEquals(s.pool.refcount(s.pool.base + 2 * K4), 1 + 512);
});

Deno.test("a run that stops early leaves the written extent one store per entry leaves", () => {
  for (const version of ["v5.13", "mainline"]) {
    const sides = [true, false].map((runs) => {
      const s = new Side(version, false, 16);
      // The level-3 table, then a different valid leaf at its entry 10.
      assertEquals(s.map(0x4000_0000, K4, 0x8_0000_0000, PAGE_HYP, runs), 0);
      const l3 = s.pool.base + 3 * K4;
      s.memory.write64Parts(l3 + 80, 0x9000_0743, 0);
      s.memory.zero(l3, 8);
      // Entries 0..9 are filled by a run, which stops at entry 10.
      s.map(0x4000_0000, 20 * K4, 0x8_0000_0000, PAGE_HYP, runs);
      // Zeroing what was written leaves the page all zero: it is kept
      // backed until another page is left so, then goes back to sparse.
      s.memory.zero(l3, 88);
      const other = s.pool.base + 12 * K4;
      s.memory.write64Parts(other, 1, 0);
      s.memory.zero(other, 8);
      return s;
    });
    assertEquals(sides[0]!.memory.residentBytes, sides[1]!.memory.residentBytes, version);
    assertEquals(sides[0]!.warns, sides[1]!.warns, version);
  }
});

Deno.test("walks that skip a kind of visit (no LEAF: non-tables at once; no PRE/POST: straight down) see what a walk with every visit sees", () => {
  for (
    const [version, lpa2] of [["v5.13", false], ["mainline", false], ["mainline", true]] as const
  ) {
    const rng = new Prng(4242 + (lpa2 ? 1 : 0));
    const a = new Side(version, lpa2, 64);
    const b = new Side(version, lpa2, 64);
    for (let op = 0; op < 40; op++) {
      if (rng.int(3) === 0) scribble(rng, a, b);
      const m = randomMap(rng, lpa2);
      a.map(m.va, m.size, m.pa, m.prot, true);
    }
    for (let k = 0; k < 150; k++) {
      // Unaligned starts and ends, across the mapped window and past it.
      const addr = 0x1_4000_0000 - 40 * M2 + rng.int(80 * M2 / 8) * 8;
      const size = rng.int(3) === 0 ? rng.int(2 ** 40) : rng.int(8 * M2);
      const all = WALK.LEAF | WALK.TABLE_PRE | WALK.TABLE_POST;
      for (
        const flags of [
          WALK.TABLE_PRE,
          WALK.TABLE_POST,
          WALK.TABLE_PRE | WALK.TABLE_POST,
          WALK.LEAF,
        ]
      ) {
        // The visits of `flags` kinds, by a walk with those flags or with all.
        const seen = (walkFlags: number): string[] => {
          const out: string[] = [];
          const ret = kvmPgtableWalk(a.target, addr, size, {
            flags: walkFlags,
            cb(ctx, visit) {
              if ((visit & flags) !== 0) {
                out.push(`${visit} ${ctx.addr} ${ctx.level} ${ctx.ptep} ${ctx.lo} ${ctx.hi}`);
              }
              return 0;
            },
          });
          out.push(`ret ${ret}`);
          return out;
        };
        assertEquals(seen(flags), seen(all), `${version} walk(${addr}, ${size}, ${flags})`);
      }
    }
  }
});
