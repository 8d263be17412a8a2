/**
 * The pKVM capability: the nVHE protected-mode boot end to end (host side
 * at EL1, hypercalls, hyp side at EL2) and the JSON boot report whose shape
 * `examples/boot.ts --json` and `examples/compare.ts` rely on.
 *
 * Every address and 64-bit value in a report is a `0x` hex string; counts
 * are numbers; mappings are maximal merged ranges sorted by VA.
 *
 * @module
 */

import { type Capability, capability } from "../capability.ts";
import type { PagePool } from "./page_allocator.ts";

/** The kernel release (`v5.13`, `v6.1`, `v6.12`, `v7.2`, `mainline`) whose hypercall ids and semantics a pKVM variant follows. */
export type PkvmVersion = string;

/**
 * What a recorded `hvc #0` was: `hvc` a KVM host hypercall
 * (`kvm_call_hyp_nvhe`, x0 = `KVM_HOST_SMCCC_ID(id)`, served by
 * `__kvm_hyp_init` or `handle_host_hcall`), `stub` a hyp-stub call
 * (`HVC_SET_VECTORS`, `HVC_SOFT_RESTART`, `HVC_RESET_VECTORS`: x0 below
 * `HVC_STUB_HCALL_NR`, asm/virt.h). The two number their calls separately.
 */
export type HypercallKind = "hvc" | "stub";

/** A hypercall as the host saw it. */
export interface HypercallRecord {
  /** Kernel name (`__pkvm_init`, `__hyp_set_vectors`), or `unknown` for an id with no name. */
  name: string;
  /**
   * The call's number in its own space (see `kind`): for `hvc` the SMCCC
   * function number without `0xC6000000` (`__KVM_HOST_SMCCC_FUNC_*`), for
   * `stub` the hyp-stub call (`HVC_SET_VECTORS` = 0, `HVC_RESET_VECTORS` = 2, ...).
   */
  id: number;
  /** `hvc` (KVM host hypercall) or `stub` (hyp-stub call): tells the two id spaces apart. */
  kind: HypercallKind;
  /** CPU that issued it. */
  cpu: number;
  /** x1..x5 as issued. */
  args: string[];
  /** x0 on return: `0x0` success, `0xffffffffffffffff` NOT_SUPPORTED. */
  x0: string;
  /** x1 on return: the handler's result (an errno or ERR_PTR is a 64-bit two's complement). */
  x1: string;
  /** The result read as a kernel return (`0`, `-EINVAL`, an address, `NOT_SUPPORTED`). */
  result: string;
  /** Why the simulator answered as it did where the kernel has no check (guard) or a quirk. */
  note?: string;
  /**
   * The host function that issued it during the boot (`hyp_install_host_vector`,
   * `cpu_hyp_reset`, `vgic_v3_probe`, ...); absent for calls issued through the API.
   */
  caller?: string;
}

/** One pool's shape after `__pkvm_init_finalise`. */
export interface PoolReport {
  /** First PA of the range. */
  base: string;
  /** Pages managed. */
  pages: number;
  /** Pages reserved at init (the early allocator's, for `hpool`). */
  reserved: number;
  /** Free pages. */
  free: number;
  /** Free blocks per order (index = order). */
  free_by_order: number[];
  /** Allocator variant name. */
  allocator: string;
}

/** A mapping in maplet form. */
export interface MappingReport {
  /** First VA. */
  va: string;
  /** First PA. */
  pa: string;
  /** Size in bytes. */
  size: string;
  /** Kernel prot name (`PAGE_HYP`, `PAGE_HYP_EXEC`, `PAGE_HYP_RO`, `PAGE_HYP_DEVICE`) or hex. */
  prot: string;
  /** What the range is (`idmap`, `__hyp_text`, `pool`, `vmemmap`, `stack cpu0`, ...). */
  what?: string;
}

/** A memblock region in the report. */
export interface MemblockRegionReport {
  /** First PA. */
  base: string;
  /** Bytes. */
  size: string;
  /** `enum memblock_flags` bits when not `MEMBLOCK_NONE` (0x4 `MEMBLOCK_NOMAP`). */
  flags?: number;
  /**
   * What a reserved region holds: `kernel image`, `hyp pool
   * (kvm_hyp_reserve)`, `device tree blob`, `early allocations` (what the
   * kernel took from memblock before `kvm_hyp_reserve()`), several joined by
   * `, ` when memblock merged them. Absent for `memory` regions.
   */
  what?: string;
}

/**
 * One run of table pages of the hyp stage-1 tree: pages at one level, next
 * to each other in VA, whose entries lead to the same maplets. A tree of
 * thousands of table pages (a 1 TiB machine's pool mapped page by page)
 * comes out as a few runs.
 */
export interface TableRunReport {
  /** Lookup level of the table pages (the start level for the pgd). */
  level: number;
  /** First VA the first page's entries translate. */
  va: string;
  /** VA bytes the run's pages translate together (pages × 512 × the level's entry size). */
  span: string;
  /** Table pages in the run. */
  tables: number;
  /** Indexes into `pgtable.mappings` of the maplets the pages' entries lead to. */
  maplets: number[];
  /** Valid block descriptors in these pages. */
  blocks: number;
  /** Valid page descriptors in these pages (level 3). */
  pages: number;
}

/** The hyp stage-1 table tree, counted per level and in runs of table pages. */
export interface PgtableTreeReport {
  /** Start level (0 for 48-bit, 1 for 39-bit, -1 for 52-bit LPA2 input addresses). */
  start_level: number;
  /** Per level, from the start level down to 3. */
  levels: {
    /** Lookup level. */
    level: number;
    /** Table pages at this level. */
    tables: number;
    /** Valid block descriptors at this level. */
    blocks: number;
    /** Valid page descriptors at this level (level 3 only). */
    pages: number;
  }[];
  /** The table pages in VA order within each level, grouped into runs. */
  runs: TableRunReport[];
}

/** A barrier-rule finding of the switch sequence. */
export interface FindingReport {
  /** Rule id (`R1`...`R16`). */
  rule: string;
  /** `fail` or `warn`. */
  severity: "fail" | "warn";
  /** 1-based source line. */
  line: number;
  /** What could go wrong. */
  message: string;
}

/** One of the six boot steps. */
export interface StepReport {
  /** 1..6 (0 = firmware hand-over, 7 = after boot). */
  step: number;
  /** Short name. */
  name: string;
  /** Outcome. */
  status: "ok" | "fail" | "skipped";
  /** One line with the step's key figures, or the failure. */
  detail: string;
}

/** Post-boot verification. */
export interface VerifyReport {
  /** True when every check passed. */
  ok: boolean;
  /** Pages of expected mappings translated through the MMU. */
  checked_pages: number;
  /** Expected mappings that did not translate as expected (first few). */
  mismatches: string[];
  /** Mapped ranges nobody asked for (first few). */
  unexpected: string[];
  /** First buddy (pool) invariant violation, if any. */
  pool_invariants: string | null;
  /**
   * First page-table invariant violation, if any: table pages outside the
   * s1 region, hpool's reserved pages ≠ the table pages `pkvm_pgtable` had
   * when its mm_ops went to hpool (counted in the table), a
   * `pkvm_create_mappings` range not at level 3, (mainline) a table page
   * whose refcount is not 1 + its valid entries.
   */
  pgtable_invariants: string | null;
  /** TLB hits that differed from a walk of the tables in memory. */
  stale_translations: number;
  /** Host-only VAs probed after the switch (mapped by the host tables, not by the hyp's). */
  probed_old_vas: number;
}

/**
 * Why a post-boot verification failed, one line per reason, in the order of
 * the report's fields; empty when it passed. What `examples/boot.ts` prints
 * under `verify FAIL` and `compare.ts` under a failed run.
 *
 * @param v The verification.
 * @returns The reasons.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { verifyFailures } from "./pkvm.ts";
 * assertEquals(
 *   verifyFailures({
 *     ok: false,
 *     checked_pages: 88,
 *     mismatches: [],
 *     unexpected: [],
 *     pool_invariants: null,
 *     pgtable_invariants: "table page 0x13ea1e000 has refcount 2, expected 1 + 1 valid entries",
 *     stale_translations: 0,
 *     probed_old_vas: 0,
 *   }),
 *   ["page-table invariant: table page 0x13ea1e000 has refcount 2, expected 1 + 1 valid entries"],
 * );
 * ```
 */
export function verifyFailures(v: VerifyReport): string[] {
  const out = [...v.mismatches, ...v.unexpected];
  if (v.pool_invariants !== null) out.push(`pool invariant: ${v.pool_invariants}`);
  if (v.pgtable_invariants !== null) out.push(`page-table invariant: ${v.pgtable_invariants}`);
  if (v.stale_translations > 0) {
    out.push(
      `${v.stale_translations} stale TLB hit(s): the TLB served translations the tables in memory no longer give`,
    );
  }
  if (!v.ok && out.length === 0) out.push("not verified: the boot did not complete");
  return out;
}

/** The JSON boot report (contract of `examples/boot.ts --json`). */
export interface BootReport {
  /** Profile name (`v5.13`, `mainline`). */
  profile: string;
  /** True when all six steps succeeded and post-boot verification passed. */
  ok: boolean;
  /** Where and why the boot failed (absent on success). */
  failure?: { step: number; name: string; reason: string };
  /** The machine. */
  machine: {
    ram: { base: string; size: string }[];
    cpus: number;
    va_bits: number;
    seed: number;
    /** The CPU model (`cortex-a57`, `neoverse-n1`, `max`, or a user's). */
    cpu?: string;
    /** How the hypervisor runs: `nVHE`, or `hVHE` (HCR_EL2.E2H = 1) where the release picks it. */
    mode?: "nVHE" | "hVHE";
  };
  /** Provider plugin of each capability. */
  variants: Record<string, string>;
  /** The six steps. */
  steps: StepReport[];
  /**
   * memblock after `kvm_hyp_reserve()`: `memory` (RAM the kernel uses, cut
   * where the linear map ends) and `reserved`, each region labelled, the
   * hyp pool apart from any neighbour memblock merged it with.
   */
  memblock: { memory: MemblockRegionReport[]; reserved: MemblockRegionReport[] };
  /** `kvm_hyp_reserve()` result. */
  reserve: {
    base: string;
    size: string;
    align: string;
    pages: {
      hyp_s1: number;
      host_s2_mem: number;
      host_s2_dev: number;
      vmemmap: number;
      total: number;
    };
    /**
     * The terms `kvm_hyp_reserve()` sized the pool by, as the release names
     * them, in its order; they add up to `pages.total`.
     */
    terms: { name: string; pages: number }[];
    /** `divide_memory_pool` pieces, in carving order. */
    layout: { name: string; base: string; pages: number }[];
  };
  /** The hyp VA layout. */
  layout: {
    hyp_va_bits: number;
    hyp_physvirt_offset: string;
    io_map_base: string;
    hyp_vmemmap: string;
    idmap: string;
    /** Kernel image sections `[start, end)` (PA). */
    image: Record<string, string[]>;
  };
  /** Every hypercall issued, in order. */
  hypercalls: HypercallRecord[];
  /** Pools after finalise (`hpool`, `host_s2_mem`, `host_s2_dev`). */
  pools: Record<string, PoolReport>;
  /** The hyp's stage-1 table (`pkvm_pgtable`). */
  pgtable: {
    pgd: string;
    table_pages: number;
    /** Table pages taken from the early allocator, and from the buddy after finalise. */
    early_table_pages: number;
    mappings: MappingReport[];
    /** The tree: table pages per level, which maplets each run of them serves, block and page leaves. */
    tree: PgtableTreeReport;
  };
  /** The host-built EL2 table (steps 2 and 6). */
  host_pgtable: { pgd: string; table_pages: number; freed: boolean };
  /** The switch sequence run at step 5. */
  switch: {
    sequence: string;
    abi: string;
    verdict: "pass" | "warn" | "fail";
    findings: FindingReport[];
    /** Instructions executed. */
    executed: number;
    /** Where execution ended (the continuation's VA on success). */
    pc: string;
    /** The sequence's assembly text, whose 1-based lines the findings name. */
    source: string;
  };
  /** EL2 system registers of the boot CPU after the boot. */
  sysregs: Record<string, string>;
  /** TLB counters after the boot and verification. */
  tlb: {
    policy: string;
    hits: number;
    misses: number;
    fills: number;
    invalidated: number;
    stale: number;
  };
  /** Post-boot verification. */
  verify: VerifyReport;
  /** Things the simulation leaves out or answers differently from the kernel, said once. */
  notes: string[];
}

/** What `hypercall()` returns. */
export interface HypercallResult {
  /** x0 on return. */
  x0: bigint;
  /** x1 on return. */
  x1: bigint;
  /** The record added to the report. */
  record: HypercallRecord;
}

/** The boot and its hypercalls. */
export interface Pkvm {
  /** Variant name. */
  readonly name: string;
  /** Kernel version of ids and semantics. */
  readonly version: PkvmVersion;
  /**
   * Steps 0–2 only: firmware hand-over, carving, the host-built EL2 tables
   * and `__kvm_hyp_init` on the boot CPU, leaving the host about to issue
   * `__pkvm_init` (for tests that drive it by hand).
   * @returns The `__pkvm_init` arguments x1..x5, or null when a step failed.
   */
  prepare(): bigint[] | null;
  /**
   * Runs the boot, steps 0 to 7, then post-boot verification. A kernel-level
   * failure (no room to carve, -ENOMEM, a faulting switch sequence) gives a
   * report with `ok: false` and `failure`; it does not throw.
   * @returns The report.
   */
  boot(): BootReport;
  /**
   * Issues a hypercall from the host: `hvc #0` with x0 = `0xC6000000 | id`
   * and `args` in x1..x5 on `cpu` (at EL1), and reads x0/x1 back.
   * @param nameOrId Kernel name (`__pkvm_create_mappings`) or raw id.
   * @param args Up to five arguments.
   * @param cpu Issuing CPU (default 0).
   * @returns x0, x1 and the record.
   */
  hypercall(
    nameOrId: string | number,
    args?: readonly (bigint | number)[],
    cpu?: number,
  ): HypercallResult;
  /** Returns: The report of the boot so far (rebuilt on each call). */
  report(): BootReport;
  /**
   * A hyp pool after `__pkvm_init_finalise` (`hpool`, and the host stage-2
   * pools), for workloads that allocate as EL2 code would.
   * @param name Pool name.
   * @returns The pool, or undefined before finalise or for an unknown name.
   */
  pool(name: string): PagePool | undefined;
}

/**
 * The pKVM capability.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PKVM } from "./pkvm.ts";
 * assertEquals(PKVM.name, "pkvm");
 * ```
 */
export const PKVM: Capability<Pkvm> = capability<Pkvm>(
  "pkvm",
  "the protected-mode boot: host side, hypercalls, hyp side",
  {
    name: "string",
    version: "string",
    prepare: "function",
    boot: "function",
    hypercall: "function",
    report: "function",
    pool: "function",
  },
);
