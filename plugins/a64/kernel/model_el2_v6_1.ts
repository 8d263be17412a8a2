/**
 * Model of v6.1's asm/el2_setup.h: `init_el2_state`, which a CPU booted at
 * EL2 runs before anything else there (from `__kvm_hyp_init_cpu` on a PSCI
 * CPU_ON or resume). Each step writes the EL2 controls it owns and tests
 * the ID register field that decides whether it applies; the MMU-relevant
 * part is the first, `__init_el2_sctlr`: SCTLR_EL2 = INIT_SCTLR_EL2_MMU_OFF
 * with an ISB. The instruction stream is the release's (a test compares it
 * with the header's own expansion when the kernel sources are cached).
 *
 * @module
 */

/** The v6.1 el2_setup.h model. */
export const EL2_SETUP_H_V6_1 = `
.macro __init_el2_sctlr
	mov_q	x0, INIT_SCTLR_EL2_MMU_OFF
	msr	sctlr_el2, x0
	isb
.endm

.macro __init_el2_timers
	mov	x0, #3
	msr	cnthctl_el2, x0
	msr	cntvoff_el2, xzr
.endm

// MDCR_EL2: PMU counters to EL1 (PMCR_EL0.N), SPE and TRBE owned by EL1&0.
.macro __init_el2_debug
	mrs	x1, id_aa64dfr0_el1
	sbfx	x0, x1, #ID_AA64DFR0_EL1_PMUVer_SHIFT, #4
	cmp	x0, #1
	b.lt	.Lskip_pmu_\\@
	mrs	x0, pmcr_el0
	ubfx	x0, x0, #11, #5
.Lskip_pmu_\\@:
	csel	x2, xzr, x0, lt
	ubfx	x0, x1, #ID_AA64DFR0_EL1_PMSVer_SHIFT, #4
	cbz	x0, .Lskip_spe_\\@
	mrs_s	x0, SYS_PMBIDR_EL1
	and	x0, x0, #(1 << SYS_PMBIDR_EL1_P_SHIFT)
	cbnz	x0, .Lskip_spe_el2_\\@
	mov	x0, #(1 << SYS_PMSCR_EL2_PCT_SHIFT | 1 << SYS_PMSCR_EL2_PA_SHIFT)
	msr_s	SYS_PMSCR_EL2, x0
.Lskip_spe_el2_\\@:
	mov	x0, #(MDCR_EL2_E2PB_MASK << MDCR_EL2_E2PB_SHIFT)
	orr	x2, x2, x0
.Lskip_spe_\\@:
	ubfx	x0, x1, #ID_AA64DFR0_EL1_TraceBuffer_SHIFT, #4
	cbz	x0, .Lskip_trace_\\@
	mrs_s	x0, SYS_TRBIDR_EL1
	and	x0, x0, TRBIDR_PROG
	cbnz	x0, .Lskip_trace_\\@
	mov	x0, #(MDCR_EL2_E2TB_MASK << MDCR_EL2_E2TB_SHIFT)
	orr	x2, x2, x0
.Lskip_trace_\\@:
	msr	mdcr_el2, x2
.endm

.macro __init_el2_lor
	mrs	x1, id_aa64mmfr1_el1
	ubfx	x0, x1, #ID_AA64MMFR1_EL1_LO_SHIFT, 4
	cbz	x0, .Lskip_lor_\\@
	msr_s	SYS_LORC_EL1, xzr
.Lskip_lor_\\@:
.endm

.macro __init_el2_stage2
	msr	vttbr_el2, xzr
.endm

// GICv3: system-register interface on (ICC_SRE_EL2.SRE, .Enable), checked by reading back.
.macro __init_el2_gicv3
	mrs	x0, id_aa64pfr0_el1
	ubfx	x0, x0, #ID_AA64PFR0_EL1_GIC_SHIFT, #4
	cbz	x0, .Lskip_gicv3_\\@
	mrs_s	x0, SYS_ICC_SRE_EL2
	orr	x0, x0, #ICC_SRE_EL2_SRE
	orr	x0, x0, #ICC_SRE_EL2_ENABLE
	msr_s	SYS_ICC_SRE_EL2, x0
	isb
	mrs_s	x0, SYS_ICC_SRE_EL2
	tbz	x0, #0, .Lskip_gicv3_\\@
	msr_s	SYS_ICH_HCR_EL2, xzr
.Lskip_gicv3_\\@:
.endm

.macro __init_el2_hstr
	msr	hstr_el2, xzr
.endm

.macro __init_el2_nvhe_idregs
	mrs	x0, midr_el1
	mrs	x1, mpidr_el1
	msr	vpidr_el2, x0
	msr	vmpidr_el2, x1
.endm

.macro __init_el2_nvhe_cptr
	mov	x0, #0x33ff
	msr	cptr_el2, x0
.endm

// Fine-grained traps off, where FEAT_FGT exists.
.macro __init_el2_fgt
	mrs	x1, id_aa64mmfr0_el1
	ubfx	x1, x1, #ID_AA64MMFR0_EL1_FGT_SHIFT, #4
	cbz	x1, .Lskip_fgt_\\@
	mov	x0, xzr
	mrs	x1, id_aa64dfr0_el1
	ubfx	x1, x1, #ID_AA64DFR0_EL1_PMSVer_SHIFT, #4
	cmp	x1, #3
	b.lt	.Lset_debug_fgt_\\@
	orr	x0, x0, #(1 << 62)
.Lset_debug_fgt_\\@:
	msr_s	SYS_HDFGRTR_EL2, x0
	msr_s	SYS_HDFGWTR_EL2, x0
	mov	x0, xzr
	mrs	x1, id_aa64pfr1_el1
	ubfx	x1, x1, #ID_AA64PFR1_EL1_SME_SHIFT, #4
	cbz	x1, .Lset_fgt_\\@
	orr	x0, x0, #HFGxTR_EL2_nSMPRI_EL1_MASK
	orr	x0, x0, #HFGxTR_EL2_nTPIDR2_EL0_MASK
.Lset_fgt_\\@:
	msr_s	SYS_HFGRTR_EL2, x0
	msr_s	SYS_HFGWTR_EL2, x0
	msr_s	SYS_HFGITR_EL2, xzr
	mrs	x1, id_aa64pfr0_el1
	ubfx	x1, x1, #ID_AA64PFR0_EL1_AMU_SHIFT, #4
	cbz	x1, .Lskip_fgt_\\@
	msr_s	SYS_HAFGRTR_EL2, xzr
.Lskip_fgt_\\@:
.endm

.macro __init_el2_nvhe_prepare_eret
	mov	x0, #INIT_PSTATE_EL1
	msr	spsr_el2, x0
.endm

// Clobbers x0, x1, x2.
.macro init_el2_state
	__init_el2_sctlr
	__init_el2_timers
	__init_el2_debug
	__init_el2_lor
	__init_el2_stage2
	__init_el2_gicv3
	__init_el2_hstr
	__init_el2_nvhe_idregs
	__init_el2_nvhe_cptr
	__init_el2_fgt
	__init_el2_nvhe_prepare_eret
.endm
`;
