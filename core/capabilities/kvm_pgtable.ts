/**
 * The kvm_pgtable capability: hyp stage-1 page tables in simulated memory
 * (`kvm_pgtable_hyp_init`, `kvm_pgtable_hyp_map`, `kvm_pgtable_hyp_unmap`,
 * `kvm_pgtable_walk`, `kvm_pgtable_get_leaf`, `kvm_pgtable_hyp_destroy`).
 *
 * @module
 */

import { type Capability, capability } from "../capability.ts";
import type { PhysicalMemory } from "../physical_memory.ts";
import type { Trace } from "../trace.ts";

/** Kernel version whose kvm_pgtable semantics a variant follows. */
export type KvmPgtableVersion = "v5.13" | "mainline";

/** Kernel prot bits (`enum kvm_pgtable_prot`). */
export const KVM_PGTABLE_PROT = { X: 1, W: 2, R: 4, DEVICE: 8 } as const;
/** `PAGE_HYP` = R|W. */
export const PAGE_HYP = 0x6;
/** `PAGE_HYP_EXEC` = R|X. */
export const PAGE_HYP_EXEC = 0x5;
/** `PAGE_HYP_RO` = R. */
export const PAGE_HYP_RO = 0x4;
/** `PAGE_HYP_DEVICE` = R|W|DEVICE. */
export const PAGE_HYP_DEVICE = 0xe;

/** `struct kvm_pgtable_mm_ops`; addresses are hyp VAs unless named `pa`. */
export interface PgtableMmOps {
  /** Zeroed page, or null. @returns Hyp VA. */
  zallocPage(): number | null;
  /** Take a reference on the page holding `va` (absent in v5.13 early ops). */
  getPage?(va: number): void;
  /** Drop a reference on the page holding `va`. */
  putPage?(va: number): void;
  /** Refcount of the page holding `va`. */
  pageCount?(va: number): number;
  /** `phys_to_virt`: PA → hyp VA. */
  physToVirt(pa: number): number;
  /** `virt_to_phys`: hyp VA → PA. */
  virtToPhys(va: number): number;
}

/**
 * Walker flags (`KVM_PGTABLE_WALK_*`). `SHARED` exists in mainline only, where
 * a hyp walk asking for it fails with -EPERM.
 */
export const WALK = { LEAF: 1, TABLE_PRE: 2, TABLE_POST: 4, SHARED: 8 } as const;

/** What a visitor sees at one entry. */
export interface WalkVisit {
  /** VA of the entry's range start. */
  addr: number;
  /** End of the whole walk (exclusive). */
  end: number;
  /** Level of the entry. */
  level: number;
  /** PA of the descriptor (the `ptep`). */
  ptep: number;
  /** Descriptor value when visited. */
  pte: bigint;
  /** Which flag caused this visit. */
  flag: number;
}

/** A walker: visitor and flags. The visitor returns 0 or a negative errno to stop. */
export interface Walker {
  /** Callback. */
  cb(visit: WalkVisit): number;
  /** `WALK.*` bits. */
  flags: number;
}

/** A mapped range in the abstract view: maximal merged, sorted by VA. */
export interface Maplet {
  /** First VA. */
  va: number;
  /** First PA. */
  pa: number;
  /** Size in bytes. */
  size: number;
  /** Kernel prot bits. */
  prot: number;
}

/** One hyp stage-1 table (`struct kvm_pgtable`). */
export interface KvmPgtable {
  /** PA of the top-level table. */
  readonly pgd: number;
  /** Input address bits. */
  readonly iaBits: number;
  /** Start level. */
  readonly startLevel: number;
  /** The mm_ops in use (the boot swaps early for buddy ops). */
  mmOps: PgtableMmOps;
  /**
   * `kvm_pgtable_hyp_map`.
   * @returns 0 or a negative errno.
   */
  map(addr: number, size: number, phys: number, prot: number): number;
  /**
   * `kvm_pgtable_hyp_unmap` (mainline; v5.13 has none and throws
   * `KernelErrnoError` with -ENOTSUPP). Returns 0 when mm_ops has no
   * `pageCount`, as the kernel does.
   * @returns Bytes unmapped.
   */
  unmap(addr: number, size: number): number;
  /**
   * `kvm_pgtable_walk`.
   * @returns 0 or a negative errno.
   */
  walk(addr: number, size: number, walker: Walker): number;
  /**
   * `kvm_pgtable_get_leaf`.
   * @returns The leaf (or invalid entry) and its level.
   * @throws {KernelErrnoError} When the walk fails (-ERANGE past ia_bits, -EINVAL after destroy).
   */
  getLeaf(addr: number): { pte: bigint; level: number };
  /** `kvm_pgtable_hyp_destroy`: frees every table page through mm_ops. */
  destroy(): void;
  /** Returns: The abstract view: maximal merged ranges sorted by VA. */
  maplets(): Maplet[];
  /** Returns: A ptdump-like text dump. */
  dump(): string;
  /** Returns: PAs of every table page, pgd included. */
  tablePages(): number[];
  /** Number of kernel `WARN`s hit so far (remap conflicts, table over a valid entry). */
  readonly warnCount: number;
}

/** Options of {@link KvmPgtableFactory.hypInit}. */
export interface KvmPgtableInitOptions {
  /** Input address bits (`hyp_va_bits`). */
  iaBits: number;
  /** The page allocator hooks. */
  mmOps: PgtableMmOps;
  /** The memory the tables live in. */
  memory: PhysicalMemory;
  /** Table name in trace events (default `pkvm_pgtable`). */
  name?: string;
  /** Trace for `map`/`unmap` events and WARN logs (default: the factory's). */
  trace?: Trace;
  /**
   * Called for the TLB maintenance `kvm_pgtable_hyp_unmap` issues
   * (`tlbi vae2is` for a freed table, `tlbi vale2is` for a leaf), so a TLB
   * model can follow; nothing is invalidated when absent.
   */
  tlbi?(op: "vae2is" | "vale2is", va: number, level: number): void;
}

/** Makes hyp stage-1 tables for one variant (v5.13 or mainline semantics). */
export interface KvmPgtableFactory {
  /** Variant name. */
  readonly name: string;
  /** Kernel version whose semantics it follows. */
  readonly version: KvmPgtableVersion;
  /**
   * `kvm_pgtable_hyp_init`.
   * @param options Address bits, mm_ops and the memory the tables live in.
   * @returns The table, or a negative errno (-ENOMEM without a pgd page,
   *   -EINVAL for a start level outside 0..3).
   */
  hypInit(options: KvmPgtableInitOptions): KvmPgtable | number;
}

/**
 * The kvm_pgtable capability.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { KVM_PGTABLE } from "./kvm_pgtable.ts";
 * assertEquals(KVM_PGTABLE.name, "kvm_pgtable");
 * ```
 */
export const KVM_PGTABLE: Capability<KvmPgtableFactory> = capability<KvmPgtableFactory>(
  "kvm_pgtable",
  "hyp stage-1 page tables",
);
