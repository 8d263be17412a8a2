import { assertEquals, assertThrows } from "@std/assert";
import { createMachine, linearEl2Memory, PAGE_ALLOCATOR, withPlugin } from "../../../core/mod.ts";
import { bitmapAllocator } from "../../../plugins/bitmap_allocator/mod.ts";
import {
  buddyAllocator,
  buddyPageAllocator,
  type BuddyVersion,
} from "../../../plugins/buddy_allocator/mod.ts";

Deno.test("buddyAllocator() provides PAGE_ALLOCATOR, v5.13 by default, tracing into the machine", () => {
  const m = createMachine({
    ram: [{ base: 0x4000_0000, size: 2 ** 26 }],
    plugins: [buddyAllocator()],
  });
  const alloc = m.get(PAGE_ALLOCATOR);
  assertEquals([alloc.name, alloc.metadataBytesPerPage], ["buddy-v5.13", 32]);
  assertEquals(m.providerOf(PAGE_ALLOCATOR), "buddy_allocator");
  const pool = alloc.createPool({
    name: "hpool",
    pfn: 0x40400,
    nrPages: 8,
    reservedPages: 0,
    memory: linearEl2Memory(m.memory, (va) => va),
    vmemmap: 0x4000_0000 - 0x40400 * 32,
    physToVirt: (pa) => pa,
    virtToPhys: (va) => va,
  });
  pool.putPage(pool.allocPages(0)!);
  assertEquals(m.trace.filter("alloc").length, 1);
  assertEquals(m.trace.filter("free")[0]!.data.allocator, "buddy-v5.13");
});

Deno.test("the bitmap allocator swaps in for the buddy with one call", () => {
  const plugins = withPlugin([buddyAllocator({ version: "mainline" })], bitmapAllocator());
  const m = createMachine({ plugins });
  assertEquals(m.get(PAGE_ALLOCATOR).name, "bitmap");
});

Deno.test("buddyPageAllocator() rejects an unknown version", () => {
  assertThrows(
    () => buddyPageAllocator({ version: "v6.6" as BuddyVersion }),
    RangeError,
    '"v6.6"',
  );
});
