/**
 * The EL2 stage-1 translation regime decoded from SCTLR_EL2, TCR_EL2,
 * TTBR0_EL2, MAIR_EL2 and ID_AA64MMFR0_EL1 into plain numbers, once per
 * register change, so the translate path reads no register.
 *
 * @module
 */

import { type Cpu, hex } from "../../core/mod.ts";

/** `pamax_map`: TCR_ELx.PS / ID_AA64MMFR0_EL1.PARange → address bits. */
const PAMAX_BITS: readonly number[] = [32, 36, 40, 42, 44, 48, 52];

/** The decoded regime (immutable: a change makes a new object). */
export interface RegimeConfig {
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
  /** T0SZ outside 16..39 (the level-0 translation fault this model chooses). */
  readonly t0szFault: boolean;
  /** Input address bits, 64 − T0SZ. */
  readonly iaBits: number;
  /** 2^iaBits: VAs at or above fault. */
  readonly iaLimit: number;
  /** Level of the initial lookup: 4 − ⌊(iaBits − 4) / 9⌋. */
  readonly startLevel: number;
  /** TTBR0_EL2[47:0] as given (BADDR with CnP). */
  readonly ttbrAddr: number;
  /** PA of the start-level table: BADDR with the bits below the table size cleared. */
  readonly base: number;
  /** TTBR0_EL2 base at or above the output size (level-0 address size fault). */
  readonly baseOutOfRange: boolean;
  /** Output address bits: min(PS, PARange), at most 48 without LPA2. */
  readonly psBits: number;
  /** 2^psBits. */
  readonly psLimit: number;
  /** Physical address bits of the PE (PARange) for the MMU-off check. */
  readonly paMaxBits: number;
  /** 2^paMaxBits. */
  readonly paMaxLimit: number;
  /** TCR_EL2.HPD: hierarchical permissions disabled. */
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
 * @returns `[SCTLR_EL2, TCR_EL2, TTBR0_EL2, MAIR_EL2, ID_AA64MMFR0_EL1]`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "../../core/mod.ts";
 * import { readRegimeRegisters } from "./regime.ts";
 * assertEquals(readRegimeRegisters(new Cpu(0))[0], 0x30C50830n);
 * ```
 */
export function readRegimeRegisters(cpu: Cpu): [bigint, bigint, bigint, bigint, bigint] {
  const r = cpu.sysregs;
  return [
    r.read("SCTLR_EL2"),
    r.read("TCR_EL2"),
    r.read("TTBR0_EL2"),
    r.read("MAIR_EL2"),
    r.read("ID_AA64MMFR0_EL1"),
  ];
}

/**
 * Decodes the EL2 stage-1 regime (Arm ARM D8: VMSAv8-64, 4 KiB granule;
 * parameters as `AArch64.GetS1TTWParams` / QEMU `aa64_va_parameters`).
 *
 * Choices where the architecture leaves one: T0SZ outside 16..39 gives a
 * level-0 translation fault (as QEMU), PS above PARange is PARange, and
 * TTBR0_EL2 bits below the start-level table size are ignored.
 *
 * @param sctlr SCTLR_EL2.
 * @param tcr TCR_EL2.
 * @param ttbr TTBR0_EL2 (or a table base to walk instead).
 * @param mair MAIR_EL2.
 * @param mmfr0 ID_AA64MMFR0_EL1.
 * @returns The decoded regime.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeRegime } from "./regime.ts";
 * const r = decodeRegime(0x30C50831n, 0x80803510n | (5n << 16n), 0x4100_0001n, 0xffn, 5n);
 * assertEquals([r.mmuOn, r.iaBits, r.startLevel, r.base, r.psBits], [true, 48, 0, 0x4100_0000, 48]);
 * ```
 */
export function decodeRegime(
  sctlr: bigint,
  tcr: bigint,
  ttbr: bigint,
  mair: bigint,
  mmfr0: bigint,
): RegimeConfig {
  const t0sz = field(tcr, 0, 6);
  const t0szFault = t0sz < 16 || t0sz > 39;
  const iaBits = t0szFault ? 48 : 64 - t0sz;
  const startLevel = 4 - Math.floor((iaBits - 4) / 9);
  const parange = Math.min(field(mmfr0, 0, 4), PAMAX_BITS.length - 1);
  const ps = field(tcr, 16, 3);
  const psBits = Math.min(PAMAX_BITS[Math.min(ps, parange)]!, 48);
  const paMaxBits = PAMAX_BITS[parange]!;
  const ttbrAddr = Number(ttbr & 0xffff_ffff_ffffn);
  // The start-level table holds 2^(iaBits − shift(start)) descriptors.
  const tableBytes = 2 ** (iaBits - (12 + 9 * (3 - startLevel)) + 3);
  const mairAttrs = new Uint8Array(8);
  for (let i = 0; i < 8; i++) mairAttrs[i] = field(mair, 8 * i, 8);
  return {
    sctlr,
    tcr,
    ttbr,
    mair,
    mmfr0,
    mmuOn: bit(sctlr, 0),
    wxn: bit(sctlr, 19),
    alignCheck: bit(sctlr, 1),
    icache: bit(sctlr, 12),
    unsupported: unsupportedReason(sctlr, tcr),
    t0sz,
    t0szFault,
    iaBits,
    iaLimit: 2 ** iaBits,
    startLevel,
    ttbrAddr,
    base: ttbrAddr - (ttbrAddr % tableBytes),
    baseOutOfRange: ttbrAddr >= 2 ** psBits,
    psBits,
    psLimit: 2 ** psBits,
    paMaxBits,
    paMaxLimit: 2 ** paMaxBits,
    hpd: bit(tcr, 24),
    mairAttrs,
  };
}

function unsupportedReason(sctlr: bigint, tcr: bigint): string | undefined {
  const tg0 = field(tcr, 14, 2);
  const t = `Cannot translate with TCR_EL2 = ${hex(tcr)}`;
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
  if (bit(tcr, 32)) return `${t}: DS = 1 (LPA2, 52-bit addresses) is not modelled`;
  if (bit(tcr, 21) || bit(tcr, 22)) {
    return `${t}: HA/HD = 1 (hardware Access flag and dirty state update) is not modelled`;
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
  if (!Number.isSafeInteger(base) || base < 0 || base >= 2 ** 48) {
    throw new RangeError(`Cannot walk from table base ${base}: not an integer in [0, 2^48)`);
  }
  return decodeRegime(cfg.sctlr, cfg.tcr, BigInt(base), cfg.mair, cfg.mmfr0);
}
