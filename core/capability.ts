/**
 * Typed capabilities: the keys plugins provide and require.
 *
 * A capability is a typed key such as `PAGE_ALLOCATOR`; `ctx.get(PAGE_ALLOCATOR)`
 * is typed by it, so plugins never look each other up by string.
 *
 * @module
 */

/**
 * A typed capability key.
 *
 * @typeParam T The interface a provider supplies.
 */
export interface Capability<T> {
  /** snake_case name, shown in errors and traces. */
  readonly name: string;
  /** One line on what the capability does. */
  readonly description: string;
  /** Phantom member carrying `T`; never set. */
  readonly _type?: T;
}

const KNOWN = new WeakSet<object>();

/**
 * Declares a capability.
 *
 * @typeParam T The interface a provider supplies.
 * @param name snake_case name.
 * @param description One line on what it does.
 * @returns The capability key.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { capability } from "./capability.ts";
 * interface Clock { now(): number }
 * const CLOCK = capability<Clock>("clock", "a monotonic clock");
 * assertEquals(CLOCK.name, "clock");
 * ```
 */
export function capability<T>(name: string, description = ""): Capability<T> {
  if (!/^[a-z][a-z0-9_]*$/.test(name)) {
    throw new TypeError(`Cannot declare capability "${name}": name must be snake_case`);
  }
  const cap: Capability<T> = Object.freeze({ name, description });
  KNOWN.add(cap);
  return cap;
}

/**
 * Whether a value is a capability made by {@link capability}.
 *
 * @param value Anything.
 * @returns True for a declared capability.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { capability, isCapability } from "./capability.ts";
 * assertEquals(isCapability(capability("x")), true);
 * assertEquals(isCapability({ name: "x" }), false);
 * ```
 */
export function isCapability(value: unknown): value is Capability<unknown> {
  return typeof value === "object" && value !== null && KNOWN.has(value);
}
