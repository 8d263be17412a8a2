/**
 * Runs a release's `hostBoot` (its phases of host hypercalls and hyp-stub
 * calls, as data) on the simulated machine: which CPUs run each phase,
 * which calls their conditions allow, the arguments each call carries, and
 * what the host does with each result.
 *
 * Conditions are evaluated on the machine and on what the boot did so far:
 * the issuing CPU's model (ID_AA64PFR1_EL1.SSBS, the Spectre-v3a MIDRs), the
 * board's GIC version, the kernel command line, the per-CPU "hyp
 * initialised" flags and `vgic_present`.
 *
 * @module
 */

import {
  type Cpu,
  hex,
  type HypercallRecord,
  kvmPgtableProt,
  type Machine,
} from "../../core/mod.ts";
import type {
  HostBootArgs,
  HostBootCall,
  HostBootCondition,
  HostBootPhase,
  KernelRelease,
} from "../releases/mod.ts";
import { BootStepError, type Host } from "./host.ts";
import { asSigned } from "./hypercall_ids.ts";
import { BP_HARDEN_HYP_VECS_SZ } from "./hyp_mm.ts";
import { getOrder } from "./kernel_image.ts";
import { hypVectorSlot } from "./spectre.ts";

const PAGE = 4096;

/**
 * QEMU 7.2's `-M virt` GICv2 virtual interface control frame (`base_memmap`
 * in hw/arm/virt.c: VIRT_GIC_HYP), the `info->vctrl` a GICv2 host maps.
 */
export const VIRT_GIC_HYP = { base: 0x0803_0000, size: 0x1_0000 } as const;

export { HYP_VECTOR_DIRECT, HYP_VECTOR_INDIRECT } from "./spectre.ts";

/** Options of the host's boot. */
export interface HostBootOptions {
  /**
   * `ARM64_SPECTRE_V3A`; default: the CPU model's MIDR (a Cortex-A57 or A72).
   */
  spectreV3a?: boolean;
  /**
   * The kernel command line turns the Spectre-v4 mitigation off
   * (`mitigations=off` or `ssbd=force-off`).
   * @default false
   */
  mitigationsOff?: boolean;
}

/** One call the boot is about to issue. */
export interface HostBootStep {
  /** Its phase. */
  readonly phase: HostBootPhase;
  /** The call. */
  readonly call: HostBootCall;
  /** The issuing CPU. */
  readonly cpu: number;
  /** In a `perPossibleCpu` phase: the CPU whose ranges the call carries. */
  readonly loopCpu?: number;
}

/** What the boot yields: the next call, or the end of a phase. */
export type HostBootEvent =
  | { readonly kind: "call"; readonly step: HostBootStep }
  | { readonly kind: "phase-end"; readonly phase: HostBootPhase };

/**
 * The host's boot, phase by phase: {@link HostBoot.events} yields each call
 * once its conditions hold (so `vgic_present` and the "initialised" flags
 * set by earlier phases count), and {@link HostBoot.issue} issues it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { V6_1 } from "../releases/mod.ts";
 * import { bootCallNames } from "./host_boot.ts";
 * assertEquals(V6_1.hostBoot[0]!.calls.map((c) => c.call).slice(0, 2), [
 *   "__hyp_set_vectors",
 *   "__kvm_hyp_init",
 * ]);
 * assertEquals(bootCallNames(V6_1).includes("__vgic_v3_get_gic_config"), true);
 * ```
 */
export class HostBoot {
  /** The host kernel. */
  readonly host: Host;
  /** The release. */
  readonly release: KernelRelease;
  /** Per CPU: `kvm_arm_hardware_enabled` / `kvm_hyp_initialized`. */
  readonly initialised: boolean[];
  /** `vgic_present`. */
  vgicPresent = false;
  /** `kvm_protected_mode_initialized`. */
  protectedModeInitialized = false;
  readonly #machine: Machine;
  readonly #options: HostBootOptions;

  /**
   * Prepares the boot of a host.
   * @param host The host kernel (its release gives the phases).
   * @param options Command line and overrides.
   */
  constructor(host: Host, options: HostBootOptions = {}) {
    this.host = host;
    this.release = host.release;
    this.#machine = host.machine;
    this.#options = options;
    this.initialised = this.#machine.cpus.map(() => false);
  }

  /**
   * Whether a condition holds for a CPU now.
   * @param cond The condition.
   * @param cpuId The issuing CPU.
   * @returns True when it holds.
   */
  holds(cond: HostBootCondition, cpuId: number): boolean {
    const cpu = this.#machine.cpu(cpuId);
    switch (cond) {
      case "ssbs-unmitigated":
        // this_cpu_has_cap(ARM64_SSBS): ID_AA64PFR1_EL1.SSBS >= 1. With the
        // mitigation on, such a CPU is SPECTRE_MITIGATED, never VULNERABLE.
        return cpu.model.features.ssbs >= 1 && (this.#options.mitigationsOff ?? false);
      case "spectre-v3a":
        return this.#spectreV3a(cpu);
      case "gicv3":
        return cpu.model.gicVersion >= 3;
      case "gicv2":
        return cpu.model.gicVersion === 2;
      case "vgic-v3-present":
        return this.vgicPresent && cpu.model.gicVersion >= 3;
    }
  }

  /**
   * The boot's calls, in the kernel's order, evaluated as they come.
   * @param from The first phase (by index) to run.
   * @yields Each call, and the end of each phase.
   * @throws {BootStepError} A phase whose condition fails where the kernel fails.
   */
  *events(from = 0): Generator<HostBootEvent, void, void> {
    const phases = this.release.hostBoot;
    const nr = this.#machine.cpus.length;
    const boot = 0;
    for (let p = from; p < phases.length; p++) {
      const phase = phases[p]!;
      if (phase.when !== undefined && !this.holds(phase.when, boot)) {
        if (phase.otherwise !== undefined) throw new BootStepError(7, phase.otherwise);
        yield { kind: "phase-end", phase };
        continue;
      }
      const cpus = phase.on === "boot-cpu" ? [boot] : [...Array(nr).keys()];
      const ran: number[] = [];
      for (const cpu of cpus) {
        if (phase.unlessInitialised && this.initialised[cpu]) continue;
        ran.push(cpu);
        const loop = phase.perPossibleCpu ? [...Array(nr).keys()] : [undefined];
        for (const loopCpu of loop) {
          for (const call of phase.calls) {
            if (call.when !== undefined && !this.holds(call.when, cpu)) continue;
            yield {
              kind: "call",
              step: loopCpu === undefined ? { phase, call, cpu } : { phase, call, cpu, loopCpu },
            };
          }
        }
      }
      if (phase.sets === "initialised") { for (const cpu of ran) this.initialised[cpu] = true; }
      else if (phase.sets === "vgic-present") this.vgicPresent = true;
      else if (phase.sets === "protected-mode-initialized") {
        this.protectedModeInitialized = true;
        if (this.host.hyp !== undefined) this.host.hyp.protectedModeInitialized = true;
      }
      yield { kind: "phase-end", phase };
    }
  }

  /**
   * Issues one call (anything but `__pkvm_init`, whose arguments and result
   * the boot's steps 3 to 5 handle) with the arguments the kernel passes,
   * and checks the result as its caller does.
   *
   * @param step The call.
   * @param bootStep The boot step a failure belongs to.
   * @returns The record.
   * @throws {BootStepError} When the caller fails the init on this result.
   */
  issue(step: HostBootStep, bootStep: number): HypercallRecord {
    const host = this.host;
    const { call, cpu } = step;
    const from = call.from;
    switch (call.call) {
      case "__hyp_set_vectors":
        // __hyp_set_vectors(kvm_get_idmap_vector()): x1 = the idmap PA of __kvm_hyp_init.
        return host.stubCall(cpu, "HVC_SET_VECTORS", [BigInt(host.image.symbols.__kvm_hyp_init!)], {
          name: call.call,
          caller: from,
        });
      case "__hyp_reset_vectors":
        return host.stubCall(cpu, "HVC_RESET_VECTORS", [], { name: call.call, caller: from });
      case "__kvm_hyp_init": {
        const rec = host.hypercall("__kvm_hyp_init", [host.initParamsPa(cpu)], cpu, from);
        // hyp_install_host_vector() only WARNs; a CPU not on KVM's vectors
        // cannot take the rest of the boot, so hyplab stops here.
        if (rec.x0 !== "0x0") {
          throw new BootStepError(bootStep, `__kvm_hyp_init on CPU ${cpu} returned x0 = ${rec.x0}`);
        }
        return rec;
      }
      case "__pkvm_init":
        throw new RangeError("__pkvm_init is issued by the boot's steps 3 to 5, not here");
      default: {
        const rec = host.hypercall(call.call, this.args(step), cpu, from);
        this.#check(step, rec, bootStep);
        return rec;
      }
    }
  }

  /**
   * The arguments (x1..) the kernel passes with a call.
   * @param step The call.
   * @returns The arguments.
   */
  args(step: HostBootStep): bigint[] {
    const host = this.host;
    const { call, cpu } = step;
    if (call.call === "__pkvm_cpu_set_vector") return [BigInt(this.vectorSlot(cpu))];
    if (call.args === undefined) return [];
    const s = host.image.symbols;
    const prot = kvmPgtableProt(this.release.pgtable.prot);
    switch (call.args) {
      case "bp_harden_hyp_vecs":
        return [
          BigInt(s.__bp_harden_hyp_vecs!),
          BigInt(BP_HARDEN_HYP_VECS_SZ),
          BigInt(prot.PAGE_HYP_EXEC),
        ];
      case "gich":
        return [BigInt(VIRT_GIC_HYP.base), BigInt(VIRT_GIC_HYP.size), BigInt(prot.PAGE_HYP_DEVICE)];
      default: {
        const [start, end] = this.markRange(call.args, step.loopCpu ?? cpu);
        return [BigInt(start), BigInt(end)];
      }
    }
  }

  /**
   * `bp_hardening_data.slot` of a CPU, which `cpu_set_hyp_vector()` passes
   * to `__pkvm_cpu_set_vector`: HYP_VECTOR_INDIRECT on a Spectre-v3a CPU
   * (spectre_v3a_enable_mitigation(), in every release; from 5.16 the hyp
   * maps the indirect vectors itself) or where the Spectre-BHB mitigation
   * (5.17 on) uses ClearBHB or the branchy loop, e.g. on a Neoverse N1
   * (`spectre_bhb_enable_mitigation()`, {@link hypVectorSlot}), else
   * HYP_VECTOR_DIRECT. `mitigationsOff` stands for `mitigations=off` here,
   * which turns the BHB mitigation off too.
   *
   * Not modelled: the Spectre-v2 and BHB firmware slots need SMCCC 1.1
   * workarounds, which QEMU's built-in PSCI does not offer (so they never
   * apply here).
   *
   * @param cpuId The CPU.
   * @returns The slot.
   */
  vectorSlot(cpuId: number): number {
    const cpu = this.#machine.cpu(cpuId);
    return hypVectorSlot(
      this.release,
      cpu.model,
      this.#spectreV3a(cpu),
      this.#options.mitigationsOff ?? false,
    );
  }

  /**
   * A `__pkvm_mark_hyp` range, half-open, as PAs.
   * @param what Which range.
   * @param cpu The CPU of a per-CPU range.
   * @returns `[start, end)`.
   */
  markRange(what: HostBootArgs, cpu: number): [number, number] {
    const host = this.host;
    const s = host.image.symbols;
    switch (what) {
      case "__hyp_idmap_text":
      case "__hyp_text":
      case "__hyp_rodata":
      case "__hyp_bss":
        return [s[`${what}_start`]!, s[`${what}_end`]!];
      case "hyp_mem": {
        const r = host.reservation!;
        return [r.base, r.base + r.size];
      }
      case "hyp_percpu": {
        const base = host.percpuBase[cpu]!;
        return [base, base + PAGE * 2 ** getOrder(host.image.percpuSize)];
      }
      case "hyp_stack":
        return [host.stackPages[cpu]!, host.stackPages[cpu]! + PAGE];
      default:
        throw new RangeError(`${what} is not a __pkvm_mark_hyp range`);
    }
  }

  #spectreV3a(cpu: Cpu): boolean {
    return this.#options.spectreV3a ?? cpu.model.features.spectreV3a;
  }

  /** kvm_call_hyp_nvhe()'s WARN on x0, then the caller's own check. */
  #check(step: HostBootStep, rec: HypercallRecord, bootStep: number): void {
    const { call } = step;
    if (rec.x0 !== "0x0") {
      this.#machine.trace.emit("log", {
        level: "warn",
        message: `WARNING: kvm_call_hyp_nvhe(${call.call}) on CPU ${step.cpu} from ${call.from}: ` +
          `x0 = ${rec.x0} (${rec.result})`,
      });
    }
    if (!call.fatal) return;
    const v = asSigned(BigInt(rec.x1));
    const failed = rec.x0 !== "0x0" ||
      (call.call === "__pkvm_create_private_mapping"
        ? v === 0n || (v < 0n && v >= -4095n) // IS_ERR_OR_NULL()
        : v !== 0n);
    if (failed) {
      const what = call.args === undefined
        ? call.call
        : `${call.call}(${call.args}${step.loopCpu === undefined ? "" : ` cpu${step.loopCpu}`})`;
      throw new BootStepError(
        bootStep,
        `${call.from}: ${what} on CPU ${step.cpu} returned ${rec.result}` +
          (call.call === "__pkvm_mark_hyp"
            ? ` for [${hex(this.args(step)[0]!)}, ${hex(this.args(step)[1]!)})`
            : ""),
      );
    }
  }
}

/**
 * Every call name a release's boot can issue, in first-appearance order.
 *
 * @param rel The release.
 * @returns The names.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { V7_2 } from "../releases/mod.ts";
 * import { bootCallNames } from "./host_boot.ts";
 * assertEquals(bootCallNames(V7_2).includes("__kvm_get_mdcr_el2"), false);
 * ```
 */
export function bootCallNames(rel: KernelRelease): string[] {
  const out: string[] = [];
  for (const p of rel.hostBoot) {
    for (const c of p.calls) if (!out.includes(c.call)) out.push(c.call);
  }
  return out;
}
