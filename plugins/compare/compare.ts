/**
 * Comparing variant runs: {@link compareVariants} runs them, {@link diffRuns}
 * says how two differ (metrics side by side with the difference, maplets and
 * findings only one side has).
 *
 * @module
 */

import type { FindingReport, MappingReport } from "../../core/mod.ts";
import { type RunOptions, runVariant, type Scenario, type VariantRun } from "./run.ts";
import type { Variant } from "./variant_spec.ts";

/** One metric on both sides. */
export interface MetricDiff {
  /** Metric name. */
  name: string;
  /** Value on side a (undefined when absent). */
  a: number | string | undefined;
  /** Value on side b. */
  b: number | string | undefined;
  /** b − a when both are numbers. */
  delta?: number;
  /** Whether the values differ. */
  differs: boolean;
}

/** How two runs differ. */
export interface RunDiff {
  /** Label of side a. */
  a: string;
  /** Label of side b. */
  b: string;
  /** Every metric of either side, in first-seen order. */
  metrics: MetricDiff[];
  /** Maplets only side a has. */
  mapletsOnlyA: MappingReport[];
  /** Maplets only side b has. */
  mapletsOnlyB: MappingReport[];
  /** Findings (by rule and severity) only side a has. */
  findingsOnlyA: FindingReport[];
  /** Findings (by rule and severity) only side b has. */
  findingsOnlyB: FindingReport[];
}

/** Several runs of one scenario and how each differs from the first. */
export interface Comparison {
  /** The scenario. */
  scenario: Scenario;
  /** One run per variant set, in the order given. */
  runs: VariantRun[];
  /** `diffRuns(runs[0], runs[i])` for i ≥ 1. */
  diffs: RunDiff[];
}

/**
 * The union of the runs' metric names, each run's order kept: a name only
 * some runs have goes just before the next name of its run that is already
 * placed (a release's own reserve terms sit among the reserve rows, not at
 * the end), or at the end when none follows.
 *
 * @param lists Metric names of each run, in order.
 * @returns The merged order.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mergeMetricNames } from "./compare.ts";
 * assertEquals(
 *   mergeMetricNames([["total", "host_s2_mem", "host_s2_dev", "size"], ["total", "host_s2", "ffa_proxy", "size"]]),
 *   ["total", "host_s2_mem", "host_s2_dev", "host_s2", "ffa_proxy", "size"],
 * );
 * ```
 */
export function mergeMetricNames(lists: readonly (readonly string[])[]): string[] {
  const names: string[] = [];
  for (const list of lists) {
    // New names wait for the next name already placed and go just before
    // it; those after the run's last shared name go at the end.
    let pending: string[] = [];
    for (const k of list) {
      const i = names.indexOf(k);
      if (i < 0) {
        pending.push(k);
        continue;
      }
      names.splice(i, 0, ...pending);
      pending = [];
    }
    names.push(...pending);
  }
  return names;
}

/**
 * How two runs differ.
 *
 * @param a First run (the baseline).
 * @param b Second run.
 * @returns The diff.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { diffRuns } from "./compare.ts";
 * import type { VariantRun } from "./run.ts";
 * const run = (label: string, pages: number) =>
 *   ({ label, metrics: { pages }, maplets: [], findings: [] }) as unknown as VariantRun;
 * const d = diffRuns(run("a", 10), run("b", 12));
 * assertEquals(d.metrics, [{ name: "pages", a: 10, b: 12, delta: 2, differs: true }]);
 * ```
 */
export function diffRuns(a: VariantRun, b: VariantRun): RunDiff {
  const names = mergeMetricNames([Object.keys(a.metrics), Object.keys(b.metrics)]);
  const metrics = names.map((name): MetricDiff => {
    const x = a.metrics[name];
    const y = b.metrics[name];
    const d: MetricDiff = { name, a: x, b: y, differs: x !== y };
    if (typeof x === "number" && typeof y === "number") d.delta = y - x;
    return d;
  });
  const mkey = (m: MappingReport) => `${m.va} ${m.pa} ${m.size} ${m.prot}`;
  const fkey = (f: FindingReport) => `${f.rule} ${f.severity}`;
  const ma = new Set(a.maplets.map(mkey));
  const mb = new Set(b.maplets.map(mkey));
  const fa = new Set(a.findings.map(fkey));
  const fb = new Set(b.findings.map(fkey));
  return {
    a: a.label,
    b: b.label,
    metrics,
    mapletsOnlyA: a.maplets.filter((m) => !mb.has(mkey(m))),
    mapletsOnlyB: b.maplets.filter((m) => !ma.has(mkey(m))),
    findingsOnlyA: a.findings.filter((f) => !fb.has(fkey(f))),
    findingsOnlyB: b.findings.filter((f) => !fa.has(fkey(f))),
  };
}

/**
 * Runs a scenario under each variant set, with the same seed, and diffs
 * every run against the first.
 *
 * @param scenario Machine and workload.
 * @param variants Variant sets (labels must be unique).
 * @param options Progress callback.
 * @returns The comparison.
 * @throws {RangeError} No variant, or a repeated label.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { compareVariants } from "./compare.ts";
 * const c = compareVariants({ cpus: 1 }, [
 *   { label: "mainline", profile: "v5.13", overrides: { switch: "mainline" }, choices: {} },
 *   { label: "v3", profile: "v5.13", overrides: { switch: "v3" }, choices: { switch: "v3" } },
 * ]);
 * assertEquals(c.runs.map((r) => r.metrics["switch.verdict"]), ["pass", "fail"]);
 * ```
 */
export function compareVariants(
  scenario: Scenario,
  variants: readonly Variant[],
  options: RunOptions = {},
): Comparison {
  if (variants.length === 0) throw new RangeError("Cannot compare: no variant given");
  const labels = new Set<string>();
  for (const v of variants) {
    if (labels.has(v.label)) {
      throw new RangeError(`Cannot compare: label "${v.label}" is used twice`);
    }
    labels.add(v.label);
  }
  const runs = variants.map((v) => runVariant(scenario, v, options));
  return { scenario, runs, diffs: runs.slice(1).map((r) => diffRuns(runs[0]!, r)) };
}
