/**
 * One parse for a check and the run that follows it.
 *
 * A boot checks the switch sequence before it starts (bad input is refused
 * before any memory is touched) and then runs the same text on CPU 0:
 * without a cache the text is preprocessed, assembled and decoded twice, a
 * tenth of a cold boot's A64 work. The run passes the release's
 * `NVHE_INIT_*` offsets (`struct kvm_nvhe_init_params`, asm-offsets.c) where
 * the check passes none; a program read with other constants is the same
 * program when none of the constants that differ is named by the text, so
 * the check's parse serves the run then, and only then.
 *
 * @module
 */

import { type A64ParseOptions, parseA64 } from "./parse.ts";
import type { A64Program } from "./program.ts";

/** What {@link ParseCache.parse} reads: the options a check and a run pass. */
export type CachedParseOptions = Pick<A64ParseOptions, "features" | "errata" | "symbols">;

/** `#include` switches the parser to release models (headers in scope): never cached. */
const INCLUDE = /^[ \t]*#[ \t]*include\b/m;

/**
 * The last program parsed, reused when the same text is parsed again with
 * the same features and errata and constants that agree on every name the
 * text uses. Programs are read-only values, so handing the same one out
 * twice is safe.
 */
export class ParseCache {
  #source: string | undefined;
  #features = "";
  #errata = "";
  #symbols: ReadonlyMap<string, bigint> = new Map();
  #program: A64Program | undefined;

  /**
   * The program of `source`, as {@link parseA64} would return it.
   * @param source Assembly text.
   * @param options Features, errata, extra constants.
   * @returns The parsed program (the cached one when it is the same program).
   * @throws {A64SyntaxError} As {@link parseA64} (a failed parse is not cached).
   */
  parse(source: string, options: CachedParseOptions): A64Program {
    const features = (options.features ?? []).join(",");
    const errata = (options.errata ?? []).join(",");
    const symbols = new Map<string, bigint>();
    for (const [k, v] of Object.entries(options.symbols ?? {})) symbols.set(k, BigInt(v));
    const cached = this.#program;
    if (
      cached !== undefined && source === this.#source && features === this.#features &&
      errata === this.#errata && this.#agree(cached, symbols)
    ) return cached;
    const program = parseA64(source, options);
    if (!INCLUDE.test(source)) {
      this.#source = source;
      this.#features = features;
      this.#errata = errata;
      this.#symbols = symbols;
      this.#program = program;
    }
    return program;
  }

  /**
   * Whether every constant that differs between the cached parse's and
   * these is absent from the text and from every instruction the built-in
   * macros expanded (the only places a `#NAME` operand, `.set` or `.ifdef`
   * can name it). A substring test: a name found anywhere counts as used.
   */
  #agree(program: A64Program, symbols: ReadonlyMap<string, bigint>): boolean {
    const differ: string[] = [];
    for (const [k, v] of symbols) if (this.#symbols.get(k) !== v) differ.push(k);
    for (const k of this.#symbols.keys()) if (!symbols.has(k)) differ.push(k);
    for (const name of differ) {
      if (this.#source!.includes(name)) return false;
      for (const ins of program.instructions) if (ins.text.includes(name)) return false;
    }
    return true;
  }
}
