/**
 * Boot step 5: `__pkvm_init` jumps to `__pkvm_init_switch_pgd` at its PA
 * (the idmap page) and the A64 executor runs the selected sequence on the
 * CPU: MMU off, `tlbi alle2`, TTBR0_EL2 = the new pgd, SP = the new stack,
 * MMU on, `ret` to `__pkvm_init_finalise`.
 *
 * @module
 */

import { type Cpu, hex } from "../../core/mod.ts";
import { type Hyp, HypPanicError } from "./hyp_state.ts";
import { initParamsFields, initParamsOffset } from "./init_params.ts";
import type { PkvmVersion } from "../../core/mod.ts";

/**
 * The `NVHE_INIT_*` asm-offsets of a version's `struct kvm_nvhe_init_params`.
 *
 * @param version Kernel version.
 * @returns Symbol → offset.
 */
export function initParamsSymbols(version: PkvmVersion): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const f of initParamsFields(version)) {
    out[`NVHE_INIT_${f.toUpperCase()}`] = BigInt(initParamsOffset(version, f)!);
  }
  return out;
}

/**
 * Runs the switch sequence. v3/v5.13 ABI (`params`): x0 = PA of this CPU's
 * `kvm_nvhe_init_params`, x1 = `__pkvm_init_finalise`; mainline ABI
 * (`registers`): x0 = pgd PA, x1 = `params->stack_hyp_va`, x2 =
 * `__pkvm_init_finalise`. The call site follows the sequence's ABI (as the
 * 2024 ABI fix changed both together).
 *
 * @param hyp The hypervisor.
 * @param cpu The CPU (at EL2, on the host-built tables).
 * @param params Hyp VA of this CPU's init params.
 * @throws {HypPanicError} The sequence faulted, did not reach the continuation, or left
 *   the continuation unfetchable.
 */
export function runSwitchSequence(hyp: Hyp, cpu: Cpu, params: number): void {
  const seq = hyp.caps.switchSeq;
  const codeBase = hyp.image.symbols.__pkvm_init_switch_pgd!;
  const fn = hyp.sym("__pkvm_init_finalise");
  const args: Record<number, bigint> = seq.abi === "params"
    ? { 0: BigInt(hyp.pa(params)), 1: BigInt(fn) }
    : {
      0: BigInt(hyp.pgt!.pgd),
      1: hyp.mem(cpu).read64(params + initParamsOffset(hyp.version, "stack_hyp_va")!),
      2: BigInt(fn),
    };
  cpu.pc = BigInt(codeBase);
  let run;
  try {
    run = hyp.caps.a64.run(cpu, seq.source, {
      codeBase,
      args,
      abi: seq.abi,
      trace: hyp.trace,
      symbols: initParamsSymbols(hyp.version),
      // The kernel's alternatives follow the CPU: `orr ..., #TTBR_CNP_BIT`
      // runs under ARM64_HAS_CNP.
      config: { features: hasCnp(hyp) ? ["cnp"] : [] },
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new HypPanicError("__pkvm_init_switch_pgd", `cannot run "${seq.name}": ${msg}`, {
      cause: e,
    });
  }
  hyp.switchRun = run;
  for (const f of run.findings) {
    hyp.trace.emit("barrier_finding", {
      rule: f.rule,
      severity: f.severity,
      line: f.line,
      message: f.message,
    });
  }
  if (run.stopped === "fault") {
    const f = run.fault!;
    throw new HypPanicError(
      "__pkvm_init_switch_pgd",
      `"${seq.name}" line ${f.line}: ${f.access} abort at ${hex(f.va)}: ${f.message}`,
    );
  }
  if (run.stopped === "end") {
    throw new HypPanicError(
      "__pkvm_init_switch_pgd",
      `"${seq.name}" ran off its end at line ${run.line} without branching to __pkvm_init_finalise (${
        hex(fn)
      }, in ${
        seq.abi === "params" ? "x1" : "x2"
      }): whatever follows it in the idmap page would run`,
    );
  }
  if (run.stopped !== "branch-out" || run.target !== fn) {
    const where = run.stopped === "branch-out" ? ` to ${hex(run.target ?? 0)}` : "";
    throw new HypPanicError(
      "__pkvm_init_switch_pgd",
      `"${seq.name}" stopped (${run.stopped}${where}) at line ${run.line} instead of returning to __pkvm_init_finalise at ${
        hex(fn)
      }`,
    );
  }
  // The first fetch of the continuation, under whatever regime the sequence left.
  const t = hyp.caps.mmu.translate(cpu, fn, "exec");
  if (t.kind === "fault") {
    throw new HypPanicError(
      "__pkvm_init_switch_pgd",
      `ret to __pkvm_init_finalise at ${hex(fn)} faults: ${t.message}`,
    );
  }
  cpu.pc = BigInt(fn);
}

/**
 * `ARM64_HAS_CNP` (`has_useable_cnp()`): FEAT_TTCNP on the CPU, with
 * `CONFIG_ARM64_CNP` (on in every Debian build hyplab follows) and no erratum
 * that disables it (hyplab's CPU models have none).
 *
 * @param hyp The hypervisor.
 * @returns Whether the kernel sets CnP in TTBR0_EL2 and VTTBR_EL2.
 */
export function hasCnp(hyp: Hyp): boolean {
  return hyp.machine.cpu(0).model.features.cnp;
}
