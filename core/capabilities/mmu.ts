/**
 * The MMU and TLB capabilities: EL2 stage-1 translation from
 * SCTLR_EL2/TCR_EL2/TTBR0_EL2/MAIR_EL2, and a TLB that keeps stale entries
 * until they are invalidated.
 *
 * nVHE EL2 has no ASID: a TLB entry matches on regime and VA only, whatever
 * table it was walked from. Entries keep the table base as provenance, but a
 * lookup never filters on it, so a missing `tlbi` after a table switch shows.
 *
 * @module
 */

import { type Capability, capability } from "../capability.ts";
import { HyplabError } from "../errors.ts";
import { type FaultKind, faultStatusCode } from "../exception_level.ts";
import type { Cpu } from "../registers.ts";
import type { El2Memory } from "./el2_memory.ts";

/** What an access does. */
export type AccessKind = "read" | "write" | "exec";

/**
 * Every fault an EL2 access can report: the four with a lookup level
 * ({@link FaultKind}), plus `alignment` (unaligned access to Device memory
 * or with SCTLR_EL2.A = 1), `external_abort` (the PA is outside RAM) and
 * `external_abort_on_walk` (a descriptor read missed RAM).
 */
export type MmuFaultKind = FaultKind | "alignment" | "external_abort" | "external_abort_on_walk";

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
  /**
   * Memory type from MAIR_EL2[AttrIndx]. MMU off: data Device, fetch Normal;
   * an instruction fetch from Device memory is Normal Non-cacheable.
   */
  readonly memType: "normal" | "device";
  /** The MAIR attribute byte in effect (0x00 Device-nGnRnE, 0x44 Normal NC, 0xff Normal WB, ...). */
  readonly attrs: number;
  /** Writable at EL2 (AP[2] = 0 and no APTable[1]). */
  readonly writable: boolean;
  /** Executable at EL2 (XN = 0, no XNTable, and not writable under SCTLR_EL2.WXN). */
  readonly executable: boolean;
  /** Served by a TLB entry rather than a walk. */
  readonly fromTlb: boolean;
  /**
   * True when the walk started below a walk-cache entry (a cached table
   * descriptor) instead of at the table base. Optional: an MMU without a
   * walk cache may leave it out.
   */
  readonly viaWalkCache?: boolean;
  /** True when SCTLR_EL2.M = 0 (flat translation). */
  readonly mmuOff: boolean;
}

/** A fault, as a value. */
export interface MmuFault {
  /** Discriminant. */
  readonly kind: "fault";
  /** Fault kind. */
  readonly fault: MmuFaultKind;
  /**
   * Lookup level the fault was found at (0 for faults without a level:
   * `alignment`, `external_abort`).
   */
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
   * A debug translation changes nothing: it reads the TLB without counting
   * (a stale entry is returned as the CPU would use it, without a
   * `tlb_stale` event), walks on a miss without filling, emits no trace and
   * takes no abort.
   * @default false
   */
  debug?: boolean;
  /**
   * Access size in bytes (1, 2, 4, 8, 16) for the alignment check of data
   * accesses: an unaligned access faults when SCTLR_EL2.A = 1 or the memory
   * is Device (as with the MMU off). Omit for no alignment check.
   */
  size?: number;
  /**
   * Take the synchronous abort on the CPU when the access faults
   * (ESR_EL2/FAR_EL2/ELR_EL2 set, PC at the vector); the fault value is
   * still returned. Ignored for debug translations.
   * @default false
   */
  abort?: boolean;
  /**
   * ELR_EL2 for the abort: address of the faulting instruction.
   * @default cpu.pc
   */
  pc?: bigint;
}

/** Options of {@link Mmu.walk} and {@link Mmu.prefetch}. */
export interface WalkOptions {
  /**
   * Table base PA to walk from instead of TTBR0_EL2.BADDR (for example a
   * TTBR value written but not yet synchronised, or a table not yet
   * installed).
   */
  base?: number;
}

/** Options of {@link Mmu.el2Memory}. */
export interface El2MemoryOptions {
  /**
   * On a fault also take the synchronous data abort on the CPU, then throw.
   * @default false
   */
  takeAbort?: boolean;
}

/** The EL2 stage-1 MMU. */
export interface Mmu {
  /** Variant name. */
  readonly name: string;
  /**
   * Translates an EL2 access from the CPU's current SCTLR/TCR/TTBR/MAIR,
   * through the TLB when the MMU is on. A TLB hit that differs from what a
   * walk of memory gives now is still used (as hardware would), and is
   * recorded: `tlb_stale` trace event and the TLB's `stale` counter.
   * @param cpu The CPU.
   * @param va Virtual address (a non-negative safe integer).
   * @param access Access kind.
   * @param options Debug mode, access size, abort.
   * @returns A translation or a fault value.
   * @throws {UnsupportedMmuConfigError} MMU on with a configuration the model does not cover.
   */
  translate(
    cpu: Cpu,
    va: number,
    access: AccessKind,
    options?: TranslateOptions,
  ): Translation | MmuFault;
  /**
   * A fresh walk of the tables in memory now, ignoring the TLB and
   * SCTLR_EL2.M (so tables can be checked before the MMU is on). Never
   * touches the TLB, counters or trace.
   * @param cpu The CPU (its TCR/TTBR/MAIR/SCTLR.WXN are read).
   * @param va Virtual address.
   * @param access Access kind.
   * @param options Another table base.
   * @returns The translation a fresh walk gives, or the fault.
   */
  walk(cpu: Cpu, va: number, access: AccessKind, options?: WalkOptions): Translation | MmuFault;
  /**
   * A speculative walk and TLB fill, as the architecture allows at any time
   * while SCTLR_EL2.M may be 1 (barrier rule R7): walks from TTBR0_EL2 (or
   * `options.base`) whatever SCTLR_EL2.M says — the caller (the A64
   * executor) decides when the MMU may be on — and hands a valid result to
   * {@link Tlb.prefetch}. A faulting walk fills nothing. The optimistic
   * policy ignores it.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @param options Another table base (for example a pending TTBR value).
   * @returns The entry filled, or undefined.
   */
  prefetch(cpu: Cpu, va: number, options?: WalkOptions): TlbEntry | undefined;
  /**
   * An accessor for hyp VAs on this CPU, through {@link Mmu.translate}; a
   * fault throws `MemoryFaultError` carrying the {@link MmuFault} (and, with
   * `takeAbort`, also takes the synchronous abort on the CPU).
   * @param cpu The CPU.
   * @param options `takeAbort`: raise the exception on the CPU too.
   * @returns The accessor.
   */
  el2Memory(cpu: Cpu, options?: El2MemoryOptions): El2Memory;
}

/** TLB maintenance operations of the EL2 system subset. */
export type TlbiOp =
  | "alle2"
  | "alle2is"
  | "vae2"
  | "vae2is"
  | "vale2"
  | "vale2is"
  | "alle1"
  | "alle1is"
  | "vmalle1"
  | "vmalle1is";

/**
 * A TLBI level hint (FEAT_TTL; the `level` argument of the kernel's
 * `__tlbi_level`): the lookup level of the leaf entries to remove — 1, 2 or 3
 * with the 4 KiB granule — or `"unknown"`, the kernel's `TLBI_TTL_UNKNOWN`:
 * no hint. Architecturally a hinted TLBI need not remove entries of another
 * level (`asm/tlbflush.h`: "If the level is wrong, no invalidation may take
 * place"), which is why the kernel passes no hint after clearing a table
 * entry (36e008323926, "KVM: arm64: Don't pass a TLBI level hint when
 * zapping table entries": "The TLBI level hints are for leaf entries only").
 * Level 0 holds no leaf with the 4 KiB granule and is not a hint here.
 */
export type TlbiTtl = 1 | 2 | 3 | "unknown";

/** One TLB entry. */
export interface TlbEntry {
  /** Translation regime (only EL2 here). */
  readonly regime: "EL2";
  /** Provenance: PA of the table base (TTBR0_EL2.BADDR) the entry was walked from. */
  readonly base: number;
  /** VA of the start of the mapped block or page. */
  readonly va: number;
  /** Size of the block or page: 4 KiB (level 3), 2 MiB (level 2) or 1 GiB (level 1). */
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

/**
 * A walk-cache entry: a table descriptor a demand walk read, kept so later
 * walks of the VAs it translates can start below it. The architecture lets
 * a TLB hold such non-leaf entries until a TLBI that covers them: `vae2*`
 * and `alle2*` do, the leaf-only `vale2*` forms need not.
 */
export interface TlbWalkEntry {
  /** Translation regime (only EL2 here). */
  readonly regime: "EL2";
  /** Provenance: PA of the table base (TTBR0_EL2.BADDR) the walk started from. */
  readonly base: number;
  /** Lookup level of the table descriptor: 0, 1 or 2. */
  readonly level: number;
  /** First VA of the region the descriptor translates (aligned to `size`). */
  readonly va: number;
  /** Size of that region: 512 GiB (level 0), 1 GiB (level 1) or 2 MiB (level 2). */
  readonly size: number;
  /** PA of the next-level table the descriptor points at. */
  readonly table: number;
  /** APTable[1] gathered from the walk down to and including this descriptor. */
  readonly apTable: boolean;
  /** XNTable gathered from the walk down to and including this descriptor. */
  readonly xnTable: boolean;
}

/** TLB counters. */
export interface TlbStats {
  /** Lookups that hit. */
  hits: number;
  /** Lookups that missed. */
  misses: number;
  /** Entries filled (demand and speculative). */
  fills: number;
  /** Entries removed by invalidation (TLBI or a policy flush). */
  invalidated: number;
  /** Hits whose translation differed from a walk of memory at the time. */
  stale: number;
}

/**
 * The TLB, per CPU.
 *
 * What a conforming TLB must keep: the entry a `fill` made, until a TLBI
 * that covers it completes or the policy's own flush removes it (the
 * optimistic policy flushes where QEMU does). The architecture would allow a
 * TLB that caches nothing, or one that evicts at any time; hyplab's contract
 * is stricter on purpose, because a stale translation can only show through
 * an entry that outlives the tables it came from. So a TLB that caches
 * nothing does not conform, and the conformance suite (`tlbConformance`)
 * checks that a filled entry is found until it is invalidated.
 */
export interface Tlb {
  /**
   * Variant name, shown in reports. When absent the report shows the name of
   * the plugin that provides the TLB (the built-in one shows
   * `tlb-adversarial` or `tlb-optimistic`).
   */
  readonly name?: string;
  /**
   * `adversarial` (what the architecture allows: entries stay until
   * invalidated, speculative fills happen) or `optimistic` (QEMU-like:
   * flush on an SCTLR_EL2 change or a TTBR0_EL2 or TCR_EL2 write, no
   * speculation).
   */
  readonly policy: "adversarial" | "optimistic";
  /**
   * The entry translating `va` for the CPU (regime EL2), whatever table base
   * it came from — nVHE EL2 has no ASID. A page entry wins over a block.
   * Counts a hit or a miss.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @returns The entry or undefined.
   */
  lookup(cpu: Cpu, va: number): TlbEntry | undefined;
  /**
   * {@link Tlb.lookup} without counting (debug translations, dumps).
   * @param cpu The CPU.
   * @param va Virtual address.
   * @returns The entry or undefined.
   */
  peek(cpu: Cpu, va: number): TlbEntry | undefined;
  /**
   * Adds an entry (a demand walk's result), replacing one with the same VA
   * and size. The TLB keeps the very object it is given.
   * @param cpu The CPU.
   * @param entry The entry.
   * @throws {RangeError} Size not 4 KiB / 2 MiB / 1 GiB, or VA/PA not aligned to it.
   */
  fill(cpu: Cpu, entry: TlbEntry): void;
  /**
   * A speculative fill. Executors call {@link Mmu.prefetch}, which walks and
   * hands its result here: adversarial keeps it, optimistic drops it.
   * @param cpu The CPU.
   * @param entry The entry (normally with `speculative: true`).
   * @returns True when the entry was kept.
   */
  prefetch(cpu: Cpu, entry: TlbEntry): boolean;
  /**
   * Applies a TLBI whose completion the core (a DSB) has established.
   * Broadcast (`is`) forms act on every CPU; `alle1`/`vmalle1` forms do not
   * touch EL2 entries.
   *
   * A level hint (`ttl`, VA forms only) is guaranteed to remove the entries
   * of that level; without one (`"unknown"` or omitted) every level goes.
   * The adversarial policy keeps the entries of other levels, as the
   * architecture allows; the optimistic one ignores the hint.
   *
   * Walk-cache entries ({@link TlbWalkEntry}, if the TLB keeps them):
   * `alle2*` removes them all; `vae2*` removes those of the VA (with a hint
   * of level L, at least those above level L); the leaf-only `vale2*` forms
   * leave them. The return value and the `invalidated` counter count leaf
   * entries only.
   *
   * (The A64 executor then puts back, with {@link Tlb.fill}, the leaf
   * entries the CPU walked after the TLBI's issue: the TLBI may have been
   * performed before they were walked. It finds them with
   * {@link Tlb.fillsSince} when the TLB offers it, else by identity among
   * {@link Tlb.entries}; a TLB that offers neither, or hands out copies, gets
   * the plain removal. With {@link Tlb.invalidateWalks} it has applied the
   * TLBI to the walk cache at the issue already, and puts back the
   * walk-cache entries this call removes: those were walked after it.)
   * @param cpu Issuing CPU.
   * @param op Operation.
   * @param va VA operand of `vae2`/`vale2` forms (any address in the page).
   * @param ttl Level hint of the VA forms (default `"unknown"`: no hint).
   * @returns Number of entries removed.
   * @throws {TypeError} A VA form without a VA, or a hint on a non-VA form.
   * @throws {RangeError} A hint other than 1, 2, 3 or `"unknown"`.
   */
  invalidate(cpu: Cpu, op: TlbiOp, va?: number, ttl?: TlbiTtl): number;
  /**
   * Told about committed SCTLR_EL2 / TTBR0_EL2 / TCR_EL2 / MAIR_EL2 writes
   * (by the executor; the MMU also reports the changes it observes). The
   * optimistic policy flushes the CPU's entries on an SCTLR_EL2 change or
   * any TTBR0_EL2 or TCR_EL2 write (QEMU flushes on every TCR_EL2 write);
   * the adversarial one keeps everything.
   * @param cpu The CPU.
   * @param reg Register name.
   * @param value New value.
   */
  onSysregWrite(cpu: Cpu, reg: string, value: bigint): void;
  /**
   * The CPU's entries, sorted by VA.
   * @param cpu The CPU.
   * @returns Entries (a copy).
   */
  entries(cpu: Cpu): TlbEntry[];
  /**
   * Optional: a mark of the CPU's fills so far, for {@link Tlb.fillsSince}.
   * @param cpu The CPU.
   * @returns The mark (the CPU's fill count).
   */
  fillMark?(cpu: Cpu): number;
  /**
   * Optional: the entries the CPU filled after `mark` (demand and kept
   * speculative fills, oldest first), or undefined when the TLB no longer
   * remembers that far back. Lets the A64 executor tell which entries were
   * walked after a TLBI's issue without listing the whole TLB.
   * @param cpu The CPU.
   * @param mark A value of {@link Tlb.fillMark}.
   * @returns The entries, or undefined.
   */
  fillsSince?(cpu: Cpu, mark: number): TlbEntry[] | undefined;
  /**
   * Optional: visits every leaf entry of the CPU as plain numbers, in no
   * particular order, making no entry object (what {@link Tlb.entries}
   * lists, for a TLB too large to list as objects). `key` names this fill
   * of this entry: no other entry, nor a later refill of the same VA, has
   * it while the entry lives (see {@link Tlb.keyOf}).
   * @param cpu The CPU.
   * @param visit Called once per entry with its first VA, size, table base and key.
   */
  leafRows?(
    cpu: Cpu,
    visit: (va: number, size: number, base: number, key: number) => void,
  ): void;
  /**
   * Optional, with {@link Tlb.leafRows}: the key of a live entry, given the
   * very object the TLB hands out for it (from {@link Tlb.peek},
   * {@link Tlb.entries}, ...), or -1 when `entry` is not one of the CPU's
   * live entries.
   * @param cpu The CPU.
   * @param entry The entry object.
   * @returns The key, or -1.
   */
  keyOf?(cpu: Cpu, entry: TlbEntry): number;
  /**
   * Optional walk cache: adds a walk-cache entry, replacing one with the
   * same level and VA. A TLB without a walk cache omits it (or drops the
   * entry and returns false).
   * @param cpu The CPU.
   * @param entry The entry (kept as is).
   * @returns True when kept.
   * @throws {RangeError} A level other than 0..2, or a VA or table not aligned.
   */
  fillWalk?(cpu: Cpu, entry: TlbWalkEntry): boolean;
  /**
   * Optional walk cache: the deepest walk-cache entry covering `va`
   * (level 2 first), without counting.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @returns The entry or undefined.
   */
  lookupWalk?(cpu: Cpu, va: number): TlbWalkEntry | undefined;
  /**
   * Optional walk cache: the CPU's walk-cache entries, sorted by VA then level.
   * @param cpu The CPU.
   * @returns Entries (a copy).
   */
  walkEntries?(cpu: Cpu): TlbWalkEntry[];
  /**
   * Optional walk cache: applies a TLBI to the walk-cache entries only, as
   * {@link Tlb.invalidate} would, leaving the leaf entries. A TLBI may be
   * performed on any entry at any time from its issue to its completion; the
   * A64 executor calls this at the issue (the adversarial choice for table
   * descriptors: a walk after the issue cannot start from one the TLBI
   * covers, so it reads and caches the descriptors of whatever table base
   * is in force, and those survive the completion) and removes the leaf
   * entries at the completion.
   * @param cpu Issuing CPU.
   * @param op Operation.
   * @param va VA operand of the VA forms.
   * @param ttl Level hint of the VA forms.
   * @returns Walk-cache entries removed.
   */
  invalidateWalks?(cpu: Cpu, op: TlbiOp, va?: number, ttl?: TlbiTtl): number;
  /**
   * The counters.
   * @returns A copy of the counters.
   */
  stats(): TlbStats;
  /**
   * Records a stale hit (a hit that differs from a walk now).
   */
  recordStale(): void;
}

/**
 * The MMU was asked to translate with the MMU on under a configuration the
 * model does not cover (a 16/64 KiB granule, LPA2, hardware Access flag
 * update, big-endian walks).
 *
 * @example
 * ```ts
 * import { UnsupportedMmuConfigError } from "./mmu.ts";
 * const e = new UnsupportedMmuConfigError("Cannot translate with TCR_EL2.TG0 = 0b01: 64 KiB granule");
 * if (e.name !== "UnsupportedMmuConfigError") throw new Error("unreachable");
 * ```
 */
export class UnsupportedMmuConfigError extends HyplabError {
  /**
   * Creates the error.
   * @param message What is unsupported, naming the register and value.
   */
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedMmuConfigError";
  }
}

/**
 * The fault status code (ESR_EL2 DFSC/IFSC) of any {@link MmuFaultKind}:
 * {@link faultStatusCode} for the levelled kinds, 0b100001 for an alignment
 * fault, 0b010000 for a synchronous external abort and 0b0101LL for one on
 * a translation table walk (Arm ARM D17.2).
 *
 * @param kind Fault kind.
 * @param level Lookup level (ignored for `alignment` and `external_abort`).
 * @returns The 6-bit status code.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mmuFaultStatusCode } from "./mmu.ts";
 * assertEquals(mmuFaultStatusCode("permission", 3), 0x0f);
 * assertEquals(mmuFaultStatusCode("external_abort_on_walk", 1), 0x15);
 * assertEquals(mmuFaultStatusCode("alignment", 0), 0x21);
 * ```
 */
export function mmuFaultStatusCode(kind: MmuFaultKind, level: number): number {
  switch (kind) {
    case "alignment":
      return 0x21;
    case "external_abort":
      return 0x10;
    case "external_abort_on_walk":
      if (level === -1) return 0x13;
      if (level < 0 || level > 3) {
        throw new RangeError(`Cannot encode a ${kind} fault at level ${level}: levels are -1..3`);
      }
      return 0x14 + level;
    default:
      return faultStatusCode(kind, level);
  }
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
export const MMU: Capability<Mmu> = capability<Mmu>("mmu", "EL2 stage-1 translation", {
  name: "string",
  translate: "function",
  walk: "function",
  prefetch: "function",
  el2Memory: "function",
});

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
export const TLB: Capability<Tlb> = capability<Tlb>("tlb", "EL2 TLB with stale entries", {
  name: "string?",
  policy: "string",
  lookup: "function",
  peek: "function",
  fill: "function",
  prefetch: "function",
  invalidate: "function",
  onSysregWrite: "function",
  entries: "function",
  fillMark: "function?",
  fillsSince: "function?",
  leafRows: "function?",
  keyOf: "function?",
  fillWalk: "function?",
  lookupWalk: "function?",
  walkEntries: "function?",
  invalidateWalks: "function?",
  stats: "function",
  recordStale: "function",
});
