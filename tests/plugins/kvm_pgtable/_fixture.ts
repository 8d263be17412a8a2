/**
 * Shared setup for the kvm_pgtable tests: a table over the test page pool.
 *
 * @module
 */

import {
  type KvmPgtableVersion,
  type PgtableMmOps,
  type TlbiTtl,
  Trace,
} from "../../../core/mod.ts";
import { type HypPgtable, kvmPgtableFactory } from "../../../plugins/kvm_pgtable/mod.ts";
import { type TestPagePool, testPagePool } from "./_page_pool.ts";

/** A fresh table and its pool. */
export interface Fixture {
  /** The table. */
  pgt: HypPgtable;
  /** The pool its pages come from. */
  pool: TestPagePool;
  /** The trace it records into. */
  trace: Trace;
}

/** Makes a table of `version` over a fresh pool. */
export function fixture(
  version: KvmPgtableVersion,
  options: {
    iaBits?: number;
    pages?: number;
    early?: boolean;
    tlbi?: (op: "vae2is" | "vale2is", va: number, ttl: TlbiTtl) => void;
  } = {},
): Fixture {
  const pool = testPagePool(options.pages === undefined ? {} : { pages: options.pages });
  const trace = new Trace();
  const mmOps: PgtableMmOps = options.early ? pool.earlyMmOps : pool.mmOps;
  const init = {
    iaBits: options.iaBits ?? 48,
    mmOps,
    memory: pool.memory,
    trace,
    name: "test_pgtable",
  };
  const pgt = kvmPgtableFactory({ version }).hypInit(
    options.tlbi === undefined ? init : { ...init, tlbi: options.tlbi },
  );
  if (typeof pgt === "number") throw new Error(`hypInit returned ${pgt}`);
  return { pgt, pool, trace };
}

/** 2 MiB. */
export const M2 = 2 ** 21;
/** 1 GiB. */
export const G1 = 2 ** 30;
/** 4 KiB. */
export const K4 = 4096;
