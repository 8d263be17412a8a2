/**
 * The `tlb()` plugin: provides {@link TLB} with the adversarial or the
 * optimistic policy.
 *
 * @module
 */

import { type Plugin, TLB } from "../../core/mod.ts";
import { TlbModel, type TlbPolicy } from "./tlb_model.ts";

/** Options of {@link tlb}. */
export interface TlbOptions {
  /**
   * `adversarial`: what the architecture allows — entries stay until a TLBI
   * removes them, speculative fills happen while the MMU may be on, and a
   * walk cache keeps table descriptors that leaf-only TLBIs (`vale2*`) leave.
   * `optimistic`: QEMU-like — flush on an SCTLR_EL2 change or a TTBR0_EL2 or
   * TCR_EL2 write, no speculation.
   * @default "adversarial"
   */
  policy?: TlbPolicy;
}

/**
 * The EL2 TLB plugin.
 *
 * @param options Policy.
 * @returns The plugin, providing {@link TLB}.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, TLB } from "../../core/mod.ts";
 * import { tlb } from "./tlb.ts";
 * const m = createMachine({ cpus: 2, plugins: [tlb({ policy: "optimistic" })] });
 * assertEquals(m.get(TLB).policy, "optimistic");
 * assertEquals(m.get(TLB).invalidate(m.cpu(0), "alle2is"), 0);
 * ```
 */
export function tlb(options: TlbOptions = {}): Plugin {
  const policy = options.policy ?? "adversarial";
  if (policy !== "adversarial" && policy !== "optimistic") {
    throw new TypeError(
      `Cannot create the tlb plugin with policy "${
        String(policy)
      }": use "adversarial" or "optimistic"`,
    );
  }
  return {
    name: "tlb",
    provides: [TLB],
    setup(ctx) {
      ctx.provide(TLB, new TlbModel(policy, ctx.machine.trace));
    },
  };
}
