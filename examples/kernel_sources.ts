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
 * - apt runs with the oracle's private configuration
 *   (plugins/oracle/private_apt.ts): its own sources list (here the suites
 *   bookworm, trixie and sid, signed by the Debian archive keyring), its
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
import {
  cacheDir,
  chooseDebianArchive,
  extractFromDeb,
  PrivateApt,
  systemAptSources,
} from "../plugins/oracle/mod.ts";

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
 * The private apt configuration the sources are fetched with: the oracle's
 * (plugins/oracle/private_apt.ts), with the suites of the three releases,
 * under `<cache>/apt`.
 * @param cache hyplab's cache directory.
 * @param mirror The Debian archive URI.
 * @returns The configuration (nothing is written until `init()`).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kernelSourceApt } from "./kernel_sources.ts";
 * const apt = kernelSourceApt("/c", "http://mirror.example/debian");
 * assertEquals([apt.root, apt.suites], ["/c/apt", ["bookworm", "trixie", "sid"]]);
 * ```
 */
export function kernelSourceApt(cache: string, mirror: string): PrivateApt {
  return new PrivateApt(`${cache}/apt`, mirror.replace(/\/+$/, ""), DEBIAN_SUITES);
}

/**
 * The Debian archive the system's apt uses (or `HYPLAB_DEBIAN_MIRROR`).
 * @returns The URI.
 * @throws {OracleError} When no apt source names a Debian release.
 */
export async function systemDebianMirror(): Promise<string> {
  return Deno.env.get("HYPLAB_DEBIAN_MIRROR") ?? chooseDebianArchive(await systemAptSources());
}

async function run(cmd: string, args: readonly string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args: [...args], stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" / ");
    throw new Error(`${cmd} ${args.join(" ")} failed: ${err}`);
  }
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
  const cache = cacheDir();
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
    const mirror = await systemDebianMirror();
    log(
      `fetching ${src.package}=${src.version} from ${mirror} (private apt state in ${cache}/apt)`,
    );
    const apt = kernelSourceApt(cache, mirror);
    // One `apt-get update` per run is enough for all three packages.
    if (!updated.has(cache)) {
      await apt.init();
      await apt.update();
      updated.add(cache);
    }
    Deno.mkdirSync(debs, { recursive: true });
    deb = (await apt.download(src.package, src.version, debs)).split("/").pop()!;
  }
  log(`extracting ${deb}`);
  Deno.mkdirSync(dest, { recursive: true });
  const tarball = `${dest}/${name}.tar.xz`;
  await extractFromDeb(
    `${debs}/${deb}`,
    (h) => h.path.replace(/^\.\//, "") === `usr/src/${name}.tar.xz`,
    tarball,
  );
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
