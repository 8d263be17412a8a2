/**
 * The page of a comparison: `examples/compare.ts --html FILE`. The metrics
 * table (rows that differ marked), then each panel with the variants side
 * by side, what differs from the first variant highlighted: maplets and
 * findings only one side has, pool orders whose free count differs.
 *
 * @module
 */

import { formatSize, hex, type MappingReport } from "../../core/mod.ts";
import type { Comparison, RenderOptions } from "../compare/mod.ts";
import { hypercallPanel, switchPanel } from "./boot_panels.ts";
import { esc, htmlPage, table } from "./html.ts";
import { memoryPanel, poolsPanel } from "./memory_panel.ts";
import { legend, MEMORY_FILLS, OUTCOME_FILLS, patternDefs, PROT_FILLS } from "./svg.ts";
import { treePanel, vaPanel } from "./va_panel.ts";

/** Width of each variant's pictures (four columns fit a 1280 px window). */
const COLUMN = 290;

const mkey = (m: MappingReport) => `${m.va} ${m.pa} ${m.size} ${m.prot}`;

function cell(v: number | string | undefined, name: string): string {
  if (v === undefined) return "-";
  if (typeof v === "number" && name === "reserve.size") return hex(v);
  return String(v);
}

/**
 * The metrics table: one row per metric, one column per variant (and Δ for
 * two), the rows whose values differ marked `≠` and shaded.
 *
 * @param c The comparison.
 * @param options `timing: false` leaves out the wall-time row.
 * @returns HTML.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { compareVariants } from "../compare/mod.ts";
 * import { metricsTable } from "./compare_page.ts";
 * const c = compareVariants({ cpus: 1 }, [
 *   { label: "v5.13", profile: "v5.13", overrides: {}, choices: {} },
 *   { label: "v3", profile: "v5.13", overrides: { switch: "v3" }, choices: {} },
 * ]);
 * assertStringIncludes(metricsTable(c), '<tr data-metric="switch.rules" class="diff">');
 * ```
 */
export function metricsTable(c: Comparison, options: RenderOptions = {}): string {
  const runs = c.runs;
  const two = runs.length === 2 ? c.diffs[0] : undefined;
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))];
  const rows = names.map((name) => {
    const vals = runs.map((r) => r.metrics[name]);
    const differs = vals.some((v) => v !== vals[0]);
    const cells = [`<code>${esc(name)}</code>`, ...vals.map((v) => esc(cell(v, name)))];
    if (two) {
      const d = two.metrics.find((m) => m.name === name)?.delta;
      cells.push(d === undefined || d === 0 ? "" : esc(`${d > 0 ? "+" : ""}${d}`));
    }
    return { cells, attrs: `data-metric="${esc(name)}"${differs ? ' class="diff"' : ""}` };
  });
  if (options.timing ?? true) {
    rows.push({
      cells: ["wall time (ms)", ...runs.map((r) => r.wallMs.toFixed(0)), ...(two ? [""] : [])],
      attrs: "",
    });
  }
  const header = ["metric", ...runs.map((r) => r.label), ...(two ? ["Δ"] : [])];
  const numeric = runs.map((_, i) => i + 1).concat(two ? [runs.length + 1] : []);
  return table(header, rows, numeric);
}

/**
 * The self-contained HTML page of a comparison.
 *
 * @param c The comparison (`compareVariants`, what `--json` prints through `comparisonJson`).
 * @param options `timing: false` leaves out wall times.
 * @returns The page.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { compareVariants } from "../compare/mod.ts";
 * import { comparisonHtml } from "./compare_page.ts";
 * const c = compareVariants({ cpus: 1 }, [
 *   { label: "buddy", profile: "v5.13", overrides: {}, choices: {} },
 *   { label: "bitmap", profile: "v5.13", overrides: { allocator: "bitmap" }, choices: {} },
 * ]);
 * assertStringIncludes(comparisonHtml(c), 'data-metric="hpool.metadata_bytes_per_page" class="diff"');
 * ```
 */
export function comparisonHtml(c: Comparison, options: RenderOptions = {}): string {
  const runs = c.runs;
  const base = runs[0]!;
  const baseKeys = new Set(base.maplets.map(mkey));
  const keysOf = runs.map((r) => new Set(r.maplets.map(mkey)));
  const s = c.scenario;
  const ram = (s.ram ?? [{ base: 0x4000_0000, size: 2 ** 32 }]).map((b) =>
    `${formatSize(b.size)} at ${hex(b.base)}`
  )
    .join(", ");
  const workload = s.workload ?? { kind: "boot" };
  const subtitle = `RAM ${ram} · ${s.cpus ?? 4} CPUs · VA_BITS ${s.vaBits ?? 48} · seed ${
    s.seed ?? 1
  } · workload ${workload.kind}${
    "ops" in workload ? ` (${workload.ops} operations)` : ""
  } · baseline: ${base.label}`;
  const columns = (title: string, id: string, body: (i: number) => string, note = "") =>
    `<section class="panel" id="${id}"><h2>${esc(title)}</h2>${note}<div class="cols">${
      runs.map((r, i) =>
        `<div class="variant" data-variant="${esc(r.label)}"><h3>${esc(r.label)}${
          r.ok ? "" : ' <span class="badge fail">failed</span>'
        }</h3>${body(i)}</div>`
      ).join("")
    }</div></section>`;
  const failures = runs.filter((r) => r.failure).map((r) =>
    `<li class="diff"><b>${esc(r.label)}</b>: ${esc(r.failure!)}</li>`
  );
  const body = [
    `<section class="panel" id="metrics"><h2>Metrics</h2>
<p class="note">≠ and shading: the variants do not all agree on the row.</p>
${metricsTable(c, options)}
${failures.length ? `<ul>${failures.join("")}</ul>` : ""}</section>`,
    columns(
      "Hyp VA space",
      "va",
      (i) =>
        vaPanel(runs[i]!.report, COLUMN, {
          compact: true,
          mark: (m) => {
            const k = mkey(m);
            if (i > 0 && !baseKeys.has(k)) return { attrs: 'data-only="1"', mark: "≠" };
            if (i === 0 && keysOf.some((keys) => !keys.has(k))) {
              return { attrs: 'data-only="1"', mark: "≠" };
            }
            return undefined;
          },
        }),
      `${
        legend(Object.values(PROT_FILLS))
      }<p class="note">≠ under a maplet (and an outline): the first variant has it and another has not, or the other way round. Hover for exact values.</p>`,
    ),
    columns(
      "Physical memory and the hyp pool",
      "memory",
      (i) => memoryPanel(runs[i]!.report, COLUMN, true),
      legend(Object.values(MEMORY_FILLS)),
    ),
    columns(
      "Stage-1 table tree",
      "tree",
      (i) => treePanel(runs[i]!.report, COLUMN, true),
      legend([
        OUTCOME_FILLS.pages!,
        OUTCOME_FILLS.blocks!,
        OUTCOME_FILLS.tables!,
      ]),
    ),
    columns(
      "Pool free areas by order",
      "pools",
      (i) => poolsPanel(runs[i]!.report, COLUMN, i === 0 ? undefined : base.report.pools),
    ),
    columns(
      "Switch sequence",
      "switch",
      (i) => {
        const d = i === 0 ? undefined : c.diffs[i - 1];
        return switchPanel(runs[i]!.report, d?.findingsOnlyB ?? []);
      },
      `<p class="note">A finding outlined in the second and later columns is one the first variant does not have (by rule and severity).</p>`,
    ),
    columns(
      "Hypercalls per CPU",
      "hypercalls",
      (i) => hypercallPanel(runs[i]!.report, COLUMN, true),
      legend([OUTCOME_FILLS.ok!, OUTCOME_FILLS.err!]),
    ),
  ].join("\n");
  return htmlPage(
    { title: `hyplab comparison: ${runs.map((r) => r.label).join(" · ")}`, subtitle, body },
    patternDefs(),
  );
}
