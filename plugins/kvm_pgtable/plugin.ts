/**
 * The kvm_pgtable plugin: provides `KVM_PGTABLE` with v5.13 or mainline
 * semantics.
 *
 * @module
 */

import {
  KVM_PGTABLE,
  type KvmPgtableFactory,
  type KvmPgtableInitOptions,
  type KvmPgtableVersion,
  type KvmStage2InitOptions,
  type Plugin,
  type Trace,
} from "../../core/mod.ts";
import { type HypPgtable, hypPgtableInit } from "./hyp_pgtable.ts";
import { type Stage2Pgtable, stage2PgtableInit } from "./stage2.ts";

/** Options of {@link kvmPgtable} and {@link kvmPgtableFactory}. */
export interface KvmPgtableOptions {
  /**
   * Whose semantics to follow: v5.13 (remap WARNs and keeps, no refcounts, no
   * unmap) or mainline (refcounted tables, unmap, software bits).
   * @default "v5.13"
   */
  version?: KvmPgtableVersion;
  /**
   * Whether the kernel runs with BTI (mainline sets GP on executable leaves).
   * @default false
   */
  bti?: boolean;
  /**
   * Trace for `map`/`unmap` events and WARN logs (recorded only when
   * `trace.wants()` the kind). The plugin defaults to the machine's trace.
   */
  trace?: Trace;
}

/** A {@link KvmPgtableFactory} whose tables are {@link HypPgtable}s. */
export interface HypPgtableFactory extends KvmPgtableFactory {
  /**
   * `kvm_pgtable_hyp_init`.
   * @param options Address bits, mm_ops, memory, name, trace, TLBI hook.
   * @returns The table, or -ENOMEM / -EINVAL.
   */
  hypInit(options: KvmPgtableInitOptions): HypPgtable | number;
  /**
   * A host stage-2 table over an allocated pgd.
   * @param options Geometry, pgd, mm_ops, memory, LPA2.
   * @returns The table.
   */
  stage2Init(options: KvmStage2InitOptions): Stage2Pgtable;
}

/**
 * The `KVM_PGTABLE` provider value without a machine (tests, tools).
 *
 * @param options Version, BTI, trace.
 * @returns The factory.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kvmPgtableFactory } from "./plugin.ts";
 * import { PAGE_HYP, PhysicalMemory } from "../../core/mod.ts";
 *
 * const memory = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * let next = 0x4000_0000;
 * const mmOps = {
 *   zallocPage: () => (next += 4096) - 4096,
 *   physToVirt: (pa: number) => pa,
 *   virtToPhys: (va: number) => va,
 * };
 * const pgt = kvmPgtableFactory({ version: "mainline" }).hypInit({ iaBits: 48, mmOps, memory });
 * if (typeof pgt === "number") throw new Error("no pgd");
 * assertEquals(pgt.map(0x4020_0000, 0x20_0000, 0x4020_0000, PAGE_HYP), 0);
 * assertEquals(pgt.maplets(), [{ va: 0x4020_0000, pa: 0x4020_0000, size: 0x20_0000, prot: PAGE_HYP }]);
 * assertEquals(pgt.getLeaf(0x4020_0000), { pte: 0x0040_0000_4020_0741n, level: 2 });
 * ```
 */
export function kvmPgtableFactory(options: KvmPgtableOptions = {}): HypPgtableFactory {
  const version = options.version ?? "v5.13";
  const settings = options.trace === undefined
    ? { version, bti: options.bti ?? false }
    : { version, bti: options.bti ?? false, trace: options.trace };
  return {
    name: `kvm_pgtable-${version}`,
    version,
    hypInit: (init) => hypPgtableInit(settings, init),
    stage2Init: (init) => stage2PgtableInit(version, init),
  };
}

/**
 * The kvm_pgtable plugin: provides `KVM_PGTABLE` (hyp stage-1 tables in
 * simulated memory, with `kvm_pgtable_hyp_map`/`_unmap`/`_destroy`,
 * `kvm_pgtable_walk`, `kvm_pgtable_get_leaf`, a ptdump-like dump and maplets).
 *
 * @param options Version (`v5.13` default, or `mainline`), BTI, trace.
 * @returns The plugin.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, KVM_PGTABLE } from "../../core/mod.ts";
 * import { kvmPgtable } from "./plugin.ts";
 * const m = createMachine({ plugins: [kvmPgtable({ version: "mainline" })] });
 * assertEquals(m.get(KVM_PGTABLE).version, "mainline");
 * ```
 */
export function kvmPgtable(options: KvmPgtableOptions = {}): Plugin {
  return {
    name: "kvm_pgtable",
    provides: [KVM_PGTABLE],
    setup(ctx) {
      const trace = options.trace ?? ctx.machine.trace;
      ctx.provide(KVM_PGTABLE, kvmPgtableFactory({ ...options, trace }));
    },
  };
}
