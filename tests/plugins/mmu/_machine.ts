// A machine with the TLB and MMU plugins and a table pool, for the tests.

import {
  createMachine,
  type Machine,
  MMU,
  type Mmu,
  type MmuFault,
  TLB,
  type Tlb,
  type Translation,
} from "../../../core/mod.ts";
import { mmu } from "../../../plugins/mmu/mod.ts";
import { tlb } from "../../../plugins/tlb/mod.ts";
import { Tables } from "./_tables.ts";

/** RAM: 1 GiB at 0x40000000 (tables from 0x40000000, data above). */
export const RAM_BASE = 0x4000_0000;
export const RAM_SIZE = 2 ** 30;

export interface Rig {
  m: Machine;
  mmu: Mmu;
  tlb: Tlb;
  t: Tables;
}

export function rig(
  opts: { policy?: "adversarial" | "optimistic"; cpus?: number; t0sz?: number } = {},
): Rig {
  const m = createMachine({
    ram: [{ base: RAM_BASE, size: RAM_SIZE }],
    cpus: opts.cpus ?? 1,
    plugins: [tlb({ policy: opts.policy ?? "adversarial" }), mmu()],
  });
  return { m, mmu: m.get(MMU), tlb: m.get(TLB), t: new Tables(m.memory, RAM_BASE, opts.t0sz) };
}

export function ok(r: Translation | MmuFault): Translation {
  if (r.kind !== "ok") throw new Error(`expected a translation, got: ${r.message}`);
  return r;
}

export function fault(r: Translation | MmuFault): MmuFault {
  if (r.kind !== "fault") throw new Error(`expected a fault, got PA 0x${r.pa.toString(16)}`);
  return r;
}
