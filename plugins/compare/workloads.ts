/**
 * Workloads run after the boot: `churn` (seeded alloc/free on `hpool` at
 * mixed orders) and `map` (seeded `__pkvm_create_mappings` and private
 * mappings through real hypercalls).
 *
 * @module
 */

import {
  allocatorMetrics,
  kvmPgtableProt,
  PAGE_SIZE,
  type PagePool,
  type Pkvm,
  Prng,
} from "../../core/mod.ts";
import { release } from "../releases/mod.ts";

/** A workload: what to run after the boot. */
export type Workload =
  | { kind: "boot" }
  | { kind: "churn"; ops: number; maxOrder?: number; pool?: string; samples?: number }
  | { kind: "map"; ops: number };

/** Fragmentation of the pool at one point of a churn. */
export interface ChurnSample {
  /** Operations done so far. */
  op: number;
  /** Free pages. */
  free: number;
  /** Blocks held by the workload. */
  held: number;
  /** Highest order with a free block. */
  largestFreeOrder: number;
  /** `unusable_index` for order 3, in thousandths. */
  unusable3: number;
  /** `extfrag_index` for order 3, in thousandths. */
  extfrag3: number;
}

/** What a workload reports. */
export interface WorkloadResult {
  /** Workload kind. */
  kind: Workload["kind"];
  /** Operations run. */
  ops: number;
  /** Counters of operations (allocs, failed allocs, free calls; or hypercall outcomes). */
  counts: Record<string, number>;
  /** Samples over time (churn). */
  samples: ChurnSample[];
}

/**
 * Called with progress, so a CLI can show it: about every half percent of a
 * workload's operations (at least every {@link PROGRESS_STEPS}th), and once
 * with `done === total` at the end.
 */
export type Progress = (done: number, total: number) => void;

/** How many progress calls a workload makes, at most, besides the last. */
export const PROGRESS_STEPS = 200;

function sample(pool: PagePool, op: number, held: number): ChurnSample {
  const m = allocatorMetrics(pool.stats());
  return {
    op,
    free: m.free,
    held,
    largestFreeOrder: m.largestFreeOrder,
    unusable3: m.unusableIndex[3] ?? 1000,
    extfrag3: m.extfragIndex[3] ?? 0,
  };
}

/**
 * Seeded churn: allocate at orders 0..maxOrder (smaller orders more often)
 * and free a random held block, steering occupancy toward half the pool.
 *
 * @param pool The pool (`hpool` after boot).
 * @param ops Number of operations.
 * @param prng Seeded PRNG.
 * @param options Highest order, number of samples, progress callback.
 * @returns Counts and samples.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, PKVM, Prng } from "../../core/mod.ts";
 * import { profile } from "../profiles/mod.ts";
 * import { runChurn } from "./workloads.ts";
 * const m = createMachine({ cpus: 1, plugins: profile("v5.13") });
 * const pkvm = m.get(PKVM);
 * pkvm.boot();
 * const r = runChurn(pkvm.pool("hpool")!, 1000, new Prng(1));
 * assertEquals(r.ops, 1000);
 * ```
 */
export function runChurn(
  pool: PagePool,
  ops: number,
  prng: Prng,
  options: { maxOrder?: number; samples?: number; progress?: Progress } = {},
): WorkloadResult {
  const maxOrder = options.maxOrder ?? 3;
  const nSamples = options.samples ?? 10;
  const every = Math.max(1, Math.floor(ops / nSamples));
  const tick = Math.max(1, Math.floor(ops / PROGRESS_STEPS));
  const target = pool.stats().free / 2;
  const held: number[] = [];
  const heldPages: number[] = [];
  let inUse = 0;
  const counts = { allocs: 0, failed_allocs: 0, frees: 0 };
  const samples: ChurnSample[] = [sample(pool, 0, 0)];
  for (let i = 1; i <= ops; i++) {
    const alloc = held.length === 0 || (inUse < target ? prng.int(4) !== 0 : prng.int(4) === 0);
    if (alloc) {
      // Orders 0..maxOrder with weights 8:4:2:1 (halving per order).
      let order = 0;
      while (order < maxOrder && prng.int(2) === 0) order++;
      const va = pool.allocPages(order);
      if (va === null) counts.failed_allocs++;
      else {
        counts.allocs++;
        held.push(va);
        heldPages.push(2 ** order);
        inUse += 2 ** order;
      }
    } else {
      const k = prng.int(held.length);
      const va = held[k]!;
      inUse -= heldPages[k]!;
      held[k] = held[held.length - 1]!;
      heldPages[k] = heldPages[heldPages.length - 1]!;
      held.pop();
      heldPages.pop();
      pool.putPage(va);
      counts.frees++;
    }
    if (i % every === 0) samples.push(sample(pool, i, held.length));
    if (i % tick === 0 || i === ops) options.progress?.(i, ops);
  }
  return { kind: "churn", ops, counts, samples };
}

/**
 * Seeded mapping workload through real hypercalls: `__pkvm_create_mappings`
 * (v5.13; removed in mainline) of random linear ranges of the pool and
 * `__pkvm_create_private_mapping` of random RAM pages, with a random
 * PAGE_HYP, PAGE_HYP_RO or PAGE_HYP_EXEC in the profile's own prot encoding
 * (mainline's `enum kvm_pgtable_prot` differs from v5.13's since v6.19).
 * Counts every outcome by kernel return (`0`, `-EINVAL`, `-ENOMEM`, ...).
 *
 * @param pkvm The booted pKVM.
 * @param ops Number of hypercalls.
 * @param prng Seeded PRNG.
 * @param ram RAM banks to pick physical pages from.
 * @param progress Progress callback.
 * @returns Counts of outcomes per hypercall.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, PKVM, Prng } from "../../core/mod.ts";
 * import { profile } from "../profiles/mod.ts";
 * import { runMapWorkload } from "./workloads.ts";
 * const m = createMachine({ cpus: 1, plugins: profile("v5.13") });
 * const pkvm = m.get(PKVM);
 * pkvm.boot();
 * const r = runMapWorkload(pkvm, 20, new Prng(1), m.memory.banks);
 * assertEquals(r.ops, 20);
 * ```
 */
export function runMapWorkload(
  pkvm: Pkvm,
  ops: number,
  prng: Prng,
  ram: readonly { base: number; size: number }[],
  progress?: Progress,
): WorkloadResult {
  const counts: Record<string, number> = {};
  // The host writes its own kernel's enum kvm_pgtable_prot into the register.
  const enc = kvmPgtableProt(release(pkvm.version).pgtable.prot);
  const prots = [enc.PAGE_HYP, enc.PAGE_HYP_RO, enc.PAGE_HYP_EXEC];
  const report = pkvm.report();
  const offset = BigInt(report.layout.hyp_physvirt_offset);
  // v5.13 has __pkvm_create_mappings; later releases map privately only.
  const hasCreateMappings =
    release(pkvm.version).hypercalls.ids.__pkvm_create_mappings !== undefined;
  const tick = Math.max(1, Math.floor(ops / PROGRESS_STEPS));
  for (let i = 1; i <= ops; i++) {
    const bank = ram[prng.int(ram.length)]!;
    const pages = 1 + prng.int(16);
    const pa = bank.base + prng.int(Math.max(1, bank.size / PAGE_SIZE - pages)) * PAGE_SIZE;
    const prot = prots[prng.int(prots.length)]!;
    let name: string;
    let args: bigint[];
    if (hasCreateMappings && prng.int(2) === 0) {
      // A linear-map range: VA = PA - hyp_physvirt_offset.
      const va = BigInt.asUintN(64, BigInt(pa) - offset);
      name = "__pkvm_create_mappings";
      args = [va, BigInt(pages * PAGE_SIZE), BigInt(pa), BigInt(prot)];
    } else {
      name = "__pkvm_create_private_mapping";
      args = [BigInt(pa), BigInt(pages * PAGE_SIZE), BigInt(prot)];
    }
    const r = pkvm.hypercall(name, args);
    const outcome = r.record.result.startsWith("0x") ? "addr" : r.record.result;
    const key = `${name}:${outcome}`;
    counts[key] = (counts[key] ?? 0) + 1;
    if (i % tick === 0 || i === ops) progress?.(i, ops);
  }
  return { kind: "map", ops, counts, samples: [] };
}
