/**
 * `PhysicalMemory.firstBacked` against a page-by-page `isBacked` scan, over
 * seeded random stores, zeroings and fills across 2 MiB chunks, two banks
 * (one above 4 GiB) and ranges that leave RAM or cross banks.
 */
import { assertEquals } from "@std/assert";
import { PhysicalMemory, Prng } from "../../core/mod.ts";

function scan(mem: PhysicalMemory, pa: number, size: number): number {
  for (let cur = pa; cur < pa + size; cur = (Math.floor(cur / 4096) + 1) * 4096) {
    if (mem.contains(cur) && mem.isBacked(cur)) return cur;
  }
  return -1;
}

Deno.test("firstBacked is the first page isBacked reports, from any range", () => {
  const banks = [{ base: 0x4000_0000, size: 2 ** 24 }, { base: 0x1_0100_0000, size: 2 ** 23 }];
  const mem = new PhysicalMemory(banks);
  const rng = new Prng(42);
  const anyPa = () => {
    const b = banks[rng.int(2)]!;
    return b.base + rng.int(b.size);
  };
  for (let op = 0; op < 4000; op++) {
    const pa = anyPa();
    const b = banks.find((x) => pa >= x.base && pa < x.base + x.size)!;
    const room = b.base + b.size - pa;
    switch (rng.int(4)) {
      case 0:
        mem.write8(pa, 1 + rng.int(255));
        break;
      case 1:
        mem.zero(pa, Math.min(room, 1 + rng.int(3 * 2 ** 21)));
        break;
      case 2:
        mem.fill(pa, Math.min(room, 1 + rng.int(9000)), rng.int(2));
        break;
      default:
        break;
    }
    for (let q = 0; q < 4; q++) {
      const from = rng.int(8) === 0 ? banks[rng.int(2)]!.base - 4096 : anyPa();
      const size = 1 + rng.int(rng.int(2) === 0 ? 9000 : 2 ** 25);
      assertEquals(mem.firstBacked(from, size), scan(mem, from, size), `op ${op}`);
    }
  }
});
