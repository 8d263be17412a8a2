/**
 * The constants `#NAME` operands may use, and the CPU capabilities
 * `alternative_if` may test.
 *
 * Values follow the kernel headers (sysreg.h, pgtable-hwdef.h, asm-offsets of
 * `struct kvm_nvhe_init_params` as of v5.13: mair, tcr, tpidr, stack_hyp_va,
 * pgd_pa, hcr, vttbr, vtcr — 8 bytes each).
 *
 * @module
 */

/**
 * Built-in symbol table for `#CONSTANT` operands.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { A64_SYMBOLS } from "./mod.ts";
 * assertEquals(A64_SYMBOLS.NVHE_INIT_PGD_PA, 32n);
 * ```
 */
export const A64_SYMBOLS: Readonly<Record<string, bigint>> = {
  // SCTLR_ELx bits (asm/sysreg.h).
  SCTLR_ELx_M: 1n << 0n,
  SCTLR_ELx_A: 1n << 1n,
  SCTLR_ELx_C: 1n << 2n,
  SCTLR_ELx_SA: 1n << 3n,
  SCTLR_ELx_I: 1n << 12n,
  SCTLR_ELx_WXN: 1n << 19n,
  SCTLR_ELx_IESB: 1n << 21n,
  SCTLR_ELx_EE: 1n << 25n,
  // INIT_SCTLR_EL2_MMU_OFF is the RES1 set; MMU_ON adds M, C, SA, I, IESB,
  // as the pKVM series defined it (v6, March 2021). WXN and ITFSB came later
  // (ITFSB with KVM's MTE support, June 2021); see pkvm/hyp_main.ts.
  INIT_SCTLR_EL2_MMU_OFF: 0x30c50830n,
  INIT_SCTLR_EL2_MMU_ON: 0x30e5183dn,
  // TTBR common-not-private bit: TTBR_CNP_BIT (v5.13), TTBRx_EL1_CnP (mainline).
  TTBR_CNP_BIT: 1n,
  TTBRx_EL1_CnP: 1n,
  TTBR_BADDR_MASK_52: ((1n << 46n) - 1n) << 2n,
  // asm-offsets for struct kvm_nvhe_init_params (v5.13 layout).
  NVHE_INIT_MAIR_EL2: 0n,
  NVHE_INIT_TCR_EL2: 8n,
  NVHE_INIT_TPIDR_EL2: 16n,
  NVHE_INIT_STACK_HYP_VA: 24n,
  NVHE_INIT_PGD_PA: 32n,
  NVHE_INIT_HCR_EL2: 40n,
  NVHE_INIT_VTTBR: 48n,
  NVHE_INIT_VTCR: 56n,
  // PSTATE bits used with SPSR_EL2 (uapi/asm/ptrace.h).
  PSR_MODE_EL1h: 0x5n,
  PSR_MODE_EL2h: 0x9n,
  PSR_F_BIT: 0x40n,
  PSR_I_BIT: 0x80n,
  PSR_A_BIT: 0x100n,
  PSR_D_BIT: 0x200n,
  PAGE_SIZE: 4096n,
  PAGE_SHIFT: 12n,
};

/**
 * What a value loaded from `[xN, #SYMBOL]` is, for the checker's address
 * spaces (R15): the init params hold a physical pgd and a new-table stack VA.
 */
export const A64_LOAD_TAGS: Readonly<Record<string, "PA" | "newVA">> = {
  NVHE_INIT_PGD_PA: "PA",
  NVHE_INIT_STACK_HYP_VA: "newVA",
};

/**
 * CPU capabilities `alternative_if` / `alternative_if_not` may name, and the
 * configured feature (`--feature`) or erratum (`--erratum`) each follows.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ALTERNATIVE_CAPS } from "./mod.ts";
 * assertEquals(ALTERNATIVE_CAPS.ARM64_HAS_CNP, { feature: "cnp" });
 * ```
 */
export const ALTERNATIVE_CAPS: Readonly<
  Record<string, { feature: string } | { erratum: string } | { never: true }>
> = {
  ARM64_HAS_CNP: { feature: "cnp" },
  ARM64_HAS_ETS: { feature: "ets" },
  ARM64_HAS_ADDRESS_AUTH: { feature: "pauth" },
  ARM64_BTI: { feature: "bti" },
  // Not a CPU feature: KVM runs in protected mode (kvm-arm.mode=protected).
  ARM64_KVM_PROTECTED_MODE: { feature: "kvm-protected-mode" },
  ARM64_WORKAROUND_CAVIUM_TX2_219_TVM: { erratum: "tx2-219" },
  ARM64_WORKAROUND_CAVIUM_TX2_219_PRFM: { erratum: "tx2-219" },
  ARM64_WORKAROUND_QCOM_FALKOR_E1041: { erratum: "falkor-e1041" },
  // hyplab models nVHE (HCR_EL2.E2H = 0): VHE alternatives never apply.
  ARM64_HAS_VIRT_HOST_EXTN: { never: true },
  ARM64_KVM_HVHE: { never: true },
};
