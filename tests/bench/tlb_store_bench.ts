// The TLB's leaf store on its own (plugins/tlb/leaf_store.ts), the part of
// translate on a miss + fill and of a TLBI that is the TLB's: a lookup that
// misses then a fill at a fresh page, a lookup that hits after the store
// changed (no remembered answer), and a by-VA removal. No target of its own:
// these are shares of the MMU benches' figures, whose targets are
// ≤ 4× the same work in C (see mmu_bench.ts and _targets.ts).

import { LeafStore } from "../../plugins/tlb/leaf_store.ts";

const VA = 0x7fff_8000_0000;
const BASE = 0x4000_0000;
/** Pages per round of the fill benches (64 MiB, as mmu_bench's miss bench). */
const PAGES = 16384;

const s = new LeafStore();
let k = 0;
Deno.bench({
  group: "leaf store",
  name: "find (miss) + put, fresh page per call (16384 pages, then clear)",
  baseline: true,
  fn() {
    if (k === PAGES) {
      k = 0;
      s.clear();
    }
    const va = VA + k++ * 4096;
    if (s.find(va) !== -1) throw new Error("hit");
    s.put(va, 0, 0x5000_0000 + va % 0x1000_0000, BASE, 0x743, 0, 3 << 2);
  },
});

// 512 pages filled; every lookup follows a change (a put and a removal of
// a far page), so it takes the index, not a remembered answer.
const h = new LeafStore();
for (let p = 0; p < 512; p++) h.put(VA + p * 4096, 0, 0x5000_0000 + p * 4096, BASE, 0, 0, 3 << 2);
let j = 0;
Deno.bench({
  group: "leaf store",
  name: "find (hit by the index, after a change) + put/remove of another page",
  fn() {
    const far = 0x1_0000_0000 + (j & 1) * 4096;
    if ((j & 1) === 0) h.put(far, 0, 0x7000_0000, BASE, 0, 0, 3 << 2);
    else h.remove(far - 4096, 3);
    if (h.find(VA + ((j++ * 97) & 511) * 4096 + 8) < 0) throw new Error("miss");
  },
});

// A TLBI by VA on a store of 16384 pages, the page filled again after it.
const r = new LeafStore();
for (let p = 0; p < PAGES; p++) r.put(VA + p * 4096, 0, 0x5000_0000 + p * 4096, BASE, 0, 0, 3 << 2);
let q = 0;
Deno.bench({
  group: "leaf store",
  name: "remove (tlbi vae2, every size) + put back, 16384 pages",
  fn() {
    const va = VA + ((q++ * 61) & (PAGES - 1)) * 4096;
    if (r.remove(va, 0) !== 1) throw new Error("not removed");
    r.put(va, 0, 0x5000_0000 + va % 0x1000_0000, BASE, 0, 0, 3 << 2);
  },
});

// The whole-process shape: 262,144 pages (1 GiB) filled in VA order, then
// one clear (tlbi alle2), per iteration.
const big = new LeafStore();
Deno.bench({
  group: "leaf store, 1 GiB of pages",
  name: "262,144 fills in VA order + clear",
  n: 20,
  fn() {
    for (let p = 0; p < 262144; p++) {
      big.put(VA + p * 4096, 0, 0x5000_0000 + p * 4096, BASE, 0x743, 0, 3 << 2);
    }
    if (big.clear() !== 262144) throw new Error("lost entries");
  },
});

// The same into a fresh store each time: the store's own growth (rows and
// index allocated and first touched), as in a boot.
Deno.bench({
  group: "leaf store, 1 GiB of pages",
  name: "262,144 fills in VA order into a new store",
  n: 20,
  fn() {
    const f = new LeafStore();
    for (let p = 0; p < 262144; p++) {
      f.put(VA + p * 4096, 0, 0x5000_0000 + p * 4096, BASE, 0x743, 0, 3 << 2);
    }
    if (f.size !== 262144) throw new Error("lost entries");
  },
});
