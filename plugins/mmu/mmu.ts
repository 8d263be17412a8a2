/**
 * The `mmu()` plugin: provides {@link MMU} over the {@link TLB} capability.
 *
 * @module
 */

import { MMU, type Plugin, TLB } from "../../core/mod.ts";
import { Stage1Mmu } from "./stage1_mmu.ts";

/** Options of {@link mmu} (none yet; the 4 KiB-granule EL2 regime is the only variant). */
export type MmuOptions = Record<string, never>;

/**
 * The EL2 stage-1 MMU plugin (4 KiB granule). Requires a {@link TLB}
 * provider, such as `tlb()`.
 *
 * @param _options Reserved.
 * @returns The plugin, providing {@link MMU}.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, MMU } from "../../core/mod.ts";
 * import { tlb } from "../tlb/mod.ts";
 * import { mmu } from "./mmu.ts";
 * const m = createMachine({ cpus: 1, plugins: [mmu(), tlb()] });
 * const t = m.get(MMU).translate(m.cpu(0), 0x4000_0000, "read"); // MMU off: flat
 * assertEquals(t.kind === "ok" && [t.pa, t.memType, t.mmuOff], [0x4000_0000, "device", true]);
 * ```
 */
export function mmu(_options: MmuOptions = {}): Plugin {
  return {
    name: "mmu",
    provides: [MMU],
    requires: [TLB],
    setup(ctx) {
      ctx.provide(MMU, new Stage1Mmu(ctx.machine.memory, ctx.get(TLB), ctx.machine.trace));
    },
  };
}
