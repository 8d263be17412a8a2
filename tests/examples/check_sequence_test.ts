import { assertEquals, assertStringIncludes } from "@std/assert";
import { cacheDir } from "../../plugins/oracle/mod.ts";
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
  const b = await cli(["--builtin", "v6.12"]);
  assertEquals(b.code, 0, b.stderr);
  // The bare macro runs off its end: a fragment, not a switch (R17).
  const frag = await cli(["--builtin", "set_sctlr"]);
  assertEquals(frag.code, 1, frag.stderr);
  assertStringIncludes(frag.stdout, "FAIL R17 (LEAVE)");
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

Deno.test("check_sequence --json prints { verdict, findings, routines }", async () => {
  const r = await cli(["--json", "builtin:v5.13"]);
  assertEquals(r.code, 1);
  const j = JSON.parse(r.stdout);
  assertEquals(Object.keys(j), ["verdict", "findings", "routines"]);
  assertEquals(
    j.routines.map((x: { name: string; verdict: string }) => [x.name, x.verdict]),
    [["__pkvm_init_switch_pgd", "fail"]],
  );
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
      `${FIXTURES}parse_error.S:3:2: unknown instruction or macro "udiv"`,
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
      `${FIXTURES}parse_error.S:3:2: unknown instruction or macro "udiv"`,
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

const HYP_INIT = new URL("../fixtures/hyp_init/", import.meta.url).pathname;
const SEQUENCES = new URL("../../examples/sequences/", import.meta.url).pathname;

Deno.test("check_sequence checks a whole hyp-init.S routine by routine", async (t) => {
  await t.step(
    "v6.1: __pkvm_init_switch_pgd fails R3 and R4, the rest passes (exit 1)",
    async () => {
      const r = await cli(["--json", "--release", "v6.1", `${HYP_INIT}v6.1/hyp-init.S`], [
        "--allow-read",
      ]);
      assertEquals(r.code, 1, r.stderr);
      const j = JSON.parse(r.stdout);
      assertEquals([j.verdict, j.release], ["fail", "v6.1"]);
      const failing = j.routines.filter((x: { verdict: string }) => x.verdict !== "pass");
      assertEquals(failing.map((x: { name: string }) => x.name), ["__pkvm_init_switch_pgd"]);
      assertEquals(
        failing[0].findings.map((f: { rule: string; line: number }) => [f.rule, f.line]),
        [["R4", 267], ["R3", 267]],
      );
      // Each routine says how it is entered.
      const init = j.routines.find((x: { name: string }) => x.name === "__kvm_hyp_init");
      assertEquals([init.entries[0].mmu, init.entries[0].from], ["off", "kernel"]);
    },
  );
  await t.step("v6.12 passes (exit 0); the listing starts with the routines", async () => {
    const r = await cli(["--release", "v6.12", `${HYP_INIT}v6.12/hyp-init.S`], ["--allow-read"]);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stdout, "routines (verdict, entry state, findings):");
    assertStringIncludes(r.stdout, "PASS  ___kvm_hyp_init (line 95)");
    assertStringIncludes(r.stdout, "MMU off at entry: called from __kvm_hyp_init (line 68)");
    assertStringIncludes(r.stdout, "verdict: PASS");
  });
  await t.step("v7.2 warns R18 (SCTLR_EL2 RES1 bits, advisory) and exits 0", async () => {
    const r = await cli(["--json", "--release", "v7.2", `${HYP_INIT}v7.2/hyp-init.S`], [
      "--allow-read",
    ]);
    assertEquals(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assertEquals(j.verdict, "warn");
    assertEquals([...new Set(j.findings.map((f: { rule: string }) => f.rule))], ["R18"]);
  });
  await t.step("a file with #include needs no --release: the newest models read it", async () => {
    const r = await cli(["--json", `${HYP_INIT}v7.2/hyp-init.S`], ["--allow-read"]);
    assertEquals([r.code, JSON.parse(r.stdout).release], [0, "v7.2"]);
    // As with the real v7.2 headers, v6.12's text does not assemble there:
    // TTBR_CNP_BIT became TTBRx_EL1_CnP.
    const old = await cli([`${HYP_INIT}v6.12/hyp-init.S`], ["--allow-read"]);
    assertEquals(old.code, 2);
    assertStringIncludes(old.stderr, 'hyp-init.S:133:15: unknown constant "TTBR_CNP_BIT"');
  });
});

Deno.test("check_sequence ships sample sequences", async () => {
  const run = (f: string) => cli(["--json", `${SEQUENCES}${f}`], ["--allow-read"]);
  const ok = await run("my_switch.S");
  assertEquals([ok.code, JSON.parse(ok.stdout).verdict], [0, "pass"], ok.stderr);
  const missing = await run("missing_barriers.S");
  assertEquals(missing.code, 1);
  assertEquals(
    JSON.parse(missing.stdout).findings.map((f: { rule: string }) => f.rule).sort(),
    ["R3", "R4"],
  );
  const cut = await run("truncated.S");
  assertEquals(cut.code, 1);
  assertEquals(JSON.parse(cut.stdout).findings.map((f: { rule: string }) => f.rule), ["R17"]);
});

Deno.test("check_sequence refuses input it cannot judge, naming the culprit (exit 2)", async (t) => {
  await t.step("a file with no instruction", async () => {
    const r = await cli([`${FIXTURES}comments_only.S`], ["--allow-read"]);
    assertEquals(r.code, 2, r.stdout);
    assertStringIncludes(r.stderr, "comments_only.S:1:1: no instructions");
  });
  await t.step("binary input: named, and never echoed with its control bytes", async () => {
    const r = await cli([`${FIXTURES}binary.S`], ["--allow-read"]);
    assertEquals(r.code, 2);
    assertStringIncludes(r.stderr, "binary.S:2:1: binary input (control byte 0x7f)");
    // deno-lint-ignore no-control-regex
    assertEquals(/[\x00-\x08\x0b-\x1f\x7f]/.test(r.stderr + r.stdout), false, r.stderr);
  });
  await t.step("a macro the checker does not model, by name and line", async () => {
    const r = await cli([`${FIXTURES}unknown_macro.S`], ["--allow-read"]);
    assertEquals(r.code, 2);
    assertStringIncludes(
      r.stderr,
      'unknown_macro.S:4:2: unknown instruction or macro "frobnicate_el2"',
    );
  });
  await t.step("an #if it cannot decide names the symbol; --config decides it", async () => {
    const r = await cli([`${FIXTURES}unknown_config.S`], ["--allow-read"]);
    assertEquals(r.code, 2);
    assertStringIncludes(
      r.stderr,
      "unknown_config.S:2:1: cannot decide: the configuration does not say whether CONFIG_MY_BOARD_QUIRK is set",
    );
    const set = await cli(["--config", "CONFIG_MY_BOARD_QUIRK=y", `${FIXTURES}unknown_config.S`], [
      "--allow-read",
    ]);
    assertEquals(set.code, 0, set.stderr);
  });
  await t.step("bad --release, --config and --kernel-src values", async () => {
    for (
      const args of [
        ["--release", "v9.9", "builtin:v3"],
        ["--config", "MY_BOARD=y", "builtin:v3"],
        ["--kernel-src", FIXTURES],
      ]
    ) {
      const r = await cli(args, ["--allow-read"]);
      assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assertStringIncludes(r.stderr, "check_sequence: ");
    }
  });
});

Deno.test({
  name: "check_sequence --kernel-src reads the tree's own headers (cached Debian sources)",
  ignore: !cachedTree("6.12"),
  async fn() {
    const r = await cli(["--json", "--kernel-src", cachedTree("6.12")!], ["--allow-read"]);
    assertEquals(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assertEquals([j.verdict, j.release, j.routines.length], ["pass", "v6.12", 8]);
  },
});

/** The cached extracted tree of a release (see examples/kernel_sources.ts), if there is one. */
function cachedTree(version: string): string | undefined {
  try {
    const cache = cacheDir();
    const dir = `${cache}/sources/${version}/linux-source-${version}`;
    Deno.statSync(`${dir}/arch/arm64/kvm/hyp/nvhe/hyp-init.S`);
    return dir;
  } catch {
    return undefined;
  }
}
