/**
 * A 1 TiB machine's page stays small: drawn in aggregate (a run of table
 * pages is one box, a pool's free lists one bar per order), never an
 * element per page. The target is at most 2 MiB of HTML.
 */

import { assert, assertEquals } from "@std/assert";
import { runExample } from "../../_example_cli.ts";

Deno.test("boot.ts --ram 0x40000000:1024G --html: at most 2 MiB, no element per page", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyplab-html-1t-" });
  try {
    const file = `${dir}/boot.html`;
    const r = await runExample(
      "examples/boot.ts",
      // The optimistic TLB: 6.1's switch hazard under the adversarial one
      // would fail the verification (exit 1), which is not what this is about.
      ["--ram", "0x40000000:1024G", "--tlb", "optimistic", "--json", "--html", file],
      ["--allow-read", "--allow-write"],
    );
    assertEquals(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    const html = await Deno.readTextFile(file);
    const bytes = new TextEncoder().encode(html).length;
    assert(bytes <= 2 * 2 ** 20, `${bytes} bytes of HTML for 1 TiB`);
    // Over a million pool pages and thousands of table pages...
    assert(report.pools.hpool.pages > 500_000);
    assert(report.pgtable.table_pages > 2000);
    // ...drawn as a few hundred elements.
    const rects = html.match(/<rect /g)?.length ?? 0;
    assert(rects < 1000, `${rects} rectangles`);
    assertEquals(html.match(/<rect class="maplet /g)?.length, report.pgtable.mappings.length);
    assertEquals(html.match(/<rect class="run" /g)?.length, report.pgtable.tree.runs.length);
    assert(report.pgtable.tree.runs.length < 100);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
