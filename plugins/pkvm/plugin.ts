/**
 * The pKVM plugin: provides {@link PKVM}, the protected-mode boot built on
 * every other capability.
 *
 * @module
 */

import {
  A64_EXECUTOR,
  EARLY_ALLOCATOR,
  KVM_PGTABLE,
  MMU,
  PAGE_ALLOCATOR,
  PKVM,
  type Plugin,
  RESERVED_MEM,
  SWITCH_SEQUENCE,
  TLB,
} from "../../core/mod.ts";
import { release } from "../releases/mod.ts";
import { kvmCpuCaps } from "./cpu_caps.ts";
import { PkvmBoot, type PkvmOptions } from "./pkvm_boot.ts";

/**
 * The pKVM plugin.
 *
 * @param options Version (`v5.13` by default), VA bits, kernel image, Spectre-v3a, guards.
 * @returns A plugin providing `PKVM`; it requires reserved_mem, early_allocator,
 *   page_allocator, kvm_pgtable, mmu, tlb, a64_executor and switch_sequence.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pkvm } from "./plugin.ts";
 * const p = pkvm({ version: "mainline" });
 * assertEquals([p.name, p.provides[0]!.name], ["pkvm_mainline", "pkvm"]);
 * ```
 */
export function pkvm(options: PkvmOptions = {}): Plugin {
  const version = options.version ?? "v5.13";
  try {
    release(version);
  } catch (e) {
    throw new RangeError(`Cannot create the pkvm plugin: ${(e as Error).message}`);
  }
  const vaBits = options.vaBits;
  if (vaBits !== undefined && vaBits !== 39 && vaBits !== 48 && vaBits !== 52) {
    throw new RangeError(
      `Cannot create the pkvm plugin with VA_BITS = ${vaBits}: 4 KiB pages give 39 or 48, or 52 with FEAT_LPA2`,
    );
  }
  return {
    name: `pkvm_${version.replaceAll(".", "_")}`,
    provides: [PKVM],
    requires: [
      RESERVED_MEM,
      EARLY_ALLOCATOR,
      PAGE_ALLOCATOR,
      KVM_PGTABLE,
      MMU,
      TLB,
      A64_EXECUTOR,
      SWITCH_SEQUENCE,
    ],
    setup(ctx) {
      // The host sizes the pool (kvm_hyp_reserve) and the hypervisor divides
      // it (divide_memory_pool) with one kernel's terms: v5.13's host_s2_mem
      // and host_s2_dev are mainline's single host_s2, and mainline adds
      // vm_table and ffa_proxy. Halves from two releases cannot boot at all,
      // so say so here rather than fail at a missing term half-way through.
      // Compare releases, not names: `mainline` is an alias (a mainline
      // reserved_mem reports the release it follows, e.g. v7.2).
      const reserved = ctx.get(RESERVED_MEM);
      const own = release(version).name;
      if (releaseName(reserved.version) !== own) {
        const as = own === version ? own : `${version} (${own})`;
        throw new RangeError(
          `reserved_mem "${reserved.name}" follows ${reserved.version}'s kvm_hyp_reserve, but this pKVM boots as ${as}: the host and the hypervisor size and divide the pool with one release's terms, so choose a ${own} reserved_mem`,
        );
      }
      // vabits_actual and hVHE follow the CPU model (a 52-bit VA_BITS the
      // CPU or the build cannot give is refused here, naming both).
      kvmCpuCaps(version, ctx.machine.cpu(0).model, vaBits);
      ctx.provide(
        PKVM,
        new PkvmBoot(ctx.machine, {
          reservedMem: reserved,
          early: ctx.get(EARLY_ALLOCATOR),
          pages: ctx.get(PAGE_ALLOCATOR),
          pgtable: ctx.get(KVM_PGTABLE),
          mmu: ctx.get(MMU),
          tlb: ctx.get(TLB),
          a64: ctx.get(A64_EXECUTOR),
          switchSeq: ctx.get(SWITCH_SEQUENCE),
        }, { ...options, version }),
      );
    },
  };
}

/** The release a version string names, or the string itself when it names none. */
function releaseName(version: string): string {
  try {
    return release(version).name;
  } catch {
    return version;
  }
}
