/**
 * Test fixtures: a RAM bank, a linear hyp VA map with a non-zero upper half
 * (so list pointers exercise both 32-bit halves), a vmemmap at the start of
 * RAM and pools placed after it.
 */
import {
  type El2Memory,
  linearEl2Memory,
  PAGE_SIZE,
  PhysicalMemory,
  Trace,
} from "../../../core/mod.ts";
import {
  buddyPageAllocator,
  type BuddyPool,
  type BuddyVersion,
  hypPageLayout,
} from "../../../plugins/buddy_allocator/mod.ts";

/** hyp VA = PA + HYP_OFF (bit 47 set, as a 48-bit hyp linear map would). */
export const HYP_OFF = 2 ** 47;
export const RAM_BASE = 0x4000_0000;
/** Vmemmap entries of the pool's pages start at this PA. */
export const VMEMMAP_PA = 0x4000_0000;
/** struct hyp_pool lives here when placed on the machine. */
export const POOL_STRUCT_PA = 0x4030_0000;

export const toVa = (pa: number): number => pa + HYP_OFF;
export const toPa = (va: number): number => va - HYP_OFF;

export interface Fixture {
  mem: PhysicalMemory;
  el2: El2Memory;
  pool: BuddyPool;
  /** VA of vmemmap[0]. */
  vmemmap: number;
  trace: Trace;
}

export interface FixtureOptions {
  pfn?: number;
  nrPages: number;
  reserved?: number;
  onMachine?: boolean;
  memory?: PhysicalMemory;
  el2?: El2Memory;
  trace?: Trace;
}

/** A fresh pool (hyp_pool_init) over fresh memory unless one is given. */
export function makePool(version: BuddyVersion, o: FixtureOptions): Fixture {
  const pfn = o.pfn ?? 0x40400;
  const mem = o.memory ?? new PhysicalMemory([{ base: RAM_BASE, size: 64 * 2 ** 20 }]);
  const el2 = o.el2 ?? linearEl2Memory(mem, toPa);
  const esz = hypPageLayout(version).size;
  const vmemmap = toVa(VMEMMAP_PA) - pfn * esz;
  const trace = o.trace ?? new Trace();
  const pool = buddyPageAllocator({ version }).createPool({
    name: "hpool",
    pfn,
    nrPages: o.nrPages,
    reservedPages: o.reserved ?? 0,
    memory: el2,
    vmemmap,
    physToVirt: toVa,
    virtToPhys: toPa,
    trace,
    ...(o.onMachine === false ? {} : { poolVa: toVa(POOL_STRUCT_PA) }),
  });
  return { mem, el2, pool, vmemmap, trace };
}

/** PA of page `i` of a pool at `pfn`. */
export const pagePa = (pfn: number, i: number): number => (pfn + i) * PAGE_SIZE;

/** Every free list as page indexes relative to the pool start. */
export function lists(pool: BuddyPool): number[][] {
  const out: number[][] = [];
  for (let o = 0; o < 11; o++) {
    out.push(pool.freeList(o).map((pa) => (pa - pool.rangeStart) / PAGE_SIZE));
  }
  return out;
}

/** Everything observable about a pool, to compare before/after a refused operation. */
export function snapshot(f: Fixture): string {
  return JSON.stringify({ digest: f.mem.digest(), stats: f.pool.stats(), lists: lists(f.pool) });
}
