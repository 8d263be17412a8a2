/**
 * The EL2 memory accessor: loads and stores at hyp virtual addresses.
 *
 * Standalone it is a linear map over physical memory
 * ({@link linearEl2Memory}); in the boot it is the MMU, so an access to an
 * unmapped hyp VA (say, an unbacked vmemmap) faults exactly as at EL2.
 *
 * @module
 */

import { ExternalAbortError, HyplabError } from "../errors.ts";
import type { PhysicalMemory } from "../physical_memory.ts";
import type { MmuFault } from "./mmu.ts";

/** Loads and stores at hyp virtual addresses (little-endian). */
export interface El2Memory {
  /**
   * Loads a byte.
   * @param va Hyp VA.
   * @returns Byte.
   */
  read8(va: number): number;
  /**
   * Loads 16 bits.
   * @param va Hyp VA.
   * @returns 16-bit value.
   */
  read16(va: number): number;
  /**
   * Loads 32 bits.
   * @param va Hyp VA.
   * @returns 32-bit value.
   */
  read32(va: number): number;
  /**
   * Loads 64 bits.
   * @param va Hyp VA.
   * @returns 64-bit value.
   */
  read64(va: number): bigint;
  /**
   * Stores a byte.
   * @param va Hyp VA.
   * @param value Byte.
   */
  write8(va: number, value: number): void;
  /**
   * Stores 16 bits.
   * @param va Hyp VA.
   * @param value 16-bit value.
   */
  write16(va: number, value: number): void;
  /**
   * Stores 32 bits.
   * @param va Hyp VA.
   * @param value 32-bit value.
   */
  write32(va: number, value: number): void;
  /**
   * Stores 64 bits.
   * @param va Hyp VA.
   * @param value 64-bit value.
   */
  write64(va: number, value: bigint): void;
  /**
   * Zeroes `[va, va + size)`.
   * @param va Hyp VA.
   * @param size Bytes.
   */
  zero(va: number, size: number): void;
  /**
   * Whether every byte of `[va, va + size)` is zero (for invariant checks).
   * @param va Hyp VA.
   * @param size Bytes.
   * @returns True when all zero.
   */
  isZero(va: number, size: number): boolean;
  /**
   * Optional bulk load, a fast path for large metadata scans (callers fall
   * back to the scalar loads when it is absent).
   * @param va Hyp VA.
   * @param size Bytes.
   * @returns A copy of the bytes.
   */
  readBytes?(va: number, size: number): Uint8Array;
  /**
   * Optional bulk store, a fast path for large metadata writes such as
   * `hyp_pool_init` over a big vmemmap (callers fall back to the scalar
   * stores when it is absent).
   * @param va Hyp VA.
   * @param bytes Data to store.
   */
  writeBytes?(va: number, bytes: Uint8Array): void;
  /**
   * Optional fused store, a fast path for freeing into a buddy pool: zeroes
   * `[va, va + size)`, then stores `head` at `va` (`head.length <= size`),
   * in one call (callers fall back to `zero`, then their stores).
   * @param va Hyp VA.
   * @param size Bytes to zero.
   * @param head Bytes stored at `va` afterwards.
   */
  zeroThenWrite?(va: number, size: number, head: Uint8Array): void;
  /**
   * Optional direct access, a fast path for allocator metadata: a live view
   * of the 4096 bytes of the page holding `va`, when the accessor maps it
   * straight onto RAM (a linear map); undefined otherwise, and then every
   * access goes through the methods above, faulting where EL2 would. Loads
   * and stores through the view are EL2 accesses to that page.
   * @param va Any hyp VA in the page.
   * @returns The page's bytes, or undefined.
   */
  pageView?(va: number): Uint8Array | undefined;
  /**
   * Optional direct access to a whole range, the fast path for a vmemmap:
   * one live, contiguous view of the whole pages covering
   * `[va, va + size)`, starting at the first byte of `va`'s page, when the
   * accessor maps the range straight onto RAM; undefined otherwise (then
   * use the methods above). Loads and stores through the view are EL2
   * accesses to those pages.
   * @param va First hyp VA.
   * @param size Bytes (non-zero).
   * @returns The pages' bytes from `va`'s page on, or undefined.
   */
  rangeView?(va: number, size: number): Uint8Array | undefined;
}

/**
 * A hyp-VA access that faulted (translation, permission, ...) or missed RAM.
 *
 * @example
 * ```ts
 * import { MemoryFaultError } from "./el2_memory.ts";
 * const e = new MemoryFaultError(0x6000_0000_0000, "translation fault at level 3");
 * if (e.va !== 0x6000_0000_0000) throw new Error("unreachable");
 * ```
 */
export class MemoryFaultError extends HyplabError {
  /** The hyp VA accessed. */
  readonly va: number;
  /** The MMU fault, when the MMU produced one. */
  readonly fault: MmuFault | undefined;
  /**
   * Creates the value.
   * @param va Hyp VA.
   * @param reason What happened.
   * @param fault The MMU fault value.
   */
  constructor(va: number, reason: string, fault?: MmuFault) {
    super(`Cannot access hyp VA 0x${va.toString(16)}: ${reason}`);
    this.name = "MemoryFaultError";
    this.va = va;
    this.fault = fault;
  }
}

/**
 * An {@link El2Memory} over a linear map: `pa = virtToPhys(va)`.
 *
 * @param memory Physical memory.
 * @param virtToPhys Hyp VA → PA (for example `va => va - offset`).
 * @returns The accessor; accesses outside RAM throw {@link MemoryFaultError}.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PhysicalMemory } from "../physical_memory.ts";
 * import { linearEl2Memory } from "./el2_memory.ts";
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
 * const el2 = linearEl2Memory(mem, (va) => va + 0x4000_0000);
 * el2.write32(0x10, 7);
 * assertEquals(mem.read32(0x4000_0010), 7);
 * ```
 */
export function linearEl2Memory(
  memory: PhysicalMemory,
  virtToPhys: (va: number) => number,
): El2Memory {
  const fault = (va: number, size: number, write: boolean): MemoryFaultError =>
    new MemoryFaultError(
      va,
      `${write ? "write" : "read"} of ${size} bytes at PA 0x${
        virtToPhys(va).toString(16)
      } is outside RAM`,
    );
  // Physical memory checks every access itself and writes nothing when it
  // aborts, so the hot paths only translate, and turn its external abort
  // into the accessor's fault (a try block costs nothing until it throws).
  const outside = (e: unknown, va: number, size: number, write: boolean): unknown =>
    e instanceof ExternalAbortError ? fault(va, size, write) : e;
  // Bulk accesses of 0 bytes are checked here: physical memory skips them.
  const pa = (va: number, size: number, write: boolean): number => {
    const p = virtToPhys(va);
    if (!memory.contains(p, size)) throw fault(va, size, write);
    return p;
  };
  return {
    read8(va) {
      try {
        return memory.read8(virtToPhys(va));
      } catch (e) {
        throw outside(e, va, 1, false);
      }
    },
    read16(va) {
      try {
        return memory.read16(virtToPhys(va));
      } catch (e) {
        throw outside(e, va, 2, false);
      }
    },
    read32(va) {
      try {
        return memory.read32(virtToPhys(va));
      } catch (e) {
        throw outside(e, va, 4, false);
      }
    },
    read64(va) {
      try {
        return memory.read64(virtToPhys(va));
      } catch (e) {
        throw outside(e, va, 8, false);
      }
    },
    write8(va, v) {
      try {
        memory.write8(virtToPhys(va), v);
      } catch (e) {
        throw outside(e, va, 1, true);
      }
    },
    write16(va, v) {
      try {
        memory.write16(virtToPhys(va), v);
      } catch (e) {
        throw outside(e, va, 2, true);
      }
    },
    write32(va, v) {
      try {
        memory.write32(virtToPhys(va), v);
      } catch (e) {
        throw outside(e, va, 4, true);
      }
    },
    write64(va, v) {
      try {
        memory.write64(virtToPhys(va), v);
      } catch (e) {
        throw outside(e, va, 8, true);
      }
    },
    zero(va, size) {
      if (size === 0) return void pa(va, 0, true);
      try {
        memory.zero(virtToPhys(va), size);
      } catch (e) {
        throw outside(e, va, size, true);
      }
    },
    zeroThenWrite(va, size, head) {
      try {
        memory.zeroThenWrite(virtToPhys(va), size, head);
      } catch (e) {
        throw outside(e, va, size, true);
      }
    },
    pageView(va) {
      // The VA page must map onto exactly one RAM page, which is pinned.
      const vaPage = Math.floor(va / 4096) * 4096;
      const p = virtToPhys(vaPage);
      if (p % 4096 !== 0 || virtToPhys(vaPage + 4095) !== p + 4095) return undefined;
      return memory.contains(p, 4096) ? memory.pin(p) : undefined;
    },
    rangeView(va, size) {
      // The VA pages must map onto consecutive RAM pages of one bank.
      if (!(size > 0)) return undefined;
      const first = Math.floor(va / 4096) * 4096;
      const bytes = Math.ceil((va + size) / 4096) * 4096 - first;
      const p = virtToPhys(first);
      if (p % 4096 !== 0 || virtToPhys(first + bytes - 1) !== p + bytes - 1) return undefined;
      return memory.contains(p, bytes) ? memory.pinRange(p, bytes) : undefined;
    },
    isZero: (va, size) => memory.readBytes(pa(va, size, false), size).every((b) => b === 0),
    readBytes: (va, size) => memory.readBytes(pa(va, size, false), size),
    writeBytes(va, bytes) {
      if (bytes.length === 0) return void pa(va, 0, true);
      try {
        memory.writeBytes(virtToPhys(va), bytes);
      } catch (e) {
        throw outside(e, va, bytes.length, true);
      }
    },
  };
}
