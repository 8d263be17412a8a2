import { assertEquals, assertThrows } from "@std/assert";
import type { Memblock, MemblockRegion } from "../../../core/mod.ts";
import {
  checkMemblock,
  cloneMemblock,
  MEMBLOCK_FLAGS,
  memblockAdd,
  memblockAddRange,
  memblockEndOfDram,
  memblockFindInRange,
  memblockFreeRangesReverse,
  memblockFromRam,
  memblockPhysAlloc,
  memblockReserve,
} from "../../../plugins/reserved_mem/mod.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

Deno.test("memblock_add_range() merges overlapping and touching regions", async (t) => {
  await t.step("disjoint ranges stay apart, sorted", () => {
    const r: MemblockRegion[] = [];
    memblockAddRange(r, 0x5000, 0x1000);
    memblockAddRange(r, 0x1000, 0x1000);
    assertEquals(r, [{ base: 0x1000, size: 0x1000 }, { base: 0x5000, size: 0x1000 }]);
  });
  await t.step("a range touching both neighbours joins them", () => {
    const r = [{ base: 0x1000, size: 0x1000 }, { base: 0x3000, size: 0x1000 }];
    memblockAddRange(r, 0x2000, 0x1000);
    assertEquals(r, [{ base: 0x1000, size: 0x3000 }]);
  });
  await t.step("an overlapping range spanning several regions absorbs them", () => {
    const r = [
      { base: 0x1000, size: 0x1000 },
      { base: 0x4000, size: 0x1000 },
      { base: 0x8000, size: 0x1000 },
    ];
    memblockAddRange(r, 0x1800, 0x3000);
    assertEquals(r, [{ base: 0x1000, size: 0x4000 }, { base: 0x8000, size: 0x1000 }]);
  });
  await t.step("a contained range changes nothing", () => {
    const r = [{ base: 0x1000, size: 0x4000 }];
    memblockAddRange(r, 0x2000, 0x1000);
    assertEquals(r, [{ base: 0x1000, size: 0x4000 }]);
  });
  await t.step("size 0 does nothing", () => {
    const r = [{ base: 0x1000, size: 0x1000 }];
    memblockAddRange(r, 0x9000, 0);
    assertEquals(r, [{ base: 0x1000, size: 0x1000 }]);
  });
  await t.step(
    "flags: covered parts keep theirs, new parts get the new flags, no cross-flag merge",
    () => {
      const r: MemblockRegion[] = [{ base: 0x2000, size: 0x1000 }];
      memblockAddRange(r, 0x1000, 0x3000, MEMBLOCK_FLAGS.RSRV_KERN);
      assertEquals(r, [
        { base: 0x1000, size: 0x1000, flags: 0x20 },
        { base: 0x2000, size: 0x1000 },
        { base: 0x3000, size: 0x1000, flags: 0x20 },
      ]);
    },
  );
});

Deno.test("memblock_add_range() rejects bad ranges and changes nothing", () => {
  const r = [{ base: 0x1000, size: 0x1000 }];
  const before = structuredClone(r);
  assertThrows(() => memblockAddRange(r, -4096, 4096), RangeError, "base must be");
  assertThrows(() => memblockAddRange(r, 0x1000, 1.5), RangeError, "size must be");
  assertThrows(() => memblockAddRange(r, 2 ** 52 - 4096, 8192), RangeError, "52-bit");
  assertEquals(r, before);
});

Deno.test("memblock_add() and memblock_reserve() fill memory and reserved", () => {
  const mb: Memblock = { memory: [], reserved: [] };
  memblockAdd(mb, 0x8000_0000, GiB);
  memblockAdd(mb, 0x4000_0000, GiB); // touches the first: one region
  memblockReserve(mb, 0x4020_0000, 2 * MiB);
  assertEquals(mb.memory, [{ base: 0x4000_0000, size: 2 * GiB }]);
  assertEquals(mb.reserved, [{ base: 0x4020_0000, size: 2 * MiB }]);
  assertEquals(memblockEndOfDram(mb), 0xc000_0000);
  assertEquals(memblockEndOfDram({ memory: [], reserved: [] }), 0);
});

Deno.test("memblockFromRam() sorts banks, merges touching ones and reserves", () => {
  const mb = memblockFromRam(
    [
      { base: 0x1_0000_0000, size: GiB },
      { base: 0x4000_0000, size: GiB },
      { base: 0x8000_0000, size: GiB },
    ],
    [{ base: 0x4008_0000, size: 0x100_0000 }, { base: 0x4010_0000, size: 0x100_0000 }],
  );
  assertEquals(mb.memory, [{ base: 0x4000_0000, size: 2 * GiB }, {
    base: 0x1_0000_0000,
    size: GiB,
  }]);
  assertEquals(mb.reserved, [{ base: 0x4008_0000, size: 0x108_0000 }]);
  assertThrows(
    () => memblockFromRam([{ base: 0x4000_0000, size: GiB }, { base: 0x5000_0000, size: GiB }]),
    RangeError,
    "overlaps",
  );
});

Deno.test("checkMemblock() names the first malformed region", () => {
  const ok: Memblock = {
    memory: [{ base: 0x4000_0000, size: GiB }, { base: 0x8000_0000, size: GiB }],
    reserved: [],
  };
  checkMemblock(ok); // touching regions are allowed (different nodes or flags)
  assertThrows(
    () =>
      checkMemblock({
        memory: [{ base: 0x4000_0000, size: GiB }, { base: 0x4000_1000, size: GiB }],
        reserved: [],
      }),
    RangeError,
    "memblock.memory[1] at 0x40001000: regions must be sorted by base and disjoint",
  );
  assertThrows(
    () => checkMemblock({ memory: [], reserved: [{ base: 0x1000, size: 0 }] }),
    RangeError,
    "memblock.reserved[0] at 0x1000: size is 0",
  );
  assertThrows(
    () => checkMemblock({ memory: [{ base: 0x1000, size: 0x1000, flags: -1 }], reserved: [] }),
    RangeError,
    "bad flags",
  );
});

Deno.test("for_each_free_mem_range_reverse visits memory minus reserved, highest first", () => {
  const mb: Memblock = {
    memory: [{ base: 0x1000, size: 0x9000 }, { base: 0x10000, size: 0x4000 }],
    reserved: [
      { base: 0x0, size: 0x2000 },
      { base: 0x4000, size: 0x1000 },
      { base: 0x9000, size: 0x8000 }, // spans the hole and the start of region 2
    ],
  };
  assertEquals(memblockFreeRangesReverse(mb), [
    { base: 0x11000, size: 0x3000 },
    { base: 0x5000, size: 0x4000 },
    { base: 0x2000, size: 0x2000 },
  ]);
  // NOMAP memory is never free.
  const nomap: Memblock = {
    memory: [{ base: 0x1000, size: 0x1000 }, { base: 0x3000, size: 0x1000, flags: 0x4 }],
    reserved: [],
  };
  assertEquals(memblockFreeRangesReverse(nomap), [{ base: 0x1000, size: 0x1000 }]);
});

Deno.test("memblock_find_in_range() returns the highest aligned fit, top-down", async (t) => {
  const mb: Memblock = {
    memory: [{ base: 0x4000_0000, size: GiB }, { base: 0x1_0000_0000, size: 64 * MiB }],
    reserved: [{ base: 0x1_0000_0000 + 60 * MiB, size: 4 * MiB }],
  };
  await t.step("the highest bank first, below its reservation", () => {
    // Free top: [0x100000000, +60 MiB); 22 MiB at 2 MiB: round_down(60 - 22 = 38 MiB).
    assertEquals(
      memblockFindInRange(mb, 0, memblockEndOfDram(mb), 22 * MiB, 2 * MiB),
      0x1_0000_0000 + 38 * MiB,
    );
  });
  await t.step("a range too big for the top bank falls to the lower one", () => {
    assertEquals(
      memblockFindInRange(mb, 0, memblockEndOfDram(mb), 62 * MiB, 2 * MiB),
      0x8000_0000 - 62 * MiB,
    );
  });
  await t.step("end limits the search; nothing fits → 0", () => {
    assertEquals(memblockFindInRange(mb, 0, 0x4100_0000, 16 * MiB, 2 * MiB), 0x4000_0000);
    assertEquals(memblockFindInRange(mb, 0, 0x4100_0000, 17 * MiB, 2 * MiB), 0);
    assertEquals(memblockFindInRange(mb, 0, memblockEndOfDram(mb), 2 * GiB, 4096), 0);
  });
  await t.step("page 0 is never returned", () => {
    const low: Memblock = { memory: [{ base: 0, size: 0x3000 }], reserved: [] };
    assertEquals(memblockFindInRange(low, 0, 0x3000, 0x2000, 4096), 0x1000);
    assertEquals(memblockFindInRange(low, 0, 0x3000, 0x3000, 4096), 0);
  });
  await t.step("bad size or alignment is an error", () => {
    assertThrows(
      () => memblockFindInRange(mb, 0, 2 ** 40, 0, 4096),
      RangeError,
      "size must be > 0",
    );
    assertThrows(() => memblockFindInRange(mb, 0, 2 ** 40, 4096, 3000), RangeError, "power of two");
  });
});

Deno.test("memblock_phys_alloc() reserves with MEMBLOCK_RSRV_KERN, which does not merge", () => {
  const mb: Memblock = {
    memory: [{ base: 0x4000_0000, size: GiB }],
    reserved: [{ base: 0x7fe0_0000, size: 2 * MiB }],
  };
  const before = cloneMemblock(mb);
  const base = memblockPhysAlloc(mb, 2 * MiB, 2 * MiB);
  assertEquals(base, 0x7fc0_0000);
  assertEquals(mb.reserved, [
    { base: 0x7fc0_0000, size: 2 * MiB, flags: MEMBLOCK_FLAGS.RSRV_KERN },
    { base: 0x7fe0_0000, size: 2 * MiB },
  ]);
  // Failure reserves nothing.
  const again = cloneMemblock(before);
  assertEquals(memblockPhysAlloc(again, 2 * GiB, 4096), 0);
  assertEquals(again, before);
});
