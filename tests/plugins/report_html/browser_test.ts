/**
 * The pages in a real browser: headless Chromium (Debian's `chromium`)
 * driven over the DevTools protocol opens the page of a boot, a comparison
 * and an oracle diff, each written by its CLI with `--html` beside the
 * `--json` it prints, and checks the page against that JSON: no console
 * error or exception, one maplet element per maplet, every finding visible
 * at its line, every highlighted difference one the diff has (and every
 * difference highlighted), nothing wider than a 1280 px window, on screen
 * or printed. Screenshots go to a temporary directory, named on stdout.
 *
 * Without Chromium (and where `.ci/run` could not install it) the test is
 * skipped with a notice, never passed silently.
 */

import { assert, assertEquals } from "@std/assert";
import type { BootReport, FindingReport, MappingReport } from "../../../mod.ts";
import { runExample } from "../../_example_cli.ts";
import { Browser, findChromium, type Page } from "../../_browser/cdp.ts";
import { editedObservation, OBSERVATION } from "../../_browser/fixtures.ts";

const CHROMIUM = findChromium();
if (CHROMIUM === undefined) {
  console.warn(
    "SKIPPED browser_test.ts: no chromium that runs (apt-get install -y chromium as root; .ci/run installs it; or set HYPLAB_CHROMIUM)",
  );
}

const RW = ["--allow-read", "--allow-write"];
const PNG = [0x89, 0x50, 0x4e, 0x47];

/** Opens a page at 1280 px and checks what every page must be. */
async function open(browser: Browser, file: string, shots: string, name: string): Promise<Page> {
  const page = await browser.newPage(1280, 900);
  await page.goto(`file://${file}`);
  const width = await page.eval<number>("document.documentElement.scrollWidth");
  assert(width <= 1280, `${name}: ${width} px wide, more than a 1280 px window`);
  // No element may point outside the page.
  const external = await page.eval<string[]>(
    `[...document.querySelectorAll("[src],[href],link,script")].map((e) => e.outerHTML.slice(0, 80))
      .filter((h) => !/href="#/.test(h))`,
  );
  assertEquals(external, [], `${name}: references outside the page`);
  const png = await page.screenshot();
  assertEquals([...png.slice(0, 4)], PNG);
  await Deno.writeFile(`${shots}/${name}.png`, png);
  // Printed: the print style sheet applies and nothing is wider than the
  // window (printToPDF itself takes most of a minute on a busy machine).
  await page.media("print");
  const printed = await page.eval<{ w: number; svgs: number }>(
    `({ w: document.documentElement.scrollWidth,
        svgs: [...document.querySelectorAll("main svg")].filter((s) => s.getBoundingClientRect().width === 0).length })`,
  );
  assert(printed.w <= 1280, `${name}: ${printed.w} px wide when printed`);
  assertEquals(printed.svgs, 0, `${name}: pictures hidden when printed`);
  await page.media("screen");
  return page;
}

function noProblems(page: Page, name: string): void {
  assertEquals(page.problems, [], `${name}: console errors or exceptions`);
}

/** Every finding is in its line's row, visible, with its message. */
async function checkFindings(page: Page, scope: string, findings: readonly FindingReport[]) {
  const seen = await page.eval<{ rule: string; line: number; visible: boolean; text: string }[]>(
    `[...document.querySelectorAll(${JSON.stringify(`${scope} [data-finding]`)})].map((e) => ({
      rule: e.dataset.finding, line: Number(e.closest("tr").dataset.line),
      visible: e.checkVisibility() && e.getBoundingClientRect().height > 0, text: e.textContent }))`,
  );
  assertEquals(seen.length, findings.length, `${scope}: findings shown`);
  for (const f of findings) {
    const s = seen.find((x) =>
      x.rule === f.rule && x.line === f.line && x.text.includes(f.message)
    );
    assert(s !== undefined, `${scope}: ${f.rule} not at line ${f.line}`);
    assert(s?.visible, `${scope}: ${f.rule} at line ${f.line} is not visible`);
  }
}

/** The maplet elements of a scope, in document order: VA and hover text. */
function maplets(page: Page, selector: string) {
  return page.eval<{ va: string; size: string; title: string; w: number; only: boolean }[]>(
    `[...document.querySelectorAll(${JSON.stringify(selector)})].map((e) => ({
      va: e.dataset.va, size: e.dataset.size, title: e.querySelector("title")?.textContent ?? "",
      w: e.getBoundingClientRect().width, only: e.hasAttribute("data-only") }))`,
  );
}

function checkMaplets(
  seen: { va: string; size: string; title: string; w: number }[],
  maps: readonly MappingReport[],
  what: string,
): void {
  assertEquals(
    seen.map((m) => [m.va, m.size]),
    maps.map((m) => [m.va, m.size]),
    `${what}: maplets`,
  );
  seen.forEach((m, i) => {
    assert(m.w > 0, `${what}: maplet ${m.va} has no width`);
    assert(m.title.includes(`VA ${maps[i]!.va}`) && m.title.includes(`PA ${maps[i]!.pa}`), m.title);
  });
}

Deno.test({
  name: "the boot, comparison and oracle diff pages in headless Chromium",
  ignore: CHROMIUM === undefined,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "hyplab-pages-" });
    const shots = await Deno.makeTempDir({ prefix: "hyplab-screenshots-" });
    const browser = await Browser.launch(CHROMIUM!);
    try {
      await t.step("boot page: every maplet, run, hypercall and finding", async () => {
        const file = `${dir}/boot.html`;
        const r = await runExample(
          "examples/boot.ts",
          ["--switch", "v3", "--json", "--html", file],
          RW,
        );
        assertEquals(r.code, 0, r.stderr);
        const report = JSON.parse(r.stdout) as BootReport;
        const page = await open(browser, file, shots, "boot");
        checkMaplets(await maplets(page, "#va rect.maplet"), report.pgtable.mappings, "boot");
        assert(report.switch.findings.length >= 3);
        await checkFindings(page, "#switch", report.switch.findings);
        const counts = await page.eval<number[]>(
          `["#tree rect.run", "#hypercalls rect.hvc", "#pools rect.order-bar", "#memory rect.reserved"]
            .map((s) => document.querySelectorAll(s).length)`,
        );
        assertEquals(counts, [
          report.pgtable.tree.runs.length,
          report.hypercalls.length,
          Object.values(report.pools).reduce((s, p) => s + p.free_by_order.length, 0),
          report.memblock.reserved.length,
        ]);
        noProblems(page, "boot");
      });

      await t.step("comparison page: side by side, differences marked", async () => {
        const file = `${dir}/compare.html`;
        const r = await runExample("examples/compare.ts", [
          "--cpus",
          "2",
          "--variant",
          "buddy:allocator=buddy",
          "--variant",
          "bitmap:allocator=bitmap",
          "--variant",
          "v3:switch=v3",
          "--json",
          "--no-timing",
          "--html",
          file,
        ], RW);
        assertEquals(r.code, 0, r.stderr);
        const c = JSON.parse(r.stdout) as {
          runs: {
            label: string;
            metrics: Record<string, unknown>;
            maplets: MappingReport[];
            findings: FindingReport[];
          }[];
          diffs: { mapletsOnlyB: MappingReport[]; findingsOnlyB: FindingReport[] }[];
        };
        const page = await open(browser, file, shots, "compare");
        for (const [i, run] of c.runs.entries()) {
          const scope = `#va .variant[data-variant="${run.label}"]`;
          const seen = await maplets(page, `${scope} rect.maplet`);
          checkMaplets(seen, run.maplets, run.label);
          if (i > 0) {
            const only = seen.filter((m) => m.only).map((m) => m.va);
            assertEquals(
              only,
              c.diffs[i - 1]!.mapletsOnlyB.map((m) => m.va),
              `${run.label}: marked maplets`,
            );
          }
          await checkFindings(page, `#switch .variant[data-variant="${run.label}"]`, run.findings);
          const onlyFindings = await page.eval<number>(
            `document.querySelectorAll('#switch .variant[data-variant="${run.label}"] .finding[data-only]').length`,
          );
          assertEquals(onlyFindings, i === 0 ? 0 : c.diffs[i - 1]!.findingsOnlyB.length);
        }
        const names = [...new Set(c.runs.flatMap((r) => Object.keys(r.metrics)))];
        const differing = names.filter((n) =>
          c.runs.some((r) => r.metrics[n] !== c.runs[0]!.metrics[n])
        );
        const marked = await page.eval<string[]>(
          `[...document.querySelectorAll("#metrics tr.diff[data-metric]")].map((e) => e.dataset.metric)`,
        );
        assertEquals(marked, differing);
        noProblems(page, "compare");
      });

      await t.step(
        "oracle diff page: each difference highlighted by name, nothing else",
        async () => {
          const edited = `${dir}/edited.json`;
          await Deno.writeTextFile(edited, editedObservation(await Deno.readTextFile(OBSERVATION)));
          const file = `${dir}/oracle.html`;
          const r = await runExample("examples/oracle.ts", [
            "diff",
            edited,
            OBSERVATION,
            "--json",
            "--html",
            file,
          ], RW);
          assertEquals(r.code, 1, r.stderr);
          const d = JSON.parse(r.stdout) as {
            files: { file: string; differences: { path: string }[] }[];
          };
          const page = await open(browser, file, shots, "oracle_diff");
          for (const f of d.files) {
            const scope = `section.oracle[data-file=${JSON.stringify(f.file)}]`;
            const marked = await page.eval<{ path: string; visible: boolean }[]>(
              `[...document.querySelectorAll(${
                JSON.stringify(`${scope} [data-diff-path]`)
              })].map((e) => ({
              path: e.dataset.diffPath, visible: e.getBoundingClientRect().width > 0 }))`,
            );
            const paths = new Set(f.differences.map((x) => x.path));
            for (const m of marked) {
              assert(paths.has(m.path), `${f.file}: ${m.path} highlighted but not in the diff`);
              assert(m.visible, `${f.file}: ${m.path} highlighted but not visible`);
            }
            assertEquals(
              new Set(marked.map((m) => m.path)),
              paths,
              `${f.file}: every difference highlighted`,
            );
            const obs = JSON.parse(await Deno.readTextFile(f.file));
            const real = await page.eval<number>(
              `document.querySelectorAll(${
                JSON.stringify(`${scope} rect.maplet[data-row="real kernel"]`)
              }).length`,
            );
            assertEquals(
              real,
              obs.observed.el2.mappings.length,
              `${f.file}: one element per real maplet`,
            );
          }
          assertEquals(d.files[0]!.differences.length, 5);
          assertEquals(d.files[1]!.differences.length, 0);
          noProblems(page, "oracle");
        },
      );
      console.log(`screenshots: ${shots}`);
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
