// __pkvm_init_switch_pgd, cut verbatim from arch/arm64/kvm/hyp/nvhe/hyp-init.S
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
