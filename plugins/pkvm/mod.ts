/**
 * pKVM: the nVHE protected-mode boot end to end — a simulated kernel image,
 * the host side at EL1 (memblock carving, the EL1-built EL2 tables,
 * `__kvm_hyp_init`, the `__pkvm_init` hypercall, `free_hyp_pgds`), the hyp
 * side at EL2 (`handle_host_hcall`, `__pkvm_init`, `recreate_hyp_mappings`,
 * the switch sequence on the A64 executor, `__pkvm_init_finalise`), the
 * post-boot hypercalls, and the JSON boot report with its verification.
 *
 * `pkvm({ version })` provides the `PKVM` capability: `boot()` runs the six
 * steps, then the rest of the release's host boot (its `hostBoot` phases:
 * the other CPUs' `__hyp_reset_vectors`, `__hyp_set_vectors` and
 * `__kvm_hyp_init`, every CPU's `__pkvm_cpu_set_vector` and
 * `__kvm_get_mdcr_el2`, the vgic probe's `__vgic_v3_get_gic_config`,
 * v5.13's `__pkvm_mark_hyp`, `__pkvm_prot_finalize`) and verifies the
 * result; `prepare()` stops before `__pkvm_init`; `hypercall(name, args,
 * cpu)` issues `hvc #0` from EL1 like `kvm_call_hyp_nvhe`; `report()` gives
 * the JSON report. Hypercalls go through the machine's EL2 vectors, chosen
 * by VBAR_EL2 (hyp stub, idmap init vector, host vector), and EL2 loads and
 * stores go through the MMU and TLB, so a missing mapping faults as on
 * hardware (a `HypPanicError`, reported as a failed step).
 *
 * Where the kernel leaves a result undefined (a second `__pkvm_init`,
 * `nr_cpus` outside the machine, a pool that is not RAM,
 * `__pkvm_prot_finalize` before `__pkvm_init`) a guard answers
 * with an errno and changes nothing; the report's `notes` say so, and what
 * is not modelled (the host stage-2's contents).
 *
 * @example Boot the default machine with the v5.13 profile
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, PKVM } from "../../core/mod.ts";
 * import { profile } from "../profiles/mod.ts";
 * const m = createMachine({ cpus: 2, plugins: profile("v5.13") });
 * const report = m.get(PKVM).boot();
 * assertEquals(report.ok, true);
 * assertEquals(report.reserve.pages.total, 5199);
 * ```
 *
 * @module
 */

export {
  HYPERCALL_IDS_MAINLINE,
  HYPERCALL_IDS_V5_13,
  hypercallIds,
  hypercallName,
  KVM_HOST_SMCCC_BASE,
  SMCCC_RET_NOT_SUPPORTED,
  SMCCC_RET_SUCCESS,
  smcccFunctionId,
} from "./hypercall_ids.ts";
export { HypPanicError } from "./hyp_state.ts";
export { computeHypVaLayout, type HypVaLayout } from "./hyp_va_layout.ts";
export {
  type InitParamsField,
  initParamsFields,
  initParamsOffset,
  initParamsSize,
} from "./init_params.ts";
export {
  IMAGE_SYMBOL_SOURCES,
  type ImageSection,
  type KernelImage,
  kernelImageFromSystemMap,
  type KernelImageOptions,
  layoutKernelImage,
  NR_CPUS,
  PERCPU_SYMBOL_SOURCES,
} from "./kernel_image.ts";
export type { HostInputs } from "./host.ts";
export {
  hostHcrEl2,
  hostTcrEl1,
  hostTcrEl2,
  hostTcrEl2Hvhe,
  pkvmHostSveStateSize,
} from "./host_regs.ts";
export { type KvmCpuCaps, kvmCpuCaps, VaBitsError } from "./cpu_caps.ts";
export type { PkvmOptions } from "./pkvm_boot.ts";
export {
  HYP_VECTOR_DIRECT,
  HYP_VECTOR_INDIRECT,
  hypVectorSlot,
  type SpectreBhbChoice,
  spectreBhbChoice,
} from "./spectre.ts";
export * from "./plugin.ts";
