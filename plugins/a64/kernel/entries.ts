/**
 * How the kernel enters the routines of arch/arm64/kvm/hyp/nvhe/hyp-init.S
 * that are called from outside the file: the state of the EL2 MMU at entry
 * and what the argument registers hold, with the caller that makes it so.
 * Routines the file itself calls or jumps to (`___kvm_hyp_init`,
 * `__kvm_hyp_init_cpu`, `__kvm_init_el2_state`, and `__kvm_handle_stub_hvc`
 * from `__do_hyp_init`) are entered in the state their callers reach them
 * in, found by checking the callers.
 *
 * @module
 */

import type { KernelEntry } from "./types.ts";

/**
 * The entries of hyp-init.S for a release whose `__pkvm_init_switch_pgd`
 * takes the given arguments.
 * @param switchAbi `params` (up to v6.10: x0 = PA of the init params, x1 =
 *   continuation) or `registers` (from ea9d7c83d14e, v6.11: x0 = pgd, x1 =
 *   stack, x2 = continuation).
 * @returns Routine name → entries.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hypInitEntries } from "./entries.ts";
 * assertEquals(hypInitEntries("registers").__kvm_hyp_init![0]!.mmu, "off");
 * ```
 */
export function hypInitEntries(
  switchAbi: "params" | "registers",
): Readonly<Record<string, readonly KernelEntry[]>> {
  return {
    __kvm_hyp_init: [{
      mmu: "off",
      offset: 0x400,
      fromEl1: true,
      args: { 0: "value", 1: "params" },
      how:
        "host HVC #0 from EL1 with x0 = KVM_HOST_SMCCC_FUNC(__kvm_hyp_init), x1 = PA of the init params " +
        "(cpu_init_hyp_mode → hyp_install_host_vector, arch/arm64/kvm/arm.c), taken at offset 0x400 of these " +
        "vectors, which __hyp_set_vectors installed through the hyp stub: EL2 still runs with the stub's " +
        "SCTLR_EL2 = INIT_SCTLR_EL2_MMU_OFF",
    }],
    kvm_hyp_cpu_entry: [{
      mmu: "off",
      args: { 0: "params" },
      how:
        "PSCI CPU_ON entry point: the host's CPU_ON is relayed to firmware with __hyp_pa(kvm_hyp_cpu_entry) " +
        "(psci_cpu_on, arch/arm64/kvm/hyp/nvhe/psci-relay.c), and firmware enters it at EL2 with the MMU off " +
        "(PSCI, DEN0022), x0 = PA of the init params",
    }],
    kvm_hyp_cpu_resume: [{
      mmu: "off",
      args: { 0: "params" },
      how: "PSCI CPU_SUSPEND / SYSTEM_SUSPEND resume point relayed by psci-relay.c with " +
        "__hyp_pa(kvm_hyp_cpu_resume): firmware enters it at EL2 with the MMU off, x0 = PA of the init params",
    }],
    __kvm_handle_stub_hvc: [{
      mmu: "on",
      args: { 0: "value", 1: "pa", 2: "value", 3: "value", 4: "value" },
      how: "host stub hypercall (HVC_SOFT_RESTART, HVC_RESET_VECTORS) forwarded by __host_hvc " +
        "(arch/arm64/kvm/hyp/nvhe/host.S) at its idmap address while the hypervisor runs on its own " +
        "tables (nVHE without protected mode; with kvm-arm.mode=protected __host_hvc refuses them)",
    }],
    __pkvm_init_switch_pgd: [{
      mmu: "on",
      args: switchAbi === "registers"
        ? { 0: "pgd", 1: "stack", 2: "fn" }
        : { 0: "params", 1: "fn" },
      how: switchAbi === "registers"
        ? "__pkvm_init (arch/arm64/kvm/hyp/nvhe/setup.c) calls it through __hyp_pa(__pkvm_init_switch_pgd) " +
          "on the host-built hyp tables: x0 = params->pgd_pa, x1 = params->stack_hyp_va, x2 = __pkvm_init_finalise"
        : "__pkvm_init (arch/arm64/kvm/hyp/nvhe/setup.c) calls it through __hyp_pa(__pkvm_init_switch_pgd) " +
          "on the host-built hyp tables: x0 = __hyp_pa(params), x1 = __pkvm_init_finalise",
    }],
  };
}
