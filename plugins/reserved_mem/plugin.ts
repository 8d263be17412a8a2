/**
 * The reserved_mem plugin: provides {@link RESERVED_MEM} with the v5.13 or
 * mainline formulas.
 *
 * @module
 */

import { type Plugin, RESERVED_MEM, type ReservedMem, type Trace } from "../../core/mod.ts";
import { kvmHypReserve } from "./kvm_hyp_reserve.ts";
import { dividePoolLayout } from "./layout.ts";
import { type ReservedMemVersion, sizingProfile } from "./sizing.ts";

/** Options of {@link reservedMem} and {@link createReservedMem}. */
export interface ReservedMemOptions {
  /**
   * Whose formulas to follow.
   * @default "v5.13"
   */
  version?: ReservedMemVersion;
  /**
   * Mainline built with `CONFIG_NVHE_EL2_DEBUG` (32 selftest pages).
   * @default false
   */
  nvheEl2Debug?: boolean;
  /** Default trace for `kvmHypReserve` calls that pass none. */
  trace?: Trace;
}

/**
 * A {@link ReservedMem} without a machine (for scripts and tests).
 *
 * @param options Version, debug build, default trace.
 * @returns The variant.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createReservedMem, memblockFromRam } from "./mod.ts";
 * const rm = createReservedMem({ version: "mainline" });
 * const r = rm.kvmHypReserve(memblockFromRam([{ base: 0x4000_0000, size: 2 ** 32 }]));
 * assertEquals([r.pages.total, r.size / 2 ** 20], [7218, 30]);
 * ```
 */
export function createReservedMem(options: ReservedMemOptions = {}): ReservedMem {
  const version = options.version ?? "v5.13";
  const profile = sizingProfile(version, { nvheEl2Debug: options.nvheEl2Debug ?? false });
  const defaultTrace = options.trace;
  return {
    name: reservedMemName(version),
    version: profile.version,
    hypPageBytes: profile.hypPageBytes,
    kvmHypReserve: (memblock, trace) => kvmHypReserve(memblock, profile, trace ?? defaultTrace),
    poolLayout: (regions, pool) => dividePoolLayout(regions, pool, profile),
  };
}

/**
 * The reserved_mem plugin. Log lines go to the machine's trace unless the
 * caller passes another.
 *
 * @param options `version` (`"v5.13"` by default) and `nvheEl2Debug`.
 * @returns The plugin, providing `RESERVED_MEM`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, RESERVED_MEM } from "../../core/mod.ts";
 * import { memblockFromRam, reservedMem } from "./mod.ts";
 * const m = createMachine({ plugins: [reservedMem({ version: "v5.13" })] });
 * const r = m.get(RESERVED_MEM).kvmHypReserve(memblockFromRam(m.memory.banks));
 * assertEquals(r.pages.total, 5199);
 * assertEquals(m.trace.filter("log")[0]!.data.message, "Reserved 22 MiB at 0x13ea00000");
 * ```
 */
export function reservedMem(options: Omit<ReservedMemOptions, "trace"> = {}): Plugin {
  const version = options.version ?? "v5.13";
  sizingProfile(version); // an unknown release fails here, before setup
  return {
    name: reservedMemName(version),
    provides: [RESERVED_MEM],
    setup(ctx) {
      ctx.provide(RESERVED_MEM, createReservedMem({ ...options, trace: ctx.machine.trace }));
    },
  };
}

/** `reserved_mem_v6_1`, `reserved_mem_mainline`, ... */
function reservedMemName(version: string): string {
  return `reserved_mem_${version.replace(/^v/, "v").replaceAll(".", "_")}`;
}
