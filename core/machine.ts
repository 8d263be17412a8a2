/**
 * The machine: physical memory, CPUs, EL2 vectors, trace, PRNG and the
 * plugins that give it capabilities.
 *
 * @module
 */

import { type CpuModel, cpuModel } from "./cpu_model.ts";
import { type Capability, capabilityValueProblem, isCapability } from "./capability.ts";
import { CapabilityValueError, PluginDependencyError, PluginError } from "./errors.ts";
import { ExceptionVectors } from "./exception_level.ts";
import { PhysicalMemory, type RamBank } from "./physical_memory.ts";
import type { Plugin, PluginContext } from "./plugin.ts";
import { Prng } from "./prng.ts";
import { Cpu } from "./registers.ts";
import { Trace } from "./trace.ts";

/** Options of {@link createMachine}. */
export interface MachineOptions {
  /**
   * RAM banks.
   * @default [{ base: 0x4000_0000, size: 4 GiB }]
   */
  ram?: readonly RamBank[];
  /**
   * Number of CPUs.
   * @default 4
   */
  cpus?: number;
  /**
   * Plugins, in registration order (which breaks ties in setup order).
   * @default []
   */
  plugins?: readonly Plugin[];
  /**
   * PRNG seed.
   * @default 1
   */
  seed?: number;
  /** Trace to record into (a fresh one by default). */
  trace?: Trace;
  /**
   * The CPU model, by QEMU name (`cortex-a57`, `neoverse-n1`, `max`) or as a
   * {@link CpuModel}: its identification registers decide what the kernel
   * does (PA range, VHE, LPA2, SVE, CnP, PAuth, Spectre-v3a).
   * @default "cortex-a57"
   */
  cpu?: string | CpuModel;
}

/** The default RAM: one 4 GiB bank at 0x4000_0000, as on QEMU `virt`. */
export const DEFAULT_RAM: readonly RamBank[] = [{ base: 0x4000_0000, size: 2 ** 32 }];

/**
 * A simulated machine. Create it with {@link createMachine}.
 */
export class Machine {
  /** Physical memory. */
  readonly memory: PhysicalMemory;
  /** The CPUs. */
  readonly cpus: readonly Cpu[];
  /** EL2 vector handlers (shared by the CPUs, like one VBAR_EL2 value). */
  readonly vectors: ExceptionVectors = new ExceptionVectors();
  /** The event log. */
  readonly trace: Trace;
  /** The seeded PRNG. */
  readonly prng: Prng;
  /** Plugins in the order their hooks run. */
  readonly plugins: readonly Plugin[];
  #values = new Map<Capability<unknown>, unknown>();
  #providers = new Map<Capability<unknown>, Plugin>();
  /** Who declares each capability in `provides` (fixed by the checked graph). */
  #declared = new Map<Capability<unknown>, Plugin>();

  /** @internal Use {@link createMachine}. */
  constructor(
    memory: PhysicalMemory,
    cpus: readonly Cpu[],
    trace: Trace,
    prng: Prng,
    plugins: readonly Plugin[],
  ) {
    this.memory = memory;
    this.cpus = cpus;
    this.trace = trace;
    this.prng = prng;
    this.plugins = plugins;
    for (const p of plugins) for (const cap of p.provides) this.#declared.set(cap, p);
  }

  /**
   * The value provided for a capability.
   * @param cap Capability key.
   * @returns The provider's value.
   * @throws {PluginDependencyError} If nothing provides it.
   */
  get<T>(cap: Capability<T>): T {
    if (!this.#values.has(cap)) {
      throw new PluginDependencyError(
        `Cannot get capability "${cap.name}": no plugin provides it`,
        [],
        [cap.name],
      );
    }
    return this.#values.get(cap) as T;
  }

  /**
   * Whether a capability is provided.
   * @param cap Capability key.
   * @returns True if provided.
   */
  has(cap: Capability<unknown>): boolean {
    return this.#values.has(cap);
  }

  /**
   * Name of the plugin providing a capability.
   * @param cap Capability key.
   * @returns Plugin name, or undefined.
   */
  providerOf(cap: Capability<unknown>): string | undefined {
    return this.#providers.get(cap)?.name;
  }

  /**
   * The CPU with this index.
   * @param id CPU index.
   * @returns The CPU.
   * @throws {RangeError} For an index outside the machine.
   */
  cpu(id: number): Cpu {
    const c = this.cpus[id];
    if (c === undefined) {
      throw new RangeError(`Cannot get CPU ${id}: the machine has ${this.cpus.length} CPUs`);
    }
    return c;
  }

  /**
   * Runs every plugin's `dispose` hook in reverse order. Every hook runs even
   * when an earlier one throws (so one failing plugin does not leak the
   * others' resources); then the one error is thrown, or an AggregateError
   * of all of them when several failed.
   *
   * @throws {PluginError} One dispose hook failed.
   * @throws {AggregateError} Several failed (its `errors` are PluginErrors).
   */
  dispose(): void {
    const errors: unknown[] = [];
    for (const p of [...this.plugins].reverse()) {
      if (p.dispose) {
        const d = p.dispose.bind(p);
        try {
          runPluginHook(p, "dispose", () => refuseAsync(p, "dispose", d(this.#context(p))));
        } catch (e) {
          errors.push(e);
        }
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new AggregateError(
        errors,
        `${errors.length} dispose hooks failed: ${
          errors.map((e) => (e instanceof Error ? e.message : String(e))).join("; ")
        }`,
      );
    }
  }

  /** @internal Runs setup for every plugin; called once by createMachine. */
  _setup(): void {
    for (const p of this.plugins) {
      const s = p.setup.bind(p);
      runPluginHook(p, "setup", () => refuseAsync(p, "setup", s(this.#context(p))));
      for (const cap of p.provides) {
        if (!this.#values.has(cap)) {
          throw new PluginError(
            p.name,
            "setup",
            new Error(`declared capability "${cap.name}" in provides but never called provide()`),
            p.source,
          );
        }
      }
    }
  }

  #context(p: Plugin): PluginContext {
    const allowed = new Set<Capability<unknown>>([
      ...(p.requires ?? []),
      ...(p.optional ?? []),
      ...p.provides,
    ]);
    return {
      machine: this,
      get: <T>(cap: Capability<T>): T => {
        if (!allowed.has(cap)) {
          throw new PluginDependencyError(
            `Plugin "${p.name}" cannot get capability "${cap.name}": not in its requires or optional`,
            [p.name],
            [cap.name],
          );
        }
        return this.get(cap);
      },
      // From the checked graph, not from what setup has provided so far: the
      // answer must not depend on registration order. Restricted like get, so
      // a plugin cannot depend on a capability it did not declare.
      has: (cap) => {
        if (!allowed.has(cap)) {
          throw new PluginDependencyError(
            `Plugin "${p.name}" cannot ask for capability "${cap.name}": not in its requires or optional`,
            [p.name],
            [cap.name],
          );
        }
        return this.#declared.has(cap);
      },
      provide: <T>(cap: Capability<T>, value: T): void => {
        if (!p.provides.includes(cap)) {
          throw new PluginDependencyError(
            `Plugin "${p.name}" cannot provide capability "${cap.name}": not in its provides`,
            [p.name],
            [cap.name],
          );
        }
        // Checked here, before anything uses the value, so a missing or
        // mistyped member names this plugin, not whoever calls it first.
        const bad = capabilityValueProblem(cap, value);
        if (bad !== undefined) {
          throw new CapabilityValueError(
            p.name,
            cap.name,
            bad.member,
            bad.expected,
            bad.got,
            p.source,
          );
        }
        this.#values.set(cap, value);
        this.#providers.set(cap, p);
      },
    };
  }
}

/**
 * Hooks run synchronously, in dependency order: a hook that returns a
 * promise (an `async setup`) would provide its capabilities, or fail, after
 * the machine has moved on. Refused with the reason, whatever it provided
 * before its first `await`; the promise's own outcome is dropped so that a
 * later rejection is not reported a second time as unhandled.
 */
function refuseAsync(p: Plugin, hook: string, returned: unknown): void {
  const then = (returned as { then?: unknown } | null | undefined)?.then;
  if (typeof then !== "function") return;
  (returned as Promise<unknown>).then(undefined, () => {});
  throw new PluginError(
    p.name,
    hook,
    new Error(
      hook === "setup"
        ? "setup returned a promise (an async setup?): hooks run synchronously, so call provide() before setup returns and do asynchronous work (reading files, fetching) before createMachine, for example at the top level of the plugin's module"
        : `${hook} returned a promise (an async ${hook}?): hooks run synchronously, so finish the work before ${hook} returns`,
    ),
    p.source,
  );
}

/**
 * Runs a plugin hook, wrapping any exception in a {@link PluginError} that
 * names the plugin and the hook, with the original as `cause`. Only a
 * PluginError that already names the same plugin and hook passes through
 * (so nested calls do not wrap twice); a {@link PluginDependencyError} raised
 * inside a hook (a `get` of an undeclared capability) is wrapped too, since on
 * its own it names neither the hook nor, for `machine.get`, the plugin.
 *
 * @param plugin The plugin (or just its name).
 * @param hook The hook name.
 * @param fn The hook body.
 * @returns What `fn` returns.
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { PluginError, runPluginHook } from "../mod.ts";
 * const e = assertThrows(
 *   () => runPluginHook({ name: "p" }, "boot", () => { throw new Error("x"); }),
 *   PluginError,
 *   'Plugin "p" failed in boot: x',
 * );
 * // Already wrapped for the same plugin and hook: passed through as is.
 * assertThrows(() => runPluginHook({ name: "p" }, "boot", () => { throw e; }), PluginError, 'in boot: x');
 * ```
 */
export function runPluginHook<R>(
  plugin: { readonly name: string; readonly source?: string },
  hook: string,
  fn: () => R,
): R {
  try {
    return fn();
  } catch (e) {
    if (e instanceof PluginError && e.plugin === plugin.name && e.hook === hook) throw e;
    throw new PluginError(plugin.name, hook, e, plugin.source);
  }
}

/**
 * Checks the plugin graph and returns the plugins in setup order: every
 * provider of a required (or present optional) capability comes first; ties
 * keep registration order.
 *
 * @param plugins Plugins in registration order.
 * @returns Plugins in setup order.
 * @throws {PluginDependencyError} Not a plugin (or `requires`/`optional` not
 * arrays), missing provider, two providers, a plugin depending on its own
 * capability, two capabilities with one name, unknown capability, cycle.
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { capability, orderPlugins, PluginDependencyError } from "../mod.ts";
 * const CAP = capability<number>("needed");
 * assertThrows(
 *   () => orderPlugins([{ name: "user", provides: [], requires: [CAP], setup() {} }]),
 *   PluginDependencyError,
 *   'Plugin "user" requires capability "needed", which no plugin provides',
 * );
 * ```
 */
export function orderPlugins(plugins: readonly Plugin[]): Plugin[] {
  const names = new Set<string>();
  for (const p of plugins) {
    if (
      typeof p?.name !== "string" || typeof p.setup !== "function" || !Array.isArray(p.provides)
    ) {
      throw new PluginDependencyError(
        `Cannot use plugin ${
          JSON.stringify((p as { name?: unknown })?.name ?? null)
        }: a plugin needs a string name, a provides array and a setup function`,
        [String((p as { name?: unknown })?.name)],
        [],
      );
    }
    for (const key of ["requires", "optional"] as const) {
      const v: unknown = p[key];
      if (v !== undefined && !Array.isArray(v)) {
        throw new PluginDependencyError(
          `Cannot use plugin "${p.name}": ${key} must be an array of capabilities, got ${
            v === null ? "null" : typeof v
          }`,
          [p.name],
          [],
        );
      }
    }
    if (names.has(p.name)) {
      throw new PluginDependencyError(
        `Cannot register plugin "${p.name}" twice`,
        [p.name],
        [],
      );
    }
    names.add(p.name);
  }
  const providers = new Map<Capability<unknown>, Plugin>();
  // Capabilities are keys by identity; two declared with the same name would
  // otherwise give "no plugin provides it" for a name some plugin provides.
  const byName = new Map<string, { cap: Capability<unknown>; plugin: Plugin }>();
  for (const p of plugins) {
    for (const cap of [...p.provides, ...(p.requires ?? []), ...(p.optional ?? [])]) {
      if (isCapability(cap)) {
        const seen = byName.get(cap.name);
        if (seen === undefined) {
          byName.set(cap.name, { cap, plugin: p });
        } else if (seen.cap !== cap) {
          throw new PluginDependencyError(
            `Plugins "${seen.plugin.name}" and "${p.name}" name two different capabilities called "${cap.name}": declare it once with capability() and share that value`,
            seen.plugin === p ? [p.name] : [seen.plugin.name, p.name],
            [cap.name],
          );
        }
      }
      if (!isCapability(cap)) {
        const shown = typeof cap === "object" && cap !== null && "name" in cap
          ? String((cap as { name: unknown }).name)
          : String(cap);
        throw new PluginDependencyError(
          `Plugin "${p.name}" names unknown capability "${shown}": capabilities must be declared with capability()`,
          [p.name],
          [shown],
        );
      }
    }
    for (const cap of p.provides) {
      const other = providers.get(cap);
      if (other) {
        throw new PluginDependencyError(
          `Capability "${cap.name}" has two providers: "${other.name}" and "${p.name}" (pass one)`,
          [other.name, p.name],
          [cap.name],
        );
      }
      providers.set(cap, p);
    }
  }
  const deps = new Map<Plugin, Plugin[]>();
  for (const p of plugins) {
    const d: Plugin[] = [];
    for (const cap of p.requires ?? []) {
      const prov = providers.get(cap);
      if (!prov) {
        throw new PluginDependencyError(
          `Plugin "${p.name}" requires capability "${cap.name}", which no plugin provides`,
          [p.name],
          [cap.name],
        );
      }
      if (prov === p) throw selfDependency(p, "requires", cap);
      d.push(prov);
    }
    for (const cap of p.optional ?? []) {
      const prov = providers.get(cap);
      if (prov === p) throw selfDependency(p, "optional", cap);
      if (prov) d.push(prov);
    }
    deps.set(p, d);
  }
  const out: Plugin[] = [];
  const state = new Map<Plugin, "visiting" | "done">();
  const visit = (p: Plugin, path: Plugin[]): void => {
    const s = state.get(p);
    if (s === "done") return;
    if (s === "visiting") {
      const cycle = [...path.slice(path.indexOf(p)), p];
      const caps = new Set<string>();
      for (let i = 0; i + 1 < cycle.length; i++) {
        for (const cap of cycle[i]!.requires ?? []) {
          if (providers.get(cap) === cycle[i + 1]) caps.add(cap.name);
        }
        for (const cap of cycle[i]!.optional ?? []) {
          if (providers.get(cap) === cycle[i + 1]) caps.add(cap.name);
        }
      }
      throw new PluginDependencyError(
        `Plugin dependency cycle: ${cycle.map((c) => `"${c.name}"`).join(" -> ")} (through ${
          [...caps].map((c) => `"${c}"`).join(", ")
        })`,
        cycle.slice(0, -1).map((c) => c.name),
        [...caps],
      );
    }
    state.set(p, "visiting");
    for (const d of deps.get(p)!) visit(d, [...path, p]);
    state.set(p, "done");
    out.push(p);
  };
  for (const p of plugins) visit(p, []);
  return out;
}

function selfDependency(
  p: Plugin,
  key: "requires" | "optional",
  cap: Capability<unknown>,
): PluginDependencyError {
  // A plugin's own capability is not there until its setup calls provide(),
  // so a get() before that would fail with a misleading "no plugin provides".
  return new PluginDependencyError(
    `Plugin "${p.name}" lists capability "${cap.name}" in ${key} but provides it itself: a plugin cannot depend on its own capability`,
    [p.name],
    [cap.name],
  );
}

/**
 * Refuses RAM the CPU cannot address: a bank ending above 2^paBits, the
 * physical address size the model's ID_AA64MMFR0_EL1.PARange gives. QEMU
 * refuses such a machine when it builds it ("Addressing limited to N bits,
 * but memory exceeds it by M bytes", `hw/arm/virt.c`, QEMU 7.2, which also
 * counts the board's high MMIO regions; hyplab models RAM only), so no
 * kernel ever sees it.
 *
 * @param banks The RAM banks, sorted.
 * @param model The CPU model.
 * @throws {RangeError} Naming the first bank past the limit, the model, its
 *   PA size and PARange.
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { checkPhysicalAddressRange, CPU_CORTEX_A57 } from "../mod.ts";
 * checkPhysicalAddressRange([{ base: 0x4000_0000, size: 2 ** 32 }], CPU_CORTEX_A57);
 * assertThrows(
 *   () => checkPhysicalAddressRange([{ base: 2 ** 44, size: 2 ** 30 }], CPU_CORTEX_A57),
 *   RangeError,
 *   "44-bit physical address range",
 * );
 * ```
 */
export function checkPhysicalAddressRange(banks: readonly RamBank[], model: CpuModel): void {
  const limit = 2 ** model.features.paBits;
  for (const b of banks) {
    const end = b.base + b.size;
    if (end <= limit) continue;
    const parange = Number(model.idRegs.ID_AA64MMFR0_EL1 & 0xfn);
    throw new RangeError(
      `Cannot add RAM bank [0x${b.base.toString(16)}, 0x${end.toString(16)}): it ends above ` +
        `the ${model.features.paBits}-bit physical address range of CPU ${model.name} ` +
        `(ID_AA64MMFR0_EL1.PARange = ${parange}, addresses below 0x${limit.toString(16)}); ` +
        `QEMU refuses such a machine ("Addressing limited to ${model.features.paBits} bits")`,
    );
  }
}

/**
 * Creates a machine: validates the RAM banks and the plugin graph, then runs
 * every plugin's `setup` in dependency order.
 *
 * @param options RAM, CPUs, plugins, seed.
 * @returns The machine.
 * @throws {RangeError} Bad RAM banks (including RAM above the CPU model's
 *   physical address range, {@link checkPhysicalAddressRange}) or CPU count.
 * @throws {PluginDependencyError} The plugin graph cannot be satisfied.
 * @throws {PluginError} A setup hook failed.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine } from "../mod.ts";
 * const m = createMachine({ cpus: 2 });
 * assertEquals(m.cpus.length, 2);
 * assertEquals(m.memory.totalBytes, 2 ** 32);
 * ```
 */
export function createMachine(options: MachineOptions = {}): Machine {
  const nr = options.cpus ?? 4;
  if (!Number.isInteger(nr) || nr < 1 || nr > 256) {
    throw new RangeError(`Cannot create ${nr} CPUs: the count must be an integer in 1..256`);
  }
  const memory = new PhysicalMemory(options.ram ?? DEFAULT_RAM);
  const ordered = orderPlugins(options.plugins ?? []);
  const model = typeof options.cpu === "object"
    ? options.cpu
    : cpuModel(options.cpu ?? "cortex-a57");
  checkPhysicalAddressRange(memory.banks, model);
  const cpus = Array.from({ length: nr }, (_, i) => new Cpu(i, model));
  const m = new Machine(
    memory,
    cpus,
    options.trace ?? new Trace(),
    new Prng(options.seed ?? 1),
    ordered,
  );
  m._setup();
  return m;
}
