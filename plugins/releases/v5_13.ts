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
    attachSkipsOutOfRange: false,
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
    hostMapsVectorsAfterInit: true,
    bpVectBaseDefault: false,
    switchAbi: "params",
    initTakesNrCpus: true,
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
    randomTag: false,
    hostSections: ["hyp_text", "hyp_rodata", "kernel_rodata", "hyp_bss", "bss_tail"],
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
    stubAfterInit: "forward",
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
};
