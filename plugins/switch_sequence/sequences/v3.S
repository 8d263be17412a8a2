// __pkvm_init_switch_pgd as posted in "[PATCH v3 15/32] KVM: arm64: Prepare
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
