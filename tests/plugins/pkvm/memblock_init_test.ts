// arm64_memblock_init() (arch/arm64/mm/init.c, the same in 6.1, 6.12 and
// 7.2): the kernel's own cases one by one, then a property test over
// thousands of random bank layouts against a window model of what it keeps.

import { assert, assertEquals, assertThrows } from "@std/assert";
import { CPU_MODEL_NAMES, cpuModel, Prng, type RamBank } from "../../../core/mod.ts";
import {
  ARM64_MEMSTART_ALIGN,
  arm64MemblockInit,
  describeRemovedMemory,
  type MemblockInitInput,
} from "../../../plugins/pkvm/mod.ts";
import { release, RELEASE_NAMES } from "../../../plugins/releases/mod.ts";

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const TiB = 2 ** 40;

const base: Omit<MemblockInitInput, "banks" | "image"> = {
  vabitsActual: 48,
  configVaBits: 48,
  configPaBits: 48,
  lpa2: false,
  kvm: true,
  hypModeAvailable: true,
  kernelInHypMode: false,
};
const image = { base: 0x4020_0000, end: 0x4240_0000 };

Deno.test("everything fits: nothing removed, no message, memstart_addr rounded down to 1 GiB", () => {
  const r = arm64MemblockInit({
    ...base,
    banks: [{ base: 0x4000_0000, size: 4 * GiB }],
    image,
  });
  assertEquals(r.memory, [{ base: 0x4000_0000, size: 4 * GiB }]);
  assertEquals([r.removed, r.logs, r.merged], [[], [], []]);
  assertEquals([r.memstartAddr, r.linearMapBase, r.linearRegionSize], [GiB, GiB, 2 ** 47]);
  assertEquals(r.physMaskShift, 48);
  assertEquals(ARM64_MEMSTART_ALIGN, GiB);
});

Deno.test("banks that touch are one memblock region; banks with a hole stay two", () => {
  const r = arm64MemblockInit({
    ...base,
    banks: [
      { base: 0x1_4000_0000, size: GiB }, // given out of order
      { base: 0x4000_0000, size: 64 * MiB },
      { base: 0x4400_0000, size: 4 * GiB - 64 * MiB },
      { base: 0x2_0000_0000, size: GiB },
    ],
    image,
  });
  assertEquals(r.memory, [
    { base: 0x4000_0000, size: 5 * GiB },
    { base: 0x2_0000_0000, size: GiB },
  ]);
  assertEquals(r.merged, [0x4400_0000, 0x1_4000_0000]);
});

Deno.test("VA_BITS 39: RAM past PHYS_OFFSET + 256 GiB goes, with the kernel's warning", () => {
  const r = arm64MemblockInit({
    ...base,
    vabitsActual: 39,
    configVaBits: 39,
    banks: [{ base: 0x4000_0000, size: 255 * GiB }, { base: 300 * GiB, size: GiB }],
    image,
  });
  assertEquals(r.linearRegionSize, 2 ** 38);
  assertEquals(r.memory, [{ base: 0x4000_0000, size: 255 * GiB }]);
  assertEquals(r.removed.map((x) => [x.base, x.size, x.reason]), [[300 * GiB, GiB, "linear_map"]]);
  assertEquals(r.logs, [{
    level: "warn",
    message: "Memory doesn't fit in the linear mapping, VA_BITS too small",
  }]);
  // A bank across the limit is cut at it.
  const cut = arm64MemblockInit({
    ...base,
    vabitsActual: 39,
    configVaBits: 39,
    banks: [{ base: 0x4000_0000, size: 300 * GiB }],
    image,
  });
  assertEquals(cut.memory, [{ base: 0x4000_0000, size: 2 ** 38 }]);
  assertEquals(
    describeRemovedMemory(cut.removed).split(":")[0],
    "arm64_memblock_init removed 44 GiB of RAM",
  );
});

Deno.test("RAM above 1 << PHYS_MASK_SHIFT goes without a message (48-bit builds, and 52-bit builds without LPA2)", () => {
  const banks: RamBank[] = [{ base: 0x4000_0000, size: GiB }, { base: 2 ** 48, size: GiB }];
  for (
    const [configPaBits, lpa2, vabits, shift] of [[48, false, 48, 48], [52, false, 48, 48]] as const
  ) {
    const r = arm64MemblockInit({
      ...base,
      configVaBits: configPaBits === 52 ? 52 : 48,
      configPaBits,
      lpa2,
      vabitsActual: vabits,
      banks,
      image,
    });
    assertEquals(r.physMaskShift, shift);
    assertEquals(r.memory, [{ base: 0x4000_0000, size: GiB }]);
    assertEquals(r.removed.map((x) => x.reason), ["phys_mask"]);
    assertEquals(r.logs, []);
    assert(!r.imageRemoved);
  }
  // With LPA2 (52-bit VAs on a 52-bit build) PHYS_MASK_SHIFT is 52: kept,
  // and the linear region is capped at 51 bits for nVHE KVM.
  const r = arm64MemblockInit({
    ...base,
    vabitsActual: 52,
    configVaBits: 52,
    configPaBits: 52,
    lpa2: true,
    banks,
    image,
  });
  assertEquals([r.physMaskShift, r.memory.length, r.removed], [52, 2, []]);
  assertEquals(r.linearRegionSize, 2 ** 51);
  assertEquals(r.logs, [{
    level: "info",
    message: "Capping linear region to 51 bits for KVM in nVHE mode on LVA capable hardware.",
  }]);
  // No cap without KVM, or for a VHE kernel at EL2.
  for (const off of [{ kvm: false }, { kernelInHypMode: true }, { hypModeAvailable: false }]) {
    const u = arm64MemblockInit({
      ...base,
      vabitsActual: 52,
      configVaBits: 52,
      configPaBits: 52,
      lpa2: true,
      banks,
      image,
      ...off,
    });
    assertEquals([u.linearRegionSize, u.logs], [2 ** 52 - 2 ** 47, []]);
  }
});

Deno.test("a 52-bit build on a 48-bit CPU: memstart_addr moves down by _PAGE_OFFSET(48) - _PAGE_OFFSET(52)", () => {
  const r = arm64MemblockInit({
    ...base,
    configVaBits: 52,
    configPaBits: 52,
    banks: [{ base: 0x4000_0000, size: 4 * GiB }],
    image,
  });
  assertEquals(r.linearMapBase, GiB);
  assertEquals(r.memstartAddr, GiB - (2 ** 52 - 2 ** 48));
  assertEquals(r.linearRegionSize, 2 ** 47);
});

Deno.test("a kernel image above the linear region keeps its RAM: memstart_addr moves up and low RAM goes", () => {
  // 39-bit VAs (256 GiB of linear map), RAM at 1 GiB and at 1 TiB, the image
  // in the high bank: everything up to _end stays, the bottom is removed.
  const r = arm64MemblockInit({
    ...base,
    vabitsActual: 39,
    configVaBits: 39,
    banks: [{ base: GiB, size: 4 * GiB }, { base: TiB, size: 8 * GiB }],
    image: { base: TiB + 2 * MiB, end: TiB + 36 * MiB },
  });
  // Everything above max(memstart + 256 GiB, _end) went first: the high bank is cut at _end.
  assertEquals(r.memory, [{ base: TiB, size: 36 * MiB }]);
  const ms = Math.ceil((TiB + 36 * MiB - 2 ** 38) / GiB) * GiB;
  assertEquals(r.linearMapBase, ms);
  assertEquals(r.removed.map((x) => x.reason), ["linear_map", "below_memstart"]);
  assertEquals(r.removed[1], {
    base: GiB,
    size: 4 * GiB,
    reason: "below_memstart",
    why: r.removed[1]!.why,
  });
});

Deno.test("an image above 1 << PHYS_MASK_SHIFT is flagged: the kernel loses the RAM it runs from", () => {
  const r = arm64MemblockInit({
    ...base,
    banks: [{ base: 2 ** 48, size: 4 * GiB }],
    image: { base: 2 ** 48 + 2 * MiB, end: 2 ** 48 + 40 * MiB },
  });
  assertEquals([r.imageRemoved, r.memory], [true, []]);
});

Deno.test("inconsistent inputs are refused with a RangeError naming them", () => {
  assertThrows(
    () => arm64MemblockInit({ ...base, vabitsActual: 52, banks: [], image }),
    RangeError,
    "CONFIG_ARM64_VA_BITS 48 with vabits_actual 52",
  );
  assertThrows(
    () => arm64MemblockInit({ ...base, lpa2: true, banks: [], image }),
    RangeError,
    "LPA2 on",
  );
  assertThrows(
    () => arm64MemblockInit({ ...base, vabitsActual: 47, banks: [], image }),
    RangeError,
    "vabits_actual 47",
  );
});

// ---------------------------------------------------------------- property

interface Range {
  base: number;
  end: number;
}

/** The kept RAM as a window model: intersections, not an ordered list of removals. */
function windowModel(i: MemblockInitInput): { memory: Range[]; start: number; size: number } {
  const L = linearSize(i);
  const shift = i.configPaBits === 52 && i.lpa2 ? 52 : 48;
  let ranges: Range[] = i.banks.map((b) => ({ base: b.base, end: b.base + b.size }));
  const clip = (lo: number, hi: number) =>
    ranges.map((r) => ({ base: Math.max(r.base, lo), end: Math.min(r.end, hi) })).filter((r) =>
      r.base < r.end
    );
  ranges = clip(0, 2 ** shift);
  const start0 = Math.min(...ranges.map((r) => r.base), Infinity);
  let start = ranges.length === 0 ? 0 : Math.floor(start0 / GiB) * GiB;
  ranges = clip(0, Math.max(start + L, i.image.end));
  const end = Math.max(0, ...ranges.map((r) => r.end));
  if (start + L < end) {
    start = Math.ceil((end - L) / GiB) * GiB;
    ranges = clip(start, Infinity);
  }
  ranges.sort((a, b) => a.base - b.base);
  const merged: Range[] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.end === r.base) last.end = r.end;
    else merged.push({ ...r });
  }
  return { memory: merged, start, size: L };
}

/** linear_region_size by case, as the kernel's headers give it (4 KiB pages, no KASAN). */
function linearSize(i: MemblockInitInput): number {
  if (i.configVaBits === 39) return 2 ** 38; // 2^39 - 2^38
  if (i.vabitsActual === 48) return 2 ** 47; // 2^48 - 2^47
  return 2 ** 51; // 2^52 - 2^47, capped for nVHE KVM
}

Deno.test("property: 5000 random machines, memblock_init against the window model", () => {
  const prng = new Prng(0x5ea1);
  const pick = <T>(xs: readonly T[]): T => xs[prng.int(xs.length)]!;
  const sizes = [4096, 2 * MiB, 64 * MiB, GiB, 3 * GiB, 64 * GiB, TiB, 300 * GiB];
  let cases = 0;
  let removedSome = 0;
  let mergedSome = 0;
  let moved = 0;
  for (let n = 0; n < 5000; n++) {
    const model = cpuModel(pick(CPU_MODEL_NAMES));
    const rel = release(pick(RELEASE_NAMES));
    const paLimit = 2 ** model.features.paBits;
    // 1 to 4 banks, random sizes and gaps (a zero gap: banks that touch).
    const banks: RamBank[] = [];
    let at = pick([0, 0x4000_0000, 0x8000_0000, 2 ** 32, 2 ** 40]) + prng.int(16) * 4096;
    const count = 1 + prng.int(4);
    for (let k = 0; k < count; k++) {
      const size = pick(sizes) + prng.int(4) * pick([4096, 2 * MiB, GiB]);
      banks.push({ base: at, size });
      at += size + pick([0, 0, 4096, GiB, 2 ** 39, 2 ** 44, 2 ** 47]);
    }
    if (banks.some((b) => b.base + b.size > paLimit)) continue; // QEMU refuses it
    const lpa2Build = rel.config.vaBits === 52;
    const vabits = lpa2Build && model.features.lpa2 && prng.int(2) === 0 ? 52 : pick([39, 48]);
    // The image where the loader puts it, or (sometimes) in a random bank.
    const host = prng.int(5) === 0 ? pick(banks) : banks[0]!;
    const imgSize = pick([4 * MiB, 34 * MiB]);
    const img = { base: host.base + 2 * MiB, end: host.base + 2 * MiB + imgSize };
    if (img.end > host.base + host.size) continue; // QEMU cannot load it
    const input: MemblockInitInput = {
      ...base,
      banks,
      image: img,
      vabitsActual: vabits,
      configVaBits: vabits === 39 ? 39 : Math.max(rel.config.vaBits, vabits),
      configPaBits: rel.config.paBits,
      lpa2: vabits === 52,
    };
    const r = arm64MemblockInit(input);
    cases++;
    const where = `case ${n}: ${
      JSON.stringify({ banks, img, vabits, rel: rel.name, cpu: model.name })
    }`;
    // Sorted, disjoint, not touching, page aligned.
    for (let k = 0; k < r.memory.length; k++) {
      const m = r.memory[k]!;
      assert(m.size > 0 && m.base % 4096 === 0 && m.size % 4096 === 0, where);
      const next = r.memory[k + 1];
      if (next !== undefined) assert(m.base + m.size < next.base, `${where}: regions touch`);
    }
    // Inside [memstart, memstart + linear_region_size) and below the PA limit.
    for (const m of r.memory) {
      assert(m.base >= r.linearMapBase, `${where}: below memstart`);
      assert(
        m.base + m.size <= r.linearMapBase + r.linearRegionSize,
        `${where}: past the linear map`,
      );
      assert(m.base + m.size <= 2 ** r.physMaskShift, `${where}: past PHYS_MASK_SHIFT`);
    }
    // The image is never removed, unless it lies above PHYS_MASK_SHIFT (flagged).
    const imgAbove = img.end > 2 ** r.physMaskShift;
    assertEquals(r.imageRemoved, imgAbove, where);
    if (!imgAbove) {
      assert(
        r.memory.some((m) => m.base <= img.base && img.end <= m.base + m.size),
        `${where}: image removed`,
      );
    }
    // What was removed adds up, and each removal is one the messages name.
    const total = (xs: readonly { size: number }[]) => xs.reduce((s, x) => s + x.size, 0);
    assertEquals(total(r.memory) + total(r.removed), total(banks), where);
    for (const x of r.removed) {
      assert(x.why.length > 0, where);
      assert(!r.memory.some((m) => m.base < x.base + x.size && x.base < m.base + m.size), where);
    }
    if (r.removed.some((x) => x.reason === "linear_map")) {
      assert(r.logs.some((l) => l.message.startsWith("Memory doesn't fit")), where);
    }
    // The window model keeps the same RAM.
    const w = windowModel(input);
    assertEquals(
      r.memory.map((m) => ({ base: m.base, end: m.base + m.size })),
      w.memory,
      where,
    );
    assertEquals([r.linearRegionSize, r.linearMapBase], [w.size, w.start], where);
    assertEquals(
      r.merged.length > 0,
      banks.some((b, k) => k > 0 && banks[k - 1]!.base + banks[k - 1]!.size === b.base),
      where,
    );
    if (r.removed.length > 0) removedSome++;
    if (r.merged.length > 0) mergedSome++;
    if (r.removed.some((x) => x.reason === "below_memstart")) moved++;
  }
  // The generator reaches every branch.
  assert(cases > 3000, `${cases} cases`);
  assert(
    removedSome > 100 && mergedSome > 100 && moved > 5,
    `${removedSome} ${mergedSome} ${moved}`,
  );
});
