import { assertEquals } from "@std/assert";
import {
  allocatorMetrics,
  contigPageInfo,
  formatBuddyinfo,
  formatIndex,
  fragmentationIndex,
  linearEl2Memory,
  PhysicalMemory,
  unusableFreeIndex,
} from "../../core/mod.ts";
import { bitmapPageAllocator } from "../../plugins/bitmap_allocator/mod.ts";
import { buddyPageAllocator } from "../../plugins/buddy_allocator/mod.ts";

Deno.test("contigPageInfo() counts like fill_contig_page_info()", () => {
  // Orders 0..3 with 5, 2, 0, 1 free blocks: 5 + 4 + 0 + 8 = 17 pages.
  assertEquals(contigPageInfo([5, 2, 0, 1], 0), {
    freePages: 17,
    freeBlocksTotal: 8,
    freeBlocksSuitable: 17,
  });
  assertEquals(contigPageInfo([5, 2, 0, 1], 2).freeBlocksSuitable, 2); // the order-3 block = 2 x order 2
  assertEquals(contigPageInfo([5, 2, 0, 1], 4).freeBlocksSuitable, 0);
});

Deno.test("unusableFreeIndex() uses truncating integer math and 1000 for no free memory", () => {
  const f = [5, 2, 0, 1];
  assertEquals(unusableFreeIndex(f, 0), 0);
  assertEquals(unusableFreeIndex(f, 1), 294); // (17 - 6*2) * 1000 / 17 = 294.1
  assertEquals(unusableFreeIndex(f, 2), 529); // (17 - 2*4) * 1000 / 17 = 529.4
  assertEquals(unusableFreeIndex(f, 3), 529); // (17 - 1*8) * 1000 / 17
  assertEquals(unusableFreeIndex(f, 4), 1000);
  assertEquals(unusableFreeIndex([0, 0], 1), 1000);
});

Deno.test("fragmentationIndex() follows __fragmentation_index(), negatives included", () => {
  assertEquals(fragmentationIndex([5, 2, 0, 1], 3), -1000); // a block is there
  // 5 order-0 + 2 order-1 blocks (9 pages, 7 blocks) asking for order 2:
  // 1000 - (1000 + 9000 / 4) / 7 = 1000 - 3250 / 7 = 1000 - 464 = 536.
  assertEquals(fragmentationIndex([5, 2, 0, 0], 2), 536);
  // One order-2 block asking for order 3: 1000 - (1000 + 500) / 1 = -500, as the kernel's int.
  assertEquals(fragmentationIndex([0, 0, 1, 0], 3), -500);
  assertEquals(fragmentationIndex([0, 0, 0, 0], 1), 0); // nothing free
  assertEquals(fragmentationIndex([1, 0], 2), 0); // past the last order (WARN_ON_ONCE)
});

Deno.test('formatIndex() prints like seq_printf("%d.%03d")', () => {
  assertEquals(formatIndex(0), "0.000");
  assertEquals(formatIndex(36), "0.036");
  assertEquals(formatIndex(-1000), "-1.000");
  assertEquals(formatIndex(-500), "0.-500");
  assertEquals(formatIndex(-5), "0.-05");
});

Deno.test("formatBuddyinfo() prints a /proc/buddyinfo line", () => {
  assertEquals(
    formatBuddyinfo("host_s2_mem", [12, 0, 3]),
    "Node 0, zone host_s2_mem     12      0      3 ",
  );
});

Deno.test("allocatorMetrics() agrees for a buddy and a bitmap pool holding the same free pages", () => {
  const make = (bitmap: boolean) => {
    const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 32 * 2 ** 20 }]);
    const options = {
      name: "hpool",
      pfn: 0x40400,
      nrPages: 64,
      reservedPages: 0,
      memory: linearEl2Memory(mem, (va) => va),
      vmemmap: 0x4000_0000 - 0x40400 * (bitmap ? 4 : 8),
      physToVirt: (pa: number) => pa,
      virtToPhys: (va: number) => va,
    };
    return bitmap
      ? bitmapPageAllocator().createPool(options)
      : buddyPageAllocator({ version: "mainline" }).createPool(options);
  };
  const buddy = make(false);
  const bitmap = make(true);
  // Take every page, then free every third one: both end with the same free set.
  for (const pool of [buddy, bitmap]) {
    const pages = Array.from({ length: 64 }, () => pool.allocPages(0)!).sort((a, b) => a - b);
    pages.forEach((va, i) => {
      if (i % 3 === 0 || i >= 48) pool.putPage(va);
    });
  }
  const a = allocatorMetrics(buddy.stats());
  const b = allocatorMetrics(bitmap.stats());
  // Free: pages 0, 3, ..., 45 (16 single pages) and 48..63 (one order-4 block).
  assertEquals(a.freeBlocksByOrder.slice(0, 6), [16, 0, 0, 0, 1, 0]);
  assertEquals(b.freeBlocksByOrder.slice(0, 6), a.freeBlocksByOrder.slice(0, 6));
  // Orders 1..4: the order-4 block serves 16 pages of the 32 free: 500.
  assertEquals(a.unusableIndex.slice(0, 6), [0, 500, 500, 500, 500, 1000]);
  assertEquals(b.unusableIndex.slice(0, 6), a.unusableIndex.slice(0, 6));
  // Order 5 fails: 1000 - (1000 + 32000 / 32) / 17 = 1000 - 117.
  assertEquals(a.extfragIndex.slice(4, 6), [-1000, 883]);
  assertEquals([a.free, a.inUse, a.ops.allocs, a.ops.puts], [32, 32, 64, 32]);
  assertEquals([a.metadataBytesPerPage, b.metadataBytesPerPage], [8, 4]);
  assertEquals(a.metadataBytes, 512);
});
