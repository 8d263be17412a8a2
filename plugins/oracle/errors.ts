/**
 * The oracle's error type: every expected failure (bad input, a missing tool,
 * a kernel that panics early, a gdb stub that stops answering) is an
 * {@link OracleError} whose message is one line naming the culprit.
 *
 * @module
 */

import { HyplabError } from "../../core/mod.ts";

/**
 * An expected oracle failure, with a one-line message for the user.
 *
 * @example
 * ```ts
 * import { assertInstanceOf } from "@std/assert";
 * import { OracleError } from "./errors.ts";
 * const e = new OracleError("--cpus 9: expected an integer 1..8");
 * assertInstanceOf(e, Error);
 * ```
 */
export class OracleError extends HyplabError {
  /**
   * Creates the value.
   * @param message What went wrong, naming the flag, file, address or packet.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "OracleError";
  }
}
