/**
 * The page-allocator conformance suite: what every provider of
 * `PAGE_ALLOCATOR` must do, whatever its algorithm — aligned blocks inside
 * the range, zeroed memory, no overlap, refcount semantics, exhaustion that
 * returns null and changes nothing, frees that restore the capacity, bad
 * input refused without a trace, and its own invariant checker passing all
 * along. Run it in one line:
 * `Deno.test("my allocator", (t) => pageAllocatorConformance(t, myAllocator))`.
 *
 * @module
 */

import type { PageAllocator, PagePool, PagePoolStats } from "../capabilities/page_allocator.ts";
import { PAGE_ALLOCATOR } from "../capabilities/page_allocator.ts";
import { type El2Memory, linearEl2Memory } from "../capabilities/el2_memory.ts";
import { KernelBugError } from "../errors.ts";
import { createMachine } from "../machine.ts";
import { PAGE_SIZE, PhysicalMemory } from "../physical_memory.ts";
import type { Plugin } from "../plugin.ts";
import { Prng } from "../prng.ts";
import { expect, expectEqual, expectThrow, runCases, type StepContext } from "./_suite.ts";

/** Where the suite builds its pools. */
export interface PageAllocatorConformanceOptions {
  /**
   * First pfn of the test pools (odd by default, to catch relative alignment).
   * @default 0x40803
   */
  pfn?: number;
  /**
   * Pages per test pool.
   * @default 300
   */
  nrPages?: number;
  /**
   * Reserved pages at the start of each pool.
   * @default 3
   */
  reservedPages?: number;
  /**
   * PRNG seed of the random workloads.
   * @default 1
   */
  seed?: number;
  /**
   * The allocator's largest refcount (`PagePool.getPage` throws a
   * `KernelBugError` rather than pass it). When given and at most 2^20, the
   * suite takes references up to it and expects the next `getPage` to be
   * refused. Otherwise it only checks that the refcount does not wrap at
   * 65535 (the mainline u16 maximum): the next reference either is refused
   * or counts 65536.
   * @default undefined
   */
  refcountMax?: number;
}

const RAM_BASE = 0x4000_0000;
const RAM_SIZE = 64 * 2 ** 20;
const VMEMMAP_PA = 0x4000_0000; // metadata of the pool's pages starts here
const POOL_STRUCT_PA = 0x4070_0000;
const HYP_OFF = 2 ** 47; // hyp VA = PA + 2^47

interface Env {
  mem: PhysicalMemory;
  el2: El2Memory;
  pool: PagePool;
  /** Largest order allocPages may return. */
  top: number;
  /** First PA that is not reserved. */
  freeStart: number;
}

const toVa = (pa: number) => pa + HYP_OFF;
const toPa = (va: number) => va - HYP_OFF;

function resolve(allocator: PageAllocator | Plugin): PageAllocator {
  if ("createPool" in allocator) return allocator;
  return createMachine({ ram: [{ base: RAM_BASE, size: 2 ** 21 }], plugins: [allocator] })
    .get(PAGE_ALLOCATOR);
}

/** Stats without the failed-allocation counter (which a refused allocation bumps). */
function shape(s: PagePoolStats): string {
  const { failedAllocs: _f, ...rest } = s;
  return JSON.stringify(rest);
}

/**
 * Runs the page-allocator conformance checks against an allocator (or a
 * plugin providing `PAGE_ALLOCATOR`).
 *
 * @param t Test context (each check becomes a `t.step`), or undefined.
 * @param allocator The allocator or its plugin.
 * @param options Pool geometry and seed.
 * @returns Resolves when every check passed.
 * @throws {Error} A `ConformanceError` naming the first check that failed.
 * @example In a test: `Deno.test("mine", (t) => pageAllocatorConformance(t, mine))`
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { bitmapAllocator } from "../../plugins/bitmap_allocator/mod.ts";
 * import { pageAllocatorConformance } from "./page_allocator.ts";
 * assertEquals(await pageAllocatorConformance(undefined, bitmapAllocator()), undefined);
 * ```
 */
export function pageAllocatorConformance(
  t: StepContext | undefined,
  allocator: PageAllocator | Plugin,
  options?: PageAllocatorConformanceOptions,
): Promise<void>;
/**
 * The same, with the allocator first (as the other suites take it).
 *
 * @param allocator The allocator or its plugin.
 * @param t Test context, or undefined.
 * @param options Pool geometry and seed.
 * @returns Resolves when every check passed.
 */
export function pageAllocatorConformance(
  allocator: PageAllocator | Plugin,
  t?: StepContext,
  options?: PageAllocatorConformanceOptions,
): Promise<void>;
export function pageAllocatorConformance(
  a: StepContext | PageAllocator | Plugin | undefined,
  b?: StepContext | PageAllocator | Plugin,
  options: PageAllocatorConformanceOptions = {},
): Promise<void> {
  const isCtx = (x: unknown): x is StepContext =>
    typeof x === "object" && x !== null && "step" in x &&
    typeof (x as { step: unknown }).step === "function";
  const t = isCtx(a) ? a : isCtx(b) ? b : undefined;
  const subject = (isCtx(a) || a === undefined ? b : a) as PageAllocator | Plugin | undefined;
  if (subject === undefined || isCtx(subject)) {
    return Promise.reject(
      new TypeError("Cannot run the page-allocator conformance suite: no allocator given"),
    );
  }
  const allocator = resolve(subject);
  const pfn = options.pfn ?? 0x40803;
  const nr = options.nrPages ?? 300;
  const reserved = options.reservedPages ?? 3;
  const seed = options.seed ?? 1;
  const stride = Math.ceil(allocator.metadataBytesPerPage);

  const env = (dirty = false): Env => {
    const mem = new PhysicalMemory([{ base: RAM_BASE, size: RAM_SIZE }]);
    // What the pages held before the pool took them over (hyp_pool_init must
    // not trust them to be zero).
    if (dirty) mem.fill((pfn + reserved) * PAGE_SIZE, (nr - reserved) * PAGE_SIZE, 0xa5);
    const el2 = linearEl2Memory(mem, toPa);
    const pool = allocator.createPool({
      name: "conformance",
      pfn,
      nrPages: nr,
      reservedPages: reserved,
      memory: el2,
      vmemmap: toVa(VMEMMAP_PA) - pfn * stride,
      physToVirt: toVa,
      virtToPhys: toPa,
      poolVa: toVa(POOL_STRUCT_PA),
    });
    return {
      mem,
      el2,
      pool,
      top: pool.maxAllocOrder ?? pool.maxOrder,
      freeStart: (pfn + reserved) * PAGE_SIZE,
    };
  };

  const invariants = (e: Env, when: string, contents = true) => {
    const bad = e.pool.checkInvariants({ contents });
    expect(bad === undefined, `${when}: checkInvariants() reports "${bad}"`);
    const s = e.pool.stats();
    const inBlocks = s.freeBlocksByOrder.reduce((sum, n, order) => sum + n * 2 ** order, 0);
    expect(
      inBlocks === s.free,
      `${when}: stats().freeBlocksByOrder [${s.freeBlocksByOrder}] holds ${inBlocks} pages, ` +
        `but stats().free is ${s.free}; the free blocks must add up to the free pages`,
    );
  };

  /** Checks one returned block and gives its PA. */
  const block = (e: Env, va: number, order: number, what: string): number => {
    expect(Number.isSafeInteger(va), `${what}: returned ${va}, not an address`);
    const pa = toPa(va);
    const size = PAGE_SIZE << order;
    expect(
      pa % size === 0,
      `${what}: block 0x${pa.toString(16)} is not aligned to 0x${size.toString(16)}`,
    );
    expect(
      pa >= e.freeStart && pa + size <= e.pool.rangeEnd,
      `${what}: block [0x${pa.toString(16)}, +0x${size.toString(16)}) is outside the free range ` +
        `[0x${e.freeStart.toString(16)}, 0x${e.pool.rangeEnd.toString(16)})`,
    );
    return pa;
  };

  /** Allocates random orders until every order fails; returns the blocks. */
  const fill = (e: Env, prng: Prng): { va: number; order: number }[] => {
    const out: { va: number; order: number }[] = [];
    // If no aligned block of order k is free, none of a higher order is.
    let limit = e.top;
    while (limit >= 0) {
      const order = prng.int(limit + 1);
      const va = e.pool.allocPages(order);
      if (va === null) limit = order - 1;
      else out.push({ va, order });
    }
    return out;
  };

  /** Whether a fresh pool has a free aligned block of this order. */
  const fits = (e: Env, order: number): boolean => {
    const size = PAGE_SIZE << order;
    const first = Math.ceil(e.freeStart / size) * size;
    return first + size <= e.pool.rangeEnd;
  };

  return runCases(`page_allocator "${allocator.name}"`, t, [
    ["createPool() covers the range and keeps the reserved pages", () => {
      const e = env();
      expectEqual(
        [e.pool.rangeStart, e.pool.rangeEnd],
        [pfn * PAGE_SIZE, (pfn + nr) * PAGE_SIZE],
        "range",
      );
      const s = e.pool.stats();
      expectEqual(
        [s.nrPages, s.reserved, s.free, s.allocs],
        [nr, reserved, nr - reserved, 0],
        "stats",
      );
      expect(Number.isInteger(e.top) && e.top >= 0, `maxAllocOrder ${e.top} is not an order`);
      invariants(e, "after createPool()");
    }],
    ["every order that fits is handed out aligned and inside the free range", () => {
      for (let order = 0; order <= env().top; order++) {
        const e = env();
        const va = e.pool.allocPages(order);
        if (va === null) {
          expect(
            !fits(e, order),
            `allocPages(${order}) returned null on a fresh pool that has room`,
          );
          continue;
        }
        block(e, va, order, `allocPages(${order})`);
        expectEqual(e.pool.pageCount(va), 1, `refcount of a fresh order-${order} block`);
        invariants(e, `after allocPages(${order})`);
      }
    }],
    ["allocated memory is zeroed, also when reused", () => {
      const e = env();
      const prng = new Prng(seed);
      const first = fill(e, prng);
      for (const { va, order } of first) {
        const size = PAGE_SIZE << order;
        expect(
          e.el2.isZero(va, size),
          `fresh order-${order} block at 0x${toPa(va).toString(16)} is not zero`,
        );
        e.el2.write32(va, 0xdead_beef);
        e.el2.write32(va + 8, 0x1234_5678);
        e.el2.write8(va + size - 1, 0xff);
        e.el2.write8(va + (size >> 1) + 7, 0x5a);
      }
      for (const { va } of first) e.pool.putPage(va);
      invariants(e, "after freeing dirty blocks");
      for (const { va, order } of fill(e, prng)) {
        expect(
          e.el2.isZero(va, PAGE_SIZE << order),
          `reused order-${order} block at 0x${toPa(va).toString(16)} is not zero`,
        );
      }
    }],
    ["a pool over dirty memory hands out zeroed blocks", () => {
      const e = env(true);
      for (const { va, order } of fill(e, new Prng(seed + 5))) {
        expect(
          e.el2.isZero(va, PAGE_SIZE << order),
          `order-${order} block at 0x${toPa(va).toString(16)} of a pool created over ` +
            `non-zero memory is not zero (allocPages returns a zeroed block)`,
        );
      }
    }],
    ["blocks never overlap and never touch reserved pages", () => {
      const e = env();
      const blocks = fill(e, new Prng(seed + 1)).map(({ va, order }) => {
        const pa = block(e, va, order, `allocPages(${order})`);
        return [pa, pa + (PAGE_SIZE << order)] as const;
      }).sort((x, y) => x[0] - y[0]);
      let pages = 0;
      for (let i = 0; i < blocks.length; i++) {
        pages += (blocks[i]![1] - blocks[i]![0]) / PAGE_SIZE;
        if (i > 0) {
          expect(
            blocks[i - 1]![1] <= blocks[i]![0],
            `blocks at 0x${blocks[i - 1]![0].toString(16)} and 0x${
              blocks[i]![0].toString(16)
            } overlap`,
          );
        }
      }
      expect(pages <= nr - reserved, `${pages} pages handed out from ${nr - reserved} free ones`);
      expectEqual(e.pool.stats().free, nr - reserved - pages, "free pages after filling");
      invariants(e, "after filling the pool");
    }],
    ["refcounts: 1 on allocation, get and put count, the last put frees", () => {
      const e = env();
      const free0 = e.pool.stats().free;
      const va = e.pool.allocPages(0)!;
      expect(va !== null, "allocPages(0) failed on a fresh pool");
      expectEqual(e.pool.pageCount(va), 1, "refcount after allocation");
      e.pool.getPage(va);
      e.pool.getPage(va);
      expectEqual(e.pool.pageCount(va), 3, "refcount after two gets");
      e.pool.putPage(va);
      e.pool.putPage(va);
      expectEqual(e.pool.pageCount(va), 1, "refcount after two puts");
      expectEqual(e.pool.stats().free, free0 - 1, "free pages while still referenced");
      e.pool.putPage(va);
      expectEqual(e.pool.pageCount(va), 0, "refcount after the last put");
      expectEqual(e.pool.stats().free, free0, "free pages after the last put");
      const err = expectThrow(() => e.pool.putPage(va), "putPage() at refcount 0");
      expect(
        err instanceof KernelBugError,
        `putPage() at refcount 0 threw ${err}, not a KernelBugError`,
      );
      invariants(e, "after the refcount sequence");
    }],
    ["an address inside a page names that page (hyp_virt_to_page rounds down)", () => {
      const e = env();
      const va = e.pool.allocPages(1)!;
      expect(va !== null, "allocPages(1) failed on a fresh pool");
      const inner = va + PAGE_SIZE + 0x80; // inside the block's second page
      e.pool.getPage(va + 0x10);
      expectEqual(e.pool.pageCount(va), 2, "refcount after getPage(va + 0x10)");
      expectEqual(e.pool.pageCount(va + 0xff8), 2, "pageCount(va + 0xff8)");
      e.pool.putPage(va + 0x7);
      expectEqual(e.pool.pageCount(va), 1, "refcount after putPage(va + 0x7)");
      expectEqual(
        e.pool.pageCount(inner),
        e.pool.pageCount(va + PAGE_SIZE),
        "pageCount inside page 2",
      );
      const free0 = e.pool.stats().free;
      e.pool.putPage(va + 0x123);
      expectEqual(e.pool.stats().free, free0 + 2, "free pages after the last put at va + 0x123");
      invariants(e, "after gets and puts at addresses inside a page");
    }],
    ["getPage() at the refcount maximum is refused and changes nothing", () => {
      const e = env();
      const va = e.pool.allocPages(0)!;
      expect(va !== null, "allocPages(0) failed on a fresh pool");
      const max = options.refcountMax !== undefined && options.refcountMax <= 2 ** 20
        ? options.refcountMax
        : 0xffff;
      for (let n = 1; n < max; n++) e.pool.getPage(va);
      expectEqual(e.pool.pageCount(va), max, `refcount after ${max - 1} getPage() calls`);
      const digest = e.mem.digest();
      const before = shape(e.pool.stats());
      let err: unknown;
      try {
        e.pool.getPage(va);
      } catch (x) {
        err = x;
      }
      if (err === undefined) {
        expect(
          options.refcountMax === undefined || options.refcountMax > 2 ** 20,
          `getPage() at refcount ${max} (refcountMax) did not throw a KernelBugError`,
        );
        expectEqual(e.pool.pageCount(va), max + 1, `refcount after getPage() at ${max}`);
        e.pool.putPage(va);
      } else {
        expect(
          err instanceof KernelBugError,
          `getPage() at refcount ${max} threw ${err}, not a KernelBugError`,
        );
        expectEqual(e.mem.digest(), digest, `memory after the refused getPage()`);
        expectEqual(shape(e.pool.stats()), before, `stats after the refused getPage()`);
      }
      expectEqual(e.pool.pageCount(va), max, `refcount after getPage() at ${max}`);
      invariants(e, "after taking references up to the maximum", false);
    }],
    ["putPage() of a tail page of an allocated block is refused and changes nothing", () => {
      const e = env();
      const order = Math.min(2, e.top);
      const va = e.pool.allocPages(order)!;
      expect(va !== null, `allocPages(${order}) failed on a fresh pool`);
      if (order === 0) return;
      const tail = va + PAGE_SIZE;
      expectEqual(e.pool.pageCount(tail), 0, `refcount of a tail page of an order-${order} block`);
      const digest = e.mem.digest();
      const before = shape(e.pool.stats());
      const err = expectThrow(() => e.pool.putPage(tail), "putPage() of a tail page");
      expect(
        err instanceof KernelBugError,
        `putPage() of a tail page threw ${err}, not a KernelBugError`,
      );
      expectEqual(e.mem.digest(), digest, "memory after putPage() of a tail page");
      expectEqual(shape(e.pool.stats()), before, "stats after putPage() of a tail page");
      expectEqual(e.pool.pageCount(va), 1, "refcount of the block head");
      invariants(e, "after putPage() of a tail page");
    }],
    ["exhaustion returns null and changes nothing", () => {
      const e = env();
      fill(e, new Prng(seed + 2));
      const digest = e.mem.digest();
      const before = e.pool.stats();
      for (const order of [0, 1, e.top, e.top + 1, 40]) {
        expectEqual(e.pool.allocPages(order), null, `allocPages(${order}) on an exhausted pool`);
      }
      const after = e.pool.stats();
      expectEqual(e.mem.digest(), digest, "memory digest after failed allocations");
      expectEqual(shape(after), shape(before), "stats after failed allocations");
      expectEqual(after.failedAllocs, before.failedAllocs + 5, "failed-allocation counter");
      invariants(e, "after failed allocations");
    }],
    ["an order larger than any block returns null, even 2^32 and above", () => {
      const e = env();
      const digest = e.mem.digest();
      const before = e.pool.stats();
      const orders = [e.top + 1, 40, 2 ** 32, 2 ** 53 - 1];
      for (const order of orders) {
        expectEqual(e.pool.allocPages(order), null, `allocPages(${order}) on a fresh pool`);
      }
      const after = e.pool.stats();
      expectEqual(e.mem.digest(), digest, "memory digest after too-large orders");
      expectEqual(shape(after), shape(before), "stats after too-large orders");
      expectEqual(
        after.failedAllocs,
        before.failedAllocs + orders.length,
        "failed-allocation counter",
      );
    }],
    ["freeing everything restores the capacity", () => {
      const e = env();
      const s0 = e.pool.stats();
      const prng = new Prng(seed + 3);
      for (let round = 0; round < 3; round++) {
        const blocks = fill(e, prng);
        for (let i = blocks.length - 1; i > 0; i--) {
          const j = prng.int(i + 1);
          [blocks[i], blocks[j]] = [blocks[j]!, blocks[i]!];
        }
        for (const { va } of blocks) e.pool.putPage(va);
        const s = e.pool.stats();
        expectEqual(s.free, s0.free, `free pages after round ${round}`);
        expectEqual(
          s.freeBlocksByOrder,
          s0.freeBlocksByOrder,
          `free blocks per order after round ${round}`,
        );
      }
      invariants(e, "after three fill/free rounds");
    }],
    ["bad input is refused and changes nothing", () => {
      const e = env();
      const held = e.pool.allocPages(0)!;
      const digest = e.mem.digest();
      const before = shape(e.pool.stats());
      const refused = (what: string, fn: () => unknown) => {
        expectThrow(fn, what);
        expectEqual(e.mem.digest(), digest, `memory after ${what}`);
        expectEqual(shape(e.pool.stats()), before, `stats after ${what}`);
      };
      refused("allocPages(-1)", () => e.pool.allocPages(-1));
      refused("allocPages(1.5)", () => e.pool.allocPages(1.5));
      refused("allocPages(NaN)", () => e.pool.allocPages(NaN));
      refused("getPage(1.5)", () => e.pool.getPage(1.5));
      refused("putPage() of a page outside RAM", () => e.pool.putPage(toVa(0)));
      const freeVa = [e.freeStart, e.pool.rangeEnd - PAGE_SIZE].map(toVa)
        .find((va) => va !== held && e.pool.pageCount(va) === 0)!;
      const err = expectThrow(() => e.pool.putPage(freeVa), "putPage() of a free page");
      expect(
        err instanceof KernelBugError,
        `putPage() of a free page threw ${err}, not a KernelBugError`,
      );
      expectEqual(e.mem.digest(), digest, "memory after putPage() of a free page");
      expectThrow(
        () =>
          allocator.createPool({
            name: "bad",
            pfn,
            nrPages: 4,
            reservedPages: 5,
            memory: e.el2,
            vmemmap: toVa(VMEMMAP_PA) - pfn * stride,
            physToVirt: toVa,
            virtToPhys: toPa,
          }),
        "createPool() with more reserved pages than pages",
      );
      expectEqual(e.pool.pageCount(held), 1, "the held page after refused calls");
      invariants(e, "after refused calls");
    }],
    ["checkPool() at step 1 agrees with createPool(), up to pools of 2^20 pages and more", () => {
      // The host asks checkPool() when it sizes the pools (boot step 1):
      // whatever createPool() will refuse or do unusually must be said then.
      // From 2^20 pages the kernel's hyp_pool_init() computes
      // nr_pages << PAGE_SHIFT in 32 bits (range_end and max_order wrap), and
      // a hyp_pool allocator follows it; any allocator must still hand out
      // aligned, zeroed blocks inside the pool and keep its invariants.
      const check = allocator.checkPool;
      if (check === undefined) return;
      const own = check({ name: "conformance", pfn, nrPages: nr, reservedPages: reserved });
      expect(
        own?.refuse === undefined,
        `checkPool() refuses the suite's own pool of ${nr} pages ("${own?.refuse}"), ` +
          `which createPool() builds`,
      );
      const bigPfn = 0x10_0001; // odd: buddies by absolute pfn
      const bigNr = 2 ** 20 + 37;
      const verdict = check({ name: "big", pfn: bigPfn, nrPages: bigNr, reservedPages: 5 });
      if (verdict?.refuse !== undefined) {
        expect(typeof verdict.refuse === "string" && verdict.refuse.length > 0, "empty refusal");
        return;
      }
      // Sparse RAM: pages are backed when written.
      const mem = new PhysicalMemory([{ base: RAM_BASE, size: 12 * 2 ** 30 }]);
      const el2 = linearEl2Memory(mem, toPa);
      let pool: PagePool;
      try {
        pool = allocator.createPool({
          name: "big",
          pfn: bigPfn,
          nrPages: bigNr,
          reservedPages: 5,
          memory: el2,
          vmemmap: toVa(10 * 2 ** 30) - bigPfn * stride,
          physToVirt: toVa,
          virtToPhys: toPa,
          poolVa: toVa(11 * 2 ** 30),
        });
      } catch (err) {
        expect(
          verdict?.warn !== undefined,
          `createPool() of ${bigNr} pages threw "${err}", but checkPool() said nothing at step 1`,
        );
        return;
      }
      const e: Env = {
        mem,
        el2,
        pool,
        top: pool.maxAllocOrder ?? pool.maxOrder,
        freeStart: (bigPfn + 5) * PAGE_SIZE,
      };
      invariants(e, `a pool of ${bigNr} pages after createPool()`, false);
      const prng = new Prng(seed + 6);
      const held: { va: number; order: number }[] = [];
      for (let op = 0; op < 500; op++) {
        if (held.length === 0 || prng.int(3) !== 0) {
          const order = prng.int(Math.min(e.top, 3) + 1);
          let va: number | null;
          try {
            va = pool.allocPages(order);
          } catch (err) {
            // The kernel's own NULL dereference (a block straddling a wrapped
            // range_end) is a KernelBugError, announced at step 1.
            expect(
              err instanceof KernelBugError && verdict?.warn !== undefined,
              `allocPages(${order}) in a pool of ${bigNr} pages threw "${err}"`,
            );
            continue;
          }
          if (va === null) continue;
          const pa = block(e, va, order, `allocPages(${order}) in a pool of ${bigNr} pages`);
          expect(el2.isZero(va, PAGE_SIZE << order), `block 0x${pa.toString(16)} is not zeroed`);
          held.push({ va, order });
        } else {
          const [h] = held.splice(prng.int(held.length), 1);
          pool.putPage(h!.va);
        }
      }
      invariants(e, `a pool of ${bigNr} pages after 500 operations`, false);
    }],
    ["checkInvariants() holds over 2,000 random operations", () => {
      const e = env();
      const prng = new Prng(seed + 4);
      const held: number[] = [];
      for (let op = 0; op < 2000; op++) {
        const r = prng.int(10);
        if (r < 5 || held.length === 0) {
          const va = e.pool.allocPages(prng.int(Math.min(e.top, 4) + 1));
          if (va !== null) held.push(va);
        } else if (r < 6) {
          const va = held[prng.int(held.length)]!;
          e.pool.getPage(va);
          held.push(va);
        } else {
          const k = prng.int(held.length);
          e.pool.putPage(held[k]!);
          held[k] = held[held.length - 1]!;
          held.pop();
        }
        invariants(e, `after operation ${op}`, op % 50 === 0);
      }
    }],
  ]);
}
