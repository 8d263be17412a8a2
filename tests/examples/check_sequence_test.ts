import { assertEquals, assertStringIncludes } from "@std/assert";
import { runExample } from "../_example_cli.ts";

const SCRIPT = new URL("../../examples/check_sequence.ts", import.meta.url).pathname;
const FIXTURES = new URL("../plugins/switch_sequence/fixtures/", import.meta.url).pathname;

function cli(args: string[], perms: string[] = []) {
  return runExample(SCRIPT, args, ["--quiet", "--no-prompt", ...perms]);
}

Deno.test("check_sequence exits 0 for a passing sequence, needing no permission for built-ins", async () => {
  const r = await cli(["builtin:mainline"]);
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, "verdict: PASS");
  assertEquals(r.stdout.includes("\x1b["), false); // not a TTY: no colours
  const b = await cli(["--builtin", "set_sctlr"]);
  assertEquals(b.code, 0, b.stderr);
});

Deno.test("check_sequence exits 1 when a rule fails, listing findings under the lines", async () => {
  const r = await cli(["builtin:v3"]);
  assertEquals(r.code, 1);
  const lines = r.stdout.split("\n");
  const ic = lines.findIndex((l) => /\|\s+ic\s+iallu/.test(l));
  assertStringIncludes(lines[ic + 1]!, "FAIL R1 (SCTLR-CSE)");
  assertStringIncludes(r.stdout, "verdict: FAIL");
});

Deno.test("check_sequence exits 0 on warnings only", async () => {
  const r = await cli([
    "--json",
    "--erratum",
    "tx2-219",
    "--assume",
    "data-clean-to-poc=true",
    `${FIXTURES}v5_13_fixed.S`,
  ], ["--allow-read"]);
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assertEquals(j.verdict, "warn");
  assertEquals(j.findings.map((f: { rule: string }) => f.rule), ["R14"]);
});

Deno.test("check_sequence --json prints { verdict, findings }", async () => {
  const r = await cli(["--json", "builtin:v5.13"]);
  assertEquals(r.code, 1);
  const j = JSON.parse(r.stdout);
  assertEquals(Object.keys(j), ["verdict", "findings"]);
  assertEquals(j.verdict, "fail");
  assertEquals(
    j.findings.map((f: { rule: string; severity: string }) => [f.rule, f.severity]),
    [["R4", "fail"], ["R3", "fail"]],
  );
  assertEquals(typeof j.findings[0].line, "number");
  assertStringIncludes(j.findings[0].message, "TLBI");
});

Deno.test("check_sequence --feature/--erratum/--assume change the verdict", async () => {
  // Linux never sets ARM64_HAS_CNP on a CPU whose local TLBI is broken
  // (ARM64_WORKAROUND_DISABLE_CNP): mainline leaves CnP clear there.
  const broken = ["--json", "--feature", "cnp", "--assume", "cnp-local-tlbi-broken=true"];
  const cnp = await cli([...broken, "builtin:mainline"]);
  assertEquals([cnp.code, JSON.parse(cnp.stdout).verdict], [0, "pass"]);
  // A text that sets CnP without the alternative still fails R12 there.
  const forced = await cli([...broken, `${FIXTURES}cnp_unconditional.S`], ["--allow-read"]);
  assertEquals(
    [forced.code, JSON.parse(forced.stdout).findings[0].rule],
    [1, "R12"],
    forced.stderr,
  );
  const other = await cli([
    "--json",
    "--feature",
    "cnp",
    "--assume",
    "cnp-other-pes-diff-tables=true",
    "builtin:mainline",
  ]);
  assertEquals([other.code, JSON.parse(other.stdout).findings[0].rule], [1, "R12"]);
  const multi = await cli(["--json", "--assume", "multi-pe=true", "builtin:mainline"]);
  assertEquals(multi.code, 1);
  const ets = await cli([
    "--json",
    "--feature",
    "ets",
    "--erratum",
    "falkor-e1041",
    "builtin:mainline",
  ]);
  assertEquals([ets.code, JSON.parse(ets.stdout).verdict], [0, "pass"]);
});

Deno.test("check_sequence --mutate reports which mutants are caught", async () => {
  const r = await cli(["--mutate", "builtin:mainline"]);
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, "caught  drop tlbi alle2  [R5]");
  assertStringIncludes(r.stdout, "caught  drop dsb nsh  [R4]");
  const j = await cli(["--mutate", "--json", "builtin:mainline"]);
  const m = JSON.parse(j.stdout).mutation;
  assertEquals(
    m.mutants.filter((x: { kind: string; caught: boolean }) => x.kind === "drop" && !x.caught),
    [],
  );
});

Deno.test("check_sequence exits 2 for bad input", async (t) => {
  await t.step("a parse error names file:line:column", async () => {
    const r = await cli([`${FIXTURES}parse_error.S`], ["--allow-read"]);
    assertEquals(r.code, 2);
    assertStringIncludes(
      r.stderr,
      `${FIXTURES}parse_error.S:3:2: unknown instruction or macro "ubfx"`,
    );
  });
  await t.step("an instruction the static run cannot execute names file:line", async () => {
    const r = await cli([`${FIXTURES}illegal_eret.S`], ["--allow-read"]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(
      r.stderr,
      `check_sequence: ${FIXTURES}illegal_eret.S:4: cannot execute "eret": `,
    );
    assertEquals(r.stderr.includes("    at "), false, r.stderr); // no stack trace
  });
  await t.step("a sequence that does not terminate names file:line", async () => {
    const r = await cli([`${FIXTURES}spin.S`], ["--allow-read"]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, `check_sequence: ${FIXTURES}spin.S:14: does not terminate`);
  });
  await t.step("with --json, the error is also a JSON object on stdout", async () => {
    const r = await cli(["--json", `${FIXTURES}parse_error.S`], ["--allow-read"]);
    assertEquals(r.code, 2);
    const j = JSON.parse(r.stdout);
    assertEquals([j.line, j.column], [3, 2]);
    assertStringIncludes(
      j.error,
      `${FIXTURES}parse_error.S:3:2: unknown instruction or macro "ubfx"`,
    );
    const spin = await cli(["--json", `${FIXTURES}spin.S`], ["--allow-read"]);
    assertEquals(spin.code, 2);
    assertEquals(JSON.parse(spin.stdout).line, 14);
    const flags = await cli(["--json", "--bogus", "builtin:v3"]);
    assertEquals(flags.code, 2);
    assertEquals(JSON.parse(flags.stdout), {
      error: "unknown flag --bogus (--help lists the flags)",
      flag: "--bogus",
    });
  });
  await t.step("a missing file", async () => {
    const r = await cli([`${FIXTURES}missing.S`], ["--allow-read"]);
    assertEquals(r.code, 2);
    assertStringIncludes(r.stderr, "no such file");
  });
  await t.step("a file without --allow-read", async () => {
    const r = await cli([`${FIXTURES}user_switch.S`]);
    assertEquals(r.code, 2);
    assertStringIncludes(r.stderr, "--allow-read");
  });
  await t.step("bad flags and values", async () => {
    for (
      const args of [
        ["--feature", "lpa2", "builtin:v3"],
        ["--erratum", "e999", "builtin:v3"],
        ["--assume", "warp-drive=true", "builtin:v3"],
        ["--assume", "multi-pe=maybe", "builtin:v3"],
        ["--bogus", "builtin:v3"],
        ["builtin:v9"],
        [],
        ["builtin:v3", "builtin:v5.13"],
        ["--abi", "stack", "builtin:v3"],
      ]
    ) {
      const r = await cli(args);
      assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assertStringIncludes(r.stderr, "check_sequence: ");
    }
  });
  await t.step("a user file with --allow-read passes", async () => {
    const r = await cli([`${FIXTURES}user_switch.S`], ["--allow-read"]);
    assertEquals(r.code, 0, r.stderr);
  });
});
