/**
 * Plugins: objects with a name, the capabilities they provide and require,
 * and hooks. The machine checks the plugin graph before any hook runs.
 *
 * @module
 */

import type { Capability } from "./capability.ts";
import type { Machine } from "./machine.ts";

/**
 * What a plugin's `setup` hook receives: the machine, typed access to the
 * capabilities it requires, and `provide` for those it declared.
 */
export interface PluginContext {
  /** The machine being built (memory, CPUs, trace, PRNG, vectors). */
  readonly machine: Machine;
  /**
   * The provider value of a capability this plugin requires (or optionally uses).
   * @param cap Capability key.
   * @returns The provided value.
   */
  get<T>(cap: Capability<T>): T;
  /**
   * Whether some plugin in the machine provides `cap` (for optional
   * capabilities). Answered from the plugin graph, so it does not depend on
   * registration order; like `get`, only for capabilities in this plugin's
   * requires, optional or provides.
   * @param cap Capability key.
   * @returns True if provided.
   * @throws {PluginDependencyError} `cap` is not declared by this plugin.
   */
  has(cap: Capability<unknown>): boolean;
  /**
   * Supplies the value of a capability this plugin declared in `provides`.
   * @param cap Capability key.
   * @param value The implementation.
   * @throws {CapabilityValueError} The value lacks a member of the
   *   capability's interface, or holds the wrong kind of value there.
   */
  provide<T>(cap: Capability<T>, value: T): void;
}

/**
 * A plugin. Build one with a factory function taking options, e.g.
 * `buddyAllocator({ version: "v5.13" })`.
 *
 * @example A plugin that provides a capability
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { capability, createMachine, type Plugin } from "../mod.ts";
 * const GREETING = capability<{ hello(): string }>("greeting");
 * const greeter: Plugin = {
 *   name: "greeter",
 *   provides: [GREETING],
 *   setup(ctx) { ctx.provide(GREETING, { hello: () => "hi" }); },
 * };
 * const m = createMachine({ plugins: [greeter] });
 * assertEquals(m.get(GREETING).hello(), "hi");
 * ```
 */
export interface Plugin {
  /** snake_case name, shown in errors and traces. */
  readonly name: string;
  /** Where the plugin was loaded from (a module path), shown in errors. */
  readonly source?: string;
  /** Capabilities this plugin supplies in `setup`. */
  readonly provides: readonly Capability<unknown>[];
  /** Capabilities that must be provided by other plugins; they are set up first. */
  readonly requires?: readonly Capability<unknown>[];
  /** Capabilities used if present; when present, their providers are set up first. */
  readonly optional?: readonly Capability<unknown>[];
  /**
   * Sequential hook, run once per machine in dependency order. It is
   * synchronous: a setup that returns a promise (`async setup`) is refused,
   * and each value given to `provide` is checked against the capability's
   * member list there and then.
   */
  setup(ctx: PluginContext): void;
  /** Optional hook run by {@link Machine.dispose}, in reverse order; synchronous too. */
  dispose?(ctx: PluginContext): void;
}

/**
 * Replaces, in a plugin list, the provider of each capability `plugin`
 * provides (or appends it): a variant swap is one call.
 *
 * @param plugins The current list.
 * @param plugin The variant.
 * @returns A new list.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { capability, type Plugin, withPlugin } from "../mod.ts";
 * const CAP = capability<number>("answer");
 * const a: Plugin = { name: "a", provides: [CAP], setup: (c) => c.provide(CAP, 1) };
 * const b: Plugin = { name: "b", provides: [CAP], setup: (c) => c.provide(CAP, 2) };
 * assertEquals(withPlugin([a], b).map((p) => p.name), ["b"]);
 * ```
 */
export function withPlugin(plugins: readonly Plugin[], plugin: Plugin): Plugin[] {
  const out: Plugin[] = [];
  let placed = false;
  for (const p of plugins) {
    if (p.provides.some((c) => plugin.provides.includes(c))) {
      if (!placed) out.push(plugin);
      placed = true;
    } else {
      out.push(p);
    }
  }
  if (!placed) out.push(plugin);
  return out;
}
