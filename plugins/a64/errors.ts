/**
 * Errors of the A64 parser, the checker configuration and the executor.
 *
 * @module
 */

import { HyplabError } from "../../core/mod.ts";

/**
 * The text with control characters written as `\xNN` escapes, so a message
 * quoting binary input cannot drive the terminal.
 * @param text Any text.
 * @returns Printable text.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { printable } from "./mod.ts";
 * assertEquals(printable("a\x1b[2Jb"), "a\\x1b[2Jb");
 * ```
 */
export function printable(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x08\x0a-\x1f\x7f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/**
 * A line the parser cannot accept: an unknown mnemonic, operand, macro,
 * constant or directive. The message starts with `line:column`, quotes the
 * text and says what is supported; nothing is ever skipped silently.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { A64SyntaxError, parseA64 } from "./mod.ts";
 * const e = assertThrows(() => parseA64("isb\n  udiv x0, x1, x2"), A64SyntaxError);
 * assertEquals([e.line, e.column], [2, 3]);
 * ```
 */
export class A64SyntaxError extends SyntaxError {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** The offending text. */
  readonly text: string;
  /** What is wrong with the text. */
  readonly problem: string;
  /** What is accepted at that place. */
  readonly supported: string;
  /**
   * Creates the error.
   * @param line 1-based line.
   * @param column 1-based column.
   * @param text The offending text.
   * @param problem What is wrong with it.
   * @param supported What is accepted instead.
   */
  constructor(line: number, column: number, text: string, problem: string, supported: string) {
    super(
      `${line}:${column}: ${problem}${
        text === "" ? "" : ` in "${printable(text)}"`
      }; supported: ${supported}`,
    );
    this.name = "A64SyntaxError";
    this.line = line;
    this.column = column;
    this.text = text;
    this.problem = problem;
    this.supported = supported;
  }
}

/**
 * A bad checker configuration: an unknown feature, erratum or assumption.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { A64ConfigError, resolveCheckConfig } from "./mod.ts";
 * assertThrows(() => resolveCheckConfig({ features: ["lpa2"] }), A64ConfigError, "lpa2");
 * ```
 */
export class A64ConfigError extends HyplabError {
  /**
   * Creates the error.
   * @param message Names the value and what is accepted.
   */
  constructor(message: string) {
    super(message);
    this.name = "A64ConfigError";
  }
}

/**
 * An instruction the simulated CPU cannot execute as written (for example an
 * `msr` of a value with RES1 bits clear, or `eret` with an illegal SPSR).
 *
 * @example
 * ```ts
 * import { A64ExecutionError } from "./mod.ts";
 * const e = new A64ExecutionError(3, "msr sctlr_el2, x0", "RES1 bits clear");
 * if (!e.message.startsWith("line 3:")) throw new Error("unreachable");
 * ```
 */
export class A64ExecutionError extends HyplabError {
  /** 1-based source line. */
  readonly line: number;
  /** The instruction text. */
  readonly text: string;
  /** Why it cannot execute. */
  readonly reason: string;
  /**
   * Creates the error.
   * @param line Source line.
   * @param text Instruction text.
   * @param reason Why it cannot execute.
   */
  constructor(line: number, text: string, reason: string) {
    super(`line ${line}: cannot execute "${text}": ${reason}`);
    this.name = "A64ExecutionError";
    this.line = line;
    this.text = text;
    this.reason = reason;
  }
}

/**
 * A sequence the static check cannot judge because it does not terminate:
 * its paths together run past the step limit, or every path loops back to a
 * state already explored and none leaves. The checks made where a sequence
 * is left would have no place to run, so this is bad input, not a verdict.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { A64NonTerminationError, check } from "./mod.ts";
 * assertThrows(() => check("nop\n1: b 1b"), A64NonTerminationError, "does not terminate");
 * ```
 */
export class A64NonTerminationError extends HyplabError {
  /** 1-based line the run was at when it gave up. */
  readonly line: number;
  /** Instructions run, all paths together. */
  readonly steps: number;
  /** What happened, starting "does not terminate". */
  readonly reason: string;
  /**
   * Creates the error.
   * @param line Source line.
   * @param steps Instructions run.
   * @param reason What happened, starting "does not terminate".
   */
  constructor(line: number, steps: number, reason: string) {
    super(`line ${line}: the sequence ${reason}`);
    this.name = "A64NonTerminationError";
    this.line = line;
    this.steps = steps;
    this.reason = reason;
  }
}
