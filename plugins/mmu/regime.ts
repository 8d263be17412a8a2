/**
 * The EL2 stage-1 translation regime decoded from SCTLR_EL2, TCR_EL2,
 * TTBR0_EL2, MAIR_EL2, HCR_EL2 and ID_AA64MMFR0_EL1 into plain numbers, once
 * per register change, so the translate path reads no register.
 *
 * HCR_EL2.E2H selects the regime (Arm ARM D8.1, "Translation regimes"):
 * with E2H = 0 it is the EL2 regime, one VA range, TCR_EL2 in its own
 * layout; with E2H = 1 (and TGE = 0, as pKVM's hVHE runs) it is the EL2&0
 * regime, TCR_EL2 in TCR_EL1's layout (IPS at 34:32, HA/HD at 39/40, HPD0
 * at 41, DS at 59, EPD0 at 7), descriptor bit 53 PXN governs execution at
 * EL2 (bit 54 is UXN, for EL0), and table bit 59 PXNTable. FEAT_LPA2
 * (TCR.DS = 1) allows 52-bit VAs from level −1 and puts output-address bits
 * 51:50 in descriptor bits 9:8 and BADDR[51:48] in TTBR bits 5:2.
 *
 * @module
 */

import { type Cpu, hex } from "../../core/mod.ts";

/** The {@link RegimeConfig.id} of the next decoded regime. */
let nextId = 1;

/** `pamax_map`: TCR_ELx.PS / ID_AA64MMFR0_EL1.PARange → address bits. */
const PAMAX_BITS: readonly number[] = [32, 36, 40, 42, 44, 48, 52];

/** The decoded regime (immutable: a change makes a new object). */
export interface RegimeConfig {
  /**
   * A number unique to this decoded object (from 1): its identity, for the
   * TLB's typed-array columns, which hold numbers, not references.
   */
  readonly id: number;
  /** Raw SCTLR_EL2. */
  readonly sctlr: bigint;
  /** Raw TCR_EL2. */
  readonly tcr: bigint;
  /** Raw TTBR0_EL2 (or the overriding base). */
  readonly ttbr: bigint;
  /** Raw MAIR_EL2. */
  readonly mair: bigint;
  /** Raw ID_AA64MMFR0_EL1. */
  readonly mmfr0: bigint;
  /** Raw HCR_EL2 (only E2H is read). */
  readonly hcr: bigint;
  /** HCR_EL2.E2H: the EL2&0 regime, TCR_EL2 in TCR_EL1's layout. */
  readonly e2h: boolean;
  /** TCR.DS: FEAT_LPA2 descriptors, 52-bit VAs and OAs with 4 KiB pages. */
  readonly ds: boolean;
  /** TCR.HA: the walker sets a leaf's AF instead of faulting. */
  readonly ha: boolean;
  /** TCR.HD: a write to a DBM leaf (bit 51) clears its AP[2] instead of faulting. */
  readonly hd: boolean;
  /** TCR_EL2.EPD0 (E2H = 1): walks from TTBR0 are disabled. */
  readonly epd0: boolean;
  /** High-half bit of the leaf's EL2 execute-never: XN (54) or, under E2H, PXN (53). */
  readonly xnHiBit: number;
  /** High-half bit of the table's EL2 execute-never: XNTable (60) or, under E2H, PXNTable (59). */
  readonly xnTableHiBit: number;
  /** SCTLR_EL2.M. */
  readonly mmuOn: boolean;
  /** SCTLR_EL2.WXN: writable implies execute-never. */
  readonly wxn: boolean;
  /** SCTLR_EL2.A: alignment checking of data accesses. */
  readonly alignCheck: boolean;
  /** SCTLR_EL2.I: instruction cacheability with the MMU off. */
  readonly icache: boolean;
  /** Why the MMU-on configuration is not modelled, or undefined. */
  readonly unsupported: string | undefined;
  /** TCR_EL2.T0SZ. */
  readonly t0sz: number;
  /** T0SZ outside 16..39 (12..39 with DS) (the level-0 translation fault this model chooses). */
  readonly t0szFault: boolean;
  /** Input address bits, 64 − T0SZ. */
  readonly iaBits: number;
  /** 2^iaBits: VAs at or above fault. */
  readonly iaLimit: number;
  /** Level of the initial lookup: 4 − ⌊(iaBits − 4) / 9⌋. */
  readonly startLevel: number;
  /** TTBR0_EL2's table address: BADDR[47:1] (with DS, BADDR[51:48] from bits 5:2), CnP cleared. */
  readonly ttbrAddr: number;
  /** PA of the start-level table: BADDR with the bits below the table size cleared. */
  readonly base: number;
  /** TTBR0_EL2 base at or above the output size (level-0 address size fault). */
  readonly baseOutOfRange: boolean;
  /** Output address bits: min(PS, PARange), at most 48 without DS. */
  readonly psBits: number;
  /** 2^psBits. */
  readonly psLimit: number;
  /** Physical address bits of the PE (PARange) for the MMU-off check. */
  readonly paMaxBits: number;
  /** 2^paMaxBits. */
  readonly paMaxLimit: number;
  /** TCR_EL2.HPD (HPD0 under E2H): hierarchical permissions disabled. */
  readonly hpd: boolean;
  /** MAIR_EL2 attribute byte of each AttrIndx. */
  readonly mairAttrs: Uint8Array;
}

const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;
const field = (v: bigint, lsb: number, width: number): number =>
  Number((v >> BigInt(lsb)) & ((1n << BigInt(width)) - 1n));

/**
 * Reads the CPU's EL2 translation registers (never the TLB).
 *
 * @param cpu The CPU.
 * @returns `[SCTLR_EL2, TCR_EL2, TTBR0_EL2, MAIR_EL2, ID_AA64MMFR0_EL1, HCR_EL2]`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "../../core/mod.ts";
 * import { readRegimeRegisters } from "./regime.ts";
 * assertEquals(readRegimeRegisters(new Cpu(0))[0], 0x30C50830n);
 * ```
 */
export function readRegimeRegisters(cpu: Cpu): [bigint, bigint, bigint, bigint, bigint, bigint] {
  const r = cpu.sysregs;
  return [
    r.read("SCTLR_EL2"),
    r.read("TCR_EL2"),
    r.read("TTBR0_EL2"),
    r.read("MAIR_EL2"),
    r.read("ID_AA64MMFR0_EL1"),
    r.read("HCR_EL2"),
  ];
}

/**
 * Decodes the EL2 stage-1 regime (Arm ARM D8: VMSAv8-64, 4 KiB granule;
 * parameters as `AArch64.GetS1TTWParams` / QEMU `aa64_va_parameters`).
 *
 * Choices where the architecture leaves one: T0SZ outside 16..39 (12..39
 * with DS) gives a level-0 translation fault (as QEMU), PS above PARange is
 * PARange, and TTBR0_EL2 bits below the start-level table size are ignored.
 *
 * @param sctlr SCTLR_EL2.
 * @param tcr TCR_EL2.
 * @param ttbr TTBR0_EL2 (or a table base to walk instead).
 * @param mair MAIR_EL2.
 * @param mmfr0 ID_AA64MMFR0_EL1.
 * @param hcr HCR_EL2 (E2H selects the EL2&0 regime; default 0, the EL2 regime).
 * @returns The decoded regime.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeRegime } from "./regime.ts";
 * const r = decodeRegime(0x30C50831n, 0x80803510n | (5n << 16n), 0x4100_0001n, 0xffn, 5n);
 * assertEquals([r.mmuOn, r.iaBits, r.startLevel, r.base, r.psBits], [true, 48, 0, 0x4100_0000, 48]);
 * // A real 7.2 hVHE boot on QEMU's max: E2H, 52-bit VAs from level -1, LPA2.
 * const h = decodeRegime(0xc868380dn, 0xd500076b58c350cn, 0xbec01001n, 0x40044ffffn, 6n, 0x430480080001n);
 * assertEquals([h.e2h, h.ds, h.iaBits, h.startLevel, h.base, h.psBits], [true, true, 52, -1, 0xbec01000, 52]);
 * ```
 */
export function decodeRegime(
  sctlr: bigint,
  tcr: bigint,
  ttbr: bigint,
  mair: bigint,
  mmfr0: bigint,
  hcr = 0n,
): RegimeConfig {
  const e2h = bit(hcr, 34);
  // The E2H = 1 layout is TCR_EL1's; the EL2 layout keeps PS, HA, HD, HPD
  // and DS at other places.
  const ds = bit(tcr, e2h ? 59 : 32);
  const t0sz = field(tcr, 0, 6);
  const t0szFault = t0sz < (ds ? 12 : 16) || t0sz > 39;
  const iaBits = t0szFault ? 48 : 64 - t0sz;
  const startLevel = 4 - Math.floor((iaBits - 4) / 9);
  const parange = Math.min(field(mmfr0, 0, 4), PAMAX_BITS.length - 1);
  const ps = field(tcr, e2h ? 32 : 16, 3);
  const psBits = Math.min(PAMAX_BITS[Math.min(ps, parange)]!, ds ? 52 : 48);
  const paMaxBits = PAMAX_BITS[parange]!;
  // TTBR0_EL2: BADDR from bit 1 (CnP in bit 0, the ASID in 63:48 under
  // E2H); with DS, BADDR[51:48] in bits 5:2 and a 64-byte minimum alignment.
  const low = Number(ttbr & 0xffff_ffff_fffen);
  const ttbrAddr = ds ? (low - (low % 64)) + Number((ttbr >> 2n) & 0xfn) * 2 ** 48 : low;
  // The start-level table holds 2^(iaBits − shift(start)) descriptors.
  const tableBytes = 2 ** (iaBits - (12 + 9 * (3 - startLevel)) + 3);
  const mairAttrs = new Uint8Array(8);
  for (let i = 0; i < 8; i++) mairAttrs[i] = field(mair, 8 * i, 8);
  return {
    id: nextId++,
    sctlr,
    tcr,
    ttbr,
    mair,
    mmfr0,
    hcr,
    e2h,
    ds,
    ha: bit(tcr, e2h ? 39 : 21),
    hd: bit(tcr, e2h ? 40 : 22),
    epd0: e2h && bit(tcr, 7),
    xnHiBit: e2h ? 53 - 32 : 54 - 32,
    xnTableHiBit: e2h ? 59 - 32 : 60 - 32,
    mmuOn: bit(sctlr, 0),
    wxn: bit(sctlr, 19),
    alignCheck: bit(sctlr, 1),
    icache: bit(sctlr, 12),
    unsupported: unsupportedReason(sctlr, tcr, e2h),
    t0sz,
    t0szFault,
    iaBits,
    iaLimit: 2 ** iaBits,
    startLevel,
    ttbrAddr,
    base: ttbrAddr - (ttbrAddr % Math.max(tableBytes, 8)),
    baseOutOfRange: ttbrAddr >= 2 ** psBits,
    psBits,
    psLimit: 2 ** psBits,
    paMaxBits,
    paMaxLimit: 2 ** paMaxBits,
    hpd: bit(tcr, e2h ? 41 : 24),
    mairAttrs,
  };
}

function unsupportedReason(sctlr: bigint, tcr: bigint, e2h: boolean): string | undefined {
  const tg0 = field(tcr, 14, 2);
  const t = `Cannot translate with TCR_EL2 = ${hex(tcr)}${e2h ? " (E2H = 1 layout)" : ""}`;
  if (tg0 !== 0) {
    const what = tg0 === 1
      ? "the 64 KiB granule"
      : tg0 === 2
      ? "the 16 KiB granule"
      : "a reserved granule";
    return `${t}: TG0 = 0b${
      tg0.toString(2).padStart(2, "0")
    } selects ${what}; only the 4 KiB granule (TG0 = 0b00) is modelled`;
  }
  if (bit(sctlr, 25)) {
    return `Cannot translate with SCTLR_EL2 = ${
      hex(sctlr)
    }: EE = 1 (big-endian table walks) is not modelled`;
  }
  return undefined;
}

/**
 * The same regime walking from another table base (a TTBR0_EL2 value given
 * as a PA): what a walk after `msr ttbr0_el2` would use.
 *
 * @param cfg The current regime.
 * @param base Table base PA (a non-negative integer below 2^48).
 * @returns A new regime.
 * @throws {RangeError} For a base that is not an integer in [0, 2^48).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeRegime, withTableBase } from "./regime.ts";
 * const r = decodeRegime(0x30C50831n, 0x80803510n | (5n << 16n), 0x4100_0000n, 0xffn, 5n);
 * assertEquals(withTableBase(r, 0x4800_0000).base, 0x4800_0000);
 * ```
 */
export function withTableBase(cfg: RegimeConfig, base: number): RegimeConfig {
  const bits = cfg.ds ? 52 : 48;
  if (!Number.isSafeInteger(base) || base < 0 || base >= 2 ** bits) {
    throw new RangeError(`Cannot walk from table base ${base}: not an integer in [0, 2^${bits})`);
  }
  // Under DS the TTBR holds BADDR[51:48] in bits 5:2.
  const b = BigInt(base);
  const ttbr = cfg.ds ? (b & 0xffff_ffff_ffc0n) | ((b >> 48n) << 2n) : b;
  return decodeRegime(cfg.sctlr, cfg.tcr, ttbr, cfg.mair, cfg.mmfr0, cfg.hcr);
}
