/**
 * Running one scenario under several variant sets with the same seed, and
 * collecting what each did: boot result and hypercalls, sizing, pools,
 * allocator metrics, TLB counters, switch findings, maplets, wall time.
 *
 * @module
 */

import {
  A64_EXECUTOR,
  type AllocatorMetrics,
  allocatorMetrics,
  type BootReport,
  createMachine,
  DEFAULT_RAM,
  type FindingReport,
  type Machine,
  type MappingReport,
  PKVM,
  Prng,
  type RamBank,
  SWITCH_SEQUENCE,
  verifyFailures,
} from "../../core/mod.ts";
import { profile } from "../profiles/mod.ts";
import type { Variant } from "./variant_spec.ts";
import { VariantError } from "./variant_error.ts";
import {
  type Progress,
  runChurn,
  runMapWorkload,
  type Workload,
  type WorkloadResult,
} from "./workloads.ts";

/** The machine and workload every variant runs. */
export interface Scenario {
  /**
   * RAM banks.
   * @default one 4 GiB bank at 0x40000000
   */
  ram?: readonly RamBank[];
  /**
   * CPUs.
   * @default 4
   */
  cpus?: number;
  /**
   * Kernel VA bits (39 or 48).
   * @default 48
   */
  vaBits?: number;
  /**
   * Seed for the machine and the workload.
   * @default 1
   */
  seed?: number;
  /**
   * What to run after the boot.
   * @default { kind: "boot" }
   */
  workload?: Workload;
}

export { VariantError } from "./variant_error.ts";

/** What one variant set did. */
export interface VariantRun {
  /** Column label. */
  label: string;
  /** Choices as given. */
  choices: Record<string, string>;
  /** Provider of each capability. */
  variants: Record<string, string>;
  /** Boot (and post-boot verification) succeeded. */
  ok: boolean;
  /**
   * Why the run is not ok: where the boot failed (`step N (name): reason`),
   * or, for a boot that completed but failed its verification,
   * `verify: reason; reason`.
   */
  failure?: string;
  /**
   * Flat metrics, for the table; numbers where they are numbers. `hpool.*`
   * are the pool's own counters since its creation (`hpool.frees` counts
   * pages returned to the free lists); `churn.*` / `map.*`
   * count the workload's operations (`churn.frees` is one per free call,
   * whatever the block's order).
   */
  metrics: Record<string, number | string>;
  /** `hpool` metrics after the workload (null if the boot failed before finalise). */
  allocator: AllocatorMetrics | null;
  /** Switch-sequence findings. */
  findings: FindingReport[];
  /** The hyp stage-1 mappings after the workload. */
  maplets: MappingReport[];
  /** The workload's result. */
  workload: WorkloadResult;
  /** The full boot report (taken after the workload). */
  report: BootReport;
  /** Wall time of boot plus workload, in milliseconds (not deterministic). */
  wallMs: number;
}

/** Options of {@link runVariant} and {@link compareVariants}. */
export interface RunOptions {
  /** Progress of long workloads (called with the variant label). */
  progress?: (label: string, done: number, total: number) => void;
}

/**
 * The random stream a workload (churn, map) draws from: its own generator,
 * seeded from the scenario seed only, so it is the same for every variant
 * whatever the plugins drew from the machine's PRNG during setup and boot.
 *
 * @param seed The scenario seed.
 * @returns A fresh generator.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { workloadPrng } from "./run.ts";
 * assertEquals(workloadPrng(7).nextU32(), workloadPrng(7).nextU32());
 * ```
 */
export function workloadPrng(seed: number): Prng {
  return new Prng(seed);
}

/**
 * Boots one variant set on the scenario and runs the workload.
 *
 * @param scenario Machine and workload.
 * @param variant The variant set.
 * @param options Progress callback.
 * @returns What it did.
 * @throws {VariantError} The variant cannot run: its plugins do not form a
 *   machine, or its switch sequence cannot be read.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { runVariant } from "./run.ts";
 * const run = runVariant({ cpus: 1 }, { label: "v5.13", profile: "v5.13", overrides: {}, choices: {} });
 * assertEquals([run.ok, run.metrics["reserve.total_pages"]], [true, 5199]);
 * ```
 */
export function runVariant(
  scenario: Scenario,
  variant: Variant,
  options: RunOptions = {},
): VariantRun {
  const seed = scenario.seed ?? 1;
  const start = performance.now();
  const overrides = { ...variant.overrides };
  if (scenario.vaBits !== undefined) {
    overrides.pkvm = { ...(overrides.pkvm ?? {}), vaBits: scenario.vaBits };
  }
  let machine: Machine;
  try {
    machine = createMachine({
      ram: scenario.ram ?? DEFAULT_RAM,
      cpus: scenario.cpus ?? 4,
      seed,
      plugins: profile(variant.profile, overrides),
    });
  } catch (e) {
    throw new VariantError(variant.label, e);
  }
  machine.trace.enabled = false;
  // A sequence that does not parse is bad input, as for examples/boot.ts,
  // not a boot that fails at step 5.
  const seq = machine.get(SWITCH_SEQUENCE);
  try {
    machine.get(A64_EXECUTOR).check(seq.source);
  } catch (e) {
    throw new VariantError(variant.label, e, seq.name);
  }
  const pkvm = machine.get(PKVM);
  let report = pkvm.boot();
  const workload = scenario.workload ?? { kind: "boot" };
  const progress: Progress | undefined = options.progress
    ? (d, t) => options.progress!(variant.label, d, t)
    : undefined;
  let result: WorkloadResult = { kind: workload.kind, ops: 0, counts: {}, samples: [] };
  // The pool's metrics are there once the boot completed, even when its
  // verification failed; the workload runs on a boot whose tables and pools
  // verified: stale TLB entries alone (6.1's switch sequence under the
  // adversarial TLB) leave the pool and the hypercalls sound.
  const v = report.verify;
  const sound = report.failure === undefined && v.mismatches.length === 0 &&
    v.pool_invariants === null && v.pgtable_invariants === null;
  const hpool = report.failure === undefined
    ? pkvm.pool(workload.kind === "churn" ? workload.pool ?? "hpool" : "hpool")
    : undefined;
  if (sound && workload.kind === "churn") {
    if (hpool === undefined) {
      throw new RangeError(`Cannot churn pool "${workload.pool}": no such pool`);
    }
    const o: { maxOrder?: number; samples?: number; progress?: Progress } = {};
    if (workload.maxOrder !== undefined) o.maxOrder = workload.maxOrder;
    if (workload.samples !== undefined) o.samples = workload.samples;
    if (progress) o.progress = progress;
    result = runChurn(hpool, workload.ops, workloadPrng(seed), o);
    report = pkvm.report();
  } else if (sound && workload.kind === "map") {
    result = runMapWorkload(pkvm, workload.ops, workloadPrng(seed), machine.memory.banks, progress);
    report = pkvm.report();
  }
  const allocator = hpool ? allocatorMetrics(hpool.stats()) : null;
  const wallMs = performance.now() - start;
  const run: VariantRun = {
    label: variant.label,
    choices: variant.choices,
    variants: report.variants,
    ok: report.ok,
    metrics: flatMetrics(report, allocator, result),
    allocator,
    findings: report.switch.findings,
    maplets: report.pgtable.mappings,
    workload: result,
    report,
    wallMs,
  };
  if (report.failure) {
    run.failure = `step ${report.failure.step} (${report.failure.name}): ${report.failure.reason}`;
  } else if (!report.ok) {
    run.failure = `verify: ${verifyFailures(report.verify).join("; ")}`;
  }
  return run;
}

function flatMetrics(
  r: BootReport,
  a: AllocatorMetrics | null,
  w: WorkloadResult,
): Record<string, number | string> {
  const m: Record<string, number | string> = {
    // The boot's own outcome; a completed boot whose verification failed is
    // "ok" here and "fail" in the verify row.
    "boot": r.failure ? `fail at step ${r.failure.step}` : "ok",
    "reserve.total_pages": r.reserve.pages.total,
    // The release's own kvm_hyp_reserve() terms, in its order (v5.13's
    // host_s2_mem/host_s2_dev, later releases' single host_s2, vm_table
    // and ffa_proxy): they add up to total_pages.
    ...Object.fromEntries(r.reserve.terms.map((t) => [`reserve.${t.name}`, t.pages])),
    "reserve.size": r.reserve.size,
    "pgtable.table_pages": r.pgtable.table_pages,
    "pgtable.early_table_pages": r.pgtable.early_table_pages,
    "pgtable.maplets": r.pgtable.mappings.length,
    "switch.sequence": r.switch.sequence,
    "switch.verdict": r.switch.verdict,
    "switch.findings": r.switch.findings.length,
    "switch.rules": [...new Set(r.switch.findings.map((f) => f.rule))].join(" ") || "-",
    "switch.executed": r.switch.executed,
    "tlb.hits": r.tlb.hits,
    "tlb.misses": r.tlb.misses,
    "tlb.fills": r.tlb.fills,
    "tlb.invalidated": r.tlb.invalidated,
    // From the tables in force before the switch: entries still usable when
    // SCTLR_EL2.M may be 1 (R4), and entries left after the sequence (what
    // walks from the old TTBR0_EL2 filled, R3), leaf and walk-cache both.
    ...(r.switch.hazard === undefined ? {} : {
      "tlb.survivors": r.switch.hazard.reduce((n, h) => n + h.at_enable.tlb + h.at_enable.walk, 0),
      "tlb.outlived": r.switch.hazard.reduce((n, h) => n + h.outlived.tlb + h.outlived.walk, 0),
    }),
    "tlb.stale": r.tlb.stale,
    "verify": r.verify.ok ? "ok" : "fail",
    "hypercalls": r.hypercalls.length,
    "hypercalls.failed":
      r.hypercalls.filter((h) => h.result !== "0" && !h.result.startsWith("0x")).length,
  };
  if (a) {
    m["hpool.pages"] = a.nrPages;
    m["hpool.free"] = a.free;
    m["hpool.largest_free_order"] = a.largestFreeOrder;
    m["hpool.free_blocks_by_order"] = a.freeBlocksByOrder.join(" ");
    m["hpool.unusable_index[3]"] = a.unusableIndex[3] ?? 1000;
    m["hpool.extfrag_index[3]"] = a.extfragIndex[3] ?? 0;
    m["hpool.metadata_bytes_per_page"] = a.metadataBytesPerPage;
    m["hpool.allocs"] = a.ops.allocs;
    m["hpool.failed_allocs"] = a.ops.failedAllocs;
    m["hpool.frees"] = a.ops.frees;
  }
  for (const [k, v] of Object.entries(w.counts)) m[`${w.kind}.${k}`] = v;
  return m;
}
