/**
 * System-register names and encodings the parser accepts in `mrs`/`msr`,
 * `mrs_s`/`msr_s` and `.inst`: every register the CPU model holds
 * (core `SYSREG_DEFS`), the further registers the kernel's EL2 setup code
 * touches (fine-grained traps, GIC, SVE/SME, MPAM, ID registers ...), the
 * PSTATE registers, and the generic spelling `s<op0>_<op1>_c<n>_c<m>_<op2>`
 * of any encoding. Encodings are `sys_reg(op0, op1, CRn, CRm, op2)` as in
 * asm/sysreg.h (and arch/arm64/tools/sysreg from v6.0).
 *
 * @module
 */

import { SYSREG_DEFS } from "../../core/mod.ts";

/** One register: its name, encoding and whether it can be written. */
export interface A64Sysreg {
  /** Name, upper case (`SCTLR_EL2`, or `S3_4_C15_C0_0` for an unnamed encoding). */
  readonly name: string;
  /** `sys_reg()` encoding: op0 << 19 | op1 << 16 | CRn << 12 | CRm << 8 | op2 << 5. */
  readonly encoding: number;
  /** Read-only (ID registers, CurrentEL). */
  readonly readOnly: boolean;
  /** Held by the CPU model (core `SYSREG_DEFS`); else by the executor. */
  readonly modelled: boolean;
}

/**
 * The kernel's `sys_reg()` encoding.
 * @param op0 op0.
 * @param op1 op1.
 * @param crn CRn.
 * @param crm CRm.
 * @param op2 op2.
 * @returns The encoding.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sysRegEncoding } from "./sysregs.ts";
 * assertEquals(sysRegEncoding(3, 4, 2, 0, 0).toString(16), "1c2000"); // TTBR0_EL2
 * ```
 */
export function sysRegEncoding(
  op0: number,
  op1: number,
  crn: number,
  crm: number,
  op2: number,
): number {
  return ((op0 << 19) | (op1 << 16) | (crn << 12) | (crm << 8) | (op2 << 5)) >>> 0;
}

// name: [op0, op1, CRn, CRm, op2, read-only]
const TABLE: Record<string, readonly [number, number, number, number, number, boolean?]> = {
  // EL2 (Arm ARM DDI0487, "AArch64 System Register Descriptions").
  SCTLR_EL2: [3, 4, 1, 0, 0],
  HCR_EL2: [3, 4, 1, 1, 0],
  MDCR_EL2: [3, 4, 1, 1, 1],
  CPTR_EL2: [3, 4, 1, 1, 2],
  HSTR_EL2: [3, 4, 1, 1, 3],
  HFGRTR_EL2: [3, 4, 1, 1, 4],
  HFGWTR_EL2: [3, 4, 1, 1, 5],
  HFGITR_EL2: [3, 4, 1, 1, 6],
  HACR_EL2: [3, 4, 1, 1, 7],
  ZCR_EL2: [3, 4, 1, 2, 0],
  TRFCR_EL2: [3, 4, 1, 2, 1],
  HCRX_EL2: [3, 4, 1, 2, 2],
  SMPRIMAP_EL2: [3, 4, 1, 2, 5],
  SMCR_EL2: [3, 4, 1, 2, 6],
  TTBR0_EL2: [3, 4, 2, 0, 0],
  TTBR1_EL2: [3, 4, 2, 0, 1],
  TCR_EL2: [3, 4, 2, 0, 2],
  VTTBR_EL2: [3, 4, 2, 1, 0],
  VTCR_EL2: [3, 4, 2, 1, 2],
  HDFGRTR2_EL2: [3, 4, 3, 1, 0],
  HDFGWTR2_EL2: [3, 4, 3, 1, 1],
  HFGRTR2_EL2: [3, 4, 3, 1, 2],
  HFGWTR2_EL2: [3, 4, 3, 1, 3],
  HDFGRTR_EL2: [3, 4, 3, 1, 4],
  HDFGWTR_EL2: [3, 4, 3, 1, 5],
  HAFGRTR_EL2: [3, 4, 3, 1, 6],
  HFGITR2_EL2: [3, 4, 3, 1, 7],
  SPSR_EL2: [3, 4, 4, 0, 0],
  ELR_EL2: [3, 4, 4, 0, 1],
  SP_EL1: [3, 4, 4, 1, 0],
  ESR_EL2: [3, 4, 5, 2, 0],
  FAR_EL2: [3, 4, 6, 0, 0],
  HPFAR_EL2: [3, 4, 6, 0, 4],
  PMSCR_EL2: [3, 4, 9, 9, 0],
  MAIR_EL2: [3, 4, 10, 2, 0],
  AMAIR_EL2: [3, 4, 10, 3, 0],
  MPAMHCR_EL2: [3, 4, 10, 4, 0],
  MPAM2_EL2: [3, 4, 10, 5, 0],
  VBAR_EL2: [3, 4, 12, 0, 0],
  ICH_HFGRTR_EL2: [3, 4, 12, 9, 4],
  ICC_SRE_EL2: [3, 4, 12, 9, 5],
  ICH_HFGWTR_EL2: [3, 4, 12, 9, 6],
  ICH_HFGITR_EL2: [3, 4, 12, 9, 7],
  ICH_HCR_EL2: [3, 4, 12, 11, 0],
  ICH_VCTLR_EL2: [3, 4, 12, 11, 4],
  CONTEXTIDR_EL2: [3, 4, 13, 0, 1],
  TPIDR_EL2: [3, 4, 13, 0, 2],
  CNTVOFF_EL2: [3, 4, 14, 0, 3],
  CNTHCTL_EL2: [3, 4, 14, 1, 0],
  VPIDR_EL2: [3, 4, 0, 0, 0],
  VMPIDR_EL2: [3, 4, 0, 0, 5],
  BRBCR_EL2: [2, 4, 9, 0, 0],
  // EL1 and EL0.
  SCTLR_EL1: [3, 0, 1, 0, 0],
  CPACR_EL1: [3, 0, 1, 0, 2],
  TTBR0_EL1: [3, 0, 2, 0, 0],
  TTBR1_EL1: [3, 0, 2, 0, 1],
  TCR_EL1: [3, 0, 2, 0, 2],
  GCSCR_EL1: [3, 0, 2, 5, 0],
  GCSCRE0_EL1: [3, 0, 2, 5, 2],
  SPSR_EL1: [3, 0, 4, 0, 0],
  ELR_EL1: [3, 0, 4, 0, 1],
  SP_EL0: [3, 0, 4, 1, 0],
  ESR_EL1: [3, 0, 5, 2, 0],
  FAR_EL1: [3, 0, 6, 0, 0],
  MAIR_EL1: [3, 0, 10, 2, 0],
  LORC_EL1: [3, 0, 10, 4, 3],
  VBAR_EL1: [3, 0, 12, 0, 0],
  TPIDR_EL1: [3, 0, 13, 0, 4],
  CNTKCTL_EL1: [3, 0, 14, 1, 0],
  PMCR_EL0: [3, 3, 9, 12, 0],
  // PSTATE access.
  SPSEL: [3, 0, 4, 2, 0],
  CURRENTEL: [3, 0, 4, 2, 2, true],
  NZCV: [3, 3, 4, 2, 0],
  DAIF: [3, 3, 4, 2, 1],
  // Identification (read-only).
  MIDR_EL1: [3, 0, 0, 0, 0, true],
  MPIDR_EL1: [3, 0, 0, 0, 5, true],
  REVIDR_EL1: [3, 0, 0, 0, 6, true],
  ID_AA64PFR0_EL1: [3, 0, 0, 4, 0, true],
  ID_AA64PFR1_EL1: [3, 0, 0, 4, 1, true],
  ID_AA64PFR2_EL1: [3, 0, 0, 4, 2, true],
  ID_AA64ZFR0_EL1: [3, 0, 0, 4, 4, true],
  ID_AA64SMFR0_EL1: [3, 0, 0, 4, 5, true],
  ID_AA64DFR0_EL1: [3, 0, 0, 5, 0, true],
  ID_AA64DFR1_EL1: [3, 0, 0, 5, 1, true],
  ID_AA64ISAR0_EL1: [3, 0, 0, 6, 0, true],
  ID_AA64ISAR1_EL1: [3, 0, 0, 6, 1, true],
  ID_AA64ISAR2_EL1: [3, 0, 0, 6, 2, true],
  ID_AA64MMFR0_EL1: [3, 0, 0, 7, 0, true],
  ID_AA64MMFR1_EL1: [3, 0, 0, 7, 1, true],
  ID_AA64MMFR2_EL1: [3, 0, 0, 7, 2, true],
  ID_AA64MMFR3_EL1: [3, 0, 0, 7, 3, true],
  ID_AA64MMFR4_EL1: [3, 0, 0, 7, 4, true],
  PMSIDR_EL1: [3, 0, 9, 9, 7, true],
  PMBIDR_EL1: [3, 0, 9, 10, 7, true],
  TRBIDR_EL1: [3, 0, 9, 11, 7, true],
  MPAMIDR_EL1: [3, 0, 10, 4, 4, true],
  SMIDR_EL1: [3, 1, 0, 0, 6, true],
  CTR_EL0: [3, 3, 0, 0, 1, true],
  DCZID_EL0: [3, 3, 0, 0, 7, true],
  CLIDR_EL1: [3, 1, 0, 0, 1, true],
  ID_AA64AFR0_EL1: [3, 0, 0, 5, 4, true],
  ID_AA64AFR1_EL1: [3, 0, 0, 5, 5, true],
};

const BY_NAME = new Map<string, A64Sysreg>();
const BY_ENCODING = new Map<number, A64Sysreg>();
for (const [name, [op0, op1, crn, crm, op2, ro]] of Object.entries(TABLE)) {
  const encoding = sysRegEncoding(op0, op1, crn, crm, op2);
  const core = SYSREG_DEFS[name];
  const r: A64Sysreg = {
    name,
    encoding,
    readOnly: ro === true || core?.readOnly === true,
    modelled: core !== undefined,
  };
  BY_NAME.set(name, r);
  BY_ENCODING.set(encoding, r);
}
for (const d of Object.values(SYSREG_DEFS)) {
  if (!BY_NAME.has(d.name)) {
    throw new Error(`sysregs.ts: ${d.name} (core SYSREG_DEFS) has no encoding here`);
  }
}

/**
 * The register an encoding names: a named one, or `S<op0>_<op1>_C<n>_C<m>_<op2>`.
 * @param encoding `sys_reg()` encoding (bits 5–20).
 * @returns The register.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sysregByEncoding, sysRegEncoding } from "./sysregs.ts";
 * assertEquals(sysregByEncoding(sysRegEncoding(3, 4, 2, 0, 0)).name, "TTBR0_EL2");
 * assertEquals(sysregByEncoding(sysRegEncoding(3, 4, 15, 0, 0)).name, "S3_4_C15_C0_0");
 * ```
 */
export function sysregByEncoding(encoding: number): A64Sysreg {
  const known = BY_ENCODING.get(encoding);
  if (known !== undefined) return known;
  const op0 = (encoding >> 19) & 3;
  const op1 = (encoding >> 16) & 7;
  const crn = (encoding >> 12) & 15;
  const crm = (encoding >> 8) & 15;
  const op2 = (encoding >> 5) & 7;
  return {
    name: `S${op0}_${op1}_C${crn}_C${crm}_${op2}`,
    encoding,
    readOnly: false,
    modelled: false,
  };
}

/**
 * Resolves a register operand: a name (any case) or the generic spelling
 * `s3_4_c2_c0_0`.
 * @param text Operand text.
 * @returns The register, or undefined.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resolveSysreg } from "./sysregs.ts";
 * assertEquals(resolveSysreg("s3_4_c2_c0_0")?.name, "TTBR0_EL2");
 * assertEquals(resolveSysreg("CurrentEL")?.readOnly, true);
 * ```
 */
export function resolveSysreg(text: string): A64Sysreg | undefined {
  const up = text.toUpperCase();
  const named = BY_NAME.get(up);
  if (named !== undefined) return named;
  const m = /^S([0-3])_([0-7])_C(\d{1,2})_C(\d{1,2})_([0-7])$/.exec(up);
  if (!m) return undefined;
  const crn = Number(m[3]);
  const crm = Number(m[4]);
  if (crn > 15 || crm > 15 || Number(m[1]) < 2) return undefined;
  return sysregByEncoding(sysRegEncoding(Number(m[1]), Number(m[2]), crn, crm, Number(m[5])));
}

/**
 * `SYS_<NAME>` constants (asm/sysreg.h's `sys_reg()` values) for every named
 * register, so `msr_s SYS_ICC_SRE_EL2, x0` reads as the kernel's does.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { A64_SYSREG_SYMBOLS } from "./sysregs.ts";
 * assertEquals(A64_SYSREG_SYMBOLS.SYS_TTBR0_EL2, 0x1c2000n);
 * ```
 */
export const A64_SYSREG_SYMBOLS: Readonly<Record<string, bigint>> = Object.fromEntries(
  [...BY_NAME.values()].map((r) => [`SYS_${r.name}`, BigInt(r.encoding)]),
);

/**
 * Every named register, for messages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { A64_SYSREG_NAMES } from "./mod.ts";
 * assertEquals(A64_SYSREG_NAMES.includes("sctlr_el2"), true);
 * ```
 */
export const A64_SYSREG_NAMES: readonly string[] = [...BY_NAME.keys()].map((n) =>
  n === "CURRENTEL" ? "CurrentEL" : n === "SPSEL" ? "SPSel" : n.toLowerCase()
);
