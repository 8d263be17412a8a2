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
}

/** The host's memblock: `memblock.memory` and `memblock.reserved`. */
export interface Memblock {
  /** RAM regions, sorted by base. */
  memory: MemblockRegion[];
  /** Reserved regions (kernel image, user reservations, the hyp pool once carved). */
  reserved: MemblockRegion[];
}

/** One term of the pool, in `divide_memory_pool` carving order. */
export interface PoolTerm {
  /** Kernel name of the term (`vmemmap`, `hyp_s1`, `host_s2_mem`, ...). */
  name: string;
  /** Pages. */
  pages: number;
}

/** The result of `kvm_hyp_reserve()`. */
export interface HypReservation {
  /** True when a pool was reserved. */
  ok: boolean;
  /** `hyp_mem_base` (0 when nothing was reserved). */
  base: number;
  /** `hyp_mem_size` (after any 2 MiB round-up). */
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
  /** Every term in `divide_memory_pool` order (mainline has extra terms). */
  layout: PoolTerm[];
  /** Number of memblock.memory regions copied to `hyp_memory[]`. */
  nrRegions: number;
  /** Why nothing was reserved, in the kernel's words. */
  reason?: string;
}

/** A `kvm_hyp_reserve` variant (v5.13 or mainline formulas). */
export interface ReservedMem {
  /** Variant name. */
  readonly name: string;
  /** Kernel version whose formulas it follows. */
  readonly version: "v5.13" | "mainline";
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
   * The pool terms for a set of `hyp_memory[]` regions, as the hyp side
   * recomputes them in `divide_memory_pool`.
   * @param regions `hyp_memory[]`.
   * @returns Terms in carving order.
   */
  poolLayout(regions: readonly MemblockRegion[]): PoolTerm[];
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
);
