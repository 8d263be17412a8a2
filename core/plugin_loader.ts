/**
 * Loading plugins from a module path (`--plugin PATH`, `--allocator PATH`, ...).
 *
 * The convention: the module has a named export `plugin` (one {@link Plugin})
 * or `plugins` (an array of them). It imports `capability`, the capability
 * keys and the types from hyplab's `mod.ts`, so its capabilities are the same
 * objects the machine knows. Loading needs `--allow-read` for the file, and
 * only then.
 *
 * @module
 */

import { type Capability, isCapability } from "./capability.ts";
import { HyplabError } from "./errors.ts";
import type { Plugin } from "./plugin.ts";

/**
 * A module that could not be turned into plugins: unreadable, no `plugin`
 * export, not a plugin, or not providing the capability asked for.
 *
 * @example
 * ```ts
 * import { PluginLoadError } from "./plugin_loader.ts";
 * const e = new PluginLoadError("./mine.ts", "no export named plugin or plugins");
 * if (e.message !== "Cannot load plugin module ./mine.ts: no export named plugin or plugins") {
 *   throw new Error("unreachable");
 * }
 * ```
 */
export class PluginLoadError extends HyplabError {
  /** The module path as given. */
  readonly file: string;
  /**
   * Creates the error.
   * @param file Module path.
   * @param reason What is wrong.
   * @param options Error options (`cause`).
   */
  constructor(file: string, reason: string, options?: ErrorOptions) {
    super(`Cannot load plugin module ${file}: ${reason}`, options);
    this.name = "PluginLoadError";
    this.file = file;
  }
}

/** The exports a plugin module may have. */
export interface PluginModule {
  /** One plugin. */
  plugin?: Plugin;
  /** Several plugins. */
  plugins?: readonly Plugin[];
}

/**
 * Checks that a value has the shape of a plugin.
 *
 * @param value Anything.
 * @returns A reason it is not a plugin, or undefined.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pluginShapeError } from "./plugin_loader.ts";
 * assertEquals(pluginShapeError({ name: "x", provides: [], setup() {} }), undefined);
 * assertEquals(pluginShapeError(42), "42 is not an object");
 * ```
 */
export function pluginShapeError(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return `${String(value)} is not an object`;
  const p = value as Record<string, unknown>;
  if (typeof p.name !== "string" || p.name === "") return "it has no string name";
  if (typeof p.setup !== "function") return `plugin "${p.name}" has no setup function`;
  if (!Array.isArray(p.provides)) return `plugin "${p.name}" has no provides array`;
  for (const key of ["provides", "requires", "optional"]) {
    const list = p[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return `plugin "${p.name}" has a ${key} that is not an array`;
    for (const c of list) {
      if (!isCapability(c)) {
        const n = typeof c === "object" && c !== null && "name" in c ? String(c.name) : String(c);
        return `plugin "${p.name}" lists "${n}" in ${key}, which is not a capability from this hyplab (import capabilities from the same mod.ts)`;
      }
    }
  }
  return undefined;
}

/**
 * A copy of a plugin tagged with its source. A spread would copy own
 * properties only and drop what a class instance keeps on its prototype
 * (`setup`, `dispose`, getters), so the plugin members are read through the
 * original, and the hooks are bound to it so `this` (and `#private` state)
 * still work.
 */
function withSource(p: Plugin, file: string): Plugin {
  const out: Record<string, unknown> = {
    ...p,
    name: p.name,
    provides: p.provides,
    setup: p.setup.bind(p),
    source: file,
  };
  if (p.requires !== undefined) out.requires = p.requires;
  if (p.optional !== undefined) out.optional = p.optional;
  if (typeof p.dispose === "function") out.dispose = p.dispose.bind(p);
  return out as unknown as Plugin;
}

/**
 * Turns a module namespace into plugins, validating each.
 *
 * @param file The module path (for messages).
 * @param mod The module namespace.
 * @param want A capability one of the plugins must provide.
 * @returns The plugins, each tagged with `source = file`.
 * @throws {PluginLoadError} When the module does not follow the convention.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pluginsFromModule } from "./plugin_loader.ts";
 * const ps = pluginsFromModule("x.ts", { plugin: { name: "x", provides: [], setup() {} } });
 * assertEquals(ps.map((p) => [p.name, p.source]), [["x", "x.ts"]]);
 * ```
 */
export function pluginsFromModule(
  file: string,
  mod: Record<string, unknown>,
  want?: Capability<unknown>,
): Plugin[] {
  let list: unknown[];
  if ("plugin" in mod && mod.plugin !== undefined) list = [mod.plugin];
  else if ("plugins" in mod && Array.isArray(mod.plugins)) list = [...mod.plugins];
  else {
    const names = Object.keys(mod);
    throw new PluginLoadError(
      file,
      `no export named "plugin" or "plugins" (it exports ${
        names.length ? names.map((n) => `"${n}"`).join(", ") : "nothing"
      })`,
    );
  }
  if (list.length === 0) throw new PluginLoadError(file, `"plugins" is empty`);
  const out: Plugin[] = [];
  for (const v of list) {
    const why = pluginShapeError(v);
    if (why !== undefined) throw new PluginLoadError(file, why);
    out.push(withSource(v as Plugin, file));
  }
  if (want !== undefined && !out.some((p) => p.provides.includes(want))) {
    const got = out.map((p) =>
      `"${p.name}" provides ${
        p.provides.length ? p.provides.map((c) => `"${c.name}"`).join(", ") : "nothing"
      }`
    );
    throw new PluginLoadError(
      file,
      `expected a plugin providing "${want.name}", but ${got.join("; ")}`,
    );
  }
  return out;
}

/**
 * Converts a file path (absolute, or relative to `cwd`) to a `file:` URL,
 * percent-encoding what a URL would otherwise read as syntax: `%` (an
 * escape), `#` (a fragment), `?` (a query) and spaces. Backslashes and a drive
 * letter (`C:\\dir\\p.ts`) are taken as a Windows path.
 *
 * @param path File path.
 * @param cwd Directory a relative path is resolved against.
 * @returns The `file:` URL.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { filePathToUrl } from "./plugin_loader.ts";
 * assertEquals(filePathToUrl("/tmp/dir #1/100%.ts", "/"), "file:///tmp/dir%20%231/100%25.ts");
 * assertEquals(filePathToUrl("p.ts", "/work/x"), "file:///work/x/p.ts");
 * assertEquals(filePathToUrl("C:\\a b\\p.ts", "C:\\"), "file:///C:/a%20b/p.ts");
 * ```
 */
export function filePathToUrl(path: string, cwd: string): string {
  // A backslash is a legal POSIX file-name character: only a drive letter
  // (in the path or the directory) makes this a Windows path.
  const windows = /^[a-z]:[\\/]/i.test(path) || /^[a-z]:[\\/]/i.test(cwd);
  const slashes = (p: string): string => (windows ? p.replaceAll("\\", "/") : p);
  const isAbs = (p: string): boolean => p.startsWith("/") || /^[a-z]:\//i.test(p);
  let abs = slashes(path);
  if (!isAbs(abs)) abs = `${slashes(cwd).replace(/\/+$/, "")}/${abs}`;
  if (!abs.startsWith("/")) abs = `/${abs}`; // "C:/x" -> "/C:/x"
  const url = new URL("file:///");
  // The pathname setter encodes spaces, "#" and "?", and resolves "." and
  // ".." segments, but leaves "%" alone (it would start an escape) and reads
  // "\\" as "/" in a file URL (only right for a Windows path, already turned).
  url.pathname = abs.replaceAll("%", "%25").replaceAll("\\", "%5C");
  return url.href;
}

/**
 * Imports a plugin module by path (relative to the working directory) or URL.
 *
 * @param path File path or URL.
 * @param want A capability one of its plugins must provide.
 * @returns The plugins.
 * @throws {PluginLoadError} Unreadable module, or it does not follow the convention.
 * @example
 * ```ts ignore
 * import { loadPluginModule, PAGE_ALLOCATOR } from "../mod.ts";
 * const [allocator] = await loadPluginModule("./my_allocator.ts", PAGE_ALLOCATOR);
 * ```
 */
export async function loadPluginModule(
  path: string,
  want?: Capability<unknown>,
): Promise<Plugin[]> {
  // A scheme has at least two characters, so a Windows drive (`C:\x.ts`) is a path.
  const url = /^[a-z][a-z0-9+.-]+:/i.test(path) ? path : filePathToUrl(path, Deno.cwd());
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (e) {
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new PluginLoadError(path, msg ?? "import failed", { cause: e });
  }
  return pluginsFromModule(path, mod, want);
}
