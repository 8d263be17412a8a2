/**
 * The `kvm_pgtable_hyp_unmap` visitor (mainline, from v5.17:
 * `hyp_unmap_walker`) and the `kvm_pgtable_hyp_destroy` visitors
 * (`hyp_free_walker`, v5.13 and mainline).
 *
 * @module
 */

import { ERRNO, type PgtableMmOps, type TlbiTtl, WALK } from "../../core/mod.ts";
import { granuleAt } from "./geometry.ts";
import { isTable, LO_VALID, pteToPhys } from "./_pte.ts";
import type { PgtableFacts } from "../releases/mod.ts";
import type { FastWalker, PteStore, VisitCtx } from "./walker.ts";

/** What the unmap and free visitors need from their table. */
export interface UnmapEnv {
  /** Where descriptors are written. */
  readonly store: PteStore;
  /** The table's mm_ops. */
  readonly mmOps: PgtableMmOps;
  /** TLB maintenance hook (`__tlbi_level`), if a TLB model listens. */
  tlbi?(op: "vae2is" | "vale2is", va: number, ttl: TlbiTtl): void;
  /** LPA2 descriptors (a table's address has bits 51:50 in bits 9:8). */
  readonly lpa2?: boolean;
}

/** The unmap visitor; `unmapped` counts the bytes of leaves cleared. */
export interface HypUnmapWalker extends FastWalker {
  /** Bytes unmapped so far (`unmap_data.unmapped`). */
  readonly unmapped: number;
}

/**
 * mainline `hyp_unmap_walker` (flags LEAF | TABLE_POST):
 * - an invalid entry stops the walk with -EINVAL;
 * - a table whose child page count is not 1 (still has entries) is kept;
 *   an empty one is cleared, `tlbi vae2is` with no level hint, and both the
 *   slot and the child page are put (the child is freed);
 * - a leaf with less than its granule left before `end` (`end - addr <
 *   granule`) stops the walk with -EINVAL (blocks are not split); any other
 *   is cleared, `tlbi vale2is`, its slot put. Only the room before `end` is
 *   checked, as in the kernel: a walk that starts inside a block with at
 *   least a granule left clears the whole block, bytes before `addr` too.
 * The `dsb ishst` / `dsb ish; isb` around the TLBI are not modelled here.
 *
 * @param env Memory, mm_ops (needs `pageCount`), TLBI hook.
 * @returns The walker.
 */
export function hypUnmapWalker(env: UnmapEnv): HypUnmapWalker {
  return new UnmapWalker(env);
}

class UnmapWalker implements HypUnmapWalker {
  readonly flags = WALK.LEAF | WALK.TABLE_POST;
  readonly trusted = true;
  unmapped = 0;
  #env: UnmapEnv;

  constructor(env: UnmapEnv) {
    this.#env = env;
  }

  cb(ctx: VisitCtx): number {
    const env = this.#env;
    const mm = env.mmOps;
    if ((ctx.lo & LO_VALID) === 0) return ERRNO.EINVAL;
    let childVa: number | undefined;
    if (isTable(ctx.lo, ctx.level)) {
      childVa = mm.physToVirt(pteToPhys(ctx.lo, ctx.hi, env.lpa2));
      if (mm.pageCount!(childVa) !== 1) return 0;
      env.store.write(ctx.ptep, 0, 0);
      // No level hint for a table: hints name leaf levels only, and a wrong
      // one may leave the walk-cache entries in place. Mainline passes
      // TLBI_TTL_UNKNOWN (read in Kingxukai/linux v6.17-rc3; changed by
      // 36e008323926, March 2024, release UNVERIFIED). 82bb02445de5 (v5.17)
      // passed the table's own level; the 6.6.y backport passes 0, which
      // meant "no hint" in that kernel's __tlbi_level but is a level-0 hint
      // in mainline's.
      env.tlbi?.("vae2is", ctx.addr, "unknown");
    } else {
      const g = granuleAt(ctx.level);
      if (ctx.end - ctx.addr < g) return ERRNO.EINVAL;
      env.store.write(ctx.ptep, 0, 0);
      // A leaf is at level 1, 2 or 3: the hint names its own level.
      env.tlbi?.("vale2is", ctx.addr, ctx.level as 1 | 2 | 3);
      this.unmapped += g;
    }
    mm.putPage?.(mm.physToVirt(ctx.ptep));
    if (childVa !== undefined) mm.putPage?.(childVa);
    return 0;
  }
}

/**
 * `hyp_free_walker` for `kvm_pgtable_hyp_destroy`:
 * - mainline (LEAF | TABLE_POST): every valid entry puts its slot; a table
 *   entry also puts its child page;
 * - v5.13 (TABLE_POST only): each table entry puts its child page.
 *
 * @param env mm_ops (needs `putPage`).
 * @param facts The release's kvm_pgtable facts (refcounted tables or not).
 * @returns The walker.
 */
export function hypFreeWalker(env: UnmapEnv, facts: PgtableFacts): FastWalker {
  const mm = env.mmOps;
  if (!facts.refcounted) {
    return {
      flags: WALK.TABLE_POST,
      trusted: true,
      cb(ctx: VisitCtx): number {
        mm.putPage!(mm.physToVirt(pteToPhys(ctx.lo, ctx.hi, env.lpa2)));
        return 0;
      },
    };
  }
  const memory = env.store.memory;
  return {
    flags: WALK.LEAF | WALK.TABLE_POST,
    trusted: true,
    cb(ctx: VisitCtx): number {
      if ((ctx.lo & LO_VALID) === 0) return 0;
      mm.putPage!(mm.physToVirt(ctx.ptep));
      if (isTable(ctx.lo, ctx.level)) {
        mm.putPage!(mm.physToVirt(pteToPhys(ctx.lo, ctx.hi, env.lpa2)));
      }
      return 0;
    },
    // A page's run of non-table entries in one loop: a put per valid one,
    // as cb makes them. Should a put free or re-back a page (the table
    // page itself, were its count off), the words read may be stale: the
    // run stops after that entry and the walk re-reads.
    leafRun(ctx: VisitCtx, idx: number, words: Uint32Array | undefined): number {
      const level = ctx.level;
      const g = granuleAt(level);
      const va0 = Math.floor(ctx.addr / g) * g;
      let max = Math.ceil((ctx.end - va0) / g);
      if (max > 512 - idx) max = 512 - idx;
      if (words === undefined) return max;
      const gen = memory.backingGeneration;
      const ptepVa = mm.physToVirt(ctx.ptep);
      let n = 0;
      while (n < max) {
        const lo = words[2 * (idx + n)]!;
        if (level < 3 && (lo & 3) === 3) break;
        n++;
        if ((lo & LO_VALID) === 0) continue;
        mm.putPage!(ptepVa + 8 * (n - 1));
        if (memory.backingGeneration !== gen) break;
      }
      return n;
    },
  };
}
