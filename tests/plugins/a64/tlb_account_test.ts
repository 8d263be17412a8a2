// TlbAccount keeps the entries live at an MMU enable as rows when the TLB
// can visit its leaf entries as numbers (TlbModel.leafRows / keyOf), and as
// objects otherwise: both must give the same account.

import { assertEquals } from "@std/assert";
import { Cpu, Prng, type Tlb, type TlbEntry, type TlbiOp, Trace } from "./deps.ts";
import { TlbModel } from "../../../plugins/tlb/mod.ts";
import { type AccountTlbi, TlbAccount } from "../../../plugins/a64/mod.ts";

const SIZES = [4096, 2 ** 21, 2 ** 30];
const BASES = [0x4100_0000, 0x4200_0000];

/** The same TLB without leafRows / keyOf: the account takes the object path. */
function objectsOnly(tlb: TlbModel): Tlb {
  return {
    entries: (c: Cpu) => tlb.entries(c),
    walkEntries: (c: Cpu) => tlb.walkEntries(c),
  } as unknown as Tlb;
}

function randomEntry(prng: Prng): TlbEntry {
  const cls = prng.float() < 0.75 ? 0 : prng.float() < 0.7 ? 1 : 2;
  const size = SIZES[cls]!;
  const va = Math.floor((0x8000_0000 + prng.int(200) * 4096 * (cls === 0 ? 1 : 97)) / size) * size;
  return {
    regime: "EL2",
    base: BASES[prng.int(2)]!,
    va,
    size,
    pa: 0x4_0000_0000 + prng.int(64) * size,
    level: 3 - cls,
    pte: 0x743n,
    speculative: false,
  };
}

Deno.test("TlbAccount: rows and objects give the same atEnable and used over thousands of random TLBs, pending TLBIs, walks since and hits", () => {
  const prng = new Prng(41);
  let live = 0;
  let used = 0;
  for (let run = 0; run < 300; run++) {
    const cpu = new Cpu(0);
    const tlb = new TlbModel("adversarial", new Trace());
    for (let i = prng.int(60); i > 0; i--) tlb.fill(cpu, randomEntry(prng));
    const rows = new TlbAccount(tlb, cpu);
    const objs = new TlbAccount(objectsOnly(tlb), cpu);
    for (let enable = 1 + prng.int(2); enable > 0; enable--) {
      const list = tlb.entries(cpu);
      const pending: AccountTlbi[] = [];
      for (let i = 1 + prng.int(3); i > 0; i--) {
        const r = prng.float();
        const op: TlbiOp = r < 0.3 ? "alle2" : r < 0.8 ? "vae2is" : "vmalle1";
        const at = list.length > 0 && prng.float() < 0.8
          ? list[prng.int(list.length)]!.va + prng.int(4096)
          : 0x8000_0000 + prng.int(200) * 4096;
        pending.push(op === "vae2is" ? { op, va: at } : { op });
      }
      // Entries walked after each TLBI's issue: a random subset of the live ones.
      const since = new Map(pending.map((t) => [t, list.filter(() => prng.float() < 0.3)]));
      const walked = (t: AccountTlbi) => since.get(t)!;
      rows.enable(10, "msr sctlr_el2, x0", pending, walked);
      objs.enable(10, "msr sctlr_el2, x0", pending, walked);
      assertEquals(rows.open, objs.open);
      // Accesses while open, with fills replacing entries between them.
      for (let i = prng.int(80); i > 0; i--) {
        if (prng.float() < 0.2) tlb.fill(cpu, randomEntry(prng));
        if (prng.float() < 0.05) tlb.invalidate(cpu, "vae2", randomEntry(prng).va);
        const va = 0x8000_0000 + prng.int(200 * 97) * 4096;
        const e = tlb.peek(cpu, va);
        rows.hit(e);
        objs.hit(e);
      }
    }
    rows.completed(12, "dsb ish");
    objs.completed(12, "dsb ish");
    const a = rows.finish(0x4200_0000n);
    const b = objs.finish(0x4200_0000n);
    const cols = (x: typeof a.atEnable) => [x.length, [...Array.from(x.va)], [
      ...Array.from(x.size),
    ], [...Array.from(x.base)]];
    assertEquals(cols(a.atEnable), cols(b.atEnable), `run ${run}`);
    assertEquals({ ...a, atEnable: 0 }, { ...b, atEnable: 0 }, `run ${run}`);
    live += a.atEnable.length;
    used += a.used;
  }
  // The runs did exercise both: entries live at the enable, and hits on them.
  assertEquals(live > 1000 && used > 100, true, `${live} live, ${used} used`);
});
