/**
 * `HypPgtable.mapPages` (the boot's page-by-page `create_hyp_mappings` /
 * `pkvm_create_mappings` loops, walked once) against the loop itself: the
 * same random ranges (seeded), over tables holding blocks, other leaves,
 * software-bit variants and holes, with a pool small enough to run out,
 * must give the same pages mapped and error, and leave every table word,
 * every refcount, every WARN and its log exactly as one `map` call per page.
 */
import { assert, assertEquals } from "@std/assert";
import {
  type KvmPgtableVersion,
  PAGE_HYP,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  Prng,
  Trace,
} from "../../../core/mod.ts";
import {
  type HypPgtable,
  KVM_PGTABLE_PROT_SW,
  kvmPgtableFactory,
} from "../../../plugins/kvm_pgtable/mod.ts";
import { type TestPagePool, testPagePool } from "./_page_pool.ts";

const P = 4096;
const M2 = 2 ** 21;

interface Side {
  pgt: HypPgtable;
  pool: TestPagePool;
  trace: Trace;
}

function side(version: KvmPgtableVersion, pages: number): Side {
  const pool = testPagePool({ pages });
  // WARN logs only: a trace recording `map` events makes mapPages go page
  // by page (one event per call).
  const trace = new Trace({ kinds: ["log"] });
  const pgt = kvmPgtableFactory({ version }).hypInit({
    iaBits: 48,
    mmOps: pool.mmOps,
    memory: pool.memory,
    trace,
    name: "test_pgtable",
  });
  if (typeof pgt === "number") throw new Error(`hypInit returned ${pgt}`);
  return { pgt, pool, trace };
}

function loop(pgt: HypPgtable, va: number, pages: number, pa: number, prot: number) {
  for (let i = 0; i < pages; i++) {
    const err = pgt.map(va + i * P, P, pa + i * P, prot);
    if (err !== 0) return { mapped: i, err };
  }
  return { mapped: pages, err: 0 };
}

function same(a: Side, b: Side, pages: number, what: string): void {
  assertEquals(a.pool.memory.digest(), b.pool.memory.digest(), what);
  assertEquals(a.pgt.warnCount, b.pgt.warnCount, what);
  assertEquals(a.trace.length, b.trace.length, what);
  assertEquals([a.pool.allocs, a.pool.frees], [b.pool.allocs, b.pool.frees], what);
  for (let i = 0; i < pages; i++) {
    const pa = a.pool.base + i * P;
    if (a.pool.refcount(pa) !== b.pool.refcount(pa)) {
      assertEquals(a.pool.refcount(pa), b.pool.refcount(pa), `${what}: refcount of page ${i}`);
    }
  }
}

for (const version of ["v5.13", "v6.1", "v7.2", "mainline"] as KvmPgtableVersion[]) {
  Deno.test(`mapPages is one map call per page (${version})`, () => {
    const ml = version !== "v5.13";
    const prots = ml
      ? [PAGE_HYP, PAGE_HYP_RO, PAGE_HYP_EXEC, PAGE_HYP | KVM_PGTABLE_PROT_SW.SW0]
      : [PAGE_HYP, PAGE_HYP_RO, PAGE_HYP_EXEC];
    for (let seed = 1; seed <= 4; seed++) {
      const poolPages = 40 + seed * 20;
      const a = side(version, poolPages);
      const b = side(version, poolPages);
      const prng = new Prng(seed * 131 + version.length);
      // VAs in 8 MiB at each of 24 GiB-apart places (enough tables to
      // exhaust the smaller pools), PAs past the pool (at 0x4000_0000).
      const paBase = 0x4800_0000;
      let ooms = 0;
      for (let op = 0; op < (ml ? 250 : 150); op++) {
        const vaBase = 2 ** 30 * (1 + prng.int(24));
        const prot = prots[prng.int(prots.length)]!;
        const kind = prng.int(10);
        if (kind === 0) {
          // A block-sized map (a 2 MiB leaf where it fits) on both.
          const blk = prng.int(4);
          const pa = paBase + prng.int(8) * M2;
          const r1 = a.pgt.map(vaBase + blk * M2, M2, pa, prot);
          assertEquals(b.pgt.map(vaBase + blk * M2, M2, pa, prot), r1);
        } else if (kind === 1 && ml) {
          const va = vaBase + prng.int(4 * 512) * P;
          const n = 1 + prng.int(64);
          assertEquals(a.pgt.unmap(va, n * P), b.pgt.unmap(va, n * P));
        } else {
          const first = prng.int(4 * 512);
          const n = 1 + (prng.int(3) === 0 ? prng.int(1100) : prng.int(12));
          // Mostly the linear offset some earlier map used, so pages repeat
          // exactly; sometimes another (a conflict).
          const pa = paBase + (prng.int(3) === 0 ? prng.int(2048) : first) * P;
          const got = a.pgt.mapPages(vaBase + first * P, n, pa, prot);
          const want = loop(b.pgt, vaBase + first * P, n, pa, prot);
          assertEquals(got, want, `op ${op}`);
          if (got.err === -12) ooms++;
        }
        same(a, b, poolPages, `seed ${seed} op ${op}`);
      }
      if (seed === 1) assert(ooms > 0, "the smallest pool runs out");
    }
  });
}

Deno.test("mapPages goes page by page where the calls fail part-way: past ia_bits, unaligned, destroyed", () => {
  const a = side("v7.2", 64);
  const b = side("v7.2", 64);
  const top = 2 ** 48;
  assertEquals(a.pgt.mapPages(top - 2 * P, 4, 0x4800_0000, PAGE_HYP), {
    mapped: 2,
    err: loop(b.pgt, top - 2 * P, 4, 0x4800_0000, PAGE_HYP).err,
  });
  assertEquals(
    a.pgt.mapPages(0x1000_0800, 3, 0x4800_0000, PAGE_HYP),
    loop(b.pgt, 0x1000_0800, 3, 0x4800_0000, PAGE_HYP),
  );
  same(a, b, 64, "part-way");
  a.pgt.destroy();
  b.pgt.destroy();
  assertEquals(
    a.pgt.mapPages(0, 3, 0x4800_0000, PAGE_HYP),
    loop(b.pgt, 0, 3, 0x4800_0000, PAGE_HYP),
  );
  assertEquals(a.pgt.mapPages(0, 3, 0x4800_0000, 0), {
    mapped: 0,
    err: loop(b.pgt, 0, 3, 0x4800_0000, 0).err,
  });
});
