// The switch as v6.1 has it (and v5.13 before it): the TTBR0_EL2 write goes
// straight into set_sctlr_el2. It fails R3 (the TTBR write is not
// synchronised before M=1) and R4 (the TLBI has not completed at M=1);
// 040113fa32f2 ("KVM: arm64: Add missing memory barriers when switching to
// pKVM's hyp pgd", v6.8) added the "dsb nsh; isb" that my_switch.S has.
// Calling convention: x0 = pgd PA, x1 = stack VA, x2 = continuation VA.
SYM_FUNC_START(missing_barriers)
	pre_disable_mmu_workaround
	mrs	x3, sctlr_el2
	bic	x4, x3, #SCTLR_ELx_M
	msr	sctlr_el2, x4
	isb

	tlbi	alle2

	phys_to_ttbr x5, x0
	msr	ttbr0_el2, x5

	mov	sp, x1

	set_sctlr_el2	x3
	ret	x2
SYM_FUNC_END(missing_barriers)
