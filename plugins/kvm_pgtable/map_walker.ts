/**
 * The `kvm_pgtable_hyp_map` visitors, v5.13 and mainline
 * (`hyp_map_walker`, `hyp_map_walker_try_leaf`).
 *
 * @module
 */

import { ERRNO, type PgtableMmOps, WALK } from "../../core/mod.ts";
import type { PgtableFacts } from "../releases/mod.ts";
import { KVM_GRANULE_SIZES } from "./geometry.ts";
import { HI_SW_MASK, leafHi, leafLo, LO_VALID } from "./_pte.ts";
import type { FastWalker, PteStore, VisitCtx } from "./walker.ts";

/** What the map visitors need from their table. */
export interface MapEnv {
  /** Where descriptors are written. */
  readonly store: PteStore;
  /** The table's mm_ops (read at each call: the boot swaps them). */
  readonly mmOps: PgtableMmOps;
  /** Records a kernel `WARN`. */
  warn(fn: string, message: string): void;
  /** LPA2 descriptors (output-address bits 51:50 in bits 9:8). */
  readonly lpa2: boolean;
}

/**
 * `kvm_block_mapping_supported`: a leaf fits at this level when the level
 * allows blocks (≥ 1 for 4 KiB), the granule fits before `end`, and both
 * `addr` and `phys` are granule-aligned. (v5.13 skips the phys alignment
 * test for a PA beyond PARange; callers never pass one.)
 */
function blockMappingSupported(addr: number, end: number, phys: number, level: number): boolean {
  if (level < 1) return false;
  const g = KVM_GRANULE_SIZES[level]!;
  if (g > end - addr) return false;
  // Granules at levels 1..3 are ≤ 2^30, so alignment shows in the low 32
  // bits, which `>>> 0` extracts exactly from any safe integer.
  const mask = g - 1;
  if (((phys >>> 0) & mask) !== 0) return false;
  return ((addr >>> 0) & mask) === 0;
}

/**
 * The hyp_map visitor for a version.
 *
 * - v5.13 keeps a running `phys`; an identical entry is left alone; a
 *   *different* valid leaf gets a WARN and is kept (the call still succeeds);
 *   where no leaf fits, `kvm_set_table_pte` WARNs over a valid entry and
 *   replaces it with an empty table anyway. No refcounting.
 * - mainline computes `phys + (addr − start)`; identical is a no-op; an
 *   invalid slot gets `get_page(ptep)`; a difference only in software bits
 *   58:55 is overwritten; any other difference WARNs: -EINVAL at level 3,
 *   a table (with a `get_page(ptep)` although the slot was already counted)
 *   at lower levels.
 *
 * @param env Memory, mm_ops, WARN sink.
 * @param version Kernel version.
 * @param phys First PA (page-aligned).
 * @param attrLo Low attribute half from `hyp_set_prot_attr`.
 * @param attrHi High attribute half.
 * @returns The walker (flags LEAF).
 */
export function hypMapWalker(
  env: MapEnv,
  facts: PgtableFacts,
  phys: number,
  attrLo: number,
  attrHi: number,
): FastWalker {
  // v5.13 keeps a different valid leaf with a WARN and counts nothing; from
  // v5.17 every valid entry holds a reference and only the software bits may
  // change in place.
  return facts.remap === "warn-keep"
    ? new HypMapWalkerV513(env, phys, attrLo, attrHi)
    : new HypMapWalkerMainline(env, phys, attrLo, attrHi);
}

class HypMapWalkerV513 implements FastWalker {
  readonly flags = WALK.LEAF;
  readonly trusted = true;
  #env: MapEnv;
  #phys: number;
  #attrLo: number;
  #attrHi: number;

  constructor(env: MapEnv, phys: number, attrLo: number, attrHi: number) {
    this.#env = env;
    this.#phys = phys;
    this.#attrLo = attrLo;
    this.#attrHi = attrHi;
  }

  cb(ctx: VisitCtx): number {
    if (this.#tryLeaf(ctx)) return 0;
    const env = this.#env;
    if (ctx.level === 3) {
      env.warn("hyp_map_walker", `no leaf fits at level 3 for VA ${hex(ctx.addr)}`);
      return ERRNO.EINVAL;
    }
    const mm = env.mmOps;
    const child = mm.zallocPage();
    if (child === null) return ERRNO.ENOMEM;
    // kvm_set_table_pte(): WARN_ON(kvm_pte_valid(old)), then store anyway.
    if ((ctx.lo & LO_VALID) !== 0) {
      env.warn(
        "kvm_set_table_pte",
        `table replaces the valid level-${ctx.level} entry for VA ${hex(ctx.addr)}`,
      );
    }
    const childPa = mm.virtToPhys(child);
    env.store.write(ctx.ptep, leafLo(childPa, 0, 3, env.lpa2), leafHi(childPa, 0, env.lpa2));
    return 0;
  }

  /** v5.13 `hyp_map_walker_try_leaf`. */
  #tryLeaf(ctx: VisitCtx): boolean {
    const level = ctx.level;
    const phys = this.#phys;
    if (!blockMappingSupported(ctx.addr, ctx.end, phys, level)) return false;
    const lpa2 = this.#env.lpa2;
    const lo = leafLo(phys, this.#attrLo, level, lpa2);
    const hi = leafHi(phys, this.#attrHi, lpa2);
    // "Tolerate KVM recreating the exact same mapping"; a different valid
    // entry WARNs and is kept.
    if (lo !== ctx.lo || hi !== ctx.hi) {
      if ((ctx.lo & LO_VALID) !== 0) {
        this.#env.warn(
          "hyp_map_walker_try_leaf",
          `kept the different valid level-${level} leaf for VA ${hex(ctx.addr)}`,
        );
      } else {
        this.#env.store.write(ctx.ptep, lo, hi);
      }
    }
    this.#phys = phys + KVM_GRANULE_SIZES[level]!;
    return true;
  }
}

class HypMapWalkerMainline implements FastWalker {
  readonly flags = WALK.LEAF;
  readonly trusted = true;
  #env: MapEnv;
  #phys: number;
  #attrLo: number;
  #attrHi: number;

  constructor(env: MapEnv, phys: number, attrLo: number, attrHi: number) {
    this.#env = env;
    this.#phys = phys;
    this.#attrLo = attrLo;
    this.#attrHi = attrHi;
  }

  cb(ctx: VisitCtx): number {
    if (this.#tryLeaf(ctx)) return 0;
    const env = this.#env;
    if (ctx.level === 3) {
      env.warn("hyp_map_walker", `cannot replace the level-3 entry for VA ${hex(ctx.addr)}`);
      return ERRNO.EINVAL;
    }
    const mm = env.mmOps;
    const child = mm.zallocPage();
    if (child === null) return ERRNO.ENOMEM;
    const childPa = mm.virtToPhys(child);
    // get_page(ptep) even when the old entry was a valid leaf (the kernel's
    // refcount then stays one too high for that table page).
    mm.getPage?.(mm.physToVirt(ctx.ptep));
    env.store.write(ctx.ptep, leafLo(childPa, 0, 3, env.lpa2), leafHi(childPa, 0, env.lpa2));
    return 0;
  }

  /** mainline `hyp_map_walker_try_leaf`. */
  #tryLeaf(ctx: VisitCtx): boolean {
    const level = ctx.level;
    const phys = this.#phys + (ctx.addr - ctx.start);
    if (!blockMappingSupported(ctx.addr, ctx.end, phys, level)) return false;
    const lpa2 = this.#env.lpa2;
    const lo = leafLo(phys, this.#attrLo, level, lpa2);
    const hi = leafHi(phys, this.#attrHi, lpa2);
    if (lo === ctx.lo && hi === ctx.hi) return true;
    const env = this.#env;
    if ((ctx.lo & LO_VALID) === 0) {
      const mm = env.mmOps;
      mm.getPage?.(mm.physToVirt(ctx.ptep));
    } else if (lo !== ctx.lo || ((hi ^ ctx.hi) & ~HI_SW_MASK) !== 0) {
      env.warn(
        "hyp_map_walker_try_leaf",
        `the valid level-${level} entry for VA ${hex(ctx.addr)} differs beyond the software bits`,
      );
      return false;
    }
    env.store.write(ctx.ptep, lo, hi);
    return true;
  }
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
