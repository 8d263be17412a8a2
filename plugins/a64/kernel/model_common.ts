/**
 * Models of the header macros hyp-init.S uses that are the same from v6.1
 * to v7.2, as gas text the assembler reads like the headers (conditionals
 * on the release's configuration included). `mov_q`, `mrs_s` and `msr_s`
 * are built in (`macros.ts`); the `SYM_*` annotations and the
 * `alternative_*` blocks are read by the assembler itself.
 *
 * @module
 */

/**
 * asm/assembler.h: `ventry` (one 128-byte vector slot), the PC-relative
 * symbol accesses `adr_l`/`ldr_l`/`str_l` (adrp + :lo12:), `phys_to_ttbr`
 * (52-bit PAs fold bits 51:48 into TTBR bits 5:2), the Falkor E1041
 * `pre_disable_mmu_workaround`, and `set_sctlr*`: the SCTLR write, its ISB,
 * and the I-cache invalidation that discards what was fetched from the PoC
 * while the MMU was off (8f4de66e247b, "arm64: asm: Provide set_sctlr_el2
 * macro", v5.13).
 */
export const ASSEMBLER_H = `
	.macro	ventry	label
	.align	7
	b	\\label
	.endm

	.macro	adr_l, dst, sym
	adrp	\\dst, \\sym
	add	\\dst, \\dst, :lo12:\\sym
	.endm

	.macro	ldr_l, dst, sym, tmp=
	.ifb	\\tmp
	adrp	\\dst, \\sym
	ldr	\\dst, [\\dst, :lo12:\\sym]
	.else
	adrp	\\tmp, \\sym
	ldr	\\dst, [\\tmp, :lo12:\\sym]
	.endif
	.endm

	.macro	str_l, src, sym, tmp
	adrp	\\tmp, \\sym
	str	\\src, [\\tmp, :lo12:\\sym]
	.endm

	.macro	phys_to_ttbr, ttbr, phys
#ifdef CONFIG_ARM64_PA_BITS_52
	orr	\\ttbr, \\phys, \\phys, lsr #46
	and	\\ttbr, \\ttbr, #TTBR_BADDR_MASK_52
#else
	mov	\\ttbr, \\phys
#endif
	.endm

	.macro	pre_disable_mmu_workaround
#ifdef CONFIG_QCOM_FALKOR_ERRATUM_E1041
	isb
#endif
	.endm

	.macro	set_sctlr, sreg, reg
	msr	\\sreg, \\reg
	isb
	ic	iallu
	dsb	nsh
	isb
	.endm

	.macro	set_sctlr_el1, reg
	set_sctlr sctlr_el1, \\reg
	.endm

	.macro	set_sctlr_el2, reg
	set_sctlr sctlr_el2, \\reg
	.endm
`;

/**
 * v6.1's `tcr_compute_pa_size`: TCR_ELx.PS from ID_AA64MMFR0_EL1.PARange,
 * capped at the largest PA size the kernel supports.
 */
export const TCR_COMPUTE_PA_SIZE_V6_1 = `
	.macro	tcr_compute_pa_size, tcr, pos, tmp0, tmp1
	mrs	\\tmp0, ID_AA64MMFR0_EL1
	ubfx	\\tmp0, \\tmp0, #ID_AA64MMFR0_EL1_PARANGE_SHIFT, #3
	mov	\\tmp1, #ID_AA64MMFR0_EL1_PARANGE_MAX
	cmp	\\tmp0, \\tmp1
	csel	\\tmp0, \\tmp1, \\tmp0, hi
	bfi	\\tcr, \\tmp0, \\pos, #3
	.endm
`;

/**
 * asm/kvm_asm.h: the host's hypercall numbers are SMCCC fast calls owned
 * by the vendor hypervisor service (ARM_SMCCC_CALL_VAL in
 * linux/arm-smccc.h: fast call bit 31, SMC64 bit 30, owner 6 in bits
 * 29:24), `__kvm_hyp_init` being function 0.
 */
export const KVM_ASM_H = `
#define KVM_HOST_SMCCC_ID(id) ((1 << 31) | (1 << 30) | (6 << 24) | ((id) & 0xffff))
#define KVM_HOST_SMCCC_FUNC(name) KVM_HOST_SMCCC_ID(__KVM_HOST_SMCCC_FUNC_##name)
#define __KVM_HOST_SMCCC_FUNC___kvm_hyp_init 0
`;

/**
 * v7.2's asm/sysreg.h `msr_hcr_el2`: an HCR_EL2 write followed by an ISB,
 * and preceded by a DSB NSH under CONFIG_AMPERE_ERRATUM_AC04_CPU_23
 * (AmpereOne: a write to HCR_EL2 can corrupt translations of older
 * loads and stores in flight).
 */
export const MSR_HCR_EL2_V7_2 = `
	.macro	msr_hcr_el2, reg
#if IS_ENABLED(CONFIG_AMPERE_ERRATUM_AC04_CPU_23)
	dsb	nsh
#endif
	msr	hcr_el2, \\reg
	isb
	.endm
`;

/** A header the models need nothing from (its constants are in the release's table). */
export const NO_MACROS = "";
