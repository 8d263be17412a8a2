/**
 * What the example CLIs share (`boot.ts`, `compare.ts`, `check_sequence.ts`,
 * and any CLI added beside them): a flag parser that refuses what it cannot
 * read one way only, and one way to answer bad input.
 *
 * The contract of every CLI here:
 * - bad input (a flag, a file, a plugin, a combination) is one line on
 *   stderr, `PROG: what is wrong, naming the culprit`, and exit status 2;
 *   the usage text is printed only for `--help`, on stdout, exit 0;
 * - with `--json`, the same error is also one JSON object on stdout,
 *   `{ "error": "...", ...details }`, where the details name the culprit
 *   (`flag`, `file`, `line`, `column`, `plugin`, `capability`, `member`,
 *   `variant`) when there is one;
 * - a flag that takes one value refuses a second (`--cpus 2 --cpus 4`), an
 *   empty value, and a missing one; the word after such a flag is its value
 *   even when it starts with `-` (`--cpus -1` is an invalid count, as with
 *   getopt), unless it is one of the CLI's own flags (`--ram --json` is a
 *   missing value).
 *
 * It lives beside the examples, not in `mod.ts`: it is the plumbing of these
 * command lines, not part of the simulator's API, and keeping it out of the
 * library keeps that API (and what `deno doc` shows of it) about pKVM.
 *
 * @module
 */

// Each name from the module that defines it, not from mod.ts: every command
// line loads this file, and mod.ts would also load the oracle, the HTML pages
// and the compare machinery that most of them never run.
import {
  A64ConfigError,
  A64ExecutionError,
  A64NonTerminationError,
  A64SyntaxError,
} from "../plugins/a64/errors.ts";
import { CapabilityValueError, PluginDependencyError, PluginError } from "../core/errors.ts";
import { PluginLoadError } from "../core/plugin_loader.ts";
import { VariantError } from "../plugins/compare/variant_error.ts";
import { checkHtmlPath, HtmlPathError, writeHtmlFile } from "../plugins/report_html/write.ts";

/**
 * Bad input: printed as one line (and, with `--json`, one JSON object);
 * exit status 2.
 */
export class BadInput extends Error {
  /** Fields added to the JSON error object: what names the culprit. */
  readonly details: Readonly<Record<string, unknown>>;
  /**
   * Creates the error.
   * @param message What is wrong, naming the flag, file, plugin or member.
   * @param details JSON fields naming the culprit (`flag`, `file`, `line`, ...).
   * @param options Error options (`cause`).
   */
  constructor(
    message: string,
    details: Readonly<Record<string, unknown>> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "BadInput";
    this.details = details;
  }
}

/** The flags a CLI takes, by kind. */
export interface FlagSpec<B extends string, S extends string, C extends string> {
  /** Flags without a value (`--json`). */
  readonly boolean: readonly B[];
  /** Flags with one value, given at most once (`--cpus 4`). */
  readonly string: readonly S[];
  /** Flags with a value that may be given again (`--ram A --ram B`). */
  readonly collect: readonly C[];
  /** One-letter aliases (`{ h: "help" }`). */
  readonly alias?: Readonly<Record<string, B | S | C>>;
}

/** Parsed flags: booleans, single values (undefined when absent), lists, and `_` for the rest. */
export type Flags<B extends string, S extends string, C extends string> =
  & { readonly [K in B]: boolean }
  & { readonly [K in S]: string | undefined }
  & { readonly [K in C]: readonly string[] }
  & { readonly _: readonly string[] };

/**
 * Parses a command line: `--name value`, `--name=value`, `-h`, and `--`
 * before arguments that are not flags.
 *
 * @param argv The arguments.
 * @param spec The flags.
 * @returns The flags, and the other arguments in `_`.
 * @throws {BadInput} An unknown flag, a single-value flag given twice, a
 *   missing or empty value, a value given to a flag that takes none.
 */
export function parseFlags<B extends string, S extends string, C extends string>(
  argv: readonly string[],
  spec: FlagSpec<B, S, C>,
): Flags<B, S, C> {
  const out: Record<string, unknown> = {};
  const kinds = new Map<string, "boolean" | "string" | "collect">();
  for (const b of spec.boolean) {
    kinds.set(b, "boolean");
    out[b] = false;
  }
  for (const s of spec.string) kinds.set(s, "string");
  for (const c of spec.collect) {
    kinds.set(c, "collect");
    out[c] = [];
  }
  const rest: string[] = [];
  const nameOf = (arg: string): string | undefined => {
    if (arg.startsWith("--")) return arg.slice(2).split("=")[0];
    if (/^-[^-\d]$/.test(arg)) return spec.alias?.[arg.slice(1)];
    return undefined;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      rest.push(...argv.slice(i + 1));
      break;
    }
    // A lone "-", a negative number or any other word is an argument.
    if (!arg.startsWith("-") || arg === "-" || /^-\d/.test(arg)) {
      rest.push(arg);
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const shown = eq < 0 ? arg : arg.slice(0, eq);
    const name = nameOf(arg);
    const kind = name === undefined ? undefined : kinds.get(name);
    if (name === undefined || kind === undefined) {
      throw new BadInput(`unknown flag ${shown} (--help lists the flags)`, { flag: shown });
    }
    if (kind === "boolean") {
      if (eq >= 0) {
        throw new BadInput(`${shown} takes no value (got "${arg.slice(eq + 1)}")`, {
          flag: shown,
        });
      }
      out[name] = true;
      continue;
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new BadInput(`${shown} needs a value`, { flag: shown });
      const nextName = nameOf(next);
      if (nextName !== undefined && kinds.has(nextName)) {
        throw new BadInput(`${shown} needs a value (${next} is a flag)`, { flag: shown });
      }
      value = next;
      i++;
    }
    if (value.trim() === "") {
      throw new BadInput(`${shown} "${value}": the value is empty`, { flag: shown });
    }
    if (kind === "string") {
      const before = out[name] as string | undefined;
      if (before !== undefined) {
        throw new BadInput(
          `${shown} given twice ("${before}", then "${value}"): it takes one value`,
          { flag: shown },
        );
      }
      out[name] = value;
    } else (out[name] as string[]).push(value);
  }
  out._ = rest;
  return out as Flags<B, S, C>;
}

/**
 * Reads an integer flag value: decimal or `0x` hex, within `lo..hi`.
 *
 * @param flag The flag, for the message (`--cpus`).
 * @param value Its value.
 * @param lo Lowest allowed.
 * @param hi Highest allowed.
 * @returns The number.
 * @throws {BadInput} Not an integer, or out of range.
 */
export function integerFlag(flag: string, value: string, lo: number, hi: number): number {
  const n = /^(0x[0-9a-f]+|\d+)$/i.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < lo || n > hi) {
    throw new BadInput(`${flag} ${value}: invalid value; expected an integer in ${lo}..${hi}`, {
      flag,
    });
  }
  return n;
}

/**
 * Refuses arguments that are not flags, for a CLI that takes none.
 *
 * @param rest The `_` of {@link parseFlags}.
 * @throws {BadInput} Naming the first one.
 */
export function noArguments(rest: readonly string[]): void {
  if (rest.length > 0) {
    throw new BadInput(`unexpected argument "${rest[0]}" (this command takes flags only)`);
  }
}

/** Whether the error is Deno refusing a read for want of `--allow-read`. */
function isReadDenied(e: unknown): boolean {
  const err = e as Error | undefined;
  return err?.name === "NotCapable" || err?.name === "PermissionDenied" ||
    /--allow-read|read access/.test(err?.message ?? "");
}

/**
 * Bad input from an error a library call raised on the user's behalf (a
 * plugin, a module path, an assembly text, a combination of choices), with
 * the culprit in the details; undefined for anything else (a bug).
 *
 * @param e The error.
 * @param prog The CLI's script, for the `--allow-read` hint (`boot.ts`).
 * @returns The bad input, or undefined.
 */
export function badInputFrom(e: unknown, prog: string): BadInput | undefined {
  if (e instanceof BadInput) return e;
  if (e instanceof VariantError) {
    const inner = e.sequence === undefined
      ? badInputFrom(e.cause, prog)
      : sequenceInputError(e.sequence, e.cause);
    const message = inner === undefined
      ? e.message
      : `variant "${e.variant}": ${
        e.sequence === undefined ? "" : "switch sequence "
      }${inner.message}`;
    return new BadInput(message, { variant: e.variant, ...inner?.details }, { cause: e });
  }
  if (e instanceof CapabilityValueError) {
    return new BadInput(e.message, {
      plugin: e.plugin,
      ...(e.source === undefined ? {} : { file: e.source }),
      capability: e.capability,
      ...(e.member === undefined ? {} : { member: e.member }),
    }, { cause: e });
  }
  if (e instanceof PluginError) {
    return new BadInput(e.message, {
      plugin: e.plugin,
      hook: e.hook,
      ...(e.source === undefined ? {} : { file: e.source }),
    }, { cause: e });
  }
  if (e instanceof PluginDependencyError) {
    return new BadInput(e.message, { plugins: e.plugins, capabilities: e.capabilities }, {
      cause: e,
    });
  }
  if (e instanceof PluginLoadError) {
    const message = isReadDenied(e.cause)
      ? `reading ${e.file} needs --allow-read: deno run --allow-read examples/${prog} ...`
      : e.message;
    return new BadInput(message, { file: e.file }, { cause: e });
  }
  if (isReadDenied(e)) {
    return new BadInput(`a file needs --allow-read: deno run --allow-read examples/${prog} ...`);
  }
  return undefined;
}

/**
 * Bad input from an error of the A64 checker on a sequence: `FILE:line:col:
 * ...` for a parse error, `FILE:line: ...` for an instruction the static run
 * cannot execute or a sequence that never ends.
 *
 * @param name The sequence's name (its file, or `builtin:NAME`).
 * @param e The error `check` threw.
 * @returns The bad input, or undefined for another error.
 */
export function sequenceInputError(name: string, e: unknown): BadInput | undefined {
  if (e instanceof A64SyntaxError) {
    return new BadInput(`${name}:${e.message}`, { file: name, line: e.line, column: e.column });
  }
  if (e instanceof A64ExecutionError) {
    return new BadInput(`${name}:${e.line}: cannot execute "${e.text}": ${e.reason}`, {
      file: name,
      line: e.line,
    });
  }
  if (e instanceof A64NonTerminationError) {
    return new BadInput(`${name}:${e.line}: ${e.reason}`, { file: name, line: e.line });
  }
  if (e instanceof A64ConfigError) return new BadInput(e.message);
  return undefined;
}

/**
 * Whether the command line asks for JSON: `--json` before any `--`. Read
 * from the raw arguments, so that bad input found while parsing them is
 * answered in JSON too.
 *
 * @param argv The arguments.
 * @returns True when `--json` is there.
 */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).includes("--json");
}

/** Bad input from a page that cannot be written where `--html` says. */
function htmlInput(e: unknown, path: string, prog: string): unknown {
  if (!(e instanceof HtmlPathError)) return e;
  const message = e.permission
    ? `--html ${path}: writing the page needs --allow-read and --allow-write: deno run --allow-read --allow-write examples/${prog} ...`
    : `--html ${e.message}`;
  return new BadInput(message, { flag: "--html", file: path }, { cause: e });
}

/**
 * Checks an `--html FILE` before any work starts: the file can be written
 * (its directory exists and takes a new file; it is not a directory).
 * Nothing is created or changed.
 *
 * @param path The flag's value.
 * @param prog The CLI's script, for the `--allow-write` hint (`boot.ts`).
 * @throws {BadInput} Naming `--html` and the path.
 */
export async function checkHtmlFlag(path: string, prog: string): Promise<void> {
  try {
    await checkHtmlPath(path);
  } catch (e) {
    throw htmlInput(e, path, prog);
  }
}

/**
 * Writes the page of `--html FILE` whole (a temporary file renamed over
 * FILE), so a failure leaves no partial file.
 *
 * @param path The flag's value.
 * @param html The page.
 * @param prog The CLI's script.
 * @returns Bytes written.
 * @throws {BadInput} When it cannot be written.
 */
export async function writeHtmlFlag(path: string, html: string, prog: string): Promise<number> {
  try {
    return await writeHtmlFile(path, html);
  } catch (e) {
    throw htmlInput(e, path, prog);
  }
}

/** Where {@link runCli} writes (the console by default; tests pass their own). */
export interface CliOutput {
  /** Writes one line to stdout. */
  out(line: string): void;
  /** Writes one line to stderr. */
  err(line: string): void;
}

const CONSOLE: CliOutput = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/**
 * Runs a CLI's main function and answers bad input the one way: one line on
 * stderr (`PROG: message`), the JSON error object on stdout with `--json`,
 * and exit status 2. Any other error is a bug and propagates.
 *
 * @param prog The CLI's script name (`boot.ts`).
 * @param argv The arguments.
 * @param main The CLI; returns its exit status.
 * @param output Where to write.
 * @returns The exit status.
 */
export async function runCli(
  prog: string,
  argv: readonly string[],
  main: (argv: readonly string[]) => number | Promise<number>,
  output: CliOutput = CONSOLE,
): Promise<number> {
  try {
    return await main(argv);
  } catch (e) {
    const bad = badInputFrom(e, prog);
    if (bad === undefined) throw e;
    // One line: a message that carries a newline (a module's import error)
    // keeps its first.
    const line = bad.message.split("\n")[0]!;
    output.err(`${prog.replace(/\.ts$/, "")}: ${line}`);
    if (wantsJson(argv)) output.out(JSON.stringify({ error: line, ...bad.details }, null, 2));
    return 2;
  }
}

/** Options of {@link progressLine}. */
export interface ProgressOptions {
  /** Whether to show anything: a terminal on stderr and no `--json`. */
  readonly enabled: boolean;
  /** Writes raw text to the terminal. */
  readonly write: (text: string) => void;
  /** Milliseconds now (`performance.now`). */
  readonly now?: () => number;
  /** Quiet for this long, so short runs print nothing. @default 500 */
  readonly delayMs?: number;
  /** At most one redraw per this many milliseconds. @default 100 */
  readonly everyMs?: number;
}

/**
 * A progress line for long workloads, redrawn in place (`\r`) and erased at
 * the end; silent when not enabled and during the first `delayMs`.
 *
 * @param options Where to write and when.
 * @returns The callback `(label, done, total)`.
 */
export function progressLine(
  options: ProgressOptions,
): (label: string, done: number, total: number) => void {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const delay = options.delayMs ?? 500;
  const every = options.everyMs ?? 100;
  let last = -Infinity;
  let shown = false;
  return (label, done, total) => {
    if (!options.enabled) return;
    const t = now();
    if (done >= total) {
      if (shown) options.write("\r\x1b[K");
      shown = false;
      return;
    }
    if (t - started < delay || t - last < every) return;
    last = t;
    shown = true;
    const pct = Math.floor((done / total) * 100);
    options.write(
      `\r\x1b[K${label}: ${pct}% (${done.toLocaleString("en")} of ${
        total.toLocaleString("en")
      } operations)`,
    );
  };
}
