// Hand-built EL2 stage-1 tables for the MMU/TLB tests and benches: small
// helpers that write descriptors straight into physical memory, so these
// tests do not depend on the kvm_pgtable plugin.

import { type Cpu, type PhysicalMemory } from "../../../core/mod.ts";

/** Descriptor bits (VMSAv8-64, EL2 regime). */
export const D = {
  VALID: 1n,
  TABLE: 3n, // valid + table (levels 0–2) / page (level 3)
  BLOCK: 1n, // valid, bit 1 clear (levels 1–2)
  AP_RW: 1n << 6n, // AP[1], set by the kernel for hyp mappings
  AP_RO: 1n << 7n, // AP[2]
  SH_IS: 3n << 8n,
  AF: 1n << 10n,
  XN: 1n << 54n,
  XN_TABLE: 1n << 60n,
  AP_TABLE_RO: 1n << 62n,
  attr: (i: number): bigint => BigInt(i) << 2n,
} as const;

/** Leaf attributes (no type bits): the kernel's PAGE_HYP family, as kvm_pgtable_hyp_map writes them. */
export const PROT = {
  /** PAGE_HYP: RW, XN, Normal. Page PTE at PA 0 = 0x0040000000000743. */
  RW: D.AF | D.SH_IS | D.AP_RW | D.XN | D.attr(0),
  /** PAGE_HYP_EXEC: RO, executable. */
  RX: D.AF | D.SH_IS | D.AP_RW | D.AP_RO | D.attr(0),
  /** PAGE_HYP_RO. */
  RO: D.AF | D.SH_IS | D.AP_RW | D.AP_RO | D.XN | D.attr(0),
  /** RW and executable (only the architecture allows it; WXN tests). */
  RWX: D.AF | D.SH_IS | D.AP_RW | D.attr(0),
  /** PAGE_HYP_DEVICE (mainline AttrIndx 4). */
  DEVICE: D.AF | D.SH_IS | D.AP_RW | D.XN | D.attr(4),
} as const;

/**
 * MAIR_EL2 as mainline Linux: Attr0 Normal WB (0xff), Attr1 Normal tagged
 * (0xf0), Attr2 Normal NC (0x44), Attr3 Device-nGnRnE (0x00), Attr4
 * Device-nGnRE (0x04).
 */
export const MAIR = 0x04_00_44_f0_ffn;

/** TCR_EL2 with the 4 KiB granule, inner-shareable WB walks, RES1 bits. */
export function tcr(t0sz: number, ps = 5, extra = 0n): bigint {
  return 0x8080_0000n | 0x3500n | BigInt(t0sz) | (BigInt(ps) << 16n) | extra;
}

const SHIFT = [39, 30, 21, 12];

/** Builds tables in memory from a bump allocator of zeroed pages. */
export class Tables {
  readonly mem: PhysicalMemory;
  readonly t0sz: number;
  readonly startLevel: number;
  readonly root: number;
  #next: number;

  constructor(mem: PhysicalMemory, poolBase: number, t0sz = 16) {
    this.mem = mem;
    this.t0sz = t0sz;
    this.startLevel = 4 - Math.floor((64 - t0sz - 4) / 9);
    this.#next = poolBase;
    this.root = this.alloc();
  }

  /** A fresh zeroed table page. */
  alloc(): number {
    const pa = this.#next;
    this.#next += 4096;
    this.mem.zero(pa, 4096);
    return pa;
  }

  /** Index of `va` at `level`. */
  static index(va: number, level: number): number {
    return Math.floor(va / 2 ** SHIFT[level]!) % 512;
  }

  /** PA of the descriptor for `va` at `level`, creating tables on the way. */
  slot(va: number, level: number): number {
    let table = this.root;
    for (let l = this.startLevel; l < level; l++) {
      const dpa = table + Tables.index(va, l) * 8;
      const d = this.mem.read64(dpa);
      if ((d & 3n) !== 3n) {
        const t = this.alloc();
        this.mem.write64(dpa, BigInt(t) | D.TABLE);
        table = t;
      } else {
        table = Number(d & 0x0000_ffff_ffff_f000n);
      }
    }
    return table + Tables.index(va, level) * 8;
  }

  /** Maps one page (4 KiB) or block (2 MiB at level 2, 1 GiB at level 1). */
  map(va: number, pa: number, size: number, prot: bigint): number {
    const level = size === 4096 ? 3 : size === 2 ** 21 ? 2 : size === 2 ** 30 ? 1 : -1;
    if (level < 0 || va % size !== 0 || pa % size !== 0) {
      throw new RangeError(`bad mapping ${va} → ${pa} size ${size}`);
    }
    const dpa = this.slot(va, level);
    this.mem.write64(dpa, BigInt(pa) | prot | (level === 3 ? D.TABLE : D.BLOCK));
    return dpa;
  }

  /** Maps `[va, va + size)` with 4 KiB pages. */
  mapPages(va: number, pa: number, size: number, prot: bigint): void {
    for (let off = 0; off < size; off += 4096) this.map(va + off, pa + off, 4096, prot);
  }

  /** Writes a raw descriptor for `va` at `level`; returns its PA. */
  set(va: number, level: number, desc: bigint): number {
    const dpa = this.slot(va, level);
    this.mem.write64(dpa, desc);
    return dpa;
  }
}

/** Programs the EL2 regime on a CPU and turns the MMU on (or off). */
export function enable(
  cpu: Cpu,
  root: number,
  opts: { t0sz?: number; ps?: number; wxn?: boolean; on?: boolean; tcrExtra?: bigint } = {},
): void {
  cpu.sysregs.write("MAIR_EL2", MAIR);
  cpu.sysregs.write("TCR_EL2", tcr(opts.t0sz ?? 16, opts.ps ?? 5, opts.tcrExtra ?? 0n));
  cpu.sysregs.write("TTBR0_EL2", BigInt(root));
  cpu.sysregs.setField("SCTLR_EL2", "WXN", opts.wxn ? 1n : 0n);
  cpu.sysregs.setField("SCTLR_EL2", "M", opts.on === false ? 0n : 1n);
}
