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

import type { KernelRelease } from "./types.ts";

/** Linux 6.1 (Debian 6.1.176-1). */
export const V6_1: KernelRelease = {
  name: "v6.1",
  kernel: "6.1",
  source: "Debian linux-source-6.1 6.1.176-1",
  validated: true,
  reserve: {
    pgtableLevels: 4,
    hypPageBytes: 4,
    vmemmap: "pool",
    hostS2: "combined",
    vmTablePages: 0,
    ffaProxyPages: 0,
    selftestPages: 0,
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
    prot: { X: 1, W: 2, R: 4, DEVICE: 8 },
    protSwShift: 55,
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
    initTakesNrCpus: true,
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
    randomTag: true,
    hostSections: ["hyp_text", "hyp_rodata", "kernel_rodata", "hyp_bss", "bss_tail"],
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
    stubAfterInit: "reject",
    masksHint: false,
  },
  sysregs: {
    // M|C|SA|I|IESB|WXN|ITFSB|RES1 (ENDIAN_SET_EL2 is 0 on little-endian).
    sctlrMmuOn: 0x20_30ed_183dn,
    // RW | API | APK | ATA | TSC.
    hcrProtected: (1n << 31n) | (1n << 41n) | (1n << 40n) | (1n << 56n) | (1n << 19n),
    // MAIR_EL1_SET: nGnRnE 0x00, nGnRE 0x04, Normal-NC 0x44, Normal 0xff, Normal-tagged 0xff
    // at indices 0..4 (proc.S); the host's MAIR_EL1, copied by cpu_prepare_hyp_mode().
    mair: 0x0000_0004_0044_ffffn,
  },
  switchSequence: "v6.1",
};
