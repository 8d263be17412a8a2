/**
 * The early_alloc plugin: provides {@link EARLY_ALLOCATOR}.
 *
 * @module
 */

import { EARLY_ALLOCATOR, type EarlyAllocatorFactory, type Plugin } from "../../core/mod.ts";
import { release } from "../releases/mod.ts";
import { type EarlyAllocVersion, earlyContigWrap, hypEarlyAllocInit } from "./early_alloc.ts";

/**
 * An {@link EarlyAllocatorFactory} without a machine.
 *
 * @param options `version`: whose mm_ops to fill (`"v5.13"` by default).
 * @returns The factory; `init` is `hyp_early_alloc_init`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { linearEl2Memory, PhysicalMemory } from "../../core/mod.ts";
 * import { createEarlyAllocator } from "./plugin.ts";
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 24 }]);
 * const ea = createEarlyAllocator({ version: "mainline" }).init({
 *   virt: 0x4000_0000, size: 2 ** 20, memory: linearEl2Memory(mem, (va) => va),
 *   physToVirt: (pa) => pa, virtToPhys: (va) => va,
 * });
 * assertEquals(typeof ea.mmOps.getPage, "function");
 * ```
 */
export function createEarlyAllocator(
  options: { version?: EarlyAllocVersion } = {},
): EarlyAllocatorFactory {
  const version = options.version ?? "v5.13";
  const rel = release(version);
  return {
    name: `early_alloc_${version.replaceAll(".", "_")}`,
    version: rel.name,
    init: (init) => hypEarlyAllocInit(init, version),
    checkContig: earlyContigWrap,
  };
}

/**
 * The early_alloc plugin.
 *
 * @param options `version`: whose mm_ops to fill (`"v5.13"` by default).
 * @returns The plugin, providing `EARLY_ALLOCATOR`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, EARLY_ALLOCATOR, linearEl2Memory } from "../../core/mod.ts";
 * import { earlyAllocator } from "./plugin.ts";
 * const m = createMachine({ plugins: [earlyAllocator()] });
 * const ea = m.get(EARLY_ALLOCATOR).init({
 *   virt: 0x4000_0000, size: 2 ** 20, memory: linearEl2Memory(m.memory, (va) => va),
 *   physToVirt: (pa) => pa, virtToPhys: (va) => va,
 * });
 * assertEquals(ea.contig(2), 0x4000_0000);
 * assertEquals(ea.mmOps.getPage, undefined); // v5.13 leaves get_page NULL
 * ```
 */
export function earlyAllocator(options: { version?: EarlyAllocVersion } = {}): Plugin {
  const factory = createEarlyAllocator(options);
  return {
    name: factory.name,
    provides: [EARLY_ALLOCATOR],
    setup(ctx) {
      ctx.provide(EARLY_ALLOCATOR, factory);
    },
  };
}
