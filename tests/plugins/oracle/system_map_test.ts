import { assertEquals, assertThrows } from "@std/assert";
import { OracleError, parseSystemMap } from "../../../plugins/oracle/mod.ts";

Deno.test("System.map: addresses by name, types, duplicates", () => {
  const m = parseSystemMap(
    [
      "0000000000000000 A _kernel_flags_le_hi32",
      "ffff800008000000 T _text",
      "ffff80000911b600 D kimage_voffset",
      "ffff800008123000 t __key.0",
      "ffff800008456000 t __key.0",
      "ffff800009000000 r same",
      "ffff800009000000 r same",
      "",
    ].join("\n"),
    "System.map-6.1",
  );
  assertEquals(m.size, 5);
  assertEquals(m.address("_text"), 0xffff800008000000n);
  assertEquals(m.lookup("kimage_voffset"), [{ address: 0xffff80000911b600n, type: "D" }]);
  assertEquals(m.address("same"), 0xffff800009000000n);
  assertEquals(m.address("missing"), undefined);
  assertThrows(
    () => m.address("__key.0"),
    OracleError,
    "System.map-6.1: __key.0 has 2 different addresses",
  );
  assertThrows(() => m.require("missing"), OracleError, "System.map-6.1: no symbol missing");
});

Deno.test("System.map: a malformed line is an error with file:line", () => {
  const e = assertThrows(
    () => parseSystemMap("ffff800008000000 T _text\nffff80000800 T two words\n", "map.txt"),
    OracleError,
  );
  assertEquals(
    e.message,
    'map.txt:2: expected "<hex address> <type> <name>", got "ffff80000800 T two words"',
  );
  assertThrows(() => parseSystemMap("zzzz T x\n", "m"), OracleError, "m:1:");
  assertThrows(() => parseSystemMap("", "empty.map"), OracleError, "empty.map: no symbols");
});

Deno.test("System.map: Debian's placeholder points at the -dbg package", () => {
  assertThrows(
    () =>
      parseSystemMap(
        "ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n",
        "boot/System.map-6.1.0-50-arm64",
      ),
    OracleError,
    "boot/System.map-6.1.0-50-arm64:1: this is Debian's placeholder; the real System.map is in the linux-image-<version>-dbg package",
  );
});
