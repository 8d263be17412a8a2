/**
 * Checks an MMU-off / switch / MMU-on sequence against the barrier rules
 * R1–R16 and prints the listing with each finding under its line (or, with
 * `--json`, `{ verdict, findings }`).
 *
 *   deno run --allow-read examples/check_sequence.ts my_switch.S
 *   deno run examples/check_sequence.ts --builtin v3
 *   deno run examples/check_sequence.ts builtin:mainline --mutate
 *   deno run examples/check_sequence.ts builtin:v5.13 --erratum tx2-219 --json
 *
 * Exit status: 0 when the sequence passes (warnings allowed), 1 when a rule
 * fails, 2 for bad input (unreadable file, parse error, bad flag, an
 * instruction the static run cannot execute, a sequence that does not
 * terminate), printed as `FILE:line: ...`.
 *
 * @module
 */

import {
  A64_ASSUMPTIONS,
  A64_ERRATA,
  A64_FEATURES,
  BUILTIN_VARIANTS,
  check,
  type CheckConfig,
  formatListing,
  formatMutations,
  mutate,
  resolveCheckConfig,
  resolveSwitchSequence,
  type SwitchSequence,
} from "../mod.ts";
import { BadInput, parseFlags, runCli, sequenceInputError } from "./_cli.ts";

const USAGE =
  `Usage: deno run [--allow-read] examples/check_sequence.ts [options] FILE | builtin:NAME

Checks an EL2 "MMU off, switch tables, MMU on" sequence (A64 assembly in the
kernel's spelling) against hyplab's barrier rules R1-R16; each finding names
its rule and what could go wrong.

Arguments:
  FILE                  an assembly file (needs --allow-read)
  builtin:NAME          a built-in variant: ${BUILTIN_VARIANTS.join(", ")}

Options:
  --builtin NAME        same as builtin:NAME
  --feature NAME        CPU feature, repeatable: ${A64_FEATURES.join(", ")}
  --erratum NAME        erratum, repeatable: ${A64_ERRATA.join(", ")}
  --assume NAME=BOOL    state-model assumption, repeatable:
                        ${
    Object.entries(A64_ASSUMPTIONS).map(([k, v]) => `${k} (${v})`).join(
      ",\n                        ",
    )
  }
  --abi params|registers  how x0-x2 are passed (default: params when the text
                        names an NVHE_INIT_* offset, else registers)
  --mutate              also drop each barrier/maintenance instruction and swap
                        neighbours, and report which mutants the checker catches
  --json                print JSON: { verdict, findings } (+ mutation); on bad input
                        { error, line?, column? }
  -h, --help            this text

Exit status: 0 pass or warn, 1 fail, 2 bad input (one line on stderr; with
--json also { error, line?, column? } on stdout).`;

function parseBool(name: string, text: string): boolean {
  if (/^(true|1|yes|on)$/i.test(text)) return true;
  if (/^(false|0|no|off)$/i.test(text)) return false;
  throw new BadInput(`--assume ${name}=${text}: the value must be true or false`, {
    flag: "--assume",
  });
}

async function load(spec: string, abi: CheckConfig["abi"]): Promise<SwitchSequence> {
  try {
    return await resolveSwitchSequence(spec, abi ? { abi } : {});
  } catch (e) {
    if (e instanceof RangeError) throw new BadInput(e.message);
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied || (e as Error)?.name === "NotCapable"
      ? "read permission denied (run with --allow-read)"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new BadInput(`cannot read ${spec}: ${why}`, { file: spec });
  }
}

/**
 * Runs the command.
 * @param argv Command-line arguments.
 * @returns The exit status.
 */
export function main(argv: readonly string[]): Promise<number> {
  return runCli("check_sequence.ts", argv, run);
}

async function run(argv: readonly string[]): Promise<number> {
  const args = parseFlags(argv, {
    boolean: ["json", "mutate", "help"],
    string: ["builtin", "abi"],
    collect: ["feature", "erratum", "assume"],
    alias: { h: "help" },
  });
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const positional = [...args._];
  if (args.builtin !== undefined) positional.unshift(`builtin:${args.builtin}`);
  if (positional.length !== 1) {
    throw new BadInput(
      positional.length === 0
        ? "no sequence given"
        : `one sequence at a time, got ${positional.join(" ")}`,
    );
  }
  const assume: Record<string, boolean> = {};
  for (const a of args.assume) {
    const m = /^([\w-]+)=(.*)$/.exec(a);
    if (!m) throw new BadInput(`--assume ${a}: expected NAME=BOOL`, { flag: "--assume" });
    assume[m[1]!] = parseBool(m[1]!, m[2]!);
  }
  if (args.abi !== undefined && args.abi !== "params" && args.abi !== "registers") {
    throw new BadInput(`--abi ${args.abi}: expected params or registers`, { flag: "--abi" });
  }
  const config: CheckConfig = {
    features: args.feature,
    errata: args.erratum,
    assume,
  };
  try {
    resolveCheckConfig(config);
  } catch (e) {
    throw new BadInput((e as Error).message);
  }
  const seq = await load(positional[0]!, args.abi as CheckConfig["abi"]);
  config.abi = (args.abi as CheckConfig["abi"]) ?? seq.abi;
  // Everything the checker rejects as input (not as a rule failure) is exit
  // 2 with FILE:line, never a stack trace.
  let result;
  let report;
  try {
    result = check(seq.source, config);
    report = args.mutate ? mutate(seq.source, config) : undefined;
  } catch (e) {
    throw sequenceInputError(seq.name, e) ?? e;
  }
  if (args.json) {
    const out: Record<string, unknown> = { verdict: result.verdict, findings: result.findings };
    if (report) out.mutation = { caught: report.caught, mutants: report.mutants };
    console.log(JSON.stringify(out, null, 2));
  } else {
    const color = Deno.stdout.isTerminal();
    console.log(`${seq.name} — ${seq.description} (${config.abi} ABI)\n`);
    console.log(formatListing(seq.source, result, { color }));
    if (report) console.log(`\n${formatMutations(report, { color })}`);
  }
  return result.verdict === "fail" ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
