// MMU/TLB hot paths: translate on a TLB hit, translate on a miss (a
// 4-level walk + fill), the El2Memory load path, and a side-effect-free walk.
// Targets: hit, walk and miss + fill at a fresh VA ≤ 4× the same work in C
// (see _targets.ts); the other figures have no target. The targeted figures
// fill a reused record (translateInto / walkInto: all twelve fields of a
// translation, the descriptor as two halves), as the C fills its result
// struct; the object-returning translate() / walk() are timed beside them.

import { createMachine, MMU, TLB } from "../../core/mod.ts";
import { mmu, type Stage1Mmu, TranslationOut } from "../../plugins/mmu/mod.ts";
import { tlb } from "../../plugins/tlb/mod.ts";
import { enable, PROT, Tables } from "../plugins/mmu/_tables.ts";
import { C_FIGURES, RATIO, target } from "./_targets.ts";

const m = createMachine({ cpus: 1, plugins: [tlb(), mmu()] });
m.trace.enabled = false;
const cpu = m.cpu(0);
const t = new Tables(m.memory, 0x4000_0000, 16); // 48-bit VAs: levels 0..3
// A hyp-like VA in the upper part of the 48-bit space, 2 MiB of pages.
const VA = 0x7fff_8000_0000;
t.mapPages(VA, 0x5000_0000, 2 ** 21, PROT.RW);
// 64 MiB of pages for the miss bench: each VA misses once per round.
const VA2 = 0x7fff_c000_0000;
const PAGES2 = 16384;
t.mapPages(VA2, 0x6000_0000, PAGES2 * 4096, PROT.RW);
// The same again for translate()'s miss figure.
const VA3 = 0x7fff_e000_0000;
t.mapPages(VA3, 0x6400_0000, PAGES2 * 4096, PROT.RW);
enable(cpu, t.root);
const mmuCap = m.get(MMU) as Stage1Mmu;
const out = new TranslationOut();
const tlbCap = m.get(TLB);
const el2 = mmuCap.el2Memory(cpu);

let i = 0;
mmuCap.translate(cpu, VA, "read"); // fill

Deno.bench({
  group: "translate",
  name: `translate on a TLB hit (4 KiB page), into a record ${
    target(RATIO.mmu, C_FIGURES.translateHitNs, "ns")
  }`,
  baseline: true,
  fn() {
    if (!mmuCap.translateInto(cpu, VA + ((i++ & 0x1ff) << 3), "read", out)) {
      throw new Error("fault");
    }
  },
});

Deno.bench({
  group: "translate",
  name: "translate() on a TLB hit, the result as an object",
  fn() {
    const r = mmuCap.translate(cpu, VA + ((i++ & 0x1ff) << 3), "read");
    if (r.kind !== "ok") throw new Error("fault");
  },
});

Deno.bench({
  group: "translate",
  name: "translate on a miss (4-level walk + fill) + tlbi vae2",
  fn() {
    const va = VA + ((i++ & 0x1ff) << 12);
    const r = mmuCap.translate(cpu, va, "read");
    if (r.kind !== "ok") throw new Error("fault");
    tlbCap.invalidate(cpu, "vae2", va);
  },
});

let k = 0;
Deno.bench({
  group: "translate",
  name: `translate on a miss (4-level walk + fill), fresh VA per call, into a record ${
    target(RATIO.mmu, C_FIGURES.missFillNs, "ns")
  }`,
  fn() {
    if (k === PAGES2) {
      k = 0;
      tlbCap.invalidate(cpu, "alle2"); // amortised over 16384 misses
    }
    if (!mmuCap.translateInto(cpu, VA2 + 4096 * k++, "read", out)) throw new Error("fault");
  },
});

let k2 = 0;
Deno.bench({
  group: "translate",
  name: "translate() on a miss, fresh VA per call, the result as an object",
  fn() {
    if (k2 === PAGES2) {
      k2 = 0;
      tlbCap.invalidate(cpu, "alle2"); // amortised over 16384 misses
    }
    const r = mmuCap.translate(cpu, VA3 + 4096 * k2++, "read");
    if (r.kind !== "ok") throw new Error("fault");
  },
});

Deno.bench({
  group: "translate",
  name: `walk (4 levels, no TLB), into a record ${target(RATIO.mmu, C_FIGURES.walkNs, "ns")}`,
  fn() {
    if (!mmuCap.walkInto(cpu, VA + ((i++ & 0x1ff) << 12), "read", out)) throw new Error("fault");
  },
});

Deno.bench({
  group: "translate",
  name: "walk(), the result as an object",
  fn() {
    const r = mmuCap.walk(cpu, VA + ((i++ & 0x1ff) << 12), "read");
    if (r.kind !== "ok") throw new Error("fault");
  },
});

Deno.bench({
  group: "el2_memory",
  name: "El2Memory.read64 on a TLB hit",
  fn() {
    el2.read64(VA + ((i++ & 0x1ff) << 3));
  },
});

Deno.bench({
  group: "el2_memory",
  name: "El2Memory.write64 + read64 (a data store: the TLB hit is not re-verified)",
  fn() {
    const va = VA + ((i++ & 0x1ff) << 3);
    el2.write64(va, 1n);
    el2.read64(va);
  },
});
