/**
 * The page builders without a browser: escaping (a property over random
 * text), the log-scaled axis (a property over random address sets), and
 * each page's elements against the objects it was drawn from.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  bootHtml,
  type BootReport,
  compareVariants,
  comparisonHtml,
  createMachine,
  diffObserved,
  escapeHtml,
  logScale,
  oracleDiffHtml,
  parseObservation,
  PKVM,
  predict,
  Prng,
  spacedIndexes,
} from "../../../mod.ts";
import { profile } from "../../../plugins/profiles/mod.ts";
import { editedObservation, OBSERVATION } from "../../_browser/fixtures.ts";

function unescape(s: string): string {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(
    /&#39;/g,
    "'",
  )
    .replace(/&amp;/g, "&");
}

Deno.test("escapeHtml: no markup survives and the text comes back, over 5000 random strings", () => {
  const prng = new Prng(16);
  const alphabet = [
    "<",
    ">",
    "&",
    '"',
    "'",
    "a",
    " ",
    "/",
    "=",
    "é",
    "\n",
    "&amp;",
    "<script>",
    "]]>",
  ];
  for (let i = 0; i < 5000; i++) {
    const s = Array.from({ length: prng.int(24) }, () => prng.pick(alphabet)).join("");
    const e = escapeHtml(s);
    assert(!/[<>"']/.test(e), `raw markup in ${JSON.stringify(e)}`);
    assert(!/&(?!(amp|lt|gt|quot|#39);)/.test(e), `a bare & in ${JSON.stringify(e)}`);
    assertEquals(unescape(e), s);
  }
});

Deno.test("logScale: monotone, exact at the ends, every item at least its minimum, over 3000 random axes", () => {
  const prng = new Prng(48);
  for (let t = 0; t < 3000; t++) {
    const top = 2 ** (30 + prng.int(23));
    const bounds = [0, top];
    const items = [];
    for (let k = prng.int(20); k > 0; k--) {
      const start = prng.int(top / 4096) * 4096;
      const end = Math.min(top, start + 4096 * (1 + prng.int(2 ** prng.int(20))));
      bounds.push(start, end);
      items.push({ start, end });
    }
    const width = 100 + prng.int(2000);
    const minItem = 1 + prng.int(4);
    const s = logScale(bounds, width, items, minItem);
    assertEquals([s.x(0), s.x(top)], [0, width]);
    const xs = s.boundaries.map((b) => s.x(b));
    for (let i = 1; i < xs.length; i++) {
      assert(xs[i]! > xs[i - 1]!, "strictly increasing at boundaries");
    }
    // Total log units, to turn the minimum into user units.
    let total = 0;
    for (let i = 1; i < s.boundaries.length; i++) {
      const bytes = s.boundaries[i]! - s.boundaries[i - 1]!;
      const inItem = items.some((it) =>
        it.start < s.boundaries[i]! && it.end > s.boundaries[i - 1]!
      );
      total += Math.max(Math.max(1, Math.log2(bytes) - 11), inItem ? minItem : 0);
    }
    for (const it of items) {
      if (it.end <= it.start) continue;
      assert(s.x(it.end) - s.x(it.start) >= (minItem * width) / total - 1e-9, "item too thin");
    }
    const probe = prng.int(top);
    assert(s.x(probe) >= 0 && s.x(probe) <= width);
  }
});

Deno.test("spacedIndexes: kept labels are at least the gap apart, over 3000 random lists", () => {
  const prng = new Prng(11);
  for (let t = 0; t < 3000; t++) {
    const xs = Array.from({ length: 1 + prng.int(40) }, () => prng.int(1000)).sort((a, b) => a - b);
    const gap = 1 + prng.int(60);
    const kept = spacedIndexes(xs, gap);
    assertEquals(kept[0], 0);
    for (let i = 1; i < kept.length; i++) assert(xs[kept[i]!]! - xs[kept[i - 1]!]! >= gap);
  }
});

function count(page: string, re: RegExp): number {
  return page.match(re)?.length ?? 0;
}

function boot(name: "v5.13" | "v6.1", overrides = {}): BootReport {
  return createMachine({ cpus: 4, plugins: profile(name, overrides) }).get(PKVM).boot();
}

Deno.test("boot page: one element per maplet, run, hypercall, order, each finding in its line's row", () => {
  const r = boot("v5.13", { switch: "v3" });
  const page = bootHtml(r);
  assertEquals(count(page, /<rect class="maplet /g), r.pgtable.mappings.length);
  r.pgtable.mappings.forEach((m) =>
    assertStringIncludes(page, `data-va="${m.va}" data-size="${m.size}"`)
  );
  assertEquals(count(page, /<rect class="run" /g), r.pgtable.tree.runs.length);
  assertEquals(count(page, /<rect class="hvc" /g), r.hypercalls.length);
  const orders = Object.values(r.pools).reduce((s, p) => s + p.free_by_order.length, 0);
  assertEquals(count(page, /<rect class="order-bar" /g), orders);
  assertEquals(
    count(page, /<tr data-line="/g),
    r.switch.source.replace(/\n$/, "").split("\n").length,
  );
  assert(r.switch.findings.length >= 3);
  for (const f of r.switch.findings) {
    const row = new RegExp(`<tr data-line="${f.line}"[^>]*>.*?</tr>`, "s").exec(page)?.[0] ?? "";
    assertStringIncludes(row, `data-finding="${f.rule}" data-line="${f.line}"`);
  }
  assertEquals(count(page, /<rect class="reserved" /g), r.memblock.reserved.length);
  assertEquals(
    count(page, /<rect class="term" /g),
    r.reserve.layout.filter((t) => t.pages > 0).length,
  );
  // Self-contained: no URL outside the page, no script.
  assert(!/<script|<link|<img|@import|https?:\/\//i.test(page));
});

Deno.test("boot page: every text from the report is escaped", () => {
  const r = structuredClone(boot("v6.1"));
  const evil = `<script>alert("x")</script><img src=x onerror=alert(1)>`;
  r.pgtable.mappings[0]!.what = evil;
  r.switch.source = `${evil}\n${r.switch.source}`;
  r.notes.push(evil);
  r.hypercalls[0]!.name = evil;
  r.memblock.reserved[0]!.what = evil;
  r.steps[0]!.detail = evil;
  r.profile = evil;
  r.pools[evil] = r.pools.hpool!;
  const page = bootHtml(r);
  assert(!page.includes("<script"), "a script tag got through");
  assert(!page.includes("<img"), "an img tag got through");
  assertStringIncludes(page, "&lt;script&gt;");
});

Deno.test("boot page of a failed boot: the failure, and no picture of what never existed", () => {
  const r = createMachine({
    ram: [{ base: 0x4000_0000, size: 24 * 2 ** 20 }],
    cpus: 1,
    plugins: profile("v5.13"),
  })
    .get(PKVM).boot();
  assertEquals(r.failure?.step, 1);
  const page = bootHtml(r);
  assertStringIncludes(page, "boot failed");
  assertStringIncludes(page, "Failed to reserve hyp memory");
  assertEquals(count(page, /<rect class="maplet /g), 0);
});

Deno.test("comparison page: each variant's maplets, the differing metrics and maplets marked", () => {
  const c = compareVariants({ cpus: 2 }, [
    { label: "buddy", profile: "v5.13", overrides: {}, choices: {} },
    { label: "bitmap", profile: "v5.13", overrides: { allocator: "bitmap" }, choices: {} },
    { label: "v3", profile: "v5.13", overrides: { switch: "v3" }, choices: {} },
  ]);
  const page = comparisonHtml(c, { timing: false });
  const columns = page.split('<div class="variant" data-variant="').slice(1);
  const va = columns.slice(0, 3);
  c.runs.forEach((run, i) => {
    assertEquals(count(va[i]!, /<rect class="maplet /g), run.maplets.length, run.label);
  });
  const names = [...new Set(c.runs.flatMap((r) => Object.keys(r.metrics)))];
  const differing = names.filter((n) => c.runs.some((r) => r.metrics[n] !== c.runs[0]!.metrics[n]));
  assertEquals(count(page, /<tr data-metric="[^"]*" class="diff">/g), differing.length);
  for (const n of differing) assertStringIncludes(page, `data-metric="${n}" class="diff"`);
  // Maplets only in a later variant are marked in its column.
  c.diffs.forEach((d, k) => {
    assertEquals(count(va[k + 1]!, /data-only="1"/g), d.mapletsOnlyB.length, d.b);
  });
  assert(!page.includes("wall time"));
});

Deno.test("oracle page: every difference highlighted under its path, nothing else", async () => {
  const text = editedObservation(await Deno.readTextFile(OBSERVATION));
  const observation = parseObservation(text, "edited.json");
  const prediction = await predict(observation);
  const diff = diffObserved(observation.observed, prediction.observed);
  assertEquals(diff.agree, false);
  const page = oracleDiffHtml([{ file: "edited.json", observation, prediction, diff }]);
  const marked = new Set([...page.matchAll(/data-diff-path="([^"]*)"/g)].map((m) => m[1]!));
  assertEquals([...marked].sort(), diff.differences.map((d) => escapeHtml(d.path)).sort());
  for (const d of diff.differences) {
    for (const f of d.fields ?? []) assertStringIncludes(page, escapeHtml(f.field));
  }
  assertEquals(
    count(page, /<rect class="maplet /g),
    observation.observed.el2.mappings.length + prediction.observed.el2.mappings.length,
  );
});
