// The contract every example CLI keeps for bad input: one line on stderr
// naming the culprit, exit status 2, the usage only with --help, and with
// --json also a JSON error object on stdout.

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { type CliResult, runExample } from "../_example_cli.ts";

const FIX = "tests/examples/fixtures/";
const PARSE_ERROR_S = "tests/plugins/switch_sequence/fixtures/parse_error.S";
const TLB_PLUGIN = "tests/plugins/compare/fixtures/tlb_plugin.ts";

const CLIS = {
  boot: { script: "examples/boot.ts", extra: [] as string[] },
  compare: { script: "examples/compare.ts", extra: [] as string[] },
  check_sequence: { script: "examples/check_sequence.ts", extra: ["builtin:v3"] },
} as const;

/** Exit 2, exactly one stderr line `PROG: ...` containing `msg`, no usage, no stack trace. */
function assertBadInput(r: CliResult, prog: string, msg: string): void {
  assertEquals(r.code, 2, r.stderr);
  assertMatch(r.stderr, new RegExp(`^${prog}: [^\\n]+\\n$`));
  assertStringIncludes(r.stderr, msg);
  assertEquals(r.stderr.includes("Usage:"), false);
}

Deno.test("every CLI: a bad flag is one line and exit 2; the usage only with --help", async (t) => {
  for (const [prog, { script, extra }] of Object.entries(CLIS)) {
    await t.step(prog, async () => {
      const r = await runExample(script, ["--frobnicate", ...extra]);
      assertBadInput(r, prog, "unknown flag --frobnicate");
      assertEquals(r.stdout, "");
      const j = await runExample(script, ["--json", "--frobnicate", ...extra]);
      assertEquals(j.code, 2);
      assertEquals(JSON.parse(j.stdout), {
        error: "unknown flag --frobnicate (--help lists the flags)",
        flag: "--frobnicate",
      });
      const h = await runExample(script, ["--help"]);
      assertEquals([h.code, h.stderr], [0, ""]);
      assertStringIncludes(h.stdout, `Usage: deno run`);
    });
  }
});

Deno.test("every CLI: a single-value flag given twice is an error naming the flag", async (t) => {
  for (
    const [prog, args] of [
      ["boot", ["--cpus", "2", "--cpus", "4"]],
      ["compare", ["--workload", "churn", "--workload", "map"]],
      ["check_sequence", ["--abi", "params", "--abi", "registers", "builtin:v3"]],
    ] as const
  ) {
    await t.step(prog, async () => {
      const r = await runExample(CLIS[prog].script, [...args]);
      assertBadInput(
        r,
        prog,
        `--${args[0].slice(2)} given twice ("${args[1]}", then "${args[3]}")`,
      );
    });
  }
});

Deno.test("a negative, empty or missing value is named as such", async () => {
  assertBadInput(
    await runExample("examples/boot.ts", ["--cpus", "-1"]),
    "boot",
    "--cpus -1: invalid value; expected an integer in 1..256",
  );
  assertBadInput(
    await runExample("examples/compare.ts", ["--cpus", "-1"]),
    "compare",
    "--cpus -1: invalid value; expected an integer in 1..256",
  );
  assertBadInput(
    await runExample("examples/boot.ts", ["--switch", ""]),
    "boot",
    '--switch "": the value is empty',
  );
  assertBadInput(
    await runExample("examples/boot.ts", ["--ram", "--json"]),
    "boot",
    "--ram needs a value (--json is a flag)",
  );
});

Deno.test("boot.ts: --tlb and a --plugin providing the TLB conflict; so do two plugins for one capability", async () => {
  const r = await runExample("examples/boot.ts", ["--tlb", "optimistic", "--plugin", TLB_PLUGIN], [
    "--allow-read",
  ]);
  assertBadInput(
    r,
    "boot",
    `--tlb optimistic and --plugin ${TLB_PLUGIN} (plugin "user_tlb") both choose the provider of "tlb": give one`,
  );
  const twice = await runExample("examples/boot.ts", [
    "--plugin",
    TLB_PLUGIN,
    "--plugin",
    TLB_PLUGIN,
  ], ["--allow-read"]);
  assertBadInput(twice, "boot", 'both choose the provider of "tlb"');
  // Alone, the user's TLB is used, and the report shows it by its plugin's name.
  const ok = await runExample("examples/boot.ts", ["--plugin", TLB_PLUGIN, "--json"], [
    "--allow-read",
  ]);
  assertEquals(ok.code, 0, ok.stderr);
  assertEquals(JSON.parse(ok.stdout).variants.tlb, "user_tlb");
});

Deno.test("a plugin whose value lacks a member is bad input naming the plugin and the member, in both CLIs", async () => {
  const path = `${FIX}missing_member.ts`;
  const msg =
    `Plugin "half_done_allocator" (from ${path}) failed in setup: it provides "page_allocator" without createPool (expected a function, got undefined)`;
  const boot = await runExample("examples/boot.ts", ["--allocator", path, "--json"], [
    "--allow-read",
  ]);
  assertBadInput(boot, "boot", msg);
  assertEquals(JSON.parse(boot.stdout), {
    error: msg,
    plugin: "half_done_allocator",
    file: path,
    capability: "page_allocator",
    member: "createPool",
  });
  const cmp = await runExample(
    "examples/compare.ts",
    ["--cpus", "1", "--variant", `mine:allocator=${path}`, "--json"],
    ["--allow-read"],
  );
  assertBadInput(cmp, "compare", `variant "mine": ${msg}`);
  assertEquals(JSON.parse(cmp.stdout).variant, "mine");
  assertEquals(JSON.parse(cmp.stdout).member, "createPool");
});

Deno.test("an async setup is reported as such, not as 'never called provide()'", async () => {
  const r = await runExample("examples/boot.ts", ["--allocator", `${FIX}async_setup.ts`], [
    "--allow-read",
  ]);
  assertBadInput(r, "boot", 'Plugin "async_allocator"');
  assertStringIncludes(r.stderr, "setup returned a promise (an async setup?)");
  assertEquals(r.stderr.includes("never called provide()"), false);
});

Deno.test("compare.ts: a switch file that does not parse is bad input, as in boot.ts", async () => {
  const boot = await runExample("examples/boot.ts", ["--switch", PARSE_ERROR_S], ["--allow-read"]);
  assertBadInput(boot, "boot", `switch sequence ${PARSE_ERROR_S}:3:2: `);
  const cmp = await runExample(
    "examples/compare.ts",
    ["--cpus", "1", "--variant", `mine:switch=${PARSE_ERROR_S}`, "--json"],
    ["--allow-read"],
  );
  assertBadInput(cmp, "compare", `variant "mine": switch sequence ${PARSE_ERROR_S}:3:2: `);
  const j = JSON.parse(cmp.stdout);
  assertEquals([j.variant, j.file, j.line, j.column], ["mine", PARSE_ERROR_S, 3, 2]);
});

Deno.test("compare.ts: a setup error is exit 2, and releases that cannot be mixed say so, not RangeError", async () => {
  const r = await runExample("examples/compare.ts", [
    "--cpus",
    "1",
    "--profile",
    "v6.1",
    "--variant",
    "mix:reserved_mem=mainline",
  ]);
  assertBadInput(
    r,
    "compare",
    // mainline is v7.2: the reserved_mem names the release it follows.
    `variant "mix": Plugin "pkvm_v6_1" failed in setup: reserved_mem "reserved_mem_mainline" follows v7.2's kvm_hyp_reserve, but this pKVM boots as v6.1`,
  );
  assertEquals(r.stderr.includes("RangeError"), false);
  const twice = await runExample("examples/compare.ts", [
    "--variant",
    "a:allocator=buddy,allocator=bitmap",
  ]);
  assertBadInput(twice, "compare", "allocator is given twice");
});

Deno.test("a failed verification prints its reason in text mode (boot.ts) and in compare's table", async () => {
  const args = ["--profile", "mainline", "--cpus", "1", "--plugin", `${FIX}pgtable_v5_13.ts`];
  const r = await runExample("examples/boot.ts", args, ["--allow-read"]);
  assertEquals(r.code, 1, r.stderr);
  assertMatch(
    r.stdout,
    /verify {2}FAIL .*\n {4}page-table invariant: table page 0x[0-9a-f]+ has refcount/,
  );
  const cmp = await runExample("examples/compare.ts", [
    "--cpus",
    "1",
    "--no-timing",
    "--variant",
    "mix:profile=mainline,pgtable=v5.13",
  ]);
  assertEquals(cmp.code, 0, cmp.stderr);
  assert(!cmp.stdout.includes("step ?"), cmp.stdout);
  assertStringIncludes(cmp.stdout, "mix: verification failed: page-table invariant: table page 0x");
});

Deno.test("compare.ts: no progress line when stderr is not a terminal, with or without --json", async () => {
  for (const json of [[], ["--json"]]) {
    const r = await runExample("examples/compare.ts", [
      ...json,
      "--cpus",
      "1",
      "--workload",
      "churn",
      "--ops",
      "20000",
      "--variant",
      "a:allocator=buddy",
    ]);
    assertEquals([r.code, r.stderr], [0, ""]);
  }
});
