/**
 * `arm64_memblock_init()` (`arch/arm64/mm/init.c`): what the host kernel
 * keeps of the RAM the firmware describes, before anything is allocated.
 * The logic is the same in 6.1, 6.12 and 7.2 (and v5.13); step by step, in
 * the kernel's order:
 *
 * 1. every RAM bank is `memblock_add()`ed (`early_init_dt_add_memory_arch`
 *    for each DT `/memory` range); `memblock_merge_regions()` makes banks
 *    that touch one region, and the number of regions matters later
 *    (`__hyp_pgtable_total_pages()` rounds each region up separately);
 * 2. with KVM, 52-bit VAs and a kernel at EL1 (nVHE or hVHE: the kernel of
 *    protected KVM never runs at EL2), the linear region is capped at 2^51
 *    bytes ("Capping linear region to 51 bits ...");
 * 3. `memblock_remove(1 << PHYS_MASK_SHIFT, ULLONG_MAX)`: RAM above the
 *    kernel's physical address size goes, silently;
 * 4. `memstart_addr = round_down(memblock_start_of_DRAM(), ARM64_MEMSTART_ALIGN)`;
 * 5. "Memory doesn't fit in the linear mapping, VA_BITS too small" when
 *    `memblock_end_of_DRAM() - memstart_addr > linear_region_size`, and
 *    everything above `max(memstart_addr + linear_region_size, __pa(_end))`
 *    is removed (never the kernel image);
 * 6. if the image kept RAM above the linear region's end, `memstart_addr`
 *    moves up to `round_up(memblock_end_of_DRAM() - linear_region_size)` and
 *    the RAM below it is removed;
 * 7. a 52-bit VA build on a CPU that gives 48 bits subtracts
 *    `_PAGE_OFFSET(vabits_actual) - _PAGE_OFFSET(52)` from `memstart_addr`
 *    (the linear map then starts at `_PAGE_OFFSET(48)`).
 *
 * Not modelled: `mem=` (`memory_limit`), an initrd, and the linear-region
 * randomisation of `CONFIG_RANDOMIZE_BASE` (`memstart_offset_seed`, 0 under
 * `nokaslr`, as the oracle boots).
 *
 * @module
 */

import { formatSize, hex, type MemblockRegion, type RamBank } from "../../core/mod.ts";

/**
 * `ARM64_MEMSTART_ALIGN` with 4 KiB pages: `1 << PUD_SHIFT` (1 GiB), which
 * is above `SECTION_SIZE_BITS` (27) in 6.1, 6.12 and 7.2 (v5.13 has the
 * same 1 GiB).
 */
export const ARM64_MEMSTART_ALIGN = 2 ** 30;

/** The kernel's `pr_info` / `pr_warn` lines, as the trace logs them. */
export interface KernelLogLine {
  /** `info` for `pr_info`, `warn` for `pr_warn`. */
  readonly level: "info" | "warn";
  /** The message, without its newline. */
  readonly message: string;
}

/** Why `arm64_memblock_init()` removed a range. */
export type MemblockRemoval =
  /** Above `1 << PHYS_MASK_SHIFT`: no kernel message. */
  | "phys_mask"
  /** Above the linear region (after "Memory doesn't fit in the linear mapping"). */
  | "linear_map"
  /** Below `memstart_addr` moved up for a kernel image high in memory: no message. */
  | "below_memstart";

/** A range of RAM `arm64_memblock_init()` removed from `memblock.memory`. */
export interface RemovedMemory {
  /** First byte. */
  readonly base: number;
  /** Bytes. */
  readonly size: number;
  /** Which removal took it. */
  readonly reason: MemblockRemoval;
  /** The reason in words, naming the limit. */
  readonly why: string;
}

/** What `arm64_memblock_init()` depends on, each an explicit input. */
export interface MemblockInitInput {
  /** RAM banks as the firmware describes them, in any order, disjoint. */
  readonly banks: readonly RamBank[];
  /** The kernel image `[_text, _end)` as PAs. */
  readonly image: { readonly base: number; readonly end: number };
  /** `vabits_actual`: 39, 48, or 52 (FEAT_LPA2 on a 52-bit build). */
  readonly vabitsActual: number;
  /** `CONFIG_ARM64_VA_BITS`: 39, 48 or 52 (at least `vabitsActual`). */
  readonly configVaBits: number;
  /** `CONFIG_ARM64_PA_BITS`: 48, or 52 (with LPA2 on 4 KiB pages). */
  readonly configPaBits: number;
  /** `lpa2_is_enabled()` (TCR_EL1.DS): with 4 KiB pages, whenever `vabits_actual` is 52. */
  readonly lpa2: boolean;
  /** `IS_ENABLED(CONFIG_KVM)`. */
  readonly kvm: boolean;
  /** `is_hyp_mode_available()`: the CPUs entered the kernel at EL2. */
  readonly hypModeAvailable: boolean;
  /** `is_kernel_in_hyp_mode()`: a VHE kernel at EL2 (never with protected KVM). */
  readonly kernelInHypMode: boolean;
}

/** `memblock.memory` and the linear-map parameters after `arm64_memblock_init()`. */
export interface MemblockInitResult {
  /** `memblock.memory`: sorted, disjoint, touching regions merged. */
  readonly memory: MemblockRegion[];
  /** What was removed, in the order the kernel removed it. */
  readonly removed: RemovedMemory[];
  /** Pairs of banks that touch and became one region (their shared boundary). */
  readonly merged: number[];
  /** `memstart_addr` (`PHYS_OFFSET`) as the kernel leaves it; negative after step 7. */
  readonly memstartAddr: number;
  /** The PA at `_PAGE_OFFSET(vabits_actual)`: `memstart_addr` before step 7. */
  readonly linearMapBase: number;
  /** `linear_region_size` (after the 51-bit cap). */
  readonly linearRegionSize: number;
  /** `PHYS_MASK_SHIFT`. */
  readonly physMaskShift: number;
  /** The kernel's own lines, in order. */
  readonly logs: KernelLogLine[];
  /**
   * True when step 3 removed RAM under the kernel image (an image above
   * `1 << PHYS_MASK_SHIFT`): the kernel runs from memory it no longer has.
   */
  readonly imageRemoved: boolean;
}

/** `memblock_add()`: inserts `[base, end)` and merges regions that touch. */
function memblockAdd(regions: MemblockRegion[], base: number, end: number): void {
  if (end <= base) return;
  regions.push({ base, size: end - base });
  regions.sort((a, b) => a.base - b.base);
  // memblock_merge_regions(): neighbours that touch (same node and flags) become one.
  for (let i = 0; i + 1 < regions.length;) {
    const a = regions[i]!;
    const b = regions[i + 1]!;
    if (a.base + a.size >= b.base) {
      regions.splice(i, 2, {
        base: a.base,
        size: Math.max(a.base + a.size, b.base + b.size) - a.base,
      });
    } else i++;
  }
}

/** `memblock_remove(base, end - base)`: the parts of `[base, end)` that were RAM. */
function memblockRemove(regions: MemblockRegion[], base: number, end: number): RamBank[] {
  const gone: RamBank[] = [];
  const kept: MemblockRegion[] = [];
  for (const r of regions) {
    const rEnd = r.base + r.size;
    const lo = Math.max(r.base, base);
    const hi = Math.min(rEnd, end);
    if (lo >= hi) {
      kept.push(r);
      continue;
    }
    gone.push({ base: lo, size: hi - lo });
    if (r.base < lo) kept.push({ base: r.base, size: lo - r.base });
    if (hi < rEnd) kept.push({ base: hi, size: rEnd - hi });
  }
  regions.splice(0, regions.length, ...kept);
  return gone;
}

const roundDown = (v: number, a: number) => Math.floor(v / a) * a;
const roundUp = (v: number, a: number) => Math.ceil(v / a) * a;

function checkInput(i: MemblockInitInput): void {
  const bad = (what: string) => {
    throw new RangeError(`Cannot run arm64_memblock_init: ${what}`);
  };
  if (![39, 48, 52].includes(i.vabitsActual)) {
    bad(`vabits_actual ${i.vabitsActual} (4 KiB pages give 39, 48, or 52 with LPA2)`);
  }
  if (![39, 48, 52].includes(i.configVaBits) || i.configVaBits < i.vabitsActual) {
    bad(`CONFIG_ARM64_VA_BITS ${i.configVaBits} with vabits_actual ${i.vabitsActual}`);
  }
  if (i.configPaBits !== 48 && i.configPaBits !== 52) {
    bad(`CONFIG_ARM64_PA_BITS ${i.configPaBits} (48 or 52)`);
  }
  if ((i.vabitsActual === 52) !== i.lpa2) {
    bad(
      `vabits_actual ${i.vabitsActual} with LPA2 ${
        i.lpa2 ? "on" : "off"
      }: with 4 KiB pages they go together`,
    );
  }
  if (i.lpa2 && i.configPaBits !== 52) bad("LPA2 on a build with 48-bit physical addresses");
  if (!(i.image.base < i.image.end)) {
    bad(`kernel image [${hex(i.image.base)}, ${hex(i.image.end)})`);
  }
}

/**
 * `arm64_memblock_init()` over a machine's RAM banks: a pure function of its
 * inputs, following the kernel's order (see the module documentation).
 *
 * @param input The banks, the image, and the VA/PA configuration.
 * @returns `memblock.memory`, what was removed and why, `memstart_addr`,
 *   and the kernel's log lines.
 * @throws {RangeError} Inconsistent inputs (VA bits the configuration cannot
 *   give, LPA2 without 52-bit VAs, an empty image); never for a bank layout.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { arm64MemblockInit } from "./memblock_init.ts";
 * // 39-bit VAs cover 256 GiB from PHYS_OFFSET: the bank at 512 GiB goes.
 * const r = arm64MemblockInit({
 *   banks: [{ base: 0x4000_0000, size: 2 ** 30 }, { base: 2 ** 39, size: 2 ** 30 }],
 *   image: { base: 0x4020_0000, end: 0x4240_0000 },
 *   vabitsActual: 39, configVaBits: 39, configPaBits: 48, lpa2: false,
 *   kvm: true, hypModeAvailable: true, kernelInHypMode: false,
 * });
 * assertEquals(r.memory, [{ base: 0x4000_0000, size: 2 ** 30 }]);
 * assertEquals(r.removed.map((x) => [x.base, x.reason]), [[2 ** 39, "linear_map"]]);
 * assertEquals(r.logs[0]!.message, "Memory doesn't fit in the linear mapping, VA_BITS too small");
 * // Two banks that touch are one memblock region.
 * const m = arm64MemblockInit({
 *   banks: [{ base: 0x4000_0000, size: 2 ** 26 }, { base: 0x4400_0000, size: 2 ** 32 }],
 *   image: { base: 0x4020_0000, end: 0x4240_0000 },
 *   vabitsActual: 48, configVaBits: 48, configPaBits: 48, lpa2: false,
 *   kvm: true, hypModeAvailable: true, kernelInHypMode: false,
 * });
 * assertEquals(m.memory, [{ base: 0x4000_0000, size: 2 ** 26 + 2 ** 32 }]);
 * assertEquals(m.merged, [0x4400_0000]);
 * ```
 */
export function arm64MemblockInit(input: MemblockInitInput): MemblockInitResult {
  checkInput(input);
  const logs: KernelLogLine[] = [];
  const removed: RemovedMemory[] = [];
  const memory: MemblockRegion[] = [];
  const merged: number[] = [];
  const sorted = [...input.banks].sort((a, b) => a.base - b.base);
  for (let i = 0; i < sorted.length; i++) {
    const b = sorted[i]!;
    const prev = sorted[i - 1];
    if (prev !== undefined && prev.base + prev.size === b.base) merged.push(b.base);
    memblockAdd(memory, b.base, b.base + b.size);
  }
  const endOfDram = () => {
    const last = memory[memory.length - 1];
    return last === undefined ? 0 : last.base + last.size;
  };
  // memblock_start_of_DRAM(): regions[0].base, 0 for an empty memblock.
  const startOfDram = () => memory[0]?.base ?? 0;
  const remove = (base: number, end: number, reason: MemblockRemoval, why: string) => {
    for (const g of memblockRemove(memory, base, end)) removed.push({ ...g, reason, why });
  };

  // PAGE_END - _PAGE_OFFSET(vabits_actual), PAGE_END = _PAGE_END(VA_BITS_MIN)
  // (no KASAN in the builds followed), VA_BITS_MIN = min(VA_BITS, 48).
  const vaBitsMin = Math.min(input.configVaBits, 48);
  let linearRegionSize = 2 ** input.vabitsActual - 2 ** (vaBitsMin - 1);
  if (
    input.kvm && input.vabitsActual === 52 && input.hypModeAvailable && !input.kernelInHypMode
  ) {
    logs.push({
      level: "info",
      message: "Capping linear region to 51 bits for KVM in nVHE mode on LVA capable hardware.",
    });
    linearRegionSize = Math.min(linearRegionSize, 2 ** 51);
  }

  // 6.12/7.2 pgtable-prot.h: with CONFIG_ARM64_LPA2 (a 52-bit PA build on
  // 4 KiB pages), PHYS_MASK_SHIFT is 52 only once LPA2 is enabled.
  const physMaskShift = input.configPaBits === 52 ? (input.lpa2 ? 52 : 48) : input.configPaBits;
  const physLimit = 2 ** physMaskShift;
  remove(
    physLimit,
    Infinity,
    "phys_mask",
    `above 1 << PHYS_MASK_SHIFT (${hex(physLimit)}): the kernel handles ${physMaskShift}-bit ` +
      `physical addresses${
        input.configPaBits === 52 && !input.lpa2
          ? " (CONFIG_ARM64_PA_BITS=52 needs LPA2, off on this CPU)"
          : ""
      }`,
  );
  const imageRemoved = removed.some((r) =>
    r.base < input.image.end && input.image.base < r.base + r.size
  );

  let memstart = roundDown(startOfDram(), ARM64_MEMSTART_ALIGN);
  if (endOfDram() - memstart > linearRegionSize) {
    logs.push({
      level: "warn",
      message: "Memory doesn't fit in the linear mapping, VA_BITS too small",
    });
  }
  const top = Math.max(memstart + linearRegionSize, input.image.end);
  remove(
    top,
    Infinity,
    "linear_map",
    `above ${hex(top)}: the ${input.vabitsActual}-bit linear map covers ${
      formatSize(linearRegionSize)
    } from PHYS_OFFSET ${
      hex(memstart)
    } ("Memory doesn't fit in the linear mapping, VA_BITS too small")`,
  );
  if (memstart + linearRegionSize < endOfDram()) {
    // "ensure that memstart_addr remains sufficiently aligned"
    memstart = roundUp(endOfDram() - linearRegionSize, ARM64_MEMSTART_ALIGN);
    remove(
      0,
      memstart,
      "below_memstart",
      `below ${hex(memstart)}: the kernel image ends at ${
        hex(input.image.end)
      }, above the linear region, so memstart_addr moves up to keep it mapped`,
    );
  }
  const linearMapBase = memstart;
  // A 52-bit VA build on a 48-bit CPU: the linear map starts at _PAGE_OFFSET(48).
  if (input.configVaBits === 52 && input.vabitsActual !== 52) {
    memstart -= 2 ** 52 - 2 ** input.vabitsActual;
  }
  return {
    memory,
    removed,
    merged,
    memstartAddr: memstart,
    linearMapBase,
    linearRegionSize,
    physMaskShift,
    logs,
    imageRemoved,
  };
}

/**
 * One line for a report: each removed range with its size and reason.
 *
 * @param removed What {@link arm64MemblockInit} removed.
 * @returns The text, or an empty string when nothing was removed.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { describeRemovedMemory } from "./memblock_init.ts";
 * assertEquals(describeRemovedMemory([]), "");
 * assertEquals(
 *   describeRemovedMemory([{ base: 2 ** 39, size: 2 ** 30, reason: "linear_map", why: "above 0x4000000000" }]),
 *   "arm64_memblock_init removed 1 GiB of RAM: [0x8000000000, 0x8040000000) above 0x4000000000",
 * );
 * ```
 */
export function describeRemovedMemory(removed: readonly RemovedMemory[]): string {
  if (removed.length === 0) return "";
  const total = removed.reduce((n, r) => n + r.size, 0);
  return `arm64_memblock_init removed ${formatSize(total)} of RAM: ${
    removed.map((r) => `[${hex(r.base)}, ${hex(r.base + r.size)}) ${r.why}`).join("; ")
  }`;
}
