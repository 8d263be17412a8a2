/**
 * What QEMU 7.2 (TCG) stores when a guest at EL2 writes the registers pKVM
 * programs: SCTLR_EL2, HCR_EL2, TCR_EL2, VTCR_EL2, MAIR_EL2, TTBR0_EL2,
 * VTTBR_EL2, CPTR_EL2 and MDCR_EL2, per {@link CpuModel}. Pure data and one
 * pure function; nothing here touches a simulated CPU.
 *
 * QEMU 7.2 masks only two of them. `sctlr_write()` drops the MTE controls
 * when the CPU has no FEAT_MTE2, and `do_hcr_write()` keeps the Armv8.0 bits
 * 33:0 plus the bits of the features the CPU has. The other seven store all
 * 64 bits as written, RES0 bits included, whatever the feature set (a CnP bit
 * on a CPU without FEAT_TTCNP, a 16-bit VMID on an 8-bit-VMID CPU, bits the
 * nVHE layout of TCR_EL2 leaves RES0). No write forces a bit to 1: a RES1 bit
 * written as 0 (SCTLR_EL2's, TCR_EL2's 31 and 23, VTCR_EL2's 31) reads back
 * as 0. A read returns the stored value (CPTR_EL2's `cptr_el2_read()` only
 * differs with an AArch32 EL3, which `-M virt` never has).
 *
 * The function names cited are in `target/arm/helper.c` of QEMU 7.2 (as
 * Debian builds it, 1:7.2+dfsg-7+deb12u18, upstream 7.2.22).
 *
 * @module
 */

import { type CpuModel, idField, type IdRegisterName } from "./cpu_model.ts";

/** The EL2 registers whose write behaviour is described here. */
export type QemuEl2Register =
  | "SCTLR_EL2"
  | "HCR_EL2"
  | "TCR_EL2"
  | "VTCR_EL2"
  | "MAIR_EL2"
  | "TTBR0_EL2"
  | "VTTBR_EL2"
  | "CPTR_EL2"
  | "MDCR_EL2";

/**
 * Every {@link QemuEl2Register}, in a fixed order.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { QEMU_EL2_REGISTERS } from "./cpu_model_masks.ts";
 * assertEquals(QEMU_EL2_REGISTERS.includes("VTCR_EL2"), true);
 * ```
 */
export const QEMU_EL2_REGISTERS: readonly QemuEl2Register[] = Object.freeze([
  "SCTLR_EL2",
  "HCR_EL2",
  "TCR_EL2",
  "VTCR_EL2",
  "MAIR_EL2",
  "TTBR0_EL2",
  "VTTBR_EL2",
  "CPTR_EL2",
  "MDCR_EL2",
]);

/** Bits a write drops, and why. */
export interface QemuDroppedBits {
  /** The bits. */
  readonly bits: bigint;
  /** Why QEMU 7.2 drops them on this model. */
  readonly why: string;
}

/** How QEMU 7.2 stores a write to one register on one model. */
export interface QemuWriteRule {
  /** The register. */
  readonly name: QemuEl2Register;
  /** The bits a write keeps; every other bit reads back as 0. */
  readonly keep: bigint;
  /** The bits outside {@link QemuWriteRule.keep}, grouped by reason. */
  readonly dropped: readonly QemuDroppedBits[];
  /** The QEMU 7.2 function that stores the write. */
  readonly qemu: string;
  /** The value at CPU reset, before any write. */
  readonly reset: bigint;
}

/** Options of {@link qemuSysregWrite}. */
export interface QemuWriteOptions {
  /**
   * HCR_EL2.E2H when the write happens. It changes what TCR_EL2 and
   * CPTR_EL2 mean (TCR_EL1's and CPACR_EL1's layouts) but not what QEMU 7.2
   * stores. Only valid on a model with FEAT_VHE.
   */
  readonly e2h?: boolean;
}

const ALL = (1n << 64n) - 1n;
const bit = (n: number) => 1n << BigInt(n);
const range = (hi: number, lo: number) => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);

/** SCTLR_EL2.{ITFSB, TCF0, TCF, ATA0, ATA}: bits 43:37. */
const SCTLR_MTE = bit(37) | range(39, 38) | range(41, 40) | bit(42) | bit(43);

/** HCR_EL2 bits 33:0: what `do_hcr_write()` keeps on any Armv8 CPU. */
const HCR_V8 = range(33, 0);
const HCR_E2H = bit(34);
const HCR_TLOR = bit(35);
const HCR_TERR_TEA = bit(36) | bit(37);
const HCR_APK_API = bit(40) | bit(41);
const HCR_FWB = bit(46);
const HCR_ENSCXT = bit(53);
const HCR_ATA_DCT_TID5 = bit(56) | bit(57) | bit(58);

// QEMU 7.2's feature predicates (target/arm/cpu.h), which are not always the
// kernel's: isar_feature_aa64_pauth() accepts any of APA, API, GPA, GPI;
// isar_feature_aa64_mte() wants MTE >= 2 (FEAT_MTE2).
function qemuHas(model: CpuModel) {
  const f = (reg: IdRegisterName, name: string) => idField(model.idRegs, reg, name);
  const csv2 = f("ID_AA64PFR0_EL1", "CSV2");
  return {
    vh: f("ID_AA64MMFR1_EL1", "VH") !== 0,
    ras: f("ID_AA64PFR0_EL1", "RAS") !== 0,
    lor: f("ID_AA64MMFR1_EL1", "LO") !== 0,
    pauth: ["APA", "API", "GPA", "GPI"].some((n) => f("ID_AA64ISAR1_EL1", n) !== 0),
    mte: f("ID_AA64PFR1_EL1", "MTE") >= 2,
    scxtnum: csv2 >= 2 || (csv2 === 1 && f("ID_AA64PFR1_EL1", "CSV2_frac") >= 2),
    fwb: f("ID_AA64MMFR2_EL1", "FWB") !== 0,
  };
}

function rule(
  name: QemuEl2Register,
  qemu: string,
  dropped: QemuDroppedBits[],
  reset = 0n,
): QemuWriteRule {
  const gone = dropped.reduce((m, d) => m | d.bits, 0n);
  return Object.freeze({
    name,
    keep: ALL & ~gone,
    dropped: Object.freeze(dropped.filter((d) => d.bits !== 0n).map((d) => Object.freeze(d))),
    qemu,
    reset,
  });
}

function buildRules(model: CpuModel): Readonly<Record<QemuEl2Register, QemuWriteRule>> {
  const has = qemuHas(model);
  const unless = (present: boolean, bits: bigint, why: string): QemuDroppedBits => ({
    bits: present ? 0n : bits,
    why,
  });
  // do_hcr_write(): valid_mask = bits 33:0 | the feature bits. Without EL3
  // it would clear TSC unless the PSCI conduit is SMC, which -M virt picks
  // whenever virtualization=on; HCD is cleared only with EL3. Both stay.
  const hcrFeatures = HCR_E2H | HCR_TLOR | HCR_TERR_TEA | HCR_APK_API | HCR_FWB | HCR_ENSCXT |
    HCR_ATA_DCT_TID5;
  const raw = (name: QemuEl2Register, qemu: string, reset = 0n) => rule(name, qemu, [], reset);
  const rules: Record<QemuEl2Register, QemuWriteRule> = {
    SCTLR_EL2: rule("SCTLR_EL2", "sctlr_write()", [
      unless(
        has.mte,
        SCTLR_MTE,
        "ITFSB, TCF0, TCF, ATA0, ATA: no FEAT_MTE2 (ID_AA64PFR1_EL1.MTE < 2)",
      ),
    ]),
    HCR_EL2: rule("HCR_EL2", "hcr_write() -> do_hcr_write()", [
      unless(has.vh, HCR_E2H, "E2H: no FEAT_VHE (ID_AA64MMFR1_EL1.VH = 0)"),
      unless(has.lor, HCR_TLOR, "TLOR: no FEAT_LOR (ID_AA64MMFR1_EL1.LO = 0)"),
      unless(has.ras, HCR_TERR_TEA, "TERR, TEA: no FEAT_RAS (ID_AA64PFR0_EL1.RAS = 0)"),
      unless(has.pauth, HCR_APK_API, "APK, API: no pointer authentication (ID_AA64ISAR1_EL1)"),
      unless(has.fwb, HCR_FWB, "FWB: no FEAT_S2FWB (ID_AA64MMFR2_EL1.FWB = 0)"),
      unless(has.scxtnum, HCR_ENSCXT, "EnSCXT: no FEAT_CSV2_2 / FEAT_CSV2_1p2"),
      unless(has.mte, HCR_ATA_DCT_TID5, "ATA, DCT, TID5: no FEAT_MTE2 (ID_AA64PFR1_EL1.MTE < 2)"),
      {
        bits: ALL & ~(HCR_V8 | hcrFeatures),
        why: "RES0 to QEMU 7.2 on every CPU: MIOCNCE, NV, NV1, AT, NV2, FIEN, TID4, TICAB, " +
          "AMVOFFEN, TOCU, TTLBIS, TTLBOS, TWEDEn, TWEDEL and the RES0 bits 39, 48",
      },
    ]),
    TCR_EL2: raw("TCR_EL2", "vmsa_tcr_el12_write()"),
    VTCR_EL2: raw("VTCR_EL2", "none (a plain field store)"),
    MAIR_EL2: raw("MAIR_EL2", "none (a plain field store)"),
    TTBR0_EL2: raw("TTBR0_EL2", "vmsa_tcr_ttbr_el2_write()"),
    VTTBR_EL2: raw("VTTBR_EL2", "vttbr_write()"),
    CPTR_EL2: raw("CPTR_EL2", "cptr_el2_write()"),
    // The one non-zero reset: HPMN = PMCR_EL0.N (pmu_num_counters()).
    MDCR_EL2: raw("MDCR_EL2", "mdcr_el2_write()", BigInt(model.pmuCounters)),
  };
  return Object.freeze(rules);
}

const CACHE = new WeakMap<CpuModel, Readonly<Record<QemuEl2Register, QemuWriteRule>>>();

/**
 * The write rules of every {@link QemuEl2Register} on a model, derived from
 * its ID registers the way QEMU 7.2 derives them.
 *
 * @param model The CPU model.
 * @returns One rule per register.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_CORTEX_A57 } from "./cpu_model.ts";
 * import { qemuWriteRules } from "./cpu_model_masks.ts";
 * assertEquals(qemuWriteRules(CPU_CORTEX_A57).HCR_EL2.keep, 0x3_ffff_ffffn);
 * ```
 */
export function qemuWriteRules(
  model: CpuModel,
): Readonly<Record<QemuEl2Register, QemuWriteRule>> {
  let r = CACHE.get(model);
  if (r === undefined) {
    r = buildRules(model);
    CACHE.set(model, r);
  }
  return r;
}

/**
 * The value QEMU 7.2 stores (and a later `MRS` reads) when EL2 executes
 * `MSR <name>, value` on the model.
 *
 * @param model The CPU model.
 * @param name One of {@link QEMU_EL2_REGISTERS}.
 * @param value The 64-bit value written.
 * @param options HCR_EL2.E2H at the time of the write.
 * @returns The stored value.
 * @throws {RangeError} For an unknown register, a value outside 64 bits, or
 *   `e2h` on a model without FEAT_VHE (where HCR_EL2.E2H cannot be set).
 * @example Linux 6.1's SCTLR_EL2 on cortex-a57: ITFSB is dropped
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CPU_CORTEX_A57 } from "./cpu_model.ts";
 * import { qemuSysregWrite } from "./cpu_model_masks.ts";
 * assertEquals(qemuSysregWrite(CPU_CORTEX_A57, "SCTLR_EL2", 0x20_30ed_183dn), 0x30ed183dn);
 * ```
 */
export function qemuSysregWrite(
  model: CpuModel,
  name: string,
  value: bigint,
  options: QemuWriteOptions = {},
): bigint {
  const rules = qemuWriteRules(model);
  if (!(QEMU_EL2_REGISTERS as readonly string[]).includes(name)) {
    throw new RangeError(
      `Cannot write "${name}" on ${model.name}: expected one of ${QEMU_EL2_REGISTERS.join(", ")}`,
    );
  }
  if (typeof value !== "bigint" || value < 0n || value > ALL) {
    throw new RangeError(
      `Cannot write ${name} = ${String(value)} on ${model.name}: not a 64-bit unsigned bigint`,
    );
  }
  if (options.e2h === true && !model.features.vhe) {
    throw new RangeError(
      `Cannot write ${name} with HCR_EL2.E2H = 1 on ${model.name}: it has no FEAT_VHE, ` +
        `so E2H reads as 0`,
    );
  }
  return value & rules[name as QemuEl2Register].keep;
}
