/**
 * The oracle's kernel cache: `<cache>/kernels/<6.1|6.12|7.2>/` holds
 * `Image`, `System.map` and `manifest.json` (which packages and versions
 * they came from). The cache is `$HYPLAB_CACHE`, else
 * `$XDG_CACHE_HOME/hyplab`, else `~/.cache/hyplab`.
 *
 * @module
 */

import { OracleError } from "./errors.ts";

/** The kernels the oracle knows, each a Debian suite's `linux-image-arm64`. */
export const KERNELS = {
  "6.1": { suite: "bookworm", profile: "v6.1" },
  "6.12": { suite: "trixie", profile: "v6.12" },
  "7.2": { suite: "sid", profile: "v7.2" },
} as const;

/** A kernel name: `6.1`, `6.12` or `7.2`. */
export type KernelName = keyof typeof KERNELS;

/** The kernel names in order. */
export const KERNEL_NAMES: readonly KernelName[] = Object.keys(KERNELS) as KernelName[];

/**
 * Whether a string names a cached kernel.
 * @param s Text.
 * @returns True for `6.1`, `6.12`, `7.2`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isKernelName } from "./kernel_cache.ts";
 * assertEquals([isKernelName("6.1"), isKernelName("5.10")], [true, false]);
 * ```
 */
export function isKernelName(s: string): s is KernelName {
  return Object.hasOwn(KERNELS, s);
}

/** What `manifest.json` records about a cached kernel. */
export interface KernelManifest {
  /** `6.1`, `6.12`, `7.2`. */
  kernel: KernelName;
  /** Debian suite. */
  suite: string;
  /** `linux-image-arm64` version the suite had. */
  meta_version: string;
  /** Package the Image came from. */
  image_package: string;
  /** Its version. */
  image_version: string;
  /** Path of the Image inside that package. */
  image_member: string;
  /** Package the System.map came from (`-dbg`). */
  dbg_package: string;
  /** Its version. */
  dbg_version: string;
  /** Path of the System.map inside that package. */
  system_map_member: string;
  /** Kernel release (`uname -r`), e.g. `6.1.0-50-arm64`. */
  kernel_release: string;
  /** Archive the packages came from. */
  mirror: string;
  /** Date fetched, YYYY-MM-DD. */
  fetched: string;
}

/**
 * The cache directory from the environment.
 *
 * @param env Variables (default `Deno.env`).
 * @returns The directory.
 * @throws {OracleError} When none of HYPLAB_CACHE, XDG_CACHE_HOME, HOME is set.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { cacheDir } from "./kernel_cache.ts";
 * assertEquals(cacheDir({ get: (k) => ({ HOME: "/home/u" } as Record<string, string>)[k] }), "/home/u/.cache/hyplab");
 * ```
 */
export function cacheDir(env: { get(key: string): string | undefined } = Deno.env): string {
  const explicit = env.get("HYPLAB_CACHE");
  if (explicit) return explicit;
  const xdg = env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/hyplab`;
  const home = env.get("HOME");
  if (home) return `${home}/.cache/hyplab`;
  throw new OracleError("no cache directory: set HYPLAB_CACHE (or XDG_CACHE_HOME or HOME)");
}

/**
 * A kernel's directory in the cache.
 * @param cache Cache root.
 * @param name Kernel.
 * @returns `<cache>/kernels/<name>`.
 */
export function kernelDir(cache: string, name: KernelName): string {
  return `${cache}/kernels/${name}`;
}

/** A cached kernel's files. */
export interface CachedKernel {
  /** Image path. */
  image: string;
  /** System.map path. */
  systemMap: string;
  /** Its manifest. */
  manifest: KernelManifest;
}

/**
 * Reads a kernel's manifest, or null when the kernel is not (completely) cached.
 * @param cache Cache root.
 * @param name Kernel.
 * @returns The files and manifest, or null.
 */
export async function findCachedKernel(
  cache: string,
  name: KernelName,
): Promise<CachedKernel | null> {
  const dir = kernelDir(cache, name);
  try {
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`)) as KernelManifest;
    for (const f of ["Image", "System.map"]) {
      if (!(await Deno.stat(`${dir}/${f}`)).isFile) return null;
    }
    if (typeof manifest.image_version !== "string") return null;
    return { image: `${dir}/Image`, systemMap: `${dir}/System.map`, manifest };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof SyntaxError) return null;
    throw new OracleError(`cannot read ${dir}: ${(e as Error).message}`);
  }
}

/**
 * A kernel from the cache, which must be there.
 * @param cache Cache root.
 * @param name Kernel.
 * @returns The files and manifest.
 * @throws {OracleError} Saying to run setup when it is missing.
 */
export async function cachedKernel(cache: string, name: KernelName): Promise<CachedKernel> {
  const k = await findCachedKernel(cache, name);
  if (!k) {
    throw new OracleError(
      `kernel ${name} is not in the cache (${
        kernelDir(cache, name)
      }): run \`deno run -A examples/oracle.ts setup\``,
    );
  }
  return k;
}
