/**
 * A small page-map MMU and TLB for executor tests, implementing the core
 * MMU/TLB interfaces: tables are `Map<pageVA, pagePA>` per table base, the
 * TLB matches on VA only (nVHE EL2 has no ASID) and keeps entries until
 * invalidated, and every call the executor makes is recorded.
 *
 * @module
 */

import {
  type AccessKind,
  type Cpu,
  type El2Memory,
  type Mmu,
  type MmuFault,
  type Tlb,
  type TlbEntry,
  type TlbiOp,
  type TlbStats,
  type TranslateOptions,
  type Translation,
  type WalkOptions,
} from "./deps.ts";

const PAGE = 4096;

/** A TLB that records what it is told. */
export class FakeTlb implements Tlb {
  readonly policy = "adversarial" as const;
  /** Entries by page VA. */
  readonly map = new Map<number, TlbEntry>();
  /** Completed TLBIs, in order. */
  readonly invalidations: { op: TlbiOp; va?: number }[] = [];
  /** Committed register writes reported by the executor. */
  readonly sysregWrites: [string, bigint][] = [];
  readonly #stats: TlbStats = { hits: 0, misses: 0, fills: 0, invalidated: 0, stale: 0 };

  lookup(_cpu: Cpu, va: number): TlbEntry | undefined {
    const e = this.map.get(Math.floor(va / PAGE) * PAGE);
    if (e) this.#stats.hits++;
    else this.#stats.misses++;
    return e;
  }
  peek(_cpu: Cpu, va: number): TlbEntry | undefined {
    return this.map.get(Math.floor(va / PAGE) * PAGE);
  }
  fill(_cpu: Cpu, entry: TlbEntry): void {
    this.#stats.fills++;
    this.map.set(entry.va, entry);
  }
  prefetch(cpu: Cpu, entry: TlbEntry): boolean {
    this.fill(cpu, entry);
    return true;
  }
  invalidate(_cpu: Cpu, op: TlbiOp, va?: number): number {
    this.invalidations.push(va === undefined ? { op } : { op, va });
    let n = 0;
    if (op === "alle2" || op === "alle2is") {
      n = this.map.size;
      this.map.clear();
    } else if (op.startsWith("va") && va !== undefined) {
      n = this.map.delete(Math.floor(va / PAGE) * PAGE) ? 1 : 0;
    }
    this.#stats.invalidated += n;
    return n;
  }
  onSysregWrite(_cpu: Cpu, reg: string, value: bigint): void {
    this.sysregWrites.push([reg, value]);
  }
  entries(): TlbEntry[] {
    return [...this.map.values()].sort((a, b) => a.va - b.va);
  }
  stats(): TlbStats {
    return { ...this.#stats };
  }
  recordStale(): void {
    this.#stats.stale++;
  }
}

/** An MMU over page maps, one per table base. */
export class FakeMmu implements Mmu {
  readonly name = "fake_mmu";
  /** Table base → (page VA → page PA). */
  readonly tables = new Map<number, Map<number, number>>();
  /** Pages mapped read-only / non-executable, by base. */
  readonly readOnly = new Set<string>();
  readonly tlb: FakeTlb;
  /** Every translate call: [va, access]. */
  readonly calls: [number, AccessKind][] = [];
  /** Every prefetch call: [va, base]. */
  readonly prefetches: [number, number][] = [];

  constructor(tlb: FakeTlb) {
    this.tlb = tlb;
  }

  /** Maps `[va, va + size)` to `pa` in the table at `base`. */
  map(base: number, va: number, pa: number, size = PAGE): void {
    const t = this.tables.get(base) ?? new Map<number, number>();
    for (let o = 0; o < size; o += PAGE) t.set(va + o, pa + o);
    this.tables.set(base, t);
  }

  #fault(
    va: number,
    access: AccessKind,
    fault: MmuFault["fault"],
    fsc: number,
    level: number,
  ): MmuFault {
    return {
      kind: "fault",
      fault,
      level,
      va,
      access,
      fsc,
      message: `${fault} fault at 0x${va.toString(16)}`,
    };
  }

  #entry(base: number, va: number, speculative: boolean): TlbEntry | undefined {
    const page = Math.floor(va / PAGE) * PAGE;
    const pa = this.tables.get(base)?.get(page);
    if (pa === undefined) return undefined;
    return { regime: "EL2", base, va: page, size: PAGE, pa, level: 3, pte: 0n, speculative };
  }

  translate(
    cpu: Cpu,
    va: number,
    access: AccessKind,
    options: TranslateOptions = {},
  ): Translation | MmuFault {
    this.calls.push([va, access]);
    const sctlr = cpu.sysregs.read("SCTLR_EL2");
    const size = options.size ?? 1;
    if ((sctlr & 1n) === 0n) {
      const device = access !== "exec";
      if (device && va % size !== 0) return this.#fault(va, access, "alignment", 0x21, 0);
      return {
        kind: "ok",
        va,
        pa: va,
        level: -1,
        pte: 0n,
        memType: device ? "device" : "normal",
        attrs: device ? 0 : 0x44,
        writable: true,
        executable: true,
        fromTlb: false,
        mmuOff: true,
      };
    }
    const base = Number(cpu.sysregs.read("TTBR0_EL2") & 0xffff_ffff_fffen);
    let e = this.tlb.lookup(cpu, va);
    const fromTlb = e !== undefined;
    if (e === undefined) {
      e = this.#entry(base, va, false);
      if (e === undefined) return this.#fault(va, access, "translation", 0x07, 3);
      this.tlb.fill(cpu, e);
    }
    const ro = this.readOnly.has(`${e.base}:${e.va}`);
    if (access === "write" && ro) return this.#fault(va, access, "permission", 0x0f, 3);
    return {
      kind: "ok",
      va,
      pa: e.pa + (va - e.va),
      level: 3,
      pte: 0n,
      memType: "normal",
      attrs: 0xff,
      writable: !ro,
      executable: true,
      fromTlb,
      mmuOff: false,
    };
  }

  walk(
    cpu: Cpu,
    va: number,
    access: AccessKind,
    options: WalkOptions = {},
  ): Translation | MmuFault {
    const base = options.base ?? Number(cpu.sysregs.read("TTBR0_EL2") & 0xffff_ffff_fffen);
    const e = this.#entry(base, va, false);
    if (e === undefined) return this.#fault(va, access, "translation", 0x07, 3);
    return {
      kind: "ok",
      va,
      pa: e.pa + (va - e.va),
      level: 3,
      pte: 0n,
      memType: "normal",
      attrs: 0xff,
      writable: true,
      executable: true,
      fromTlb: false,
      mmuOff: false,
    };
  }

  prefetch(cpu: Cpu, va: number, options: WalkOptions = {}): TlbEntry | undefined {
    const base = options.base ?? Number(cpu.sysregs.read("TTBR0_EL2") & 0xffff_ffff_fffen);
    this.prefetches.push([va, base]);
    const e = this.#entry(base, va, true);
    if (e !== undefined) this.tlb.prefetch(cpu, e);
    return e;
  }

  el2Memory(): El2Memory {
    throw new Error("FakeMmu.el2Memory is not used by the executor");
  }
}
