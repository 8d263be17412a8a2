/**
 * System registers, declared once as named bitfields with the Arm ARM names
 * (DDI0487; nVHE layouts, HCR_EL2.E2H = 0) and their reset values.
 *
 * @module
 */

/** A field: `[lsb, width]`. */
export type FieldSpec = readonly [lsb: number, width: number];

import { ID_REGISTER_FIELDS, ID_REGISTER_NAMES } from "./cpu_model.ts";

/** One system register's declaration. */
export interface SysregDef {
  /** Arm ARM name, e.g. `SCTLR_EL2`. */
  readonly name: string;
  /** Named fields. */
  readonly fields: Readonly<Record<string, FieldSpec>>;
  /** Bits that must read and be written as 1. */
  readonly res1: bigint;
  /** Bits that must be written as 0 (0n: not checked). */
  readonly res0: bigint;
  /**
   * Bits that are RAO/WI in the modelled implementation: they read as 1 and
   * a write cannot clear them (writing 0 is not an error, unlike RES1).
   */
  readonly rao?: bigint;
  /** Value at reset (architecturally UNKNOWN parts are given as 0). */
  readonly reset: bigint;
  /** Read-only (ID registers). */
  readonly readOnly?: boolean;
}

function bits(...n: number[]): bigint {
  let v = 0n;
  for (const b of n) v |= 1n << BigInt(b);
  return v;
}

function fieldMask(fields: Record<string, FieldSpec>): bigint {
  let m = 0n;
  for (const [lsb, width] of Object.values(fields)) {
    m |= ((1n << BigInt(width)) - 1n) << BigInt(lsb);
  }
  return m;
}

const ALL64 = (1n << 64n) - 1n;

function def(
  name: string,
  fields: Record<string, FieldSpec>,
  opts: {
    res1?: bigint;
    rao?: bigint;
    reset?: bigint;
    strictRes0?: boolean;
    readOnly?: boolean;
  } = {},
): SysregDef {
  const res1 = opts.res1 ?? 0n;
  const res0 = opts.strictRes0 ? ALL64 & ~(fieldMask(fields) | res1) : 0n;
  const rao = opts.rao ?? 0n;
  let d: SysregDef = { name, fields, res1, res0, reset: (opts.reset ?? res1) | rao };
  if (rao !== 0n) d = { ...d, rao };
  return opts.readOnly ? { ...d, readOnly: true } : d;
}

const ADDR64: Record<string, FieldSpec> = { VALUE: [0, 64] };

/** SCTLR_EL2 RES1 bits when HCR_EL2.E2H = 0: {4,5,11,16,18,22,23,28,29}. */
export const SCTLR_EL2_RES1: bigint = bits(4, 5, 11, 16, 18, 22, 23, 28, 29);

/** `INIT_SCTLR_EL2_MMU_OFF` (= the RES1 bits): 0x30C50830. */
export const SCTLR_EL2_MMU_OFF = 0x30c50830n;

/** TCR_EL2 RES1 bits (E2H = 0): 31 and 23. */
export const TCR_EL2_RES1: bigint = bits(31, 23);

/**
 * CPTR_EL2 RES1 bits when HCR_EL2.E2H = 0 and there is no SME: 13, 12 (TSM),
 * 9 and 7:0, as Linux's `CPTR_NVHE_EL2_RES1`. Also the reset value.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPTR_NVHE_EL2_RES1, SYSREG_DEFS } from "./sysreg_defs.ts";
 * assertEquals(SYSREG_DEFS.CPTR_EL2!.reset, CPTR_NVHE_EL2_RES1);
 * ```
 */
export const CPTR_NVHE_EL2_RES1 = 0x32ffn;

/**
 * HCR_EL2.RW (bit 31): RAO/WI because EL1 is modelled as AArch64-only.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HCR_EL2_RW, SYSREG_DEFS } from "./sysreg_defs.ts";
 * assertEquals(SYSREG_DEFS.HCR_EL2!.reset & HCR_EL2_RW, HCR_EL2_RW);
 * ```
 */
export const HCR_EL2_RW: bigint = bits(31);

/**
 * Every register the simulator knows, by Arm ARM name.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SYSREG_DEFS } from "./sysreg_defs.ts";
 * assertEquals(SYSREG_DEFS.SCTLR_EL2!.reset, 0x30C50830n);
 * assertEquals(SYSREG_DEFS.TCR_EL2!.fields.T0SZ, [0, 6]);
 * ```
 */
export const SYSREG_DEFS: Readonly<Record<string, SysregDef>> = Object.fromEntries(
  [
    def("SCTLR_EL2", {
      M: [0, 1],
      A: [1, 1],
      C: [2, 1],
      SA: [3, 1],
      nAA: [6, 1],
      EnDB: [13, 1],
      I: [12, 1],
      WXN: [19, 1],
      IESB: [21, 1],
      EE: [25, 1],
      EnDA: [27, 1],
      EnIB: [30, 1],
      EnIA: [31, 1],
      BT: [36, 1],
      ITFSB: [37, 1],
      TCF: [40, 2],
      ATA: [43, 1],
      DSSBS: [44, 1],
    }, { res1: SCTLR_EL2_RES1, reset: SCTLR_EL2_MMU_OFF, strictRes0: true }),
    def("TCR_EL2", {
      T0SZ: [0, 6],
      IRGN0: [8, 2],
      ORGN0: [10, 2],
      SH0: [12, 2],
      TG0: [14, 2],
      PS: [16, 3],
      TBI: [20, 1],
      HA: [21, 1],
      HD: [22, 1],
      HPD: [24, 1],
      // Defined with FEAT_HPDS2, PAuth, MTE and MTE_NO_ADDRESS_TAGS; declared
      // so that strict RES0 rejects only bits the E2H = 0 layout leaves RES0
      // (63:34, 19, 7:6), as in Linux's arch/arm64/tools/sysreg.
      HWU59: [25, 1],
      HWU60: [26, 1],
      HWU61: [27, 1],
      HWU62: [28, 1],
      TBID: [29, 1],
      TCMA: [30, 1],
      DS: [32, 1],
      MTX: [33, 1],
    }, { res1: TCR_EL2_RES1, strictRes0: true }),
    // With E2H = 0 TTBR0_EL2 has no ASID (bits 63:48 are RES0): the EL2
    // regime is not ASID-tagged, so the field is not declared.
    def("TTBR0_EL2", { CnP: [0, 1], BADDR: [1, 47] }),
    def("MAIR_EL2", {
      Attr0: [0, 8],
      Attr1: [8, 8],
      Attr2: [16, 8],
      Attr3: [24, 8],
      Attr4: [32, 8],
      Attr5: [40, 8],
      Attr6: [48, 8],
      Attr7: [56, 8],
    }),
    // EL1 is modelled as AArch64-only (hyplab runs no AArch32 host or guest).
    // The Arm ARM (DDI0487, HCR_EL2.RW) says that when EL1 cannot use AArch32
    // (FEAT_AA32EL1 not implemented), RW is RAO/WI: the lower ELs are always
    // AArch64. So HCR_EL2 resets with RW = 1, a write of 0 is ignored, the
    // lower-EL AArch64 vector (+0x400) is always right, and an ERET to an
    // AArch64 EL1 never depends on what software wrote to RW.
    def("HCR_EL2", {
      VM: [0, 1],
      SWIO: [1, 1],
      PTW: [2, 1],
      FMO: [3, 1],
      IMO: [4, 1],
      AMO: [5, 1],
      TWI: [13, 1],
      TWE: [14, 1],
      TID3: [18, 1],
      TSC: [19, 1],
      TVM: [26, 1],
      TGE: [27, 1],
      RW: [31, 1],
      E2H: [34, 1],
      TLOR: [35, 1],
      TERR: [36, 1],
      TEA: [37, 1],
      APK: [40, 1],
      API: [41, 1],
      FWB: [46, 1],
      ATA: [56, 1],
      TID5: [58, 1],
    }, { rao: HCR_EL2_RW }),
    def("VBAR_EL2", { VBA: [11, 53] }, { strictRes0: true }),
    def("ESR_EL2", { ISS: [0, 25], IL: [25, 1], EC: [26, 6], ISS2: [32, 24] }, {
      strictRes0: true,
    }),
    def("ELR_EL2", ADDR64),
    def("SPSR_EL2", {
      M: [0, 4],
      M4: [4, 1],
      F: [6, 1],
      I: [7, 1],
      A: [8, 1],
      D: [9, 1],
      NZCV: [28, 4],
    }),
    def("FAR_EL2", ADDR64),
    def("TPIDR_EL2", ADDR64),
    def("VTTBR_EL2", { CnP: [0, 1], BADDR: [1, 47], VMID: [48, 16] }),
    // Bit 31 is RES1, modelled as read-as-one/write-ignored: the kernel loads
    // `params->vtcr` = 0 before any host stage-2 (___kvm_hyp_init) and the
    // hardware does not fault, so a 0 written reads back with bit 31 set.
    def("VTCR_EL2", {
      T0SZ: [0, 6],
      SL0: [6, 2],
      IRGN0: [8, 2],
      ORGN0: [10, 2],
      SH0: [12, 2],
      TG0: [14, 2],
      PS: [16, 3],
      VS: [19, 1],
      HA: [21, 1],
      HD: [22, 1],
      DS: [32, 1],
    }, { rao: bits(31) }),
    // nVHE (E2H = 0) layout. Bits 13, 9 and 7:0 are RES1, and TSM (bit 12)
    // is RES1 without SME, which hyplab does not model: Linux's
    // CPTR_NVHE_EL2_RES1 = 0x32ff (asm/kvm_arm.h), also KVM's reset value for
    // a vCPU's CPTR_EL2. TZ (bit 8) is RES1 only without SVE, and Linux keeps
    // it out of the mask, so it stays a writable field. The RES0 bits left
    // by the fields are Linux's CPTR_NVHE_EL2_RES0 (63:32, 29:21, 19:14, 11).
    def("CPTR_EL2", {
      TZ: [8, 1],
      TFP: [10, 1],
      TTA: [20, 1],
      TAM: [30, 1],
      TCPAC: [31, 1],
    }, { res1: CPTR_NVHE_EL2_RES1, strictRes0: true }),
    def("MDCR_EL2", {
      HPMN: [0, 5],
      TPMCR: [5, 1],
      TPM: [6, 1],
      HPME: [7, 1],
      TDE: [8, 1],
      TDA: [9, 1],
      TDOSA: [10, 1],
      TDRA: [11, 1],
      E2PB: [12, 2],
      TPMS: [14, 1],
      EnSPM: [15, 1],
      HPMD: [17, 1],
      TTRF: [19, 1],
      HCCD: [23, 1],
      E2TB: [24, 2],
      HLP: [26, 1],
      TDCC: [27, 1],
      MTPME: [28, 1],
    }),
    // nVHE (E2H = 0) layout; with E2H = 1 the EL1 controls move up by 10.
    def("CNTHCTL_EL2", {
      EL1PCTEN: [0, 1],
      EL1PCEN: [1, 1],
      EVNTEN: [2, 1],
      EVNTDIR: [3, 1],
      EVNTI: [4, 4],
      ECV: [12, 1],
      EL1TVT: [13, 1],
      EL1TVCT: [14, 1],
      EL1NVPCT: [15, 1],
      EL1NVVCT: [16, 1],
      EVNTIS: [17, 1],
    }),
    // What EL1 reads as MIDR_EL1 and MPIDR_EL1 (head.S copies the real ones
    // in, `__init_el2_nvhe_idregs`). Architecturally UNKNOWN at reset.
    def("VPIDR_EL2", {
      Revision: [0, 4],
      PartNum: [4, 12],
      Architecture: [16, 4],
      Variant: [20, 4],
      Implementer: [24, 8],
    }),
    def("VMPIDR_EL2", {
      Aff0: [0, 8],
      Aff1: [8, 8],
      Aff2: [16, 8],
      MT: [24, 1],
      U: [30, 1],
      Aff3: [32, 8],
    }, { res1: bits(31) }),
    def("SCTLR_EL1", {
      M: [0, 1],
      A: [1, 1],
      C: [2, 1],
      SA: [3, 1],
      I: [12, 1],
      WXN: [19, 1],
      EE: [25, 1],
    }, { reset: 0x30d00800n }),
    def("TCR_EL1", { T0SZ: [0, 6], TG0: [14, 2], T1SZ: [16, 6], TG1: [30, 2], IPS: [32, 3] }),
    def("TTBR0_EL1", { CnP: [0, 1], BADDR: [1, 47], ASID: [48, 16] }),
    def("TTBR1_EL1", { CnP: [0, 1], BADDR: [1, 47], ASID: [48, 16] }),
    def("MAIR_EL1", ADDR64),
    def("VBAR_EL1", { VBA: [11, 53] }),
    def("ESR_EL1", { ISS: [0, 25], IL: [25, 1], EC: [26, 6] }),
    def("ELR_EL1", ADDR64),
    def("SPSR_EL1", { M: [0, 4], NZCV: [28, 4] }),
    def("FAR_EL1", ADDR64),
    def("TPIDR_EL1", ADDR64),
    def("MPIDR_EL1", { Aff0: [0, 8], Aff1: [8, 8], Aff2: [16, 8], U: [30, 1] }, {
      res1: bits(31),
      readOnly: true,
    }),
    // The identification registers: read-only, with the value of the
    // machine's CPU model (core/cpu_model.ts), set when the CPU is created.
    ...ID_REGISTER_NAMES.map((n) =>
      def(n, { ...(ID_REGISTER_FIELDS[n] ?? {}) }, { reset: 0n, readOnly: true })
    ),
  ].map((d) => [d.name, d]),
);
