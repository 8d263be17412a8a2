/**
 * CPU models as data: QEMU 7.2's `cortex-a57`, `neoverse-n1` and `max`, as a
 * guest sees them on `qemu-system-aarch64 -M virt,virtualization=on` (TCG):
 * MIDR, CTR_EL0, CLIDR, DCZID and every ID_AA64* register, each the value an
 * `MRS` at EL2 reads, plus the features the kernel decodes from them.
 *
 * The values are built the way QEMU 7.2 builds them, so each field can be
 * traced to its source: the model's init function in `target/arm/cpu64.c`
 * (`aarch64_a57_initfn`, `aarch64_neoverse_n1_initfn`, `aarch64_max_initfn`),
 * the property finalisers (`arm_cpu_pauth_finalize`, `arm_cpu_lpa2_finalize`,
 * `arm_cpu_sve_finalize`), then what `arm_cpu_realizefn` (`target/arm/cpu.c`)
 * removes on `-M virt`: EL3 (the board sets `has_el3=false` unless
 * `secure=on`), the SPE field (never advertised under TCG) and MTE (no tag
 * memory unless `mte=on`). The GIC field of ID_AA64PFR0_EL1 is not stored at
 * all: `id_aa64pfr0_read()` (`target/arm/helper.c`) ORs in 1 when the board
 * wired a GICv3 CPU interface, which `-M virt` does for `gic-version=3` or 4
 * and not for its TCG default, GICv2.
 *
 * @module
 */

/** The CPU models hyplab knows, by their QEMU `-cpu` name. */
export type CpuModelName = "cortex-a57" | "neoverse-n1" | "max";

/**
 * Every {@link CpuModelName}, in a fixed order.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_MODEL_NAMES } from "./cpu_model.ts";
 * assertEquals(CPU_MODEL_NAMES, ["cortex-a57", "neoverse-n1", "max"]);
 * ```
 */
export const CPU_MODEL_NAMES: readonly CpuModelName[] = Object.freeze([
  "cortex-a57",
  "neoverse-n1",
  "max",
]);

/**
 * The identification registers a model carries, by Arm ARM name, in a fixed
 * order. The ID_AA64* registers QEMU 7.2 does not implement (ISAR2, MMFR3,
 * MMFR4, PFR2, DFR1, AFR0, AFR1) are defined there as read-as-zero, and so
 * are here.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ID_REGISTER_NAMES } from "./cpu_model.ts";
 * assertEquals(ID_REGISTER_NAMES.length, 22);
 * ```
 */
export const ID_REGISTER_NAMES: readonly IdRegisterName[] = Object.freeze([
  "MIDR_EL1",
  "REVIDR_EL1",
  "CTR_EL0",
  "DCZID_EL0",
  "CLIDR_EL1",
  "ID_AA64PFR0_EL1",
  "ID_AA64PFR1_EL1",
  "ID_AA64PFR2_EL1",
  "ID_AA64DFR0_EL1",
  "ID_AA64DFR1_EL1",
  "ID_AA64AFR0_EL1",
  "ID_AA64AFR1_EL1",
  "ID_AA64ISAR0_EL1",
  "ID_AA64ISAR1_EL1",
  "ID_AA64ISAR2_EL1",
  "ID_AA64MMFR0_EL1",
  "ID_AA64MMFR1_EL1",
  "ID_AA64MMFR2_EL1",
  "ID_AA64MMFR3_EL1",
  "ID_AA64MMFR4_EL1",
  "ID_AA64ZFR0_EL1",
  "ID_AA64SMFR0_EL1",
]);

/** One of {@link ID_REGISTER_NAMES}. */
export type IdRegisterName =
  | "MIDR_EL1"
  | "REVIDR_EL1"
  | "CTR_EL0"
  | "DCZID_EL0"
  | "CLIDR_EL1"
  | "ID_AA64PFR0_EL1"
  | "ID_AA64PFR1_EL1"
  | "ID_AA64PFR2_EL1"
  | "ID_AA64DFR0_EL1"
  | "ID_AA64DFR1_EL1"
  | "ID_AA64AFR0_EL1"
  | "ID_AA64AFR1_EL1"
  | "ID_AA64ISAR0_EL1"
  | "ID_AA64ISAR1_EL1"
  | "ID_AA64ISAR2_EL1"
  | "ID_AA64MMFR0_EL1"
  | "ID_AA64MMFR1_EL1"
  | "ID_AA64MMFR2_EL1"
  | "ID_AA64MMFR3_EL1"
  | "ID_AA64MMFR4_EL1"
  | "ID_AA64ZFR0_EL1"
  | "ID_AA64SMFR0_EL1";

/** A model's identification registers: the 64-bit value each reads as. */
export type IdRegisters = Readonly<Record<IdRegisterName, bigint>>;

/**
 * The GIC version `-M virt` is given (`gic-version=`). Only whether the CPU
 * has a GICv3 system-register interface reaches the CPU (ID_AA64PFR0_EL1.GIC).
 */
export type GicVersion = 2 | 3 | 4;

/** The board options a model's values depend on. */
export interface CpuModelOptions {
  /**
   * `-M virt,gic-version=`: 2 (QEMU 7.2's TCG default when the option is
   * absent), 3 or 4. Default 3, the machine hyplab's oracle boots.
   */
  readonly gicVersion?: GicVersion;
}

/** A bitfield of an ID register: `[lsb, width]`. */
export type IdFieldSpec = readonly [lsb: number, width: number];

// Field names from bit 0 up, one 4-bit field per name ("-": a field hyplab
// does not name), as the Arm ARM (DDI0487) lays the ID_AA64* registers out.
const NIBBLE_FIELDS: Partial<Record<IdRegisterName, string>> = {
  ID_AA64PFR0_EL1: "EL0 EL1 EL2 EL3 FP AdvSIMD GIC RAS SVE SEL2 MPAM AMU DIT - CSV2 CSV3",
  ID_AA64PFR1_EL1: "BT SSBS MTE RAS_frac MPAM_frac - SME RNDR_trap CSV2_frac NMI",
  ID_AA64DFR0_EL1: "DebugVer TraceVer PMUVer BRPs - WRPs - CTX_CMPs PMSVer DoubleLock",
  ID_AA64ISAR0_EL1: "- AES SHA1 SHA2 CRC32 Atomic - RDM SHA3 SM3 SM4 DP FHM TS TLB RNDR",
  ID_AA64ISAR1_EL1: "DPB APA API JSCVT FCMA LRCPC GPA GPI FRINTTS SB SPECRES BF16 DGH I8MM XS LS64",
  ID_AA64ISAR2_EL1: "WFxT RPRES GPA3 APA3 MOPS BC PAC_frac",
  ID_AA64MMFR0_EL1: "PARange ASIDBits BigEnd SNSMem BigEndEL0 TGran16 TGran64 TGran4 " +
    "TGran16_2 TGran64_2 TGran4_2 ExS - - FGT ECV",
  ID_AA64MMFR1_EL1: "HAFDBS VMIDBits VH HPDS LO PAN SpecSEI XNX TWED ETS HCX AFP nTLBPA TIDCP1",
  ID_AA64MMFR2_EL1: "CnP UAO LSM IESB VARange CCIDX NV ST AT IDS FWB - TTL BBM EVT E0PD",
  ID_AA64ZFR0_EL1: "SVEver AES - - BitPerm BF16 - - SHA3 - SM4 I8MM - F32MM F64MM",
};

function nibbles(names: string): Record<string, IdFieldSpec> {
  const out: Record<string, IdFieldSpec> = {};
  names.split(" ").forEach((n, i) => {
    if (n !== "-") out[n] = [4 * i, 4];
  });
  return out;
}

/**
 * The ID-register fields hyplab reads or QEMU 7.2 sets, with the Arm ARM
 * field names (DDI0487).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ID_REGISTER_FIELDS } from "./cpu_model.ts";
 * assertEquals(ID_REGISTER_FIELDS.ID_AA64MMFR0_EL1!.TGran4, [28, 4]);
 * assertEquals(ID_REGISTER_FIELDS.MIDR_EL1!.PartNum, [4, 12]);
 * ```
 */
export const ID_REGISTER_FIELDS: Readonly<
  Partial<Record<IdRegisterName, Readonly<Record<string, IdFieldSpec>>>>
> = Object.freeze({
  ...Object.fromEntries(Object.entries(NIBBLE_FIELDS).map(([r, n]) => [r, nibbles(n)])),
  MIDR_EL1: {
    Revision: [0, 4],
    PartNum: [4, 12],
    Architecture: [16, 4],
    Variant: [20, 4],
    Implementer: [24, 8],
  },
  CTR_EL0: {
    IminLine: [0, 4],
    L1Ip: [14, 2],
    DminLine: [16, 4],
    ERG: [20, 4],
    CWG: [24, 4],
    IDC: [28, 1],
    DIC: [29, 1],
  },
  CLIDR_EL1: { LoUIS: [21, 3], LoC: [24, 3], LoUU: [27, 3] },
  ID_AA64SMFR0_EL1: {
    F32F32: [32, 1],
    B16F32: [34, 1],
    F16F32: [35, 1],
    I8I32: [36, 4],
    F64F64: [48, 1],
    I16I64: [52, 4],
    SMEver: [56, 4],
    FA64: [63, 1],
  },
});

function spec(reg: IdRegisterName, field: string): IdFieldSpec {
  const f = ID_REGISTER_FIELDS[reg]?.[field];
  if (f === undefined) throw new RangeError(`Unknown field ${reg}.${field}`);
  return f;
}

/**
 * Reads one field of an identification register.
 *
 * @param regs The registers.
 * @param reg Register name.
 * @param field Field name, as in {@link ID_REGISTER_FIELDS}.
 * @returns The field, unsigned.
 * @throws {RangeError} For a field not in {@link ID_REGISTER_FIELDS}.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_NEOVERSE_N1, idField } from "./cpu_model.ts";
 * assertEquals(idField(CPU_NEOVERSE_N1.idRegs, "ID_AA64MMFR0_EL1", "PARange"), 5);
 * ```
 */
export function idField(regs: IdRegisters, reg: IdRegisterName, field: string): number {
  const [lsb, width] = spec(reg, field);
  return Number((regs[reg] >> BigInt(lsb)) & ((1n << BigInt(width)) - 1n));
}

function deposit(value: bigint, [lsb, width]: IdFieldSpec, field: number): bigint {
  const mask = ((1n << BigInt(width)) - 1n) << BigInt(lsb);
  return (value & ~mask) | ((BigInt(field) << BigInt(lsb)) & mask);
}

type MutableIdRegs = Record<IdRegisterName, bigint>;

const RAZ: MutableIdRegs = Object.fromEntries(
  ID_REGISTER_NAMES.map((n) => [n, 0n]),
) as MutableIdRegs;

/** The registers as the model's init function in QEMU 7.2 `cpu64.c` leaves them. */
interface QemuInit {
  readonly regs: MutableIdRegs;
  /** PMCR_EL0.N of `reset_pmcr_el0`: MDCR_EL2.HPMN resets to it. */
  readonly pmuCounters: number;
  /** `gic_num_lrs`, `gic_vpribits`, `gic_vprebits`: what ICH_VTR_EL2 reports. */
  readonly gicVirt: GicVirtSizes;
  readonly sveMaxVectorBits: number;
  readonly smeMaxVectorBits: number;
}

// aarch64_a57_initfn(): DCZID_EL0 is `dcz_blocksize` (4: 64-byte blocks).
function a57Init(): QemuInit {
  return {
    regs: {
      ...RAZ,
      MIDR_EL1: 0x411fd070n,
      CTR_EL0: 0x8444c004n,
      DCZID_EL0: 4n,
      CLIDR_EL1: 0x0a200023n,
      ID_AA64PFR0_EL1: 0x00002222n,
      ID_AA64DFR0_EL1: 0x10305106n,
      ID_AA64ISAR0_EL1: 0x00011120n,
      ID_AA64MMFR0_EL1: 0x00001124n,
    },
    pmuCounters: 6, // reset_pmcr_el0 = 0x41013000
    gicVirt: { listRegs: 4, priBits: 5, preBits: 5 },
    sveMaxVectorBits: 0,
    smeMaxVectorBits: 0,
  };
}

// aarch64_neoverse_n1_initfn() ("r4p1").
function n1Init(): QemuInit {
  return {
    regs: {
      ...RAZ,
      MIDR_EL1: 0x414fd0c1n,
      CTR_EL0: 0x8444c004n,
      DCZID_EL0: 4n,
      CLIDR_EL1: 0x82000023n,
      ID_AA64PFR0_EL1: 0x1100000010111112n,
      ID_AA64PFR1_EL1: 0x20n,
      ID_AA64DFR0_EL1: 0x0000000110305408n,
      ID_AA64ISAR0_EL1: 0x0000100010211120n,
      ID_AA64ISAR1_EL1: 0x0000000000100001n,
      ID_AA64MMFR0_EL1: 0x0000000000101125n,
      ID_AA64MMFR1_EL1: 0x0000000010212122n,
      ID_AA64MMFR2_EL1: 0x0000000000001011n,
    },
    pmuCounters: 6, // reset_pmcr_el0 = 0x410c3000
    gicVirt: { listRegs: 4, priBits: 5, preBits: 5 }, // "From B4.23 ICH_VTR_EL2"
    sveMaxVectorBits: 0,
    smeMaxVectorBits: 0,
  };
}

/** One register's `FIELD_DP64`s in `aarch64_max_initfn()`. */
type Deposits = readonly [IdRegisterName, Readonly<Record<string, number>>];

// aarch64_max_initfn() for TCG, in its order: an A57 with these fields set.
const MAX_DEPOSITS: readonly Deposits[] = [
  // Implementer 0 is "reserved for software use"; PartNum 0x51 is 'Q'.
  ["MIDR_EL1", { Implementer: 0, Architecture: 0xf, PartNum: 0x51, Variant: 0, Revision: 0 }],
  ["CLIDR_EL1", { LoUIS: 0, LoUU: 0 }], // FEAT_S2FWB requires LoUU = LoUIS = 0
  ["ID_AA64ISAR0_EL1", { AES: 2, SHA1: 1, SHA2: 2, CRC32: 1, Atomic: 2, RDM: 1, SHA3: 1 }],
  ["ID_AA64ISAR0_EL1", { SM3: 1, SM4: 1, DP: 1, FHM: 1, TS: 2, TLB: 2, RNDR: 1 }],
  ["ID_AA64ISAR1_EL1", { DPB: 2, JSCVT: 1, FCMA: 1, LRCPC: 2, FRINTTS: 1, SB: 1 }],
  ["ID_AA64ISAR1_EL1", { SPECRES: 1, BF16: 1, DGH: 1, I8MM: 1 }],
  ["ID_AA64PFR0_EL1", { FP: 1, AdvSIMD: 1, RAS: 2, SVE: 1, SEL2: 1, DIT: 1, CSV2: 2, CSV3: 1 }],
  ["ID_AA64PFR1_EL1", { BT: 1, SSBS: 2, MTE: 3, RAS_frac: 0, SME: 1, CSV2_frac: 0 }],
  ["ID_AA64MMFR0_EL1", { PARange: 6, TGran16: 1, TGran16_2: 2, TGran64_2: 2, TGran4_2: 2 }],
  ["ID_AA64MMFR1_EL1", { HAFDBS: 2, VMIDBits: 2, VH: 1, HPDS: 1, LO: 1, PAN: 2, XNX: 1 }],
  ["ID_AA64MMFR1_EL1", { ETS: 1, HCX: 1 }],
  ["ID_AA64MMFR2_EL1", { CnP: 1, UAO: 1, IESB: 1, VARange: 1, ST: 1, IDS: 1, FWB: 1 }],
  ["ID_AA64MMFR2_EL1", { TTL: 1, BBM: 2, E0PD: 1 }],
  ["ID_AA64ZFR0_EL1", { SVEver: 1, AES: 2, BitPerm: 1, BF16: 1, SHA3: 1, SM4: 1, I8MM: 1 }],
  ["ID_AA64ZFR0_EL1", { F32MM: 1, F64MM: 1 }],
  ["ID_AA64DFR0_EL1", { DebugVer: 9, PMUVer: 6 }],
  ["ID_AA64SMFR0_EL1", { F32F32: 1, B16F32: 1, F16F32: 1, I8I32: 0xf, F64F64: 1, I16I64: 0xf }],
  ["ID_AA64SMFR0_EL1", { FA64: 1 }],
  // arm_cpu_pauth_finalize(): pauth=on, pauth-impdef=off (the defaults):
  // the architected QARMA5 algorithm for both address and generic keys.
  ["ID_AA64ISAR1_EL1", { APA: 1, GPA: 1, API: 0, GPI: 0 }],
  // arm_cpu_lpa2_finalize(): lpa2=on (the default) for 4K and 16K, both stages.
  ["ID_AA64MMFR0_EL1", { TGran16: 2, TGran4: 1, TGran16_2: 3, TGran4_2: 3 }],
];

function maxInit(): QemuInit {
  const a57 = a57Init();
  const regs = { ...a57.regs };
  for (const [reg, fields] of MAX_DEPOSITS) {
    for (const [field, v] of Object.entries(fields)) {
      regs[reg] = deposit(regs[reg], spec(reg, field), v);
    }
  }
  // arm_cpu_sve_finalize() with no sve* property: every length TCG supports,
  // up to ARM_MAX_VQ = 16 quadwords; arm_cpu_sme_finalize(): every power of
  // two up to 16 quadwords. An RDVL / RDSVL at EL2 reads 256 bytes for both.
  return { ...a57, regs, sveMaxVectorBits: 16 * 128, smeMaxVectorBits: 16 * 128 };
}

// arm_cpu_realizefn() on -M virt,virtualization=on (TCG, no secure=on, no
// mte=on), then id_aa64pfr0_read() for the GIC field.
function virtRealize(init: QemuInit, gicVersion: GicVersion): IdRegisters {
  const r = { ...init.regs };
  r.ID_AA64PFR0_EL1 = deposit(r.ID_AA64PFR0_EL1, spec("ID_AA64PFR0_EL1", "EL3"), 0);
  // Only `max` had MTE, and only until realize: no tag memory on the board.
  r.ID_AA64PFR1_EL1 = deposit(r.ID_AA64PFR1_EL1, spec("ID_AA64PFR1_EL1", "MTE"), 0);
  // "Don't report the Statistical Profiling Extension": TCG has none.
  r.ID_AA64DFR0_EL1 = deposit(r.ID_AA64DFR0_EL1, spec("ID_AA64DFR0_EL1", "PMSVer"), 0);
  r.ID_AA64PFR0_EL1 = deposit(
    r.ID_AA64PFR0_EL1,
    spec("ID_AA64PFR0_EL1", "GIC"),
    gicVersion >= 3 ? 1 : 0,
  );
  return Object.freeze(r);
}

/** MIDR_EL1 split into its fields. */
export interface MidrFields {
  /** 0x41 = Arm Ltd; 0 = reserved for software use (QEMU's `max`). */
  readonly implementer: number;
  /** The major revision: the `r` of `rNpM`. */
  readonly variant: number;
  /** 0xf: the architecture is described by the ID registers. */
  readonly architecture: number;
  /** 0xd07 Cortex-A57, 0xd0c Neoverse N1, 0x051 (`'Q'`) QEMU `max`. */
  readonly partNum: number;
  /** The minor revision: the `p` of `rNpM`. */
  readonly revision: number;
}

/**
 * Pointer authentication, as the kernel's `ARM64_HAS_ADDRESS_AUTH` and
 * `ARM64_HAS_GENERIC_AUTH` see it.
 */
export interface PauthFeatures {
  /** Address authentication: ISAR1.APA, ISAR1.API or ISAR2.APA3 non-zero. */
  readonly address: boolean;
  /** Generic authentication: ISAR1.GPA, ISAR1.GPI or ISAR2.GPA3 non-zero. */
  readonly generic: boolean;
  /** The algorithm of the address keys. */
  readonly algorithm: "qarma5" | "qarma3" | "impdef" | "none";
}

/**
 * What the kernel decodes from the ID registers, named after the Arm ARM
 * feature (`FEAT_*`) and, where it has one, the kernel's cpucap (Linux 6.1 to
 * 7.2 `arch/arm64/kernel/cpufeature.c`). Multi-level fields keep their raw
 * value; booleans are "field ≥ the level the kernel's cpucap asks for".
 */
export interface CpuFeatures {
  /** ID_AA64PFR0_EL1.EL2 ≠ 0. */
  readonly el2: boolean;
  /** ID_AA64PFR0_EL1.EL3 ≠ 0 (never on `-M virt` without `secure=on`). */
  readonly el3: boolean;
  /** EL0 can run AArch32 (PFR0.EL0 = 2). */
  readonly el0Aarch32: boolean;
  /** EL1 can run AArch32 (PFR0.EL1 = 2; `ARM64_HAS_32BIT_EL1`). */
  readonly el1Aarch32: boolean;
  /** GICv3 system-register CPU interface (PFR0.GIC ≥ 1; `ARM64_HAS_GICV3_CPUIF`). */
  readonly gicSysregs: boolean;
  /** Physical address size from MMFR0.PARange (as `id_aa64mmfr0_parange_to_phys_shift()`). */
  readonly paBits: number;
  /** ASID size from MMFR0.ASIDBits. */
  readonly asidBits: 8 | 16;
  /** VMID size from MMFR1.VMIDBits (as `get_vmid_bits()`). */
  readonly vmidBits: 8 | 16;
  /** FEAT_VHE: MMFR1.VH ≥ 1 (HCR_EL2.E2H exists; hVHE is possible). */
  readonly vhe: boolean;
  /**
   * FEAT_LPA2 with 4K pages at both stages: MMFR0.TGran4 = 1 and TGran4_2 = 3
   * (`has_lpa2()`, `ARM64_HAS_LPA2`).
   */
  readonly lpa2: boolean;
  /** FEAT_LVA: 52-bit VAs with 64K pages (MMFR2.VARange ≥ 1). */
  readonly lva: boolean;
  /** FEAT_TTCNP: TTBR.CnP is honoured (MMFR2.CnP ≥ 1; `ARM64_HAS_CNP`). */
  readonly cnp: boolean;
  /** MMFR1.HAFDBS: 0 none, 1 hardware Access flag, 2 and dirty state (`ARM64_HW_DBM`). */
  readonly hafdbs: number;
  /** MMFR1.HPDS: 1 TCR.HPD (FEAT_HPDS), 2 also the HWU bits (FEAT_HPDS2). */
  readonly hpds: number;
  /** MMFR1.PAN: 1 FEAT_PAN, 2 FEAT_PAN2, 3 FEAT_PAN3. */
  readonly pan: number;
  /** FEAT_LOR (MMFR1.LO ≥ 1). */
  readonly lor: boolean;
  /** FEAT_XNX: stage-2 XN[0] distinguishes EL0 and EL1 (MMFR1.XNX ≥ 1). */
  readonly xnx: boolean;
  /** FEAT_ETS (MMFR1.ETS ≥ 1). */
  readonly ets: boolean;
  /** FEAT_HCX: HCRX_EL2 exists (MMFR1.HCX ≥ 1; `ARM64_HAS_HCX`). */
  readonly hcx: boolean;
  /** FEAT_UAO (MMFR2.UAO ≥ 1). */
  readonly uao: boolean;
  /** FEAT_IESB: SCTLR_ELx.IESB is implemented (MMFR2.IESB ≥ 1). */
  readonly iesb: boolean;
  /** FEAT_IDST (MMFR2.IDS ≥ 1). */
  readonly idst: boolean;
  /** FEAT_S2FWB: HCR_EL2.FWB exists (MMFR2.FWB ≥ 1; `ARM64_HAS_STAGE2_FWB`). */
  readonly s2fwb: boolean;
  /** FEAT_TTL: TLBI level hints (MMFR2.TTL ≥ 1; `ARM64_HAS_ARMv8_4_TTL`). */
  readonly ttl: boolean;
  /** MMFR2.BBM: the break-before-make level (0, 1 or 2). */
  readonly bbm: number;
  /** FEAT_EVT (MMFR2.EVT ≥ 1; `ARM64_HAS_EVT`). */
  readonly evt: boolean;
  /** FEAT_E0PD (MMFR2.E0PD ≥ 1; `ARM64_HAS_E0PD`). */
  readonly e0pd: boolean;
  /** MMFR2.NV: 1 FEAT_NV, 2 FEAT_NV2. */
  readonly nv: number;
  /** FEAT_ECV (MMFR0.ECV ≥ 1; `ARM64_HAS_ECV`). */
  readonly ecv: boolean;
  /** FEAT_FGT (MMFR0.FGT ≥ 1; `ARM64_HAS_FGT`). */
  readonly fgt: boolean;
  /** FEAT_TLBIRANGE (ISAR0.TLB = 2; `ARM64_HAS_TLB_RANGE`). */
  readonly tlbRange: boolean;
  /** FEAT_TLBIOS (ISAR0.TLB ≥ 1). */
  readonly tlbOs: boolean;
  /** FEAT_LSE (ISAR0.Atomic ≥ 2; `ARM64_HAS_LSE_ATOMICS`). */
  readonly lse: boolean;
  /** PFR0.RAS: 1 FEAT_RAS (`ARM64_HAS_RAS_EXTN`), 2 FEAT_RASv1p1. */
  readonly ras: number;
  /** FEAT_SVE (PFR0.SVE ≥ 1; `ARM64_SVE`). */
  readonly sve: boolean;
  /** FEAT_SME (PFR1.SME ≥ 1; `ARM64_SME`). */
  readonly sme: boolean;
  /** FEAT_SME_FA64 (SMFR0.FA64 = 1; `ARM64_SME_FA64`). */
  readonly smeFa64: boolean;
  /** FEAT_SEL2 (PFR0.SEL2 ≥ 1). */
  readonly sel2: boolean;
  /** FEAT_DIT (PFR0.DIT ≥ 1; `ARM64_HAS_DIT`). */
  readonly dit: boolean;
  /** FEAT_AMUv1 (PFR0.AMU ≥ 1; `ARM64_HAS_AMU_EXTN`). */
  readonly amu: boolean;
  /** PFR0.CSV2: 1 FEAT_CSV2, 2 FEAT_CSV2_2 (with SCXTNUM_ELx). */
  readonly csv2: number;
  /** FEAT_CSV3 (PFR0.CSV3 ≥ 1): no KPTI needed. */
  readonly csv3: boolean;
  /** PFR1.SSBS: 1 FEAT_SSBS (`ARM64_SSBS`), 2 FEAT_SSBS2. */
  readonly ssbs: number;
  /** FEAT_BTI (PFR1.BT ≥ 1; `ARM64_BTI`). */
  readonly bti: boolean;
  /** PFR1.MTE: 1 instructions only, 2 FEAT_MTE2 (`ARM64_MTE`), 3 FEAT_MTE3. */
  readonly mte: number;
  /** Pointer authentication. */
  readonly pauth: PauthFeatures;
  /** DFR0.PMUVer (1 PMUv3, 4 v3p1, 5 v3p4, 6 v3p5, 0xf IMPDEF). */
  readonly pmuVer: number;
  /** FEAT_SPE (DFR0.PMSVer ≥ 1). */
  readonly spe: boolean;
  /**
   * The kernel's Spectre-v3a erratum: the MIDR is a Cortex-A57 or A72, any
   * revision (`has_spectre_v3a()`, `arch/arm64/kernel/proton-pack.c`, the
   * same list in 6.1, 6.12 and 7.2). KVM then moves the hyp vectors behind an
   * indirect slot (`HYP_VECTOR_INDIRECT`).
   */
  readonly spectreV3a: boolean;
  /** Smallest I-cache line, bytes (4 << CTR_EL0.IminLine). */
  readonly iminLineBytes: number;
  /** Smallest D-cache line, bytes (4 << CTR_EL0.DminLine): the stride of DC CIVAC loops. */
  readonly dminLineBytes: number;
  /** CTR_EL0.IDC: D-cache clean to PoU not needed for I/D coherence. */
  readonly idc: boolean;
  /** CTR_EL0.DIC: I-cache invalidation not needed for I/D coherence. */
  readonly dic: boolean;
}

const PARANGE_BITS = [32, 36, 40, 42, 44, 48, 52] as const;

/**
 * Splits MIDR_EL1 into its fields.
 *
 * @param midr The register value.
 * @returns Its fields.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeMidr } from "./cpu_model.ts";
 * assertEquals(decodeMidr(0x414fd0c1n).partNum, 0xd0c);
 * ```
 */
export function decodeMidr(midr: bigint): MidrFields {
  const regs = { ...RAZ, MIDR_EL1: midr };
  const f = (name: string) => idField(regs, "MIDR_EL1", name);
  return Object.freeze({
    implementer: f("Implementer"),
    variant: f("Variant"),
    architecture: f("Architecture"),
    partNum: f("PartNum"),
    revision: f("Revision"),
  });
}

/**
 * Decodes the features the kernel checks from a set of ID registers.
 *
 * @param regs The registers, e.g. a model's {@link CpuModel.idRegs}.
 * @returns The decoded features.
 * @throws {RangeError} For a reserved ID_AA64MMFR0_EL1.PARange (7 or above).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_CORTEX_A57, decodeCpuFeatures } from "./cpu_model.ts";
 * const f = decodeCpuFeatures(CPU_CORTEX_A57.idRegs);
 * assertEquals([f.paBits, f.vmidBits, f.vhe], [44, 8, false]);
 * ```
 */
export function decodeCpuFeatures(regs: IdRegisters): CpuFeatures {
  const f = (reg: IdRegisterName, name: string) => idField(regs, reg, name);
  const pfr0 = (n: string) => f("ID_AA64PFR0_EL1", n);
  const pfr1 = (n: string) => f("ID_AA64PFR1_EL1", n);
  const mmfr0 = (n: string) => f("ID_AA64MMFR0_EL1", n);
  const mmfr1 = (n: string) => f("ID_AA64MMFR1_EL1", n);
  const mmfr2 = (n: string) => f("ID_AA64MMFR2_EL1", n);
  const isar0 = (n: string) => f("ID_AA64ISAR0_EL1", n);
  const isar1 = (n: string) => f("ID_AA64ISAR1_EL1", n);
  const isar2 = (n: string) => f("ID_AA64ISAR2_EL1", n);
  const ctr = (n: string) => f("CTR_EL0", n);
  const parange = mmfr0("PARange");
  const paBits = PARANGE_BITS[parange];
  if (paBits === undefined) {
    throw new RangeError(`ID_AA64MMFR0_EL1.PARange = ${parange} is reserved (0 to 6 are defined)`);
  }
  const midr = decodeMidr(regs.MIDR_EL1);
  const algorithm = isar1("APA") !== 0
    ? "qarma5"
    : isar2("APA3") !== 0
    ? "qarma3"
    : isar1("API") !== 0
    ? "impdef"
    : "none";
  return Object.freeze({
    el2: pfr0("EL2") !== 0,
    el3: pfr0("EL3") !== 0,
    el0Aarch32: pfr0("EL0") === 2,
    el1Aarch32: pfr0("EL1") === 2,
    gicSysregs: pfr0("GIC") >= 1,
    paBits,
    asidBits: mmfr0("ASIDBits") === 2 ? 16 : 8,
    vmidBits: mmfr1("VMIDBits") === 2 ? 16 : 8,
    vhe: mmfr1("VH") >= 1,
    lpa2: mmfr0("TGran4") === 1 && mmfr0("TGran4_2") === 3,
    lva: mmfr2("VARange") >= 1,
    cnp: mmfr2("CnP") >= 1,
    hafdbs: mmfr1("HAFDBS"),
    hpds: mmfr1("HPDS"),
    pan: mmfr1("PAN"),
    lor: mmfr1("LO") >= 1,
    xnx: mmfr1("XNX") >= 1,
    ets: mmfr1("ETS") >= 1,
    hcx: mmfr1("HCX") >= 1,
    uao: mmfr2("UAO") >= 1,
    iesb: mmfr2("IESB") >= 1,
    idst: mmfr2("IDS") >= 1,
    s2fwb: mmfr2("FWB") >= 1,
    ttl: mmfr2("TTL") >= 1,
    bbm: mmfr2("BBM"),
    evt: mmfr2("EVT") >= 1,
    e0pd: mmfr2("E0PD") >= 1,
    nv: mmfr2("NV"),
    ecv: mmfr0("ECV") >= 1,
    fgt: mmfr0("FGT") >= 1,
    tlbRange: isar0("TLB") >= 2,
    tlbOs: isar0("TLB") >= 1,
    lse: isar0("Atomic") >= 2,
    ras: pfr0("RAS"),
    sve: pfr0("SVE") >= 1,
    sme: pfr1("SME") >= 1,
    smeFa64: f("ID_AA64SMFR0_EL1", "FA64") === 1,
    sel2: pfr0("SEL2") >= 1,
    dit: pfr0("DIT") >= 1,
    amu: pfr0("AMU") >= 1,
    csv2: pfr0("CSV2"),
    csv3: pfr0("CSV3") >= 1,
    ssbs: pfr1("SSBS"),
    bti: pfr1("BT") >= 1,
    mte: pfr1("MTE"),
    pauth: Object.freeze({
      address: algorithm !== "none",
      generic: isar1("GPA") !== 0 || isar1("GPI") !== 0 || isar2("GPA3") !== 0,
      algorithm,
    }),
    pmuVer: f("ID_AA64DFR0_EL1", "PMUVer"),
    spe: f("ID_AA64DFR0_EL1", "PMSVer") >= 1,
    spectreV3a: midr.implementer === 0x41 && (midr.partNum === 0xd07 || midr.partNum === 0xd08),
    iminLineBytes: 4 << ctr("IminLine"),
    dminLineBytes: 4 << ctr("DminLine"),
    idc: ctr("IDC") === 1,
    dic: ctr("DIC") === 1,
  });
}

/** A CPU model: what a guest kernel reads from the emulated CPU. */
export interface CpuModel {
  /** The QEMU `-cpu` name. */
  readonly name: CpuModelName;
  /** One line: what the model is. */
  readonly summary: string;
  /** The machine these values were taken on. */
  readonly qemu: {
    /** QEMU release whose `target/arm` the values follow. */
    readonly version: "7.2";
    /** The `-M` argument. */
    readonly machine: string;
  };
  /** `-M virt,gic-version=` the values assume. */
  readonly gicVersion: GicVersion;
  /** Every identification register, as an `MRS` at EL2 reads it. */
  readonly idRegs: IdRegisters;
  /** MIDR_EL1 split into its fields. */
  readonly midr: MidrFields;
  /** The features decoded from {@link CpuModel.idRegs}. */
  readonly features: CpuFeatures;
  /** Largest SVE vector length, bits (0: no SVE). Not in any ID register. */
  readonly sveMaxVectorBits: number;
  /** Largest SME streaming vector length, bits (0: no SME). */
  readonly smeMaxVectorBits: number;
  /** PMCR_EL0.N: event counters, and the value MDCR_EL2.HPMN resets to. */
  readonly pmuCounters: number;
  /**
   * The GICv3 CPU interface's virtualisation sizes the model's init function
   * gives QEMU's `gicv3_init_cpuif()`, which ICH_VTR_EL2 reports (see
   * {@link ichVtrEl2}). Without a GICv3 (`gic-version=2`) there is no such
   * interface.
   */
  readonly gicVirt: GicVirtSizes;
}

/** The virtual CPU interface sizes of a QEMU CPU model (`target/arm/cpu64.c`). */
export interface GicVirtSizes {
  /** `gic_num_lrs`: list registers. */
  readonly listRegs: number;
  /** `gic_vpribits`: virtual priority bits. */
  readonly priBits: number;
  /** `gic_vprebits`: virtual preemption bits. */
  readonly preBits: number;
}

const SUMMARIES: Readonly<Record<CpuModelName, string>> = {
  "cortex-a57": "Arm Cortex-A57 r1p0 (Armv8.0): no VHE, 44-bit PA, 8-bit VMID",
  "neoverse-n1": "Arm Neoverse N1 r4p1 (Armv8.2): VHE, 48-bit PA, 16-bit VMID, CnP, RAS",
  "max": "QEMU's 'max' (not a real CPU): every feature TCG emulates, 52-bit PA with LPA2",
};

const INITS: Readonly<Record<CpuModelName, () => QemuInit>> = {
  "cortex-a57": a57Init,
  "neoverse-n1": n1Init,
  "max": maxInit,
};

function build(name: CpuModelName, gicVersion: GicVersion): CpuModel {
  const init = INITS[name]();
  const idRegs = virtRealize(init, gicVersion);
  return Object.freeze({
    name,
    summary: SUMMARIES[name],
    qemu: Object.freeze({
      version: "7.2" as const,
      machine: `virt,virtualization=on,gic-version=${gicVersion}`,
    }),
    gicVersion,
    idRegs,
    midr: decodeMidr(idRegs.MIDR_EL1),
    features: decodeCpuFeatures(idRegs),
    sveMaxVectorBits: init.sveMaxVectorBits,
    smeMaxVectorBits: init.smeMaxVectorBits,
    pmuCounters: init.pmuCounters,
    gicVirt: Object.freeze({ ...init.gicVirt }),
  });
}

/**
 * QEMU 7.2's `cortex-a57`: MIDR 0x411fd070 (r1p0), Armv8.0 with EL2 and, as
 * real silicon, no VHE, 44-bit PA, 16-bit ASIDs but 8-bit VMIDs, no
 * CnP, no RAS. Differs from the real core: no EL3 on `-M virt` (real A57s
 * have one); caches are not modelled (CTR/CLIDR/CCSIDR are values only). The
 * kernel still applies the A57 errata it matches by MIDR (Spectre-v3a,
 * 832075, 834220, 1319367), though QEMU has none of those bugs.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_CORTEX_A57 } from "./cpu_model.ts";
 * assertEquals(CPU_CORTEX_A57.idRegs.ID_AA64MMFR0_EL1, 0x1124n);
 * assertEquals(CPU_CORTEX_A57.features.spectreV3a, true);
 * ```
 */
export const CPU_CORTEX_A57: CpuModel = build("cortex-a57", 3);

/**
 * QEMU 7.2's `neoverse-n1`: MIDR 0x414fd0c1 (r4p1), Armv8.2 with VHE, 48-bit
 * PA, 16-bit VMIDs, CnP, RAS, HPDS2, PAN, LOR, SSBS2, HAFDBS (AF and dirty),
 * IESB, UAO. Differs from the real core: no EL3 on `-M virt`, and the
 * Statistical Profiling Extension the core has (ID_AA64DFR0_EL1.PMSVer = 1 in
 * QEMU's table) is hidden under TCG. No SVE, PAuth, BTI, MTE or LPA2 — as
 * the real N1.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_NEOVERSE_N1 } from "./cpu_model.ts";
 * assertEquals([CPU_NEOVERSE_N1.features.vhe, CPU_NEOVERSE_N1.features.cnp], [true, true]);
 * ```
 */
export const CPU_NEOVERSE_N1: CpuModel = build("neoverse-n1", 3);

/**
 * QEMU 7.2's `max` (TCG): not a real CPU. A Cortex-A57 with every feature
 * QEMU 7.2 emulates added: MIDR 0x000f0510 (implementer 0 "software use",
 * part `'Q'`, so the kernel matches no erratum), 52-bit PA with LPA2 for 4K
 * and 16K pages, VHE, 16-bit VMIDs, CnP, S2FWB, TTL, E0PD, BBM level 2, RAS
 * v1p1, SVE and SME at 2048 bits, PAuth with the architected QARMA5
 * algorithm (slow under TCG; `pauth-impdef=on` would switch it), BTI, SSBS2,
 * DIT, CSV2_2, CSV3. Of the later EL2 features it has HCX but not ECV,
 * FGT, EVT or NV. MTE (MTE3 in its table) is removed by the board, which
 * gives no tag memory unless `mte=on`; EL3 is removed but SEL2 stays
 * advertised, a combination no real CPU has.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_MAX } from "./cpu_model.ts";
 * assertEquals([CPU_MAX.features.paBits, CPU_MAX.features.lpa2], [52, true]);
 * assertEquals(CPU_MAX.sveMaxVectorBits, 2048);
 * ```
 */
export const CPU_MAX: CpuModel = build("max", 3);

/**
 * The three models on `-M virt,virtualization=on,gic-version=3`, by name.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_MODELS } from "./cpu_model.ts";
 * assertEquals(CPU_MODELS["neoverse-n1"].idRegs.MIDR_EL1, 0x414fd0c1n);
 * ```
 */
export const CPU_MODELS: Readonly<Record<CpuModelName, CpuModel>> = Object.freeze({
  "cortex-a57": CPU_CORTEX_A57,
  "neoverse-n1": CPU_NEOVERSE_N1,
  "max": CPU_MAX,
});

const OTHER_GIC_MODELS = new Map<string, CpuModel>();

/**
 * Looks a CPU model up by its QEMU `-cpu` name.
 *
 * @param name `cortex-a57`, `neoverse-n1` or `max`.
 * @param options The board's GIC version (default 3).
 * @returns The model (frozen; the same object for equal arguments).
 * @throws {RangeError} For an unknown name or GIC version.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { cpuModel } from "./cpu_model.ts";
 * assertEquals(cpuModel("max").idRegs.ID_AA64PFR0_EL1, 0x1201001121110222n);
 * assertEquals(cpuModel("max", { gicVersion: 2 }).features.gicSysregs, false);
 * assertThrows(() => cpuModel("a53"), RangeError, "cortex-a57, neoverse-n1, max");
 * ```
 */
export function cpuModel(name: string, options: CpuModelOptions = {}): CpuModel {
  if (!(CPU_MODEL_NAMES as readonly string[]).includes(name)) {
    throw new RangeError(
      `Unknown CPU model "${name}": expected one of ${CPU_MODEL_NAMES.join(", ")}`,
    );
  }
  const gic = options.gicVersion ?? 3;
  if (gic !== 2 && gic !== 3 && gic !== 4) {
    throw new RangeError(`Unknown GIC version ${String(gic)}: expected 2, 3 or 4`);
  }
  const model = name as CpuModelName;
  if (gic === 3) return CPU_MODELS[model];
  const key = `${model}/${gic}`;
  let m = OTHER_GIC_MODELS.get(key);
  if (m === undefined) {
    m = build(model, gic);
    OTHER_GIC_MODELS.set(key, m);
  }
  return m;
}

/**
 * ICH_VTR_EL2 as QEMU 7.2's GICv3 CPU interface answers an `MRS` at EL2
 * (`ich_vtr_read()`, hw/intc/arm_gicv3_cpuif.c): ListRegs = `gic_num_lrs`
 * − 1, TDS, A3V, IDbits = 1 (24-bit), PREbits = `gic_vprebits` − 1,
 * PRIbits = `gic_vpribits` − 1, and NV4 (no direct vLPI injection) on a
 * GICv3 (`gic-version=3`), not on a GICv4. SEIS is 0.
 *
 * @param model The CPU model.
 * @returns The register.
 * @throws {RangeError} On a model without a GICv3 CPU interface (`gic-version=2`):
 *   the register does not exist there.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_CORTEX_A57, cpuModel, ichVtrEl2 } from "./cpu_model.ts";
 * assertEquals(ichVtrEl2(CPU_CORTEX_A57), 0x90b8_0003n); // 4 LRs, 5 pri/pre bits, NV4
 * assertEquals(ichVtrEl2(cpuModel("max", { gicVersion: 4 })), 0x90a8_0003n);
 * ```
 */
export function ichVtrEl2(model: CpuModel): bigint {
  if (model.gicVersion < 3) {
    throw new RangeError(
      `ICH_VTR_EL2 on ${model.name} with gic-version=${model.gicVersion}: ` +
        "there is no GICv3 CPU interface",
    );
  }
  const v = model.gicVirt;
  const TDS = 1n << 19n;
  const NV4 = 1n << 20n;
  const A3V = 1n << 21n;
  return BigInt(v.listRegs - 1) | TDS | A3V | (1n << 23n) | (BigInt(v.preBits - 1) << 26n) |
    (BigInt(v.priBits - 1) << 29n) | (model.gicVersion < 4 ? NV4 : 0n);
}
