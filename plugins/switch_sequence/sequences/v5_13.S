// __pkvm_init_switch_pgd as merged for v5.13: f320bc742bc2 (Q. Perret and
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
