/**
 * The host's side of a protected-mode boot as data: every hypercall and
 * hyp-stub call the kernel issues from the start of `kvm_arm_init()`
 * (`kvm_arch_init()` before 6.2) to the end of `finalize_pkvm()`
 * (`finalize_hyp_mode()` before 6.2), phase by phase, in the kernel's order.
 *
 * Each release lists its own boot in `hostBoot` (`v5_13.ts`, `v6_1.ts`,
 * ...), so two releases' boots compare by reading two arrays. A phase is
 * the body of one kernel function, run on the boot CPU or on every CPU; a
 * call names the hypercall (`__KVM_HOST_SMCCC_FUNC_*`) or the hyp-stub
 * wrapper (`__hyp_set_vectors`, `__hyp_reset_vectors` in
 * arch/arm64/kernel/hyp-stub.S), the function that issues it, and the
 * condition it depends on. Conditions are evaluated on the simulated
 * machine (its CPU model's ID registers, its GIC, the kernel command line)
 * and on what earlier phases did (the per-CPU "hyp initialised" flag,
 * `vgic_present`), never read from a constant.
 *
 * @module
 */

/**
 * What a call or a phase depends on.
 *
 * - `ssbs-unmitigated`: `this_cpu_has_cap(ARM64_SSBS) &&
 *   arm64_get_spectre_v4_state() == SPECTRE_VULNERABLE` (cpu_init_hyp_mode()):
 *   the CPU has FEAT_SSBS (ID_AA64PFR1_EL1.SSBS ≥ 1) and the command line
 *   turned the Spectre-v4 mitigation off (`mitigations=off`,
 *   `ssbd=force-off`); with the mitigation on, a CPU with SSBS is
 *   SPECTRE_MITIGATED (spectre_v4_enable_hw_mitigation()).
 * - `spectre-v3a`: `cpus_have_const_cap(ARM64_SPECTRE_V3A)` on an nVHE host:
 *   a Cortex-A57 or A72 MIDR (has_spectre_v3a()).
 * - `gicv3`: the host's GIC is a GICv3 (`gic_kvm_info->type == GIC_V3`;
 *   QEMU's `-M virt,gic-version=3` or `4`).
 * - `gicv2`: a GICv2 (`gic-version=2`).
 * - `vgic-v3-present`: `vgic_present` (set when an earlier vgic probe
 *   succeeded) with a GICv3, for which kvm_vgic_init_cpu_hardware() asks EL2
 *   to clear the list registers (a GICv2's are cleared through MMIO).
 */
export type HostBootCondition =
  | "ssbs-unmitigated"
  | "spectre-v3a"
  | "gicv3"
  | "gicv2"
  | "vgic-v3-present";

/**
 * The arguments of a call whose name does not say what they are.
 *
 * - `__hyp_idmap_text`, `__hyp_text`, `__hyp_rodata`, `__hyp_bss`: the
 *   section `[__pa_symbol(start), __pa_symbol(end))` (pkvm_mark_hyp_section()).
 * - `hyp_mem`: `[hyp_mem_base, hyp_mem_base + hyp_mem_size)`, the pool.
 * - `hyp_percpu`: the loop CPU's per-CPU pages,
 *   `PAGE_SIZE << nvhe_percpu_order()` from `kvm_arm_hyp_percpu_base[cpu]`.
 * - `hyp_stack`: the loop CPU's stack page, `kvm_arm_hyp_stack_page`.
 * - `bp_harden_hyp_vecs`: create_hyp_exec_mappings(__pa_symbol(
 *   __bp_harden_hyp_vecs), __BP_HARDEN_HYP_VECS_SZ), executable.
 * - `gich`: create_hyp_io_mappings() of the GICv2 virtual interface control
 *   frame (`info->vctrl`, QEMU virt's VIRT_GIC_HYP), device memory.
 */
export type HostBootArgs =
  | "__hyp_idmap_text"
  | "__hyp_text"
  | "__hyp_rodata"
  | "__hyp_bss"
  | "hyp_mem"
  | "hyp_percpu"
  | "hyp_stack"
  | "bp_harden_hyp_vecs"
  | "gich";

/** One hypercall or hyp-stub call the host issues. */
export interface HostBootCall {
  /**
   * The hypercall's `__KVM_HOST_SMCCC_FUNC_*` name (`__kvm_hyp_init`,
   * `__pkvm_init`, ...) or the hyp-stub wrapper (`__hyp_set_vectors`:
   * HVC_SET_VECTORS, `__hyp_reset_vectors`: HVC_RESET_VECTORS).
   */
  readonly call: string;
  /** The kernel function that issues it. */
  readonly from: string;
  /** Issued only when this holds on the issuing CPU. */
  readonly when?: HostBootCondition;
  /** What the arguments are, for calls whose name does not say. */
  readonly args?: HostBootArgs;
  /**
   * The caller fails the boot when the call fails (an errno in x1, or an
   * ERR_PTR or NULL address). Without it the result is used, or ignored,
   * beyond `kvm_call_hyp_nvhe()`'s WARN on an x0 other than
   * SMCCC_RET_SUCCESS.
   */
  readonly fatal?: boolean;
}

/** One phase: the calls of one kernel function, run on one or every CPU. */
export interface HostBootPhase {
  /** The kernel function whose body this is, with how it is reached. */
  readonly fn: string;
  /**
   * Where it runs. `boot-cpu`: on the CPU running kvm_arm_init() /
   * kvm_arch_init() (the init task; CPU 0 here), as do_pkvm_init() does with
   * preemption off. `each-cpu`: on every online CPU through on_each_cpu(),
   * which only guarantees that all have finished when it returns; hyplab
   * runs CPU 0, 1, ... n-1 in turn.
   */
  readonly on: "boot-cpu" | "each-cpu";
  /**
   * `for_each_possible_cpu()` on the boot CPU: the calls are issued from the
   * boot CPU once per CPU index, with that CPU's ranges.
   */
  readonly perPossibleCpu?: boolean;
  /**
   * Skip a CPU whose "hyp initialised" flag is set (`kvm_arm_hardware_enabled`
   * in _kvm_arch_hardware_enable(), `kvm_hyp_initialized` in cpu_hyp_init()).
   */
  readonly unlessInitialised?: boolean;
  /** The phase runs only when this holds (the vgic probe matching the GIC). */
  readonly when?: HostBootCondition;
  /**
   * When {@link HostBootPhase.when} does not hold, the init fails with this
   * reason instead of going on without the phase.
   */
  readonly otherwise?: string;
  /**
   * What the phase sets once its calls are done: the "hyp initialised" flag
   * on each CPU it ran on, `vgic_present`, or the
   * `kvm_protected_mode_initialized` static key (after which the hyp refuses
   * the early hypercalls, from 5.16).
   */
  readonly sets?: "initialised" | "vgic-present" | "protected-mode-initialized";
  /** The calls, in order, on each CPU the phase runs on. */
  readonly calls: readonly HostBootCall[];
}
