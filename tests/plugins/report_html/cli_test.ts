/**
 * `--html FILE` on boot.ts, compare.ts and `oracle.ts diff` as a user runs
 * them: the page written whole, and a path that cannot be written refused
 * in one line with exit 2 before any work, leaving nothing behind.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { runExample } from "../../_example_cli.ts";
import { OBSERVATION } from "../../_browser/fixtures.ts";

const RW = ["--allow-read", "--allow-write"];

async function names(dir: string): Promise<string[]> {
  const out = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  assertEquals(lines.length, 1, `one line expected: ${stderr}`);
  return lines[0]!;
}

Deno.test("boot.ts --html writes the page, and with --json prints only the report", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyplab-html-cli-" });
  try {
    const page = `${dir}/boot.html`;
    // The optimistic TLB: under the adversarial one 6.1's switch hazard fails
    // the verification (exit 1), which is not what this test is about.
    const args = ["--cpus", "2", "--tlb", "optimistic"];
    const r = await runExample("examples/boot.ts", [...args, "--html", page], RW);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stdout, `page: ${page} (`);
    const html = await Deno.readTextFile(page);
    assert(html.startsWith("<!DOCTYPE html>"));
    assertStringIncludes(html, 'class="maplet ');
    const j = await runExample("examples/boot.ts", [...args, "--json", "--html", page], RW);
    assertEquals(j.code, 0, j.stderr);
    assertEquals(JSON.parse(j.stdout).ok, true);
    assertEquals(await names(dir), ["boot.html"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("boot.ts --html: a path that cannot be written is one line, exit 2, before the boot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyplab-html-cli-" });
  try {
    const bad = `${dir}/missing/boot.html`;
    const r = await runExample("examples/boot.ts", ["--html", bad], RW);
    assertEquals(r.code, 2);
    assertEquals(
      oneLine(r.stderr),
      `boot: --html ${bad}: cannot write: no such directory ${dir}/missing`,
    );
    assertEquals(r.stdout, "", "nothing of a boot printed");
    const j = await runExample("examples/boot.ts", ["--json", "--html", bad], RW);
    assertEquals(j.code, 2);
    assertEquals(JSON.parse(j.stdout), {
      error: `--html ${bad}: cannot write: no such directory ${dir}/missing`,
      flag: "--html",
      file: bad,
    });
    // Refused before anything else is read: a switch file that does not
    // exist would otherwise be the error.
    const first = await runExample(
      "examples/boot.ts",
      ["--switch", `${dir}/none.S`, "--html", dir],
      RW,
    );
    assertEquals(first.code, 2);
    assertEquals(oneLine(first.stderr), `boot: --html ${dir}: cannot write: it is a directory`);
    assertEquals(await names(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("boot.ts --html without --allow-write says which flags it needs; no file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyplab-html-cli-" });
  try {
    const page = `${dir}/boot.html`;
    for (const flags of [[], ["--allow-read"], [`--allow-write=${dir}`]]) {
      const r = await runExample("examples/boot.ts", ["--html", page], flags);
      assertEquals(r.code, 2, flags.join(" "));
      assertEquals(
        oneLine(r.stderr),
        `boot: --html ${page}: writing the page needs --allow-read and --allow-write: deno run --allow-read --allow-write examples/boot.ts ...`,
      );
    }
    assertEquals(await names(dir), []);
    const twice = await runExample("examples/boot.ts", ["--html", page, "--html", page], RW);
    assertEquals(twice.code, 2);
    assertStringIncludes(twice.stderr, "--html given twice");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compare.ts --html: the page, and an unwritable path refused before any variant runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyplab-html-cli-" });
  try {
    const page = `${dir}/compare.html`;
    const args = [
      "--cpus",
      "1",
      "--variant",
      "a:switch=v3",
      "--variant",
      "b:switch=mainline",
      "--no-timing",
    ];
    const r = await runExample("examples/compare.ts", [...args, "--html", page], RW);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(await Deno.readTextFile(page), 'data-variant="b"');
    const bad = await runExample("examples/compare.ts", [
      ...args,
      "--json",
      "--html",
      `${dir}/no/c.html`,
    ], RW);
    assertEquals(bad.code, 2);
    assertEquals(
      oneLine(bad.stderr),
      `compare: --html ${dir}/no/c.html: cannot write: no such directory ${dir}/no`,
    );
    assertEquals(JSON.parse(bad.stdout).flag, "--html");
    assertEquals(await names(dir), ["compare.html"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("oracle.ts diff --html: one page for several files; an unwritable path is one line, exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyplab-html-cli-" });
  try {
    const page = `${dir}/diff.html`;
    const r = await runExample("examples/oracle.ts", [
      "diff",
      OBSERVATION,
      OBSERVATION,
      "--html",
      page,
    ], RW);
    assertEquals(r.code, 0, r.stderr);
    const html = await Deno.readTextFile(page);
    assertEquals(html.match(/<section class="panel oracle"/g)?.length, 2);
    const bad = await runExample("examples/oracle.ts", [
      "diff",
      OBSERVATION,
      "--json",
      "--html",
      `${dir}/no/d.html`,
    ], RW);
    assertEquals(bad.code, 2);
    assertEquals(
      oneLine(bad.stderr),
      `oracle: --html ${dir}/no/d.html: cannot write: no such directory ${dir}/no`,
    );
    assertEquals(
      JSON.parse(bad.stdout).error,
      `--html ${dir}/no/d.html: cannot write: no such directory ${dir}/no`,
    );
    const perm = await runExample("examples/oracle.ts", ["diff", OBSERVATION, "--html", page], [
      "--allow-read",
    ]);
    assertEquals(perm.code, 2);
    assertStringIncludes(oneLine(perm.stderr), "needs --allow-read and --allow-write");
    assertEquals(await names(dir), ["diff.html"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
