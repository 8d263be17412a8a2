import { assertEquals } from "@std/assert";
import { runExample } from "../_example_cli.ts";

Deno.test("README's 'Comparing variants' output is what the command shown prints (wall times aside)", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const m = readme.match(
    /```\n\$ deno run (--allow-read) examples\/compare\.ts ([^\n]*?) \\\n\s+([^\n]*)\n([\s\S]*?)```/,
  );
  if (!m) throw new Error("README.md: the compare example block was not found");
  const args = `${m[2]} ${m[3]}`.trim().split(/\s+/);
  const r = await runExample("examples/compare.ts", args, [m[1]!]);
  assertEquals(r.code, 0);
  const strip = (s: string) =>
    s.trimEnd().split("\n").filter((l) => !l.startsWith("  wall time (ms)"));
  assertEquals(strip(m[4]!), strip(r.stdout));
});
