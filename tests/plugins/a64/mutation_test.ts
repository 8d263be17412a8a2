import { assertEquals, assertStringIncludes } from "@std/assert";
import { builtinSequence, formatMutations, mutate, parseA64 } from "./deps.ts";

Deno.test("mutate() on mainline: every dropped barrier is caught", () => {
  const src = builtinSequence("mainline").source;
  for (
    const config of [{}, { errata: ["falkor-e1041"] }, { features: ["cnp", "ets"] }]
  ) {
    const r = mutate(src, config);
    assertEquals(r.original.verdict, "pass");
    const drops = r.mutants.filter((m) => m.kind === "drop");
    // isb, tlbi, dsb, isb, then the macro's isb, ic, dsb, isb (+ Falkor's isb).
    const expected = "falkor-e1041" in Object.fromEntries((config.errata ?? []).map((e) => [e, 1]))
      ? 9
      : 8;
    assertEquals(drops.length, expected, JSON.stringify(config));
    for (const m of drops) {
      assertEquals(
        m.caught,
        true,
        `${m.description} (line ${m.line}) survived with ${JSON.stringify(config)}`,
      );
      assertEquals(m.verdict, "fail");
      assertEquals(m.rules.length > 0, true);
    }
  }
});

Deno.test("mutate() names the rule that catches each dropped barrier of mainline", () => {
  const r = mutate(builtinSequence("mainline").source);
  const lines = builtinSequence("mainline").source.split("\n");
  const at = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
  const drops = r.mutants.filter((m) => m.kind === "drop").map((
    m,
  ) => [m.line, m.description, m.rules]);
  const macro = at("set_sctlr_el2\tx3");
  assertEquals(drops, [
    [at("msr\tsctlr_el2, x4") + 1, "drop isb", ["R7", "R5"]],
    [at("tlbi\talle2"), "drop tlbi alle2", ["R5"]],
    [at("dsb\tnsh"), "drop dsb nsh", ["R4"]],
    // The DSB completed the TLBI with the MMU off: the enable's own ISB is the
    // context synchronisation R4 needs; the TTBR write, though, is then still
    // unsynchronised at M=1 (R3).
    [at("dsb\tnsh") + 1, "drop isb", ["R3"]],
    [macro, "drop isb", ["R1", "R9"]],
    [macro, "drop ic iallu", ["R9"]],
    // The IC never completes: PoC-sourced lines stay (R9) and it is pending at the ret (R10).
    [macro, "drop dsb nsh", ["R9", "R10"]],
    [macro, "drop isb", ["R10"]],
  ]);
});

Deno.test("mutate() also swaps each barrier with its neighbours", () => {
  const r = mutate(builtinSequence("mainline").source);
  const swaps = r.mutants.filter((m) => m.kind === "swap");
  const find = (d: string) => swaps.find((m) => m.description === d)!;
  // Moving the TLBI before the MMU-off ISB lets old-table walks refill after it.
  assertEquals(find("swap isb <-> tlbi alle2").rules, ["R5"]);
  // The TTBR write before the TLBI is harmless at M=0 (R6 assumed): not caught.
  assertEquals(find("swap tlbi alle2 <-> mov x5, x0").caught, false);
  // `isb; dsb nsh; set_sctlr_el2`: the TTBR write is synchronised by the ISB,
  // the TLBI completed by the DSB with the MMU off, and the enable's own ISB
  // synchronises after it (R4): a correct order, so not caught.
  assertEquals(find("swap dsb nsh <-> isb").caught, false);
  assertEquals(r.caught, r.mutants.filter((m) => m.caught).length);
});

Deno.test("mutate() reports a barrier that is not needed", () => {
  // The second dsb completes nothing: dropping it changes nothing.
  const src = "tlbi alle2\ndsb nsh\ndsb nsh\nisb\nret x2";
  const r = mutate(parseA64(src), { assume: { "mmu-on-at-entry": false } });
  const dsbs = r.mutants.filter((m) => m.description === "drop dsb nsh");
  assertEquals(dsbs.map((m) => [m.line, m.caught]), [[2, false], [3, false]]);
  const text = formatMutations(r);
  assertStringIncludes(text, "MISSED  drop dsb nsh");
  assertStringIncludes(text, `${r.mutants.length} mutant(s), ${r.caught} caught`);
});

Deno.test("mutate() leaves out a mutant the static check cannot judge", () => {
  // Swapping `b 1b` with the `isb` at label 2 makes cbnz land on `b 1b`: the
  // mutant never terminates. That tests control flow, not a barrier.
  const src = "mov x9, #1\n1: cbnz x9, 2f\nb 1b\n2: isb\nret";
  const r = mutate(src);
  assertEquals(r.original.verdict, "pass");
  assertEquals(r.mutants.map((m) => m.description), ["drop isb", "swap isb <-> ret"]);
});
