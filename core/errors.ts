/**
 * Error types shared by the core and the plugins.
 *
 * Simulator misuse and bad input throw; architectural faults (translation,
 * permission, external abort) are values (see {@link ExternalAbort}).
 *
 * @module
 */

/**
 * Base class of every error hyplab throws on purpose.
 *
 * @example Catching any hyplab error
 * ```ts
 * import { HyplabError } from "./errors.ts";
 * const e = new HyplabError("Cannot map 0x40000000: W and X together");
 * if (!(e instanceof Error)) throw new Error("unreachable");
 * ```
 */
export class HyplabError extends Error {
  /**
   * Creates the value.
   * @param message What went wrong, naming the value and the rule.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HyplabError";
  }
}

/**
 * The plugin graph cannot be satisfied: a capability with no provider, two
 * providers, an unknown capability, or a cycle.
 *
 * @example
 * ```ts
 * import { PluginDependencyError } from "./errors.ts";
 * const e = new PluginDependencyError("Missing provider", ["pkvm"], ["page_allocator"]);
 * if (e.plugins[0] !== "pkvm") throw new Error("unreachable");
 * ```
 */
export class PluginDependencyError extends HyplabError {
  /** The plugins involved, by name. */
  readonly plugins: readonly string[];
  /** The capabilities involved, by name. */
  readonly capabilities: readonly string[];
  /**
   * Creates the value.
   * @param message The full explanation.
   * @param plugins Plugin names involved.
   * @param capabilities Capability names involved.
   */
  constructor(message: string, plugins: readonly string[], capabilities: readonly string[]) {
    super(message);
    this.name = "PluginDependencyError";
    this.plugins = plugins;
    this.capabilities = capabilities;
  }
}

/**
 * An exception escaped a plugin hook; wraps it with the plugin and hook names.
 *
 * @example
 * ```ts
 * import { PluginError } from "./errors.ts";
 * const e = new PluginError("buddy", "setup", new Error("boom"));
 * if (e.message !== 'Plugin "buddy" failed in setup: boom') throw new Error("unreachable");
 * ```
 */
export class PluginError extends HyplabError {
  /** Name of the plugin whose hook failed. */
  readonly plugin: string;
  /** Name of the hook that failed. */
  readonly hook: string;
  /** Module path the plugin was loaded from, when it was loaded from one. */
  readonly source: string | undefined;
  /**
   * Creates the value.
   * @param plugin Plugin name.
   * @param hook Hook name.
   * @param cause The original exception.
   * @param source Module path the plugin was loaded from, if any.
   */
  constructor(plugin: string, hook: string, cause: unknown, source?: string) {
    const inner = cause instanceof Error ? cause.message : String(cause);
    const from = source === undefined ? "" : ` (from ${source})`;
    super(`Plugin "${plugin}"${from} failed in ${hook}: ${inner}`, { cause });
    this.name = "PluginError";
    this.plugin = plugin;
    this.hook = hook;
    this.source = source;
  }
}

/**
 * A plugin provided a value that does not fit its capability: not an object,
 * or a member missing or of the wrong kind. Raised by `provide`, so before
 * anything uses the value; a {@link PluginError} of the `setup` hook that
 * also names the capability and the member.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CapabilityValueError } from "./errors.ts";
 * const e = new CapabilityValueError("mine", "page_allocator", "createPool", "a function", "undefined");
 * assertEquals(
 *   e.message,
 *   'Plugin "mine" failed in setup: it provides "page_allocator" without createPool (expected a function, got undefined)',
 * );
 * ```
 */
export class CapabilityValueError extends PluginError {
  /** The capability the value was provided for. */
  readonly capability: string;
  /** The member at fault, or undefined when the value itself is not an object. */
  readonly member: string | undefined;
  /**
   * Creates the error.
   * @param plugin Plugin name.
   * @param capability Capability name.
   * @param member The member missing or of the wrong kind (undefined: the value itself).
   * @param expected What the capability wants (`a function`).
   * @param got What the value holds (`undefined`, `a number`).
   * @param source Module path the plugin was loaded from, if any.
   */
  constructor(
    plugin: string,
    capability: string,
    member: string | undefined,
    expected: string,
    got: string,
    source?: string,
  ) {
    const what = member === undefined
      ? `it provides "${capability}" as ${got}, expected ${expected}`
      : got === "undefined"
      ? `it provides "${capability}" without ${member} (expected ${expected}, got undefined)`
      : `it provides "${capability}" with ${member} of the wrong kind (expected ${expected}, got ${got})`;
    super(plugin, "setup", new TypeError(what), source);
    this.name = "CapabilityValueError";
    this.capability = capability;
    this.member = member;
  }
}

/**
 * A physical access outside every RAM bank, as a value (the architecture's
 * synchronous external abort).
 */
export interface ExternalAbort {
  /** Discriminant. */
  readonly kind: "external_abort";
  /** The physical address that was accessed. */
  readonly address: number;
  /** Access size in bytes. */
  readonly size: number;
  /** Whether the access was a write. */
  readonly write: boolean;
}

/**
 * Thrown at the API edge of {@link PhysicalMemory} accessors when an access
 * misses every RAM bank; carries the {@link ExternalAbort} value.
 *
 * @example
 * ```ts
 * import { ExternalAbortError } from "./errors.ts";
 * const e = new ExternalAbortError({ kind: "external_abort", address: 0, size: 8, write: false });
 * if (e.abort.address !== 0) throw new Error("unreachable");
 * ```
 */
export class ExternalAbortError extends HyplabError {
  /** The abort value. */
  readonly abort: ExternalAbort;
  /** Creates the value.
   * @param abort The abort value. */
  constructor(abort: ExternalAbort) {
    super(
      `Cannot ${abort.write ? "write" : "read"} ${abort.size} bytes at 0x${
        abort.address.toString(16)
      }: outside every RAM bank (external abort)`,
    );
    this.name = "ExternalAbortError";
    this.abort = abort;
  }
}

/**
 * Something the kernel would `BUG()` on (refcount overflow, double free, ...).
 * The structure it concerns is left exactly as it was.
 *
 * @example
 * ```ts
 * import { KernelBugError } from "./errors.ts";
 * const e = new KernelBugError("hyp_put_page", "Cannot put page 0x40000000: refcount is 0");
 * if (e.fn !== "hyp_put_page") throw new Error("unreachable");
 * ```
 */
export class KernelBugError extends HyplabError {
  /** The kernel function whose BUG_ON fired. */
  readonly fn: string;
  /**
   * Creates the value.
   * @param fn Kernel function name.
   * @param message Explanation naming the value.
   */
  constructor(fn: string, message: string) {
    super(`BUG in ${fn}: ${message}`);
    this.name = "KernelBugError";
    this.fn = fn;
  }
}

/**
 * A kernel function returned a negative errno; used where the kernel returns
 * an error code and the caller is TypeScript (the hypercall ABI carries the
 * raw errno instead).
 *
 * @example
 * ```ts
 * import { ERRNO, KernelErrnoError } from "./errors.ts";
 * const e = new KernelErrnoError("kvm_pgtable_hyp_map", ERRNO.EINVAL, "W and X together");
 * if (e.errno !== -22) throw new Error("unreachable");
 * ```
 */
export class KernelErrnoError extends HyplabError {
  /** The kernel function. */
  readonly fn: string;
  /** Negative errno (for example -22 for -EINVAL). */
  readonly errno: number;
  /**
   * Creates the value.
   * @param fn Kernel function name.
   * @param errno Negative errno.
   * @param message Explanation naming the value and the rule.
   */
  constructor(fn: string, errno: number, message: string) {
    super(`${fn} returned ${errnoName(errno)}: ${message}`);
    this.name = "KernelErrnoError";
    this.fn = fn;
    this.errno = errno;
  }
}

/**
 * Negative errno values as the kernel returns them.
 *
 * @example
 * ```ts
 * import { ERRNO } from "./errors.ts";
 * if (ERRNO.ENOMEM !== -12) throw new Error("unreachable");
 * ```
 */
export const ERRNO = {
  EPERM: -1,
  ENOENT: -2,
  ENOMEM: -12,
  EFAULT: -14,
  EBUSY: -16,
  EEXIST: -17,
  EINVAL: -22,
  ERANGE: -34,
  ENOTSUPP: -524,
} as const;

/**
 * Name of a negative errno (`-22` → `"-EINVAL"`), or the number itself.
 *
 * @param errno A negative errno.
 * @returns Its symbolic name.
 * @example
 * ```ts
 * import { errnoName } from "./errors.ts";
 * if (errnoName(-12) !== "-ENOMEM") throw new Error("unreachable");
 * ```
 */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(ERRNO)) {
    if (value === errno) return `-${name}`;
  }
  return String(errno);
}
