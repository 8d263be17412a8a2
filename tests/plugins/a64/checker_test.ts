import { assertEquals, assertThrows } from "@std/assert";
import {
  A64NonTerminationError,
  builtinSequence,
  check,
  type CheckConfig,
  type CheckResult,
  HazardChecker,
  parseA64,
  resolveCheckConfig,
} from "./deps.ts";

// Abbreviations: MMU off, and MMU on the way set_sctlr_el2 does it.
const OFF = "mrs x3, sctlr_el2\nbic x4, x3, #SCTLR_ELx_M\nmsr sctlr_el2, x4\nisb";
const ON_MSR = "msr sctlr_el2, x3";
const ON = `${ON_MSR}\nisb\nic iallu\ndsb nsh\nisb`;
const TTBR = "phys_to_ttbr x5, x0\nmsr ttbr0_el2, x5";
const FINAL = `isb\n${OFF}\ntlbi alle2\n${TTBR}\nmov sp, x1\ndsb nsh\nisb\n${ON}\nret x2`;
// LOADS, V3: the params ABI (x0 = params PA, x1 = continuation) with the two loads at M=0.
const LOADS = [
  "isb",
  OFF,
  "tlbi alle2",
  "ldr x6, [x0, #NVHE_INIT_PGD_PA]",
  "phys_to_ttbr x5, x6",
  "msr ttbr0_el2, x5",
  "ldr x0, [x0, #NVHE_INIT_STACK_HYP_VA]",
  "mov sp, x0",
  "dsb nsh",
  "isb",
  ON,
  "ret x1",
].join("\n");
const V3 = LOADS.replace(ON, "msr sctlr_el2, x3\nic iallu\nisb");
const PREP = `${OFF}\ntlbi alle2\ndsb nsh\n${TTBR}\nisb\n${ON}\nret x2`;
const NO_DSB = FINAL.replace("\ndsb nsh\nisb\nmsr", "\nisb\nmsr");
const UNSYNCED = `${OFF}\ntlbi alle2\n${TTBR}\ndsb nsh\n${ON}\nret x2`;
const NO_FINAL_ISB = FINAL.replace("dsb nsh\nisb\nret x2", "dsb nsh\nret x2");
const NO_LEADING_ISB = FINAL.replace(/^isb\n/, "");
const NO_IC = FINAL.replace("ic iallu\ndsb nsh\n", "");

/** The distinct rule ids of a result, in first-seen order. */
const rules = (r: CheckResult) => [...new Set(r.findings.map((f) => f.rule))];
const expect = (src: string, config: CheckConfig, verdict: string, ids: string[]) => {
  const r = check(src, config);
  assertEquals(
    [r.verdict, rules(r).sort()],
    [verdict, [...ids].sort()],
    JSON.stringify(r.findings, null, 1),
  );
  return r;
};

Deno.test("check() gives the reference sequences their verdicts", async (t) => {
  // The mutated texts really differ from FINAL.
  for (const s of [NO_DSB, NO_FINAL_ISB, NO_LEADING_ISB, NO_IC]) assertEquals(s !== FINAL, true);
  await t.step("the final upstream order: PASS", () => {
    expect(FINAL, {}, "pass", []);
  });
  await t.step(
    "v5.13's two loads at M=0: PASS; WARN R14 with tx2-219; FAIL R8 without data-clean-to-poc",
    () => {
      expect(LOADS, { abi: "params" }, "pass", []);
      const w = expect(LOADS, { abi: "params", errata: ["tx2-219"] }, "warn", ["R14"]);
      assertEquals(w.findings[0]!.line, 10); // the load between the TTBR write and its ISB
      expect(LOADS, { abi: "params", assume: { "data-clean-to-poc": false } }, "fail", ["R8"]);
    },
  );
  await t.step("v3's open-coded enable: FAIL R1/R9, R10", () => {
    const r = expect(V3, { abi: "params" }, "fail", ["R1", "R9", "R10"]);
    // The ic runs before the MMU-on ISB (R1); the I-cache is left polluted and
    // the IC incomplete where the code is left, at the ret (R9, R10).
    const icLine = V3.split("\n").indexOf("ic iallu") + 1;
    const retLine = V3.split("\n").length;
    assertEquals(
      r.findings.map((f) => [f.line, f.rule]).sort(),
      [[icLine, "R1"], [retLine, "R10"], [retLine, "R9"]],
    );
  });
  await t.step("DSB and ISB before the enable macro: PASS", () => {
    expect(PREP, {}, "pass", []);
  });
  await t.step("no DSB after the TLBI: FAIL R4", () => {
    expect(NO_DSB, {}, "fail", ["R4"]);
  });
  await t.step("TTBR not synchronised: FAIL R3 (the TLBI completed at M=0: not R4)", () => {
    // The DSB completes the TLBI while the MMU is off; the enable's own ISB is
    // the context synchronisation R4 asks for. The TTBR write, though, can
    // still be in flight when M=1 lands.
    expect(UNSYNCED, {}, "fail", ["R3"]);
    expect(UNSYNCED, { features: ["ets"] }, "fail", ["R3"]);
  });
  await t.step("isb; dsb nsh; set_sctlr_el2 (DSB after the ISB, MMU off): PASS", () => {
    // The disputed order: TTBR synchronised by the ISB, TLBI completed by the
    // DSB with M=0, and set_sctlr_el2's ISB after the msr synchronises both.
    const order = `${OFF}\ntlbi alle2\n${TTBR}\nmov sp, x1\nisb\ndsb nsh\n${ON}\nret x2`;
    expect(order, {}, "pass", []);
    // With the MMU on at that DSB, instructions fetched before it may have
    // used the stale entries: there the ISB after the DSB is needed (R4).
    const on = "tlbi alle2\ndsb nsh\nret";
    expect(on, {}, "fail", ["R4"]);
    expect(on, { features: ["ets"] }, "pass", []);
    // And a load between the enable and its ISB is R1, whatever R4 says.
    expect(order.replace(`${ON_MSR}\nisb`, `${ON_MSR}\nldr x6, [x0]\nisb`), {}, "fail", ["R1"]);
  });
  await t.step("no final ISB: FAIL R10 at the ret", () => {
    const r = expect(NO_FINAL_ISB, {}, "fail", ["R10"]);
    assertEquals(r.findings[0]!.line, NO_FINAL_ISB.split("\n").length);
  });
  await t.step("Falkor without the leading ISB: FAIL R13, PASS without the erratum", () => {
    expect(NO_LEADING_ISB, { errata: ["falkor-e1041"] }, "fail", ["R13"]);
    expect(NO_LEADING_ISB, {}, "pass", []);
    expect(FINAL, { errata: ["falkor-e1041"] }, "pass", []);
  });
  await t.step("CnP with other PEs on other tables, or a broken local TLBI: FAIL R12", () => {
    const cnp = FINAL.replace(
      TTBR,
      "phys_to_ttbr x5, x0\norr x5, x5, #TTBRx_EL1_CnP\nmsr ttbr0_el2, x5",
    );
    expect(cnp, { assume: { "cnp-other-pes-diff-tables": true } }, "fail", ["R12"]);
    expect(cnp, { assume: { "cnp-local-tlbi-broken": true } }, "fail", ["R12"]);
    expect(cnp, {}, "pass", []);
  });
  await t.step("no IC: PASS when code is not patched at the PoU, FAIL R9 otherwise", () => {
    expect(NO_IC, { assume: { "code-patched-at-pou": false } }, "pass", []);
    expect(NO_IC, {}, "fail", ["R9"]);
  });
});

Deno.test("check() gives the built-in variants the verdicts the rules give them", async (t) => {
  await t.step("mainline: PASS (also with CnP, ETS, both errata)", () => {
    expect(builtinSequence("mainline").source, {}, "pass", []);
    const all = { features: ["cnp", "ets"], errata: ["falkor-e1041", "tx2-219"] };
    expect(builtinSequence("mainline").source, all, "pass", []);
  });
  await t.step("mainline on Carmel/Hip09 (cnp-local-tlbi-broken): HAS_CNP is off, PASS", () => {
    // Linux sets ARM64_WORKAROUND_DISABLE_CNP there, so ARM64_HAS_CNP is never
    // set and the alternative leaves the orr of the CnP bit out.
    const src = builtinSequence("mainline").source;
    expect(src, { features: ["cnp"], assume: { "cnp-local-tlbi-broken": true } }, "pass", []);
    // With CnP other PEs' tables still matter: HAS_CNP is on.
    const other = { features: ["cnp"], assume: { "cnp-other-pes-diff-tables": true } };
    expect(src, other, "fail", ["R12"]);
  });
  await t.step("v3: FAIL R1/R9 (ic before the ISB) and R10 (no DSB after the ic)", () => {
    const r = expect(builtinSequence("v3").source, {}, "fail", ["R1", "R9", "R10"]);
    assertEquals(r.findings.every((f) => f.severity === "fail"), true);
  });
  await t.step("v5.13: FAIL R3 and R4", () => {
    // v5.13 writes TTBR0_EL2 and goes straight into set_sctlr_el2: the msr
    // that sets M=1 comes with the TTBR write still unsynchronised (no ISB
    // between them: R3) and with the `tlbi alle2` never completed (no DSB at
    // all before M=1: R4). The macro's own `isb; ic iallu; dsb nsh; isb`
    // completes the TLBI only after M=1 has taken effect. The loads at M=0
    // pass because the params are cleaned to the PoC (R8 holds), and the IC
    // after the macro's first ISB satisfies R9/R10.
    const r = expect(builtinSequence("v5.13").source, {}, "fail", ["R3", "R4"]);
    const line = builtinSequence("v5.13").source.split("\n").findIndex((l) =>
      l.includes("set_sctlr_el2\tx2")
    ) + 1;
    assertEquals(
      r.findings.map((f) =>
        f.line
      ),
      [line, line],
    );
  });
  await t.step("set_sctlr with its preparation: FAIL R17 only (it runs off its end)", () => {
    // Every barrier is right; but the bare macro is a fragment: after its
    // last ISB whatever follows it in memory runs.
    const r = expect(builtinSequence("set_sctlr").source, {}, "fail", ["R17"]);
    assertEquals(
      r.findings[0]!.line,
      builtinSequence("set_sctlr").source.trimEnd().split("\n").length,
    );
    expect(`${builtinSequence("set_sctlr").source}\tret\tx2\n`, {}, "pass", []);
  });
});

Deno.test("check(): every rule has a failing and a passing sequence of its own", async (t) => {
  const cases: [string, string, CheckConfig, string, string, CheckConfig, string][] = [
    // [rule, failing, config, verdict, passing, config, verdict]
    [
      "R1",
      FINAL.replace(`${ON_MSR}\nisb`, `${ON_MSR}\nldr x6, [x0]\nisb`),
      {},
      "fail",
      FINAL.replace(`${ON_MSR}\nisb`, `${ON_MSR}\nisb\nldr x6, [x0]`),
      {},
      "pass",
    ],
    ["R2", FINAL, { assume: { "code-idmapped": false } }, "fail", FINAL, {}, "pass"],
    ["R3", UNSYNCED, { features: ["ets"] }, "fail", PREP, { features: ["ets"] }, "pass"],
    ["R4", NO_DSB, {}, "fail", FINAL, {}, "pass"],
    ["R5", FINAL.replace("tlbi alle2\n", ""), {}, "fail", FINAL, {}, "pass"],
    [
      "R6",
      FINAL,
      { assume: { "alloc-when-off": true } },
      "warn",
      // ___kvm_hyp_init order: TTBR; ISB; TLBI; DSB; ISB — nothing relies on R6.
      `${OFF}\n${TTBR}\nmov sp, x1\nisb\ntlbi alle2\ndsb nsh\nisb\n${ON}\nret x2`,
      { assume: { "alloc-when-off": true } },
      "pass",
    ],
    ["R7", `tlbi alle2\ndsb nsh\nisb\n${TTBR}\nisb\nret x2`, {}, "fail", FINAL, {}, "pass"],
    [
      "R8",
      LOADS,
      { abi: "params", assume: { "data-clean-to-poc": false } },
      "fail",
      LOADS.replace("tlbi alle2\n", "tlbi alle2\ndc civac, x0\ndsb nsh\n"),
      { abi: "params", assume: { "data-clean-to-poc": false } },
      "pass",
    ],
    ["R9", NO_IC, {}, "fail", FINAL, {}, "pass"],
    ["R10", NO_FINAL_ISB, {}, "fail", FINAL, {}, "pass"],
    [
      "R11",
      FINAL.replace("tlbi alle2", "tlbi alle2is"),
      {},
      "warn",
      FINAL.replace("tlbi alle2", "tlbi alle2is").replace(
        "mov sp, x1\ndsb nsh",
        "mov sp, x1\ndsb ish",
      ),
      {},
      "pass",
    ],
    [
      "R12",
      FINAL.replace(TTBR, "phys_to_ttbr x5, x0\norr x5, x5, #TTBRx_EL1_CnP\nmsr ttbr0_el2, x5"),
      { assume: { "cnp-other-pes-diff-tables": true } },
      "fail",
      FINAL,
      { assume: { "cnp-other-pes-diff-tables": true } },
      "pass",
    ],
    ["R13", NO_LEADING_ISB, { errata: ["falkor-e1041"] }, "fail", FINAL, {
      errata: ["falkor-e1041"],
    }, "pass"],
    [
      "R14",
      LOADS,
      { abi: "params", errata: ["tx2-219"] },
      "warn",
      FINAL,
      { errata: ["tx2-219"] },
      "pass",
    ],
    [
      "R15",
      FINAL.replace("mov sp, x1\n", "mov sp, x1\nstp x29, x30, [sp, #-16]!\n"),
      {},
      "fail",
      FINAL.replace("ret x2", "stp x29, x30, [sp, #-16]!\nret x2"),
      {},
      "pass",
    ],
    [
      "R16",
      PREP.replace(`isb\n${ON}`, `isb\nstr x6, [x0]\n${ON}`),
      {},
      "fail",
      PREP.replace(`isb\n${ON}`, `isb\nstr x6, [x0]\ndsb nsh\n${ON}`),
      {},
      "pass",
    ],
    ["R17", FINAL.replace("\nret x2", ""), {}, "fail", FINAL, {}, "pass"],
    [
      "R18",
      FINAL.replace(`${ON_MSR}\n`, `mov x3, #1\n${ON_MSR}\n`),
      {},
      "warn",
      FINAL.replace(`${ON_MSR}\n`, `mov_q x3, INIT_SCTLR_EL2_MMU_ON\n${ON_MSR}\n`),
      {},
      "pass",
    ],
  ];
  assertEquals(cases.map((c) => c[0]), Array.from({ length: 18 }, (_, i) => `R${i + 1}`));
  for (const [rule, bad, badCfg, badVerdict, good, goodCfg, goodVerdict] of cases) {
    await t.step(rule, () => {
      expect(bad, badCfg, badVerdict, [rule]);
      expect(good, goodCfg, goodVerdict, []);
    });
  }
});

Deno.test("check() explores both successors of a conditional branch", async (t) => {
  const pre = `isb\n${OFF}\ntlbi alle2\n${TTBR}\nmov sp, x1\ndsb nsh`;
  await t.step("a path the synthetic values do not take is checked too", () => {
    // x0 (the pgd PA) is not zero in the static run, so cbz falls through to
    // the ISB; the path taken when x0 == 0 skips it (R3 at the MMU enable: the
    // TTBR write is not synchronised; the TLBI completed at M=0 is not R4).
    const skip = (b: string) => `${pre}\n${b} x0, 1f\nisb\n1: ${ON}\nret x2`;
    const on = skip("cbz").split("\n").indexOf(`1: ${ON_MSR}`) + 1;
    for (const b of ["cbz", "cbnz"]) {
      const r = expect(skip(b), {}, "fail", ["R3"]);
      assertEquals(r.findings.map((f) => f.line), [on], b);
    }
  });
  await t.step("both paths right: PASS", () => {
    expect(`${pre}\ncbz x0, 1f\nisb\nb 2f\n1: isb\n2: ${ON}\nret x2`, {}, "pass", []);
  });
  await t.step("a loop on an input value ends (a state seen before is not explored again)", () => {
    // Poll a flag at M=0: the back edge comes back to the same state.
    const poll = FINAL.replace("tlbi alle2\n", "tlbi alle2\n1: ldr x9, [x0]\ncbz x9, 1b\n");
    expect(poll, {}, "pass", []);
  });
  await t.step("a counted loop runs as written (its counter comes from the text)", () => {
    // Two passes are needed before the MMU enable is right; with the counter
    // known, the exit after one pass is not a path the code can take.
    const twice = `${pre}\nmov x7, #2\n1: sub x7, x7, #1\nisb\ncbnz x7, 1b\n${ON}\nret x2`;
    expect(twice, {}, "pass", []);
  });
  await t.step("one helper called from two places returns to each", () => {
    // The helper's cbz sees the same checker state on both calls; the return
    // address differs, so the second call is explored too and reaches the
    // unsynchronised load after it (R1).
    const src = [
      "mov x20, x30; bl h", // keep the caller's return address for the end
      "bl h",
      "mrs x3, sctlr_el2",
      "bic x4, x3, #SCTLR_ELx_C",
      "msr sctlr_el2, x4",
      "ldr x6, [x0]",
      "isb",
      "b done",
      "h: cbz x9, 1f",
      "nop",
      "1: ret",
      "done: ret x20",
    ].join("\n");
    const r = expect(src, {}, "fail", ["R1"]);
    assertEquals(r.findings[0]!.line, 6);
  });
});

Deno.test("check() gives no verdict for a sequence that does not terminate", async (t) => {
  await t.step("a spin loop in place of the final isb; ret (no path leaves)", () => {
    // The end-of-sequence checks would be R10 here, but the sequence never
    // gets there: there is no point at which to judge it.
    const spin = FINAL.replace("dsb nsh\nisb\nret x2", "dsb nsh\n1: b 1b");
    const e = assertThrows(() => check(spin), A64NonTerminationError, "does not terminate");
    assertEquals(e.line, spin.split("\n").length);
  });
  await t.step("a loop longer than the step limit", () => {
    const long = `mov x9, #0xffff\n1: sub x9, x9, #1\ncbnz x9, 1b\n${FINAL}`;
    const e = assertThrows(() => check(long), A64NonTerminationError, "does not terminate within");
    // The limit grows with the text (10 000 plus 64 per instruction), so long
    // straight-line code is not taken for a loop.
    const n = parseA64(long).instructions.length;
    assertEquals(/within (\d+) steps/.exec(e.message)![1], String(10_000 + 64 * n));
  });
  await t.step("a path that spins while another leaves is judged on the one that leaves", () => {
    // A hang on an error path (x0 == 0) never runs the new-table code.
    const src = FINAL.replace("isb\nret x2", "isb\ncbz x0, 2f\nret x2\n2: b 2b");
    expect(src, {}, "pass", []);
  });
});

Deno.test("check(): more consequences of the state model", async (t) => {
  await t.step(
    "multi-pe: local maintenance fails R11; IS ops under dsb nsh stay pending (R4, R9, R10)",
    () => {
      expect(FINAL, { assume: { "multi-pe": true } }, "fail", ["R11"]);
      const is = FINAL.replace("tlbi alle2", "tlbi alle2is").replace("ic iallu", "ic ialluis");
      expect(is, { assume: { "multi-pe": true } }, "fail", ["R4", "R9", "R10"]);
      const ish = is.replaceAll("dsb nsh", "dsb ish");
      expect(ish, { assume: { "multi-pe": true } }, "pass", []);
    },
  );
  await t.step("R9 looks at the IC after MMU-on, not at an extra one with the MMU off", () => {
    // R9 asks for `ic iallu; dsb; isb` after M=1 and its ISB, before patched
    // code runs; an extra invalidate at M=0 before that one is harmless.
    const extra = FINAL.replace("tlbi alle2\n", "tlbi alle2\nic iallu\ndsb nsh\nisb\n");
    expect(extra, {}, "pass", []);
    // Only the extra one (no IC after MMU-on): R9 where the code is left.
    const only = NO_IC.replace("tlbi alle2\n", "tlbi alle2\nic iallu\ndsb nsh\nisb\n");
    const r = expect(only, {}, "fail", ["R9"]);
    assertEquals(r.findings.map((f) => f.line), [only.split("\n").length]);
  });
  await t.step("R1 covers a C or I change as well as M, and dc by VA", () => {
    const cOff = "mrs x3, sctlr_el2\nbic x4, x3, #SCTLR_ELx_C\nmsr sctlr_el2, x4";
    expect(`${cOff}\nldr x9, [x0]\nisb\nret`, {}, "fail", ["R1"]);
    expect(`${cOff}\nisb\nldr x9, [x0]\nret`, {}, "pass", []);
    const iOff = cOff.replace("SCTLR_ELx_C", "SCTLR_ELx_I");
    expect(`${iOff}\nic iallu\ndsb nsh\nisb\nret`, {}, "fail", ["R1"]);
    expect(`${iOff}\nisb\nic iallu\ndsb nsh\nisb\nret`, {}, "pass", []);
    // A DC by VA is translated: between the MMU-on msr and its ISB either regime may apply.
    expect(FINAL.replace(`${ON_MSR}\nisb`, `${ON_MSR}\ndc civac, x0\nisb`), {}, "fail", ["R1"]);
    expect(FINAL.replace(`${ON_MSR}\nisb`, `${ON_MSR}\nisb\ndc civac, x0`), {}, "pass", []);
  });
  await t.step("R15 follows the stack through a copy of SP", () => {
    const early = FINAL.replace("mov sp, x1\n", "mov sp, x1\nadd x9, sp, #16\nstr x8, [x9]\n");
    const r = expect(early, {}, "fail", ["R15"]);
    assertEquals(r.findings[0]!.line, early.split("\n").indexOf("str x8, [x9]") + 1);
    expect(FINAL.replace("ret x2", "mov x9, sp\nstr x8, [x9, #-8]\nret x2"), {}, "pass", []);
    // Only SP-derived bases: x0 (the pgd PA) is not a stack address.
    expect(FINAL.replace("ret x2", "ldr x8, [x0]\nret x2"), {}, "pass", []);
  });
  await t.step("dsb st variants complete no TLB maintenance", () => {
    expect(FINAL.replace("mov sp, x1\ndsb nsh", "mov sp, x1\ndsb nshst"), {}, "fail", ["R4"]);
  });
  await t.step("branching to a new-table VA with the MMU still off is R1", () => {
    expect(`${OFF}\nret x2`, {}, "fail", ["R1"]);
  });
  await t.step("branching to a new-table VA with the old tables in force is R3", () => {
    // The MMU goes off and on again, but TTBR0_EL2 is never switched: `ret x2`
    // (a new-table VA) is fetched through the old tables.
    const noSwitch = FINAL.replace(`${TTBR}\n`, "");
    const r = expect(noSwitch, {}, "fail", ["R3"]);
    assertEquals(r.findings[0]!.line, noSwitch.split("\n").length);
  });
  await t.step("an unfinished SCTLR write at the end is R1 (and running off the end R17)", () => {
    expect(PREP.replace("\nret x2", `\n${ON_MSR}`), {}, "fail", ["R1", "R17"]);
  });
  await t.step("the static run does not reject synthetic register values", () => {
    // x9 is 0 in the static run: RES1 bits clear, M = 0. Not an error there.
    expect("msr sctlr_el2, x9\nisb\nret", {}, "pass", []);
  });
  await t.step("exception entry and return are context synchronisation events", () => {
    // The hvc stands in for the ISB after M=1: the ic after it is not R1.
    expect(FINAL.replace(`${ON_MSR}\nisb`, `${ON_MSR}\nhvc #0`), {}, "pass", []);
  });
  await t.step("an exception taken while SP holds the other regime's address is R15", () => {
    // After `mov sp, x1` with the MMU still off, the handler's pushes would use
    // the new-table VA as a PA: an exception taken in that window uses the bad SP.
    const r = expect(FINAL.replace("dsb nsh\nisb\nmsr", "dsb nsh\nhvc #0\nmsr"), {}, "fail", [
      "R15",
    ]);
    assertEquals(r.findings[0]!.line, FINAL.split("\n").indexOf("dsb nsh") + 2);
  });
  await t.step("a later fail of a rule on a line is not hidden by an earlier warn there", () => {
    // The loop runs the ldr first with the MMU off (R14 is advisory there:
    // warn), then with it on (fail): one finding per rule and line, the fail.
    const src = [
      OFF,
      "mov x7, #2",
      "1: msr ttbr0_el2, x0",
      "ldr x9, [x0]",
      "isb",
      "sub x7, x7, #1",
      "cbz x7, 2f",
      ON_MSR,
      "isb",
      "b 1b",
      "2: nop",
    ].join("\n");
    const r = check(src, { errata: ["tx2-219"] });
    const ldr = src.split("\n").indexOf("ldr x9, [x0]") + 1;
    assertEquals(
      r.findings.filter((f) => f.rule === "R14").map((f) => [f.line, f.severity]),
      [[ldr, "fail"]],
    );
  });
  await t.step("findings carry the line and column of the macro invocation", () => {
    const src = FINAL.replace(ON, "  set_sctlr_el2 x3").replace(
      "mov sp, x1\ndsb nsh\n",
      "mov sp, x1\n",
    );
    const r = check(src);
    const line = src.split("\n").indexOf("  set_sctlr_el2 x3") + 1;
    assertEquals(r.findings.map((f) => [f.rule, f.line, f.column]), [["R4", line, 3]]);
  });
  await t.step("mmu-on-at-entry=false: an enable-only sequence (___kvm_hyp_init style)", () => {
    const hypInit =
      `${TTBR}\nisb\ntlbi alle2\ndsb sy\nisb\nmov_q x3, INIT_SCTLR_EL2_MMU_ON\nmsr sctlr_el2, x3\nisb\nret`;
    expect(
      hypInit,
      { assume: { "mmu-on-at-entry": false, "code-patched-at-pou": false } },
      "pass",
      [],
    );
    expect(hypInit, { assume: { "mmu-on-at-entry": false } }, "fail", ["R9"]);
  });
});

Deno.test("R18 warns the code that clears a RES1 bit, not a read-modify-write of what it found", () => {
  const r18 = (src: string, sctlr: bigint) => {
    const p = parseA64(src);
    const c = new HazardChecker(p, resolveCheckConfig(), { sctlr, ttbr0: 0n, abi: "registers" });
    // x3 holds what the mrs read, then what the bic/orr made of it.
    let x3 = 0n;
    const regs = { get: (n: number) => (n === 3 ? x3 : 0n) };
    p.instructions.forEach((ins, i) => {
      if (ins.text.startsWith("mrs")) x3 = sctlr;
      if (ins.text.startsWith("bic")) x3 &= ins.imm; // decoded as an AND with the complement
      if (ins.text.startsWith("orr")) x3 |= ins.imm;
      c.step(i, regs);
    });
    c.end();
    return c.result().findings.filter((f) => f.rule === "R18").map((f) => f.line);
  };
  // v7.2's INIT_SCTLR_EL2_MMU_ON (RES1 bits 4, 5, 16, 18, 23, 28, 29 clear) in the
  // register: __pkvm_init_switch_pgd's `bic`/`orr` of M keeps it as it was.
  const rmw =
    "mrs x3, sctlr_el2\nbic x3, x3, #1\nmsr sctlr_el2, x3\nisb\norr x3, x3, #1\nmsr sctlr_el2, x3\nisb";
  assertEquals(r18(rmw, 0x68180dn), []);
  // Clearing a RES1 bit the register had set is the code's own doing.
  assertEquals(r18("mrs x3, sctlr_el2\nbic x3, x3, #0x10\nmsr sctlr_el2, x3\nisb", 0x30e5183dn), [
    3,
  ]);
});
