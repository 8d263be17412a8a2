/**
 * Internal helpers shared by the conformance suites: a tiny runner that uses
 * `t.step` when given a test context, and assertion helpers that need no
 * `@std` import (the suites ship in the runtime package).
 *
 * @module
 */

/** The part of `Deno.TestContext` the suites use. */
export interface StepContext {
  /** Runs a named sub-step. */
  step(name: string, fn: () => void | Promise<void>): Promise<boolean>;
}

/** A named check. */
export type ConformanceCase = readonly [name: string, fn: () => void];

/** A failed conformance check. */
export class ConformanceError extends Error {
  /**
   * Creates the error.
   * @param suite Suite name.
   * @param check Check name.
   * @param message What failed.
   */
  constructor(suite: string, check: string, message: string) {
    super(`${suite} conformance, "${check}": ${message}`);
    this.name = "ConformanceError";
  }
}

/**
 * Runs the cases, as `t.step`s when `t` is given.
 * @param suite Suite name.
 * @param t Optional test context.
 * @param cases The checks.
 */
export async function runCases(
  suite: string,
  t: StepContext | undefined,
  cases: readonly ConformanceCase[],
): Promise<void> {
  for (const [name, fn] of cases) {
    const wrapped = () => {
      try {
        fn();
      } catch (e) {
        if (e instanceof ConformanceError) throw e;
        throw new ConformanceError(suite, name, e instanceof Error ? e.message : String(e));
      }
    };
    if (t) {
      const ok = await t.step(name, wrapped);
      if (!ok) throw new ConformanceError(suite, name, "step failed (see above)");
    } else {
      wrapped();
    }
  }
}

/**
 * Throws when `cond` is false.
 * @param cond Condition.
 * @param message What was expected.
 */
export function expect(cond: boolean, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

/**
 * Throws when two values differ (by JSON, with bigints as hex).
 * @param actual Actual value.
 * @param expected Expected value.
 * @param what What is compared.
 */
export function expectEqual(actual: unknown, expected: unknown, what: string): void {
  const a = stable(actual);
  const b = stable(expected);
  if (a !== b) throw new Error(`${what}: expected ${b}, got ${a}`);
}

/**
 * Runs `fn` and checks that it throws.
 * @param fn Code expected to throw.
 * @param what What should have failed.
 * @returns The thrown value.
 */
export function expectThrow(fn: () => unknown, what: string): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error(`${what}: expected an error, none was thrown`);
}

function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x) => typeof x === "bigint" ? `0x${x.toString(16)}n` : x);
}
