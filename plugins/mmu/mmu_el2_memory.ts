/**
 * The EL2 memory accessor over the MMU: loads and stores at hyp VAs as hyp
 * code does them, so an unmapped vmemmap page or a store to a read-only
 * mapping faults exactly as at EL2.
 *
 * @module
 */

import {
  type Cpu,
  type El2Memory,
  ExternalAbortError,
  hex,
  MemoryFaultError,
  type PhysicalMemory,
} from "../../core/mod.ts";
import { mmuFault } from "./faults.ts";
import type { Stage1Mmu } from "./stage1_mmu.ts";

const READ = 0;
const WRITE = 1;
const PAGE = 4096;
// Page offsets are taken as `va & 4095`, not `va % PAGE`: hyp VAs exceed
// 32 bits, so `%` on them is a floating-point remainder (a call), while
// `&` truncates to the low 32 bits, whose low 12 are the page offset of any
// non-negative integer VA (a VA that is not one faults in the translation).

/**
 * {@link El2Memory} through {@link Stage1Mmu}: every access is a data
 * translation of its size (alignment: SCTLR_EL2.A or Device memory), then a
 * physical access. Faults throw `MemoryFaultError` with the MMU fault; a
 * PA outside RAM is a synchronous external abort. An access that crosses a
 * page is translated page by page and a store writes nothing unless both
 * pages translate and are RAM. `zero`/`isZero`/`readBytes`/`writeBytes`
 * translate every page first and have no alignment requirement.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { createMachine, MemoryFaultError, MMU } from "../../core/mod.ts";
 * import { tlb } from "../tlb/mod.ts";
 * import { mmu } from "./mmu.ts";
 * const m = createMachine({ cpus: 1, plugins: [tlb(), mmu()] });
 * const el2 = m.get(MMU).el2Memory(m.cpu(0)); // MMU off: VA = PA, Device memory
 * el2.write64(0x4000_0000, 0x1234n);
 * assertEquals(el2.read32(0x4000_0000), 0x1234);
 * assertThrows(() => el2.read32(0x4000_0002), MemoryFaultError, "Alignment fault");
 * ```
 */
export class MmuEl2Memory implements El2Memory {
  #mmu: Stage1Mmu;
  #mem: PhysicalMemory;
  #cpu: Cpu;
  #abort: boolean;

  /**
   * Creates the accessor.
   * @param mmu The MMU.
   * @param memory Physical memory.
   * @param cpu The CPU whose regime translates.
   * @param takeAbort Take the abort on the CPU before throwing.
   */
  constructor(mmu: Stage1Mmu, memory: PhysicalMemory, cpu: Cpu, takeAbort: boolean) {
    this.#mmu = mmu;
    this.#mem = memory;
    this.#cpu = cpu;
    this.#abort = takeAbort;
  }

  #pa(va: number, size: number, access: number): number {
    return this.#mmu.accessPa(this.#cpu, va, access, size, this.#abort);
  }

  #external(e: unknown, va: number, size: number, access: number, pa: number): unknown {
    if (!(e instanceof ExternalAbortError)) return e;
    const f = mmuFault(
      "external_abort",
      0,
      va,
      access === WRITE ? "write" : "read",
      `${size}-byte access at PA ${hex(pa)} is outside every RAM bank`,
    );
    if (this.#abort) this.#mmu.raiseAbort(this.#cpu, f, this.#cpu.pc);
    return new MemoryFaultError(va, f.message, f);
  }

  /** PAs of an access crossing a page: `[pa of the first part, pa of the second, first part length]`. */
  #split(va: number, size: number, access: number): [number, number, number] {
    const first = PAGE - (va & 4095);
    const pa1 = this.#pa(va, size, access);
    const pa2 = this.#pa(va + first, 1, access);
    return [pa1, pa2, first];
  }

  #readSplit(va: number, size: number): bigint {
    const [pa1, pa2, first] = this.#split(va, size, READ);
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) {
      const pa = i < first ? pa1 + i : pa2 + (i - first);
      let b: number;
      try {
        b = this.#mem.read8(pa);
      } catch (e) {
        throw this.#external(e, va, size, READ, pa);
      }
      v = (v << 8n) | BigInt(b);
    }
    return v;
  }

  #writeSplit(va: number, size: number, value: bigint): void {
    const [pa1, pa2, first] = this.#split(va, size, WRITE);
    if (!this.#mem.contains(pa1, first)) {
      throw this.#external(new ExternalAbortError(abort(pa1, first)), va, size, WRITE, pa1);
    }
    if (!this.#mem.contains(pa2, size - first)) {
      throw this.#external(new ExternalAbortError(abort(pa2, size - first)), va, size, WRITE, pa2);
    }
    let v = BigInt.asUintN(size * 8, value);
    for (let i = 0; i < size; i++) {
      this.#mem.write8(i < first ? pa1 + i : pa2 + (i - first), Number(v & 0xffn));
      v >>= 8n;
    }
  }

  /**
   * Loads a byte.
   * @param va Hyp VA.
   * @returns The byte.
   */
  read8(va: number): number {
    const pa = this.#pa(va, 1, READ);
    try {
      return this.#mem.read8(pa);
    } catch (e) {
      throw this.#external(e, va, 1, READ, pa);
    }
  }

  /**
   * Loads 16 bits.
   * @param va Hyp VA.
   * @returns The value.
   */
  read16(va: number): number {
    if ((va & 4095) > PAGE - 2) return Number(this.#readSplit(va, 2));
    const pa = this.#pa(va, 2, READ);
    try {
      return this.#mem.read16(pa);
    } catch (e) {
      throw this.#external(e, va, 2, READ, pa);
    }
  }

  /**
   * Loads 32 bits.
   * @param va Hyp VA.
   * @returns The value.
   */
  read32(va: number): number {
    if ((va & 4095) > PAGE - 4) return Number(this.#readSplit(va, 4));
    const pa = this.#pa(va, 4, READ);
    try {
      return this.#mem.read32(pa);
    } catch (e) {
      throw this.#external(e, va, 4, READ, pa);
    }
  }

  /**
   * Loads 64 bits.
   * @param va Hyp VA.
   * @returns The value.
   */
  read64(va: number): bigint {
    if ((va & 4095) > PAGE - 8) return this.#readSplit(va, 8);
    const pa = this.#pa(va, 8, READ);
    try {
      return this.#mem.read64(pa);
    } catch (e) {
      throw this.#external(e, va, 8, READ, pa);
    }
  }

  /**
   * Stores a byte.
   * @param va Hyp VA.
   * @param value The byte.
   */
  write8(va: number, value: number): void {
    const pa = this.#pa(va, 1, WRITE);
    try {
      this.#mem.write8(pa, value);
    } catch (e) {
      throw this.#external(e, va, 1, WRITE, pa);
    }
  }

  /**
   * Stores 16 bits.
   * @param va Hyp VA.
   * @param value The value.
   */
  write16(va: number, value: number): void {
    if ((va & 4095) > PAGE - 2) return this.#writeSplit(va, 2, BigInt(value & 0xffff));
    const pa = this.#pa(va, 2, WRITE);
    try {
      this.#mem.write16(pa, value);
    } catch (e) {
      throw this.#external(e, va, 2, WRITE, pa);
    }
  }

  /**
   * Stores 32 bits.
   * @param va Hyp VA.
   * @param value The value.
   */
  write32(va: number, value: number): void {
    if ((va & 4095) > PAGE - 4) return this.#writeSplit(va, 4, BigInt(value >>> 0));
    const pa = this.#pa(va, 4, WRITE);
    try {
      this.#mem.write32(pa, value);
    } catch (e) {
      throw this.#external(e, va, 4, WRITE, pa);
    }
  }

  /**
   * Stores 64 bits.
   * @param va Hyp VA.
   * @param value The value.
   */
  write64(va: number, value: bigint): void {
    if ((va & 4095) > PAGE - 8) return this.#writeSplit(va, 8, value);
    const pa = this.#pa(va, 8, WRITE);
    try {
      this.#mem.write64(pa, value);
    } catch (e) {
      throw this.#external(e, va, 8, WRITE, pa);
    }
  }

  /**
   * Translates every page of `[va, va + size)` first, into `#pas` (the PA of
   * each page's first byte accessed), and returns the page count; throws on
   * the first fault or PA outside RAM, before anything is accessed. The PAs
   * go to a reused array: bulk accesses allocate nothing per page.
   */
  #translateAll(va: number, size: number, access: number): number {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`Cannot access ${size} bytes at hyp VA ${va}: size must be a count`);
    }
    const end = va + size;
    // Pages touched: from va's page to the page of the last byte.
    const pages = size === 0 ? 0 : Math.floor((end - 1) / PAGE) - Math.floor(va / PAGE) + 1;
    let pas = this.#pas;
    if (pas.length < pages) pas = this.#pas = new Float64Array(Math.max(pages, pas.length * 2));
    let cur = va;
    for (let i = 0; i < pages; i++) {
      const n = Math.min(PAGE - (cur & 4095), end - cur);
      const pa = this.#pa(cur, 1, access);
      if (!this.#mem.contains(pa, n)) {
        throw this.#external(new ExternalAbortError(abort(pa, n)), cur, n, access, pa);
      }
      pas[i] = pa;
      cur += n;
    }
    return pages;
  }

  /**
   * {@link #translateAll} for a range within one page: its PA, checked to be
   * RAM (the same fault or external abort, before anything is accessed).
   */
  #onePage(va: number, size: number, access: number): number {
    const pa = this.#pa(va, 1, access);
    if (!this.#mem.contains(pa, size)) {
      throw this.#external(new ExternalAbortError(abort(pa, size)), va, size, access, pa);
    }
    return pa;
  }

  /** PAs of the pages of the last bulk access (see {@link #translateAll}). */
  #pas: Float64Array = new Float64Array(16);

  /**
   * The run of translated pages of `[va, va + size)` (see
   * {@link #translateAll}) that starts at page `i`, offset `from` in the
   * access, and is contiguous in PA: its PA in `#runPa`, its length in
   * `#runN`; returns the page after it. Callers loop over the runs with no
   * closure per call.
   */
  #run(va: number, size: number, pages: number, i: number, from: number): number {
    const pas = this.#pas;
    const pa = pas[i]!;
    // The first page may start mid-page; every later one starts at its page.
    let n = i === 0 ? Math.min(PAGE - (va & 4095), size) : Math.min(PAGE, size - from);
    let j = i + 1;
    // The pages contiguous in PA, then one bank check for all of them:
    // a run stays in one RAM bank (adjacent banks are separate ranges),
    // and only a run that crosses banks is cut page by page.
    const n1 = n;
    while (j < pages && pas[j] === pa + n) {
      n += Math.min(PAGE, size - from - n);
      j++;
    }
    if (j > i + 1 && !this.#mem.contains(pa, n)) {
      n = n1;
      j = i + 1;
      while (j < pages && pas[j] === pa + n) {
        const m = Math.min(PAGE, size - from - n);
        if (!this.#mem.contains(pa, n + m)) break;
        n += m;
        j++;
      }
    }
    this.#runPa = pa;
    this.#runN = n;
    return j;
  }

  /** PA of the run {@link #run} found. */
  #runPa = 0;
  /** Its length in bytes. */
  #runN = 0;

  /**
   * Zeroes `[va, va + size)`; nothing is written unless every page translates writable.
   * @param va Hyp VA.
   * @param size Bytes.
   */
  zero(va: number, size: number): void {
    if (size > 0 && (va & 4095) + size <= PAGE) {
      // Within one page (a list node, an order-0 memset): one translation,
      // no run bookkeeping.
      const pa = this.#onePage(va, size, WRITE);
      this.#mem.zero(pa, size);
      return;
    }
    const pages = this.#translateAll(va, size, WRITE);
    const mem = this.#mem;
    for (let i = 0, from = 0; i < pages; from += this.#runN) {
      i = this.#run(va, size, pages, i, from);
      mem.zero(this.#runPa, this.#runN);
    }
  }

  /**
   * Whether every byte of `[va, va + size)` is zero (pages never written
   * are zero without reading them).
   * @param va Hyp VA.
   * @param size Bytes.
   * @returns True when all zero.
   */
  isZero(va: number, size: number): boolean {
    const pages = this.#translateAll(va, size, READ);
    const pas = this.#pas;
    const mem = this.#mem;
    let cur = va;
    const end = va + size;
    for (let i = 0; i < pages; i++) {
      const n = Math.min(PAGE - (cur & 4095), end - cur);
      const pa = pas[i]!;
      if (mem.isBacked(pa)) {
        const b = mem.readBytes(pa, n);
        for (let k = 0; k < n; k++) if (b[k] !== 0) return false;
      }
      cur += n;
    }
    return true;
  }

  /**
   * Bulk load of `[va, va + size)`, page by page (every page translated first).
   * @param va Hyp VA.
   * @param size Bytes.
   * @returns A copy of the bytes.
   */
  readBytes(va: number, size: number): Uint8Array {
    const pages = this.#translateAll(va, size, READ);
    const out = new Uint8Array(size);
    const mem = this.#mem;
    for (let i = 0, from = 0; i < pages; from += this.#runN) {
      i = this.#run(va, size, pages, i, from);
      out.set(mem.readBytes(this.#runPa, this.#runN), from);
    }
    return out;
  }

  /**
   * Bulk store at `va`; nothing is written unless every page translates writable.
   * @param va Hyp VA.
   * @param bytes Data.
   */
  writeBytes(va: number, bytes: Uint8Array): void {
    const size = bytes.length;
    if (size > 0 && (va & 4095) + size <= PAGE) {
      this.#mem.writeBytes(this.#onePage(va, size, WRITE), bytes);
      return;
    }
    const pages = this.#translateAll(va, size, WRITE);
    const mem = this.#mem;
    for (let i = 0, from = 0; i < pages; from += this.#runN) {
      i = this.#run(va, size, pages, i, from);
      mem.writeBytes(this.#runPa, bytes.subarray(from, from + this.#runN));
    }
  }
}

function abort(address: number, size: number) {
  return { kind: "external_abort" as const, address, size, write: true };
}
