/**
 * Hyp stage-1 descriptors, bit for bit (`arch/arm64/kvm/hyp/pgtable.c`):
 * encoders from kernel prot (`hyp_set_prot_attr`, `kvm_init_valid_leaf_pte`,
 * `kvm_set_table_pte`) and decoders back (`kvm_pgtable_hyp_pte_prot`).
 *
 * Layout: VALID bit 0; TYPE bit 1 (table or level-3 page = 1, block = 0);
 * AttrIndx 4:2 (MT_NORMAL = 0, MT_DEVICE_nGnRE = 5 in v5.13, 4 in
 * mainline); AP 7:6 (RW = 1, RO = 3); SH 9:8 = 3; AF bit 10; output address
 * 47:12; GP bit 50 (mainline, executable mappings, when BTI is in use);
 * XN bit 54 on every non-executable mapping; software bits 58:55 (mainline
 * copies them from prot).
 *
 * @module
 */

import {
  ERRNO,
  KernelErrnoError,
  KVM_PGTABLE_PROT,
  kvmPgtableProt,
  type KvmPgtableVersion,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
} from "../../core/mod.ts";
import { KVM_GRANULE_SIZES } from "./geometry.ts";
import {
  deviceAttrIndex,
  HI_GP,
  HI_PXN,
  HI_SW_MASK,
  HI_UXN,
  HI_XN,
  isTable,
  joinPte,
  leafHi,
  leafLo,
  leafProt,
  LO_AF,
  LO_AP_SHIFT,
  LO_ATTRIDX_SHIFT,
  LO_SH_SHIFT,
  LO_TYPE,
  LO_VALID,
  PROT_SW_MASK,
  protAttrParts,
  protProblem,
  type PteFormat,
  pteFormat,
  pteToPhys,
  splitPte,
} from "./_pte.ts";

/** Which kernel's encoding to follow. */
export interface HypDescriptorOptions {
  /**
   * Kernel version (device AttrIndx, software bits, GP).
   * @default "v5.13"
   */
  version?: KvmPgtableVersion;
  /**
   * Whether the kernel runs with BTI (`system_supports_bti_kernel`): mainline
   * then sets GP (bit 50) on executable mappings.
   * @default false
   */
  bti?: boolean;
  /**
   * `ARM64_KVM_HVHE`: the EL2&0 regime's AP encoding (RW 0, RO 2) and
   * execute-never bits (the release's: UXN, or PXN and UXN).
   * @default false
   */
  hvhe?: boolean;
  /**
   * `kvm_lpa2_is_enabled()`: output-address bits 51:50 in bits 9:8 and no
   * shareability in leaves.
   * @default false
   */
  lpa2?: boolean;
}

function formatOf(options: HypDescriptorOptions): PteFormat {
  return pteFormat(options.version ?? "v5.13", {
    bti: options.bti ?? false,
    hvhe: options.hvhe ?? false,
    lpa2: options.lpa2 ?? false,
  });
}

/**
 * Descriptor field masks with their kernel names (`KVM_PTE_*`), as 64-bit values.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { KVM_PTE } from "./descriptor.ts";
 * assertEquals(KVM_PTE.LEAF_ATTR_HI_S1_XN, 1n << 54n);
 * assertEquals(KVM_PTE.ADDR_MASK, 0x0000_ffff_ffff_f000n);
 * ```
 */
export const KVM_PTE: {
  /** `KVM_PTE_VALID`, bit 0. */
  readonly VALID: bigint;
  /** `KVM_PTE_TYPE`, bit 1. */
  readonly TYPE: bigint;
  /** `KVM_PTE_ADDR_MASK`, bits 47:12. */
  readonly ADDR_MASK: bigint;
  /** `KVM_PTE_LEAF_ATTR_LO_S1_ATTRIDX`, bits 4:2. */
  readonly LEAF_ATTR_LO_S1_ATTRIDX: bigint;
  /** `KVM_PTE_LEAF_ATTR_LO_S1_AP`, bits 7:6. */
  readonly LEAF_ATTR_LO_S1_AP: bigint;
  /** `KVM_PTE_LEAF_ATTR_LO_S1_SH`, bits 9:8. */
  readonly LEAF_ATTR_LO_S1_SH: bigint;
  /** `KVM_PTE_LEAF_ATTR_LO_S1_AF`, bit 10. */
  readonly LEAF_ATTR_LO_S1_AF: bigint;
  /** `KVM_PTE_LEAF_ATTR_HI_S1_GP`, bit 50. */
  readonly LEAF_ATTR_HI_S1_GP: bigint;
  /** `KVM_PTE_LEAF_ATTR_HI_S1_XN`, bit 54. */
  readonly LEAF_ATTR_HI_S1_XN: bigint;
  /** `KVM_PTE_LEAF_ATTR_HI_SW`, bits 58:55. */
  readonly LEAF_ATTR_HI_SW: bigint;
} = {
  VALID: BigInt(LO_VALID),
  TYPE: BigInt(LO_TYPE),
  ADDR_MASK: 0x0000_ffff_ffff_f000n,
  LEAF_ATTR_LO_S1_ATTRIDX: 7n << BigInt(LO_ATTRIDX_SHIFT),
  LEAF_ATTR_LO_S1_AP: 3n << BigInt(LO_AP_SHIFT),
  LEAF_ATTR_LO_S1_SH: 3n << BigInt(LO_SH_SHIFT),
  LEAF_ATTR_LO_S1_AF: BigInt(LO_AF),
  LEAF_ATTR_HI_S1_GP: BigInt(HI_GP) << 32n,
  LEAF_ATTR_HI_S1_XN: BigInt(HI_XN) << 32n,
  LEAF_ATTR_HI_SW: BigInt(HI_SW_MASK) << 32n,
};

/**
 * Software prot bits (`KVM_PGTABLE_PROT_SW0..3`, mainline). The kernel keeps
 * them at bits 55..58 of a u64; hyplab prot numbers carry them 32 bits lower
 * (bits 23..26) so a prot stays a safe integer, and the encoder puts them back
 * at 58:55 of the descriptor.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeHypLeaf, KVM_PGTABLE_PROT_SW } from "./descriptor.ts";
 * import { PAGE_HYP } from "../../core/mod.ts";
 * const pte = encodeHypLeaf(0, PAGE_HYP | KVM_PGTABLE_PROT_SW.SW0, 3, { version: "mainline" });
 * assertEquals(pte, 0x00c0_0000_0000_0743n);
 * ```
 */
export const KVM_PGTABLE_PROT_SW: {
  /** `KVM_PGTABLE_PROT_SW0` (descriptor bit 55). */
  readonly SW0: number;
  /** `KVM_PGTABLE_PROT_SW1` (descriptor bit 56). */
  readonly SW1: number;
  /** `KVM_PGTABLE_PROT_SW2` (descriptor bit 57). */
  readonly SW2: number;
  /** `KVM_PGTABLE_PROT_SW3` (descriptor bit 58). */
  readonly SW3: number;
} = { SW0: 1 << 23, SW1: 1 << 24, SW2: 1 << 25, SW3: 1 << 26 };

/**
 * The MAIR index of `MT_DEVICE_nGnRE` (AttrIndx of `PAGE_HYP_DEVICE`): 5 in
 * v5.13, whose `asm/memory.h` still had MT_NORMAL_WT = 3 and
 * MT_DEVICE_nGnRnE = 4 (checked in the hindawiai/hinlin v5.13 tree), and 4
 * in mainline after MT_NORMAL_WT was removed. `MT_NORMAL` is 0 in both.
 *
 * @param version Kernel version.
 * @returns The AttrIndx.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mtDeviceNGnRE } from "./descriptor.ts";
 * assertEquals(mtDeviceNGnRE("v5.13"), 5);
 * assertEquals(mtDeviceNGnRE("mainline"), 4);
 * ```
 */
export function mtDeviceNGnRE(version: KvmPgtableVersion): number {
  return deviceAttrIndex(version);
}

/**
 * Why `hyp_set_prot_attr` would return -EINVAL for `prot`: no R, W with X,
 * or X with DEVICE — the kernel's only three rules, in v5.13 and mainline.
 * Any other bit is ignored, as the kernel ignores it (mainline's
 * `KVM_PGTABLE_PROT_NORMAL_NC`, software bits in v5.13, unnamed bits).
 *
 * @param prot Prot bits.
 * @param options Kernel version (the rules are the same in both).
 * @returns The rule broken, or undefined for a valid prot.
 * @throws {TypeError} For a prot that is not a non-negative safe integer.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypProtProblem } from "./descriptor.ts";
 * assertEquals(hypProtProblem(0x7), "W and X together");
 * assertEquals(hypProtProblem(0x6), undefined);
 * assertEquals(hypProtProblem(0x14), undefined); // R and an ignored bit 4
 * ```
 */
export function hypProtProblem(
  prot: number,
  _options: HypDescriptorOptions = {},
): string | undefined {
  assertProt(prot);
  return protProblem(prot);
}

/**
 * `hyp_set_prot_attr`: the leaf attributes (every field but VALID, TYPE and
 * the output address) for a kernel prot. Bits other than R, W, X, DEVICE
 * (and SW0..3, which mainline copies) are ignored, as in the kernel.
 *
 * @param prot Prot bits (`PAGE_HYP`, `PAGE_HYP_EXEC`, ...).
 * @param options Kernel version and BTI.
 * @returns The attribute bits.
 * @throws {KernelErrnoError} -EINVAL for no R, W with X, X with DEVICE.
 * @throws {TypeError} For a prot that is not a non-negative safe integer.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { hypProtAttr } from "./descriptor.ts";
 * import { KernelErrnoError, PAGE_HYP } from "../../core/mod.ts";
 * assertEquals(hypProtAttr(PAGE_HYP), 0x0040_0000_0000_0740n);
 * assertThrows(() => hypProtAttr(0x2), KernelErrnoError, "no R");
 * ```
 */
export function hypProtAttr(prot: number, options: HypDescriptorOptions = {}): bigint {
  throwIfBadProt(prot);
  const out = new Uint32Array(2);
  protAttrParts(prot, formatOf(options), out);
  return joinPte(out[0]!, out[1]!);
}

/**
 * `kvm_init_valid_leaf_pte`: a valid page (level 3) or block (levels 1, 2)
 * descriptor mapping `pa` with `prot`.
 *
 * @param pa Output address, aligned to the level's granule, below 2^48
 *   (2^52 with LPA2).
 * @param prot Prot bits.
 * @param level 1 (1 GiB block), 2 (2 MiB block) or 3 (4 KiB page).
 * @param options Kernel version, BTI, hVHE, LPA2.
 * @returns The descriptor.
 * @throws {KernelErrnoError} -EINVAL for no R, W with X, X with DEVICE
 *   (other prot bits are ignored, as `hyp_set_prot_attr` ignores them).
 * @throws {RangeError} For a level without leaves or a misaligned / too-high `pa`.
 * @example The kernel's PAGE_HYP family at PA 0 (page and block)
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeHypLeaf } from "./descriptor.ts";
 * import { PAGE_HYP, PAGE_HYP_DEVICE, PAGE_HYP_EXEC, PAGE_HYP_RO } from "../../core/mod.ts";
 * assertEquals(encodeHypLeaf(0, PAGE_HYP, 3), 0x0040_0000_0000_0743n);
 * assertEquals(encodeHypLeaf(0, PAGE_HYP, 2), 0x0040_0000_0000_0741n);
 * assertEquals(encodeHypLeaf(0, PAGE_HYP_EXEC, 3), 0x7c3n);
 * assertEquals(encodeHypLeaf(0, PAGE_HYP_RO, 3), 0x0040_0000_0000_07c3n);
 * assertEquals(encodeHypLeaf(0, PAGE_HYP_DEVICE, 3), 0x0040_0000_0000_0757n);
 * assertEquals(encodeHypLeaf(0, PAGE_HYP_DEVICE, 3, { version: "mainline" }), 0x0040_0000_0000_0753n);
 * // hVHE (7.2: PXN|UXN) with LPA2 (no SH), as a real 7.2 boot on QEMU's max reads back:
 * assertEquals(encodeHypLeaf(0, PAGE_HYP, 3, { version: "v7.2", hvhe: true, lpa2: true }), 0x0060_0000_0000_0403n);
 * assertEquals(encodeHypLeaf(0, PAGE_HYP_EXEC, 3, { version: "v6.12", hvhe: true }), 0x783n);
 * ```
 */
export function encodeHypLeaf(
  pa: number,
  prot: number,
  level: number,
  options: HypDescriptorOptions = {},
): bigint {
  const f = formatOf(options);
  if (level !== 1 && level !== 2 && level !== 3) {
    throw new RangeError(
      `Cannot encode a leaf at level ${level}: 4 KiB tables have leaves at 1..3`,
    );
  }
  const g = KVM_GRANULE_SIZES[level]!;
  const oaBits = f.lpa2 ? 52 : 48;
  if (!Number.isSafeInteger(pa) || pa < 0 || pa >= 2 ** oaBits || pa % g !== 0) {
    throw new RangeError(
      `Cannot encode a level-${level} leaf at PA ${
        fmt(pa)
      }: must be ${g}-byte aligned and below 2^${oaBits}`,
    );
  }
  throwIfBadProt(prot);
  const out = new Uint32Array(2);
  protAttrParts(prot, f, out);
  return joinPte(leafLo(pa, out[0]!, level, f.lpa2), leafHi(pa, out[1]!, f.lpa2));
}

/**
 * A table descriptor: PA(child) | 0b11 (`kvm_set_table_pte`).
 *
 * @param pa Page-aligned PA of the next-level table, below 2^48 (2^52 with LPA2).
 * @param options `lpa2`: address bits 51:50 go to descriptor bits 9:8.
 * @returns The descriptor.
 * @throws {RangeError} For a misaligned or too-high `pa`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeHypTable } from "./descriptor.ts";
 * assertEquals(encodeHypTable(0x4000_1000), 0x4000_1003n);
 * assertEquals(encodeHypTable(2 ** 50 + 0x1000, { lpa2: true }), 0x1103n);
 * ```
 */
export function encodeHypTable(pa: number, options: { lpa2?: boolean } = {}): bigint {
  const lpa2 = options.lpa2 ?? false;
  const oaBits = lpa2 ? 52 : 48;
  if (!Number.isSafeInteger(pa) || pa < 0 || pa >= 2 ** oaBits || pa % 4096 !== 0) {
    throw new RangeError(
      `Cannot encode a table descriptor for PA ${
        fmt(pa)
      }: must be page-aligned and below 2^${oaBits}`,
    );
  }
  return joinPte(leafLo(pa, 0, 3, lpa2), leafHi(pa, 0, lpa2));
}

/** Every field of a hyp stage-1 descriptor, decoded. */
export interface HypPte {
  /** VALID (bit 0). */
  valid: boolean;
  /**
   * What the entry is at its level: `reserved` is a valid block encoding
   * where none may be (level 0, or bit 1 clear at level 3).
   */
  type: "invalid" | "table" | "block" | "page" | "reserved";
  /** Output address (bits 47:12; with LPA2 49:12 and 51:50 from 9:8): the next table for a table entry. */
  oa: number;
  /** AttrIndx (bits 4:2). */
  attrIndx: number;
  /** AP (bits 7:6). */
  ap: number;
  /** SH (bits 9:8); 0 with LPA2, where those bits are address bits. */
  sh: number;
  /** AF (bit 10). */
  af: boolean;
  /** GP (bit 50). */
  gp: boolean;
  /** XN (bit 54; UXN in the EL2&0 regime). */
  xn: boolean;
  /** PXN (bit 53; RES0 in the EL2 regime). */
  pxn: boolean;
  /** Software bits 58:55 as a 4-bit value. */
  sw: number;
  /** Prot the leaf grants (0 for a table; the software bits only for an invalid entry). */
  prot: number;
}

/**
 * Decodes a descriptor found at `level`.
 *
 * @param pte The descriptor.
 * @param level Its level.
 * @param options Kernel version (to recognise the device AttrIndx), hVHE, LPA2.
 * @returns The fields.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeHypPte } from "./descriptor.ts";
 * const d = decodeHypPte(0x0040_0000_4000_0743n, 3);
 * assertEquals([d.type, d.oa, d.ap, d.xn, d.prot], ["page", 0x4000_0000, 1, true, 0x6]);
 * ```
 */
export function decodeHypPte(
  pte: bigint,
  level: number,
  options: HypDescriptorOptions = {},
): HypPte {
  const f = formatOf(options);
  const parts = new Uint32Array(2);
  splitPte(pte, parts);
  const lo = parts[0]!;
  const hi = parts[1]!;
  const valid = (lo & LO_VALID) !== 0;
  let type: HypPte["type"];
  if (!valid) type = "invalid";
  else if (isTable(lo, level)) type = "table";
  else if (level === 3) type = (lo & LO_TYPE) !== 0 ? "page" : "reserved";
  else type = level >= 1 ? "block" : "reserved";
  const leaf = type === "page" || type === "block";
  return {
    valid,
    type,
    oa: pteToPhys(lo, hi, f.lpa2),
    attrIndx: (lo >>> LO_ATTRIDX_SHIFT) & 7,
    ap: (lo >>> LO_AP_SHIFT) & 3,
    sh: f.lpa2 ? 0 : (lo >>> LO_SH_SHIFT) & 3,
    af: (lo & LO_AF) !== 0,
    gp: (hi & HI_GP) !== 0,
    xn: (hi & HI_XN) !== 0,
    pxn: (hi & HI_PXN) !== 0,
    sw: (hi & HI_SW_MASK) >>> 23,
    prot: leaf ? leafProt(lo, hi, f) : valid ? 0 : hi & PROT_SW_MASK,
  };
}

/**
 * `kvm_pgtable_hyp_pte_prot`: the prot of a leaf (software bits, X unless XN,
 * R or R|W from AP), plus DEVICE when AttrIndx is the version's
 * `MT_DEVICE_nGnRE` (the kernel's decoder leaves DEVICE out). An invalid
 * entry gives only its software bits, as in the kernel.
 *
 * @param pte A leaf descriptor.
 * @param options Kernel version, hVHE, LPA2.
 * @returns Prot bits.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypPteProt } from "./descriptor.ts";
 * import { PAGE_HYP, PAGE_HYP_EXEC } from "../../core/mod.ts";
 * assertEquals(hypPteProt(0x7c3n), PAGE_HYP_EXEC);
 * assertEquals(hypPteProt(0x0060_0000_0000_0403n, { version: "v7.2", hvhe: true, lpa2: true }), PAGE_HYP);
 * ```
 */
export function hypPteProt(pte: bigint, options: HypDescriptorOptions = {}): number {
  const parts = new Uint32Array(2);
  splitPte(pte, parts);
  return leafProt(parts[0]!, parts[1]!, formatOf(options));
}

/**
 * `kvm_pgtable_hyp_pte_prot` as the kernel returns it, in that kernel's own
 * `enum kvm_pgtable_prot` (a u64), where {@link hypPteProt} gives hyplab's
 * numbering. Mainline: the software bits 58:55 in place, then for a valid
 * leaf PX unless XN — without hVHE the decoder sets PX only, not X = PX|UX
 * (80cbfd7174f3, in the KVM pull for Linux 7.0, release UNVERIFIED; the
 * enum is 2608563b466b's, v6.19 — both newer than the mainline profile's
 * v6.16/6.17 baseline), so a leaf mapped with PAGE_HYP_EXEC (0xb) reads
 * back as R|PX (0x9) — and R or R|W from AP; never DEVICE. v5.13 has no such decoder; the same rule is applied in its
 * enum (X = 1, W = 2, R = 4), without software bits.
 *
 * @param pte A descriptor (an invalid one gives its software bits only).
 * @param options Kernel version.
 * @returns The kernel's prot value.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kernelPteProt } from "./descriptor.ts";
 * assertEquals(kernelPteProt(0x7c3n, { version: "mainline" }), 0x9n); // R|PX
 * assertEquals(kernelPteProt(0x7c3n), 0x5n); // v5.13 R|X
 * assertEquals(kernelPteProt(0x0040_0000_0000_0743n, { version: "mainline" }), 0xcn);
 * ```
 */
export function kernelPteProt(pte: bigint, options: HypDescriptorOptions = {}): bigint {
  const f = formatOf(options);
  const facts = f.facts;
  const parts = new Uint32Array(2);
  splitPte(pte, parts);
  const lo = parts[0]!;
  const hi = parts[1]!;
  const sw = facts.swBits ? BigInt(hi & HI_SW_MASK) << 32n : 0n;
  if ((lo & LO_VALID) === 0) return sw;
  const enc = kvmPgtableProt(facts.prot);
  const px = enc.X & -enc.X;
  let prot = 0;
  if (f.hvhe && facts.hvheExec === "pxn-uxn") {
    // 7.x under ARM64_KVM_HVHE: PX unless PXN, UX unless UXN.
    if ((hi & HI_PXN) === 0) prot |= px;
    if ((hi & HI_UXN) === 0) prot |= enc.X & ~px;
  } else if ((hi & HI_XN) === 0) {
    // Otherwise the decoder grants PX alone: the lowest bit of X (X itself
    // before the v6.19 split into PX|UX).
    prot |= px;
  }
  const ap = (lo >>> LO_AP_SHIFT) & 3;
  if (ap === f.apRo) prot |= enc.R;
  else if (ap === f.apRw) prot |= enc.R | enc.W;
  return sw | BigInt(prot);
}

/**
 * A readable name for a prot: the kernel macro when one matches
 * (`PAGE_HYP`), else the flags (`R|X`), with software bits appended (`|SW0`).
 *
 * @param prot Prot bits.
 * @returns The name.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { KVM_PGTABLE_PROT_SW, protName } from "./descriptor.ts";
 * assertEquals(protName(0x6), "PAGE_HYP");
 * assertEquals(protName(0x2 | KVM_PGTABLE_PROT_SW.SW1), "W|SW1");
 * ```
 */
export function protName(prot: number): string {
  const sw = prot & PROT_SW_MASK;
  const base = prot & ~PROT_SW_MASK;
  const parts: string[] = [];
  const named = PROT_MACROS.get(base);
  if (named !== undefined) parts.push(named);
  else {
    const P = KVM_PGTABLE_PROT;
    if (base & P.R) parts.push("R");
    if (base & P.W) parts.push("W");
    if (base & P.X) parts.push("X");
    if (base & P.DEVICE) parts.push("DEVICE");
    const rest = base & ~(P.R | P.W | P.X | P.DEVICE);
    if (rest !== 0) parts.push(`0x${rest.toString(16)}`);
    if (parts.length === 0 && sw === 0) parts.push("0");
  }
  for (let i = 0; i < 4; i++) if (sw & (1 << (23 + i))) parts.push(`SW${i}`);
  return parts.join("|");
}

const PROT_MACROS = new Map<number, string>([
  [PAGE_HYP, "PAGE_HYP"],
  [PAGE_HYP_EXEC, "PAGE_HYP_EXEC"],
  [PAGE_HYP_RO, "PAGE_HYP_RO"],
  [PAGE_HYP_DEVICE, "PAGE_HYP_DEVICE"],
]);

function assertProt(prot: number): void {
  if (!Number.isSafeInteger(prot) || prot < 0) {
    throw new TypeError(`Cannot use prot ${String(prot)}: must be a non-negative integer`);
  }
}

function throwIfBadProt(prot: number): void {
  assertProt(prot);
  const why = protProblem(prot);
  if (why !== undefined) {
    throw new KernelErrnoError(
      "hyp_set_prot_attr",
      ERRNO.EINVAL,
      `Cannot map with prot ${fmt(prot)}: ${why}`,
    );
  }
}

function fmt(n: number): string {
  return Number.isSafeInteger(n) && n >= 0 ? `0x${n.toString(16)}` : String(n);
}
