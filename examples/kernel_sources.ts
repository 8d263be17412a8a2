/**
 * Debian's kernel sources, fetched with a private apt configuration and
 * cached: the module the checker's regression run (and anything else that
 * wants a release's real text) uses to get an extracted tree.
 *
 *   deno task kernel-sources          # fetch (once) and check hyp-init.S of v6.1, v6.12, v7.2
 *
 * How it fetches, without touching the system's apt setup:
 * - the archive address is the one the system's apt sources already use
 *   for Debian (`/etc/apt/sources.list`, `/etc/apt/sources.list.d/*.list`
 *   and `*.sources`), or `HYPLAB_DEBIAN_MIRROR`; no host is built in;
 * - apt runs with its own sources list (the suites bookworm, trixie and
 *   sid, `signed-by=/usr/share/keyrings/debian-archive-keyring.gpg`), its
 *   own lists, cache and an empty status file, and without locking:
 *   `apt-get -o Dir::Etc::SourceList=… -o Dir::Etc::SourceParts=/dev/null
 *   -o Dir::State::Lists=… -o Dir::Cache=… -o Dir::State::Status=…
 *   -o Debug::NoLocking=1 update`, then `apt-get … download PKG=VERSION`;
 * - the cache is `$HYPLAB_CACHE`, else `$XDG_CACHE_HOME/hyplab`, else
 *   `~/.cache/hyplab`: `apt/` for apt's state, `debs/` for the packages,
 *   `sources/<release>/` for the extracted part of each tree (its Makefile,
 *   arch/arm64/include, arch/arm64/tools with the header generators, the
 *   asm-offsets source, hyp-init.S and the generic headers it includes),
 *   usable as `--kernel-src`.
 *
 * Needs `--allow-read --allow-write --allow-run --allow-env` and, the first
 * time, the network.
 *
 * @module
 */

import {
  type A64Program,
  BUILTIN_VARIANTS,
  builtinSequence,
  check,
  type FileCheckResult,
  kernelTreeResolver,
  openKernelTree,
  parseA64,
} from "../mod.ts";

/** One Debian source package of a kernel release. */
export interface DebianKernelSource {
  /** The checker's release name (`v6.1` ...). */
  readonly release: string;
  /** Debian package. */
  readonly package: string;
  /** Debian version. */
  readonly version: string;
  /** The suite it is in. */
  readonly suite: string;
}

/** The three releases hyplab models, as Debian ships them. */
export const DEBIAN_KERNEL_SOURCES: readonly DebianKernelSource[] = [
  { release: "v6.1", package: "linux-source-6.1", version: "6.1.176-1", suite: "bookworm" },
  { release: "v6.12", package: "linux-source-6.12", version: "6.12.117-1", suite: "trixie" },
  { release: "v7.2", package: "linux-source-7.2", version: "7.2.13-1", suite: "sid" },
];

/** The suites the private sources list names. */
export const DEBIAN_SUITES: readonly string[] = ["bookworm", "trixie", "sid"];

/** The keyring the private sources list trusts. */
export const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/** The parts of a tree the checker reads (a tar member pattern each). */
export const TREE_PARTS: readonly string[] = [
  "Makefile",
  "arch/arm64/include/*",
  "arch/arm64/tools/*",
  "arch/arm64/kernel/asm-offsets.c",
  "arch/arm64/kvm/hyp/nvhe/hyp-init.S",
  "include/linux/*",
  "include/uapi/*",
  "include/asm-generic/*",
  "include/vdso/*",
];

/**
 * hyplab's cache directory.
 * @param env Environment lookup (default: `Deno.env.get`).
 * @returns `$HYPLAB_CACHE`, `$XDG_CACHE_HOME/hyplab` or `$HOME/.cache/hyplab`.
 * @throws {Error} When none of the three variables is set.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hyplabCache } from "./kernel_sources.ts";
 * assertEquals(hyplabCache((k) => ({ HOME: "/home/u" } as Record<string, string>)[k]), "/home/u/.cache/hyplab");
 * ```
 */
export function hyplabCache(
  env: (name: string) => string | undefined = (k) => Deno.env.get(k),
): string {
  const own = env("HYPLAB_CACHE");
  if (own) return own;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/hyplab`;
  const home = env("HOME");
  if (home) return `${home}/.cache/hyplab`;
  throw new Error("no cache directory: set HYPLAB_CACHE (or XDG_CACHE_HOME or HOME)");
}

/**
 * The Debian archive address among apt sources: the first `deb` source
 * whose suites include a Debian release name (not `-security` or
 * `-updates`) and whose components include `main`.
 * @param files The text of each sources file, by path (`.list` one-line
 *   format, or deb822 `.sources`).
 * @returns The URI, or undefined.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { debianMirrorIn } from "./kernel_sources.ts";
 * const deb822 = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n";
 * assertEquals(debianMirrorIn({ "/etc/apt/sources.list.d/debian.sources": deb822 }), "http://mirror.example/debian");
 * ```
 */
export function debianMirrorIn(files: Readonly<Record<string, string>>): string | undefined {
  const release = (suite: string) =>
    /^(buster|bullseye|bookworm|trixie|forky|sid|unstable|testing|stable)$/.test(suite);
  for (const [path, text] of Object.entries(files)) {
    if (path.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string) =>
          new RegExp(`^${name}:\\s*(.*)$`, "mi").exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
        if (/^enabled:\s*no/mi.test(stanza)) continue;
        if (!field("Types").includes("deb") || !field("Components").includes("main")) continue;
        if (!field("Suites").some(release)) continue;
        const uri = field("URIs")[0];
        if (uri !== undefined) return uri.replace(/\/+$/, "");
      }
    } else {
      for (const line of text.split("\n")) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line);
        if (m && release(m[2]!) && m[3]!.split(/\s+/).includes("main")) {
          return m[1]!.replace(/\/+$/, "");
        }
      }
    }
  }
  return undefined;
}

/**
 * The Debian archive the system's apt uses (or `HYPLAB_DEBIAN_MIRROR`).
 * @returns The URI.
 * @throws {Error} When no apt source names a Debian release.
 */
export function systemDebianMirror(): string {
  const own = Deno.env.get("HYPLAB_DEBIAN_MIRROR");
  if (own) return own;
  const files: Record<string, string> = {};
  const read = (p: string) => {
    try {
      files[p] = Deno.readTextFileSync(p);
    } catch { /* not there */ }
  };
  read("/etc/apt/sources.list");
  try {
    for (const e of Deno.readDirSync("/etc/apt/sources.list.d")) {
      if (e.isFile && /\.(list|sources)$/.test(e.name)) read(`/etc/apt/sources.list.d/${e.name}`);
    }
  } catch { /* no directory */ }
  const uri = debianMirrorIn(files);
  if (uri === undefined) {
    throw new Error(
      "the system's apt sources name no Debian archive (a deb source for a Debian release with main); set HYPLAB_DEBIAN_MIRROR",
    );
  }
  return uri;
}

async function run(cmd: string, args: readonly string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args: [...args],
    stdout: "piped",
    stderr: "piped",
    ...(cwd ? { cwd } : {}),
  })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" / ");
    throw new Error(`${cmd} ${args.join(" ")} failed: ${err}`);
  }
  return text;
}

/**
 * The private apt configuration under `dir`: the files to write (a sources
 * list of the suites bookworm, trixie and sid signed by the Debian archive
 * keyring, an empty status file) and the options that make apt use only
 * them.
 * @param dir Where apt keeps its state.
 * @param mirror The archive URI.
 * @returns File path → text, and the `-o` options.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { privateAptConfig } from "./kernel_sources.ts";
 * const c = privateAptConfig("/c/apt", "http://mirror.example/debian");
 * assertEquals(c.options.includes("Dir::Etc::SourceParts=/dev/null"), true);
 * ```
 */
export function privateAptConfig(
  dir: string,
  mirror: string,
): { files: Readonly<Record<string, string>>; options: readonly string[] } {
  const list = DEBIAN_SUITES.map((s) => `deb [signed-by=${DEBIAN_KEYRING}] ${mirror} ${s} main`);
  return {
    files: { [`${dir}/etc/sources.list`]: `${list.join("\n")}\n`, [`${dir}/etc/status`]: "" },
    options: [
      "-o",
      `Dir::Etc::SourceList=${dir}/etc/sources.list`,
      "-o",
      "Dir::Etc::SourceParts=/dev/null",
      "-o",
      `Dir::State::Lists=${dir}/lists`,
      "-o",
      `Dir::Cache=${dir}/cache`,
      "-o",
      `Dir::State::Status=${dir}/etc/status`,
      "-o",
      "Debug::NoLocking=1",
    ],
  };
}

/**
 * apt with the private configuration of {@link privateAptConfig} (written
 * under `dir`), never the system's.
 * @param dir Where apt keeps its state (created).
 * @param mirror The archive URI.
 * @returns `update()` and `download()`.
 */
export function privateApt(dir: string, mirror: string): {
  update(): Promise<void>;
  download(pkg: string, version: string, dest: string): Promise<string>;
} {
  for (const d of ["etc", "lists/partial", "cache/archives/partial"]) {
    Deno.mkdirSync(`${dir}/${d}`, { recursive: true });
  }
  const { files, options } = privateAptConfig(dir, mirror);
  for (const [path, text] of Object.entries(files)) Deno.writeTextFileSync(path, text);
  return {
    async update() {
      await run("apt-get", [...options, "-q", "update"]);
    },
    async download(pkg, version, dest) {
      Deno.mkdirSync(dest, { recursive: true });
      await run("apt-get", [...options, "-q", "download", `${pkg}=${version}`], dest);
      const file = [...Deno.readDirSync(dest)].find((e) =>
        e.name.startsWith(`${pkg}_${version.replace(/:/g, "%3a")}_`)
      );
      if (file === undefined) {
        throw new Error(`apt-get download ${pkg}=${version} left no .deb in ${dest}`);
      }
      return `${dest}/${file.name}`;
    },
  };
}

const updated = new Set<string>();

/**
 * An extracted tree of the release: from the cache, or fetched, extracted
 * (only {@link TREE_PARTS}) and cached.
 * @param src The release's package.
 * @param log Progress messages.
 * @returns The tree's directory.
 */
export async function ensureKernelSource(
  src: DebianKernelSource,
  log: (msg: string) => void = () => {},
): Promise<string> {
  const cache = hyplabCache();
  const name = src.package.replace(/^linux-source-/, "linux-source-");
  const dest = `${cache}/sources/${src.release.replace(/^v/, "")}`;
  const tree = `${dest}/${name}`;
  try {
    Deno.statSync(`${tree}/arch/arm64/kvm/hyp/nvhe/hyp-init.S`);
    return tree;
  } catch { /* not cached yet */ }
  const debs = `${cache}/debs`;
  let deb = [...(function* () {
    try {
      yield* Deno.readDirSync(debs);
    } catch { /* none */ }
  })()].find((e) => e.name.startsWith(`${src.package}_${src.version}_`))?.name;
  if (deb === undefined) {
    const mirror = systemDebianMirror();
    log(
      `fetching ${src.package}=${src.version} from ${mirror} (private apt state in ${cache}/apt)`,
    );
    const apt = privateApt(`${cache}/apt`, mirror);
    // One `apt-get update` per run is enough for all three packages.
    if (!updated.has(cache)) {
      await apt.update();
      updated.add(cache);
    }
    deb = (await apt.download(src.package, src.version, debs)).split("/").pop()!;
  }
  log(`extracting ${deb}`);
  Deno.mkdirSync(dest, { recursive: true });
  const inner = `usr/src/${name}.tar.xz`;
  const tarball = `${dest}/${name}.tar.xz`;
  const data = await new Deno.Command("dpkg-deb", {
    args: ["--fsys-tarfile", `${debs}/${deb}`],
    stdout: "piped",
  })
    .output();
  if (!data.success) throw new Error(`dpkg-deb --fsys-tarfile ${debs}/${deb} failed`);
  const tmp = `${dest}/data.tar`;
  Deno.writeFileSync(tmp, data.stdout);
  await run("tar", ["-xf", tmp, "-C", dest, `./${inner}`]);
  Deno.renameSync(`${dest}/${inner}`, tarball);
  Deno.removeSync(tmp);
  Deno.removeSync(`${dest}/usr`, { recursive: true });
  await run("tar", [
    "-xJf",
    tarball,
    "-C",
    dest,
    "--wildcards",
    ...TREE_PARTS.map((p) => `${name}/${p}`),
  ]);
  Deno.removeSync(tarball);
  return tree;
}

/** What each release's hyp-init.S gets: the file's verdict, and each routine's verdict and rules. */
export const EXPECTED_HYP_INIT: Readonly<
  Record<
    string,
    { verdict: string; routines: Readonly<Record<string, readonly [string, readonly string[]]>> }
  >
> = {
  "v6.1": {
    verdict: "fail",
    routines: {
      __kvm_hyp_init: ["pass", []],
      ___kvm_hyp_init: ["pass", []],
      kvm_hyp_cpu_entry: ["pass", []],
      kvm_hyp_cpu_resume: ["pass", []],
      __kvm_hyp_init_cpu: ["pass", []],
      __kvm_handle_stub_hvc: ["pass", []],
      // It predates 040113fa32f2 (v6.8): no dsb nsh; isb before set_sctlr_el2.
      __pkvm_init_switch_pgd: ["fail", ["R3", "R4"]],
    },
  },
  "v6.12": {
    verdict: "pass",
    routines: {
      __kvm_hyp_init: ["pass", []],
      __kvm_init_el2_state: ["pass", []],
      ___kvm_hyp_init: ["pass", []],
      kvm_hyp_cpu_entry: ["pass", []],
      kvm_hyp_cpu_resume: ["pass", []],
      __kvm_hyp_init_cpu: ["pass", []],
      __kvm_handle_stub_hvc: ["pass", []],
      __pkvm_init_switch_pgd: ["pass", []],
    },
  },
  "v7.2": {
    // INIT_SCTLR_EL2_MMU_OFF is 0 and _MMU_ON lacks the E2H=0 RES1 bits (R18, advisory).
    verdict: "warn",
    routines: {
      __kvm_hyp_init: ["warn", ["R18"]],
      __kvm_init_el2_state: ["warn", ["R18"]],
      ___kvm_hyp_init: ["warn", ["R18"]],
      kvm_hyp_cpu_entry: ["warn", ["R18"]],
      kvm_hyp_cpu_resume: ["warn", ["R18"]],
      __kvm_hyp_init_cpu: ["warn", ["R18"]],
      __kvm_handle_stub_hvc: ["warn", ["R18"]],
      __pkvm_init_switch_pgd: ["pass", []],
    },
  },
};

/**
 * The first difference between two programs' instruction streams (what
 * executes, not how it is spelled), or undefined when they are the same.
 * @param a One program.
 * @param b The other.
 * @returns A description of the first difference.
 */
export function streamDifference(a: A64Program, b: A64Program): string | undefined {
  const key = (i: A64Program["instructions"][number]) =>
    JSON.stringify([
      i.op,
      i.rd,
      i.rn,
      i.rm,
      String(i.imm),
      i.shift,
      i.shiftKind,
      i.mode,
      i.target,
      i.sysreg,
      i.operation,
      i.domain,
      i.barrierType,
      i.cond,
      i.imm2,
      i.symbol,
      i.padding ?? false,
      i.line,
    ]);
  const n = Math.max(a.instructions.length, b.instructions.length);
  for (let k = 0; k < n; k++) {
    const x = a.instructions[k];
    const y = b.instructions[k];
    if (x === undefined || y === undefined || key(x) !== key(y)) {
      return `instruction ${k}: ${x ? `line ${x.line} "${x.text}"` : "none"} against ${
        y ? `line ${y.line} "${y.text}"` : "none"
      }`;
    }
  }
  if (JSON.stringify(a.symbols) !== JSON.stringify(b.symbols)) return "the routines differ";
  return undefined;
}

/**
 * How a check matches {@link EXPECTED_HYP_INIT}: the mismatches, empty when it matches.
 * @param release The release.
 * @param r The check of its hyp-init.S.
 * @returns One line per mismatch.
 */
export function hypInitMismatches(release: string, r: FileCheckResult): string[] {
  const want = EXPECTED_HYP_INIT[release];
  if (want === undefined) return [`no expectation for ${release}`];
  const out: string[] = [];
  if (r.verdict !== want.verdict) out.push(`verdict ${r.verdict}, expected ${want.verdict}`);
  for (const rt of r.routines) {
    const exp = want.routines[rt.name];
    const rules = [...new Set(rt.findings.map((f) => f.rule))].sort();
    if (exp === undefined) out.push(`unexpected routine ${rt.name}`);
    else if (rt.verdict !== exp[0] || JSON.stringify(rules) !== JSON.stringify(exp[1])) {
      out.push(
        `${rt.name}: ${rt.verdict} ${rules.join(",")}, expected ${exp[0]} ${exp[1].join(",")}`,
      );
    }
  }
  for (const name of Object.keys(want.routines)) {
    if (!r.routines.some((x) => x.name === name)) out.push(`no routine ${name}`);
  }
  return out;
}

/**
 * Checks one fetched tree: its hyp-init.S with the release models and with
 * the tree's own headers (the two instruction streams must be the same),
 * the verdicts of {@link EXPECTED_HYP_INIT}, the built-in sequence of the
 * release against the tree's routine, and the test fixture against the
 * tree's file.
 * @param tree The tree's directory.
 * @param fixtures The fixtures directory (`tests/fixtures/hyp_init`).
 * @returns Problems found (empty: all as expected) and a summary.
 */
export function checkKernelTree(
  tree: string,
  fixtures: string,
): { problems: string[]; summary: string } {
  const t = openKernelTree(tree);
  const path = `${tree}/arch/arm64/kvm/hyp/nvhe/hyp-init.S`;
  const text = Deno.readTextFileSync(path);
  const problems: string[] = [];
  const models = parseA64(text, { release: t.release, file: "hyp-init.S" });
  const real = parseA64(text, {
    release: t.release,
    include: kernelTreeResolver(t),
    file: "hyp-init.S",
  });
  const diff = streamDifference(models, real);
  if (diff !== undefined) {
    problems.push(`the ${t.release} models and the headers differ at ${diff}`);
  }
  const r = check(text, {}, { release: t.release, file: "hyp-init.S" });
  problems.push(...hypInitMismatches(t.release, r));
  const rr = check(text, {}, {
    release: t.release,
    include: kernelTreeResolver(t),
    file: "hyp-init.S",
  });
  problems.push(...hypInitMismatches(t.release, rr).map((p) => `with the tree's headers: ${p}`));
  if ((BUILTIN_VARIANTS as readonly string[]).includes(t.release)) {
    const body = builtinSequence(t.release).source.split("\n").filter((l) => !l.startsWith("// "))
      .join("\n");
    if (!text.includes(body)) {
      problems.push(`builtin:${t.release} is no longer the tree's __pkvm_init_switch_pgd`);
    }
  }
  try {
    const fixture = Deno.readTextFileSync(`${fixtures}/${t.release}/hyp-init.S`);
    if (fixture !== text) problems.push(`${fixtures}/${t.release}/hyp-init.S differs from ${path}`);
  } catch (e) {
    problems.push(`cannot read the fixture: ${(e as Error).message}`);
  }
  const summary = `${t.release} (${t.version}): ${r.verdict.toUpperCase()}; ` +
    r.routines.map((x) =>
      `${x.name} ${x.verdict}${
        x.findings.length ? ` [${[...new Set(x.findings.map((f) => f.rule))].join(",")}]` : ""
      }`
    )
      .join(", ");
  return { problems, summary };
}

if (import.meta.main) {
  const fixtures = new URL("../tests/fixtures/hyp_init", import.meta.url).pathname;
  let bad = 0;
  for (const src of DEBIAN_KERNEL_SOURCES) {
    try {
      const tree = await ensureKernelSource(src, (m) => console.error(m));
      const { problems, summary } = checkKernelTree(tree, fixtures);
      console.log(summary);
      for (const p of problems) console.log(`  PROBLEM: ${p}`);
      if (problems.length > 0) bad++;
    } catch (e) {
      console.error(`kernel-sources: ${src.package}: ${(e as Error).message}`);
      bad++;
    }
  }
  Deno.exit(bad === 0 ? 0 : 1);
}
