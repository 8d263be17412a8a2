/**
 * Rendering a comparison: an aligned text table (default), Markdown, or a
 * JSON-ready object.
 *
 * @module
 */

import { hex } from "../../core/mod.ts";
import { type Comparison, mergeMetricNames } from "./compare.ts";

/** Output style of {@link formatComparison}. */
export type TableStyle = "text" | "markdown";

/** Options of {@link formatComparison} and {@link comparisonJson}. */
export interface RenderOptions {
  /**
   * Include each run's wall time (the table's `wall time (ms)` row, the JSON
   * `wall_ms`): the only value that differs between two identical runs.
   * @default true
   */
  timing?: boolean;
}

function cell(v: number | string | undefined, name: string): string {
  if (v === undefined) return "-";
  if (typeof v === "number" && name === "reserve.size") return hex(v);
  return String(v);
}

/**
 * Renders a comparison: metrics as rows, variants as columns (with a Δ column
 * when there are two), then findings and maplet differences.
 *
 * @param c The comparison.
 * @param style `text` (aligned, default) or `markdown`.
 * @param options `timing: false` leaves out the wall-time row.
 * @returns The rendering.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { compareVariants } from "./compare.ts";
 * import { formatComparison } from "./table.ts";
 * const c = compareVariants({ cpus: 1 }, [
 *   { label: "buddy", profile: "v5.13", overrides: {}, choices: {} },
 *   { label: "bitmap", profile: "v5.13", overrides: { allocator: "bitmap" }, choices: {} },
 * ]);
 * assertStringIncludes(formatComparison(c), "hpool.metadata_bytes_per_page");
 * ```
 */
export function formatComparison(
  c: Comparison,
  style: TableStyle = "text",
  options: RenderOptions = {},
): string {
  const runs = c.runs;
  const two = runs.length === 2 ? c.diffs[0]! : undefined;
  const names = mergeMetricNames(runs.map((r) => Object.keys(r.metrics)));
  const header = ["metric", ...runs.map((r) => r.label), ...(two ? ["Δ"] : [])];
  const rows = names.map((name) => {
    const vals = runs.map((r) => r.metrics[name]);
    const differs = vals.some((v) => v !== vals[0]);
    const row = [`${differs ? "* " : "  "}${name}`, ...vals.map((v) => cell(v, name))];
    if (two) {
      const d = two.metrics.find((m) => m.name === name)?.delta;
      row.push(d === undefined || d === 0 ? "" : `${d > 0 ? "+" : ""}${d}`);
    }
    return row;
  });
  if (options.timing ?? true) {
    rows.push([
      "  wall time (ms)",
      ...runs.map((r) => r.wallMs.toFixed(0)),
      ...(two ? [""] : []),
    ]);
  }
  const out: string[] = [];
  if (style === "markdown") {
    out.push(`| ${header.join(" | ")} |`);
    out.push(`|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`);
    for (const r of rows) out.push(`| ${r.map((x, i) => (i === 0 ? x.trim() : x)).join(" | ")} |`);
  } else {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) =>
      r.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ")
        .trimEnd();
    out.push(line(header));
    out.push(widths.map((w) => "-".repeat(w)).join("  "));
    for (const r of rows) out.push(line(r));
    out.push("(* = differs between variants)");
  }
  out.push("");
  for (const r of runs) {
    if (r.failure) {
      out.push(
        r.report.failure
          ? `${r.label}: boot failed at ${r.failure}`
          : `${r.label}: verification failed: ${r.failure.replace(/^verify: /, "")}`,
      );
    }
    if (r.findings.length === 0) {
      out.push(`${r.label}: switch sequence "${r.metrics["switch.sequence"]}" has no findings`);
    }
    for (const f of r.findings) {
      out.push(`${r.label}: ${f.rule} ${f.severity} line ${f.line}: ${f.message}`);
    }
  }
  for (const d of c.diffs) {
    if (d.mapletsOnlyA.length || d.mapletsOnlyB.length) {
      out.push(
        `maplets, ${d.a} vs ${d.b}: ${d.mapletsOnlyA.length} only in ${d.a}, ${d.mapletsOnlyB.length} only in ${d.b}`,
      );
      for (const [label, ms] of [[d.a, d.mapletsOnlyA], [d.b, d.mapletsOnlyB]] as const) {
        for (const m of ms.slice(0, 3)) {
          out.push(
            `  ${label}: ${m.va} -> ${m.pa} +${m.size} ${m.prot}${m.what ? ` (${m.what})` : ""}`,
          );
        }
        if (ms.length > 3) out.push(`  ${label}: ... ${ms.length - 3} more`);
      }
    }
  }
  return out.join("\n");
}

/**
 * The comparison as one JSON-ready object: scenario, and per run its label,
 * choices, providers, metrics, allocator metrics, findings, workload result,
 * wall time; and the diffs. Maplets are included per run. For a given
 * scenario and variants it is the same on every run except `wall_ms`, which
 * `timing: false` leaves out.
 *
 * @param c The comparison.
 * @param options `timing: false` leaves out each run's `wall_ms`.
 * @returns A plain object.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { compareVariants } from "./compare.ts";
 * import { comparisonJson } from "./table.ts";
 * const c = compareVariants({ cpus: 1 }, [{ label: "a", profile: "v5.13", overrides: {}, choices: {} }]);
 * assertEquals((comparisonJson(c).runs as unknown[]).length, 1);
 * ```
 */
export function comparisonJson(
  c: Comparison,
  options: RenderOptions = {},
): Record<string, unknown> {
  return {
    scenario: {
      ram: (c.scenario.ram ?? [{ base: 0x4000_0000, size: 2 ** 32 }]).map((b) => ({
        base: hex(b.base),
        size: hex(b.size),
      })),
      cpus: c.scenario.cpus ?? 4,
      va_bits: c.scenario.vaBits ?? 48,
      seed: c.scenario.seed ?? 1,
      workload: c.scenario.workload ?? { kind: "boot" },
    },
    runs: c.runs.map((r) => ({
      label: r.label,
      choices: r.choices,
      variants: r.variants,
      ok: r.ok,
      ...(r.failure ? { failure: r.failure } : {}),
      metrics: r.metrics,
      allocator: r.allocator,
      findings: r.findings,
      workload: r.workload,
      maplets: r.maplets,
      ...(options.timing ?? true ? { wall_ms: Math.round(r.wallMs * 10) / 10 } : {}),
    })),
    diffs: c.diffs,
  };
}
