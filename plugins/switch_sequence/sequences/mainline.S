// __pkvm_init_switch_pgd as in mainline hyp-init.S (.idmap.text).
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
