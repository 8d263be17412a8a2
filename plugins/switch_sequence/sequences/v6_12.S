// __pkvm_init_switch_pgd, cut verbatim from arch/arm64/kvm/hyp/nvhe/hyp-init.S
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
