/**
 * Compares variants on one scenario and prints a table.
 *
 *   deno run examples/compare.ts
 *   deno run examples/compare.ts --variant buddy:allocator=buddy --variant bitmap:allocator=bitmap
 *   deno run examples/compare.ts --variant v3:switch=v3 --variant mainline:switch=mainline --json
 *   deno run examples/compare.ts --workload churn --ops 100000 --markdown
 *   deno run --allow-read examples/compare.ts --variant mine:allocator=examples/custom_allocator.ts
 *
 * With no `--variant` it compares the built-in switch sequences and the two
 * page allocators on the default machine. Exit status: 0 when every run ran
 * (a failed boot is a result, not an error), 2 for bad flags.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import {
  compareVariants,
  comparisonJson,
  formatComparison,
  parseRamBank,
  parseVariantSpec,
  type ProfileName,
  type RamBank,
  resolveVariant,
  type Scenario,
  type Variant,
  type Workload,
} from "../mod.ts";

const USAGE = `Usage: deno run examples/compare.ts [options]

Runs one scenario under several variant sets with the same seed and prints
what differs: sizing, pools, fragmentation, TLB counters, switch findings.

Options:
  --variant LABEL:cap=NAME|PATH[,cap=...]   a variant set (repeatable); cap is one of
                              profile, allocator, switch, tlb, pgtable,
                              reserved_mem, early_allocator, plugin
  --workload boot|churn|map   what to run after the boot (default boot); under
                              the mainline profile every map hypercall is
                              refused (init-only once pKVM is finalised)
  --ops N                     operations of churn/map (default 100000 / 200)
  --max-order N               highest order churn allocates (default 3)
  --ram BASE:SIZE             a RAM bank (repeatable; default 0x40000000:4G)
  --cpus N                    CPUs (default 4)
  --va-bits N                 kernel VA_BITS, 39 or 48 (default 48)
  --profile NAME              profile of variants that name none (default v5.13)
  --seed N                    PRNG seed (default 1)
  --markdown                  a Markdown table
  --json                      one JSON object; identical runs give identical
                              JSON but for each run's wall_ms
  --no-timing                 leave out wall times (the table's wall time row,
                              the JSON wall_ms): the output is then the same
                              on every run of the same command
  -h, --help                  this text

Reading a PATH needs --allow-read, and only then.`;

/** The default comparison: three switch sequences and two allocators. */
const DEFAULT_VARIANTS = [
  "v3:switch=v3",
  "v5.13:switch=v5.13",
  "mainline:switch=mainline",
  "bitmap:allocator=bitmap",
];

class UsageError extends Error {}

function integer(flag: string, v: unknown, lo: number, hi: number): number {
  const s = String(v);
  const n = /^(0x[0-9a-f]+|\d+)$/i.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < lo || n > hi) {
    throw new UsageError(`${flag} ${s}: expected an integer in ${lo}..${hi}`);
  }
  return n;
}

function list(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

async function variants(specs: string[], prof: ProfileName): Promise<Variant[]> {
  const out: Variant[] = [];
  for (const s of specs) {
    try {
      out.push(await resolveVariant(parseVariantSpec(s), prof));
    } catch (e) {
      const err = e as Error;
      if (
        err.name === "NotCapable" || err.name === "PermissionDenied" ||
        /--allow-read/.test(err.message)
      ) {
        throw new UsageError(`--variant ${s}: reading a file needs --allow-read`);
      }
      throw new UsageError(`--variant ${s}: ${err.message.split("\n")[0]}`);
    }
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const flags = ["json", "markdown", "help", "no-timing"];
  const strings = [
    "variant",
    "workload",
    "ops",
    "max-order",
    "ram",
    "cpus",
    "va-bits",
    "profile",
    "seed",
  ];
  const a = parseArgs(argv, {
    boolean: flags,
    string: strings,
    collect: ["variant", "ram"],
    alias: { h: "help" },
    unknown: (arg: string) => {
      if (/^-\d/.test(arg)) {
        throw new UsageError(`${arg}: a negative number; flags take non-negative integers`);
      }
      if (arg.startsWith("-")) throw new UsageError(`unknown flag ${arg}`);
      throw new UsageError(`unexpected argument ${arg}`);
    },
  });
  if (a.help) {
    console.log(USAGE);
    return 0;
  }
  const prof = (a.profile ?? "v5.13") as ProfileName;
  if (prof !== "v5.13" && prof !== "mainline") {
    throw new UsageError(`--profile ${prof}: choose v5.13 or mainline`);
  }
  let ram: RamBank[] | undefined;
  try {
    ram = list(a.ram).map(parseRamBank);
  } catch (e) {
    throw new UsageError(`--ram: ${(e as Error).message}`);
  }
  if (a.json && a.markdown) throw new UsageError("--json and --markdown: choose one");
  const kind = a.workload ?? "boot";
  if (a.ops !== undefined && kind === "boot") {
    throw new UsageError("--ops: only the churn and map workloads take it");
  }
  if (a["max-order"] !== undefined && kind !== "churn") {
    throw new UsageError("--max-order: only the churn workload takes it");
  }
  let workload: Workload;
  if (kind === "boot") workload = { kind };
  else if (kind === "churn") {
    const churn: Workload & { kind: "churn" } = {
      kind,
      ops: a.ops ? integer("--ops", a.ops, 1, 1e9) : 100_000,
    };
    if (a["max-order"] !== undefined) {
      churn.maxOrder = integer("--max-order", a["max-order"], 0, 10);
    }
    workload = churn;
  } else if (kind === "map") {
    workload = { kind, ops: a.ops ? integer("--ops", a.ops, 1, 1e7) : 200 };
  } else throw new UsageError(`--workload ${kind}: choose boot, churn or map`);
  const scenario: Scenario = { workload };
  if (ram.length) scenario.ram = ram;
  if (a.cpus !== undefined) scenario.cpus = integer("--cpus", a.cpus, 1, 256);
  if (a["va-bits"] !== undefined) scenario.vaBits = integer("--va-bits", a["va-bits"], 39, 48);
  if (a.seed !== undefined) scenario.seed = integer("--seed", a.seed, 0, 2 ** 32 - 1);
  const specs = list(a.variant);
  const vs = await variants(
    specs.length ? specs : DEFAULT_VARIANTS,
    prof,
  );

  const tty = Deno.stderr.isTerminal();
  const started = performance.now();
  const progress = (label: string, done: number, total: number) => {
    if (!tty || performance.now() - started < 1000) return;
    const pct = Math.floor((done / total) * 100);
    Deno.stderr.writeSync(new TextEncoder().encode(`\r${label}: ${pct}% of ${total} ops `));
    if (done === total) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  };
  const c = compareVariants(scenario, vs, { progress });
  const render = { timing: !a["no-timing"] };
  if (a.json) console.log(JSON.stringify(comparisonJson(c, render), null, 2));
  else console.log(formatComparison(c, a.markdown ? "markdown" : "text", render));
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    if (e instanceof UsageError || e instanceof SyntaxError || e instanceof RangeError) {
      console.error(`compare: ${e.message}\n\n${USAGE}`);
      Deno.exit(2);
    }
    console.error(`compare: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
