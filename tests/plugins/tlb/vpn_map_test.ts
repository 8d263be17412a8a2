import { assertEquals } from "@std/assert";
import { Prng } from "../../../core/mod.ts";
import { VpnMap } from "../../../plugins/tlb/vpn_map.ts";

Deno.test("VpnMap agrees with a Map over thousands of random set/delete/get, through growth and wrap-around", () => {
  const prng = new Prng(7);
  const ref = new Map<number, number>();
  const m = new VpnMap<number>(4);
  // Keys cluster (probe runs, backward shifts) and spread up to 2^41.
  const key = () =>
    prng.float() < 0.6 ? 0x7fff_8000_0 + prng.int(300) : Math.floor(prng.float() * 2 ** 41);
  for (let i = 0; i < 20000; i++) {
    const k = prng.float() < 0.8 && ref.size > 0 && prng.float() < 0.5
      ? [...ref.keys()][prng.int(ref.size)]!
      : key();
    const op = prng.int(3);
    if (op === 0) {
      m.set(k, i);
      ref.set(k, i);
    } else if (op === 1) {
      assertEquals(m.delete(k), ref.delete(k), `delete ${k} at step ${i}`);
    } else {
      assertEquals(m.get(k), ref.get(k), `get ${k} at step ${i}`);
    }
    assertEquals(m.size, ref.size);
  }
  for (const [k, v] of ref) assertEquals(m.get(k), v);
  assertEquals(m.values().sort((a, b) => a - b), [...ref.values()].sort((a, b) => a - b));
  m.clear();
  assertEquals([m.size, m.get([...ref.keys()][0]!)], [0, undefined]);
});
