/**
 * The kvm_pgtable capability: hyp stage-1 page tables in simulated memory
 * (`kvm_pgtable_hyp_init`, `kvm_pgtable_hyp_map`, `kvm_pgtable_hyp_unmap`,
 * `kvm_pgtable_walk`, `kvm_pgtable_get_leaf`, `kvm_pgtable_hyp_destroy`).
 *
 * @module
 */

import { type Capability, capability } from "../capability.ts";
import type { PhysicalMemory } from "../physical_memory.ts";
import type { TlbiTtl } from "./mmu.ts";
import type { Trace } from "../trace.ts";

/** The kernel release (`v5.13`, `v6.1`, `v6.12`, `v7.2`, `mainline`) whose kvm_pgtable semantics a variant follows. */
export type KvmPgtableVersion = string;

/**
 * Kernel prot bits (`enum kvm_pgtable_prot`) as v5.13 numbers them. They are
 * also hyplab's own prot numbering: every {@link KvmPgtable} variant (v5.13
 * and mainline alike), its maplets and the boot report use them, so swapping
 * a variant never changes what a prot number means. Where a number crosses
 * the kernel's ABI (a prot in a hypercall register) it is the profile's own
 * encoding: see {@link kvmPgtableProt} and {@link toKernelProt}.
 */
export const KVM_PGTABLE_PROT = { X: 1, W: 2, R: 4, DEVICE: 8 } as const;
/** `PAGE_HYP` = R|W. */
export const PAGE_HYP = 0x6;
/** `PAGE_HYP_EXEC` = R|X. */
export const PAGE_HYP_EXEC = 0x5;
/** `PAGE_HYP_RO` = R. */
export const PAGE_HYP_RO = 0x4;
/** `PAGE_HYP_DEVICE` = R|W|DEVICE. */
export const PAGE_HYP_DEVICE = 0xe;

/**
 * `enum kvm_pgtable_prot` as renumbered by 2608563b466b ("KVM: arm64:
 * Add support for FEAT_XNX stage-2 permissions", v6.19): execute split into
 * privileged (PX) and unprivileged (UX) with X = PX|UX, then W, R, DEVICE and
 * NORMAL_NC one bit up each. SW0..3 (bits 55..58) are beyond a safe integer
 * and are left out here; {@link toKernelProt} places them.
 *
 * The releases before it (up to v6.18) number X = 1, W = 2, R = 4,
 * DEVICE = 8, NORMAL_NC = 16 — the same four numbers as
 * {@link KVM_PGTABLE_PROT}. Linux 7.2 (Debian's linux-source-7.2, 7.2.13)
 * has this enum, and the hyp-side UX handling built on it from 80cbfd7174f3
 * ("KVM: arm64: Honor UX/PX attributes for EL2 S1 mappings"): without hVHE,
 * `hyp_set_prot_attr` clears UX and only PX decides XN.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { KVM_PGTABLE_PROT_MAINLINE as P } from "./kvm_pgtable.ts";
 * assertEquals(P.X, P.PX | P.UX);
 * assertEquals(P.R | P.X, 0xb); // mainline PAGE_HYP_EXEC
 * ```
 */
export const KVM_PGTABLE_PROT_MAINLINE: {
  /** `KVM_PGTABLE_PROT_PX`, BIT(0): privileged execute. */
  readonly PX: 1;
  /** `KVM_PGTABLE_PROT_UX`, BIT(1): unprivileged execute. */
  readonly UX: 2;
  /** `KVM_PGTABLE_PROT_X` = PX|UX. */
  readonly X: 3;
  /** `KVM_PGTABLE_PROT_W`, BIT(2). */
  readonly W: 4;
  /** `KVM_PGTABLE_PROT_R`, BIT(3). */
  readonly R: 8;
  /** `KVM_PGTABLE_PROT_DEVICE`, BIT(4). */
  readonly DEVICE: 16;
  /** `KVM_PGTABLE_PROT_NORMAL_NC`, BIT(5) (stage-2 only; hyp stage-1 ignores it). */
  readonly NORMAL_NC: 32;
} = { PX: 1, UX: 2, X: 3, W: 4, R: 8, DEVICE: 16, NORMAL_NC: 32 };

/** One kernel version's prot numbers: the flags and the `PAGE_HYP*` macros built from them. */
export interface KvmPgtableProtEncoding {
  /** `KVM_PGTABLE_PROT_X` (mainline: PX|UX). */
  readonly X: number;
  /** `KVM_PGTABLE_PROT_W`. */
  readonly W: number;
  /** `KVM_PGTABLE_PROT_R`. */
  readonly R: number;
  /** `KVM_PGTABLE_PROT_DEVICE`. */
  readonly DEVICE: number;
  /** `PAGE_HYP` = R|W. */
  readonly PAGE_HYP: number;
  /** `PAGE_HYP_EXEC` = R|X. */
  readonly PAGE_HYP_EXEC: number;
  /** `PAGE_HYP_RO` = R. */
  readonly PAGE_HYP_RO: number;
  /** `PAGE_HYP_DEVICE` = R|W|DEVICE. */
  readonly PAGE_HYP_DEVICE: number;
}

/** The four flags of `enum kvm_pgtable_prot` a release numbers (its `PAGE_HYP*` follow). */
export interface KvmPgtableProtNumbers {
  /** `KVM_PGTABLE_PROT_X`. */
  readonly X: number;
  /** `KVM_PGTABLE_PROT_W`. */
  readonly W: number;
  /** `KVM_PGTABLE_PROT_R`. */
  readonly R: number;
  /** `KVM_PGTABLE_PROT_DEVICE`. */
  readonly DEVICE: number;
}

/**
 * `enum kvm_pgtable_prot` from the hyp stage-1 code's start (v5.10) until
 * v6.18: X = 1, W = 2, R = 4, DEVICE = 8 — {@link KVM_PGTABLE_PROT}.
 */
export const PROT_NUMBERING_CLASSIC: KvmPgtableProtNumbers = Object.freeze({ ...KVM_PGTABLE_PROT });

/**
 * `enum kvm_pgtable_prot` from 2608563b466b (v6.19): X split into PX|UX, the
 * rest one bit up — {@link KVM_PGTABLE_PROT_MAINLINE}.
 */
export const PROT_NUMBERING_XNX: KvmPgtableProtNumbers = Object.freeze({
  X: KVM_PGTABLE_PROT_MAINLINE.X,
  W: KVM_PGTABLE_PROT_MAINLINE.W,
  R: KVM_PGTABLE_PROT_MAINLINE.R,
  DEVICE: KVM_PGTABLE_PROT_MAINLINE.DEVICE,
});

/**
 * The prot numbers a host writes into a hypercall register
 * (`__pkvm_create_private_mapping(phys, size, prot)`, v5.13's
 * `__pkvm_create_mappings(start, size, phys, prot)`) under a release's
 * numbering: {@link PROT_NUMBERING_CLASSIC} up to v6.18, and
 * {@link PROT_NUMBERING_XNX} from v6.19, where PAGE_HYP is 0xc and
 * PAGE_HYP_EXEC 0xb — and the classic PAGE_HYP_EXEC (0x5) is PX|W without
 * R, which `hyp_set_prot_attr` refuses with -EINVAL.
 *
 * @param numbering The release's flags (a release descriptor's `pgtable.prot`).
 * @returns The flags and the `PAGE_HYP*` values built from them.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kvmPgtableProt, PROT_NUMBERING_CLASSIC, PROT_NUMBERING_XNX } from "./kvm_pgtable.ts";
 * assertEquals(kvmPgtableProt(PROT_NUMBERING_CLASSIC).PAGE_HYP_EXEC, 0x5);
 * assertEquals(kvmPgtableProt(PROT_NUMBERING_XNX).PAGE_HYP_EXEC, 0xb);
 * assertEquals(kvmPgtableProt(PROT_NUMBERING_XNX).PAGE_HYP_DEVICE, 0x1c);
 * ```
 */
export function kvmPgtableProt(numbering: KvmPgtableProtNumbers): KvmPgtableProtEncoding {
  const { X, W, R, DEVICE } = numbering;
  return Object.freeze({
    X,
    W,
    R,
    DEVICE,
    PAGE_HYP: R | W,
    PAGE_HYP_EXEC: R | X,
    PAGE_HYP_RO: R,
    PAGE_HYP_DEVICE: R | W | DEVICE,
  });
}

/** hyplab's SW0..3 (bits 23..26 of a prot: the kernel's 55..58, 32 lower). */
const HYPLAB_SW_MASK = 0xf << 23;

/**
 * A hyplab prot ({@link KVM_PGTABLE_PROT} flags, plus SW0..3 at bits 23..26
 * where the release has software bits) as the u64 the kernel's
 * `enum kvm_pgtable_prot` holds under a release's numbering, i.e. what a
 * host puts in a hypercall register: X becomes the release's X (PX|UX from
 * v6.19), as `PAGE_HYP_EXEC` has it, and SW0..3 move to bits 55..58.
 *
 * Strict on purpose, unlike the kernel-function models (`kvm_pgtable_hyp_map`,
 * `hyp_set_prot_attr`), which ignore unknown bits as the kernel does: this
 * is an encoder into the kernel's ABI, and a hyplab bit it does not know has
 * no place to go.
 *
 * @param prot hyplab prot.
 * @param numbering The release's flags.
 * @param swBits The release's enum has SW0..3 (bits 55..58; not in v5.13).
 * @returns The kernel's value.
 * @throws {RangeError} For bits outside R, W, X, DEVICE (and SW0..3 where allowed).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PAGE_HYP, PAGE_HYP_EXEC, PROT_NUMBERING_CLASSIC, PROT_NUMBERING_XNX, toKernelProt } from "./kvm_pgtable.ts";
 * assertEquals(toKernelProt(PAGE_HYP_EXEC, PROT_NUMBERING_CLASSIC), 0x5n);
 * assertEquals(toKernelProt(PAGE_HYP_EXEC, PROT_NUMBERING_XNX, true), 0xbn);
 * assertEquals(toKernelProt(PAGE_HYP | (1 << 23), PROT_NUMBERING_XNX, true), 0x0080_0000_0000_000cn);
 * ```
 */
export function toKernelProt(
  prot: number,
  numbering: KvmPgtableProtNumbers,
  swBits = false,
): bigint {
  const { X, W, R, DEVICE } = KVM_PGTABLE_PROT;
  const flags = X | W | R | DEVICE;
  const sw = swBits ? HYPLAB_SW_MASK : 0;
  if (
    !Number.isSafeInteger(prot) || prot < 0 || (prot & ~(flags | sw)) !== 0 || prot > flags + sw
  ) {
    throw new RangeError(
      `Cannot encode prot ${
        Number.isSafeInteger(prot) && prot >= 0 ? `0x${prot.toString(16)}` : String(prot)
      }: only R, W, X, DEVICE${swBits ? " and SW0..3 (bits 23..26)" : ""} exist${
        swBits ? "" : " in a release without software bits"
      }`,
    );
  }
  const enc = kvmPgtableProt(numbering);
  let out = 0;
  if (prot & X) out |= enc.X;
  if (prot & W) out |= enc.W;
  if (prot & R) out |= enc.R;
  if (prot & DEVICE) out |= enc.DEVICE;
  return BigInt(out) | (BigInt(prot & sw) << 32n);
}

/** `struct kvm_pgtable_mm_ops`; addresses are hyp VAs unless named `pa`. */
export interface PgtableMmOps {
  /** Zeroed page, or null. @returns Hyp VA. */
  zallocPage(): number | null;
  /** Take a reference on the page holding `va` (absent in v5.13 early ops). */
  getPage?(va: number): void;
  /**
   * Optional batched `get_page`, hyplab's own (the kernel calls get_page once
   * per entry): takes up to `n` references on the page holding `va`, exactly
   * as that many `getPage(va)` calls would, stopping without a throw before
   * the first call that would fail (so the caller makes that call itself and
   * it fails as it does one by one). Offered only where `getPage` reads
   * nothing a table store changes.
   * @returns References taken (0..n).
   */
  getPages?(va: number, n: number): number;
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

/**
 * What a {@link HalvesWalker} sees at one entry: a {@link WalkVisit} with the
 * descriptor as two 32-bit halves instead of a bigint (valid only during the
 * callback: the walker reuses it).
 */
export interface WalkVisitHalves {
  /** VA the entry is visited for. */
  readonly addr: number;
  /** End of the whole walk (exclusive). */
  readonly end: number;
  /** Level of the entry. */
  readonly level: number;
  /** PA of the descriptor (the `ptep`). */
  readonly ptep: number;
  /** Bits 31:0 of the descriptor when visited. */
  readonly lo: number;
  /** Bits 63:32 of the descriptor when visited. */
  readonly hi: number;
}

/** A {@link Walker} over {@link WalkVisitHalves}: no bigint per entry, for walks over every page. */
export interface HalvesWalker {
  /**
   * Callback.
   * @returns 0 to go on, or a negative errno to stop.
   */
  cb(visit: WalkVisitHalves, flag: number): number;
  /** `WALK.*` bits. */
  flags: number;
  /**
   * Optional (with `WALK.LEAF`): the LEAF visits of a run of entries of one
   * table page in one call. Called at a non-table entry (`visit` describes
   * it; `idx` is its index in the page) with the page's 32-bit words when
   * they are readable directly (entry `i` at `2i`, `2i + 1`; undefined for
   * an unbacked page, all zeros). Handles entries `idx`, `idx + 1`, ... in
   * order, each exactly as `cb(visit, WALK.LEAF)` would and leaving it a
   * non-table, stopping at the first it cannot (a table, the end of the
   * range or the page, or a case `cb` must decide).
   * @returns Entries handled; 0 must mean nothing was done.
   */
  leafRun?(visit: WalkVisitHalves, idx: number, words: Uint32Array | undefined): number;
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

/** What {@link KvmPgtable.mapPages} did. */
export interface MapPagesResult {
  /** Pages mapped (the calls that returned 0). */
  mapped: number;
  /** 0, or the negative errno of the call that failed (page `mapped`). */
  err: number;
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
   * Optional: `pages` calls `map(addr + i * 4096, 4096, phys + i * 4096,
   * prot)`, one page each, in order, stopping at the first error — the
   * boot's `create_hyp_mappings` / `pkvm_create_mappings` loops — with the
   * same effect on the table, the mm_ops, the WARNs and the trace.
   * @returns How many pages were mapped, and 0 or the error of the one after.
   */
  mapPages?(addr: number, pages: number, phys: number, prot: number): MapPagesResult;
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
   * Optional: `kvm_pgtable_walk` as {@link KvmPgtable.walk}, the visitor
   * seeing each descriptor as two 32-bit halves.
   * @returns 0 or a negative errno.
   */
  walkHalves?(addr: number, size: number, walker: HalvesWalker): number;
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
   * Called for the TLB maintenance `kvm_pgtable_hyp_unmap` issues, so a TLB
   * model can follow: `tlbi vae2is` with no level hint (`"unknown"`) for a
   * freed table, `tlbi vale2is` hinted with the leaf's level for a leaf
   * (mainline `hyp_unmap_walker`). Wire it to `Tlb.invalidate` (the
   * walker's `dsb ish` completes each TLBI before it returns) when unmapping
   * a table the MMU may be walking. Nothing is invalidated when absent —
   * and nothing in hyplab unmaps a live table today: the boot only maps.
   */
  tlbi?(op: "vae2is" | "vale2is", va: number, ttl: TlbiTtl): void;
  /**
   * `ARM64_KVM_HVHE`: the hypervisor runs in the EL2&0 regime, so leaves
   * take that regime's AP encoding (RW 0, RO 2) and its execute-never bits
   * (UXN, and from 7.x PXN). Default: the factory's (nVHE).
   */
  hvhe?: boolean;
  /**
   * `kvm_lpa2_is_enabled()`: FEAT_LPA2 descriptors (output-address bits
   * 51:50 in bits 9:8, no shareability in leaves), which 49–52-bit tables
   * from level −1 need. Default: the factory's (off).
   */
  lpa2?: boolean;
}

/** Options of {@link KvmPgtableFactory.stage2Init}: a host stage-2 over an allocated pgd. */
export interface KvmStage2InitOptions {
  /** Input (IPA) bits: 64 − VTCR_EL2.T0SZ. */
  iaBits: number;
  /** Start level (from VTCR_EL2.SL0, and SL2 with LPA2). */
  startLevel: number;
  /** PA of the first (concatenated) pgd page, zeroed. */
  pgd: number;
  /** Concatenated pgd pages (`kvm_pgd_pages()`). */
  pgdPages: number;
  /** The host stage-2 pool's hooks (table pages and their references). */
  mmOps: PgtableMmOps;
  /** The memory the tables live in. */
  memory: PhysicalMemory;
  /** LPA2 table descriptors (VTCR_EL2.DS). */
  lpa2?: boolean;
}

/** A host stage-2 table as the boot writes it: ownership annotations only. */
export interface KvmStage2Pgtable {
  /** PA of the first pgd page. */
  readonly pgd: number;
  /** Concatenated pgd pages. */
  readonly pgdPages: number;
  /** Input bits. */
  readonly iaBits: number;
  /** Start level. */
  readonly startLevel: number;
  /**
   * `kvm_pgtable_stage2_set_owner()` / `kvm_pgtable_stage2_annotate()`:
   * the invalid descriptor `pte` on every page of the range, at level 3.
   * @param addr First IPA.
   * @param size Bytes.
   * @param pte The invalid descriptor.
   * @returns 0 or a negative errno.
   */
  annotate(addr: number, size: number, pte: bigint): number;
  /** Returns: The annotations, merged into runs of equal value, by IPA. */
  annotations(): { ipa: number; size: number; pte: bigint }[];
  /** Returns: PAs of every table page, the pgd pages first. */
  tablePages(): number[];
}

/** Makes hyp stage-1 tables for one variant (v5.13 or mainline semantics). */
export interface KvmPgtableFactory {
  /** Variant name. */
  readonly name: string;
  /** Kernel version whose semantics it follows. */
  readonly version: KvmPgtableVersion;
  /**
   * `kvm_pgtable_hyp_init`. Start levels 0..3 (ia_bits 13..48), and −1
   * (49–52 bits, with LPA2 descriptors) in a release whose walker has it,
   * are modelled. Any other start level gives -EINVAL, as mainline's range
   * check does; v5.13 has no such check (it computes a wrapped start level
   * and returns 0, and its walks then fail with -EINVAL in
   * `__kvm_pgtable_walk`), so for v5.13 that -EINVAL is hyplab's.
   * @param options Address bits, mm_ops and the memory the tables live in.
   * @returns The table, or a negative errno (-ENOMEM without a pgd page,
   *   -EINVAL for a start level outside -1..3).
   */
  hypInit(options: KvmPgtableInitOptions): KvmPgtable | number;
  /**
   * A host stage-2 table over a pgd the caller allocated (optional: a
   * factory without it leaves the host stage-2 as only its pgd).
   * @param options Geometry, pgd, mm_ops, memory.
   * @returns The table.
   */
  stage2Init?(options: KvmStage2InitOptions): KvmStage2Pgtable;
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
  { name: "string", version: "string", hypInit: "function", stage2Init: "function?" },
);
