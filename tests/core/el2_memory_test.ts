import { assertEquals, assertThrows } from "@std/assert";
import { linearEl2Memory, MemoryFaultError, PAGE_SIZE, PhysicalMemory } from "../../mod.ts";

const OFF = 2 ** 47; // hyp VA = PA + 2^47
const toPa = (va: number) => va - OFF;

Deno.test("linearEl2Memory faults outside RAM and changes nothing", () => {
  const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
  const el2 = linearEl2Memory(mem, toPa);
  const before = mem.digest();
  const e = assertThrows(() => el2.write32(OFF + 0x3fff_fffc, 1), MemoryFaultError);
  assertEquals(e.va, OFF + 0x3fff_fffc);
  assertThrows(() => el2.zero(OFF + 0x4020_0000, 0), MemoryFaultError, "outside RAM");
  assertThrows(() => el2.writeBytes!(OFF + 0x400f_fff0, new Uint8Array(32)), MemoryFaultError);
  assertEquals(mem.digest(), before);
});

Deno.test("linearEl2Memory.pageView() is a live view of pinned RAM, or nothing", async (t) => {
  const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
  const el2 = linearEl2Memory(mem, toPa);
  await t.step("stores through the view are memory stores, and back", () => {
    const page = el2.pageView!(OFF + 0x4000_1234)!;
    assertEquals(page.length, PAGE_SIZE);
    page[8] = 0xab;
    assertEquals(el2.read8(OFF + 0x4000_1008), 0xab);
    assertEquals(mem.read8(0x4000_1008), 0xab);
    el2.write32(OFF + 0x4000_1010, 0x0102_0304);
    assertEquals([...page.subarray(0x10, 0x14)], [4, 3, 2, 1]);
    assertEquals(el2.pageView!(OFF + 0x4000_1fff), page, "one view per page");
  });
  await t.step("a pinned page stays backed through zeroing, and keeps working", () => {
    const page = el2.pageView!(OFF + 0x4000_2000)!;
    el2.zero(OFF + 0x4000_2000, PAGE_SIZE);
    assertEquals(mem.isBacked(0x4000_2000), true);
    page[0] = 1;
    assertEquals(mem.read8(0x4000_2000), 1);
    el2.zero(OFF + 0x4000_2000, 16);
    assertEquals(page[0], 0);
    page[4095] = 2;
    assertEquals([...mem.readBytes(0x4000_2ff0, 16)].at(-1), 2, "bulk reads see view stores");
    assertEquals(
      mem.digest() === new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]).digest(),
      false,
    );
  });
  await t.step("no view outside RAM or across a page-misaligned map", () => {
    assertEquals(el2.pageView!(OFF + 0x4010_0000), undefined);
    const skew = linearEl2Memory(mem, (va) => va - OFF + 8);
    assertEquals(skew.pageView!(OFF + 0x4000_3000), undefined);
  });
});

Deno.test("PhysicalMemory.pin(): generation counts method stores, not view stores", () => {
  const mem = new PhysicalMemory([{ base: 0, size: 0x10000 }]);
  const page = mem.pin(0x1000);
  const g = mem.generation;
  page[0] = 5;
  assertEquals(mem.generation, g);
  mem.write8(0x1001, 6);
  assertEquals(mem.generation, g + 1);
  assertEquals(mem.residentBytes, PAGE_SIZE);
  assertThrows(() => mem.pin(0x10000), Error, "outside every RAM bank");
});

Deno.test("linearEl2Memory.rangeView() is one contiguous live view of pinned RAM, or nothing", async (t) => {
  const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
  const el2 = linearEl2Memory(mem, toPa);
  await t.step("bytes already stored are kept; stores go both ways across pages", () => {
    el2.write32(OFF + 0x4000_1ffc, 0xdead_beef);
    const tables = new Uint32Array(2);
    mem.readTableEntry(0x4000_2008, tables); // an unbacked table page: watched once backed
    const resident = mem.residentBytes;
    const g = mem.tableGeneration;
    // From the middle of a page: the view starts at that page.
    const v = el2.rangeView!(OFF + 0x4000_1010, 0x2000)!;
    assertEquals(v.length, 3 * PAGE_SIZE);
    assertEquals([...v.subarray(0xffc, 0x1000)], [0xef, 0xbe, 0xad, 0xde]);
    assertEquals(mem.residentBytes, resident + 2 * PAGE_SIZE);
    v[0x1ffe] = 7; // page 0x4000_2000 through the view
    assertEquals(el2.read8(OFF + 0x4000_2ffe), 7);
    el2.write8(OFF + 0x4000_3000, 9);
    assertEquals(v[0x2000], 9);
    assertEquals(mem.tableGeneration, g, "a store elsewhere, or through the view");
    el2.write8(OFF + 0x4000_2001, 1);
    assertEquals(mem.tableGeneration, g + 1, "the watched page stays watched");
    el2.zero(OFF + 0x4000_1000, 3 * PAGE_SIZE);
    assertEquals(v.every((b) => b === 0), true);
    assertEquals(mem.residentBytes, resident + 2 * PAGE_SIZE, "pinned pages stay backed");
    v[5] = 1;
    assertEquals(mem.read8(0x4000_1005), 1);
  });
  await t.step("the same range again is the same bytes; a page pinned alone is refused", () => {
    const a = el2.rangeView!(OFF + 0x4000_1000, 3 * PAGE_SIZE)!;
    const b = el2.rangeView!(OFF + 0x4000_2000, 8)!;
    b[3] = 0x55;
    assertEquals(a[0x1003], 0x55);
    el2.pageView!(OFF + 0x4000_6000);
    assertEquals(el2.rangeView!(OFF + 0x4000_5000, 2 * PAGE_SIZE), undefined);
    assertEquals(el2.rangeView!(OFF + 0x4000_3000, 2 * PAGE_SIZE), undefined, "half pinned");
  });
  await t.step("no view outside RAM, across banks or across a page-misaligned map", () => {
    assertEquals(el2.rangeView!(OFF + 0x400f_f000, 2 * PAGE_SIZE), undefined);
    assertEquals(el2.rangeView!(OFF + 0x4000_8000, 0), undefined);
    const skew = linearEl2Memory(mem, (va) => va - OFF + 8);
    assertEquals(skew.rangeView!(OFF + 0x4000_8000, 16), undefined);
    assertThrows(() => mem.pinRange(0x4000_8000, 100), RangeError, "not whole pages");
  });
});
