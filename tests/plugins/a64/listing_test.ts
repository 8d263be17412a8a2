import { assertEquals, assertStringIncludes } from "@std/assert";
import { builtinSequence, check, formatListing } from "./deps.ts";

Deno.test("formatListing() prints findings under the offending lines", () => {
  const src = builtinSequence("v3").source;
  const out = formatListing(src, check(src));
  const lines = out.split("\n");
  const ic = lines.findIndex((l) => /\|\s+ic\s+iallu/.test(l));
  assertStringIncludes(lines[ic + 1]!, "^ FAIL R1 (SCTLR-CSE)");
  // R9 and R10 where the code is left with the I-cache still polluted.
  const ret = lines.findIndex((l) => /\|\s+ret\s+x1/.test(l));
  assertStringIncludes(lines[ret + 1]!, "^ FAIL R9 (IC-AFTER-ON)");
  assertStringIncludes(lines[ret + 2]!, "^ FAIL R10 (IC-DSB-ISB)");
  // The caret sits under the instruction (tabs expanded).
  assertEquals(lines[ic + 1]!.indexOf("^"), lines[ic]!.indexOf("ic"));
  assertStringIncludes(out, "verdict: FAIL (3 failing, 0 warning)");
  assertEquals(out.includes("\x1b["), false);
});

Deno.test("formatListing() colours only when asked", () => {
  const src = builtinSequence("mainline").source;
  const plain = formatListing(src, check(src));
  assertStringIncludes(plain, "verdict: PASS (0 failing, 0 warning)");
  assertStringIncludes(formatListing(src, check(src), { color: true }), "\x1b[1;32mPASS");
  assertEquals(plain.split("\n").length, src.trimEnd().split("\n").length + 2);
});

Deno.test("formatListing() shows warnings", () => {
  const src = builtinSequence("v5.13").source;
  const out = formatListing(src, check(src, { errata: ["tx2-219"] }));
  assertStringIncludes(out, "WARN R14 (TX2-219)");
  assertStringIncludes(out, "verdict: FAIL (2 failing, 1 warning)");
});

Deno.test("formatListing() shows an escape byte of the text instead of sending it", () => {
  // ESC passes the text check (it is not binary) but must not reach the terminal.
  const src = "\tisb // \x1b[2J\n\tmsr sctlr_el2, x0 // \x1b\n\tret x2";
  const out = formatListing(src, check(src));
  assertEquals(out.includes("\x1b"), false);
  assertStringIncludes(out, "1 |         isb // \\x1b[2J");
  // The caret still points at the instruction.
  assertStringIncludes(out, "3 |         ret x2\n  |         ^ FAIL");
});
