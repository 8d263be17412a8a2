/**
 * A private apt configuration for arm64 packages of several Debian suites,
 * kept under the oracle's cache: its own sources list, package lists,
 * archive cache and an empty dpkg status, so `apt-get update` and
 * `apt-get download` work without root and without touching the machine's
 * apt state. Signatures are checked with the Debian archive keyring.
 *
 * @module
 */

import { OracleError } from "./errors.ts";

/** The keyring the Debian archive is signed with. */
export const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/** `apt-cache madison` row. */
export interface MadisonRow {
  /** Version. */
  version: string;
  /** Suite, e.g. `bookworm` (from `bookworm/main`). */
  suite: string;
}

/**
 * Parses `apt-cache madison PKG` output.
 *
 * @param text Output.
 * @returns Rows.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseMadison } from "./private_apt.ts";
 * assertEquals(
 *   parseMadison("linux-image-arm64 |  6.1.176-1 | http://deb.debian.org/debian bookworm/main arm64 Packages\n"),
 *   [{ version: "6.1.176-1", suite: "bookworm" }],
 * );
 * ```
 */
export function parseMadison(text: string): MadisonRow[] {
  const out: MadisonRow[] = [];
  for (const line of text.split("\n")) {
    const cols = line.split("|").map((s) => s.trim());
    if (cols.length < 3) continue;
    const m = /\s(\S+?)\/\S+\s+\S+\s+Packages$/.exec(cols[2]!);
    if (m) out.push({ version: cols[1]!, suite: m[1]! });
  }
  return out;
}

/**
 * Parses the first stanza of `apt-cache show` output into fields.
 *
 * @param text Output.
 * @returns Field name → value (continuation lines joined with newlines).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseStanza } from "./private_apt.ts";
 * assertEquals(parseStanza("Package: a\nDepends: b (= 1), c\nSize: 10\n").get("Depends"), "b (= 1), c");
 * ```
 */
export function parseStanza(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let last: string | null = null;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (out.size) break;
      continue;
    }
    if (/^\s/.test(line) && last) {
      out.set(last, `${out.get(last)}\n${line.trim()}`);
      continue;
    }
    const m = /^([\w.-]+):\s?(.*)$/.exec(line);
    if (m) {
      last = m[1]!;
      out.set(last, m[2]!);
    }
  }
  return out;
}

/** apt-get/apt-cache with a private state directory. */
export class PrivateApt {
  /** State root. */
  readonly root: string;
  /** Archive URI. */
  readonly mirror: string;
  /** Suites in the sources list. */
  readonly suites: readonly string[];

  /**
   * Describes the configuration (nothing is written until {@link PrivateApt.init}).
   * @param root Directory for apt's state.
   * @param mirror Debian archive URI.
   * @param suites Suites to list.
   */
  constructor(root: string, mirror: string, suites: readonly string[]) {
    this.root = root;
    this.mirror = mirror;
    this.suites = suites;
  }

  /** The `-o` options that point apt at the private state. */
  options(): string[] {
    const o = [
      `Dir::Etc::SourceList=${this.root}/sources.list`,
      "Dir::Etc::SourceParts=/dev/null",
      `Dir::State::Lists=${this.root}/lists`,
      `Dir::Cache=${this.root}/cache`,
      `Dir::State::Status=${this.root}/status`,
      "APT::Architecture=arm64",
      "APT::Architectures::=arm64",
      "Debug::NoLocking=1",
    ];
    // As root apt drops to the _apt user to download, which cannot write into
    // a cache under root's home: download as root instead.
    if (Deno.uid?.() === 0) o.push("APT::Sandbox::User=root");
    return o.flatMap((x) => ["-o", x]);
  }

  /** Writes the sources list and creates the state directories. */
  async init(): Promise<void> {
    try {
      await Deno.stat(DEBIAN_KEYRING);
    } catch {
      throw new OracleError(
        `${DEBIAN_KEYRING} is missing: install debian-archive-keyring (apt-get install debian-archive-keyring)`,
      );
    }
    for (const d of ["lists/partial", "cache/archives/partial"]) {
      await Deno.mkdir(`${this.root}/${d}`, { recursive: true });
    }
    const list = this.suites.map((s) =>
      `deb [arch=arm64 signed-by=${DEBIAN_KEYRING}] ${this.mirror} ${s} main\n`
    ).join("");
    await Deno.writeTextFile(`${this.root}/sources.list`, list);
    try {
      await Deno.stat(`${this.root}/status`);
    } catch {
      await Deno.writeTextFile(`${this.root}/status`, "");
    }
  }

  async #run(tool: string, args: string[], cwd?: string): Promise<string> {
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(tool, {
        args: [...this.options(), ...args],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        ...(cwd ? { cwd } : {}),
        env: { LC_ALL: "C" },
      }).output();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new OracleError(`${tool} is not installed (setup fetches kernels with apt)`);
      }
      throw e;
    }
    const dec = new TextDecoder();
    if (!out.success) {
      const err = dec.decode(out.stderr).trim().split("\n").filter((l) => !/^W:/.test(l)).at(-1);
      throw new OracleError(`${tool} ${args.join(" ")} failed: ${err ?? `exit ${out.code}`}`);
    }
    return dec.decode(out.stdout);
  }

  /** `apt-get update`. */
  async update(): Promise<void> {
    await this.#run("apt-get", ["-q", "update"]);
  }

  /**
   * Versions of a package by suite.
   * @param pkg Package name.
   * @returns Rows of `apt-cache madison`.
   */
  async madison(pkg: string): Promise<MadisonRow[]> {
    return parseMadison(await this.#run("apt-cache", ["madison", pkg]));
  }

  /**
   * The fields of one package version, or null when apt does not know it.
   * @param pkg Package name.
   * @param version Exact version.
   * @returns Fields.
   */
  async show(pkg: string, version: string): Promise<Map<string, string> | null> {
    try {
      const text = await this.#run("apt-cache", ["show", `${pkg}=${version}`]);
      const f = parseStanza(text);
      return f.size ? f : null;
    } catch (e) {
      if (e instanceof OracleError) return null;
      throw e;
    }
  }

  /**
   * Downloads a package version into a directory.
   * @param pkg Package.
   * @param version Version.
   * @param dir Target directory.
   * @returns Path of the `.deb`.
   */
  async download(pkg: string, version: string, dir: string): Promise<string> {
    await this.#run("apt-get", ["-q", "download", `${pkg}=${version}`], dir);
    for await (const d of Deno.readDir(dir)) {
      if (d.isFile && d.name.startsWith(`${pkg}_`) && d.name.endsWith(".deb")) {
        return `${dir}/${d.name}`;
      }
    }
    throw new OracleError(`apt-get download ${pkg}=${version} left no .deb in ${dir}`);
  }
}
