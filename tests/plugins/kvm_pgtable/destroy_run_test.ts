/**
 * `kvm_pgtable_hyp_destroy`'s free visitor takes a page's run of leaves in
 * one `leafRun`: over random tables (seeded: pages, blocks, holes), the
 * destroy must put exactly the pages, in the same order, that one visit per
 * entry puts — every refcount, every page freed, the memory after.
 */
import { assertEquals } from "@std/assert";
import { type KvmPgtableVersion, PAGE_HYP, Prng } from "../../../core/mod.ts";
import { hypFreeWalker } from "../../../plugins/kvm_pgtable/unmap_walker.ts";
import { kvmPgtableWalk, PteStore } from "../../../plugins/kvm_pgtable/walker.ts";
import { pgtableFacts } from "../../../plugins/kvm_pgtable/_pte.ts";
import { fixture } from "./_fixture.ts";

const P = 4096;

function build(version: KvmPgtableVersion, seed: number) {
  const f = fixture(version, { pages: 600 });
  const prng = new Prng(seed);
  for (let i = 0; i < 300; i++) {
    const va = 2 ** 30 * (1 + prng.int(6)) + prng.int(2048) * P;
    const n = prng.int(5) === 0 ? 512 : 1 + prng.int(40);
    f.pgt.map(va, n * P, 0x4800_0000 + prng.int(4096) * P, PAGE_HYP);
  }
  return f;
}

for (const version of ["v5.13", "v7.2", "mainline"] as KvmPgtableVersion[]) {
  Deno.test(`destroy's leaf runs put what one visit per entry puts (${version})`, () => {
    for (let seed = 1; seed <= 5; seed++) {
      const a = build(version, seed);
      const b = build(version, seed);
      const puts: number[][] = [[], []];
      for (const [i, f] of [a, b].entries()) {
        const put = f.pgt.mmOps.putPage!;
        f.pgt.mmOps = { ...f.pgt.mmOps, putPage: (va) => (puts[i]!.push(va), put(va)) };
      }
      a.pgt.destroy();
      // b: the same visitor with its LEAF visits one by one.
      const mm = b.pgt.mmOps;
      const store = new PteStore(b.pool.memory);
      const w = hypFreeWalker({ store, mmOps: mm }, pgtableFacts(version));
      const target = {
        store,
        pgdPa: b.pgt.pgd,
        iaBits: b.pgt.iaBits,
        startLevel: b.pgt.startLevel,
        version,
      };
      const one = { flags: w.flags, trusted: true, cb: w.cb.bind(w) };
      assertEquals(kvmPgtableWalk(target, 0, 2 ** b.pgt.iaBits, one), 0);
      mm.putPage!(mm.physToVirt(b.pgt.pgd));
      assertEquals(puts[0], puts[1]);
      assertEquals([a.pool.live(), a.pool.frees], [b.pool.live(), b.pool.frees]);
      assertEquals(a.pool.memory.digest(), b.pool.memory.digest());
      assertEquals(a.pool.live(), 0);
    }
  });
}
