// A switch to new EL2 page tables, in the kernel's spelling, for
//   deno run --allow-read examples/check_sequence.ts examples/sequences/my_switch.S
// Calling convention (as __pkvm_init_switch_pgd since v6.11):
//   x0 = PA of the new pgd, x1 = new stack pointer (a VA of the new tables),
//   x2 = where to continue (a VA of the new tables).
// It passes every rule; the comments say which rule each step is for.
SYM_FUNC_START(my_switch)
	/* MMU off: the write takes effect at the ISB (R1); Falkor wants an ISB right before it (R13). */
	pre_disable_mmu_workaround
	mrs	x3, sctlr_el2
	bic	x4, x3, #SCTLR_ELx_M
	msr	sctlr_el2, x4
	isb

	/* Nothing can walk the old tables any more: drop what the TLB holds (R5). */
	tlbi	alle2

	/* The new tables; CnP only where every CPU shares them (R12). */
	phys_to_ttbr x5, x0
	msr	ttbr0_el2, x5

	/* Only a register move: the stack is not used before the new tables are in force (R15). */
	mov	sp, x1

	/* The TLBI completes (R4) and the TTBR0_EL2 write takes effect (R3) before M=1. */
	dsb	nsh
	isb

	/* msr; isb; ic iallu; dsb nsh; isb (R1, R9, R10). */
	set_sctlr_el2	x3
	ret	x2
SYM_FUNC_END(my_switch)
