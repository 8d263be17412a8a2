/**
 * Compares variants on one scenario and prints a table.
 *
 *   deno run examples/compare.ts
 *   deno run examples/compare.ts --variant buddy:allocator=buddy --variant bitmap:allocator=bitmap
 *   deno run examples/compare.ts --variant v3:switch=v3 --variant mainline:switch=mainline --json
 *   deno run examples/compare.ts --workload churn --ops 100000 --markdown
 *   deno run --allow-read examples/compare.ts --variant mine:allocator=examples/custom_allocator.ts
 *   deno run --allow-read --allow-write examples/compare.ts --html compare.html
 *
 * With no `--variant` it compares the built-in switch sequences and the two
 * page allocators on the default machine. Exit status: 0 when every run ran
 * (a failed boot is a result, not an error), 2 for bad input (a flag, a
 * variant that cannot run: a plugin that cannot be set up, a switch file
 * that does not parse), printed as one line.
 *
 * @module
 */

import {
  compareVariants,
  comparisonHtml,
  comparisonJson,
  formatComparison,
  parseRamBank,
  parseVariantSpec,
  type ProfileName,
  PROFILES,
  type RamBank,
  resolveVariant,
  type Scenario,
  type Variant,
  type Workload,
} from "../mod.ts";
import {
  BadInput,
  badInputFrom,
  checkHtmlFlag,
  integerFlag,
  noArguments,
  parseFlags,
  progressLine,
  runCli,
  writeHtmlFlag,
} from "./_cli.ts";

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
  --profile NAME              profile of variants that name none (default v7.2)
  --seed N                    seeds (default 1) the machine PRNG, whose only
                              draw is get_random_long() for the hyp VA random
                              tag (kvm_compute_layout()), and the churn/map
                              workload's own generator
  --markdown                  a Markdown table
  --json                      one JSON object; identical runs give identical
                              JSON but for each run's wall_ms
  --html FILE                 also write the comparison as one self-contained
                              HTML page (variants side by side, differences
                              highlighted); needs --allow-read and --allow-write
  --no-timing                 leave out wall times (the table's wall time row,
                              the JSON wall_ms): the output is then the same
                              on every run of the same command
  -h, --help                  this text

Reading a PATH needs --allow-read, and only then; --html needs --allow-read
and --allow-write (the page is written beside FILE, then renamed over it).
Bad input is one line on stderr (with --json also {"error": ...} on stdout) and exit status 2; a long
workload shows its progress on a terminal's stderr (not with --json).`;

/**
 * The default comparison: the switch sequence Will Deacon reviewed (v3), the
 * one 6.1 shipped and 7.2's, and the bitmap allocator beside the buddy.
 */
const DEFAULT_VARIANTS = [
  "v3:switch=v3",
  "v6.1:switch=v6.1",
  "v7.2:switch=v7.2",
  "bitmap:allocator=bitmap",
];

async function variants(specs: readonly string[], prof: ProfileName): Promise<Variant[]> {
  const out: Variant[] = [];
  for (const s of specs) {
    try {
      out.push(await resolveVariant(parseVariantSpec(s), prof));
    } catch (e) {
      const bad = badInputFrom(e, "compare.ts");
      const why = bad?.message ??
        (e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message.split("\n")[0]!);
      throw new BadInput(`--variant ${s}: ${why}`, { flag: "--variant", ...bad?.details });
    }
  }
  return out;
}

async function main(argv: readonly string[]): Promise<number> {
  const a = parseFlags(argv, {
    boolean: ["json", "markdown", "help", "no-timing"],
    string: ["workload", "ops", "max-order", "cpus", "va-bits", "profile", "seed", "html"],
    collect: ["variant", "ram"],
    alias: { h: "help" },
  });
  if (a.help) {
    console.log(USAGE);
    return 0;
  }
  noArguments(a._);
  const prof = (a.profile ?? "v7.2") as ProfileName;
  if (!PROFILES.includes(prof)) {
    throw new BadInput(`--profile ${prof}: choose ${PROFILES.join(", ")}`, { flag: "--profile" });
  }
  let ram: RamBank[] | undefined;
  try {
    ram = a.ram.map(parseRamBank);
  } catch (e) {
    throw new BadInput(`--ram: ${(e as Error).message}`, { flag: "--ram" });
  }
  if (a.json && a.markdown) throw new BadInput("--json and --markdown: choose one");
  const kind = a.workload ?? "boot";
  if (a.ops !== undefined && kind === "boot") {
    throw new BadInput("--ops: only the churn and map workloads take it", { flag: "--ops" });
  }
  if (a["max-order"] !== undefined && kind !== "churn") {
    throw new BadInput("--max-order: only the churn workload takes it", { flag: "--max-order" });
  }
  let workload: Workload;
  if (kind === "boot") workload = { kind };
  else if (kind === "churn") {
    const churn: Workload & { kind: "churn" } = {
      kind,
      ops: a.ops !== undefined ? integerFlag("--ops", a.ops, 1, 1e9) : 100_000,
    };
    if (a["max-order"] !== undefined) {
      churn.maxOrder = integerFlag("--max-order", a["max-order"], 0, 10);
    }
    workload = churn;
  } else if (kind === "map") {
    workload = { kind, ops: a.ops !== undefined ? integerFlag("--ops", a.ops, 1, 1e7) : 200 };
  } else {
    throw new BadInput(`--workload ${kind}: choose boot, churn or map`, { flag: "--workload" });
  }
  const scenario: Scenario = { workload };
  if (ram.length) scenario.ram = ram;
  if (a.cpus !== undefined) scenario.cpus = integerFlag("--cpus", a.cpus, 1, 256);
  if (a["va-bits"] !== undefined) {
    scenario.vaBits = integerFlag("--va-bits", a["va-bits"], 39, 48);
    if (scenario.vaBits !== 39 && scenario.vaBits !== 48) {
      throw new BadInput(`--va-bits ${scenario.vaBits}: 4 KiB pages give 39 or 48`, {
        flag: "--va-bits",
      });
    }
  }
  if (a.seed !== undefined) scenario.seed = integerFlag("--seed", a.seed, 0, 2 ** 32 - 1);
  // An --html FILE that cannot be written is refused before any variant is
  // loaded or run.
  if (a.html !== undefined) await checkHtmlFlag(a.html, "compare.ts");
  const vs = await variants(a.variant.length ? a.variant : DEFAULT_VARIANTS, prof);

  // Progress of long workloads on a terminal only: never into --json, a pipe
  // or a file.
  const enc = new TextEncoder();
  const progress = progressLine({
    enabled: !a.json && Deno.stderr.isTerminal(),
    write: (text) => Deno.stderr.writeSync(enc.encode(text)),
  });
  let c;
  try {
    c = compareVariants(scenario, vs, { progress });
  } catch (e) {
    // A variant that cannot run (VariantError), two variants with one label,
    // a machine the scenario cannot build: bad input, not a result.
    if (e instanceof RangeError) throw new BadInput(e.message);
    throw e;
  }
  const render = { timing: !a["no-timing"] };
  if (a.json) console.log(JSON.stringify(comparisonJson(c, render), null, 2));
  else console.log(formatComparison(c, a.markdown ? "markdown" : "text", render));
  if (a.html !== undefined) await writeHtmlFlag(a.html, comparisonHtml(c, render), "compare.ts");
  return 0;
}

if (import.meta.main) Deno.exit(await runCli("compare.ts", Deno.args, main));
