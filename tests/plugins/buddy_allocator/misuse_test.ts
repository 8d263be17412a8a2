import { assertEquals, assertThrows } from "@std/assert";
import {
  type El2Memory,
  HyplabError,
  KernelBugError,
  linearEl2Memory,
  MemoryFaultError,
  PAGE_SIZE,
  PhysicalMemory,
} from "../../../core/mod.ts";
import type { BuddyVersion } from "../../../plugins/buddy_allocator/mod.ts";
import { type Fixture, makePool, RAM_BASE, snapshot, toPa, toVa, VMEMMAP_PA } from "./_fixture.ts";

/** Runs `fn`, expects a KernelBugError from `fnName`, and the pool exactly as before. */
function refused(f: Fixture, fnName: string, text: string, fn: () => unknown): void {
  const before = snapshot(f);
  const verdict = f.pool.checkInvariants();
  const e = assertThrows(fn, KernelBugError, text);
  assertEquals(e.fn, fnName);
  assertEquals(snapshot(f), before, `${fnName}: the pool changed`);
  assertEquals(f.pool.checkInvariants(), verdict);
}

for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as BuddyVersion[]) {
  Deno.test(`hyp_put_page() at refcount 0 is a BUG and changes nothing (${version})`, () => {
    const f = makePool(version, { nrPages: 16 });
    const free = toVa(f.pool.freeList(f.pool.maxAllocOrder)[0]!);
    refused(f, "hyp_put_page", "refcount is 0", () => f.pool.putPage(free));
  });

  Deno.test(`double free is a BUG and changes nothing (${version})`, () => {
    const f = makePool(version, { nrPages: 16 });
    const va = f.pool.allocPages(1)!;
    f.mem.write32(toPa(va), 0x1234);
    f.pool.putPage(va);
    refused(f, "hyp_put_page", "double free", () => f.pool.putPage(va));
  });

  Deno.test(`hyp_put_page() of a tail page is refused (${version})`, () => {
    const f = makePool(version, { nrPages: 16 });
    const va = f.pool.allocPages(2)!;
    // The kernel lets a reference be taken on a tail (refcount 0 -> 1)...
    f.pool.getPage(va + PAGE_SIZE);
    assertEquals(f.pool.checkInvariants()?.includes("expected HYP_NO_ORDER and 0"), true);
    // ...but dropping it would attach a HYP_NO_ORDER page: free_area[] out of bounds.
    refused(f, "__hyp_attach_page", "tail page", () => f.pool.putPage(va + PAGE_SIZE));
  });

  Deno.test(`hyp_set_page_refcounted() BUGs on a referenced free page, before any change (${version})`, () => {
    const f = makePool(version, { nrPages: 4 });
    const first = f.pool.freeList(f.pool.maxAllocOrder)[0]!;
    // A reference taken on a free page (the kernel does not check) ...
    f.pool.getPage(toVa(first));
    assertEquals(f.pool.checkInvariants()?.includes("has refcount 1, expected 0"), true);
    // ... trips the BUG_ON when the allocator hands that page out.
    refused(f, "hyp_set_page_refcounted", "refcount is 1", () => f.pool.allocPages(0));
    // Dropping it again would put the page on a list it is already on.
    refused(f, "__hyp_attach_page", "already on", () => f.pool.putPage(toVa(first)));
  });

  Deno.test(`bad arguments throw clear errors and change nothing (${version})`, () => {
    const f = makePool(version, { nrPages: 16 });
    const before = snapshot(f);
    assertThrows(() => f.pool.allocPages(-1), RangeError, "order -1");
    assertThrows(() => f.pool.allocPages(1.5), RangeError, "non-negative integer");
    assertThrows(() => f.pool.allocPages(NaN), RangeError);
    assertThrows(() => f.pool.getPage(1.5), TypeError, "not an integer");
    assertThrows(() => f.pool.putPage(Number.NaN), TypeError);
    assertEquals(snapshot(f), before);
  });
}

Deno.test("hyp_get_page() BUGs at refcount 65535 (mainline) and changes nothing", () => {
  const f = makePool("mainline", { nrPages: 4 });
  const va = f.pool.allocPages(0)!;
  for (let i = 1; i < 0xffff; i++) f.pool.getPage(va);
  assertEquals(f.pool.pageCount(va), 0xffff);
  assertEquals(f.mem.read16(VMEMMAP_PA + 0), 0xffff);
  refused(f, "hyp_get_page", "USHRT_MAX", () => f.pool.getPage(va));
});

Deno.test("v5.13 refcounts are 32-bit: 65536 references are fine", () => {
  const f = makePool("v5.13", { nrPages: 4 });
  const va = f.pool.allocPages(0)!;
  for (let i = 0; i < 0xffff; i++) f.pool.getPage(va);
  assertEquals(f.pool.pageCount(va), 0x10000);
  assertEquals(f.mem.read32(VMEMMAP_PA + 0), 0x10000);
  for (let i = 0; i < 0x10000; i++) f.pool.putPage(va);
  assertEquals(f.pool.stats().free, 4);
});

Deno.test("a VA outside the pool is a BUG (v5.13) and changes nothing", () => {
  const f = makePool("v5.13", { nrPages: 16 });
  const outside = toVa(f.pool.rangeEnd);
  refused(f, "hyp_get_page", "outside pool", () => f.pool.getPage(outside));
  refused(f, "hyp_put_page", "outside pool", () => f.pool.putPage(outside));
  refused(
    f,
    "hyp_page_count",
    "outside pool",
    () => f.pool.pageCount(outside - 2 * f.pool.nrPages * PAGE_SIZE),
  );
});

Deno.test("mainline: a page outside the pool with refcount 0 is a BUG on put, unchanged", () => {
  const f = makePool("mainline", { nrPages: 16 });
  refused(f, "hyp_put_page", "refcount is 0", () => f.pool.putPage(toVa(f.pool.rangeEnd)));
});

Deno.test("hyp_split_page() misuse is refused before any change (mainline)", () => {
  const f = makePool("mainline", { nrPages: 16 });
  const va = f.pool.allocPages(2)!;
  refused(f, "hyp_split_page", "tail page", () => f.pool.splitPage!(va + PAGE_SIZE));
  const free = toVa(f.pool.freeList(2)[0]!);
  refused(f, "hyp_split_page", "is free", () => f.pool.splitPage!(free));
  f.pool.getPage(va + 2 * PAGE_SIZE); // a stray reference on a tail
  refused(f, "hyp_set_page_refcounted", "refcount 1", () => f.pool.splitPage!(va));
});

Deno.test("hyp_pool_init() BUGs on a referenced vmemmap entry (mainline), writing nothing", () => {
  const mem = new PhysicalMemory([{ base: RAM_BASE, size: 64 * 2 ** 20 }]);
  mem.write16(VMEMMAP_PA + 3 * 8, 1); // page 3 already has a reference
  const digest = mem.digest();
  const e = assertThrows(() => makePool("mainline", { nrPages: 16, memory: mem }), KernelBugError);
  assertEquals(e.fn, "hyp_set_page_refcounted");
  assertEquals(mem.digest(), digest);
});

Deno.test("v5.13 hyp_pool_init() of one free page dereferences an uninitialised free_area[0]", () => {
  const e = assertThrows(() => makePool("v5.13", { nrPages: 1 }), KernelBugError, "max_order is 0");
  assertEquals(e.fn, "hyp_pool_init");
  // One reserved page attaches nothing: fine.
  assertEquals(makePool("v5.13", { nrPages: 1, reserved: 1 }).pool.stats().free, 0);
  // Mainline initialises free_area[0..max_order]: a 1-page pool works.
  assertEquals(makePool("mainline", { nrPages: 1 }).pool.allocPages(0) !== null, true);
});

/** A linear accessor whose stores to [lo, hi) fault once `armed` is set. */
function faultyEl2(mem: PhysicalMemory, lo: number, hi: number) {
  const inner = linearEl2Memory(mem, toPa);
  const state = { armed: false };
  const guard = (va: number) => {
    if (state.armed && va >= lo && va < hi) {
      throw new MemoryFaultError(va, "translation fault at level 3 (unmapped)");
    }
  };
  // No page views (direct stores): each store goes through a guard below.
  const { pageView: _v, rangeView: _rv, ...stores } = inner;
  const el2: El2Memory = {
    ...stores,
    write8: (va, v) => (guard(va), inner.write8(va, v)),
    write16: (va, v) => (guard(va), inner.write16(va, v)),
    write32: (va, v) => (guard(va), inner.write32(va, v)),
    zero: (va, n) => (guard(va), inner.zero(va, n)),
    writeBytes: (va, b) => (guard(va), inner.writeBytes!(va, b)),
    zeroThenWrite: (va, n, h) => (guard(va), inner.zeroThenWrite!(va, n, h)),
  };
  return { el2, state };
}

/**
 * A 16-page pool whose stores to [lo, hi) fault while armed: one page is
 * allocated, `before` runs, then hyp_put_page faults on it.
 */
function putUnderFault(
  version: BuddyVersion,
  lo: number,
  hi: number,
  before: (el2: El2Memory, va: number) => void = () => {},
) {
  const mem = new PhysicalMemory([{ base: RAM_BASE, size: 64 * 2 ** 20 }]);
  const { el2, state } = faultyEl2(mem, lo, hi);
  const f = makePool(version, { nrPages: 16, memory: mem, el2 });
  const va = f.pool.allocPages(0)!;
  before(el2, va);
  state.armed = true;
  assertThrows(() => f.pool.putPage(va), MemoryFaultError, "translation fault");
  state.armed = false;
  return { f, el2, va };
}

for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as BuddyVersion[]) {
  Deno.test(`an unbacked vmemmap faults at init (${version})`, () => {
    const mem = new PhysicalMemory([{ base: 0x8000_0000, size: 64 * 2 ** 20 }]);
    // The fixture's vmemmap is at 0x40000000: outside this machine's RAM.
    assertThrows(
      () => makePool(version, { pfn: 0x80400, nrPages: 16, memory: mem }),
      MemoryFaultError,
    );
  });

  Deno.test(`a fault in the middle of an operation surfaces, then the pool refuses use (${version})`, () => {
    const { f } = putUnderFault(version, toVa(VMEMMAP_PA), toVa(VMEMMAP_PA + 0x10_0000));
    assertThrows(() => f.pool.allocPages(0), HyplabError, "would have panicked");
    assertEquals(f.pool.checkInvariants()?.startsWith("pool is unusable"), true);
  });
}

for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as BuddyVersion[]) {
  Deno.test(`a fault on the freed block's own memory surfaces (${version})`, () => {
    // The pool's pages (pfn 0x40400) fault; its vmemmap does not. v5.13 hits
    // it at the memset, mainline at the fused memset and node store.
    const { f } = putUnderFault(version, toVa(0x4040_0000), toVa(0x4041_0000));
    assertThrows(() => f.pool.allocPages(0), HyplabError, "would have panicked");
  });
}

for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as BuddyVersion[]) {
  Deno.test(`a list operation stores only the links it changes: corruption stays to be reported (${version})`, () => {
    const f = makePool(version, { nrPages: 16 });
    const vas = [0, 1, 2, 3].map(() => f.pool.allocPages(0)!);
    f.pool.putPage(vas[0]!);
    // A stray store over page 0's free-list prev pointer.
    const nodeVa = version === "v5.13" ? f.vmemmap + (0x40400 * 32) + 16 : vas[0]!;
    f.el2.write32(nodeVa + 8, 0x4141_4141);
    // Freeing page 2 changes only page 0's next link (page 0 is the old tail).
    f.pool.putPage(vas[2]!);
    assertEquals(f.el2.read32(nodeVa + 8), 0x4141_4141);
    assertEquals(f.pool.checkInvariants() !== undefined, true);
  });

  Deno.test(`a vmemmap fault on free stops before the memset, as the refcount store comes first (${version})`, () => {
    const { el2, va } = putUnderFault(
      version,
      toVa(VMEMMAP_PA),
      toVa(VMEMMAP_PA + 0x10_0000),
      (el2, va) => el2.write32(va, 0xcafe),
    );
    assertEquals(el2.read32(va), 0xcafe, "hyp_page_ref_dec_and_test faulted first");
  });
}
