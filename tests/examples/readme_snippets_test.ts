// README.md is the user's first document: its TypeScript compiles against
// the real module paths, its excerpts are what the files say, the paths and
// flags it names exist, and it cites nothing that is not in the repository.

import { assert, assertEquals } from "@std/assert";
import { runExample } from "../_example_cli.ts";

const ROOT = new URL("../../", import.meta.url);
const README = await Deno.readTextFile(new URL("README.md", ROOT));

/** The fenced code blocks: info string and body. */
function blocks(md: string): { info: string; body: string }[] {
  // A block inside a list item is indented like its fence: strip that much.
  return [...md.matchAll(/^( *)```([^\n]*)\n([\s\S]*?)^ *```$/gm)].map((m) => ({
    info: m[2]!.trim(),
    body: m[3]!.replace(new RegExp(`^ {0,${m[1]!.length}}`, "gm"), ""),
  }));
}

Deno.test("README: every TypeScript block type-checks against the real modules", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--doc-only", "README.md"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, text);
});

Deno.test("README: an excerpt (a block opening with `// FILE`) is the file's text, in order", async () => {
  let excerpts = 0;
  for (const { body } of blocks(README)) {
    const m = /^\/\/ ((?:examples|core|plugins|tests)\/\S+\.ts)\n/.exec(body);
    if (!m) continue;
    excerpts++;
    const file = (await Deno.readTextFile(new URL(m[1]!, ROOT))).split("\n").map((l) =>
      l.trimEnd()
    );
    let at = 0;
    for (const line of body.slice(m[0].length).split("\n").map((l) => l.trimEnd())) {
      if (line === "" || /^\s*\/\/ \.\.\./.test(line)) continue; // blank lines and elisions
      const found = file.indexOf(line, at);
      assert(
        found >= 0,
        `${m[1]}: the README's line "${line}" is not in the file (after line ${at})`,
      );
      at = found + 1;
    }
  }
  assert(excerpts > 0, "no excerpt found: update this test with the README");
});

Deno.test("README: line counts of the files it names are their line counts", async () => {
  const claims = [
    ...README.matchAll(/`((?:examples|core|plugins)\/[\w/]+\.ts)`[^.`]*? in (\d+) lines/g),
  ];
  assert(claims.length > 0, "no line count found: update this test with the README");
  for (const [, path, n] of claims) {
    const text = await Deno.readTextFile(new URL(path!, ROOT));
    assertEquals(text.trimEnd().split("\n").length, Number(n), path);
  }
});

Deno.test("README: every repository path it names exists", async () => {
  const paths = new Set(
    [...README.matchAll(/`((?:examples|core|plugins|tests)\/[\w/.-]*)`/g)].map((m) => m[1]!),
  );
  for (const m of README.matchAll(/deno run [^\n`]*?((?:examples)\/\w+\.ts)/g)) paths.add(m[1]!);
  assert(paths.size > 5, [...paths].join(" "));
  for (const p of paths) {
    const stat = await Deno.stat(new URL(p, ROOT)).catch(() => undefined);
    assert(stat !== undefined, `README names ${p}, which does not exist`);
  }
});

Deno.test("README: the flags and names it gives boot.ts are in boot.ts --help", async () => {
  const para = /`deno run examples\/boot\.ts` needs no permission flag\.[\s\S]*?\n\n/.exec(README);
  if (!para) throw new Error("the boot.ts flags paragraph was not found");
  const help = (await runExample("examples/boot.ts", ["--help"])).stdout;
  for (const flag of new Set(para[0].match(/--[a-z][a-z-]*/g))) {
    if (flag === "--allow-read") continue;
    assert(help.includes(flag), `README gives boot.ts ${flag}; --help does not list it`);
  }
  const names = /`--allocator NAME\|PATH` \(([^)]*)\)/.exec(para[0]);
  if (!names) throw new Error("the allocator names were not found");
  for (const [, name] of names[1]!.matchAll(/`([\w.-]+)`/g)) {
    assert(help.includes(name!), `README names allocator ${name}; --help does not`);
  }
});

Deno.test("README and every --help cite nothing outside the repository", async () => {
  const helps = await Promise.all(
    ["boot.ts", "compare.ts", "check_sequence.ts", "oracle.ts"].map(async (s) =>
      (await runExample(`examples/${s}`, ["--help"])).stdout
    ),
  );
  for (const [what, text] of [["README.md", README], ...helps.map((h, i) => [`--help ${i}`, h])]) {
    // Every document named is one the repository has (a user has nothing else).
    for (const [doc] of text!.matchAll(/[\w./-]+\.md\b/g)) {
      const found = await Deno.stat(doc).then(() => true, () => false);
      assert(found, `${what} cites ${doc}, which is not in the repository`);
    }
    // Nor numbered test cases of a plan the repository does not hold ("T4").
    assert(!/\bT\d{1,2}\b/.test(text!), `${what} cites a test case by number`);
  }
});
