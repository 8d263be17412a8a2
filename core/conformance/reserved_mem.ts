/**
 * The reserved_mem conformance suite: what every provider of `RESERVED_MEM`
 * must do, whatever its sizing formulas. As `kvm_hyp_reserve()` carves it
 * (arch/arm64/kvm/pkvm.c, v6.1 and mainline; `memblock_phys_alloc` with
 * PMD_SIZE, then PAGE_SIZE, alignment), the pool lies inside RAM, overlaps no
 * other reservation, is page-aligned (2 MiB in size and alignment on the PMD
 * path) and is at least the computed size.
 * Run it in one line:
 * `Deno.test("my carving", (t) => reservedMemConformance(myReservedMem, t))`.
 *
 * @module
 */

import type { Memblock, ReservedMem } from "../capabilities/reserved_mem.ts";
import { PAGE_SIZE } from "../physical_memory.ts";
import { Prng } from "../prng.ts";
import { expect, expectEqual, runCases, type StepContext } from "./_suite.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

function clone(m: Memblock): Memblock {
  return { memory: m.memory.map((r) => ({ ...r })), reserved: m.reserved.map((r) => ({ ...r })) };
}

function randomMemblock(prng: Prng): Memblock {
  const memory = [];
  let base = 0x4000_0000 + prng.int(64) * 2 * MiB;
  const n = 1 + prng.int(6);
  for (let i = 0; i < n; i++) {
    const size = (64 + prng.int(4096)) * MiB;
    memory.push({ base, size });
    base += size + prng.int(4) * 256 * MiB;
  }
  const reserved = [];
  for (const r of memory) {
    if (prng.int(2) === 0) {
      const off = prng.int(r.size / PAGE_SIZE - 16) * PAGE_SIZE;
      reserved.push({ base: r.base + off, size: (1 + prng.int(16)) * PAGE_SIZE });
    }
  }
  return { memory, reserved };
}

/** Reserves on `after` (a copy of `before`) and checks the result; returns whether it succeeded. */
function checkCarving(rm: ReservedMem, before: Memblock, after: Memblock): boolean {
  const res = rm.kvmHypReserve(after);
  if (!res.ok) {
    expectEqual(after, before, "memblock after a failed reservation");
    expectEqual([res.base, res.size], [0, 0], "base and size after a failed reservation");
    expect(
      typeof res.reason === "string" && res.reason.length > 0,
      `a failure gives a reason (got ${JSON.stringify(res.reason)})`,
    );
    return false;
  }
  const end = res.base + res.size;
  const bank = before.memory.find((r) => res.base >= r.base && end <= r.base + r.size);
  expect(
    bank !== undefined,
    `pool [0x${res.base.toString(16)}, 0x${end.toString(16)}) is not inside one memory region`,
  );
  for (const r of before.reserved) {
    expect(
      end <= r.base || res.base >= r.base + r.size,
      `pool overlaps reserved [0x${r.base.toString(16)}, +0x${r.size.toString(16)})`,
    );
  }
  expect(res.base % PAGE_SIZE === 0 && res.size % PAGE_SIZE === 0, "pool is page-aligned");
  if (res.align === 2 * MiB) {
    expect(
      res.base % (2 * MiB) === 0 && res.size % (2 * MiB) === 0,
      "PMD path: 2 MiB size and alignment",
    );
  } else {
    expectEqual(res.align, PAGE_SIZE, "alignment used");
  }
  const sum = res.layout.reduce((s, term) => s + term.pages, 0);
  expectEqual(sum, res.pages.total, "sum of the layout terms vs pages.total");
  expect(
    res.size >= res.pages.total * PAGE_SIZE,
    `size 0x${res.size.toString(16)} is below the computed ${res.pages.total} pages`,
  );
  // memblock_reserve() merges touching regions with equal flags, so the pool
  // may extend a neighbour instead of adding a region.
  const bytes = (m: Memblock) => m.reserved.reduce((s, r) => s + r.size, 0);
  expectEqual(bytes(after), bytes(before) + res.size, "memblock.reserved grew by the pool size");
  expect(
    after.reserved.some((r) => r.base <= res.base && end <= r.base + r.size),
    "the pool is in memblock.reserved",
  );
  return true;
}

/**
 * Runs the reserved_mem conformance checks against a provider.
 *
 * @param rm The provider's value.
 * @param t Test context: each check becomes a `t.step`.
 * @returns Resolves when every check passed.
 * @throws {Error} A `ConformanceError` naming the first check that failed.
 * @example
 * ```ts ignore
 * import { reservedMem, reservedMemConformance } from "../../mod.ts";
 * Deno.test("reserved_mem conforms", (t) => reservedMemConformance(reservedMem(), t));
 * ```
 */
export function reservedMemConformance(rm: ReservedMem, t?: StepContext): Promise<void> {
  return runCases(`reserved_mem "${rm.name}"`, t, [
    ["one 4 GiB bank reserves a pool inside DRAM", () => {
      const mb: Memblock = { memory: [{ base: 0x4000_0000, size: 4 * GiB }], reserved: [] };
      const before = clone(mb);
      checkCarving(rm, before, mb);
    }],
    ["the pool avoids reserved regions", () => {
      const mb: Memblock = {
        memory: [{ base: 0x4000_0000, size: GiB }],
        reserved: [{ base: 0x4000_0000 + GiB - 64 * MiB, size: 64 * MiB }],
      };
      checkCarving(rm, clone(mb), mb);
    }],
    ["no room: nothing is reserved and memblock is unchanged", () => {
      const mb: Memblock = {
        memory: [{ base: 0x4000_0000, size: 64 * MiB }],
        reserved: [{ base: 0x4000_0000, size: 63 * MiB }],
      };
      expectEqual(checkCarving(rm, clone(mb), mb), false, "ok");
    }],
    ["more than 128 memory regions: nothing is reserved", () => {
      const memory = Array.from(
        { length: 129 },
        (_, i) => ({ base: 0x4000_0000 + i * 4 * MiB, size: 2 * MiB }),
      );
      const mb: Memblock = { memory, reserved: [] };
      expectEqual(checkCarving(rm, clone(mb), mb), false, "ok");
    }],
    ["the carving holds over 2,000 random layouts", () => {
      const prng = new Prng(0x5eed);
      for (let i = 0; i < 2000; i++) {
        const mb = randomMemblock(prng);
        checkCarving(rm, clone(mb), mb);
      }
    }],
    ["poolLayout() carves contiguous terms that fit in the reserved pool", () => {
      const mb: Memblock = {
        memory: [{ base: 0x4000_0000, size: 2 * GiB }, { base: 0x1_0000_0000, size: GiB }],
        reserved: [],
      };
      const res = rm.kvmHypReserve(mb);
      expect(res.ok, "reservation failed");
      const terms = rm.poolLayout(res.regions, { base: res.base, size: res.size });
      let offset = 0;
      for (const term of terms) {
        expectEqual(term.offset, offset, `offset of term "${term.name}"`);
        offset += term.pages;
      }
      expect(
        offset * PAGE_SIZE <= res.size,
        `terms need ${offset} pages, the pool has ${res.size / PAGE_SIZE}`,
      );
      expect(terms.some((x) => x.name === "hyp_s1"), "a hyp_s1 term exists");
    }],
  ]);
}
