/**
 * The CPU capabilities a release derives from the CPU model before KVM
 * starts, and which change what the pKVM boot does: whether the hypervisor
 * runs in hVHE (`ARM64_KVM_HVHE`), whether 52-bit VAs and LPA2 descriptors
 * are in use (`ARM64_HAS_VA52` / `ARM64_HAS_LPA2`, `vabits_actual`), and the
 * bad combinations a user may ask for.
 *
 * @module
 */

import type { CpuModel } from "../../core/mod.ts";
import { type KernelRelease, release } from "../releases/mod.ts";

/** What the kernel decided for this machine. */
export interface KvmCpuCaps {
  /**
   * `ARM64_KVM_HVHE`: protected mode on a CPU with FEAT_VHE, in a release
   * that runs the hypervisor in the EL2&0 regime (6.6 and later: the early
   * ID-register override of `kvm-arm.mode=protected` sets
   * `arm64_sw.hvhe`, and `hvhe_possible()` matches).
   */
  readonly hvhe: boolean;
  /** `vabits_actual`: 52 with LPA2 on a 52-bit build, else the build's (or the asked) size. */
  readonly vaBits: number;
  /** `lpa2_is_enabled()` / `kvm_lpa2_is_enabled()`: FEAT_LPA2 descriptors at EL2 and in stage 2. */
  readonly lpa2: boolean;
}

/** A VA size the release and CPU model cannot give (exit 2 on the command line). */
export class VaBitsError extends RangeError {
  /**
   * Creates the error.
   * @param message What was asked and why it cannot be.
   */
  constructor(message: string) {
    super(message);
    this.name = "VaBitsError";
  }
}

/**
 * The capabilities of a release on a CPU model, as the kernel selects them:
 * hVHE when the release runs protected mode that way and the CPU has VHE;
 * `vabits_actual` = 52 when the build has `CONFIG_ARM64_VA_BITS=52` and the
 * CPU has FEAT_LPA2 (with 4 KiB pages 52 bits need LPA2), else 48; LPA2
 * descriptors exactly when the VA space is 52 bits.
 *
 * @param rel The release (or its name).
 * @param model The CPU model.
 * @param vaBits A VA size to force instead (39, 48 or 52), as `--va-bits` asks.
 * @returns The capabilities.
 * @throws {VaBitsError} 52 bits on a CPU without FEAT_LPA2 or with a
 *   release built for 48; a size the 4 KiB granule cannot give.
 * @throws {RangeError} A CPU model without EL2.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { CPU_CORTEX_A57, CPU_MAX, CPU_NEOVERSE_N1 } from "../../core/mod.ts";
 * import { kvmCpuCaps } from "./cpu_caps.ts";
 * assertEquals(kvmCpuCaps("v6.12", CPU_MAX), { hvhe: true, vaBits: 52, lpa2: true });
 * assertEquals(kvmCpuCaps("v6.12", CPU_NEOVERSE_N1), { hvhe: true, vaBits: 48, lpa2: false });
 * assertEquals(kvmCpuCaps("v6.1", CPU_MAX), { hvhe: false, vaBits: 48, lpa2: false });
 * assertEquals(kvmCpuCaps("v7.2", CPU_CORTEX_A57).hvhe, false);
 * assertThrows(() => kvmCpuCaps("v7.2", CPU_NEOVERSE_N1, 52), RangeError, "FEAT_LPA2");
 * ```
 */
export function kvmCpuCaps(
  rel: KernelRelease | string,
  model: CpuModel,
  vaBits?: number,
): KvmCpuCaps {
  const r = release(rel);
  if (!model.features.el2) {
    throw new RangeError(
      `Cannot run pKVM on ${model.name}: it has no EL2 (ID_AA64PFR0_EL1.EL2 = 0)`,
    );
  }
  const hvhe = r.host.hvheOnVhe && model.features.vhe;
  const va52 = r.config.vaBits === 52 && model.features.lpa2;
  if (vaBits === undefined) {
    return { hvhe, vaBits: va52 ? 52 : 48, lpa2: va52 };
  }
  if (vaBits !== 39 && vaBits !== 48 && vaBits !== 52) {
    throw new VaBitsError(
      `Cannot use VA_BITS = ${vaBits}: 4 KiB pages give 39 or 48, or 52 with FEAT_LPA2`,
    );
  }
  if (vaBits === 52) {
    if (!model.features.lpa2) {
      throw new VaBitsError(
        `Cannot use VA_BITS = 52 on ${model.name}: 52-bit VAs with 4 KiB pages need FEAT_LPA2, which it lacks`,
      );
    }
    if (r.config.vaBits !== 52) {
      throw new VaBitsError(
        `Cannot use VA_BITS = 52 with ${r.name}: that kernel is built with CONFIG_ARM64_VA_BITS=${r.config.vaBits}`,
      );
    }
  }
  return { hvhe, vaBits, lpa2: vaBits === 52 };
}
