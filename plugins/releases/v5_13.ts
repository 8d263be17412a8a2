/**
 * Linux v5.13: Quentin Perret's "KVM: arm64: Stage-2 for the host" series as
 * merged (f320bc742bc2 "KVM: arm64: Prepare the creation of s1 mappings at
 * EL2", 8f4de66e247b `set_sctlr_el2`, e759604087231 the early allocator,
 * 8e17c66249e9 the buddy, 04e5de03093f the host stage-2 reservation). No
 * Debian kernel of this release runs here, so it is reconstructed from the
 * v5.13 sources, not checked against a boot.
 *
 * Its shape: `struct hyp_page` is 32 bytes and holds the free-list node and
 * the pool pointer; the pool's vmemmap is a fixed point over the pool alone;
 * the host stage-2 has separate memory and device terms; kvm_pgtable keeps
 * a different valid leaf (with a WARN) and counts no table references; the
 * hyp stacks are single linear pages without a guard; the kernel's whole
 * .rodata and the .bss after .hyp.bss are mapped read-only; no hypercall is
 * refused after initialisation (the gate came in v5.16).
 *
 * @module
 */

import { PROT_NUMBERING_CLASSIC } from "../../core/mod.ts";
import type { KernelRelease } from "./types.ts";

/** Linux v5.13 (reconstructed). */
export const V5_13: KernelRelease = {
  name: "v5.13",
  kernel: "5.13",
  source: "torvalds/linux v5.13 (arch/arm64/kvm, reserved_mem.c)",
  config: { vaBits: 48, paBits: 48, nrCpus: 256, ptrAuthKernel: true, btiKernel: false },
  validated: false,
  reserve: {
    pgtableLevels: 4,
    hypPageBytes: 32,
    vmemmap: "pool",
    hostS2: "split",
    vmTablePages: 0,
    ffaProxyPages: 0,
    selftestPages: 0,
    carve: "find_in_range",
    sortRegions: true,
    poolOrder: ["vmemmap", "hyp_s1", "host_s2_mem", "host_s2_dev"],
  },
  buddy: {
    size: 32,
    refcountBytes: 4,
    orderBytes: 4,
    orderOffset: 4,
    noOrder: 0xffff_ffff,
    listNode: "hyp_page",
    maxOrderCap: 11,
    maxOrderPlusOne: false,
    inclusiveMaxOrder: false,
    externalPages: "none",
  },
  earlyGetPutNoops: false,
  pgtable: {
    remap: "warn-keep",
    refcounted: false,
    swBits: false,
    // asm/memory.h of v5.13 still numbered MT_DEVICE_nGnRE 5 in the kernel's
    // MAIR layout.
    mtDeviceNGnRE: 5,
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
      "kernel_rodata",
      "hyp_rodata",
      "hyp_bss",
      "bss_tail",
      "pool",
      "percpu_and_stacks",
    ],
    finalise: [],
    stack: "linear",
    backVmemmap: "pool",
    privateVaAligned: false,
    privateVaAtZero: "allowed",
    bpVectBaseDefault: false,
    switchAbi: "params",
    initTakesNrCpus: true,
    protFinalizeFwb: false,
    // v5.13 records ownership through __pkvm_mark_hyp from the host instead.
    hostOwner: null,
  },
  host: {
    initParams: [
      "mair_el2",
      "tcr_el2",
      "tpidr_el2",
      "stack_hyp_va",
      "pgd_pa",
      "hcr_el2",
      "vttbr",
      "vtcr",
    ],
    hypVaBits: "idmap",
    tagBits: "vabits_actual",
    hvheOnVhe: false,
    sveState: null,
    randomTag: false,
    hostSections: ["hyp_text", "hyp_rodata", "kernel_rodata", "hyp_bss", "bss_tail"],
    el2PmuCheck: "signed",
    el2SmeTraps: "keep",
    spectreBhb: null,
  },
  hypercalls: {
    ids: {
      __kvm_hyp_init: 0,
      __kvm_vcpu_run: 1,
      __kvm_flush_vm_context: 2,
      __kvm_tlb_flush_vmid_ipa: 3,
      __kvm_tlb_flush_vmid: 4,
      __kvm_flush_cpu_context: 5,
      __kvm_timer_set_cntvoff: 6,
      __kvm_enable_ssbs: 7,
      __vgic_v3_get_gic_config: 8,
      __vgic_v3_read_vmcr: 9,
      __vgic_v3_write_vmcr: 10,
      __vgic_v3_init_lrs: 11,
      __kvm_get_mdcr_el2: 12,
      __vgic_v3_save_aprs: 13,
      __vgic_v3_restore_aprs: 14,
      __pkvm_init: 15,
      __pkvm_create_mappings: 16,
      __pkvm_create_private_mapping: 17,
      __pkvm_cpu_set_vector: 18,
      __pkvm_prot_finalize: 19,
      __pkvm_mark_hyp: 20,
      __kvm_adjust_pc: 21,
    },
    minAfterInit: null,
    maxBeforeInit: null,
    stubHcallNr: 4,
    stubs: { HVC_SET_VECTORS: 0, HVC_SOFT_RESTART: 1, HVC_RESET_VECTORS: 2, HVC_VHE_RESTART: 3 },
    stubAfterInit: "forward",
    // HCR_HOST_NVHE_FLAGS: RW | API | APK | ATA.
    stubResetHcr: (1n << 31n) | (1n << 41n) | (1n << 40n) | (1n << 56n),
    masksHint: false,
  },
  sysregs: {
    // M|C|SA|I|IESB|WXN|RES1: no ITFSB, which came with KVM's MTE support.
    sctlrMmuOn: 0x30ed_183dn,
    sctlrMmuOff: 0x30c5_0830n,
    // RW | API | APK | ATA | TSC.
    hcrProtected: (1n << 31n) | (1n << 41n) | (1n << 40n) | (1n << 56n) | (1n << 19n),
    // v5.13's MAIR_EL1_SET, with the pre-5.14 MT_ numbering.
    mair: 0x000c_0400_bb44_ffffn,
    hcrTid5WithoutMte: false,
  },
  switchSequence: "v5.13",
  // kvm_arch_init() (arch/arm64/kvm/arm.c) in protected nVHE mode.
  hostBoot: [
    {
      // Only the host vector and __pkvm_init: the boot CPU is not marked
      // initialised (that came in v5.16), so init_subsystems() re-initialises
      // it like the others.
      fn: "init_hyp_mode → kvm_hyp_init_protection → do_pkvm_init",
      on: "boot-cpu",
      calls: [
        { call: "__hyp_set_vectors", from: "hyp_install_host_vector" },
        { call: "__kvm_hyp_init", from: "hyp_install_host_vector" },
        { call: "__pkvm_init", from: "do_pkvm_init", fatal: true },
      ],
    },
    {
      // The host no longer owns the hyp's tables (free_hyp_pgds()), so
      // __create_hyp_private_mapping() asks EL2.
      fn: "kvm_init_vector_slots",
      on: "boot-cpu",
      calls: [
        {
          call: "__pkvm_create_private_mapping",
          from: "create_hyp_exec_mappings → __create_hyp_private_mapping",
          when: "spectre-v3a",
          args: "bp_harden_hyp_vecs",
          fatal: true,
        },
      ],
    },
    {
      // On the boot CPU HVC_RESET_VECTORS reaches the host vector, which
      // hands stub calls to __kvm_handle_stub_hvc: EL2's MMU goes off and
      // the stub vectors come back, and __kvm_hyp_init brings the CPU up
      // again, on the hyp's own tables.
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
      fn: "init_subsystems → kvm_vgic_hyp_init → vgic_v3_probe",
      on: "boot-cpu",
      when: "gicv3",
      sets: "vgic-present",
      calls: [{ call: "__vgic_v3_get_gic_config", from: "vgic_v3_probe" }],
    },
    {
      // No protected-mode check yet ("KVM: arm64: pkvm: Disable GICv2
      // support", v5.17): the GICH frame is mapped through EL2. QEMU's GICV
      // frame is page-aligned and size-aligned, so it is not.
      fn: "init_subsystems → kvm_vgic_hyp_init → vgic_v2_probe",
      on: "boot-cpu",
      when: "gicv2",
      sets: "vgic-present",
      calls: [
        {
          call: "__pkvm_create_private_mapping",
          from: "create_hyp_io_mappings → __create_hyp_private_mapping",
          args: "gich",
          fatal: true,
        },
      ],
    },
    {
      fn: "finalize_hyp_mode → pkvm_mark_hyp_section / pkvm_mark_hyp",
      on: "boot-cpu",
      calls: [
        {
          call: "__pkvm_mark_hyp",
          from: "finalize_hyp_mode",
          args: "__hyp_idmap_text",
          fatal: true,
        },
        { call: "__pkvm_mark_hyp", from: "finalize_hyp_mode", args: "__hyp_text", fatal: true },
        { call: "__pkvm_mark_hyp", from: "finalize_hyp_mode", args: "__hyp_rodata", fatal: true },
        { call: "__pkvm_mark_hyp", from: "finalize_hyp_mode", args: "__hyp_bss", fatal: true },
        { call: "__pkvm_mark_hyp", from: "finalize_hyp_mode", args: "hyp_mem", fatal: true },
      ],
    },
    {
      fn: "finalize_hyp_mode → for_each_possible_cpu(cpu) pkvm_mark_hyp",
      on: "boot-cpu",
      perPossibleCpu: true,
      calls: [
        { call: "__pkvm_mark_hyp", from: "finalize_hyp_mode", args: "hyp_percpu", fatal: true },
        { call: "__pkvm_mark_hyp", from: "finalize_hyp_mode", args: "hyp_stack", fatal: true },
      ],
    },
    {
      fn: "finalize_hyp_mode: static_branch_enable(&kvm_protected_mode_initialized)",
      on: "boot-cpu",
      sets: "protected-mode-initialized",
      calls: [],
    },
    {
      // _kvm_host_prot_finalize() only WARNs: finalize_hyp_mode() returns 0.
      fn: "finalize_hyp_mode → on_each_cpu(_kvm_host_prot_finalize)",
      on: "each-cpu",
      calls: [{ call: "__pkvm_prot_finalize", from: "_kvm_host_prot_finalize" }],
    },
  ],
};
