/**
 * `__hyp_va` / `__hyp_pa` as plain-number arithmetic against the bigint
 * definition (`Number(BigInt(x) ∓ hyp_physvirt_offset)`), over seeded random
 * layouts (RAM maps, VA_BITS, releases, random tags) and addresses: safe
 * integers, integers past 2^53, and non-integers (which must throw as
 * BigInt() throws).
 */

import { assertEquals } from "@std/assert";
import { Prng } from "../../../core/mod.ts";
import { computeHypVaLayout } from "../../../plugins/pkvm/hyp_va_layout.ts";

function outcome(f: () => number): number | string {
  try {
    return f();
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

function address(rng: Prng, near: number): number {
  switch (rng.int(6)) {
    case 0:
      return near + rng.int(2 ** 30) * 4096 + rng.int(4096);
    case 1:
      return rng.int(2 ** 20) * 2 ** 32 + rng.nextU32(); // below 2^52
    case 2:
      return 2 ** 53 + rng.int(2 ** 20) * 2 ** 32; // integers past 2^53
    case 3:
      return near + rng.int(4096) + 0.5; // not an integer
    case 4:
      return [Number.NaN, Infinity, -1, 0, 2 ** 52 - 1][rng.int(5)]!;
    default:
      return near - rng.int(2 ** 20) * 4096;
  }
}

Deno.test("hypVa()/hypPa() equal the bigint offset arithmetic, errors included", () => {
  const rng = new Prng(1512);
  const versions = ["v5.13", "v6.1", "v6.12", "v7.2"] as const;
  let layouts = 0;
  for (let i = 0; i < 400; i++) {
    const base = 0x4000_0000 * (1 + rng.int(64));
    const size = 2 ** (28 + rng.int(12));
    const vaBits = [39, 48, 52][rng.int(3)]!;
    const version = versions[rng.int(versions.length)]!;
    const idmap = base + rng.int(64) * 4096;
    let l;
    try {
      l = computeHypVaLayout(
        [{ base, size }],
        vaBits,
        { start: idmap, end: idmap + 0xa40 },
        version,
        { random: (BigInt(rng.nextU32()) << 32n) | BigInt(rng.nextU32()) },
      );
    } catch {
      continue; // a RAM map or idmap the layout refuses
    }
    layouts++;
    const off = l.hypPhysvirtOffset;
    for (let k = 0; k < 250; k++) {
      const pa = address(rng, base);
      assertEquals(
        outcome(() => l.hypVa(pa)),
        outcome(() => Number(BigInt(pa) - off)),
        `hypVa(${pa})`,
      );
      const va = address(rng, l.hypVa(base));
      assertEquals(
        outcome(() => l.hypPa(va)),
        outcome(() => Number(BigInt(va) + off)),
        `hypPa(${va})`,
      );
    }
  }
  // Most random maps are ones the layout takes.
  assertEquals(layouts > 200, true, `${layouts} layouts`);
});
