/**
 * A small seeded PRNG (xoshiro128**), the single source of randomness for
 * workloads and property tests, so every run is reproducible from its seed.
 *
 * @module
 */

/**
 * Seeded pseudo-random number generator (xoshiro128**, state expanded from
 * the seed with splitmix32).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Prng } from "./prng.ts";
 * const a = new Prng(42), b = new Prng(42);
 * assertEquals(a.nextU32(), b.nextU32());
 * const n = a.int(10);
 * assertEquals(n >= 0 && n < 10, true);
 * ```
 */
export class Prng {
  #s = new Uint32Array(4);
  /** The seed this generator started from. */
  readonly seed: number;

  /**
   * Creates a generator.
   * @param seed Any integer; equal seeds give equal sequences. */
  constructor(seed: number) {
    this.seed = seed;
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((this.#s[0]! | this.#s[1]! | this.#s[2]! | this.#s[3]!) === 0) this.#s[0] = 1;
  }

  /** Returns: The next 32-bit unsigned value. */

  nextU32(): number {
    const s = this.#s;
    const r = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return r;
  }

  /**
   * A uniform integer in `[0, n)`.
   * @param n Exclusive upper bound, 1 ≤ n ≤ 2^32.
   * @returns The integer.
   */
  int(n: number): number {
    if (!(n >= 1)) throw new RangeError(`Cannot draw an integer below ${n}: bound must be >= 1`);
    return Math.floor((this.nextU32() / 0x1_0000_0000) * n);
  }

  /**
   * A uniform integer in `[lo, hi)`.
   * @param lo Inclusive lower bound.
   * @param hi Exclusive upper bound.
   * @returns The integer.
   */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo);
  }

  /** Returns: A float in `[0, 1)`. */

  float(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /**
   * A uniformly chosen element.
   * @param items Non-empty array.
   * @returns One element.
   */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Cannot pick from an empty array");
    return items[this.int(items.length)]!;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
