import { assertEquals, assertThrows } from "@std/assert";
import { formatSize, hex, parseSize } from "../../mod.ts";

Deno.test("hex() formats numbers and bigints", () => {
  assertEquals(hex(0), "0x0");
  assertEquals(hex(0x4000_0000), "0x40000000");
  assertEquals(hex(0xffff_ffff_ffff_ffffn), "0xffffffffffffffff");
  assertEquals(hex(-22), "-0x16");
  assertThrows(() => hex(0.5), RangeError);
});

Deno.test("parseSize() accepts K/M/G/T suffixes, hex and decimal", () => {
  assertEquals(parseSize("4G"), 2 ** 32);
  assertEquals(parseSize("512M"), 2 ** 29);
  assertEquals(parseSize("64k"), 65536);
  assertEquals(parseSize("1GiB"), 2 ** 30);
  assertEquals(parseSize("0x1000"), 4096);
  assertEquals(parseSize("4096"), 4096);
  assertThrows(() => parseSize("4Q"), SyntaxError, 'Cannot parse size "4Q"');
  assertThrows(() => parseSize(""), SyntaxError);
});

Deno.test("formatSize() uses binary units", () => {
  assertEquals(formatSize(22 * 2 ** 20), "22 MiB");
  assertEquals(formatSize(4 * 2 ** 30), "4 GiB");
  assertEquals(formatSize(100), "100 B");
  assertEquals(formatSize(1536), "1.5 KiB");
});
