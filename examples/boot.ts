/**
 * Boots a simulated machine in pKVM protected mode and prints the boot step
 * by step, steps 0 to 7 (or, with `--json`, the JSON boot report).
 *
 *   deno run examples/boot.ts
 *   deno run examples/boot.ts --profile mainline --cpus 8 --ram 0x40000000:16G
 *   deno run examples/boot.ts --switch v3 --tlb optimistic --json
 *   deno run --allow-read examples/boot.ts --switch my_switch.S
 *   deno run --allow-read --allow-write examples/boot.ts --html boot.html
 *
 * Exit status: 0 when the boot and its verification succeed, 1 when the
 * boot fails (the account says where and why), 2 for bad input (a flag, a
 * file, a plugin that cannot be set up), printed as one line.
 *
 * @module
 */

// Each name from the module that defines it, not from mod.ts, which would
// also load the oracle, the compare machinery and the HTML pages: a plain
// boot runs none of them, and loading them is a fifth of its start-up. The
// HTML page is imported when --html asks for it.
import {
  A64_EXECUTOR,
  type BootReport,
  CPU_MODEL_NAMES,
  cpuModel,
  createMachine,
  formatSize,
  hex,
  type Machine,
  parseSize,
  PKVM,
  type RamBank,
  SWITCH_SEQUENCE,
  type SwitchHazardReport,
  Trace,
  verifyFailures,
} from "../core/mod.ts";
import { kvmCpuCaps } from "../plugins/pkvm/mod.ts";
import {
  profile,
  type ProfileName,
  type ProfileOverrides,
  PROFILES,
} from "../plugins/profiles/mod.ts";
import {
  BUILTIN_VARIANTS,
  builtinSequence,
  isBuiltinVariant,
} from "../plugins/switch_sequence/mod.ts";
import { resolveVariant } from "../plugins/compare/variant_spec.ts";
import {
  BadInput,
  badInputFrom,
  checkHtmlFlag,
  integerFlag,
  noArguments,
  parseFlags,
  runCli,
  sequenceInputError,
  wantsJson,
  writeHtmlFlag,
} from "./_cli.ts";

/** The page allocators `--allocator` names (the profile's `buddy`, a release's, or the bitmap). */
const ALLOCATORS = ["buddy", ...PROFILES.map((p) => `buddy-${p}`), "bitmap"] as const;

const USAGE = `Usage: deno run examples/boot.ts [options]

Boots a simulated arm64 machine in pKVM protected mode (nVHE, or hVHE where
the release picks it on the CPU model) and prints the boot step by step:
0 firmware hand-over, 1 carving, 2 host EL2 tables, 3 __pkvm_init, 4 vmemmap,
5 switch + finalise, 6 free_hyp_pgds, 7 the rest of the release's host boot
(the other CPUs, the vgic, finalisation); then the post-boot verification.

Options:
  --json                      print the JSON boot report instead
  --html FILE                 also write the boot as one self-contained HTML
                              page (pictures of memory, VA space, tables,
                              pools, switch findings, hypercalls); needs
                              --allow-read and --allow-write
  --ram BASE:SIZE             a RAM bank (repeatable; sizes take K/M/G;
                              default 0x40000000:4G)
  --cpus N                    CPUs, 1..256 (default 4)
  --va-bits N                 kernel VA_BITS: 39, 48, or 52 on a FEAT_LPA2 CPU
                              with a 52-bit release (default: what the
                              release picks on the CPU model, 52 or 48)
  --profile NAME              ${PROFILES.join(", ")} (default v7.2,
                              the newest release checked against a real
                              kernel, also called mainline; v6.1's switch
                              sequence fails verify on the adversarial TLB
                              (no dsb nsh; isb before the MMU enable);
                              v5.13 has no real kernel to check it against)
  --cpu MODEL                 ${CPU_MODEL_NAMES.join(", ")} (default
                              cortex-a57): the CPU model QEMU 7.2 emulates
  --allocator NAME|PATH       ${ALLOCATORS.join(", ")}, or a plugin module
  --switch NAME|PATH          ${BUILTIN_VARIANTS.join(", ")}, or an assembly file
  --tlb POLICY                adversarial (default) or optimistic
  --plugin PATH               a plugin module replacing providers (repeatable)
  --seed N                    seeds the machine PRNG (default 1), whose only
                              draw is get_random_long() for the hyp VA
                              random tag (kvm_compute_layout(),
                              CONFIG_RANDOMIZE_BASE): it moves the hyp VA
                              layout, nothing else
  -h, --help                  this text

Reading a PATH needs --allow-read, and only then; --html needs --allow-read
and --allow-write (the page is written beside FILE, then renamed over it).
Bad input is one line on stderr (with --json also {"error": ...} on stdout) and exit status 2.`;

const isPath = (s: string) => /[\\/]/.test(s) || /\.(ts|js|mjs|S|s|asm|txt)$/.test(s);

function parseRam(spec: string): RamBank {
  const m = /^([^:]+):([^:]+)$/.exec(spec);
  if (!m) {
    throw new BadInput(`--ram ${spec}: expected BASE:SIZE, e.g. 0x40000000:4G`, { flag: "--ram" });
  }
  try {
    return { base: parseSize(m[1]!), size: parseSize(m[2]!) };
  } catch (e) {
    throw new BadInput(`--ram ${spec}: ${(e as Error).message}`, { flag: "--ram" });
  }
}

interface Config {
  json: boolean;
  html: string | undefined;
  ram: RamBank[];
  cpus: number;
  cpu: string;
  vaBits: number | undefined;
  profile: ProfileName;
  overrides: ProfileOverrides;
  seed: number;
}

async function parse(argv: readonly string[]): Promise<Config | "help"> {
  const a = parseFlags(argv, {
    boolean: ["json", "help"],
    string: ["cpus", "cpu", "va-bits", "profile", "allocator", "switch", "tlb", "seed", "html"],
    collect: ["ram", "plugin"],
    alias: { h: "help" },
  });
  if (a.help) return "help";
  noArguments(a._);
  const ram = a.ram.map(parseRam);
  const cfg: Config = {
    json: a.json,
    html: a.html,
    ram: ram.length > 0 ? ram : [{ base: 0x4000_0000, size: 2 ** 32 }],
    cpus: a.cpus === undefined ? 4 : integerFlag("--cpus", a.cpus, 1, 256),
    cpu: a.cpu ?? "cortex-a57",
    vaBits: a["va-bits"] === undefined ? undefined : integerFlag("--va-bits", a["va-bits"], 0, 64),
    profile: "v5.13",
    overrides: {},
    seed: a.seed === undefined ? 1 : integerFlag("--seed", a.seed, 0, 2 ** 32 - 1),
  };
  const p = a.profile ?? "v7.2";
  if (!PROFILES.includes(p)) {
    throw new BadInput(`--profile ${p}: choose ${PROFILES.join(", ")}`, { flag: "--profile" });
  }
  if (!(CPU_MODEL_NAMES as readonly string[]).includes(cfg.cpu)) {
    throw new BadInput(`--cpu ${cfg.cpu}: choose ${CPU_MODEL_NAMES.join(", ")}`, { flag: "--cpu" });
  }
  // The VA size the release picks on the CPU model, or the one asked for if
  // the CPU and the build can give it (52 bits need FEAT_LPA2 and a 52-bit build).
  try {
    cfg.vaBits = kvmCpuCaps(p, cpuModel(cfg.cpu), cfg.vaBits).vaBits;
  } catch (e) {
    throw new BadInput(`--va-bits ${cfg.vaBits}: ${(e as Error).message}`, { flag: "--va-bits" });
  }
  cfg.profile = p;
  const choices: Record<string, string> = {};
  if (a.tlb !== undefined) {
    if (a.tlb !== "adversarial" && a.tlb !== "optimistic") {
      throw new BadInput(`--tlb ${a.tlb}: choose adversarial or optimistic`, { flag: "--tlb" });
    }
    choices.tlb = a.tlb;
  }
  const names: Record<"allocator" | "switch", readonly string[]> = {
    allocator: ALLOCATORS,
    switch: BUILTIN_VARIANTS,
  };
  for (const key of ["allocator", "switch"] as const) {
    const v = a[key];
    if (v === undefined) continue;
    if (!isPath(v) && !names[key].includes(v)) {
      throw new BadInput(`--${key} ${v}: choose ${names[key].join(", ")}, or a path`, {
        flag: `--${key}`,
      });
    }
    choices[key] = v;
  }
  if (a.plugin.length > 0) choices.plugin = a.plugin.join(",");
  // An --html FILE that cannot be written is refused before any file is
  // read, any plugin loaded or the boot started.
  if (cfg.html !== undefined) await checkHtmlFlag(cfg.html, "boot.ts");
  // One resolution for every choice, so a --plugin that provides what
  // --tlb, --allocator or --switch also chose is refused, not settled by order.
  let variant;
  try {
    variant = await resolveVariant({ label: "boot", choices }, p, {
      spell: (k, v) => `--${k} ${v}`,
    });
  } catch (e) {
    const bad = badInputFrom(e, "boot.ts");
    if (bad !== undefined) throw bad;
    const what = Object.entries(choices).map(([k, v]) => `--${k} ${v}`).join(" ");
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : (e as Error).message.split("\n")[0]!;
    throw new BadInput(e instanceof RangeError ? why : `${what}: ${why}`);
  }
  cfg.overrides = { ...variant.overrides, pkvm: { vaBits: cfg.vaBits } };
  return cfg;
}

// --- printing ---------------------------------------------------------------

const tty = Deno.stdout.isTerminal();
const paint = (code: string) => (s: string) => tty ? `\x1b[${code}m${s}\x1b[0m` : s;
const bold = paint("1");
const dim = paint("2");
const green = paint("32");
const red = paint("31");
const yellow = paint("33");
const cyan = paint("36");

const PROT_SHORT: Record<string, string> = {
  PAGE_HYP: "RW-",
  PAGE_HYP_EXEC: "R-X",
  PAGE_HYP_RO: "R--",
  PAGE_HYP_DEVICE: "RW- dev",
};

function status(s: string): string {
  return s === "ok" ? green("ok") : s === "fail" ? red("FAIL") : yellow(s);
}

function verdict(v: string): string {
  return v === "pass" ? green("pass") : v === "warn" ? yellow("warn") : red("fail");
}

/** Step 5's account of the TLB across the MMU enable (one CPU). */
function hazardLines(h: SwitchHazardReport): string[] {
  const a = h.at_enable;
  const o = h.outlived;
  const at = h.enable_line > 0 ? ` (CPU ${h.cpu}, ${h.enable_insn} at line ${h.enable_line})` : "";
  const entries = (tlb: number, walk: number) =>
    `${tlb} ${tlb === 1 ? "entry" : "entries"} and ${walk} walk-cache ${
      walk === 1 ? "entry" : "entries"
    } from hyp_pgtable`;
  if (a.tlb + a.walk + o.tlb + o.walk + h.old_ttbr0.walks === 0) {
    return [
      `    TLB across the MMU enable${at}: nothing from hyp_pgtable live, no walk from the old TTBR0_EL2, nothing left after it`,
    ];
  }
  const judged = (same: number, differ: number) =>
    differ === 0
      ? `all translate as pkvm_pgtable does`
      : `${same} ${same === 1 ? "translates" : "translate"} as pkvm_pgtable does, ${
        red(`${differ} ${differ === 1 ? "does" : "do"} not`)
      } (--json lists them)`;
  const until = a.until_line > 0
    ? `until ${a.until_insn} at line ${a.until_line}`
    : "past the end of the sequence (no DSB completes the TLBI)";
  const parts: string[] = [];
  if (a.tlb + a.walk > 0) {
    parts.push(
      `R4 live at M=1 ${until}: ${entries(a.tlb, a.walk)}; ${judged(a.same, a.differ)}; ${a.used} ${
        a.used === 1 ? "hit" : "hits"
      } on them`,
    );
  }
  parts.push(
    `R3 walks from the old TTBR0_EL2: ${h.old_ttbr0.walks}${
      h.old_ttbr0.lines.length > 0 ? ` (after line ${h.old_ttbr0.lines.join(", ")})` : ""
    }; left after the switch: ${entries(o.tlb, o.walk)}${
      o.tlb + o.walk > 0 ? `; ${judged(o.same, o.differ)}` : ""
    }`,
  );
  // One screen: the entries that differ are listed in --json (and the
  // verification below names the VAs they translate wrongly).
  const out = [`    TLB across the MMU enable${at}: ${parts[0]}`];
  for (const p of parts.slice(1)) out.push(`      ${p}`);
  return out;
}

function print(r: BootReport): void {
  const out: string[] = [];
  const ram = r.machine.ram.map((b) => `${formatSize(Number(b.size))} @ ${b.base}`).join(", ");
  out.push(
    `${bold("hyplab pKVM boot")}  profile ${bold(r.profile)} · RAM ${ram} · ${r.machine.cpus} × ${
      r.machine.cpu ?? "?"
    }${r.machine.mode ? ` · ${r.machine.mode}` : ""} · VA_BITS ${r.machine.va_bits} · ${
      r.variants.tlb ?? ""
    }`,
  );
  const v = r.variants;
  out.push(
    dim(
      `variants: ${v.reserved_mem} · ${v.page_allocator} · ${v.kvm_pgtable} · switch ${v.switch_sequence} · ${v.pkvm}`,
    ),
  );
  for (const s of r.steps) {
    out.push(`${cyan(`[${s.step}]`)} ${bold(s.name)}  ${status(s.status)}`);
    if (s.status !== "ok") continue; // the account follows

    switch (s.step) {
      case 1:
        out.push(`    ${s.detail}`);
        break;
      case 2: {
        out.push(`    ${s.detail}`);
        const init = r.hypercalls.find((h) => h.name === "__pkvm_init");
        if (init) {
          // 7.x passes no nr_cpus (the host sets hyp_nr_cpus itself).
          const withNr = init.args.length === 5;
          const [phys, size] = init.args;
          const [nr, base, bits] = withNr ? init.args.slice(2) : [undefined, ...init.args.slice(2)];
          out.push(
            `    hvc #0 x0=${hex(0xc600_0000 + init.id)} __pkvm_init(phys ${phys}, size ${size}, ${
              withNr ? `nr_cpus ${Number(nr)}, ` : ""
            }per_cpu_base ${base}, hyp_va_bits ${Number(bits)}) -> x0 ${init.x0}, x1 ${init.x1}`,
          );
        }
        break;
      }
      case 3: {
        const terms = r.reserve.layout.filter((t) => t.pages > 0).map((t) =>
          `${t.name} ${t.pages} @ ${t.base}`
        );
        for (let i = 0; i < terms.length; i += 3) {
          out.push(`    ${i === 0 ? "pool:" : "     "} ${terms.slice(i, i + 3).join(" | ")}`);
        }
        out.push(
          `    pkvm_pgtable ${r.pgtable.pgd}: ${r.pgtable.early_table_pages} early table pages; maplets:`,
        );
        const maps = r.pgtable.mappings;
        const shown = maps.length > 14 ? maps.slice(0, 13) : maps;
        for (const m of shown) {
          out.push(
            dim(
              `      ${m.va.padStart(16)} -> ${m.pa.padEnd(12)} ${
                formatSize(Number(m.size)).padStart(9)
              }  ${(PROT_SHORT[m.prot] ?? m.prot).padEnd(7)} ${m.what ?? ""}`,
            ),
          );
        }
        if (shown.length < maps.length) {
          out.push(dim(`      … ${maps.length - shown.length} more (--json)`));
        }
        break;
      }
      case 5: {
        const sw = r.switch;
        out.push(
          `    switch sequence ${bold(sw.sequence)} (${sw.abi} ABI, ${sw.executed} instructions): ${
            verdict(sw.verdict)
          }`,
        );
        for (const f of sw.findings) {
          out.push(
            `      ${
              f.severity === "fail" ? red(f.rule) : yellow(f.rule)
            } line ${f.line}: ${f.message}`,
          );
        }
        for (const h of sw.hazard ?? []) out.push(...hazardLines(h));
        out.push(
          `    TTBR0_EL2 ${r.sysregs.TTBR0_EL2}  SCTLR_EL2 ${r.sysregs.SCTLR_EL2}  SP_EL2 ${r.sysregs.SP_EL2}`,
        );
        for (const [name, p] of Object.entries(r.pools)) {
          out.push(
            `    ${name}: ${p.pages} pages @ ${p.base}, ${p.reserved} reserved, ${p.free} free; free blocks by order [${
              p.free_by_order.join(" ")
            }]`,
          );
        }
        out.push(`    pkvm_pgtable mm_ops -> hpool (${r.variants.page_allocator})`);
        break;
      }
      default:
        out.push(`    ${s.detail}`);
    }
  }
  if (r.failure === undefined) {
    const vr = r.verify;
    const what =
      `${vr.checked_pages} page translations checked, ${vr.probed_old_vas} old host VAs probed, ${vr.stale_translations} stale TLB hits`;
    out.push(`${bold("verify")}  ${vr.ok ? green("ok") : red("FAIL")}  ${what}`);
    for (const m of verifyFailures(vr)) out.push(`    ${red(m)}`);
  } else {
    out.push(
      `${
        red(bold("boot failed"))
      } at step ${r.failure.step} (${r.failure.name}):\n    ${r.failure.reason}`,
    );
  }
  console.log(out.join("\n"));
}

// --- main -------------------------------------------------------------------

/** Plugins the command line loaded from files, for a message about a crash. */
function loaded(m: Machine): string {
  const from = m.plugins.filter((p) => p.source !== undefined).map((p) =>
    `"${p.name}" from ${p.source}`
  );
  return from.length ? ` (plugins loaded from files: ${from.join(", ")})` : "";
}

async function main(argv: readonly string[]): Promise<number> {
  const cfg = await parse(argv);
  if (cfg === "help") {
    console.log(USAGE);
    return 0;
  }
  let m: Machine;
  try {
    m = createMachine({
      ram: cfg.ram,
      cpus: cfg.cpus,
      cpu: cfg.cpu,
      seed: cfg.seed,
      plugins: profile(cfg.profile, cfg.overrides),
      trace: new Trace({ kinds: ["step", "hypercall", "log", "barrier_finding", "handover"] }),
    });
  } catch (e) {
    // Bad RAM banks or CPUs (RangeError); a plugin that cannot be set up is
    // a PluginError, answered by runCli naming the plugin.
    if (e instanceof RangeError) throw new BadInput(e.message);
    throw e;
  }
  // A sequence that does not parse is bad input, not a failed boot. A
  // built-in text under the built-in executor is never that (every built-in
  // is checked in tests/plugins/switch_sequence/builtins_test.ts), so the
  // static check runs for a text from a file or with plugins from files:
  // the boot runs the sequence anyway, and the check cost a cold boot ~10 ms.
  const seq = m.get(SWITCH_SEQUENCE);
  const builtin = isBuiltinVariant(seq.name) && builtinSequence(seq.name).source === seq.source &&
    m.plugins.every((p) => p.source === undefined);
  if (!builtin) {
    try {
      m.get(A64_EXECUTOR).check(seq.source);
    } catch (e) {
      const bad = sequenceInputError(seq.name, e);
      throw new BadInput(
        `switch sequence ${bad?.message ?? `${seq.name}: ${(e as Error).message}`}`,
        bad?.details ?? {},
      );
    }
  }
  let report: BootReport;
  try {
    report = m.get(PKVM).boot();
  } catch (e) {
    // Not an account of a failed boot: something threw out of it.
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    const line = `the boot stopped on an error: ${msg.split("\n")[0]}${loaded(m)}`;
    console.error(`boot: ${line}`);
    if (wantsJson(argv)) console.log(JSON.stringify({ error: line }, null, 2));
    return 1;
  }
  if (cfg.json) console.log(JSON.stringify(report, null, 2));
  else print(report);
  if (cfg.html !== undefined) {
    const { bootHtml } = await import("../plugins/report_html/boot_page.ts");
    const bytes = await writeHtmlFlag(cfg.html, bootHtml(report), "boot.ts");
    if (!cfg.json) console.log(dim(`page: ${cfg.html} (${formatSize(bytes)})`));
  }
  return report.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await runCli("boot.ts", Deno.args, main));
