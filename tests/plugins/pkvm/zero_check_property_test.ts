/**
 * fastZeroCheck's isZero (the hyp accessor's invariant-checking aid) agrees
 * with a byte-by-byte reading of the same range, over seeded random stores,
 * zeroings and ranges of every alignment, above and below 4 GiB.
 */
import { assertEquals } from "@std/assert";
import { type Cpu, type El2Memory, type Mmu, PhysicalMemory, Prng } from "../../../core/mod.ts";
import { fastZeroCheck } from "../../../plugins/pkvm/hyp_state.ts";

/** Every byte of `[pa, pa + size)` read one at a time. */
function naiveZero(mem: PhysicalMemory, pa: number, size: number): boolean {
  for (let i = 0; i < size; i++) if (mem.read8(pa + i) !== 0) return false;
  return true;
}

for (const base of [0x4000_0000, 0x8_0000_0000]) {
  Deno.test(`fastZeroCheck isZero matches a byte-by-byte reading (RAM at ${base.toString(16)})`, () => {
    const window = 16 * 4096;
    const mem = new PhysicalMemory([{ base, size: 2 ** 24 }]);
    // VA = PA + 0x1000_0000 through the "linear map" hook: the MMU is never asked.
    const off = 0x1000_0000;
    const inner = {} as El2Memory;
    const z = fastZeroCheck(inner, undefined as unknown as Mmu, undefined as unknown as Cpu, mem, (
      va,
    ) => va - off);
    const rng = new Prng(15);
    let nonZero = 0;
    for (let op = 0; op < 8000; op++) {
      const pa = base + rng.int(window);
      switch (rng.int(6)) {
        case 0:
          mem.write8(pa, rng.int(3) === 0 ? 0 : 1 + rng.int(255));
          break;
        case 1:
          mem.write32(pa - (pa % 4), rng.int(2) === 0 ? 0 : rng.nextU32());
          break;
        case 2:
          mem.zero(pa, Math.min(rng.int(3 * 4096), base + window - pa));
          break;
        case 3: {
          // A range whose first or last word is the one just written.
          const w = pa - (pa % 4);
          mem.write32(w, 1 + rng.int(0xffff));
          const before = 4 * rng.int(8);
          const at = Math.max(base, rng.int(2) === 0 ? w - before : w);
          const n = rng.int(2) === 0 ? w + 4 - at : Math.min(4 + before, base + window - at);
          assertEquals(
            z.isZero(at + off, n),
            naiveZero(mem, at, n),
            `isZero(${at.toString(16)}, ${n})`,
          );
          break;
        }
        default: {
          // Half the ranges word-aligned (read in place), half at any byte.
          const aligned = rng.int(2) === 0;
          const at = aligned ? pa - (pa % 4) : pa;
          const size = 1 + rng.int(rng.int(2) === 0 ? 64 : 3 * 4096);
          const n = Math.min(aligned ? size + 3 - ((size + 3) % 4) : size, base + window - at);
          const want = naiveZero(mem, at, n);
          if (!want) nonZero++;
          assertEquals(z.isZero(at + off, n), want, `isZero(${at.toString(16)}, ${n}) op ${op}`);
        }
      }
    }
    // Both answers were exercised.
    assertEquals(nonZero > 100, true);
  });
}
