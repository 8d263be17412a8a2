/**
 * Model of v7.2's asm/el2_setup.h: as v6.12, with HCR_EL2 written through
 * `msr_hcr_el2` (asm/sysreg.h: DSB NSH before and ISB after, AmpereOne
 * AC04_CPU_23), HCRX_EL2 built from GCS and LS64 support, the GICv5 and
 * BRBE setup, more FGT traps, and MPAM and GCS in `finalise_el2_state`.
 * Its INIT_SCTLR_EL2_MMU_OFF is 0: from v7.x SCTLR_EL2 is described by
 * arch/arm64/tools/sysreg with the E2H = 1 layout, so SCTLR_EL2_RES1 is 0.
 *
 * @module
 */

/** The v7.2 el2_setup.h model. */
export const EL2_SETUP_H_V7_2 = `
.macro init_el2_hcr	val
	mov_q	x0, \\val
	mrs_s	x1, SYS_ID_AA64MMFR4_EL1
	sbfx	x1, x1, #ID_AA64MMFR4_EL1_E2H0_SHIFT, #ID_AA64MMFR4_EL1_E2H0_WIDTH
	cmp	x1, #0
	b.lt	.LnE2H0_\\@
	msr_hcr_el2 x0
	mov	x1, #1
	msr	far_el1, x1
	isb
	mov	x1, #2
	msr	far_el2, x1
	isb
	mrs	x1, far_el1
	cmp	x1, #2
	b.ne	.LnVHE_\\@
.LnE2H0_\\@:
	orr	x0, x0, #HCR_E2H
	msr_hcr_el2 x0
.LnVHE_\\@:
.endm

.macro __init_el2_sctlr
	mov_q	x0, INIT_SCTLR_EL2_MMU_OFF
	msr	sctlr_el2, x0
	isb
.endm

.macro __init_el2_hcrx
	mrs	x0, id_aa64mmfr1_el1
	ubfx	x0, x0, #ID_AA64MMFR1_EL1_HCX_SHIFT, #4
	cbz	x0, .Lskip_hcrx_\\@
	mov_q	x0, (HCRX_EL2_MSCEn | HCRX_EL2_TCR2En | HCRX_EL2_EnFPM)
	mrs_s	x1, SYS_ID_AA64PFR1_EL1
	ubfx	x1, x1, #ID_AA64PFR1_EL1_GCS_SHIFT, #4
	cbz	x1, .Lskip_gcs_hcrx_\\@
	orr	x0, x0, #HCRX_EL2_GCSEn
.Lskip_gcs_hcrx_\\@:
	mrs_s	x1, SYS_ID_AA64ISAR1_EL1
	ubfx	x1, x1, #ID_AA64ISAR1_EL1_LS64_SHIFT, #4
	cbz	x1, .Lset_hcrx_\\@
	orr	x0, x0, #HCRX_EL2_EnALS
	cmp	x1, #ID_AA64ISAR1_EL1_LS64_LS64_V
	b.lt	.Lset_hcrx_\\@
	orr	x0, x0, #HCRX_EL2_EnASR
.Lset_hcrx_\\@:
	msr_s	SYS_HCRX_EL2, x0
.Lskip_hcrx_\\@:
.endm

// Branch to fail unless HCR_EL2.E2H is set ((h)VHE).
.macro __check_hvhe fail, tmp
	mrs	\\tmp, hcr_el2
	and	\\tmp, \\tmp, #HCR_E2H
	cbz	\\tmp, \\fail
.endm

.macro __init_el2_timers
	mov	x0, #3
	__check_hvhe .LnVHE_\\@, x1
	lsl	x0, x0, #10
.LnVHE_\\@:
	msr	cnthctl_el2, x0
	msr	cntvoff_el2, xzr
.endm

// Branch to skip_label when SPE is older than version.
.macro __spe_vers_imp skip_label, version, tmp
	mrs	\\tmp, id_aa64dfr0_el1
	ubfx	\\tmp, \\tmp, #ID_AA64DFR0_EL1_PMSVer_SHIFT, #4
	cmp	\\tmp, \\version
	b.lt	\\skip_label
.endm

.macro __init_el2_debug
	mrs	x1, id_aa64dfr0_el1
	ubfx	x0, x1, #ID_AA64DFR0_EL1_PMUVer_SHIFT, #4
	cmp	x0, #ID_AA64DFR0_EL1_PMUVer_NI
	ccmp	x0, #ID_AA64DFR0_EL1_PMUVer_IMP_DEF, #4, ne
	b.eq	.Lskip_pmu_\\@
	mrs	x0, pmcr_el0
	ubfx	x0, x0, #11, #5
.Lskip_pmu_\\@:
	csel	x2, xzr, x0, eq
	__spe_vers_imp .Lskip_spe_\\@, ID_AA64DFR0_EL1_PMSVer_IMP, x0
	mrs_s	x0, SYS_PMBIDR_EL1
	and	x0, x0, #(1 << PMBIDR_EL1_P_SHIFT)
	cbnz	x0, .Lskip_spe_el2_\\@
	mov	x0, #(1 << PMSCR_EL2_PCT_SHIFT | 1 << PMSCR_EL2_PA_SHIFT)
	msr_s	SYS_PMSCR_EL2, x0
.Lskip_spe_el2_\\@:
	mov	x0, #MDCR_EL2_E2PB_MASK
	orr	x2, x2, x0
.Lskip_spe_\\@:
	ubfx	x0, x1, #ID_AA64DFR0_EL1_TraceBuffer_SHIFT, #4
	cbz	x0, .Lskip_trace_\\@
	mrs_s	x0, SYS_TRBIDR_EL1
	and	x0, x0, TRBIDR_EL1_P
	cbnz	x0, .Lskip_trace_\\@
	mov	x0, #MDCR_EL2_E2TB_MASK
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

// GICv5: instruction and register traps off, vHPPI selection on.
.macro __init_el2_gicv5
	mrs_s	x0, SYS_ID_AA64PFR2_EL1
	ubfx	x0, x0, #ID_AA64PFR2_EL1_GCIE_SHIFT, #4
	cbz	x0, .Lskip_gicv5_\\@
	mov	x0, #ICH_HFGITR_EL2_INIT
	msr_s	SYS_ICH_HFGITR_EL2, x0
	mov_q	x0, ICH_HFGRTR_EL2_INIT
	msr_s	SYS_ICH_HFGRTR_EL2, x0
	mov_q	x0, ICH_HFGWTR_EL2_INIT
	msr_s	SYS_ICH_HFGWTR_EL2, x0
	mov	x0, #(ICH_VCTLR_EL2_En)
	msr_s	SYS_ICH_VCTLR_EL2, x0
.Lskip_gicv5_\\@:
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

.macro __init_el2_cptr
	__check_hvhe .LnVHE_\\@, x1
	mov	x0, #CPACR_EL1_FPEN
	msr	cpacr_el1, x0
	b	.Lskip_set_cptr_\\@
.LnVHE_\\@:
	mov	x0, #0x33ff
	msr	cptr_el2, x0
.Lskip_set_cptr_\\@:
.endm

.macro __init_el2_brbe
	mrs	x1, id_aa64dfr0_el1
	ubfx	x1, x1, #ID_AA64DFR0_EL1_BRBE_SHIFT, #4
	cbz	x1, .Lskip_brbe_\\@
	mov_q	x0, BRBCR_ELx_CC | BRBCR_ELx_MPRED
	msr_s	SYS_BRBCR_EL2, x0
.Lskip_brbe_\\@:
.endm

.macro __init_el2_fgt
	mrs	x1, id_aa64mmfr0_el1
	ubfx	x1, x1, #ID_AA64MMFR0_EL1_FGT_SHIFT, #4
	cbz	x1, .Lskip_fgt_\\@
	mov	x0, xzr
	mov	x2, xzr
	__spe_vers_imp .Lskip_spe_fgt_\\@, #ID_AA64DFR0_EL1_PMSVer_V1P2, x1
	orr	x0, x0, #HDFGRTR_EL2_nPMSNEVFR_EL1_MASK
	orr	x2, x2, #HDFGWTR_EL2_nPMSNEVFR_EL1_MASK
.Lskip_spe_fgt_\\@:
	mrs	x1, id_aa64dfr0_el1
	ubfx	x1, x1, #ID_AA64DFR0_EL1_BRBE_SHIFT, #4
	cbz	x1, .Lskip_brbe_fgt_\\@
	orr	x0, x0, #HDFGRTR_EL2_nBRBDATA_MASK
	orr	x2, x2, #HDFGWTR_EL2_nBRBDATA_MASK
	orr	x0, x0, #HDFGRTR_EL2_nBRBCTL_MASK
	orr	x2, x2, #HDFGWTR_EL2_nBRBCTL_MASK
	orr	x0, x0, #HDFGRTR_EL2_nBRBIDR_MASK
.Lskip_brbe_fgt_\\@:
.Lset_debug_fgt_\\@:
	msr_s	SYS_HDFGRTR_EL2, x0
	msr_s	SYS_HDFGWTR_EL2, x2
	mov	x0, xzr
	mov	x2, xzr
	mrs	x1, id_aa64dfr0_el1
	ubfx	x1, x1, #ID_AA64DFR0_EL1_BRBE_SHIFT, #4
	cbz	x1, .Lskip_brbe_insn_fgt_\\@
	orr	x2, x2, #HFGITR_EL2_nBRBIALL_MASK
	orr	x2, x2, #HFGITR_EL2_nBRBINJ_MASK
.Lskip_brbe_insn_fgt_\\@:
	mrs	x1, id_aa64pfr1_el1
	ubfx	x1, x1, #ID_AA64PFR1_EL1_SME_SHIFT, #4
	cbz	x1, .Lskip_sme_fgt_\\@
	orr	x0, x0, #HFGRTR_EL2_nSMPRI_EL1_MASK
	orr	x0, x0, #HFGRTR_EL2_nTPIDR2_EL0_MASK
.Lskip_sme_fgt_\\@:
	mrs_s	x1, SYS_ID_AA64MMFR3_EL1
	ubfx	x1, x1, #ID_AA64MMFR3_EL1_S1PIE_SHIFT, #4
	cbz	x1, .Lskip_pie_fgt_\\@
	orr	x0, x0, #HFGRTR_EL2_nPIR_EL1
	orr	x0, x0, #HFGRTR_EL2_nPIRE0_EL1
.Lskip_pie_fgt_\\@:
	mrs_s	x1, SYS_ID_AA64MMFR3_EL1
	ubfx	x1, x1, #ID_AA64MMFR3_EL1_S1POE_SHIFT, #4
	cbz	x1, .Lskip_poe_fgt_\\@
	orr	x0, x0, #HFGRTR_EL2_nPOR_EL0
.Lskip_poe_fgt_\\@:
	mrs_s	x1, SYS_ID_AA64PFR1_EL1
	ubfx	x1, x1, #ID_AA64PFR1_EL1_GCS_SHIFT, #4
	cbz	x1, .Lskip_gce_fgt_\\@
	orr	x0, x0, #HFGRTR_EL2_nGCS_EL1_MASK
	orr	x0, x0, #HFGRTR_EL2_nGCS_EL0_MASK
.Lskip_gce_fgt_\\@:
.Lset_fgt_\\@:
	msr_s	SYS_HFGRTR_EL2, x0
	msr_s	SYS_HFGWTR_EL2, x0
	msr_s	SYS_HFGITR_EL2, x2
	mrs	x1, id_aa64pfr0_el1
	ubfx	x1, x1, #ID_AA64PFR0_EL1_AMU_SHIFT, #4
	cbz	x1, .Lskip_amu_fgt_\\@
	msr_s	SYS_HAFGRTR_EL2, xzr
.Lskip_amu_fgt_\\@:
.Lskip_fgt_\\@:
.endm

.macro __init_el2_fgt2
	mrs	x1, id_aa64mmfr0_el1
	ubfx	x1, x1, #ID_AA64MMFR0_EL1_FGT_SHIFT, #4
	cmp	x1, #ID_AA64MMFR0_EL1_FGT_FGT2
	b.lt	.Lskip_fgt2_\\@
	mov	x0, xzr
	mov	x2, xzr
	mrs	x1, id_aa64dfr0_el1
	ubfx	x1, x1, #ID_AA64DFR0_EL1_PMUVer_SHIFT, #4
	cmp	x1, #ID_AA64DFR0_EL1_PMUVer_IMP_DEF
	ccmp	x1, #ID_AA64DFR0_EL1_PMUVer_V3P9, #8, ne
	b.lt	.Lskip_pmuv3p9_\\@
	orr	x0, x0, #HDFGRTR2_EL2_nPMICNTR_EL0
	orr	x0, x0, #HDFGRTR2_EL2_nPMICFILTR_EL0
	orr	x0, x0, #HDFGRTR2_EL2_nPMUACR_EL1
	orr	x2, x2, #HDFGWTR2_EL2_nPMICNTR_EL0
	orr	x2, x2, #HDFGWTR2_EL2_nPMICFILTR_EL0
	orr	x2, x2, #HDFGWTR2_EL2_nPMUACR_EL1
	orr	x2, x2, #HDFGWTR2_EL2_nPMZR_EL0
.Lskip_pmuv3p9_\\@:
	__spe_vers_imp .Lskip_spefds_\\@, ID_AA64DFR0_EL1_PMSVer_IMP, x1
	mrs_s	x1, SYS_PMSIDR_EL1
	and	x1, x1, #PMSIDR_EL1_FDS
	cbz	x1, .Lskip_spefds_\\@
	orr	x0, x0, #HDFGRTR2_EL2_nPMSDSFR_EL1
	orr	x2, x2, #HDFGWTR2_EL2_nPMSDSFR_EL1
.Lskip_spefds_\\@:
	msr_s	SYS_HDFGRTR2_EL2, x0
	msr_s	SYS_HDFGWTR2_EL2, x2
	msr_s	SYS_HFGRTR2_EL2, xzr
	msr_s	SYS_HFGWTR2_EL2, xzr
	msr_s	SYS_HFGITR2_EL2, xzr
.Lskip_fgt2_\\@:
.endm

// Clobbers x0, x1, x2.
.macro init_el2_state
	__init_el2_sctlr
	__init_el2_hcrx
	__init_el2_timers
	__init_el2_debug
	__init_el2_brbe
	__init_el2_lor
	__init_el2_stage2
	__init_el2_gicv3
	__init_el2_gicv5
	__init_el2_hstr
	__init_el2_nvhe_idregs
	__init_el2_cptr
	__init_el2_fgt
	__init_el2_fgt2
.endm

// In the hypervisor: take "pass" when the sanitised ID field is non-zero.
.macro __check_override idreg, fld, width, pass, fail, tmp, ignore
	ldr_l	\\tmp, \\idreg\\()_el1_sys_val
	ubfx	\\tmp, \\tmp, #\\fld, #\\width
	cbnz	\\tmp, \\pass
	b	\\fail
.endm

.macro check_override idreg, fld, pass, fail, tmp, ignore
	__check_override \\idreg \\fld 4 \\pass \\fail \\tmp \\ignore
.endm

.macro finalise_el2_state
	check_override id_aa64pfr0, ID_AA64PFR0_EL1_MPAM_SHIFT, .Linit_mpam_\\@, .Lmpam_minor_\\@, x1, x2
.Lmpam_minor_\\@:
	check_override id_aa64pfr1, ID_AA64PFR1_EL1_MPAM_frac_SHIFT, .Linit_mpam_\\@, .Lskip_mpam_\\@, x1, x2
.Linit_mpam_\\@:
	mov	x0, #MPAM2_EL2_EnMPAMSM_MASK
	msr_s	SYS_MPAM2_EL2, x0
	mrs_s	x0, SYS_MPAMIDR_EL1
	tbz	x0, #MPAMIDR_EL1_HAS_HCR_SHIFT, .Lskip_mpam_\\@
	msr_s	SYS_MPAMHCR_EL2, xzr
.Lskip_mpam_\\@:
	check_override id_aa64pfr1, ID_AA64PFR1_EL1_GCS_SHIFT, .Linit_gcs_\\@, .Lskip_gcs_\\@, x1, x2
.Linit_gcs_\\@:
	msr_s	SYS_GCSCR_EL1, xzr
	msr_s	SYS_GCSCRE0_EL1, xzr
.Lskip_gcs_\\@:
	check_override id_aa64pfr0, ID_AA64PFR0_EL1_SVE_SHIFT, .Linit_sve_\\@, .Lskip_sve_\\@, x1, x2
.Linit_sve_\\@:
	__check_hvhe .Lcptr_nvhe_\\@, x1
	mrs	x0, cpacr_el1
	orr	x0, x0, #CPACR_EL1_ZEN
	msr	cpacr_el1, x0
	b	.Lskip_set_cptr_\\@
.Lcptr_nvhe_\\@:
	mrs	x0, cptr_el2
	bic	x0, x0, #CPTR_EL2_TZ
	msr	cptr_el2, x0
.Lskip_set_cptr_\\@:
	isb
	mov	x1, #ZCR_ELx_LEN_MASK
	msr_s	SYS_ZCR_EL2, x1
.Lskip_sve_\\@:
	check_override id_aa64pfr1, ID_AA64PFR1_EL1_SME_SHIFT, .Linit_sme_\\@, .Lskip_sme_\\@, x1, x2
.Linit_sme_\\@:
	__check_hvhe .Lcptr_nvhe_sme_\\@, x1
	mrs	x0, cpacr_el1
	orr	x0, x0, #CPACR_EL1_SMEN
	msr	cpacr_el1, x0
	b	.Lskip_set_cptr_sme_\\@
.Lcptr_nvhe_sme_\\@:
	mrs	x0, cptr_el2
	bic	x0, x0, #CPTR_EL2_TSM
	msr	cptr_el2, x0
.Lskip_set_cptr_sme_\\@:
	isb
	// SCTLR_EL2.EnTP2, keeping every other bit (M included).
	mrs	x1, sctlr_el2
	orr	x1, x1, #SCTLR_ELx_ENTP2
	msr	sctlr_el2, x1
	isb
	mov	x0, #0
	mrs_s	x1, SYS_ID_AA64SMFR0_EL1
	__check_override id_aa64smfr0, ID_AA64SMFR0_EL1_FA64_SHIFT, 1, .Linit_sme_fa64_\\@, .Lskip_sme_fa64_\\@, x1, x2
.Linit_sme_fa64_\\@:
	orr	x0, x0, SMCR_ELx_FA64_MASK
.Lskip_sme_fa64_\\@:
	mrs_s	x1, SYS_ID_AA64SMFR0_EL1
	__check_override id_aa64smfr0, ID_AA64SMFR0_EL1_SMEver_SHIFT, 4, .Linit_sme_zt0_\\@, .Lskip_sme_zt0_\\@, x1, x2
.Linit_sme_zt0_\\@:
	orr	x0, x0, SMCR_ELx_EZT0_MASK
.Lskip_sme_zt0_\\@:
	orr	x0, x0, #SMCR_ELx_LEN_MASK
	msr_s	SYS_SMCR_EL2, x0
	mrs_s	x1, SYS_SMIDR_EL1
	ubfx	x1, x1, #SMIDR_EL1_SMPS_SHIFT, #1
	cbz	x1, .Lskip_sme_\\@
	msr_s	SYS_SMPRIMAP_EL2, xzr
.Lskip_sme_\\@:
.endm
`;
