/**
 * A small open-addressing hash map from a non-negative integer key (a VA
 * divided by the entry size, up to 2^41) to a value: linear probing,
 * backward-shift deletion, no tombstones.
 *
 * Why not a `Map`: hyp VAs divided by 4 KiB exceed V8's small-integer range,
 * so `Map` hashes heap numbers on every lookup and insert; here a lookup is
 * a couple of integer multiplies and a typed-array compare.
 *
 * @module
 */

const EMPTY = -1;

/**
 * Hash map keyed by non-negative safe integers.
 *
 * @typeParam T Value type.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { VpnMap } from "./vpn_map.ts";
 * const m = new VpnMap<string>();
 * m.set(0x7fff_8000_1, "a");
 * m.set(3, "b");
 * assertEquals([m.get(0x7fff_8000_1), m.get(3), m.get(4), m.size], ["a", "b", undefined, 2]);
 * assertEquals(m.delete(3), true);
 * assertEquals([m.get(3), m.size], [undefined, 1]);
 * ```
 */
export class VpnMap<T> {
  #keys: Float64Array;
  #vals: (T | undefined)[];
  #mask: number;
  #size = 0;

  /**
   * Creates an empty map.
   * @param capacity Initial slots (a power of two).
   */
  constructor(capacity = 64) {
    this.#keys = new Float64Array(capacity).fill(EMPTY);
    this.#vals = new Array<T | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
  }

  /** Number of keys. */
  get size(): number {
    return this.#size;
  }

  #home(key: number): number {
    // 2^32 as a literal: a division by a module constant is a real divide.
    let h = Math.imul((key | 0) ^ Math.imul((key / 4294967296) | 0, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    return h & this.#mask;
  }

  /**
   * The value of a key.
   * @param key Non-negative integer.
   * @returns The value, or undefined.
   */
  get(key: number): T | undefined {
    const keys = this.#keys;
    const mask = this.#mask;
    for (let i = this.#home(key);; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === key) return this.#vals[i];
      if (k === EMPTY) return undefined;
    }
  }

  /**
   * Sets a key's value (replacing any).
   * @param key Non-negative integer.
   * @param value The value.
   */
  set(key: number, value: T): void {
    if ((this.#size + 1) * 2 > this.#keys.length) this.#grow();
    const keys = this.#keys;
    const mask = this.#mask;
    for (let i = this.#home(key);; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === key) {
        this.#vals[i] = value;
        return;
      }
      if (k === EMPTY) {
        keys[i] = key;
        this.#vals[i] = value;
        this.#size++;
        return;
      }
    }
  }

  /**
   * Removes a key.
   * @param key Non-negative integer.
   * @returns True when it was present.
   */
  delete(key: number): boolean {
    const keys = this.#keys;
    const vals = this.#vals;
    const mask = this.#mask;
    let i = this.#home(key);
    for (;; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === key) break;
      if (k === EMPTY) return false;
    }
    // Backward-shift: pull later members of the probe run into the hole.
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      const k = keys[j]!;
      if (k === EMPTY) break;
      const h = this.#home(k);
      const stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
      if (!stays) {
        keys[i] = k;
        vals[i] = vals[j];
        i = j;
      }
    }
    keys[i] = EMPTY;
    vals[i] = undefined;
    this.#size--;
    return true;
  }

  /** Removes every key. */
  clear(): void {
    if (this.#size === 0) return;
    this.#keys.fill(EMPTY);
    this.#vals.fill(undefined);
    this.#size = 0;
  }

  /** Returns: Every value, in slot order. */
  values(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] !== EMPTY) out.push(this.#vals[i]!);
    }
    return out;
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldVals = this.#vals;
    const cap = oldKeys.length * 2;
    this.#keys = new Float64Array(cap).fill(EMPTY);
    this.#vals = new Array<T | undefined>(cap).fill(undefined);
    this.#mask = cap - 1;
    this.#size = 0;
    for (let i = 0; i < oldKeys.length; i++) {
      if (oldKeys[i] !== EMPTY) this.set(oldKeys[i]!, oldVals[i]!);
    }
  }
}
