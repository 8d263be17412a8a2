// Shared helpers for the pKVM tests: machines built from profiles, and a
// hash of the state a hypercall must leave untouched on bad input.

import {
  type BootReport,
  type CpuModelName,
  createMachine,
  type Machine,
  PKVM,
  type RamBank,
  Trace,
} from "../../../core/mod.ts";
import { profile, type ProfileName, type ProfileOverrides } from "../../../plugins/profiles/mod.ts";
import type { PkvmBoot } from "../../../plugins/pkvm/pkvm_boot.ts";

/** Kinds the report needs; the per-access kinds are left out to keep tests fast. */
export const LEAN_TRACE_KINDS = [
  "step",
  "hypercall",
  "log",
  "barrier_finding",
  "handover",
] as const;

export interface BootMachineOptions {
  ram?: RamBank[];
  cpus?: number;
  /** CPU model (default: the machine's, cortex-a57). */
  cpu?: CpuModelName;
  overrides?: ProfileOverrides;
  fullTrace?: boolean;
}

export function bootMachine(name: ProfileName = "v5.13", o: BootMachineOptions = {}): {
  m: Machine;
  pkvm: PkvmBoot;
} {
  const m = createMachine({
    ram: o.ram ?? [{ base: 0x4000_0000, size: 2 ** 32 }],
    cpus: o.cpus ?? 4,
    ...(o.cpu === undefined ? {} : { cpu: o.cpu }),
    plugins: profile(name, o.overrides ?? {}),
    trace: o.fullTrace ? new Trace() : new Trace({ kinds: [...LEAN_TRACE_KINDS] }),
  });
  return { m, pkvm: m.get(PKVM) as PkvmBoot };
}

/** Memory digest, pool shapes, hyp maplets and private-VA base: what bad input must not change. */
export function stateHash(m: Machine, pkvm: PkvmBoot): string {
  const hyp = pkvm.host?.hyp;
  const pools: Record<string, unknown> = {};
  for (const [name, p] of hyp?.pools ?? []) {
    const s = p.stats();
    pools[name] = [s.free, s.freeBlocksByOrder, s.nrPages, s.reserved];
  }
  return JSON.stringify({
    memory: m.memory.digest(),
    resident: m.memory.backedPfns().length,
    pools,
    maplets: hyp?.pgt?.maplets() ?? null,
    tablePages: hyp?.pgt?.tablePages() ?? null,
    hostMaplets: pkvm.host?.hostPgtFreed ? null : pkvm.host?.hostPgt?.maplets() ?? null,
  });
}

/**
 * Whether a boot succeeded, or completed and fails verification only by
 * the switch hazard its sequence's barrier findings predict: 6.1's
 * `__pkvm_init_switch_pgd` (no `dsb nsh; isb` before `set_sctlr_el2`, R3/R4)
 * leaves walk-cache entries of the freed host table under the adversarial
 * TLB, so the probes of the host's old VAs still translate. Any other
 * failure, or this one without R3/R4 findings and a differing survivor, is
 * not ok.
 */
export function bootOk(r: BootReport): boolean {
  if (r.ok) return true;
  if (r.failure !== undefined || r.tlb.policy !== "adversarial") return false;
  const v = r.verify;
  if (v.mismatches.length > 0 || v.pool_invariants !== null || v.pgtable_invariants !== null) {
    return false;
  }
  const rules = new Set(r.switch.findings.map((f) => f.rule));
  const differ = (r.switch.hazard ?? []).reduce(
    (n, h) => n + h.at_enable.differ + h.outlived.differ,
    0,
  );
  return (rules.has("R3") || rules.has("R4")) && differ > 0 && v.stale_translations > 0 &&
    v.unexpected.length > 0 && v.unexpected.every((u) => u.includes("of the freed host table"));
}
