import { assertEquals, assertStringIncludes } from "@std/assert";
import { runExample } from "../_example_cli.ts";

function cli(args: string[], flags: string[] = []) {
  return runExample("examples/compare.ts", args, flags);
}

Deno.test("examples/compare.ts with no flags compares the switch sequences and allocators", async () => {
  const r = await cli([]);
  assertEquals([r.code, r.stderr], [0, ""]);
  const header = r.stdout.split("\n")[0]!.split(/\s+/);
  assertEquals(header, ["metric", "v3", "v6.1", "v7.2", "bitmap"]);
  assertStringIncludes(r.stdout, "v3: R10 fail");
  // 6.1 shipped the switch without the dsb nsh; isb that 040113fa32f2 added for v6.8.
  assertStringIncludes(r.stdout, "v6.1: R4 fail");
  assertStringIncludes(r.stdout, 'v7.2: switch sequence "v7.2" has no findings');
});

Deno.test("examples/compare.ts --json is one JSON object with a run per variant", async () => {
  const r = await cli([
    "--json",
    "--cpus",
    "1",
    "--variant",
    "buddy:allocator=buddy",
    "--variant",
    "bitmap:allocator=bitmap",
    "--workload",
    "churn",
    "--ops",
    "500",
  ]);
  assertEquals(r.code, 0);
  const j = JSON.parse(r.stdout);
  assertEquals(j.runs.map((x: { label: string }) => x.label), ["buddy", "bitmap"]);
  assertEquals(j.scenario.workload, { kind: "churn", ops: 500 });
  assertEquals(j.runs[1].metrics["hpool.metadata_bytes_per_page"], 4);
  assertEquals(j.diffs.length, 1);
});

Deno.test("examples/compare.ts --no-timing: identical runs print identical JSON and tables", async () => {
  const args = ["--cpus", "1", "--workload", "churn", "--ops", "300", "--variant", "a:switch=v3"];
  const j1 = await cli(["--json", "--no-timing", ...args]);
  const j2 = await cli(["--json", "--no-timing", ...args]);
  assertEquals(j1.code, 0);
  assertEquals(j1.stdout, j2.stdout);
  assertEquals(j1.stdout.includes("wall_ms"), false);
  const t = await cli(["--no-timing", ...args]);
  assertEquals(t.stdout.includes("wall time"), false);
  const timed = await cli(["--json", ...args]);
  assertEquals(typeof JSON.parse(timed.stdout).runs[0].wall_ms, "number");
});

Deno.test("examples/compare.ts --markdown prints a Markdown table", async () => {
  const r = await cli(["--markdown", "--cpus", "1", "--variant", "a:switch=v3"]);
  assertEquals(r.code, 0);
  assertEquals(r.stdout.split("\n")[0], "| metric | a |");
});

Deno.test("examples/compare.ts refuses bad flags with one line, without the usage, and exit 2", async (t) => {
  for (
    const [args, msg] of [
      [["--frobnicate"], "unknown flag --frobnicate"],
      [["--variant", "nolabel"], "expected LABEL:capability=NAME"],
      [["--workload", "storm"], "--workload storm: choose boot, churn or map"],
      [["--cpus", "0"], "--cpus 0: invalid value; expected an integer in 1..256"],
      [["--seed", "-1"], "--seed -1: invalid value; expected an integer in 0..4294967295"],
      [["--ops", "5"], "--ops: only the churn and map workloads take it"],
      [["--workload", "map", "--max-order", "2"], "--max-order: only the churn workload takes it"],
      [["--json", "--markdown"], "--json and --markdown: choose one"],
      [["--variant", "x:allocator=./nope.ts"], "reading ./nope.ts needs --allow-read"],
    ] as const
  ) {
    await t.step(args.join(" "), async () => {
      const r = await cli([...args]);
      assertEquals(r.code, 2);
      assertStringIncludes(r.stderr, msg);
      assertEquals(r.stderr.split("\n").length, 2, r.stderr); // one line
      assertEquals(r.stderr.includes("Usage:"), false);
    });
  }
});

Deno.test("examples/compare.ts loads an allocator module with --allow-read", async () => {
  const r = await cli(
    [
      "--cpus",
      "1",
      "--variant",
      "buddy:allocator=buddy",
      "--variant",
      "extent:allocator=examples/custom_allocator.ts",
    ],
    ["--allow-read"],
  );
  assertEquals([r.code, r.stderr], [0, ""]);
  assertStringIncludes(r.stdout.split("\n")[0]!, "extent");
});

Deno.test("examples/compare.ts: a CLI module given as a plugin is refused, not run", async () => {
  const r = await cli(["--variant", "x:allocator=examples/boot.ts"], ["--allow-read"]);
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, 'examples/boot.ts: no export named "plugin" or "plugins"');
  assertEquals(r.stderr.includes("Usage: deno run examples/boot.ts"), false);
});
