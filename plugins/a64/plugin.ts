/**
 * The `a64_executor` plugin: provides {@link A64_EXECUTOR} over the machine's
 * memory, MMU and TLB (both optional: without them addresses are flat).
 *
 * @module
 */

import {
  A64_EXECUTOR,
  type A64Executor,
  type A64RunOptions,
  type A64RunResult,
  type CheckConfig,
  type CheckResult,
  type Cpu,
  MMU,
  type Plugin,
  TLB,
} from "../../core/mod.ts";
import { resolveCheckConfig } from "./config.ts";
import { ParseCache } from "./parse_cache.ts";
import { checkProgram, runProgram, type RunProgramOptions } from "./run.ts";

/** Options of {@link a64Executor}. */
export interface A64ExecutorOptions {
  /**
   * Configuration used when a call passes none.
   * @default {}
   */
  config?: CheckConfig;
}

/**
 * Creates the A64 executor plugin.
 *
 * @param options Default configuration.
 * @returns The plugin (provides `a64_executor`; uses `mmu` and `tlb` when present).
 * @example Run a sequence on CPU 0 of a machine
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { A64_EXECUTOR, createMachine } from "../../core/mod.ts";
 * import { a64Executor } from "./mod.ts";
 * const m = createMachine({ cpus: 1, plugins: [a64Executor()] });
 * const r = m.get(A64_EXECUTOR).run(m.cpu(0), "mov x0, #1\nret x2", {
 *   codeBase: 0x4000_0000, args: { 2: 0x1000n },
 * });
 * assertEquals([r.stopped, r.target, m.cpu(0).x(0)], ["branch-out", 0x1000, 1n]);
 * ```
 */
export function a64Executor(options: A64ExecutorOptions = {}): Plugin {
  return {
    name: "a64_executor",
    provides: [A64_EXECUTOR],
    optional: [MMU, TLB],
    setup(ctx) {
      const m = ctx.machine;
      const mmu = ctx.has(MMU) ? ctx.get(MMU) : undefined;
      const tlb = ctx.has(TLB) ? ctx.get(TLB) : undefined;
      const defaults = options.config ?? {};
      resolveCheckConfig(defaults);
      // A boot checks the switch sequence, then runs it: one parse serves both.
      const parses = new ParseCache();
      const impl: A64Executor = {
        name: "a64_executor",
        check(source: string, config?: CheckConfig): CheckResult {
          // As run.ts check(): the program read with the configuration's features and errata.
          const c = config ?? defaults;
          const cfg = resolveCheckConfig(c);
          return checkProgram(
            parses.parse(source, { features: cfg.features, errata: cfg.errata }),
            c,
          );
        },
        run(cpu: Cpu, source: string, o: A64RunOptions): A64RunResult {
          const config = o.config ?? defaults;
          const cfg = resolveCheckConfig(config);
          const program = parses.parse(
            source,
            o.symbols === undefined
              ? { features: cfg.features, errata: cfg.errata }
              : { features: cfg.features, errata: cfg.errata, symbols: o.symbols },
          );
          const r: RunProgramOptions = {
            cpu,
            codeBase: o.codeBase,
            memory: m.memory,
            trace: o.trace ?? m.trace,
            vectors: m.vectors,
            config,
          };
          if (mmu) r.mmu = mmu;
          if (tlb) r.tlb = tlb;
          if (o.args) r.args = o.args;
          if (o.abi) r.abi = o.abi;
          if (o.maxSteps !== undefined) r.maxSteps = o.maxSteps;
          return runProgram(program, r);
        },
      };
      ctx.provide(A64_EXECUTOR, impl);
    },
  };
}
