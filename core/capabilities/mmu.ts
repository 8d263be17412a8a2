/**
 * The MMU and TLB capabilities: EL2 stage-1 translation from
 * SCTLR_EL2/TCR_EL2/TTBR0_EL2/MAIR_EL2, and a TLB that keeps stale entries
 * until they are invalidated.
 *
 * @module
 */

import { type Capability, capability } from "../capability.ts";
import type { FaultKind } from "../exception_level.ts";
import type { Cpu } from "../registers.ts";
import type { El2Memory } from "./el2_memory.ts";

/** What an access does. */
export type AccessKind = "read" | "write" | "exec";

/** A successful translation. */
export interface Translation {
  /** Discriminant. */
  readonly kind: "ok";
  /** Input virtual address. */
  readonly va: number;
  /** Output physical address. */
  readonly pa: number;
  /** Level of the leaf (3 = page; -1 when the MMU is off). */
  readonly level: number;
  /** The leaf descriptor used (0n when the MMU is off). */
  readonly pte: bigint;
  /** Memory type from MAIR_EL2[AttrIndx] (MMU off: data Device, fetch Normal). */
  readonly memType: "normal" | "device";
  /** Writable at EL2 (AP[2] = 0 and not WXN-demoted). */
  readonly writable: boolean;
  /** Executable at EL2 (XN = 0 and not WXN). */
  readonly executable: boolean;
  /** Served by a TLB entry rather than a walk. */
  readonly fromTlb: boolean;
  /** True when SCTLR_EL2.M = 0 (flat translation). */
  readonly mmuOff: boolean;
}

/** A fault, as a value. */
export interface MmuFault {
  /** Discriminant. */
  readonly kind: "fault";
  /** Fault kind. */
  readonly fault: FaultKind;
  /** Lookup level the fault was found at. */
  readonly level: number;
  /** Faulting virtual address. */
  readonly va: number;
  /** The access that faulted. */
  readonly access: AccessKind;
  /** Fault status code as ESR_EL2.ISS.{D,I}FSC would carry it. */
  readonly fsc: number;
  /** One sentence: what faulted and why. */
  readonly message: string;
}

/** Options of {@link Mmu.translate}. */
export interface TranslateOptions {
  /**
   * A debug translation changes nothing: no TLB fill or lookup counters, no
   * trace, no abort taken.
   * @default false
   */
  debug?: boolean;
}

/** The EL2 stage-1 MMU. */
export interface Mmu {
  /** Variant name. */
  readonly name: string;
  /**
   * Translates an EL2 access from the CPU's current SCTLR/TCR/TTBR/MAIR,
   * through the TLB when the MMU is on.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @param access Access kind.
   * @param options Debug mode.
   * @returns A translation or a fault value.
   */
  translate(
    cpu: Cpu,
    va: number,
    access: AccessKind,
    options?: TranslateOptions,
  ): Translation | MmuFault;
  /**
   * Walks the tables in memory now (never touches the TLB, counters or trace).
   * @param cpu The CPU (its TCR/TTBR/MAIR/SCTLR are read).
   * @param va Virtual address.
   * @param access Access kind.
   * @returns The translation a fresh walk gives, or the fault.
   */
  walk(cpu: Cpu, va: number, access: AccessKind): Translation | MmuFault;
  /**
   * An accessor for hyp VAs on this CPU; a fault throws `MemoryFaultError`
   * (and, when `takeAbort` is set, also takes the synchronous abort on the CPU).
   * @param cpu The CPU.
   * @param options `takeAbort`: raise the exception on the CPU too.
   * @returns The accessor.
   */
  el2Memory(cpu: Cpu, options?: { takeAbort?: boolean }): El2Memory;
}

/** TLB maintenance operations of the EL2 system subset. */
export type TlbiOp =
  | "alle2"
  | "alle2is"
  | "vae2"
  | "vae2is"
  | "alle1"
  | "alle1is"
  | "vmalle1"
  | "vmalle1is";

/** One TLB entry. */
export interface TlbEntry {
  /** Translation regime (only EL2 here). */
  readonly regime: "EL2";
  /** PA of the table base (TTBR0_EL2.BADDR) the entry was walked from. */
  readonly base: number;
  /** VA of the start of the mapped block or page. */
  readonly va: number;
  /** Size of the block or page. */
  readonly size: number;
  /** PA the block starts at. */
  readonly pa: number;
  /** Leaf level. */
  readonly level: number;
  /** Leaf descriptor. */
  readonly pte: bigint;
  /** Filled speculatively (not by a demand access). */
  readonly speculative: boolean;
}

/** TLB counters. */
export interface TlbStats {
  /** Lookups that hit. */
  hits: number;
  /** Lookups that missed. */
  misses: number;
  /** Entries filled. */
  fills: number;
  /** Entries removed by invalidation. */
  invalidated: number;
  /** Hits whose translation differed from a walk of memory at the time. */
  stale: number;
}

/** The TLB, per CPU. */
export interface Tlb {
  /** `adversarial` (what the architecture allows) or `optimistic` (QEMU-like). */
  readonly policy: "adversarial" | "optimistic";
  /**
   * The entry covering `va` for the CPU's current regime and table base.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @param base Table base PA the walk would use.
   * @returns The entry or undefined.
   */
  lookup(cpu: Cpu, va: number, base: number): TlbEntry | undefined;
  /**
   * Adds an entry (a walk's result).
   * @param cpu The CPU.
   * @param entry The entry.
   */
  fill(cpu: Cpu, entry: TlbEntry): void;
  /**
   * Applies a TLBI whose completion the core (a DSB) has established.
   * Broadcast (`is`) forms act on every CPU.
   * @param cpu Issuing CPU.
   * @param op Operation.
   * @param va VA operand of `vae2`/`vae2is` (page address).
   * @returns Number of entries removed.
   */
  invalidate(cpu: Cpu, op: TlbiOp, va?: number): number;
  /**
   * Told about every committed SCTLR_EL2 / TTBR0_EL2 / TCR_EL2 / MAIR_EL2
   * change (the optimistic policy flushes here; the adversarial one keeps
   * everything).
   * @param cpu The CPU.
   * @param reg Register name.
   * @param value New value.
   */
  onSysregWrite(cpu: Cpu, reg: string, value: bigint): void;
  /**
   * The CPU's entries.
   * @param cpu The CPU.
   * @returns Entries (a copy).
   */
  entries(cpu: Cpu): TlbEntry[];
  /** Returns: The counters. */
  stats(): TlbStats;
  /**
   * Records a stale hit (a hit that differs from a walk now).
   */
  recordStale(): void;
}

/**
 * The MMU capability.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MMU } from "./mmu.ts";
 * assertEquals(MMU.name, "mmu");
 * ```
 */
export const MMU: Capability<Mmu> = capability<Mmu>("mmu", "EL2 stage-1 translation");

/**
 * The TLB capability.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TLB } from "./mmu.ts";
 * assertEquals(TLB.name, "tlb");
 * ```
 */
export const TLB: Capability<Tlb> = capability<Tlb>("tlb", "EL2 TLB with stale entries");
