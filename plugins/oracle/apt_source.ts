/**
 * The machine's apt sources, read to find the Debian archive mirror the
 * kernels are fetched from — never a mirror host written into hyplab.
 *
 * Two formats: deb822 stanzas (`/etc/apt/sources.list.d/*.sources`:
 * `Types:`, `URIs:`, `Suites:`, `Components:`, `Signed-By:`, `Enabled:`)
 * and one-line entries (`/etc/apt/sources.list`, `*.list`:
 * `deb [opt=val ...] URI SUITE COMPONENT...`).
 *
 * @module
 */

import { OracleError } from "./errors.ts";

/** One source entry, from either format. */
export interface AptSourceEntry {
  /** `deb`, `deb-src`. */
  types: string[];
  /** Archive URIs. */
  uris: string[];
  /** Suites (`bookworm`, `bookworm-updates`, `bookworm-security`). */
  suites: string[];
  /** Components (`main`, `contrib`). */
  components: string[];
  /** `Signed-By` / `signed-by=` when given (a keyring path or an inline key). */
  signedBy?: string;
  /** False for `Enabled: no`. */
  enabled: boolean;
  /** File it came from. */
  file: string;
  /** 1-based line of the entry (of the stanza's first field). */
  line: number;
}

/**
 * Parses deb822 `.sources` text.
 *
 * @param text The file.
 * @param file Its name, for messages.
 * @returns One entry per stanza that has `URIs`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseDeb822Sources } from "./apt_source.ts";
 * const e = parseDeb822Sources(
 *   "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n",
 *   "debian.sources",
 * );
 * assertEquals(e[0]!.suites, ["bookworm", "bookworm-updates"]);
 * ```
 */
export function parseDeb822Sources(text: string, file: string): AptSourceEntry[] {
  const out: AptSourceEntry[] = [];
  let fields = new Map<string, string>();
  let first = 0;
  let last: string | null = null;
  const flush = () => {
    if (fields.size > 0 && fields.has("uris")) {
      const list = (k: string) => (fields.get(k) ?? "").split(/\s+/).filter(Boolean);
      const e: AptSourceEntry = {
        types: list("types"),
        uris: list("uris"),
        suites: list("suites"),
        components: list("components"),
        enabled: !/^(no|false|0)$/i.test((fields.get("enabled") ?? "yes").trim()),
        file,
        line: first,
      };
      const sb = fields.get("signed-by")?.trim();
      if (sb) e.signedBy = sb;
      out.push(e);
    }
    fields = new Map();
    last = null;
  };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "");
    if (/^\s*#/.test(line)) continue;
    if (line.trim() === "") {
      flush();
      continue;
    }
    if (/^\s/.test(line)) {
      if (last === null) {
        throw new OracleError(`${file}:${i + 1}: continuation line outside a field`);
      }
      fields.set(last, `${fields.get(last)}\n${line.trim()}`);
      continue;
    }
    const m = /^([A-Za-z][\w-]*):\s*(.*)$/.exec(line);
    if (!m) throw new OracleError(`${file}:${i + 1}: expected "Field: value", got "${line}"`);
    if (fields.size === 0) first = i + 1;
    last = m[1]!.toLowerCase();
    fields.set(last, m[2]!);
  }
  flush();
  return out;
}

/**
 * Parses one-line `sources.list` text.
 *
 * @param text The file.
 * @param file Its name, for messages.
 * @returns One entry per `deb`/`deb-src` line.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseOneLineSources } from "./apt_source.ts";
 * const e = parseOneLineSources(
 *   "# mirror\ndeb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://ftp.de.debian.org/debian bookworm main contrib\n",
 *   "sources.list",
 * );
 * assertEquals([e[0]!.uris, e[0]!.signedBy, e[0]!.line], [
 *   ["http://ftp.de.debian.org/debian"],
 *   "/usr/share/keyrings/debian-archive-keyring.gpg",
 *   2,
 * ]);
 * ```
 */
export function parseOneLineSources(text: string, file: string): AptSourceEntry[] {
  const out: AptSourceEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "").replace(/#.*$/, "").trim();
    if (!line) continue;
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)((?:\s+\S+)*)$/.exec(line);
    if (!m) {
      throw new OracleError(
        `${file}:${i + 1}: expected "deb [options] URI SUITE COMPONENT...", got "${line}"`,
      );
    }
    const e: AptSourceEntry = {
      types: [m[1]!],
      uris: [m[3]!],
      suites: [m[4]!],
      components: m[5]!.trim().split(/\s+/).filter(Boolean),
      enabled: true,
      file,
      line: i + 1,
    };
    for (const opt of (m[2] ?? "").trim().split(/\s+/).filter(Boolean)) {
      const [k, v] = opt.split("=", 2);
      if (k?.toLowerCase() === "signed-by" && v) e.signedBy = v;
    }
    out.push(e);
  }
  return out;
}

/** Debian release names and aliases (a suite without `-security`, `-updates`, ...). */
const DEBIAN_SUITES = new Set([
  "squeeze",
  "wheezy",
  "jessie",
  "stretch",
  "buster",
  "bullseye",
  "bookworm",
  "trixie",
  "forky",
  "duke",
  "sid",
  "oldoldstable",
  "oldstable",
  "stable",
  "testing",
  "unstable",
  "experimental",
]); // deno-fmt-ignore

/**
 * Picks the Debian archive's URI among apt source entries: an enabled `deb`
 * entry for a Debian release suite (not `-security`, `-updates`, ...) with
 * `main`, signed by the Debian archive keyring (or by apt's default keys),
 * and not a security mirror. Among several, one whose path ends in
 * `/debian` wins, then the first.
 *
 * @param entries Entries in file order.
 * @returns The URI, without a trailing slash.
 * @throws {OracleError} When none qualifies.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { chooseDebianArchive, parseDeb822Sources } from "./apt_source.ts";
 * const e = parseDeb822Sources(
 *   "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n\n" +
 *     "Types: deb\nURIs: http://deb.debian.org/debian/\nSuites: bookworm\nComponents: main\n",
 *   "debian.sources",
 * );
 * assertEquals(chooseDebianArchive(e), "http://deb.debian.org/debian");
 * ```
 */
export function chooseDebianArchive(entries: readonly AptSourceEntry[]): string {
  let best: { uri: string; score: number } | null = null;
  for (const e of entries) {
    if (!e.enabled || !e.types.includes("deb") || !e.components.includes("main")) continue;
    if (!e.suites.some((s) => DEBIAN_SUITES.has(s))) continue;
    if (e.signedBy && !/debian-archive/.test(e.signedBy)) continue;
    for (const raw of e.uris) {
      const uri = raw.replace(/\/+$/, "");
      if (!/^(https?|file|mirror\+\w+):/.test(uri) || /security/i.test(uri)) continue;
      const score = /\/debian$/.test(uri) ? 1 : 0;
      if (!best || score > best.score) best = { uri, score };
    }
  }
  if (!best) {
    throw new OracleError(
      "no Debian archive entry in the apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/): set HYPLAB_DEBIAN_MIRROR to a Debian mirror URL",
    );
  }
  return best.uri;
}

/**
 * Reads every apt source entry of the machine: `sources.list`, then
 * `sources.list.d/*.list` and `*.sources` in name order.
 *
 * @param etc The apt directory (default `/etc/apt`).
 * @returns Entries; missing files are skipped.
 */
export async function systemAptSources(etc = "/etc/apt"): Promise<AptSourceEntry[]> {
  const out: AptSourceEntry[] = [];
  const read = async (path: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw new OracleError(`cannot read ${path}: ${(e as Error).message}`);
    }
  };
  const main = await read(`${etc}/sources.list`);
  if (main !== null) out.push(...parseOneLineSources(main, `${etc}/sources.list`));
  const names: string[] = [];
  try {
    for await (const d of Deno.readDir(`${etc}/sources.list.d`)) {
      if (d.isFile && /\.(list|sources)$/.test(d.name)) names.push(d.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  for (const n of names.sort()) {
    const path = `${etc}/sources.list.d/${n}`;
    const text = await read(path);
    if (text === null) continue;
    out.push(
      ...(n.endsWith(".sources")
        ? parseDeb822Sources(text, path)
        : parseOneLineSources(text, path)),
    );
  }
  return out;
}
