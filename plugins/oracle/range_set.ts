/**
 * A set of disjoint half-open physical ranges with bigint bounds, kept sorted
 * and merged, for replaying memblock events backwards. Adding a range that
 * overlaps the set, or removing one the set does not fully hold, is refused:
 * that is how a replay finds a log it does not understand.
 *
 * @module
 */

/** A half-open range [base, base + size), with memblock region flags. */
export interface FlaggedRange {
  /** First byte. */
  base: bigint;
  /** Length in bytes (> 0). */
  size: bigint;
  /** memblock region flags (0 for none). */
  flags: number;
}

/**
 * Sorted, merged, disjoint ranges. Touching ranges merge when their flags are
 * equal.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RangeSet } from "./range_set.ts";
 * const s = new RangeSet();
 * s.add(0x1000n, 0x1000n);
 * s.add(0x2000n, 0x1000n);
 * assertEquals(s.remove(0x1800n, 0x100n), null);
 * assertEquals(s.ranges().map((r) => [r.base, r.size]), [[0x1000n, 0x800n], [0x1900n, 0x1700n]]);
 * ```
 */
export class RangeSet {
  #r: FlaggedRange[] = [];

  /**
   * Adds [base, base + size). A range overlapping the set is refused.
   * @param base First byte.
   * @param size Bytes (0 adds nothing).
   * @param flags Region flags.
   * @returns null, or the reason it was refused.
   */
  add(base: bigint, size: bigint, flags = 0): string | null {
    if (size === 0n) return null;
    const end = base + size;
    const clash = this.#r.find((x) => x.base < end && base < x.base + x.size);
    if (clash) {
      return `overlaps [0x${clash.base.toString(16)}-0x${(clash.base + clash.size).toString(16)})`;
    }
    this.#r.push({ base, size, flags });
    this.#r.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
    const merged: FlaggedRange[] = [];
    for (const x of this.#r) {
      const last = merged[merged.length - 1];
      if (last && last.base + last.size === x.base && last.flags === x.flags) last.size += x.size;
      else merged.push({ ...x });
    }
    this.#r = merged;
    return null;
  }

  /**
   * Removes [base, base + size), which the set must fully hold.
   * @param base First byte.
   * @param size Bytes (0 removes nothing).
   * @returns null, or the reason it was refused.
   */
  remove(base: bigint, size: bigint): string | null {
    if (size === 0n) return null;
    const end = base + size;
    let covered = 0n;
    for (const x of this.#r) {
      const lo = x.base > base ? x.base : base;
      const hi = x.base + x.size < end ? x.base + x.size : end;
      if (hi > lo) covered += hi - lo;
    }
    if (covered !== size) {
      return `only 0x${covered.toString(16)} of its 0x${size.toString(16)} bytes are in the set`;
    }
    const out: FlaggedRange[] = [];
    for (const x of this.#r) {
      const xe = x.base + x.size;
      if (xe <= base || x.base >= end) {
        out.push(x);
        continue;
      }
      if (x.base < base) out.push({ base: x.base, size: base - x.base, flags: x.flags });
      if (xe > end) out.push({ base: end, size: xe - end, flags: x.flags });
    }
    this.#r = out;
    return null;
  }

  /**
   * Whether any byte of [base, base + size) is in the set.
   * @param base First byte.
   * @param size Bytes.
   * @returns True on overlap.
   */
  overlaps(base: bigint, size: bigint): boolean {
    return this.#r.some((x) => x.base < base + size && base < x.base + x.size);
  }

  /**
   * Whether every byte of [base, base + size) is in the set.
   * @param base First byte.
   * @param size Bytes.
   * @returns True when covered.
   */
  covers(base: bigint, size: bigint): boolean {
    let covered = 0n;
    for (const x of this.#r) {
      const lo = x.base > base ? x.base : base;
      const hi = x.base + x.size < base + size ? x.base + x.size : base + size;
      if (hi > lo) covered += hi - lo;
    }
    return covered === size;
  }

  /**
   * The ranges, sorted and merged.
   * @returns Copies.
   */
  ranges(): FlaggedRange[] {
    return this.#r.map((x) => ({ ...x }));
  }
}
