/**
 * Linux 6.1 as Debian builds it (bookworm, `linux-source-6.1` 6.1.176-1;
 * image `linux-image-6.1.0-50-arm64-unsigned`), read from that source:
 * arch/arm64/kvm/{pkvm.c,arm.c,mmu.c,va_layout.c}, kvm/hyp/nvhe/{setup.c,
 * mm.c,page_alloc.c,mem_protect.c,hyp-main.c,hyp-init.S},
 * include/asm/{kvm_pkvm.h,kvm_asm.h,kvm_pgtable.h,sysreg.h,kvm_arm.h}.
 *
 * Between v5.13 and the current kernel: `struct hyp_page` is 4 bytes (u16
 * refcount, u16 order) and free pages hold their own list node; the pool
 * still sizes its vmemmap as v5.13 did (a fixed point over the pool alone),
 * but with one combined host stage-2 term; stacks get a guard page in the
 * private VA range; the kernel's .rodata and the .bss after .hyp.bss are
 * mapped read-only with PKVM_PAGE_SHARED_OWNED in the software bits; the
 * switch sequence still has no `dsb nsh; isb` before `set_sctlr_el2`
 * (that came with 040113fa32f2, v6.8).
 *
 * @module
 */

import { PROT_NUMBERING_CLASSIC } from "../../core/mod.ts";
import { SPECTRE_BHB_6 } from "./spectre_bhb.ts";
import type { KernelRelease } from "./types.ts";

/** Linux 6.1 (Debian 6.1.176-1). */
export const V6_1: KernelRelease = {
  name: "v6.1",
  kernel: "6.1",
  source: "Debian linux-source-6.1 6.1.176-1",
  config: { vaBits: 48, paBits: 48, nrCpus: 256, ptrAuthKernel: true, btiKernel: false },
  validated: true,
  reserve: {
    pgtableLevels: 4,
    hypPageBytes: 4,
    vmemmap: "pool",
    hostS2: "combined",
    vmTablePages: 0,
    ffaProxyPages: 0,
    selftestPages: 0,
    carve: "phys_alloc",
    sortRegions: true,
    poolOrder: ["vmemmap", "hyp_s1", "host_s2"],
  },
  buddy: {
    size: 4,
    refcountBytes: 2,
    orderBytes: 2,
    orderOffset: 2,
    noOrder: 0xffff,
    listNode: "free_page",
    maxOrderCap: 11,
    maxOrderPlusOne: true,
    inclusiveMaxOrder: false,
    // No explicit path, but __find_buddy_nocheck() returns NULL outside
    // [range_start, range_end), so a page from elsewhere is queued uncoalesced.
    externalPages: "skip-coalesce",
  },
  earlyGetPutNoops: true,
  pgtable: {
    remap: "sw-bits",
    refcounted: true,
    swBits: true,
    mtDeviceNGnRE: 4,
    gpWithBti: false,
    prot: PROT_NUMBERING_CLASSIC,
    visitCtxWalker: false,
    protSwShift: 55,
    hvheExec: "uxn",
    firstLevel: 0,
  },
  setup: {
    recreate: [
      "idmap",
      "vectors",
      "vmemmap",
      "hyp_text",
      "hyp_rodata",
      "hyp_bss",
      "pool",
      "percpu_and_stacks",
      "kernel_rodata_shared",
      "bss_tail_shared",
    ],
    finalise: ["host_mappings"],
    stack: "guarded",
    backVmemmap: "pool",
    privateVaAligned: true,
    privateVaAtZero: "enomem",
    bpVectBaseDefault: true,
    switchAbi: "params",
    initTakesNrCpus: true,
    protFinalizeFwb: false,
    // finalize_host_mappings(): host_stage2_set_owner_locked(phys, PAGE_SIZE,
    // pkvm_hyp_id = 1), kvm_init_invalid_leaf_owner(): the id in bits 9:2.
    hostOwner: { pte: 1n << 2n, hypText: "owned" },
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
    ],
    hypVaBits: "idmap",
    tagBits: "vabits_actual",
    hvheOnVhe: false,
    sveState: null,
    randomTag: true,
    hostSections: ["hyp_text", "hyp_rodata", "kernel_rodata", "hyp_bss", "bss_tail"],
    el2PmuCheck: "signed",
    el2SmeTraps: "lift",
    spectreBhb: SPECTRE_BHB_6,
  },
  hypercalls: {
    ids: {
      __kvm_hyp_init: 0,
      __kvm_get_mdcr_el2: 1,
      __pkvm_init: 2,
      __pkvm_create_private_mapping: 3,
      __pkvm_cpu_set_vector: 4,
      __kvm_enable_ssbs: 5,
      __vgic_v3_init_lrs: 6,
      __vgic_v3_get_gic_config: 7,
      __pkvm_prot_finalize: 8,
      __pkvm_host_share_hyp: 9,
      __pkvm_host_unshare_hyp: 10,
      __kvm_adjust_pc: 11,
      __kvm_vcpu_run: 12,
      __kvm_flush_vm_context: 13,
      __kvm_tlb_flush_vmid_ipa: 14,
      __kvm_tlb_flush_vmid: 15,
      __kvm_flush_cpu_context: 16,
      __kvm_timer_set_cntvoff: 17,
      __vgic_v3_read_vmcr: 18,
      __vgic_v3_write_vmcr: 19,
      __vgic_v3_save_aprs: 20,
      __vgic_v3_restore_aprs: 21,
      __pkvm_vcpu_init_traps: 22,
    },
    minAfterInit: "__pkvm_prot_finalize",
    maxBeforeInit: null,
    stubHcallNr: 4,
    stubs: { HVC_SET_VECTORS: 0, HVC_SOFT_RESTART: 1, HVC_RESET_VECTORS: 2, HVC_FINALISE_EL2: 3 },
    stubAfterInit: "reject",
    // HCR_HOST_NVHE_FLAGS: RW | API | APK | ATA.
    stubResetHcr: (1n << 31n) | (1n << 41n) | (1n << 40n) | (1n << 56n),
    masksHint: false,
  },
  sysregs: {
    // M|C|SA|I|IESB|WXN|ITFSB|RES1 (ENDIAN_SET_EL2 is 0 on little-endian).
    sctlrMmuOn: 0x20_30ed_183dn,
    sctlrMmuOff: 0x30c5_0830n,
    // RW | API | APK | ATA | TSC.
    hcrProtected: (1n << 31n) | (1n << 41n) | (1n << 40n) | (1n << 56n) | (1n << 19n),
    // MAIR_EL1_SET: nGnRnE 0x00, nGnRE 0x04, Normal-NC 0x44, Normal 0xff, Normal-tagged 0xff
    // at indices 0..4 (proc.S); the host's MAIR_EL1, copied by cpu_prepare_hyp_mode().
    mair: 0x0000_0004_0044_ffffn,
    hcrTid5WithoutMte: false,
  },
  // From the System.map of Debian's linux-image-6.1.0-50-arm64 6.1.176-1.
  image: {
    symbols: {
      _text: 0x0,
      _stext: 0x10000,
      __hyp_stub_vectors: 0xce1000,
      __hyp_idmap_text_start: 0xce0000,
      __hyp_idmap_text_end: 0xce0ae4,
      __kvm_hyp_init: 0xce0000,
      ___kvm_hyp_init: 0xce07bc,
      __pkvm_init_switch_pgd: 0xce0a58,
      __hyp_text_start: 0xce0ae4,
      __hyp_text_end: 0xcf0000,
      __kvm_hyp_host_vector: 0xce4800,
      __kvm_hyp_vector: 0xceb800,
      __bp_harden_hyp_vecs: 0xcec000,
      __pkvm_init_finalise: 0xce67d0,
      __host_enter: 0xce40b0,
      __hyp_panic: 0xce3950,
      _etext: 0xd00000,
      __start_rodata: 0xd00000,
      __end_rodata: 0x1648000,
      __hyp_rodata_start: 0x1648000,
      __hyp_rodata_end: 0x164c000,
      hyp_cpu_logical_map: 0x1648000,
      kvm_vgic_global_state: 0x111b620,
      __init_begin: 0x1660000,
      __per_cpu_start: 0x1819000,
      __per_cpu_end: 0x181aee0,
      __init_end: 0x1cb0000,
      _sdata: 0x1cb0000,
      kvm_arm_hyp_percpu_base: 0x1f7b990,
      __bss_start: 0x1f6e000,
      __hyp_bss_start: 0x1f6e000,
      __hyp_bss_end: 0x1f70000,
      __bss_stop: 0x200add8,
      _end: 0x2010000,
    },
    hypPercpuSize: 0x1ee0,
    percpuOffsets: {
      kvm_hyp_vector: 0xe40,
      kvm_init_params: 0xe48,
      kvm_host_data: 0x720,
    },
  },
  switchSequence: "v6.1",
  // kvm_arch_init() (arch/arm64/kvm/arm.c) in protected nVHE mode.
  hostBoot: [
    {
      // Installs the hyp on the boot CPU, hands it the pool, then does the
      // rest of cpu_hyp_reinit() there and marks the CPU initialised, so
      // init_subsystems() leaves it alone: a re-init would be a stub call,
      // which the hyp now refuses ("KVM: arm64: Reject stub hypercalls after
      // pKVM has been initialised", v5.16, did both).
      fn: "init_hyp_mode → kvm_hyp_init_protection → do_pkvm_init",
      on: "boot-cpu",
      sets: "initialised",
      calls: [
        { call: "__hyp_set_vectors", from: "hyp_install_host_vector" },
        { call: "__kvm_hyp_init", from: "hyp_install_host_vector" },
        { call: "__kvm_enable_ssbs", from: "cpu_init_hyp_mode", when: "ssbs-unmitigated" },
        { call: "__pkvm_init", from: "do_pkvm_init", fatal: true },
        { call: "__pkvm_cpu_set_vector", from: "cpu_set_hyp_vector" },
        { call: "__kvm_get_mdcr_el2", from: "kvm_arm_init_debug" },
        {
          call: "__vgic_v3_init_lrs",
          from: "kvm_vgic_init_cpu_hardware",
          when: "vgic-v3-present",
        },
      ],
    },
    // kvm_init_vector_slots() maps nothing in protected mode: the hyp maps
    // its vectors itself (hyp_map_vectors()).
    {
      fn: "init_subsystems → on_each_cpu(_kvm_arch_hardware_enable) → cpu_hyp_reinit",
      on: "each-cpu",
      unlessInitialised: true,
      sets: "initialised",
      calls: [
        { call: "__hyp_reset_vectors", from: "cpu_hyp_reset" },
        { call: "__hyp_set_vectors", from: "hyp_install_host_vector" },
        { call: "__kvm_hyp_init", from: "hyp_install_host_vector" },
        { call: "__kvm_enable_ssbs", from: "cpu_init_hyp_mode", when: "ssbs-unmitigated" },
        { call: "__pkvm_cpu_set_vector", from: "cpu_set_hyp_vector" },
        { call: "__kvm_get_mdcr_el2", from: "kvm_arm_init_debug" },
        {
          call: "__vgic_v3_init_lrs",
          from: "kvm_vgic_init_cpu_hardware",
          when: "vgic-v3-present",
        },
      ],
    },
    {
      // A GICv2: vgic_v2_probe() refuses protected mode (-ENXIO) and
      // init_subsystems() goes on without a vgic.
      fn: "init_subsystems → kvm_vgic_hyp_init → vgic_v3_probe",
      on: "boot-cpu",
      when: "gicv3",
      sets: "vgic-present",
      calls: [{ call: "__vgic_v3_get_gic_config", from: "vgic_v3_probe" }],
    },
    {
      fn: "finalize_hyp_mode → pkvm_drop_host_privileges: " +
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
