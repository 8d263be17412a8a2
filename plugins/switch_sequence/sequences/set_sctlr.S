// The bare set_sctlr_el2 macro (asm/assembler.h, 8f4de66e247b) with the
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
