/**
 * The early-allocator capability (`hyp_early_alloc_*`): a bump allocator of
 * zeroed pages over a hyp VA range, used before the buddy exists.
 *
 * @module
 */

import { type Capability, capability } from "../capability.ts";
import type { El2Memory } from "./el2_memory.ts";
import type { PgtableMmOps } from "./kvm_pgtable.ts";

/** A live early allocator (`base`, `cur`, `end`). */
export interface EarlyAllocator {
  /** First hyp VA. */
  readonly base: number;
  /** Next free hyp VA. */
  readonly cur: number;
  /** One past the last hyp VA. */
  readonly end: number;
  /**
   * `hyp_early_alloc_contig(nr_pages)`.
   * @param nrPages Pages wanted (`unsigned int`).
   * @returns Hyp VA of zeroed pages, or null (n == 0 or not enough room; state unchanged).
   */
  contig(nrPages: number): number | null;
  /** `hyp_early_alloc_page`. @returns Hyp VA or null. */
  page(): number | null;
  /** `hyp_early_alloc_nr_used_pages`. @returns Pages handed out. */
  nrUsedPages(): number;
  /** `hyp_early_alloc_mm_ops`. */
  readonly mmOps: PgtableMmOps;
}

/** Makes early allocators. */
export interface EarlyAllocatorFactory {
  /** Variant name. */
  readonly name: string;
  /** Kernel version whose `hyp_early_alloc_mm_ops` it fills (v5.13: no get/put_page). */
  readonly version: string;
  /**
   * `hyp_early_alloc_init(virt, size)`.
   * @param options Range, memory accessor and address conversions.
   * @returns The allocator.
   */
  init(options: EarlyAllocInitOptions): EarlyAllocator;
  /**
   * What `contig(nrPages)` will do that its caller should know, asked by the
   * host at step 1 for each term `divide_memory_pool()` will carve: the
   * kernel's `hyp_early_alloc_contig()` shifts an `unsigned int`, so from
   * 2^20 pages the size wraps. Optional.
   * @param nrPages Pages the term asks for.
   * @param what The term (`vmemmap`, `hyp_s1`, ...).
   * @returns One line, or undefined when nothing is unusual.
   */
  checkContig?(nrPages: number, what: string): string | undefined;
}

/** What `hyp_early_alloc_init` needs: the range, memory and address conversions. */
export interface EarlyAllocInitOptions {
  /** First hyp VA of the range (`virt`). */
  virt: number;
  /** Bytes (`size`). */
  size: number;
  /** Loads/stores at hyp VAs (zeroing goes through it). */
  memory: El2Memory;
  /**
   * `hyp_phys_to_virt`.
   * @param pa Physical address.
   * @returns Hyp VA.
   */
  physToVirt(pa: number): number;
  /**
   * `hyp_virt_to_phys`.
   * @param va Hyp VA.
   * @returns Physical address.
   */
  virtToPhys(va: number): number;
}

/**
 * The early-allocator capability.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { EARLY_ALLOCATOR } from "./early_allocator.ts";
 * assertEquals(EARLY_ALLOCATOR.name, "early_allocator");
 * ```
 */
export const EARLY_ALLOCATOR: Capability<EarlyAllocatorFactory> = capability<EarlyAllocatorFactory>(
  "early_allocator",
  "hyp_early_alloc bump allocator",
  { name: "string", version: "string", init: "function", checkContig: "function?" },
);
