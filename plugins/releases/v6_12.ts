/**
 * Linux 6.12 as Debian builds it (trixie, `linux-source-6.12` 6.12.117-1;
 * image `linux-image-6.12.117+deb13-arm64-unsigned`), read from that source:
 * arch/arm64/kvm/{pkvm.c,arm.c,mmu.c,va_layout.c}, kvm/hyp/nvhe/{setup.c,
 * mm.c,page_alloc.c,mem_protect.c,hyp-main.c,hyp-init.S},
 * include/asm/{kvm_pkvm.h,kvm_asm.h,kvm_pgtable.h,sysreg.h,kvm_arm.h}.
 *
 * Against 6.1: the pgtable helpers provision five levels (-1..3, LPA2); the
 * vmemmap covers every memblock region (`hyp_vmemmap_pages()`), and the pool
 * also holds the VM table and the FF-A proxy buffers; the buddy follows
 * MAX_PAGE_ORDER (10, inclusive) and queues external pages without
 * coalescing; `recreate_hyp_mappings()` maps the host's SVE state and
 * `kvm_vgic_global_state` (read-only, PKVM_PAGE_SHARED_OWNED) instead of the
 * kernel's .rodata and .bss; `__pkvm_init_finalise()` fixes the table
 * refcounts, creates one fixmap page per CPU and fixes the host stage-2
 * ownership; `hyp_va_bits` is `max(48, vabits_actual)`; stacks come from
 * `pkvm_create_stack()`; the switch sequence has the `dsb nsh; isb` pair of
 * 040113fa32f2 and takes pgd/sp/fn in registers (ea9d7c83d14e).
 *
 * @module
 */

import { PROT_NUMBERING_CLASSIC } from "../../core/mod.ts";
import { SPECTRE_BHB_6 } from "./spectre_bhb.ts";
import type { HostBootCall } from "./host_boot.ts";
import type { KernelRelease } from "./types.ts";

/**
 * What `cpu_hyp_reinit()` issues on a CPU in protected mode (6.12):
 * reset to the stub, reinstall the hyp, select the vector slot, read
 * MDCR_EL2, and init the GICv3 list registers.
 */
const CPU_HYP_REINIT: readonly HostBootCall[] = [
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
];

/** Linux 6.12 (Debian 6.12.117-1). */
export const V6_12: KernelRelease = {
  name: "v6.12",
  kernel: "6.12",
  source: "Debian linux-source-6.12 6.12.117-1",
  config: { vaBits: 52, paBits: 52, nrCpus: 512, ptrAuthKernel: true, btiKernel: false },
  validated: true,
  reserve: {
    pgtableLevels: 5,
    hypPageBytes: 4,
    vmemmap: "memory",
    hostS2: "combined",
    vmTablePages: 1,
    // 2 mailbox pages + DIV_ROUND_UP(48 + 32 + 16 + SG_MAX_SEGMENTS (2048) * 16, 4096).
    ffaProxyPages: 11,
    selftestPages: 0,
    carve: "phys_alloc",
    sortRegions: true,
    poolOrder: ["vmemmap", "vm_table", "hyp_s1", "host_s2", "ffa_proxy"],
  },
  buddy: {
    size: 4,
    refcountBytes: 2,
    orderBytes: 2,
    orderOffset: 2,
    noOrder: 0xffff,
    listNode: "free_page",
    maxOrderCap: 10,
    maxOrderPlusOne: false,
    inclusiveMaxOrder: true,
    externalPages: "skip-coalesce",
    attachSkipsOutOfRange: true,
  },
  earlyGetPutNoops: true,
  pgtable: {
    remap: "sw-bits",
    refcounted: true,
    swBits: true,
    mtDeviceNGnRE: 4,
    gpWithBti: true,
    prot: PROT_NUMBERING_CLASSIC,
    visitCtxWalker: true,
    protSwShift: 55,
    hvheExec: "uxn",
    firstLevel: -1,
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
      "host_sve",
      "vgic_global_state_shared",
    ],
    finalise: ["pgtable_refcnt", "pcpu_fixmap", "host_ownership", "ffa_init", "vm_table_init"],
    stack: "guarded",
    backVmemmap: "memory",
    privateVaAligned: false,
    privateVaAtZero: "einval",
    bpVectBaseDefault: true,
    switchAbi: "registers",
    initTakesNrCpus: true,
    protFinalizeFwb: false,
    // fix_host_ownership(): host_stage2_set_owner_locked(phys, PAGE_SIZE,
    // PKVM_ID_HYP = 1), kvm_init_invalid_leaf_owner(): the id in bits 9:2.
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
      "tmp",
    ],
    hypVaBits: "max48",
    tagBits: "vabits_actual",
    hvheOnVhe: true,
    // struct kvm_host_data.sve_state at byte 3104 (Debian's 6.12.117 DWARF);
    // pkvm_host_sve_state_size() adds sizeof(struct cpu_sve_state) = 16.
    sveState: { field: 3104, header: 16 },
    randomTag: true,
    hostSections: ["hyp_text", "hyp_rodata", "hyp_bss"],
    el2PmuCheck: "ni-or-impdef",
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
      __kvm_tlb_flush_vmid_ipa_nsh: 15,
      __kvm_tlb_flush_vmid: 16,
      __kvm_tlb_flush_vmid_range: 17,
      __kvm_flush_cpu_context: 18,
      __kvm_timer_set_cntvoff: 19,
      __vgic_v3_save_vmcr_aprs: 20,
      __vgic_v3_restore_vmcr_aprs: 21,
      __pkvm_vcpu_init_traps: 22,
      __pkvm_init_vm: 23,
      __pkvm_init_vcpu: 24,
      __pkvm_teardown_vm: 25,
    },
    minAfterInit: "__pkvm_prot_finalize",
    maxBeforeInit: null,
    stubHcallNr: 4,
    stubs: { HVC_SET_VECTORS: 0, HVC_SOFT_RESTART: 1, HVC_RESET_VECTORS: 2, HVC_FINALISE_EL2: 3 },
    stubAfterInit: "reject",
    // HCR_HOST_NVHE_FLAGS: RW | API | APK | ATA.
    stubResetHcr: (1n << 31n) | (1n << 41n) | (1n << 40n) | (1n << 56n),
    // handle_host_hcall(): `id &= ~ARM_SMCCC_CALL_HINTS` (nvhe/hyp-main.c).
    masksHint: true,
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
  hvhe: {
    // __cpu_setup: IRGN/ORGN WBWA and SH inner for both halves, TG1 4K,
    // NFD1 (RANDOMIZE_BASE), AS (ASID16), TBI0, A1, and CONFIG_ARM64_MTE's
    // TBI1 | TBID1 (no KASAN_HW_TAGS, so no TCMA1).
    tcrEl1: (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 22n) | (1n << 24n) | (1n << 26n) |
      (3n << 28n) | (2n << 30n) | (1n << 36n) | (1n << 37n) | (1n << 38n) | (1n << 52n) |
      (1n << 54n),
    tcr: "el2-ps-ds",
  },
  // From the System.map of Debian's linux-image-6.12.117+deb13-arm64 6.12.117-1.
  image: {
    symbols: {
      _text: 0x0,
      _stext: 0x10000,
      __hyp_stub_vectors: 0xf5a000,
      __hyp_idmap_text_start: 0xf59000,
      __hyp_idmap_text_end: 0xf59d04,
      __kvm_hyp_init: 0xf59000,
      ___kvm_hyp_init: 0xf59ab0,
      __pkvm_init_switch_pgd: 0xf59c78,
      __hyp_text_start: 0xf59d04,
      __hyp_text_end: 0xf6e000,
      __kvm_hyp_host_vector: 0xf5e800,
      __kvm_hyp_vector: 0xf69000,
      __bp_harden_hyp_vecs: 0xf69800,
      __pkvm_init_finalise: 0xf60ce8,
      __host_enter: 0xf5e190,
      __hyp_panic: 0xf5d2a0,
      _etext: 0xf70000,
      __start_rodata: 0xf70000,
      __end_rodata: 0x1d19000,
      __hyp_rodata_start: 0x1d19000,
      __hyp_rodata_end: 0x1d1f000,
      hyp_cpu_logical_map: 0x1d1a000,
      kvm_vgic_global_state: 0x16f2278,
      __init_begin: 0x1d30000,
      __per_cpu_start: 0x1f8b000,
      __per_cpu_end: 0x1f8db40,
      __init_end: 0x2040000,
      _sdata: 0x2040000,
      kvm_arm_hyp_percpu_base: 0x1d19000,
      __bss_start: 0x23fc000,
      __hyp_bss_start: 0x23fc000,
      __hyp_bss_end: 0x23fe000,
      __bss_stop: 0x24e6a10,
      _end: 0x2500000,
    },
    hypPercpuSize: 0x2b40,
    percpuOffsets: {
      kvm_hyp_vector: 0xe50,
      kvm_init_params: 0x1a80,
      kvm_host_data: 0x0,
    },
  },
  switchSequence: "v6.12",
  // kvm_arm_init() (arch/arm64/kvm/arm.c) in protected nVHE mode, then
  // finalize_pkvm() (arch/arm64/kvm/pkvm.c, device_initcall_sync).
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
        { call: "__kvm_get_mdcr_el2", from: "kvm_arm_init_debug" },
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
      // A GICv2: vgic_v2_probe() refuses protected mode (-ENXIO) and
      // init_subsystems() goes on without a vgic.
      fn: "init_subsystems → kvm_vgic_hyp_init → vgic_v3_probe",
      on: "boot-cpu",
      when: "gicv3",
      sets: "vgic-present",
      calls: [{ call: "__vgic_v3_get_gic_config", from: "vgic_v3_probe" }],
    },
    {
      // enable_virt_at_load: cpuhp_setup_state() runs kvm_online_cpu() on
      // each online CPU in turn, waiting for each; every CPU is initialised
      // by now, so cpu_hyp_init() does nothing (and kvm_vgic_cpu_up() and
      // kvm_timer_cpu_up() only enable per-CPU interrupts).
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
