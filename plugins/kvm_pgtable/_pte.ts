/**
 * Hot-path descriptor helpers over 32-bit halves (`lo` = bits 31:0,
 * `hi` = bits 63:32), so walks never build a BigInt per entry.
 *
 * Internal: the public, BigInt-edged API is in `descriptor.ts`.
 *
 * @module
 */

import { KVM_PGTABLE_PROT, type KvmPgtableVersion } from "../../core/mod.ts";
import { type PgtableFacts, release } from "../releases/mod.ts";

/** `KVM_PTE_VALID`, bit 0. */
export const LO_VALID = 1;
/** `KVM_PTE_TYPE`, bit 1: 1 = table (levels 0..2) or page (level 3), 0 = block. */
export const LO_TYPE = 2;
/** `KVM_PTE_LEAF_ATTR_LO_S1_ATTRIDX`, bits 4:2. */
export const LO_ATTRIDX_SHIFT = 2;
/** `KVM_PTE_LEAF_ATTR_LO_S1_AP`, bits 7:6. */
export const LO_AP_SHIFT = 6;
/** `KVM_PTE_LEAF_ATTR_LO_S1_AP_RW`. */
export const AP_RW = 1;
/** `KVM_PTE_LEAF_ATTR_LO_S1_AP_RO`. */
export const AP_RO = 3;
/** `KVM_PTE_LEAF_ATTR_LO_S1_SH`, bits 9:8. */
export const LO_SH_SHIFT = 8;
/** `KVM_PTE_LEAF_ATTR_LO_S1_SH_IS`. */
export const SH_IS = 3;
/** `KVM_PTE_LEAF_ATTR_LO_S1_AF`, bit 10. */
export const LO_AF = 1 << 10;
/** Output address bits 31:12 in the low half (`KVM_PTE_ADDR_MASK` low part). */
export const LO_ADDR_MASK = 0xffff_f000;
/** Output address bits 47:32 in the high half (`KVM_PTE_ADDR_MASK` high part). */
export const HI_ADDR_MASK = 0xffff;
/** `KVM_PTE_LEAF_ATTR_HI_S1_GP`, bit 50 (BTI guarded page, mainline). */
export const HI_GP = 1 << (50 - 32);
/** `KVM_PTE_LEAF_ATTR_HI_S1_XN`, bit 54. */
export const HI_XN = 1 << (54 - 32);
/** `KVM_PTE_LEAF_ATTR_HI_SW`, bits 58:55 (mainline copies them from prot). */
export const HI_SW_MASK = 0xf << (55 - 32);

/**
 * Software prot bits in hyplab prot numbers: the kernel's
 * `KVM_PGTABLE_PROT_SW0..3` (bits 55..58 of a u64) shifted down by 32, so a
 * prot stays a small safe integer. They line up with the descriptor's high half.
 */
export const PROT_SW_MASK = HI_SW_MASK;

/** `MT_NORMAL`, MAIR index 0 in both versions. */
export const MT_NORMAL_IDX = 0;

/**
 * The kvm_pgtable facts of a release (its descriptor's `pgtable`), looked up
 * once per table or call site, never on a hot path.
 *
 * @param version Release name.
 * @returns The facts.
 */
export function pgtableFacts(version: KvmPgtableVersion): PgtableFacts {
  // Every walk asks (the boot walks once per page it maps): the last answer
  // is kept, as a release's facts never change.
  if (version !== lastVersion) {
    lastFacts = release(version).pgtable;
    lastVersion = version;
  }
  return lastFacts!;
}
let lastVersion: KvmPgtableVersion | undefined = undefined;
let lastFacts: PgtableFacts | undefined = undefined;

/**
 * `MT_DEVICE_nGnRE` per release: 5 in v5.13 (`asm/memory.h` still had
 * MT_NORMAL_WT at 3 and MT_DEVICE_nGnRnE at 4), 4 once MT_NORMAL_WT was removed.
 */
export function deviceAttrIndex(version: KvmPgtableVersion): number {
  return pgtableFacts(version).mtDeviceNGnRE;
}

const P = KVM_PGTABLE_PROT;

/**
 * Why `hyp_set_prot_attr` rejects `prot`, or undefined when it accepts it.
 *
 * Only the kernel's three -EINVAL rules: no R; X with W; X with DEVICE.
 * Every other bit is ignored, as the kernel ignores it: v5.13's
 * `hyp_set_prot_attr` (hindawiai/hinlin) reads R, W, X and DEVICE and
 * nothing else; mainline's (Kingxukai/linux, v6.17-rc3) reads the same four
 * and copies the software bits, so `KVM_PGTABLE_PROT_NORMAL_NC` (BIT(4), a
 * stage-2 attribute) and any unnamed bit map as if absent. The software bits
 * are copied by {@link protAttrParts} in mainline only; v5.13 has none and
 * drops them. The caller checks that `prot` is a non-negative integer.
 *
 * @param prot Prot bits (hyplab numbering).
 * @returns The rule broken, or undefined.
 */
export function protProblem(prot: number): string | undefined {
  // `&` reads bits 31:0 of any safe integer: every bit a prot defines is there.
  if ((prot & P.R) === 0) return "no R";
  if ((prot & P.X) !== 0) {
    if ((prot & P.W) !== 0) return "W and X together";
    if ((prot & P.DEVICE) !== 0) return "X with DEVICE";
  }
  return undefined;
}

/** `KVM_PTE_LEAF_ATTR_HI_S1_PXN`, bit 53 (the EL2&0 regime's privileged execute-never). */
export const HI_PXN = 1 << (53 - 32);
/** `KVM_PTE_LEAF_ATTR_HI_S1_UXN`, bit 54: the nVHE XN bit is UXN in the EL2&0 regime. */
export const HI_UXN = HI_XN;
/** `KVM_PTE_ADDR_51_50_LPA2`, bits 9:8: output-address bits 51:50 under FEAT_LPA2. */
export const LO_OA_51_50_SHIFT = 8;
/** Output address bits 49:32 in the high half under FEAT_LPA2 (`KVM_PTE_ADDR_MASK_LPA2`). */
export const HI_ADDR_MASK_LPA2 = 0x3ffff;

/**
 * How one table encodes its descriptors: the release's facts, resolved for
 * the CPU capabilities the kernel tests at run time (`ARM64_KVM_HVHE`,
 * `kvm_lpa2_is_enabled()`, `system_supports_bti_kernel()`). Built once per
 * table; the hot paths read plain numbers from it.
 */
export interface PteFormat {
  /** The release's kvm_pgtable facts. */
  readonly facts: PgtableFacts;
  /** `ARM64_KVM_HVHE`: the EL2&0 regime's AP and execute-never bits. */
  readonly hvhe: boolean;
  /** `kvm_lpa2_is_enabled()`: OA bits 51:50 in 9:8, no SH in leaves. */
  readonly lpa2: boolean;
  /** GP on executable leaves (BTI kernel, and the release sets it). */
  readonly gp: boolean;
  /** `KVM_PTE_LEAF_ATTR_LO_S1_AP_RW`: 1, or 0 under hVHE. */
  readonly apRw: number;
  /** `KVM_PTE_LEAF_ATTR_LO_S1_AP_RO`: 3, or 2 under hVHE. */
  readonly apRo: number;
  /** SH as leaves carry it: inner shareable, or 0 under LPA2 (TCR_ELx.SH0 says). */
  readonly sh: number;
  /** High-half bits a leaf without execute permission gets. */
  readonly noExecHi: number;
  /** High-half bit whose clear state grants execution at EL2 to the decoder. */
  readonly execHi: number;
  /** The output-address mask of the high half (bits 47:32, or 49:32 under LPA2). */
  readonly hiAddrMask: number;
}

const FORMATS = new Map<string, PteFormat>();

/**
 * The descriptor format of a table (cached per combination).
 *
 * @param version Release name.
 * @param regime `hvhe`, `lpa2`, `bti` as the kernel found them.
 * @returns The format.
 */
export function pteFormat(
  version: KvmPgtableVersion,
  regime: { hvhe?: boolean; lpa2?: boolean; bti?: boolean } = {},
): PteFormat {
  const hvhe = regime.hvhe === true;
  const lpa2 = regime.lpa2 === true;
  const bti = regime.bti === true;
  const key = `${version}|${hvhe}|${lpa2}|${bti}`;
  let f = FORMATS.get(key);
  if (f === undefined) {
    const facts = pgtableFacts(version);
    // Without hVHE, bit 54 is the single XN of the EL2 regime. Under hVHE,
    // 6.12 still sets only bit 54 (now UXN) and its decoder reads X from it;
    // 7.x sets PXN and UXN and reads PX from PXN, which governs EL2.
    const pxn = hvhe && facts.hvheExec === "pxn-uxn";
    f = Object.freeze({
      facts,
      hvhe,
      lpa2,
      gp: bti && facts.gpWithBti,
      apRw: hvhe ? 0 : AP_RW,
      apRo: hvhe ? 2 : AP_RO,
      sh: lpa2 ? 0 : SH_IS,
      noExecHi: pxn ? HI_PXN | HI_UXN : HI_XN,
      execHi: pxn ? HI_PXN : HI_XN,
      hiAddrMask: lpa2 ? HI_ADDR_MASK_LPA2 : HI_ADDR_MASK,
    });
    FORMATS.set(key, f);
  }
  return f;
}

/**
 * `hyp_set_prot_attr`: the leaf attribute halves for a valid prot.
 * Call {@link protProblem} first; this does not validate. It reads R, W, X
 * and DEVICE, and in mainline copies SW0..3; every other bit is ignored, as
 * in the kernel (v5.13 and mainline alike). Under hVHE the AP encodings
 * are the EL2&0 regime's (RW 0, RO 2) and a non-executable leaf gets the
 * release's execute-never bits; under LPA2 SH is left 0.
 *
 * @param prot Prot bits (already valid).
 * @param fmt The table's descriptor format.
 * @param out Receives `[attrLo, attrHi]`.
 */
export function protAttrParts(prot: number, fmt: PteFormat, out: Uint32Array): void {
  const facts = fmt.facts;
  const device = (prot & P.DEVICE) !== 0;
  const mtype = device ? facts.mtDeviceNGnRE : MT_NORMAL_IDX;
  const ap = (prot & P.W) !== 0 ? fmt.apRw : fmt.apRo;
  let hi = 0;
  if ((prot & P.X) !== 0) {
    if (fmt.gp) hi |= HI_GP;
  } else {
    hi |= fmt.noExecHi;
  }
  if (facts.swBits) hi |= prot & PROT_SW_MASK;
  out[0] = (mtype << LO_ATTRIDX_SHIFT) | (ap << LO_AP_SHIFT) | (fmt.sh << LO_SH_SHIFT) | LO_AF;
  out[1] = hi >>> 0;
}

/**
 * The low half of a valid leaf or table entry (`kvm_init_valid_leaf_pte`,
 * `kvm_phys_to_pte`).
 *
 * @param pa Output address (granule-aligned).
 * @param attrLo Low attribute half.
 * @param level Leaf level (3 = page, else block).
 * @param lpa2 LPA2 format: OA bits 51:50 go to bits 9:8.
 * @returns Bits 31:0.
 */
export function leafLo(pa: number, attrLo: number, level: number, lpa2 = false): number {
  // `&` takes its operand modulo 2^32, exactly, for any safe integer.
  const addr = pa & LO_ADDR_MASK;
  const hi5150 = lpa2 && pa >= 0x4_0000_0000_0000
    ? (Math.floor(pa / 0x4_0000_0000_0000) & 3) << LO_OA_51_50_SHIFT
    : 0;
  return (addr | hi5150 | attrLo | (level === 3 ? LO_TYPE : 0) | LO_VALID) >>> 0;
}

/**
 * The high half of a valid leaf or table entry.
 *
 * @param pa Output address.
 * @param attrHi High attribute half.
 * @param lpa2 LPA2 format: OA bits 49:48 stay in place.
 * @returns Bits 63:32.
 */
export function leafHi(pa: number, attrHi: number, lpa2 = false): number {
  const mask = lpa2 ? HI_ADDR_MASK_LPA2 : HI_ADDR_MASK;
  return ((Math.floor(pa / 0x1_0000_0000) & mask) | attrHi) >>> 0;
}

/**
 * `kvm_pte_to_phys` over halves: the output address in bits 47:12, or
 * under LPA2 bits 49:12 with bits 51:50 from descriptor bits 9:8.
 *
 * @param lo Bits 31:0.
 * @param hi Bits 63:32.
 * @param lpa2 LPA2 format.
 * @returns The output address.
 */
export function pteToPhys(lo: number, hi: number, lpa2 = false): number {
  if (!lpa2) return (hi & HI_ADDR_MASK) * 0x1_0000_0000 + ((lo & LO_ADDR_MASK) >>> 0);
  return ((lo >>> LO_OA_51_50_SHIFT) & 3) * 0x4_0000_0000_0000 +
    (hi & HI_ADDR_MASK_LPA2) * 0x1_0000_0000 + ((lo & LO_ADDR_MASK) >>> 0);
}

/**
 * `kvm_pte_table(pte, level)`: valid with bit 1 set, above level 3.
 *
 * @param lo Bits 31:0.
 * @param level Level of the entry.
 * @returns True for a table descriptor.
 */
export function isTable(lo: number, level: number): boolean {
  return level < 3 && (lo & 3) === 3;
}

/**
 * The prot a valid leaf grants (`kvm_pgtable_hyp_pte_prot`, plus DEVICE read
 * back from AttrIndx, which the kernel's decoder leaves out). Under hVHE the
 * AP values are the EL2&0 regime's and X follows the release's execute bit.
 *
 * @param lo Bits 31:0.
 * @param hi Bits 63:32.
 * @param fmt The table's descriptor format.
 * @returns Prot bits.
 */
export function leafProt(lo: number, hi: number, fmt: PteFormat): number {
  let prot = hi & PROT_SW_MASK;
  if ((lo & LO_VALID) === 0) return prot;
  if ((hi & fmt.execHi) === 0) prot |= P.X;
  const ap = (lo >>> LO_AP_SHIFT) & 3;
  if (ap === fmt.apRo) prot |= P.R;
  else if (ap === fmt.apRw) prot |= P.R | P.W;
  if (((lo >>> LO_ATTRIDX_SHIFT) & 7) === fmt.facts.mtDeviceNGnRE) prot |= P.DEVICE;
  return prot;
}

/**
 * Typed-array words are host-endian: table words are read (and joined) as
 * little-endian only on a little-endian host (`PhysicalMemory.tableWords`
 * gives undefined elsewhere).
 */
export const LITTLE_ENDIAN_HOST: boolean = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const JOIN32 = new Uint32Array(2);
const JOIN64 = new BigUint64Array(JOIN32.buffer);

/**
 * Joins halves into a 64-bit value (API edges only).
 *
 * @param lo Bits 31:0.
 * @param hi Bits 63:32.
 * @returns The value.
 */
export function joinPte(lo: number, hi: number): bigint {
  // One bigint made from the halves' bytes, not three (`walk()` joins
  // every entry it visits); a big-endian host shifts and ORs.
  if (!LITTLE_ENDIAN_HOST) return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  JOIN32[0] = lo;
  JOIN32[1] = hi;
  return JOIN64[0]!;
}

/**
 * Splits a 64-bit value into halves (API edges only).
 *
 * @param pte The value.
 * @param out Receives `[lo, hi]`.
 */
export function splitPte(pte: bigint, out: Uint32Array): void {
  const v = BigInt.asUintN(64, pte);
  out[0] = Number(v & 0xffff_ffffn);
  out[1] = Number(v >> 32n);
}
