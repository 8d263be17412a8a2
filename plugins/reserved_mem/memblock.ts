/**
 * The host's memblock (`mm/memblock.c`): `memblock.memory` and
 * `memblock.reserved` as sorted region arrays, `memblock_add`,
 * `memblock_reserve`, and the top-down free-range search behind
 * `memblock_find_in_range` (v5.13) and `memblock_phys_alloc` (mainline).
 *
 * arm64 never switches memblock to bottom-up (only x86's movable_node does)
 * and leaves `memblock.current_limit` at `MEMBLOCK_ALLOC_ANYWHERE` since
 * "arm64: mm: allocate pagetables anywhere" (v4.6), so both searches run
 * top-down over all of memory. Region flags are kept and compared when
 * merging; the free-range search skips NOMAP and driver-managed memory
 * (mirror and movable-node hotplug choices are not modelled). NUMA node ids
 * are not modelled: touching regions with equal flags merge at the next
 * addition, as they do on a single node.
 *
 * @module
 */

import { hex, PAGE_SIZE, type RamBank } from "../../core/mod.ts";
import type { Memblock, MemblockRegion } from "../../core/mod.ts";

/** Highest physical address + 1 the simulator accepts (52-bit PA). */
const MAX_PA = 2 ** 52;

/**
 * `MEMBLOCK_ALLOC_ANYWHERE` (`~0`): the search limit mainline's
 * `memblock_phys_alloc` ends up with on arm64.
 */
export const MEMBLOCK_ALLOC_ANYWHERE: number = Number.POSITIVE_INFINITY;

function checkRange(what: string, base: number, size: number): void {
  if (!Number.isSafeInteger(base) || base < 0) {
    throw new RangeError(`Cannot ${what} at base ${base}: base must be a non-negative integer`);
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(
      `Cannot ${what} ${hex(base)} of size ${size}: size must be a non-negative integer`,
    );
  }
  if (base + size > MAX_PA) {
    throw new RangeError(
      `Cannot ${what} ${hex(base)}+${hex(size)}: ends above the 52-bit physical address space`,
    );
  }
}

/**
 * Checks that a memblock is well formed: every region a non-empty,
 * non-negative integer range below 2^52, each array sorted by base and
 * without overlaps (the kernel keeps both arrays that way).
 *
 * @param memblock The memblock.
 * @throws {RangeError} Naming the first bad region and the rule.
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { checkMemblock } from "./memblock.ts";
 * checkMemblock({ memory: [{ base: 0x4000_0000, size: 2 ** 30 }], reserved: [] });
 * assertThrows(() =>
 *   checkMemblock({
 *     memory: [{ base: 0x8000_0000, size: 4096 }, { base: 0x4000_0000, size: 4096 }],
 *     reserved: [],
 *   })
 * );
 * ```
 */
export function checkMemblock(memblock: Memblock): void {
  for (const type of ["memory", "reserved"] as const) {
    const regions = memblock[type];
    let prevEnd = -1;
    for (let i = 0; i < regions.length; i++) {
      const r = regions[i]!;
      checkRange(`use memblock.${type}[${i}]`, r.base, r.size);
      const f = r.flags ?? 0;
      if (!Number.isInteger(f) || f < 0 || f > 0xffff_ffff) {
        throw new RangeError(`Cannot use memblock.${type}[${i}] at ${hex(r.base)}: bad flags ${f}`);
      }
      if (r.size === 0) {
        throw new RangeError(`Cannot use memblock.${type}[${i}] at ${hex(r.base)}: size is 0`);
      }
      if (r.base < prevEnd) {
        throw new RangeError(
          `Cannot use memblock.${type}[${i}] at ${
            hex(r.base)
          }: regions must be sorted by base and disjoint`,
        );
      }
      prevEnd = r.base + r.size;
    }
  }
}

/**
 * `enum memblock_flags` (`include/linux/memblock.h`). `RSRV_KERN` exists from
 * about v6.16 (KHO); `DRIVER_MANAGED` from about v5.16.
 */
export const MEMBLOCK_FLAGS: {
  readonly NONE: 0;
  readonly HOTPLUG: 0x1;
  readonly MIRROR: 0x2;
  readonly NOMAP: 0x4;
  readonly DRIVER_MANAGED: 0x8;
  readonly RSRV_NOINIT: 0x10;
  readonly RSRV_KERN: 0x20;
} = {
  NONE: 0,
  HOTPLUG: 0x1,
  MIRROR: 0x2,
  NOMAP: 0x4,
  DRIVER_MANAGED: 0x8,
  RSRV_NOINIT: 0x10,
  RSRV_KERN: 0x20,
};

function region(base: number, size: number, flags: number): MemblockRegion {
  return flags ? { base, size, flags } : { base, size };
}

/**
 * `memblock_add_range()`: adds `[base, base + size)` to a region array. The
 * parts already covered keep their regions (and flags); the uncovered parts
 * are inserted with `flags`; then `memblock_merge_regions()` merges every
 * pair of touching regions with equal flags. A zero size does nothing.
 *
 * @param regions A sorted, disjoint region array (mutated).
 * @param base First byte.
 * @param size Bytes.
 * @param flags `MEMBLOCK_FLAGS` bits of the new parts.
 * @throws {RangeError} For a negative, non-integer or too-high range (nothing changes).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MEMBLOCK_FLAGS, memblockAddRange } from "./memblock.ts";
 * const r = [{ base: 0x1000, size: 0x1000 }];
 * memblockAddRange(r, 0x2000, 0x1000);
 * assertEquals(r, [{ base: 0x1000, size: 0x2000 }]);
 * memblockAddRange(r, 0x3000, 0x1000, MEMBLOCK_FLAGS.RSRV_KERN); // different flags: no merge
 * assertEquals(r.length, 2);
 * ```
 */
export function memblockAddRange(
  regions: MemblockRegion[],
  base: number,
  size: number,
  flags = 0,
): void {
  checkRange("add memblock region", base, size);
  if (size === 0) return;
  const end = base + size;
  let cur = base;
  let idx = 0;
  for (; idx < regions.length; idx++) {
    const r = regions[idx]!;
    const rend = r.base + r.size;
    if (r.base >= end) break;
    if (rend <= cur) continue;
    // `r` overlaps: insert the part below it, then skip past it.
    if (r.base > cur) regions.splice(idx++, 0, region(cur, r.base - cur, flags));
    cur = Math.min(rend, end);
  }
  if (cur < end) regions.splice(idx, 0, region(cur, end - cur, flags));
  for (let i = 0; i < regions.length - 1;) {
    const a = regions[i]!;
    const b = regions[i + 1]!;
    if (a.base + a.size !== b.base || (a.flags ?? 0) !== (b.flags ?? 0)) {
      i++;
      continue;
    }
    regions.splice(i, 2, region(a.base, a.size + b.size, a.flags ?? 0));
  }
}

/**
 * `memblock_add()`: adds RAM to `memblock.memory`.
 *
 * @param memblock The memblock (mutated).
 * @param base First byte.
 * @param size Bytes.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { memblockAdd } from "./memblock.ts";
 * const mb = { memory: [], reserved: [] };
 * memblockAdd(mb, 0x4000_0000, 2 ** 30);
 * assertEquals(mb.memory, [{ base: 0x4000_0000, size: 2 ** 30 }]);
 * ```
 */
export function memblockAdd(memblock: Memblock, base: number, size: number): void {
  memblockAddRange(memblock.memory, base, size);
}

/**
 * `memblock_reserve()`: adds a range to `memblock.reserved` (mainline's
 * memblock allocations reserve with `MEMBLOCK_RSRV_KERN`).
 *
 * @param memblock The memblock (mutated).
 * @param base First byte.
 * @param size Bytes.
 * @param flags `MEMBLOCK_FLAGS` bits (`MEMBLOCK_NONE` for `memblock_reserve`).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { memblockReserve } from "./memblock.ts";
 * const mb = { memory: [{ base: 0x4000_0000, size: 2 ** 30 }], reserved: [] };
 * memblockReserve(mb, 0x4020_0000, 0x200_0000);
 * assertEquals(mb.reserved, [{ base: 0x4020_0000, size: 0x200_0000 }]);
 * ```
 */
export function memblockReserve(
  memblock: Memblock,
  base: number,
  size: number,
  flags = 0,
): void {
  memblockAddRange(memblock.reserved, base, size, flags);
}

/**
 * `memblock_end_of_DRAM()`: the end of the last memory region (0 without
 * memory).
 *
 * @param memblock The memblock.
 * @returns One past the last byte of RAM.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { memblockEndOfDram } from "./memblock.ts";
 * assertEquals(memblockEndOfDram({ memory: [{ base: 0x4000_0000, size: 2 ** 32 }], reserved: [] }), 0x1_4000_0000);
 * ```
 */
export function memblockEndOfDram(memblock: Memblock): number {
  const last = memblock.memory[memblock.memory.length - 1];
  return last ? last.base + last.size : 0;
}

/**
 * The free ranges (memory minus reserved, NOMAP and driver-managed memory
 * left out) in the order `for_each_free_mem_range_reverse` visits them:
 * highest first.
 *
 * @param memblock A well-formed memblock.
 * @returns Free ranges, descending.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { memblockFreeRangesReverse } from "./memblock.ts";
 * const mb = {
 *   memory: [{ base: 0x4000_0000, size: 0x4000_0000 }],
 *   reserved: [{ base: 0x5000_0000, size: 0x1000_0000 }],
 * };
 * assertEquals(memblockFreeRangesReverse(mb), [
 *   { base: 0x6000_0000, size: 0x2000_0000 },
 *   { base: 0x4000_0000, size: 0x1000_0000 },
 * ]);
 * ```
 */
export function memblockFreeRangesReverse(memblock: Memblock): MemblockRegion[] {
  const out: MemblockRegion[] = [];
  const mem = memblock.memory;
  const res = memblock.reserved;
  // Gap i lies before reserved[i]: [end of reserved[i-1] (or 0), reserved[i].base (or ~0)).
  let ib = res.length;
  for (let ia = mem.length - 1; ia >= 0; ia--) {
    const m = mem[ia]!;
    // should_skip_region() with MEMBLOCK_NONE: NOMAP and driver-managed
    // memory is never handed out.
    if ((m.flags ?? 0) & (MEMBLOCK_FLAGS.NOMAP | MEMBLOCK_FLAGS.DRIVER_MANAGED)) continue;
    const mStart = m.base;
    const mEnd = m.base + m.size;
    while (ib >= 0) {
      const rStart = ib > 0 ? res[ib - 1]!.base + res[ib - 1]!.size : 0;
      const rEnd = ib < res.length ? res[ib]!.base : MEMBLOCK_ALLOC_ANYWHERE;
      if (rEnd <= mStart) break;
      if (mEnd > rStart) {
        const s = Math.max(mStart, rStart);
        out.push({ base: s, size: Math.min(mEnd, rEnd) - s });
      }
      // A gap reaching below this region may also cover the next one down.
      if (mStart >= rStart) break;
      ib--;
    }
  }
  return out;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/**
 * `memblock_find_in_range()` (top-down, `__memblock_find_range_top_down`):
 * the highest `align`-aligned base such that `[base, base + size)` lies in
 * one free range inside `[max(start, PAGE_SIZE), end)`. The first page is
 * never returned, so 0 means failure.
 *
 * @param memblock A well-formed memblock (not changed).
 * @param start Lowest acceptable address.
 * @param end One past the highest acceptable address.
 * @param size Bytes wanted (> 0).
 * @param align Power-of-two alignment.
 * @returns The base, or 0 when nothing fits.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { memblockFindInRange } from "./memblock.ts";
 * const mb = { memory: [{ base: 0x4000_0000, size: 2 ** 32 }], reserved: [] };
 * assertEquals(memblockFindInRange(mb, 0, 0x1_4000_0000, 22 * 2 ** 20, 2 ** 21), 0x1_3ea0_0000);
 * ```
 */
export function memblockFindInRange(
  memblock: Memblock,
  start: number,
  end: number,
  size: number,
  align: number,
): number {
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new RangeError(`Cannot find a memblock range of ${size} bytes: size must be > 0`);
  }
  if (!isPowerOfTwo(align)) {
    throw new RangeError(`Cannot find a memblock range aligned to ${align}: not a power of two`);
  }
  const lo = Math.max(start, PAGE_SIZE);
  const hi = Math.max(lo, end);
  for (const r of memblockFreeRangesReverse(memblock)) {
    const thisStart = Math.min(Math.max(r.base, lo), hi);
    const thisEnd = Math.min(Math.max(r.base + r.size, lo), hi);
    if (thisEnd < size) continue;
    const cand = Math.floor((thisEnd - size) / align) * align;
    if (cand >= thisStart) return cand;
  }
  return 0;
}

/**
 * Mainline `memblock_phys_alloc(size, align)`: find top-down below
 * `memblock.current_limit` (`MEMBLOCK_ALLOC_ANYWHERE` on arm64) and reserve
 * with `MEMBLOCK_RSRV_KERN` (`memblock_alloc_range_nid`, v6.16+), so the pool
 * does not merge with neighbouring `memblock_reserve` regions.
 *
 * @param memblock A well-formed memblock (mutated on success).
 * @param size Bytes (> 0).
 * @param align Power-of-two alignment.
 * @returns The base, or 0 (memblock unchanged).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { memblockPhysAlloc } from "./memblock.ts";
 * const mb = { memory: [{ base: 0x4000_0000, size: 2 ** 30 }], reserved: [] };
 * assertEquals(memblockPhysAlloc(mb, 4096, 4096), 0x7fff_f000);
 * assertEquals(mb.reserved, [{ base: 0x7fff_f000, size: 4096, flags: 0x20 }]);
 * ```
 */
export function memblockPhysAlloc(memblock: Memblock, size: number, align: number): number {
  const found = memblockFindInRange(memblock, 0, MEMBLOCK_ALLOC_ANYWHERE, size, align);
  if (found) memblockReserve(memblock, found, size, MEMBLOCK_FLAGS.RSRV_KERN);
  return found;
}

/**
 * Builds the host memblock the way early arm64 boot does: `memblock_add`
 * for each RAM bank, then `memblock_reserve` for each reservation (the
 * kernel image, initrd, DT `/reserved-memory`, ...).
 *
 * @param banks RAM banks (the machine's `memory.banks`).
 * @param reserved Reservations, in any order; they may overlap or lie outside RAM.
 * @returns A fresh memblock.
 * @throws {RangeError} For a bad range, or banks that overlap.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { memblockFromRam } from "./memblock.ts";
 * const mb = memblockFromRam(
 *   [{ base: 0x4000_0000, size: 2 ** 32 }],
 *   [{ base: 0x4020_0000, size: 0x200_0000 }],
 * );
 * assertEquals(mb.memory.length, 1);
 * assertEquals(mb.reserved, [{ base: 0x4020_0000, size: 0x200_0000 }]);
 * ```
 */
export function memblockFromRam(
  banks: readonly RamBank[],
  reserved: readonly MemblockRegion[] = [],
): Memblock {
  const sorted = [...banks].sort((a, b) => a.base - b.base);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (sorted[i]!.base < prev.base + prev.size) {
      throw new RangeError(
        `Cannot build memblock: RAM bank ${hex(sorted[i]!.base)} overlaps bank ${hex(prev.base)}`,
      );
    }
  }
  const memblock: Memblock = { memory: [], reserved: [] };
  for (const b of sorted) memblockAdd(memblock, b.base, b.size);
  for (const r of reserved) memblockReserve(memblock, r.base, r.size, r.flags ?? 0);
  return memblock;
}

/**
 * A deep copy of a memblock.
 *
 * @param memblock The memblock.
 * @returns An independent copy.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { cloneMemblock } from "./memblock.ts";
 * const a = { memory: [{ base: 0x1000, size: 0x1000 }], reserved: [] };
 * const b = cloneMemblock(a);
 * b.memory[0]!.size = 0;
 * assertEquals(a.memory[0]!.size, 0x1000);
 * ```
 */
export function cloneMemblock(memblock: Memblock): Memblock {
  return {
    memory: memblock.memory.map((r) => ({ ...r })),
    reserved: memblock.reserved.map((r) => ({ ...r })),
  };
}
