import { assertThrows } from "@std/assert";
import { A64SyntaxError, parseA64 } from "../../../mod.ts";

Deno.test("parseA64() treats Object.prototype names as unknown, with line:column", () => {
  for (const word of ["constructor", "toString", "hasOwnProperty", "__proto__", "valueOf"]) {
    for (
      const text of [
        `${word} x0`,
        `dsb ${word}`,
        `tlbi ${word}`,
        `ic ${word}`,
        `mov x0, #${word}`,
        `msr ${word}, x0`,
        `alternative_if ${word}`,
      ]
    ) {
      assertThrows(() => parseA64(`\tisb\n\t${text}`), A64SyntaxError, "2:", text);
    }
  }
});
