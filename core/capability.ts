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
  /**
   * The members a provider's value must have (name → kind, as given to
   * {@link capability}), checked when a plugin calls `provide`; absent,
   * anything is accepted.
   */
  readonly members?: Readonly<Record<string, string>>;
  /** Phantom member carrying `T`; never set. */
  readonly _type?: T;
}

/** What `typeof` must say of a member (`object` also admits `null`). */
export type MemberKind = "function" | "string" | "number" | "boolean" | "bigint" | "object";

/**
 * The {@link MemberKind} of a member's type: `object` for anything that is
 * not a function or a primitive (arrays, records, class instances).
 */
export type KindOf<V> = [V] extends [(...args: never[]) => unknown] ? "function"
  : [V] extends [string] ? "string"
  : [V] extends [number] ? "number"
  : [V] extends [boolean] ? "boolean"
  : [V] extends [bigint] ? "bigint"
  : "object";

/**
 * The member list of a capability's interface `T`: every member, with the
 * kind of value it holds, and a trailing `?` for an optional one (checked
 * only when present). The type is derived from `T`, so the compiler refuses a
 * list that misses a member, names one `T` lacks, or gives the wrong kind.
 */
export type CapabilityMembers<T> = {
  readonly [K in keyof T & string]-?: undefined extends T[K]
    ? `${KindOf<Exclude<T[K], undefined>>}?`
    : KindOf<T[K]>;
};

const KNOWN = new WeakSet<object>();

/**
 * Declares a capability.
 *
 * @typeParam T The interface a provider supplies.
 * @param name snake_case name.
 * @param description One line on what it does.
 * @param members The members of `T` a provider's value must have; given,
 *   `provide` refuses a value that lacks one or holds the wrong kind, naming
 *   the plugin and the member.
 * @returns The capability key.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { capability, capabilityValueProblem } from "./capability.ts";
 * interface Clock { readonly name: string; now(): number; resolution?: number }
 * const CLOCK = capability<Clock>("clock", "a monotonic clock", {
 *   name: "string",
 *   now: "function",
 *   resolution: "number?",
 * });
 * assertEquals(CLOCK.name, "clock");
 * assertEquals(capabilityValueProblem(CLOCK, { name: "c", now: () => 0 }), undefined);
 * assertEquals(capabilityValueProblem(CLOCK, { name: "c", now: 0 })?.member, "now");
 * ```
 */
export function capability<T>(
  name: string,
  description = "",
  members?: CapabilityMembers<T>,
): Capability<T> {
  if (!/^[a-z][a-z0-9_]*$/.test(name)) {
    throw new TypeError(`Cannot declare capability "${name}": name must be snake_case`);
  }
  const cap: Capability<T> = Object.freeze(
    members === undefined
      ? { name, description }
      : { name, description, members: Object.freeze({ ...members }) },
  );
  KNOWN.add(cap);
  return cap;
}

/** What is wrong with a value provided for a capability. */
export interface CapabilityValueProblem {
  /** The member that is missing or of the wrong kind (absent: the value itself). */
  readonly member?: string;
  /** What was expected (`a function`, `an object with ...`). */
  readonly expected: string;
  /** What was found (`undefined`, `a number`). */
  readonly got: string;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "undefined";
  const t = typeof v;
  if (t === "object") return Array.isArray(v) ? "an array" : "an object";
  return t === "undefined" ? "undefined" : `${/^[aeiou]/.test(t) ? "an" : "a"} ${t}`;
}

function article(kind: string): string {
  return `${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind}`;
}

/**
 * Checks a value against a capability's member list: the value must be an
 * object (or function), and each listed member must hold its kind (read
 * through the prototype, so class instances qualify). Members not listed are
 * not looked at.
 *
 * @param cap The capability.
 * @param value What a plugin provides.
 * @returns The first problem in list order, or undefined when the value fits
 *   (always, for a capability declared without members).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { capabilityValueProblem, PAGE_ALLOCATOR } from "../mod.ts";
 * assertEquals(
 *   capabilityValueProblem(PAGE_ALLOCATOR, { name: "mine", metadataBytesPerPage: 3 }),
 *   { member: "createPool", expected: "a function", got: "undefined" },
 * );
 * ```
 */
export function capabilityValueProblem(
  cap: Capability<unknown>,
  value: unknown,
): CapabilityValueProblem | undefined {
  const members = cap.members;
  if (members === undefined) return undefined;
  if ((typeof value !== "object" && typeof value !== "function") || value === null) {
    const names = Object.keys(members).filter((k) => !members[k]!.endsWith("?"));
    return { expected: `an object with ${names.join(", ")}`, got: describe(value) };
  }
  const v = value as Record<string, unknown>;
  for (const [member, spec] of Object.entries(members)) {
    const optional = spec.endsWith("?");
    const kind = optional ? spec.slice(0, -1) : spec;
    const got = v[member];
    if (got === undefined && optional) continue;
    const ok = (typeof got as string) === kind;
    if (!ok) return { member, expected: article(kind), got: describe(got) };
  }
  return undefined;
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
