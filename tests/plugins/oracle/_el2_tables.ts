// A sparse fake physical memory and a stage-1 table builder (4 KiB granule,
// with or without FEAT_LPA2 descriptors) for the walker tests.

const mask = (hi: number, lo: number): bigint => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);

/** Sparse physical memory, zero where never written. */
export class FakePhys {
  readonly pages = new Map<bigint, Uint8Array>();
  /** Reads made, as [pa, length]. */
  readonly reads: [bigint, number][] = [];

  write64(pa: bigint, v: bigint): void {
    const page = pa & ~0xfffn;
    let p = this.pages.get(page);
    if (!p) this.pages.set(page, p = new Uint8Array(4096));
    new DataView(p.buffer).setBigUint64(Number(pa & 0xfffn), v, true);
  }

  read64(pa: bigint): bigint {
    const p = this.pages.get(pa & ~0xfffn);
    return p ? new DataView(p.buffer).getBigUint64(Number(pa & 0xfffn), true) : 0n;
  }

  read = (pa: bigint, n: number): Uint8Array => {
    this.reads.push([pa, n]);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 8) {
      new DataView(out.buffer).setBigUint64(i, this.read64(pa + BigInt(i)), true);
    }
    return out;
  };
}

/** Level shift: 12 at level 3 ... 48 at level −1. */
export const shiftOf = (level: number): number => 12 + 9 * (3 - level);

/** Builds a table tree in a FakePhys, allocating table pages upwards from `tableBase`. */
export class TreeBuilder {
  readonly root: bigint;
  readonly start: number;
  tables = 1;
  #next: bigint;

  constructor(
    readonly mem: FakePhys,
    readonly vaBits: number,
    readonly lpa2: boolean,
    tableBase: bigint,
  ) {
    this.start = 4 - Math.ceil((vaBits - 12) / 9);
    this.root = tableBase;
    this.#next = tableBase + 0x1000n;
  }

  /** TTBR0_EL2 for the root (LPA2: BADDR[51:48] in bits 5:2). */
  get ttbr(): bigint {
    if (!this.lpa2) return this.root;
    return (this.root & mask(47, 6)) | (((this.root >> 48n) & 0xfn) << 2n);
  }

  /** The output-address field of a descriptor (bits 51:50 in 9:8 under LPA2). */
  oa(pa: bigint, lo: number): bigint {
    if (!this.lpa2) return pa & mask(47, lo);
    return (pa & mask(49, lo)) | (((pa >> 50n) & 3n) << 8n);
  }

  #index(va: bigint, level: number): bigint {
    return (va >> BigInt(shiftOf(level))) &
      (level === this.start ? (1n << BigInt(this.vaBits - shiftOf(level))) - 1n : 511n);
  }

  /** The table at `level` covering `va`, created on the way down. */
  table(va: bigint, level: number): bigint {
    let t = this.root;
    for (let l = this.start; l < level; l++) {
      const slot = t + 8n * this.#index(va, l);
      const d = this.mem.read64(slot);
      if ((d & 3n) === 3n) {
        t = this.lpa2 ? (d & mask(49, 12)) | (((d >> 8n) & 3n) << 50n) : d & mask(47, 12);
        continue;
      }
      if (d & 1n) throw new Error(`leaf in the way at level ${l}`);
      const nt = this.#next;
      this.#next += 0x1000n;
      this.tables++;
      this.mem.write64(slot, this.oa(nt, 12) | 3n);
      t = nt;
    }
    return t;
  }

  /** Slot address of `va`'s entry at `level`. */
  slot(va: bigint, level: number): bigint {
    return this.table(va, level) + 8n * this.#index(va, level);
  }

  /** Maps a leaf at `level` (3: page, else block) with attribute bits `attrs` (low bits 1:0 added). */
  map(va: bigint, pa: bigint, level: number, attrs: bigint): bigint {
    const desc = this.oa(pa, shiftOf(level)) | attrs | (level === 3 ? 3n : 1n);
    const slot = this.slot(va, level);
    if (this.mem.read64(slot) & 1n) throw new Error(`slot for ${va.toString(16)} in use`);
    this.mem.write64(slot, desc);
    return desc;
  }
}
