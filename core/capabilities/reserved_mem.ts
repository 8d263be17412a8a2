/**
 * The reserved-memory capability: the host's memblock view and
 * `kvm_hyp_reserve()` (sizing and carving the hyp pool).
 *
 * @module
 */

import { type Capability, capability } from "../capability.ts";
import type { Trace } from "../trace.ts";

/** A memblock region `[base, base + size)`. */
export interface MemblockRegion {
  /** First byte. */
  base: number;
  /** Size in bytes. */
  size: number;
  /**
   * `enum memblock_flags` bits (`MEMBLOCK_NOMAP` 0x4, `MEMBLOCK_RSRV_KERN`
   * 0x20, ...); absent means `MEMBLOCK_NONE`. Only regions with equal flags
   * merge.
   */
  flags?: number;
}

/** The host's memblock: `memblock.memory` and `memblock.reserved`. */
export interface Memblock {
  /** RAM regions, sorted by base. */
  memory: MemblockRegion[];
  /** Reserved regions (kernel image, user reservations, the hyp pool once carved). */
  reserved: MemblockRegion[];
}

/**
 * One term of the pool, in `divide_memory_pool` carving order.
 *
 * Names are the same in both profiles where the kernel's term is the same:
 * v5.13 `vmemmap`, `hyp_s1`, `host_s2_mem`, `host_s2_dev`; mainline
 * `selftest`, `vmemmap`, `vm_table`, `hyp_s1`, `host_s2`, `ffa_proxy`.
 */
export interface PoolTerm {
  /** Name of the term (`vmemmap`, `hyp_s1`, `host_s2_mem`, ...). */
  name: string;
  /** The kernel variable `divide_memory_pool` stores its base in (`hyp_pgt_base`, ...). */
  symbol: string;
  /** Pages. */
  pages: number;
  /** Offset from the start of the pool, in pages (the early allocator carves in order). */
  offset: number;
}

/** The result of `kvm_hyp_reserve()`. */
export interface HypReservation {
  /** True when a pool was reserved. */
  ok: boolean;
  /** `hyp_mem_base` (0 when nothing was reserved). */
  base: number;
  /**
   * `hyp_mem_size`: the pages in bytes, rounded up to 2 MiB when the
   * PMD-aligned try succeeded (0 when nothing was reserved).
   */
  size: number;
  /** Alignment that succeeded (2 MiB or 4 KiB), 0 on failure. */
  align: number;
  /** Page counts, per the contract of the boot report. */
  pages: {
    /** `hyp_s1_pgtable_pages()`. */
    hyp_s1: number;
    /** v5.13 `host_s2_mem_pgtable_pages()`; mainline `host_s2_pgtable_pages()`. */
    host_s2_mem: number;
    /** v5.13 `host_s2_dev_pgtable_pages()`; 0 in mainline (folded into host_s2_mem). */
    host_s2_dev: number;
    /** vmemmap pages. */
    vmemmap: number;
    /** The sum the pool is sized by. */
    total: number;
  };
  /**
   * Every term `kvm_hyp_reserve` added, in `divide_memory_pool` order
   * (mainline has extra terms). v5.13's vmemmap term here is the host's
   * fixed-point estimate; see {@link ReservedMem.poolLayout} for what EL2
   * carves.
   */
  layout: PoolTerm[];
  /** Number of memblock.memory regions copied to `hyp_memory[]` (0 after -ENOMEM). */
  nrRegions: number;
  /** `hyp_memory[]` as registered (v5.13 sorts it by base; mainline keeps memblock order). */
  regions: MemblockRegion[];
  /** Why nothing was reserved, in the kernel's words (absent on success). */
  reason?: string;
}

/** A `kvm_hyp_reserve` variant (v5.13 or mainline formulas). */
export interface ReservedMem {
  /** Variant name. */
  readonly name: string;
  /** Kernel version whose formulas it follows. */
  readonly version: string;
  /** `sizeof(struct hyp_page)` the vmemmap term assumes. */
  readonly hypPageBytes: number;
  /**
   * `kvm_hyp_reserve()`: sizes the pool from `memblock.memory`, carves it
   * top-down (2 MiB then 4 KiB alignment) avoiding `memblock.reserved`, and
   * adds it to `memblock.reserved`. On failure nothing changes.
   * @param memblock The host memblock (mutated on success).
   * @param trace Trace for the kernel's log lines.
   * @returns The reservation.
   */
  kvmHypReserve(memblock: Memblock, trace?: Trace): HypReservation;
  /**
   * The pool terms as the hyp side recomputes them in `divide_memory_pool`.
   * v5.13 sizes the vmemmap term from the pool range itself
   * (`hyp_vmemmap_range(__hyp_pa(virt), size)`), so the pool is needed;
   * mainline sizes every term from `hyp_memory[]`.
   * @param regions `hyp_memory[]`.
   * @param pool The pool `[hyp_mem_base, + hyp_mem_size)`.
   * @returns Terms in carving order.
   */
  poolLayout(regions: readonly MemblockRegion[], pool: MemblockRegion): PoolTerm[];
}

/**
 * The reserved-memory capability.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RESERVED_MEM } from "./reserved_mem.ts";
 * assertEquals(RESERVED_MEM.name, "reserved_mem");
 * ```
 */
export const RESERVED_MEM: Capability<ReservedMem> = capability<ReservedMem>(
  "reserved_mem",
  "memblock carving for the hyp pool (kvm_hyp_reserve)",
  {
    name: "string",
    version: "string",
    hypPageBytes: "number",
    kvmHypReserve: "function",
    poolLayout: "function",
  },
);
