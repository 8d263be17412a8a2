/**
 * Boots a simulated machine in pKVM protected mode and prints the six steps
 * of the boot (or, with `--json`, the JSON boot report).
 *
 *   deno run examples/boot.ts
 *   deno run examples/boot.ts --profile mainline --cpus 8 --ram 0x40000000:16G
 *   deno run examples/boot.ts --switch v3 --tlb optimistic --json
 *   deno run --allow-read examples/boot.ts --switch my_switch.S
 *
 * Exit status: 0 when the boot and its verification succeed, 1 when the
 * boot fails (the account says where and why), 2 for bad flags.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import {
  A64_EXECUTOR,
  type BootReport,
  createMachine,
  formatSize,
  hex,
  parseSize,
  PKVM,
  profile,
  type ProfileName,
  type ProfileOverrides,
  type RamBank,
  resolveVariant,
  SWITCH_SEQUENCE,
  Trace,
} from "../mod.ts";

const USAGE = `Usage: deno run examples/boot.ts [options]

Boots a simulated arm64 machine in pKVM protected mode (nVHE) and prints the
six boot steps: carving, host EL2 tables, __pkvm_init, vmemmap, switch +
finalise, free_hyp_pgds.

Options:
  --json                      print the JSON boot report instead
  --ram BASE:SIZE             a RAM bank (repeatable; sizes take K/M/G;
                              default 0x40000000:4G)
  --cpus N                    CPUs, 1..256 (default 4)
  --va-bits N                 kernel VA_BITS, 39 or 48 (default 48)
  --profile NAME              v5.13 (default) or mainline
  --allocator NAME|PATH       buddy, buddy-v5.13, buddy-mainline, or a plugin module
  --switch NAME|PATH          v3, v5.13, mainline, set_sctlr, or an assembly file
  --tlb POLICY                adversarial (default) or optimistic
  --plugin PATH               a plugin module replacing providers (repeatable)
  --seed N                    PRNG seed (default 1)
  -h, --help                  this text

Reading a PATH needs --allow-read, and only then.`;

class UsageError extends Error {}

function usageError(msg: string): never {
  throw new UsageError(msg);
}

const isPath = (s: string) => /[\\/]/.test(s) || /\.(ts|js|mjs|S|s|asm|txt)$/.test(s);

function parseRam(spec: string): RamBank {
  const m = /^([^:]+):([^:]+)$/.exec(spec);
  if (!m) usageError(`--ram ${spec}: expected BASE:SIZE, e.g. 0x40000000:4G`);
  try {
    return { base: parseSize(m[1]!), size: parseSize(m[2]!) };
  } catch (e) {
    usageError(`--ram ${spec}: ${(e as Error).message}`);
  }
}

function parseInteger(flag: string, v: unknown, lo: number, hi: number): number {
  const s = String(v);
  const n = /^(0x[0-9a-f]+|\d+)$/i.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < lo || n > hi) {
    usageError(`${flag} ${s}: expected an integer in ${lo}..${hi}`);
  }
  return n;
}

function list(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

async function readable<T>(path: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const name = (e as Error).name;
    const text = (e as Error).message ?? "";
    if (
      name === "NotCapable" || name === "PermissionDenied" || /--allow-read|read access/.test(text)
    ) {
      usageError(
        `reading ${what} ${path} needs --allow-read: deno run --allow-read examples/boot.ts ...`,
      );
    }
    usageError(`cannot use ${what} ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
}

interface Config {
  json: boolean;
  ram: RamBank[];
  cpus: number;
  vaBits: number;
  profile: ProfileName;
  overrides: ProfileOverrides;
  seed: number;
}

async function parse(argv: string[]): Promise<Config> {
  const known = [
    "json",
    "help",
    "ram",
    "cpus",
    "va-bits",
    "profile",
    "allocator",
    "switch",
    "tlb",
    "plugin",
    "seed",
  ];
  const a = parseArgs(argv, {
    boolean: ["json", "help"],
    string: ["ram", "cpus", "va-bits", "profile", "allocator", "switch", "tlb", "plugin", "seed"],
    collect: ["ram", "plugin"],
    alias: { h: "help" },
    unknown: (arg: string) => {
      if (!arg.startsWith("-")) usageError(`unexpected argument ${arg}`);
      const name = arg.replace(/^-+/, "").split("=")[0]!;
      if (!known.includes(name) && name !== "h") usageError(`unknown flag ${arg}`);
      return true;
    },
  });
  if (a.help) throw new UsageError("");
  for (const f of ["cpus", "va-bits", "profile", "allocator", "switch", "tlb", "seed"] as const) {
    if (Array.isArray(a[f])) usageError(`--${f} given more than once`);
  }
  const ram = list(a.ram).map(parseRam);
  const cfg: Config = {
    json: a.json,
    ram: ram.length > 0 ? ram : [{ base: 0x4000_0000, size: 2 ** 32 }],
    cpus: a.cpus === undefined ? 4 : parseInteger("--cpus", a.cpus, 1, 256),
    vaBits: a["va-bits"] === undefined ? 48 : parseInteger("--va-bits", a["va-bits"], 0, 64),
    profile: "v5.13",
    overrides: {},
    seed: a.seed === undefined ? 1 : parseInteger("--seed", a.seed, 0, 2 ** 32 - 1),
  };
  if (cfg.vaBits !== 39 && cfg.vaBits !== 48) {
    usageError(`--va-bits ${cfg.vaBits}: 4 KiB pages give 39 or 48`);
  }
  const p = a.profile ?? "v5.13";
  if (p !== "v5.13" && p !== "mainline") usageError(`--profile ${p}: choose v5.13 or mainline`);
  cfg.profile = p;
  const o: ProfileOverrides = { pkvm: { vaBits: cfg.vaBits } };
  if (a.tlb !== undefined) {
    if (a.tlb !== "adversarial" && a.tlb !== "optimistic") {
      usageError(`--tlb ${a.tlb}: choose adversarial or optimistic`);
    }
    o.tlb = a.tlb;
  }
  const names: Record<string, readonly string[]> = {
    allocator: ["buddy", "buddy-v5.13", "buddy-mainline", "bitmap"],
    switch: ["v3", "v5.13", "mainline", "set_sctlr"],
  };
  const choices: Record<string, string> = {};
  for (const key of ["allocator", "switch"] as const) {
    const v = a[key];
    if (v === undefined) continue;
    if (!isPath(v) && !names[key]!.includes(v)) {
      usageError(`--${key} ${v}: choose ${names[key]!.join(", ")}, or a path`);
    }
    choices[key] = v;
  }
  if (list(a.plugin).length > 0) choices.plugin = list(a.plugin).join(",");
  if (Object.keys(choices).length > 0) {
    const what = Object.entries(choices).map(([k, v]) => `--${k} ${v}`).join(" ");
    const variant = await readable(
      what,
      "module",
      () => resolveVariant({ label: "boot", choices }, p),
    );
    Object.assign(o, variant.overrides);
  }
  cfg.overrides = o;
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

function print(r: BootReport): void {
  const out: string[] = [];
  const ram = r.machine.ram.map((b) => `${formatSize(Number(b.size))} @ ${b.base}`).join(", ");
  out.push(
    `${bold("hyplab pKVM boot")}  profile ${
      bold(r.profile)
    } · RAM ${ram} · ${r.machine.cpus} CPUs · VA_BITS ${r.machine.va_bits} · ${
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
    if (s.step === 0) continue;
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
          const [phys, size, nr, base, bits] = init.args;
          out.push(
            `    hvc #0 x0=${
              hex(0xc600_0000 + init.id)
            } __pkvm_init(phys ${phys}, size ${size}, nr_cpus ${
              Number(nr)
            }, per_cpu_base ${base}, hyp_va_bits ${Number(bits)}) -> x0 ${init.x0}, x1 ${init.x1}`,
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
    for (const m of [...vr.mismatches, ...vr.unexpected]) out.push(`    ${red(m)}`);
    if (vr.pool_invariants) out.push(`    ${red(`pool invariant: ${vr.pool_invariants}`)}`);
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

async function main(): Promise<number> {
  let cfg: Config;
  try {
    cfg = await parse(Deno.args);
  } catch (e) {
    if (e instanceof UsageError) {
      if (e.message === "") {
        console.log(USAGE);
        return 0;
      }
      console.error(`boot.ts: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  let report: BootReport;
  try {
    const m = createMachine({
      ram: cfg.ram,
      cpus: cfg.cpus,
      seed: cfg.seed,
      plugins: profile(cfg.profile, cfg.overrides),
      trace: new Trace({ kinds: ["step", "hypercall", "log", "barrier_finding", "handover"] }),
    });
    // A user sequence that does not parse is bad input, not a failed boot.
    const seq = m.get(SWITCH_SEQUENCE);
    try {
      m.get(A64_EXECUTOR).check(seq.source);
    } catch (e) {
      console.error(`boot.ts: switch sequence ${seq.name}: ${(e as Error).message}`);
      return 2;
    }
    report = m.get(PKVM).boot();
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) {
      console.error(`boot.ts: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    console.error(`boot.ts: the boot could not run: ${msg}`);
    return 1;
  }
  if (cfg.json) console.log(JSON.stringify(report, null, 2));
  else print(report);
  return report.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
