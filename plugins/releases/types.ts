/**
 * The shape of a kernel release descriptor: what one Linux release does in
 * the pKVM boot, as data. Capability plugins read the facts they need from
 * it (`release.reserve`, `release.buddy`, `release.pgtable`, ...) and never
 * compare release names; where two releases share a behaviour they share its
 * value and the code that acts on it.
 *
 * Every fact names the kernel function it comes from. The values of each
 * release are in its own file (`v5_13.ts`, `v6_1.ts`, `v6_12.ts`, `v7_2.ts`),
 * read from that release's source (Debian's `linux-source-*` package for the
 * three releases checked against a real kernel).
 *
 * @module
 */

import type { HostBootPhase } from "./host_boot.ts";

/** A pool term of `divide_memory_pool()`, in carving order. */
export type PoolTermName =
  | "selftest"
  | "vmemmap"
  | "vm_table"
  | "hyp_s1"
  | "host_s2"
  | "host_s2_mem"
  | "host_s2_dev"
  | "ffa_proxy";

/** `kvm_hyp_reserve()` and the `kvm_pkvm.h` sizing helpers. */
export interface ReserveFacts {
  /**
   * Rounds of `__hyp_pgtable_max_pages()`: 4 while `KVM_PGTABLE_MAX_LEVELS`
   * is 4, 5 once the loop runs from `KVM_PGTABLE_FIRST_LEVEL` (-1, LPA2) to
   * `KVM_PGTABLE_LAST_LEVEL`.
   */
  readonly pgtableLevels: 4 | 5;
  /** `sizeof(struct hyp_page)`. */
  readonly hypPageBytes: number;
  /**
   * How the vmemmap is sized: `pool` is the fixed point over the pool's own
   * pages (each vmemmap page needs an entry and table pages); `memory` is
   * `hyp_vmemmap_pages()` over every memblock region.
   */
  readonly vmemmap: "pool" | "memory";
  /**
   * `host_s2`: one `host_s2_pgtable_pages()` term (memory + 16 + 1 GiB of
   * MMIO); `split`: v5.13's `host_s2_mem` and `host_s2_dev` terms.
   */
  readonly hostS2: "split" | "combined";
  /** `hyp_vm_table_pages()`: 0 before the VM table existed. */
  readonly vmTablePages: number;
  /** `hyp_ffa_proxy_pages()`: 0 before the FF-A proxy existed. */
  readonly ffaProxyPages: number;
  /** `pkvm_selftest_pages()` as built (0 without `CONFIG_NVHE_EL2_DEBUG`). */
  readonly selftestPages: number;
  /**
   * How the pool is carved: `find_in_range` (v5.13:
   * `memblock_find_in_range(0, memblock_end_of_DRAM())` then
   * `memblock_reserve`) or `phys_alloc` (`memblock_phys_alloc`); both search
   * top-down, the first at PMD alignment, then at page alignment.
   */
  readonly carve: "find_in_range" | "phys_alloc";
  /** `register_memblock_regions()` sorts `hyp_memory[]` by base. */
  readonly sortRegions: boolean;
  /** `divide_memory_pool()`: the terms in carving order. */
  readonly poolOrder: readonly PoolTermName[];
}

/** `struct hyp_page` and `hyp_pool` (nvhe/memory.h, gfp.h, page_alloc.c). */
export interface BuddyFacts {
  /** `sizeof(struct hyp_page)`. */
  readonly size: number;
  /** Width of `refcount` in bytes. */
  readonly refcountBytes: 2 | 4;
  /** Width of `order` in bytes. */
  readonly orderBytes: 1 | 2 | 4;
  /** Byte offset of `order`. */
  readonly orderOffset: number;
  /** `HYP_NO_ORDER` as stored. */
  readonly noOrder: number;
  /**
   * Where a free block's list node lives: in the vmemmap entry (v5.13's
   * `struct hyp_page` has `node` and `pool`), or in the first 16 bytes of
   * the free page itself.
   */
  readonly listNode: "hyp_page" | "free_page";
  /** The `MAX_ORDER` / `MAX_PAGE_ORDER` cap on `max_order`. */
  readonly maxOrderCap: number;
  /** `get_order((nr_pages + 1) << PAGE_SHIFT)` (6.1) instead of `get_order(nr_pages << PAGE_SHIFT)`. */
  readonly maxOrderPlusOne: boolean;
  /** Valid orders are `<= max_order` (else `< max_order`). */
  readonly inclusiveMaxOrder: boolean;
  /**
   * A page outside `[range_start, range_end)` freed into the pool: `none`
   * (no such path), `skip-coalesce` (queued at its order), `order-0`
   * (queued at order 0, its order field untrusted).
   */
  readonly externalPages: "none" | "skip-coalesce" | "order-0";
}

/** `enum kvm_pgtable_prot` as numbers. */
export interface ProtEncoding {
  /** Execute (`KVM_PGTABLE_PROT_X`, or `PX | UX` once split). */
  readonly X: number;
  /** Write. */
  readonly W: number;
  /** Read. */
  readonly R: number;
  /** Device attributes. */
  readonly DEVICE: number;
}

/** `kvm_pgtable_hyp_*` (arch/arm64/kvm/hyp/pgtable.c). */
export interface PgtableFacts {
  /**
   * Remapping a valid leaf: `warn-keep` (v5.13: WARN, keep the old entry,
   * succeed), or `sw-bits` (identical is a no-op, a difference only in the
   * software bits 58:55 is overwritten, anything else WARNs and fails at
   * level 3 or gets a table below).
   */
  readonly remap: "warn-keep" | "sw-bits";
  /** Table pages are refcounted (`get_page` per valid entry). */
  readonly refcounted: boolean;
  /** Leaves carry the prot's software bits 58:55. */
  readonly swBits: boolean;
  /** `MT_DEVICE_nGnRE`, the AttrIndx of device mappings. */
  readonly mtDeviceNGnRE: number;
  /** GP (bit 50) on executable leaves when BTI is on. */
  readonly gpWithBti: boolean;
  /** `enum kvm_pgtable_prot` as the release numbers it. */
  readonly prot: ProtEncoding;
  /**
   * The walker reworked around `struct kvm_pgtable_visit_ctx` (v6.2): it
   * re-reads an entry after TABLE_PRE as after LEAF, carries on past
   * -EAGAIN outside fault handling (`kvm_pgtable_walk_continue()`), and
   * `kvm_pgtable_walk_begin()` refuses a `KVM_PGTABLE_WALK_SHARED` walk of a
   * hyp table with -EPERM.
   */
  readonly visitCtxWalker: boolean;
  /** Where the software bits of a prot sit (bit 55 in every release so far). */
  readonly protSwShift: number;
  /**
   * What `hyp_set_prot_attr()` puts on a leaf without execute permission
   * under `ARM64_KVM_HVHE` (the EL2&0 regime, where descriptor bit 54 is
   * UXN and bit 53 PXN): `uxn` (6.12: `KVM_PTE_LEAF_ATTR_HI_S1_XN`, bit 54
   * only, so at EL2 — governed by PXN — such a page stays executable unless
   * SCTLR_EL2.WXN makes a writable one execute-never), or `pxn-uxn` (7.x:
   * PXN unless PX, UXN unless UX). Releases without hVHE say `uxn`, the
   * nVHE XN bit.
   */
  readonly hvheExec: "uxn" | "pxn-uxn";
  /**
   * `KVM_PGTABLE_FIRST_LEVEL`: −1 once the walker knows FEAT_LPA2's extra
   * level (49–52-bit inputs with 4 KiB pages), 0 before.
   */
  readonly firstLevel: -1 | 0;
}

/** The mapping steps of `recreate_hyp_mappings()`, in order. */
export type RecreateStep =
  | "idmap"
  | "vectors"
  | "vmemmap"
  | "hyp_text"
  | "hyp_data"
  | "kernel_rodata"
  | "hyp_rodata"
  | "hyp_bss"
  | "bss_tail"
  | "pool"
  | "percpu_and_stacks"
  | "host_sve"
  | "kernel_rodata_shared"
  | "bss_tail_shared"
  | "vgic_global_state_shared";

/** The steps of `__pkvm_init_finalise()` after the allocator handover. */
export type FinaliseStep =
  | "host_mappings"
  | "pgtable_refcnt"
  | "pcpu_fixmap"
  | "fixmap_and_fixblock"
  | "host_ownership"
  | "ffa_init"
  | "vm_table_init";

/** The hypervisor's side: `__pkvm_init`, setup.c and mm.c. */
export interface SetupFacts {
  /** `recreate_hyp_mappings()` steps in order. */
  readonly recreate: readonly RecreateStep[];
  /** `__pkvm_init_finalise()` steps after `hyp_pool_init` and the host stage-2. */
  readonly finalise: readonly FinaliseStep[];
  /**
   * The per-CPU stack: `linear` (v5.13: one page at its linear VA), or
   * `guarded` (a 2-page private range aligned to its size, the upper page
   * mapped, the lower left as a guard).
   */
  readonly stack: "linear" | "guarded";
  /**
   * `hyp_back_vmemmap()`: `pool` maps the pool's own vmemmap slice; `memory`
   * maps every region's slice, skipping a page already backed by the
   * previous region, and zeroes it.
   */
  readonly backVmemmap: "pool" | "memory";
  /**
   * `pkvm_alloc_private_va_range()` aligns the base to the order of the
   * size (6.1); later releases leave alignment to the callers that need it.
   */
  readonly privateVaAligned: boolean;
  /**
   * A private VA range asked for at a zero `__io_map_base` (before
   * `__pkvm_init`): `allowed` (v5.13 does not check), `enomem` (6.1
   * `pkvm_alloc_private_va_range()`), `einval` (6.2+
   * `__pkvm_alloc_private_va_range()`).
   */
  readonly privateVaAtZero: "allowed" | "enomem" | "einval";
  /**
   * Without Spectre-v3a, `hyp_map_vectors()` points `__hyp_bp_vect_base` at
   * `__bp_harden_hyp_vecs` (5.16 on); v5.13 leaves it NULL.
   */
  readonly bpVectBaseDefault: boolean;
  /**
   * How `__pkvm_init` calls `__pkvm_init_switch_pgd`: `params` (x0 = PA of
   * `kvm_nvhe_init_params`, x1 = continuation) until ea9d7c83d14e "KVM:
   * arm64: Fix __pkvm_init_switch_pgd call ABI" (v6.11), `registers` (pgd,
   * sp, fn) after.
   */
  readonly switchAbi: "params" | "registers";
  /** `__pkvm_init` takes `nr_cpus` (before 7.x: x3; 7.2 passes 4 arguments). */
  readonly initTakesNrCpus: boolean;
  /**
   * `__pkvm_prot_finalize()` also sets HCR_EL2.FWB on a CPU with
   * `ARM64_HAS_STAGE2_FWB` (7.x).
   */
  readonly protFinalizeFwb: boolean;
  /**
   * How the hypervisor marks the memory it owns in the host stage-2
   * (`finalize_host_mappings()` in 6.1, `fix_host_ownership()` from 6.2),
   * or null when it does not (v5.13's host issues `__pkvm_mark_hyp`):
   * `pte` is the invalid descriptor `host_stage2_set_owner_locked(phys,
   * PAGE_SIZE, PKVM_ID_HYP)` writes at level 3 (6.1/6.12:
   * `kvm_init_invalid_leaf_owner()`, the owner id 1 in bits 9:2; 7.x:
   * `KVM_HOST_INVALID_PTE_TYPE_DONATION` in bits 63:60 and the owner id in
   * bits 3:1); `hypText` says what happens to a page of `__hyp_text`
   * (`owned`: annotated like the rest; `read-only`: 7.x keeps it mapped
   * read-only for the host, to be inspected on a panic).
   */
  readonly hostOwner: { readonly pte: bigint; readonly hypText: "owned" | "read-only" } | null;
}

/** How the host kernel at EL1 builds its EL2 table and `kvm_nvhe_init_params`. */
export interface HostFacts {
  /** `kvm_nvhe_init_params` fields in order, 8 bytes each. */
  readonly initParams: readonly string[];
  /**
   * `hyp_va_bits`: `idmap` is `64 - idmap_t0sz` (the idmap's VA size, at
   * least VA_BITS); `max48` is `max(IDMAP_VA_BITS = 48, vabits_actual)`.
   */
  readonly hypVaBits: "idmap" | "max48";
  /**
   * In protected mode on a VHE CPU, the hypervisor runs in the EL2&0 regime
   * (`ARM64_KVM_HVHE`, hVHE, from 6.6); before, always nVHE.
   */
  readonly hvheOnVhe: boolean;
  /** `kvm_compute_layout()` ORs a random tag (`CONFIG_RANDOMIZE_BASE=y`). */
  readonly randomTag: boolean;
  /**
   * Which VA size `kvm_compute_layout()` takes the hyp linear map's top bit
   * and the random tag's width from: `vabits_actual` (up to 6.x), or
   * `kvm_hyp_va_bits()` (7.x, which can be wider when VA_BITS < 48).
   */
  readonly tagBits: "vabits_actual" | "hyp_va_bits";
  /**
   * Where the host keeps each CPU's SVE state for protected mode
   * (`init_pkvm_host_sve_state()`, 6.12+): the pointer's byte offset in
   * `struct kvm_host_data` (`sve_state` in 6.12, `sve_regs` in 7.x, from
   * the release's DWARF), and the bytes that precede the registers in the
   * buffer (`sizeof(struct cpu_sve_state)` in 6.12's
   * `pkvm_host_sve_state_size()`, none in 7.x), or null before 6.12.
   */
  readonly sveState: { readonly field: number; readonly header: number } | null;
  /**
   * The host-built table maps these kernel sections (`init_hyp_mode()`),
   * in order, beside the stacks, per-CPU regions and the pool.
   */
  readonly hostSections:
    readonly ("hyp_text" | "hyp_data" | "hyp_rodata" | "kernel_rodata" | "hyp_bss" | "bss_tail")[];
  /**
   * How `__init_el2_debug` (asm/el2_setup.h, run by head.S at EL2) decides
   * there is a PMU before it copies PMCR_EL0.N into MDCR_EL2.HPMN: `signed`
   * (`sbfx` of ID_AA64DFR0_EL1.PMUVer, `b.lt` 1: 0 and 8..15 skip, v5.13 and
   * 6.1) or `ni-or-impdef` (only 0 and 0xf skip, 6.12 and 7.2).
   */
  readonly el2PmuCheck: "signed" | "ni-or-impdef";
  /**
   * Whether head.S lifts the SME traps at EL2 on a CPU with SME
   * (CPTR_EL2.TSM cleared, SCTLR_EL2.EnTP2 set: `__finalise_el2` in 6.1's
   * hyp-stub.S, `finalise_el2_state` in 6.12 and 7.2). v5.13 predates the
   * kernel's SME support (5.19) and leaves them.
   */
  readonly el2SmeTraps: "lift" | "keep";
  /**
   * The Spectre-BHB mitigation's CPU lists (`proton-pack.c`, 5.17 on), or
   * null for a release without it (v5.13). On a CPU it mitigates with
   * ClearBHB or the branchy loop, `spectre_bhb_enable_mitigation()` moves
   * `bp_hardening_data.slot` to HYP_VECTOR_INDIRECT, the slot the host
   * passes to `__pkvm_cpu_set_vector`.
   */
  readonly spectreBhb: SpectreBhbFacts | null;
}

/** A CPU by its MIDR_EL1 implementer and part number (any variant, revision). */
export interface MidrPart {
  /** MIDR_EL1.Implementer (0x41 Arm). */
  readonly implementer: number;
  /** MIDR_EL1.PartNum. */
  readonly partNum: number;
  /** The kernel's name for it (`MIDR_NEOVERSE_N1`, as words). */
  readonly name: string;
}

/** The CPU lists of the Spectre-BHB mitigation (`proton-pack.c`). */
export interface SpectreBhbFacts {
  /** `is_spectre_bhb_safe()`'s list: never affected. */
  readonly safe: readonly MidrPart[];
  /** `spectre_bhb_loop_affected()`: the branchy loop's iterations per CPU, largest first. */
  readonly loop: readonly { readonly k: number; readonly parts: readonly MidrPart[] }[];
  /**
   * `spectre_v2_get_cpu_hw_mitigation_state()`'s safe list (CPUs without
   * ID_AA64PFR0_EL1.CSV2 that are not affected by Spectre-v2); with
   * Spectre-v2 unmitigated, BHB is not mitigated either.
   */
  readonly v2Safe: readonly MidrPart[];
}

/** `__kvm_host_smccc_func` and how the host vector dispatches it. */
export interface HypercallFacts {
  /** Function numbers (`__KVM_HOST_SMCCC_FUNC_*`). */
  readonly ids: Readonly<Record<string, number>>;
  /**
   * Once `kvm_protected_mode_initialized` is set, `handle_host_hcall()`
   * refuses ids below this one (`__pkvm_prot_finalize`, or 7.x's
   * `__KVM_HOST_SMCCC_FUNC_MIN_PKVM`, its value), or null when the release
   * has no such gate (v5.13).
   */
  readonly minAfterInit: string | null;
  /**
   * Before `kvm_protected_mode_initialized`, ids from this one up are refused
   * (7.x's `__KVM_HOST_SMCCC_FUNC_PKVM_ONLY`: the first pKVM-only call), or
   * null when every id is accepted before finalisation.
   */
  readonly maxBeforeInit: string | null;
  /** `HVC_STUB_HCALL_NR` (asm/virt.h): stub calls are the function ids below it. */
  readonly stubHcallNr: number;
  /**
   * The hyp-stub calls by their asm/virt.h names (`HVC_SET_VECTORS`,
   * `HVC_RESET_VECTORS`, ...): what x0 holds when `__hyp_set_vectors` or
   * `__hyp_reset_vectors` (arch/arm64/kernel/hyp-stub.S) issue `hvc #0`.
   */
  readonly stubs: Readonly<Record<string, number>>;
  /**
   * What the host vector does with a stub HVC (x0 < `HVC_STUB_HCALL_NR`)
   * once `__pkvm_init` has run: `forward` to `__kvm_handle_stub_hvc`
   * (v5.13), or `reject` ("KVM: arm64: Reject stub hypercalls after pKVM
   * has been initialised", v5.16).
   */
  readonly stubAfterInit: "forward" | "reject";
  /**
   * What `__kvm_handle_stub_hvc`'s reset path (hyp-init.S) writes to HCR_EL2
   * in protected mode (`HCR_HOST_NVHE_FLAGS`, from "kvm: arm64: Trap host
   * SMCs in protected mode", v5.11), or null when it leaves HCR_EL2 alone
   * (7.2).
   */
  readonly stubResetHcr: bigint | null;
  /** The SMCCC hint bit (bit 16) is masked off the function id. */
  readonly masksHint: boolean;
}

/** Init values of the EL2 system registers. */
export interface SysregFacts {
  /** `INIT_SCTLR_EL2_MMU_ON`. */
  readonly sctlrMmuOn: bigint;
  /** `INIT_SCTLR_EL2_MMU_OFF` (`SCTLR_EL2_RES1 | ENDIAN_SET_EL2`). */
  readonly sctlrMmuOff: bigint;
  /** `HCR_HOST_NVHE_PROTECTED_FLAGS`. */
  readonly hcrProtected: bigint;
  /** The host's MAIR_EL1, copied into `params->mair_el2`. */
  readonly mair: bigint;
  /** `cpu_prepare_hyp_mode()` adds `HCR_TID5` when the system has no MTE (7.x). */
  readonly hcrTid5WithoutMte: boolean;
}

/**
 * A kernel release's built-in image layout: where Debian's build of it puts
 * the symbols the boot uses (boot.ts places the image at RAM base + 2 MiB,
 * as QEMU's `-kernel` loader does; the oracle's predict reads the real
 * System.map instead).
 */
export interface ImageFacts {
  /**
   * Bytes from `_text` of each symbol the boot uses, read from the release's
   * System.map (`__kvm_nvhe_`-prefixed names for the nVHE objects).
   */
  readonly symbols: Readonly<Record<string, number>>;
  /** Bytes of the nVHE per-CPU template (`__per_cpu_end - __per_cpu_start` at EL2). */
  readonly hypPercpuSize: number;
  /** Offsets inside the nVHE per-CPU template. */
  readonly percpuOffsets: Readonly<Record<string, number>>;
}

/** The kernel configuration the release was built with (Debian's arm64 config). */
export interface ConfigFacts {
  /** `CONFIG_ARM64_VA_BITS`: 48, or 52 (with LPA2 on 4 KiB pages; 48 on CPUs without it). */
  readonly vaBits: 48 | 52;
  /** `CONFIG_ARM64_PA_BITS`: the largest PA range the kernel uses. */
  readonly paBits: 48 | 52;
  /** `CONFIG_NR_CPUS`. */
  readonly nrCpus: number;
  /** `CONFIG_ARM64_PTR_AUTH_KERNEL`: EL2 enables PAuth keys when the CPU has them. */
  readonly ptrAuthKernel: boolean;
  /** `CONFIG_ARM64_BTI_KERNEL`. */
  readonly btiKernel: boolean;
}

/**
 * What a release does differently when it runs the hypervisor in hVHE
 * (`ARM64_KVM_HVHE`: protected mode on a CPU with FEAT_VHE, from 6.6):
 * EL2 runs in the EL2&0 regime, HCR_EL2.E2H = 1 with TGE = 0, and TCR_EL2,
 * the descriptors' AP bits and CPTR_EL2 take their EL1 layouts.
 */
export interface HvheFacts {
  /**
   * The fixed part of the host's TCR_EL1 as `__cpu_setup` (mm/proc.S)
   * writes it: `TCR_CACHE_FLAGS | TCR_SHARED | TCR_TG_FLAGS |
   * TCR_KASLR_FLAGS | TCR_ASID16 | TCR_TBI0 | TCR_A1 | TCR_KASAN_SW_FLAGS |
   * TCR_MTE_FLAGS` with Debian's configuration. T0SZ, T1SZ, IPS, DS, HA,
   * HD and E0PD1 follow the CPU and are added by the host model.
   */
  readonly tcrEl1: bigint;
  /**
   * How `cpu_prepare_hyp_mode()` turns the host's TCR_EL1 into
   * `params->tcr_el2` under hVHE: `el2-ps-ds` (6.12: OR in EPD1, replace
   * T0SZ, then — written for the nVHE layout — put IPS into bits 18:16,
   * `TCR_EL2_PS_MASK`, which are T1SZ's low bits in the EL1 layout, and OR
   * in `TCR_EL2_DS`, bit 32, which is IPS bit 0 there, under LPA2); or
   * `el1` (7.x: clear HD, HA, A1 and T0SZ, OR in EPD1, set T0SZ).
   */
  readonly tcr: "el2-ps-ds" | "el1";
}

/** One kernel release, as data. */
export interface KernelRelease {
  /** Profile name: `v5.13`, `v6.1`, `v6.12`, `v7.2`. */
  readonly name: string;
  /** The kernel series (`5.13`, `6.1`, ...). */
  readonly kernel: string;
  /** What the descriptor was read from. */
  readonly source: string;
  /** Build configuration. */
  readonly config: ConfigFacts;
  /** Checked against the real kernel by the oracle. */
  readonly validated: boolean;
  /** `kvm_hyp_reserve()` sizing. */
  readonly reserve: ReserveFacts;
  /** `struct hyp_page` and the buddy. */
  readonly buddy: BuddyFacts;
  /** `hyp_early_alloc_mm_ops` has no-op `get_page`/`put_page` (v5.17+). */
  readonly earlyGetPutNoops: boolean;
  /** kvm_pgtable. */
  readonly pgtable: PgtableFacts;
  /** EL2 setup. */
  readonly setup: SetupFacts;
  /** The host side. */
  readonly host: HostFacts;
  /** Hypercalls. */
  readonly hypercalls: HypercallFacts;
  /** EL2 register init values. */
  readonly sysregs: SysregFacts;
  /** hVHE, for a release with `host.hvheOnVhe`; absent otherwise. */
  readonly hvhe?: HvheFacts;
  /** The built-in image layout (none: a synthetic layout, for v5.13). */
  readonly image?: ImageFacts;
  /** The built-in switch sequence (`__pkvm_init_switch_pgd` as shipped). */
  readonly switchSequence: string;
  /**
   * Every hypercall and hyp-stub call the host issues from the start of
   * `kvm_arm_init()` to the end of `finalize_pkvm()`, phase by phase, in the
   * kernel's order (see `host_boot.ts`).
   */
  readonly hostBoot: readonly HostBootPhase[];
}
