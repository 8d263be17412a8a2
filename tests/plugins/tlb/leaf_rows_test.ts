// TlbModel.leafRows (every leaf entry as numbers, no object) against
// TlbModel.entries (the same entries as objects), and TlbModel.keyOf: the
// key names one fill of one entry, so a replaced or refilled entry is
// another one.

import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { Cpu, Prng, type TlbEntry, Trace } from "../../../core/mod.ts";
import { TlbModel } from "../../../plugins/tlb/mod.ts";

const SIZES = [4096, 2 ** 21, 2 ** 30];
const BASES = [0x4100_0000, 0x4200_0000, 0x4300_0000];

function rows(tlb: TlbModel, cpu: Cpu): { va: number; size: number; base: number; key: number }[] {
  const out: { va: number; size: number; base: number; key: number }[] = [];
  tlb.leafRows(cpu, (va, size, base, key) => out.push({ va, size, base, key }));
  return out;
}

const triple = (r: { va: number; size: number; base: number }) => `${r.va}/${r.size}/${r.base}`;

Deno.test("TlbModel.leafRows lists what entries() lists (va/size/base multiset), with keys that keyOf gives, over thousands of random fills, prefetches, TLBIs and flushes", () => {
  const prng = new Prng(23);
  for (const policy of ["adversarial", "optimistic"] as const) {
    const tlb = new TlbModel(policy, new Trace());
    const cpus = [new Cpu(0), new Cpu(1)];
    // Per CPU (keys are the CPU's): keys of entries that have gone since,
    // never handed out again, and each listed entry's key at the last check.
    const gone = cpus.map(() => new Set<number>());
    let prev = cpus.map(() => new Map<TlbEntry, number>());
    for (let op = 0; op < 4000; op++) {
      const cpu = cpus[prng.int(2)]!;
      const r = prng.float();
      const cls = prng.float() < 0.75 ? 0 : prng.float() < 0.7 ? 1 : 2;
      const size = SIZES[cls]!;
      // A small VA window so that fills replace, overlap and get removed.
      const va = Math.floor((0x8000_0000 + prng.int(300) * 4096 * (cls === 0 ? 1 : 97)) / size) *
        size;
      const e: TlbEntry = {
        regime: "EL2",
        base: BASES[prng.int(3)]!,
        va,
        size,
        pa: 0x4_0000_0000 + prng.int(64) * size,
        level: 3 - cls,
        pte: 0x743n,
        speculative: r < 0.1,
      };
      if (r < 0.1) tlb.prefetch(cpu, e);
      else if (r < 0.6) tlb.fill(cpu, e);
      else if (r < 0.8) tlb.invalidate(cpu, prng.float() < 0.5 ? "vae2" : "vale2is", va);
      else if (r < 0.83) tlb.invalidate(cpu, prng.float() < 0.5 ? "alle2" : "alle2is");
      else if (r < 0.86) tlb.onSysregWrite(cpu, "TTBR0_EL2", BigInt(BASES[prng.int(3)]!));
      else {
        // A refill of an entry the TLB handed out, as the executor puts one back.
        const list = tlb.entries(cpu);
        if (list.length > 0) tlb.fill(cpu, list[prng.int(list.length)]!);
      }
      if (op % 7 !== 0 && op < 3990) continue;
      const now = cpus.map(() => new Map<TlbEntry, number>());
      for (const c of cpus) {
        const rs = rows(tlb, c);
        const es = tlb.entries(c);
        assertEquals(rs.map(triple).sort(), es.map(triple).sort(), `op ${op}, cpu ${c.id}`);
        const keys = new Set(rs.map((x) => x.key));
        assertEquals(keys.size, rs.length, "a key per entry");
        for (const x of es) {
          const k = tlb.keyOf(c, x);
          assert(keys.has(k), `keyOf of a listed entry is a visited key (op ${op})`);
          assertEquals(rs.find((y) => y.key === k)!.va, x.va);
          assert(!gone[c.id]!.has(k), `a gone entry's key is not reused (op ${op})`);
          now[c.id]!.set(x, k);
        }
      }
      // An entry that stayed keeps its key; one that went (or was refilled,
      // even with the same object) has it no more.
      for (const c of cpus) {
        for (const [x, k] of prev[c.id]!) {
          if (now[c.id]!.get(x) === k) continue;
          gone[c.id]!.add(k);
          assertNotEquals(tlb.keyOf(c, x), k);
        }
      }
      prev = now;
    }
    // keyOf on an object the TLB never saw, and on an impossible size.
    const stranger: TlbEntry = {
      regime: "EL2",
      base: BASES[0]!,
      va: 0x8000_0000,
      size: 4096,
      pa: 0x4_0000_0000,
      level: 3,
      pte: 0x743n,
      speculative: false,
    };
    assertEquals(tlb.keyOf(cpus[0]!, stranger), -1);
    assertEquals(tlb.keyOf(cpus[0]!, { ...stranger, size: 8192 }), -1);
    assertEquals(tlb.keyOf(new Cpu(5), stranger), -1);
  }
});
