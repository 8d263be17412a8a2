/**
 * The built-in switch sequences as text. GENERATED from sequences/*.S by
 * tests/plugins/switch_sequence/generate_sources.ts — edit the .S files and
 * regenerate; a test checks that both agree.
 *
 * @module
 */

/** Text of sequences/v3.S. */
export const V3_S: string =
  `// __pkvm_init_switch_pgd as posted in "[PATCH v3 15/32] KVM: arm64: Prepare
// the creation of s1 mappings at EL2" (2 Mar 2021), the text Will Deacon
// answered with "this sequence isn't quite right" (4 Mar 2021).
// Calling convention: x0 = PA of struct kvm_nvhe_init_params,
//   x1 = continuation, __pkvm_init_finalise (hyp VA).
// The reviewed quote stops at the final isb; the tail "ret x1" is taken from
// the same routine elsewhere in the series (not confirmed for v3 itself).
SYM_FUNC_START(__pkvm_init_switch_pgd)
	/* Turn the MMU off. */
	pre_disable_mmu_workaround
	mrs	x2, sctlr_el2
	bic	x3, x2, #SCTLR_ELx_M
	msr	sctlr_el2, x3
	isb

	tlbi	alle2

	/* Install the new pgtables (first load, MMU off). */
	ldr	x3, [x0, #NVHE_INIT_PGD_PA]
	phys_to_ttbr x4, x3
alternative_if ARM64_HAS_CNP
	orr	x4, x4, #TTBR_CNP_BIT
alternative_else_nop_endif
	msr	ttbr0_el2, x4

	/* Set the new stack pointer (second load, MMU off). */
	ldr	x0, [x0, #NVHE_INIT_STACK_HYP_VA]
	mov	sp, x0

	/* Turn the MMU back on: no ISB before the ic, no DSB after it (R1/R9, R10). */
	dsb	nsh
	isb
	msr	sctlr_el2, x2
	ic	iallu
	isb
	ret	x1
SYM_FUNC_END(__pkvm_init_switch_pgd)
`;

/** Text of sequences/v5_13.S. */
export const V5_13_S: string =
  `// __pkvm_init_switch_pgd as merged for v5.13: f320bc742bc2 (Q. Perret and
// W. Deacon), the body of "[PATCH v6 17/38] KVM: arm64: Prepare the creation
// of s1 mappings at EL2" (19 Mar 2021). x0 = PA of struct
// kvm_nvhe_init_params, x1 = continuation, __pkvm_init_finalise (hyp VA).
// Unlike mainline: the pgd and stack are loaded with the MMU off, and no
// "dsb nsh; isb" follows the TTBR0_EL2 write: 040113fa32f2 ("KVM: arm64: Add
// missing memory barriers when switching to pKVM's hyp pgd", v6.8) added it.
SYM_FUNC_START(__pkvm_init_switch_pgd)
	/* Turn the MMU off. */
	pre_disable_mmu_workaround
	mrs	x2, sctlr_el2
	bic	x3, x2, #SCTLR_ELx_M
	msr	sctlr_el2, x3
	isb

	tlbi	alle2

	/* Install the new tables: a physical load, M=0 (params cleaned to the PoC). */
	ldr	x3, [x0, #NVHE_INIT_PGD_PA]
	phys_to_ttbr x4, x3
alternative_if ARM64_HAS_CNP
	orr	x4, x4, #TTBR_CNP_BIT
alternative_else_nop_endif
	msr	ttbr0_el2, x4

	/* The new stack pointer, also loaded with the MMU off. */
	ldr	x0, [x0, #NVHE_INIT_STACK_HYP_VA]
	mov	sp, x0

	/* MMU back on with the shared macro (v4 of the series, after review). */
	set_sctlr_el2	x2
	ret	x1
SYM_FUNC_END(__pkvm_init_switch_pgd)
`;

/** Text of sequences/mainline.S. */
export const MAINLINE_S: string =
  `// __pkvm_init_switch_pgd as in mainline hyp-init.S (.idmap.text).
// Calling convention since ea9d7c83d14e (P.-C. Tosi, 2024):
//   x0 = PA of the new EL2 pgd, x1 = new stack pointer (hyp VA),
//   x2 = continuation, __pkvm_init_finalise (hyp VA).
// SYM_TYPED_FUNC_START since eca4ba5b6dff: C reaches it through a PA
// function pointer, so it carries a kCFI type id.
SYM_TYPED_FUNC_START(__pkvm_init_switch_pgd)
	/* Turn the MMU off: M=0 pending, the ISB makes it take effect (R1). */
	pre_disable_mmu_workaround
	mrs	x3, sctlr_el2
	bic	x4, x3, #SCTLR_ELx_M
	msr	sctlr_el2, x4
	isb

	/* Invalidate the EL2 TLB now that no walk can use the old tables (R5). */
	tlbi	alle2

	/* Point TTBR0_EL2 at the new tables (CnP only with ARM64_HAS_CNP, R12). */
	phys_to_ttbr x5, x0
alternative_if ARM64_HAS_CNP
	orr	x5, x5, #TTBRx_EL1_CnP
alternative_else_nop_endif
	msr	ttbr0_el2, x5

	/* Register-only: the stack is not touched until the MMU is back on (R15). */
	mov	sp, x1

	/* Complete the TLBI and synchronise TTBR0_EL2 before M=1 (R3, R4). */
	dsb	nsh
	isb
	/* msr; isb; ic iallu; dsb nsh; isb (R1, R9, R10). */
	set_sctlr_el2	x3
	ret	x2
SYM_FUNC_END(__pkvm_init_switch_pgd)
`;

/** Text of sequences/set_sctlr.S. */
export const SET_SCTLR_S: string =
  `// The bare set_sctlr_el2 macro (asm/assembler.h, 8f4de66e247b) with the
// preparation it relies on. The macro is msr; isb; ic iallu; dsb nsh; isb
// and provides R1, R9, R10 and R11 (local ops) only: the caller must already
// have invalidated the TLB, completed it with a DSB, written TTBR0_EL2 and
// synchronised that with an ISB (R3, R4, R5).
// Calling convention: x0 = PA of the new pgd. It falls through at the end: a
// fragment, not a switch sequence (R17; the boot stops on it at step 5).
	/* MMU off. */
	pre_disable_mmu_workaround
	mrs	x3, sctlr_el2
	bic	x4, x3, #SCTLR_ELx_M
	msr	sctlr_el2, x4
	isb

	/* TLBI, completed before the new tables are installed. */
	tlbi	alle2
	dsb	nsh
	phys_to_ttbr x5, x0
	msr	ttbr0_el2, x5
	isb

	/* MMU on. */
	set_sctlr_el2	x3
`;

/** Text of sequences/v6_1.S. */
export const V6_1_S: string =
  `// __pkvm_init_switch_pgd, cut verbatim from arch/arm64/kvm/hyp/nvhe/hyp-init.S
// (lines 244-269) of Debian's linux-source-6.1 6.1.176-1.
// Calling convention (v6.1): x0 = PA of struct kvm_nvhe_init_params,
//   x1 = continuation, __pkvm_init_finalise (hyp VA); the pgd and the stack
//   are loaded from the params with the MMU off.
// No "dsb nsh; isb" before set_sctlr_el2: it came with 040113fa32f2
//   ("KVM: arm64: Add missing memory barriers when switching to pKVM's hyp
//   pgd", v6.8). The checker fails it: R4 (the TLBI is not complete at M=1)
//   and R3 (the TTBR0_EL2 write is not synchronised before M=1).
SYM_FUNC_START(__pkvm_init_switch_pgd)
	/* Turn the MMU off */
	pre_disable_mmu_workaround
	mrs	x2, sctlr_el2
	bic	x3, x2, #SCTLR_ELx_M
	msr	sctlr_el2, x3
	isb

	tlbi	alle2

	/* Install the new pgtables */
	ldr	x3, [x0, #NVHE_INIT_PGD_PA]
	phys_to_ttbr x4, x3
alternative_if ARM64_HAS_CNP
	orr	x4, x4, #TTBR_CNP_BIT
alternative_else_nop_endif
	msr	ttbr0_el2, x4

	/* Set the new stack pointer */
	ldr	x0, [x0, #NVHE_INIT_STACK_HYP_VA]
	mov	sp, x0

	/* And turn the MMU back on! */
	set_sctlr_el2	x2
	ret	x1
SYM_FUNC_END(__pkvm_init_switch_pgd)
`;

/** Text of sequences/v6_12.S. */
export const V6_12_S: string =
  `// __pkvm_init_switch_pgd, cut verbatim from arch/arm64/kvm/hyp/nvhe/hyp-init.S
// (lines 279-311) of Debian's linux-source-6.12 6.12.117-1.
// Calling convention since ea9d7c83d14e ("KVM: arm64: Fix
//   __pkvm_init_switch_pgd call ABI", v6.11): x0 = PA of the new pgd,
//   x1 = new stack pointer (hyp VA), x2 = continuation (hyp VA).
// "dsb nsh; isb" before set_sctlr_el2 since 040113fa32f2 (v6.8).
/*
 * void __pkvm_init_switch_pgd(phys_addr_t pgd, unsigned long sp,
 *                             void (*fn)(void));
 *
 * SYM_TYPED_FUNC_START() allows C to call this ID-mapped function indirectly
 * using a physical pointer without triggering a kCFI failure.
 */
SYM_TYPED_FUNC_START(__pkvm_init_switch_pgd)
	/* Turn the MMU off */
	pre_disable_mmu_workaround
	mrs	x3, sctlr_el2
	bic	x4, x3, #SCTLR_ELx_M
	msr	sctlr_el2, x4
	isb

	tlbi	alle2

	/* Install the new pgtables */
	phys_to_ttbr x5, x0
alternative_if ARM64_HAS_CNP
	orr	x5, x5, #TTBR_CNP_BIT
alternative_else_nop_endif
	msr	ttbr0_el2, x5

	/* Set the new stack pointer */
	mov	sp, x1

	/* And turn the MMU back on! */
	dsb	nsh
	isb
	set_sctlr_el2	x3
	ret	x2
SYM_FUNC_END(__pkvm_init_switch_pgd)
`;

/** Text of sequences/v7_2.S. */
export const V7_2_S: string =
  `// __pkvm_init_switch_pgd, cut verbatim from arch/arm64/kvm/hyp/nvhe/hyp-init.S
// (lines 263-295) of Debian's linux-source-7.2 7.2.13-1.
// Calling convention since ea9d7c83d14e (v6.11): x0 = PA of the new pgd,
//   x1 = new stack pointer (hyp VA), x2 = continuation (hyp VA). As v6.12,
//   with the CnP bit spelled TTBRx_EL1_CnP.
/*
 * void __pkvm_init_switch_pgd(phys_addr_t pgd, unsigned long sp,
 *                             void (*fn)(void));
 *
 * SYM_TYPED_FUNC_START() allows C to call this ID-mapped function indirectly
 * using a physical pointer without triggering a kCFI failure.
 */
SYM_TYPED_FUNC_START(__pkvm_init_switch_pgd)
	/* Turn the MMU off */
	pre_disable_mmu_workaround
	mrs	x3, sctlr_el2
	bic	x4, x3, #SCTLR_ELx_M
	msr	sctlr_el2, x4
	isb

	tlbi	alle2

	/* Install the new pgtables */
	phys_to_ttbr x5, x0
alternative_if ARM64_HAS_CNP
	orr	x5, x5, #TTBRx_EL1_CnP
alternative_else_nop_endif
	msr	ttbr0_el2, x5

	/* Set the new stack pointer */
	mov	sp, x1

	/* And turn the MMU back on! */
	dsb	nsh
	isb
	set_sctlr_el2	x3
	ret	x2
SYM_FUNC_END(__pkvm_init_switch_pgd)
`;
