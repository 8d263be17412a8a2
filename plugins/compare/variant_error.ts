/**
 * The error of a variant set that cannot run, on its own so a command line
 * can recognise it without loading the compare machinery (a plain boot
 * runs none of it).
 *
 * @module
 */

import { HyplabError } from "../../core/errors.ts";

/**
 * A variant set that cannot run at all: its plugins do not form a machine
 * (a plugin failing in setup, providing a value that does not fit its
 * capability, a missing or doubled provider, releases that cannot be mixed),
 * or its switch sequence is not a sequence the A64 checker can read. Bad
 * input, unlike a boot that fails, which is a result. The original error is
 * the `cause`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { VariantError } from "./variant_error.ts";
 * const e = new VariantError("mine", new Error("no such allocator"));
 * assertEquals([e.variant, e.message], ["mine", 'variant "mine": no such allocator']);
 * ```
 */
export class VariantError extends HyplabError {
  /** The variant's label. */
  readonly variant: string;
  /** The switch sequence's name, when the sequence is what could not be read. */
  readonly sequence: string | undefined;
  /**
   * Creates the error.
   * @param variant The variant's label.
   * @param cause What went wrong.
   * @param sequence The switch sequence's name, when it is the culprit.
   */
  constructor(variant: string, cause: unknown, sequence?: string) {
    const why = cause instanceof Error ? cause.message : String(cause);
    // An A64SyntaxError's message starts "line:column:": FILE:line:column.
    const what = sequence === undefined
      ? why
      : `switch sequence ${sequence}${cause instanceof SyntaxError ? ":" : ": "}${why}`;
    super(`variant "${variant}": ${what}`, { cause });
    this.name = "VariantError";
    this.variant = variant;
    this.sequence = sequence;
  }
}
