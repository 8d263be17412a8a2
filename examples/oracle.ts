/**
 * The oracle: check hyplab against a real kernel booting in pKVM protected
 * mode under QEMU.
 *
 *   deno run -A examples/oracle.ts setup
 *   deno run -A examples/oracle.ts observe --kernel 6.1 --cpu cortex-a57 --ram 4G --cpus 4 --out obs.json
 *   deno run --allow-read examples/oracle.ts diff obs.json
 *   deno run --allow-read --allow-write examples/oracle.ts diff obs.json --html diff.html
 *
 * Exit status: 0 done (diff: everything agrees), 1 diff: a difference, 2 bad
 * input or a failed run (one line on stderr; with `--json` also
 * `{ "error": "..." }` on stdout), 130 interrupted.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import {
  cacheDir,
  checkHtmlPath,
  CPU_MODEL_NAMES,
  type CpuModelName,
  diffObserved,
  formatObservation,
  formatOracleDiff,
  formatSize,
  HtmlPathError,
  isKernelName,
  KERNEL_NAMES,
  type KernelName,
  type Observation,
  observe,
  ObserveInterrupted,
  type ObserveOptions,
  type OracleDiff,
  type OracleDiffEntry,
  oracleDiffHtml,
  OracleError,
  parseObservation,
  parseSize,
  predict,
  type Prediction,
  release,
  setup,
  UnsupportedPrediction,
  writeHtmlFile,
} from "../mod.ts";

const USAGE = `Usage: deno run -A examples/oracle.ts <command> [options]

Observes a real Linux kernel booting in pKVM protected mode under
qemu-system-aarch64, to check hyplab against it.

Commands:
  setup      install QEMU if missing (as root) and fetch the kernels into the cache
  observe    boot a kernel, halt it after boot and record one observation (JSON)
  predict    hyplab's prediction of an observation, from its inputs only
  diff       compare an observation with hyplab's prediction, field by field
  refresh    re-observe each recorded observation's machine and report what changed

Run "deno run -A examples/oracle.ts <command> --help" for a command's options.
The cache is $HYPLAB_CACHE, else $XDG_CACHE_HOME/hyplab, else ~/.cache/hyplab.`;

const SETUP_USAGE = `Usage: deno run -A examples/oracle.ts setup [--kernel 6.1|6.12|7.2]... [--json]

Installs qemu-system-arm with apt-get when qemu-system-aarch64 is missing
(as root; otherwise prints the command to run) and fetches Debian's arm64
kernels with their System.map into the cache: 6.1 (bookworm), 6.12 (trixie),
7.2 (sid). A kernel already at its suite's current version is kept. The
packages come from the Debian mirror in the machine's apt sources (or
$HYPLAB_DEBIAN_MIRROR).

Options:
  --kernel NAME   fetch only this kernel (repeatable; default all three)
  --json          print a JSON summary (and errors as { "error": ... })
  -h, --help      this text`;

const OBSERVE_USAGE = `Usage: deno run -A examples/oracle.ts observe --kernel 6.1|6.12|7.2 [options]
       deno run -A examples/oracle.ts observe --kernel PATH --system-map PATH --profile NAME [options]

Boots the kernel under qemu-system-aarch64 (virt machine, EL2, GICv3, RAM at
0x40000000, kvm-arm.mode=protected nokaslr memblock=debug), waits for the
pKVM line, then until every CPU has run __pkvm_prot_finalize (asked through
the gdb stub every few seconds) or the final panic (there is no root file
system), halts it and prints one observation as JSON (or writes it). Most
boots take 15-60 s; a busy machine takes longer.

Options:
  --kernel NAME|PATH   a cached kernel (see setup) or an arm64 Image file
  --system-map PATH    System.map of a --kernel PATH
  --profile NAME       hyplab profile to record for a --kernel PATH (e.g. v6.1)
  --cpu MODEL          cortex-a57, neoverse-n1 or max (default cortex-a57)
  --ram SIZE           RAM, K/M/G suffixes, 256M..255G (default 4G)
  --cpus N             CPUs, 1..8 (default 4)
  --out FILE           write the observation to FILE instead of stdout
  --timeout SECONDS    longest wait for the boot (default 900)
  --console FILE       also write QEMU's console log to FILE (kept on failure)
  --json               errors as { "error": ... }; with --out, a JSON summary
  -h, --help           this text`;

const PREDICT_USAGE = `Usage: deno run --allow-read examples/oracle.ts predict FILE [--json]

Prints hyplab's prediction of the observation in FILE, computed from its
"inputs" only, in the shape of its "observed" section (JSON).

Options:
  --json          errors as { "error": ... } too
  -h, --help      this text`;

const DIFF_USAGE =
  `Usage: deno run --allow-read examples/oracle.ts diff FILE... [--json] [--html PAGE]

Compares each observation with hyplab's prediction, field by field: the pool,
each EL2 register the recording has (the differing fields by name), the number
of table pages, every EL2 mapping (which one, which attribute bits) and, when
recorded, the host stage-2 and each CPU's kvm_hyp_vector. What an older
recording lacks (VBAR_EL2, MDCR_EL2, ...) is named and not compared. Exit 0
when every field of every file agrees, 1 for a difference, 2 for bad input.

Options:
  --json          print { "files": [{ file, agree, compared, notRecorded,
                  differences }] }
  --html PAGE     also write one self-contained HTML page, a section per
                  FILE: the real kernel beside hyplab, every difference
                  highlighted (needs --allow-write too)
  -h, --help      this text`;

const REFRESH_USAGE = `Usage: deno run -A examples/oracle.ts refresh [DIR|FILE...] [--json]

Re-observes the machine of every recorded observation (default: the fixture
set, tests/fixtures/oracle/*.json): the same kernel, CPU model, RAM and CPU
count, under the kernel now in the cache. Each file is rewritten with the new
observation, and the report says, per file, whether the kernel package
changed and whether hyplab still agrees with the new boot (the diff when not).
Exit 0 when every new observation agrees with hyplab, 1 otherwise.

Options:
  --timeout SECONDS   longest wait for each boot (default 1500)
  --json              print { "files": [{ file, package, agree, differences }] }
  -h, --help          this text`;

class UsageError extends OracleError {}

/** An --html path that cannot be written, as bad input (one line, exit 2). */
function htmlUsage(e: unknown, path: string): unknown {
  if (!(e instanceof HtmlPathError)) return e;
  return new UsageError(
    e.permission
      ? `--html ${path}: writing the page needs --allow-read and --allow-write: deno run --allow-read --allow-write examples/oracle.ts diff ...`
      : `--html ${e.message}`,
  );
}

async function readObservation(file: string): Promise<Observation> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new UsageError(
      `${file}: ${e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message}`,
    );
  }
  return parseObservation(text, file);
}

/**
 * hyplab's prediction of `obs` and its diff; a machine the prediction does
 * not support is one difference ("prediction"), not an error.
 */
async function diffWithPrediction(
  obs: Observation,
): Promise<{ diff: OracleDiff; prediction?: Prediction }> {
  try {
    const prediction = await predict(obs);
    return { diff: diffObserved(obs.observed, prediction.observed), prediction };
  } catch (e) {
    if (!(e instanceof UnsupportedPrediction)) throw e;
    return {
      diff: {
        agree: false,
        compared: 0,
        notRecorded: [],
        differences: [{ path: "prediction", observed: obs.observed.mode, predicted: e.message }],
      },
    };
  }
}

/** One subcommand: its usage text and its body. */
interface Subcommand {
  usage: string;
  run(argv: string[]): Promise<number>;
}

interface Parsed {
  [k: string]: unknown;
  _: (string | number)[];
}

function parse(
  argv: string[],
  spec: { boolean: string[]; string: string[]; collect?: string[]; positional?: boolean },
): Parsed {
  return parseArgs(argv, {
    boolean: ["help", "json", ...spec.boolean],
    string: spec.string,
    collect: spec.collect ?? [],
    alias: { h: "help" },
    unknown: (arg: string) => {
      if (arg.startsWith("-")) throw new UsageError(`unknown flag ${arg}`);
      if (spec.positional) return true;
      throw new UsageError(`unexpected argument ${arg}`);
    },
  }) as Parsed;
}

function one(a: Parsed, flag: string): string | undefined {
  const v = a[flag];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw new UsageError(`--${flag} given more than once`);
  if (typeof v !== "string" || v === "") throw new UsageError(`--${flag} needs a value`);
  return v;
}

function integer(flag: string, v: string, lo: number, hi: number): number {
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < lo || n > hi) {
    throw new UsageError(`${flag} ${v}: expected an integer ${lo}..${hi}`);
  }
  return n;
}

let jsonMode = false;

/** The observation files under a directory or given directly. */
async function observationFiles(args: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of args.length ? args : ["tests/fixtures/oracle"]) {
    let info;
    try {
      info = await Deno.stat(a);
    } catch {
      throw new UsageError(`${a}: no such file or directory`);
    }
    if (!info.isDirectory) {
      out.push(a);
      continue;
    }
    const names = [];
    for await (const e of Deno.readDir(a)) {
      if (e.isFile && e.name.endsWith(".json")) names.push(e.name);
    }
    out.push(...names.sort().map((n) => `${a.replace(/\/$/, "")}/${n}`));
  }
  if (out.length === 0) throw new UsageError(`no observation files in ${args.join(" ")}`);
  return out;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  refresh: {
    usage: REFRESH_USAGE,
    async run(argv) {
      const a = parse(argv, { boolean: [], string: ["timeout"], positional: true });
      jsonMode = a.json === true;
      if (a.help) {
        console.log(REFRESH_USAGE);
        return 0;
      }
      const timeout = integer("--timeout", one(a, "timeout") ?? "1500", 1, 86400);
      const files = await observationFiles(a._.map(String));
      const old = [];
      for (const f of files) old.push(await readObservation(f));
      const results = [];
      let agree = true;
      for (let i = 0; i < files.length; i++) {
        const prev = old[i]!;
        const m = prev.inputs.machine;
        const kernel = release(prev.inputs.profile).kernel;
        if (!isKernelName(kernel)) {
          throw new UsageError(`${files[i]}: profile ${prev.inputs.profile} has no cached kernel`);
        }
        const ramBytes = Number(m.ram.reduce((n, r) => n + BigInt(r.size), 0n));
        if (!jsonMode) {
          console.log(
            `${files[i]}: observing ${kernel} on ${m.cpu}, ${formatSize(ramBytes)}, ${m.cpus} CPUs`,
          );
        }
        const obs = await observe({
          kernel,
          cpu: m.cpu,
          ramBytes,
          cpus: m.cpus,
          timeoutMs: timeout * 1000,
        });
        await Deno.writeTextFile(files[i]!, formatObservation(obs));
        const { diff: d } = await diffWithPrediction(obs);
        agree &&= d.agree;
        const pkg = prev.provenance.kernel_package === obs.provenance.kernel_package
          ? obs.provenance.kernel_package
          : `${prev.provenance.kernel_package} -> ${obs.provenance.kernel_package}`;
        results.push({ file: files[i]!, package: pkg, ...d });
        if (!jsonMode) {
          Deno.stdout.writeSync(new TextEncoder().encode(formatOracleDiff(d, `  ${pkg}`)));
        }
      }
      if (jsonMode) console.log(JSON.stringify({ agree, files: results }, null, 2));
      return agree ? 0 : 1;
    },
  },
  predict: {
    usage: PREDICT_USAGE,
    async run(argv) {
      const a = parse(argv, { boolean: [], string: [], positional: true });
      jsonMode = a.json === true;
      if (a.help) {
        console.log(PREDICT_USAGE);
        return 0;
      }
      if (a._.length !== 1) throw new UsageError("predict: expected one observation FILE");
      const file = String(a._[0]);
      const obs = await readObservation(file);
      let p;
      try {
        p = await predict(obs);
      } catch (e) {
        if (e instanceof UnsupportedPrediction) throw new UsageError(`${file}: ${e.message}`);
        throw e;
      }
      console.log(JSON.stringify(p.observed, null, 2));
      return 0;
    },
  },
  diff: {
    usage: DIFF_USAGE,
    async run(argv) {
      const a = parse(argv, { boolean: [], string: ["html"], positional: true });
      jsonMode = a.json === true;
      if (a.help) {
        console.log(DIFF_USAGE);
        return 0;
      }
      if (a._.length === 0) throw new UsageError("diff: expected one or more observation FILEs");
      const files = a._.map(String);
      const html = one(a, "html");
      // A page that cannot be written is refused before any prediction boots.
      if (html !== undefined) {
        await checkHtmlPath(html).catch((e) => Promise.reject(htmlUsage(e, html)));
      }
      // Every file is read and checked before any prediction runs.
      const all = [];
      for (const f of files) all.push(await readObservation(f));
      const results = [];
      const pages: OracleDiffEntry[] = [];
      let agree = true;
      for (let i = 0; i < files.length; i++) {
        const obs = all[i]!;
        const title = `${files[i]} (${obs.inputs.profile}, ${obs.inputs.machine.cpu}, ${
          formatSize(Number(obs.inputs.machine.ram.reduce((n, r) => n + BigInt(r.size), 0n)))
        }, ${obs.inputs.machine.cpus} CPU${
          obs.inputs.machine.cpus === 1 ? "" : "s"
        }; ${obs.provenance.kernel_release})`;
        const { diff: d, prediction } = await diffWithPrediction(obs);
        agree &&= d.agree;
        results.push({ file: files[i]!, ...d });
        pages.push({
          file: files[i]!,
          observation: obs,
          diff: d,
          ...(prediction ? { prediction } : {}),
        });
        if (!jsonMode) Deno.stdout.writeSync(new TextEncoder().encode(formatOracleDiff(d, title)));
      }
      if (jsonMode) console.log(JSON.stringify({ agree, files: results }, null, 2));
      if (html !== undefined) {
        await writeHtmlFile(html, oracleDiffHtml(pages)).catch((e) =>
          Promise.reject(htmlUsage(e, html))
        );
        if (!jsonMode) console.log(`page: ${html}`);
      }
      return agree ? 0 : 1;
    },
  },
  setup: {
    usage: SETUP_USAGE,
    async run(argv) {
      const a = parse(argv, { boolean: [], string: ["kernel"], collect: ["kernel"] });
      jsonMode = a.json === true;
      if (a.help) {
        console.log(SETUP_USAGE);
        return 0;
      }
      const kernels: KernelName[] = [];
      for (const k of (a.kernel as string[] | undefined) ?? []) {
        if (!isKernelName(k)) {
          throw new UsageError(`--kernel ${k}: choose ${KERNEL_NAMES.join(", ")}`);
        }
        if (!kernels.includes(k)) kernels.push(k);
      }
      const cache = cacheDir();
      const log = (line: string) => {
        if (jsonMode) console.error(line);
        else console.log(line);
      };
      const r = await setup({ cache, log, ...(kernels.length ? { kernels } : {}) });
      if (jsonMode) {
        console.log(JSON.stringify(
          {
            cache,
            qemu: r.qemu,
            kernels: r.kernels.map((k) => ({ name: k.name, status: k.status, ...k.manifest })),
          },
          null,
          2,
        ));
      } else console.log(`setup done: cache ${cache}`);
      return 0;
    },
  },
  observe: {
    usage: OBSERVE_USAGE,
    async run(argv) {
      const a = parse(argv, {
        boolean: [],
        string: [
          "kernel",
          "system-map",
          "profile",
          "cpu",
          "ram",
          "cpus",
          "out",
          "timeout",
          "console",
        ],
      });
      jsonMode = a.json === true;
      if (a.help) {
        console.log(OBSERVE_USAGE);
        return 0;
      }
      if (a._.length) throw new UsageError(`unexpected argument ${a._[0]}`);
      const kernelArg = one(a, "kernel");
      if (!kernelArg) {
        throw new UsageError(`--kernel: required (${KERNEL_NAMES.join(", ")} or a PATH)`);
      }
      const systemMap = one(a, "system-map");
      const profile = one(a, "profile");
      let kernel: ObserveOptions["kernel"];
      if (isKernelName(kernelArg)) {
        if (systemMap || profile) {
          throw new UsageError(
            "--system-map and --profile go with --kernel PATH, not a cached kernel",
          );
        }
        kernel = kernelArg;
      } else {
        let isFile = false;
        try {
          isFile = (await Deno.stat(kernelArg)).isFile;
        } catch {
          // not a file: refused below
        }
        if (!isFile) {
          throw new UsageError(
            `--kernel ${kernelArg}: neither a cached kernel (${
              KERNEL_NAMES.join(", ")
            }) nor a file`,
          );
        }
        if (!systemMap) {
          throw new UsageError(`--kernel ${kernelArg}: a kernel file needs --system-map PATH`);
        }
        if (!profile) {
          throw new UsageError(`--kernel ${kernelArg}: a kernel file needs --profile NAME`);
        }
        kernel = { image: kernelArg, systemMap, profile };
      }
      const cpu = one(a, "cpu") ?? "cortex-a57";
      if (!(CPU_MODEL_NAMES as readonly string[]).includes(cpu)) {
        throw new UsageError(`--cpu ${cpu}: choose ${CPU_MODEL_NAMES.join(", ")}`);
      }
      const ramText = one(a, "ram") ?? "4G";
      let ramBytes: number;
      try {
        ramBytes = parseSize(ramText);
      } catch {
        throw new UsageError(`--ram ${ramText}: expected a size such as 2G or 512M`);
      }
      if (ramBytes % 2 ** 20 !== 0 || ramBytes < 2 ** 28 || ramBytes > 255 * 2 ** 30) {
        throw new UsageError(`--ram ${ramText}: expected a whole number of MiB in 256M..255G`);
      }
      const cpus = integer("--cpus", one(a, "cpus") ?? "4", 1, 8);
      const timeout = integer("--timeout", one(a, "timeout") ?? "900", 1, 86400);
      const out = one(a, "out");
      if (out) await checkWritable("--out", out);
      const consolePath = one(a, "console");
      if (consolePath) await checkWritable("--console", consolePath);

      const tty = Deno.stderr.isTerminal();
      const enc = new TextEncoder();
      let shown = false;
      const progress = (what: string, ms: number) => {
        if (!tty) return;
        shown = true;
        Deno.stderr.writeSync(
          enc.encode(
            `\r\x1b[Koracle: waiting for ${what}: ${Math.round(ms / 1000)} s of ${timeout} s`,
          ),
        );
      };
      const clear = () => {
        if (shown) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
        shown = false;
      };
      let obs;
      try {
        obs = await observe({
          kernel,
          cpu: cpu as CpuModelName,
          ramBytes,
          cpus,
          timeoutMs: timeout * 1000,
          progress,
          ...(consolePath
            ? { onConsole: (t: string) => Deno.writeTextFileSync(consolePath, t) }
            : {}),
        });
      } finally {
        clear();
      }
      const text = formatObservation(obs);
      if (!out) {
        await Deno.stdout.write(enc.encode(text));
        return 0;
      }
      try {
        await Deno.writeTextFile(out, text);
      } catch (e) {
        throw new UsageError(`--out ${out}: ${(e as Error).message}`);
      }
      const summary = {
        out,
        kernel_release: obs.provenance.kernel_release,
        mode: obs.observed.mode,
        table_pages: obs.observed.el2.table_pages,
        mappings: obs.observed.el2.mappings.length,
      };
      if (jsonMode) console.log(JSON.stringify(summary, null, 2));
      else {
        console.log(
          `wrote ${out}: ${summary.kernel_release} ${summary.mode}, ${summary.mappings} EL2 mappings, ${summary.table_pages} table pages`,
        );
      }
      return 0;
    },
  },
};

async function checkWritable(flag: string, path: string): Promise<void> {
  let existed = true;
  try {
    await Deno.stat(path);
  } catch {
    existed = false;
  }
  try {
    const f = await Deno.open(path, { write: true, create: true });
    f.close();
    if (!existed) await Deno.remove(path);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot write: ${(e as Error).message}`);
  }
}

async function main(argv: string[]): Promise<number> {
  jsonMode = argv.includes("--json");
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "-h" || cmd === "--help") {
    if (cmd === undefined) {
      throw new UsageError(
        `a command is needed: ${Object.keys(SUBCOMMANDS).join(", ")} (--help for usage)`,
      );
    }
    console.log(USAGE);
    return 0;
  }
  const sub = Object.hasOwn(SUBCOMMANDS, cmd) ? SUBCOMMANDS[cmd] : undefined;
  if (!sub) {
    throw new UsageError(
      `unknown command ${cmd}: choose ${Object.keys(SUBCOMMANDS).join(", ")} (--help for usage)`,
    );
  }
  return await sub.run(rest);
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    const err = e as Error;
    const known = err instanceof OracleError;
    const msg = (known ? err.message : `unexpected error: ${err?.message ?? String(e)}`)
      .replaceAll("\n", " ");
    console.error(`oracle: ${msg}`);
    if (jsonMode) console.log(JSON.stringify({ error: msg }, null, 2));
    code = err instanceof ObserveInterrupted ? 130 : known ? 2 : 1;
  }
  Deno.exit(code);
}
