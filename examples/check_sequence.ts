/**
 * Checks code that turns the EL2 MMU off, switches TTBR0_EL2 and turns the
 * MMU on — a sequence, or a whole kernel file such as hyp-init.S, routine by
 * routine — against the rules R1–R18 (the documentation of
 * plugins/a64/rules.ts) and prints the listing with each finding under its
 * line (or, with `--json`, `{ verdict, findings, routines }`).
 *
 *   deno run --allow-read examples/check_sequence.ts examples/sequences/switch_fixed.S
 *   deno run --allow-read examples/check_sequence.ts --release v6.1 hyp-init.S
 *   deno run --allow-read examples/check_sequence.ts --kernel-src /usr/src/linux-source-6.12
 *   deno run examples/check_sequence.ts --builtin v3
 *   deno run examples/check_sequence.ts builtin:mainline --mutate
 *   deno run examples/check_sequence.ts builtin:v5.13 --erratum tx2-219 --json
 *
 * Exit status: 0 when the code passes (warnings allowed), 1 when a rule
 * fails, 2 for bad input (unreadable file, empty file, parse error, a macro
 * or header the checker does not model, a conditional it cannot decide, bad
 * flag, an instruction the static run cannot execute, a routine that does
 * not terminate), printed as `FILE:line: ...`.
 *
 * @module
 */

import {
  A64_ASSUMPTIONS,
  A64_ERRATA,
  A64_FEATURES,
  type A64ParseOptions,
  BUILTIN_VARIANTS,
  check,
  type CheckConfig,
  DEFAULT_RELEASE,
  formatListing,
  formatMutations,
  formatRoutines,
  KERNEL_RELEASES,
  kernelRelease,
  kernelTreeResolver,
  mutate,
  openKernelTree,
  resolveCheckConfig,
  resolveSwitchSequence,
  type SwitchSequence,
} from "../mod.ts";
import { BadInput, parseFlags, runCli, sequenceInputError } from "./_cli.ts";

const USAGE =
  `Usage: deno run [--allow-read] examples/check_sequence.ts [options] FILE | builtin:NAME

Checks EL2 code that turns the MMU off, switches tables and turns it on (A64
assembly in the kernel's spelling: a sequence, or a whole file such as
arch/arm64/kvm/hyp/nvhe/hyp-init.S, checked routine by routine from the
state the kernel enters each in) against the rules R1-R18 (their statements,
reasons and examples: \`deno doc plugins/a64/rules.ts\`).

Arguments:
  FILE                  an assembly file (needs --allow-read)
  builtin:NAME          a built-in variant: ${BUILTIN_VARIANTS.join(", ")}

Options:
  --builtin NAME        same as builtin:NAME
  --release NAME        the kernel release whose header models read the text:
                        ${KERNEL_RELEASES.join(", ")} (default: none for a text without
                        #include, ${DEFAULT_RELEASE} for one with, the tree's with --kernel-src)
  --kernel-src DIR      read #include'd headers from an extracted kernel tree
                        instead of the models (needs --allow-read for DIR); without
                        FILE, checks DIR/arch/arm64/kvm/hyp/nvhe/hyp-init.S
  --config NAME=VALUE   a CONFIG_* value over the release's (y, n, or a value),
                        repeatable
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
  --json                print JSON: { verdict, findings, routines, release? }
                        (+ mutation); on bad input { error, line?, column? }
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
    string: ["builtin", "abi", "release", "kernel-src"],
    collect: ["feature", "erratum", "assume", "config"],
    alias: { h: "help" },
  });
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const positional = [...args._];
  if (args.builtin !== undefined) positional.unshift(`builtin:${args.builtin}`);
  const parse: Omit<A64ParseOptions, "features" | "errata"> = {};
  const kernelSrc = args["kernel-src"];
  if (kernelSrc !== undefined) {
    let tree;
    try {
      tree = openKernelTree(kernelSrc);
    } catch (e) {
      const why = (e as Error)?.name === "NotCapable" ||
          e instanceof Deno.errors.PermissionDenied
        ? "read permission denied (run with --allow-read)"
        : (e as Error).message;
      throw new BadInput(`--kernel-src ${kernelSrc}: ${why}`, { flag: "--kernel-src" });
    }
    parse.include = kernelTreeResolver(tree);
    parse.release = tree.release;
    if (positional.length === 0) {
      positional.push(`${tree.dir}/arch/arm64/kvm/hyp/nvhe/hyp-init.S`);
    }
  }
  if (args.release !== undefined) {
    try {
      parse.release = kernelRelease(args.release).name;
    } catch (e) {
      throw new BadInput(`--release ${args.release}: ${(e as Error).message}`, {
        flag: "--release",
      });
    }
  }
  const configs: Record<string, string> = {};
  for (const c of args.config) {
    const m = /^(CONFIG_\w+)=(.+)$/.exec(c);
    if (!m) {
      throw new BadInput(`--config ${c}: expected CONFIG_NAME=VALUE (y, n, m or a number)`, {
        flag: "--config",
      });
    }
    configs[m[1]!] = m[2]!;
  }
  if (Object.keys(configs).length > 0) parse.config = configs;
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
  parse.file = seq.name;
  // Everything the checker rejects as input (not as a rule failure) is exit
  // 2 with FILE:line, never a stack trace.
  let result;
  let report;
  try {
    result = check(seq.source, config, parse);
    report = args.mutate ? mutate(seq.source, config, parse) : undefined;
  } catch (e) {
    throw sequenceInputError(seq.name, e) ?? e;
  }
  if (args.json) {
    const out: Record<string, unknown> = {
      verdict: result.verdict,
      findings: result.findings,
      routines: result.routines,
    };
    if (result.release !== undefined) out.release = result.release;
    if (report) out.mutation = { caught: report.caught, mutants: report.mutants };
    console.log(JSON.stringify(out, null, 2));
  } else {
    const color = Deno.stdout.isTerminal();
    const models = result.release === undefined
      ? ""
      : parse.include !== undefined
      ? `, headers from ${kernelSrc} (${result.release} configuration)`
      : `, headers read as the ${result.release} models`;
    // With a release, the routines the kernel enters have its entry states
    // (and their ABIs); the ABI option covers the others.
    const abi = result.release === undefined
      ? `${config.abi} ABI`
      : `${result.release}'s entry states, ${config.abi} ABI for other routines`;
    console.log(`${seq.name} — ${seq.description} (${abi}${models})\n`);
    const named = result.routines.length > 1 || result.routines[0]?.name !== "(text)";
    if (named) console.log(`${formatRoutines(result, { color })}\n`);
    console.log(formatListing(seq.source, result, { color }));
    if (report) console.log(`\n${formatMutations(report, { color })}`);
  }
  return result.verdict === "fail" ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
