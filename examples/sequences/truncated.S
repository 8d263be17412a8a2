// my_switch.S cut short: every barrier it has is right, but it never hands
// over (no ret x2), so whatever follows it in memory runs next. It fails R17:
// a CI gate trusting the exit status is not fooled by a truncated file.
SYM_FUNC_START(truncated)
	pre_disable_mmu_workaround
	mrs	x3, sctlr_el2
	bic	x4, x3, #SCTLR_ELx_M
	msr	sctlr_el2, x4
	isb
	tlbi	alle2
	phys_to_ttbr x5, x0
	msr	ttbr0_el2, x5
	mov	sp, x1
	dsb	nsh
	isb
	set_sctlr_el2	x3
