/**
 * Linux 7.2 as Debian builds it (sid, `linux-source-7.2` 7.2.13-1; image
 * `linux-binary-7.2.13+deb14-arm64`), read from that source:
 * arch/arm64/kvm/{pkvm.c,arm.c,mmu.c,va_layout.c}, kvm/hyp/nvhe/{setup.c,
 * mm.c,page_alloc.c,mem_protect.c,hyp-main.c,hyp-init.S},
 * include/asm/{kvm_pkvm.h,kvm_asm.h,kvm_pgtable.h,sysreg.h,kvm_arm.h}.
 *
 * Against 6.12: `struct hyp_page` is 8 bytes (u16 refcount, u8 order, the
 * host and hyp page states, a share count) with a u8 `HYP_NO_ORDER`, and an
 * external page freed into a pool is forced to order 0; `hyp_memory[]` is
 * no longer sorted; the hyp maps its (here empty) `.hyp.data` and no longer
 * the vgic global state; `__pkvm_init_finalise()` creates the fixblock
 * beside the per-CPU fixmap; `__pkvm_init` no longer takes `nr_cpus`; the
 * hypercall numbers were reshuffled (`__kvm_get_mdcr_el2` is gone, the
 * finalisation gate is `__KVM_HOST_SMCCC_FUNC_MIN_PKVM` and pKVM-only calls
 * are refused before it); `enum kvm_pgtable_prot` splits X into PX|UX
 * (2608563b466b) and the stub range grows to 5 (`HVC_GET_ICH_VTR_EL2`).
 *
 * @module
 */

import { PROT_NUMBERING_XNX } from "../../core/mod.ts";
import { SPECTRE_BHB_7 } from "./spectre_bhb.ts";
import type { HostBootCall } from "./host_boot.ts";
import type { KernelRelease } from "./types.ts";

/**
 * What `cpu_hyp_reinit()` issues on a CPU in protected mode (7.2):
 * reset to the stub, reinstall the hyp, select the vector slot, and init the GICv3 list registers.
 */
const CPU_HYP_REINIT: readonly HostBootCall[] = [
  { call: "__hyp_reset_vectors", from: "cpu_hyp_reset" },
  { call: "__hyp_set_vectors", from: "hyp_install_host_vector" },
  { call: "__kvm_hyp_init", from: "hyp_install_host_vector" },
  { call: "__kvm_enable_ssbs", from: "cpu_init_hyp_mode", when: "ssbs-unmitigated" },
  { call: "__pkvm_cpu_set_vector", from: "cpu_set_hyp_vector" },
  {
    call: "__vgic_v3_init_lrs",
    from: "kvm_vgic_init_cpu_hardware",
    when: "vgic-v3-present",
  },
];

/** Linux 7.2 (Debian 7.2.13-1). */
export const V7_2: KernelRelease = {
  name: "v7.2",
  kernel: "7.2",
  source: "Debian linux-source-7.2 7.2.13-1",
  config: { vaBits: 52, paBits: 52, nrCpus: 512, ptrAuthKernel: true, btiKernel: false },
  validated: true,
  reserve: {
    pgtableLevels: 5,
    hypPageBytes: 8,
    vmemmap: "memory",
    hostS2: "combined",
    vmTablePages: 1,
    // 2 mailbox pages + DIV_ROUND_UP(48 + 32 + 16 + SG_MAX_SEGMENTS (2048) * 16, 4096).
    ffaProxyPages: 11,
    selftestPages: 0,
    carve: "phys_alloc",
    sortRegions: false,
    poolOrder: ["selftest", "vmemmap", "vm_table", "hyp_s1", "host_s2", "ffa_proxy"],
  },
  buddy: {
    size: 8,
    refcountBytes: 2,
    orderBytes: 1,
    orderOffset: 2,
    noOrder: 0xff,
    listNode: "free_page",
    maxOrderCap: 10,
    maxOrderPlusOne: false,
    inclusiveMaxOrder: true,
    externalPages: "order-0",
    attachSkipsOutOfRange: true,
  },
  earlyGetPutNoops: true,
  pgtable: {
    remap: "sw-bits",
    refcounted: true,
    swBits: true,
    mtDeviceNGnRE: 4,
    gpWithBti: true,
    prot: PROT_NUMBERING_XNX,
    visitCtxWalker: true,
    protSwShift: 55,
    hvheExec: "pxn-uxn",
    firstLevel: -1,
  },
  setup: {
    recreate: [
      "idmap",
      "vectors",
      "vmemmap",
      "hyp_text",
      "hyp_data",
      "hyp_rodata",
      "hyp_bss",
      "pool",
      "percpu_and_stacks",
      "host_sve",
    ],
    finalise: [
      "pgtable_refcnt",
      "fixmap_and_fixblock",
      "host_ownership",
      "ffa_init",
      "vm_table_init",
    ],
    stack: "guarded",
    backVmemmap: "memory",
    privateVaAligned: false,
    privateVaAtZero: "einval",
    bpVectBaseDefault: true,
    switchAbi: "registers",
    initTakesNrCpus: false,
    protFinalizeFwb: true,
    // fix_host_ownership(): host_stage2_set_owner_locked(phys, PAGE_SIZE,
    // PKVM_ID_HYP = 1) -> host_stage2_set_owner_metadata_locked():
    // KVM_HOST_INVALID_PTE_TYPE_DONATION (2) in bits 63:60, the id in bits
    // 3:1 (KVM_HOST_DONATION_PTE_OWNER_MASK); __hyp_text stays mapped
    // read-only for the host instead (addr_is_hyp_text()).
    hostOwner: { pte: (2n << 60n) | (1n << 1n), hypText: "read-only" },
  },
  host: {
    initParams: [
      "mair_el2",
      "tcr_el2",
      "tpidr_el2",
      "stack_hyp_va",
      "stack_pa",
      "pgd_pa",
      "hcr_el2",
      "vttbr",
      "vtcr",
      "tmp",
    ],
    hypVaBits: "max48",
    tagBits: "hyp_va_bits",
    hvheOnVhe: true,
    // struct kvm_host_data.sve_regs at byte 4800 (Debian's 7.2.13 DWARF);
    // pkvm_host_sve_state_size() is SVE_SIG_REGS_SIZE alone.
    sveState: { field: 4800, header: 0 },
    randomTag: true,
    hostSections: ["hyp_text", "hyp_data", "hyp_rodata", "hyp_bss"],
    el2PmuCheck: "ni-or-impdef",
    el2SmeTraps: "lift",
    spectreBhb: SPECTRE_BHB_7,
  },
  hypercalls: {
    ids: {
      __kvm_hyp_init: 0,
      __pkvm_init: 1,
      __pkvm_create_private_mapping: 2,
      __pkvm_cpu_set_vector: 3,
      __kvm_enable_ssbs: 4,
      __vgic_v3_init_lrs: 5,
      __vgic_v3_get_gic_config: 6,
      __pkvm_prot_finalize: 7,
      __kvm_adjust_pc: 8,
      __kvm_vcpu_run: 9,
      __kvm_flush_vm_context: 10,
      __kvm_tlb_flush_vmid_ipa: 11,
      __kvm_tlb_flush_vmid_ipa_nsh: 12,
      __kvm_tlb_flush_vmid: 13,
      __kvm_tlb_flush_vmid_range: 14,
      __kvm_flush_cpu_context: 15,
      __kvm_timer_set_cntvoff: 16,
      __tracing_load: 17,
      __tracing_unload: 18,
      __tracing_enable: 19,
      __tracing_swap_reader: 20,
      __tracing_update_clock: 21,
      __tracing_reset: 22,
      __tracing_enable_event: 23,
      __tracing_write_event: 24,
      __vgic_v3_save_aprs: 25,
      __vgic_v3_restore_vmcr_aprs: 26,
      __vgic_v5_save_apr: 27,
      __vgic_v5_restore_vmcr_apr: 28,
      __pkvm_host_share_hyp: 29,
      __pkvm_host_unshare_hyp: 30,
      __pkvm_host_donate_guest: 31,
      __pkvm_host_share_guest: 32,
      __pkvm_host_unshare_guest: 33,
      __pkvm_host_relax_perms_guest: 34,
      __pkvm_host_wrprotect_guest: 35,
      __pkvm_host_test_clear_young_guest: 36,
      __pkvm_host_mkyoung_guest: 37,
      __pkvm_reserve_vm: 38,
      __pkvm_unreserve_vm: 39,
      __pkvm_init_vm: 40,
      __pkvm_init_vcpu: 41,
      __pkvm_vcpu_in_poison_fault: 42,
      __pkvm_force_reclaim_guest_page: 43,
      __pkvm_reclaim_dying_guest_page: 44,
      __pkvm_start_teardown_vm: 45,
      __pkvm_finalize_teardown_vm: 46,
      __pkvm_vcpu_load: 47,
      __pkvm_vcpu_put: 48,
      __pkvm_tlb_flush_vmid: 49,
    },
    // __KVM_HOST_SMCCC_FUNC_MIN_PKVM is __pkvm_prot_finalize's number, and
    // __KVM_HOST_SMCCC_FUNC_PKVM_ONLY that of __pkvm_host_share_hyp.
    minAfterInit: "__pkvm_prot_finalize",
    maxBeforeInit: "__pkvm_host_share_hyp",
    stubHcallNr: 5,
    stubs: {
      HVC_SET_VECTORS: 0,
      HVC_SOFT_RESTART: 1,
      HVC_RESET_VECTORS: 2,
      HVC_FINALISE_EL2: 3,
      HVC_GET_ICH_VTR_EL2: 4,
    },
    stubAfterInit: "reject",
    // __kvm_handle_stub_hvc no longer touches HCR_EL2.
    stubResetHcr: null,
    masksHint: true,
  },
  sysregs: {
    // M|C|SA|I|IESB|WXN|ITFSB|EIS|EOS|SCTLR_EL2_RES1, where SCTLR_EL2_RES1
    // is now generated from arch/arm64/tools/sysreg, whose SCTLR_EL2 has no
    // Res1 field: 0. So the E2H=0 RES1 bits 4, 5, 16, 18, 23, 28, 29 are
    // written as 0 (a real 7.2 boot on cortex-a57 reads back 0x68180d).
    sctlrMmuOn: 0x20_0068_180dn,
    sctlrMmuOff: 0n,
    // RW | API | APK | TSC: HCR_ATA left HCR_HOST_NVHE_FLAGS.
    hcrProtected: (1n << 31n) | (1n << 41n) | (1n << 40n) | (1n << 19n),
    // MAIR_EL1_SET: nGnRnE 0x00, nGnRE 0x04, Normal-NC 0x44, Normal 0xff, Normal-tagged 0xff
    // at indices 0..4 (proc.S); the host's MAIR_EL1, copied by cpu_prepare_hyp_mode().
    mair: 0x0000_0004_0044_ffffn,
    hcrTid5WithoutMte: true,
  },
  hvhe: {
    // __cpu_setup: IRGN/ORGN WBWA and SH inner for both halves, TG1 4K,
    // NFD1 (RANDOMIZE_BASE), AS (ASID16), TBI0, A1, and CONFIG_ARM64_MTE's
    // TCMA1 | TBI1 | TBID1.
    tcrEl1: (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 22n) | (1n << 24n) | (1n << 26n) |
      (3n << 28n) | (2n << 30n) | (1n << 36n) | (1n << 37n) | (1n << 38n) | (1n << 52n) |
      (1n << 54n) | (1n << 58n),
    tcr: "el1",
  },
  // From the System.map of Debian's linux-image-7.2.13+deb14-arm64 7.2.13-1.
  image: {
    symbols: {
      _text: 0x0,
      _stext: 0x10000,
      __hyp_stub_vectors: 0x12a1000,
      __hyp_idmap_text_start: 0x12a0000,
      __hyp_idmap_text_end: 0x12a0e38,
      __kvm_hyp_init: 0x12a0000,
      ___kvm_hyp_init: 0x12a0c00,
      __pkvm_init_switch_pgd: 0x12a0db8,
      __hyp_text_start: 0x12a0e38,
      __hyp_text_end: 0x12bb000,
      __kvm_hyp_host_vector: 0x12a6000,
      __kvm_hyp_vector: 0x12b5000,
      __bp_harden_hyp_vecs: 0x12b5800,
      __pkvm_init_finalise: 0x12a9130,
      __host_enter: 0x12a5990,
      __hyp_panic: 0x12a4968,
      _etext: 0x12c0000,
      __start_rodata: 0x12c0000,
      __end_rodata: 0x24f2000,
      __hyp_rodata_start: 0x24f2000,
      __hyp_rodata_end: 0x24fa000,
      hyp_cpu_logical_map: 0x24f3000,
      kvm_vgic_global_state: 0x1de01a8,
      __init_begin: 0x2510000,
      __per_cpu_start: 0x2808000,
      __per_cpu_end: 0x280b8b0,
      __init_end: 0x28e0000,
      _sdata: 0x28e0000,
      __hyp_data_start: 0x2e08000,
      __hyp_data_end: 0x2e08000,
      kvm_arm_hyp_percpu_base: 0x24f2000,
      __bss_start: 0x2e09000,
      __hyp_bss_start: 0x2e09000,
      __hyp_bss_end: 0x2e0b000,
      __bss_stop: 0x2ee6000,
      _end: 0x2f00000,
    },
    hypPercpuSize: 0x38b0,
    percpuOffsets: {
      kvm_hyp_vector: 0x0,
      kvm_init_params: 0x27f0,
      kvm_host_data: 0x12c0,
    },
  },
  switchSequence: "v7.2",
  // kvm_arm_init() (arch/arm64/kvm/arm.c) in protected nVHE mode, then
  // finalize_pkvm() (arch/arm64/kvm/pkvm.c, device_initcall_sync). The
  // host no longer asks EL2 for MDCR_EL2: kvm_init_host_debug_data() reads
  // the ID registers and PMCR_EL0 itself.
  hostBoot: [
    {
      fn: "init_hyp_mode → kvm_hyp_init_protection → do_pkvm_init",
      on: "boot-cpu",
      sets: "initialised",
      calls: [
        { call: "__hyp_set_vectors", from: "hyp_install_host_vector" },
        { call: "__kvm_hyp_init", from: "hyp_install_host_vector" },
        { call: "__kvm_enable_ssbs", from: "cpu_init_hyp_mode", when: "ssbs-unmitigated" },
        { call: "__pkvm_init", from: "do_pkvm_init", fatal: true },
        { call: "__pkvm_cpu_set_vector", from: "cpu_set_hyp_vector" },
        {
          call: "__vgic_v3_init_lrs",
          from: "kvm_vgic_init_cpu_hardware",
          when: "vgic-v3-present",
        },
      ],
    },
    // kvm_init_vector_slots() maps nothing in protected mode.
    {
      fn: "init_subsystems → on_each_cpu(cpu_hyp_init) → cpu_hyp_reinit",
      on: "each-cpu",
      unlessInitialised: true,
      sets: "initialised",
      calls: CPU_HYP_REINIT,
    },
    {
      fn: "init_subsystems → kvm_vgic_hyp_init → vgic_v3_probe",
      on: "boot-cpu",
      when: "gicv3",
      otherwise: "init_subsystems: kvm_vgic_hyp_init() returned -ENXIO (vgic_v2_probe(): " +
        '"GICv2 not supported in protected mode"), and protected mode needs a vgic ' +
        '("No VGIC? No pKVM for you."): kvm_arm_init() fails',
      sets: "vgic-present",
      calls: [{ call: "__vgic_v3_get_gic_config", from: "vgic_v3_probe" }],
    },
    {
      // enable_virt_at_load: cpuhp_setup_state() runs kvm_online_cpu() on
      // each online CPU in turn, waiting for each; every CPU is initialised
      // by now, so cpu_hyp_init() does nothing.
      fn: "kvm_init → kvm_enable_virtualization → cpuhp_setup_state(kvm_online_cpu) → " +
        "kvm_arch_enable_virtualization_cpu → cpu_hyp_init → cpu_hyp_reinit",
      on: "each-cpu",
      unlessInitialised: true,
      sets: "initialised",
      calls: CPU_HYP_REINIT,
    },
    {
      fn: "finalize_pkvm → pkvm_drop_host_privileges: " +
        "static_branch_enable(&kvm_protected_mode_initialized)",
      on: "boot-cpu",
      sets: "protected-mode-initialized",
      calls: [],
    },
    {
      fn: "pkvm_drop_host_privileges → on_each_cpu(_kvm_host_prot_finalize)",
      on: "each-cpu",
      calls: [{ call: "__pkvm_prot_finalize", from: "_kvm_host_prot_finalize", fatal: true }],
    },
  ],
};
