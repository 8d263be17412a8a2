/**
 * An approximation of the memblock allocations an arm64 kernel has made by
 * the time `kvm_hyp_reserve()` runs, for a machine described by flags alone
 * (boot.ts). A real boot's state comes from its `memblock=debug` console log
 * instead (the oracle's inputs); this is what stands in for it.
 *
 * Measured on Debian's 6.1 and 6.12 kernels under QEMU's `virt` machine
 * (`-kernel`, no initrd), the state has, besides the kernel image:
 *
 * - the flattened device tree QEMU placed at RAM base + min(RAM / 2, 128
 *   MiB), 1 MiB (`early_init_fdt_reserve_self()`);
 * - at the top of memory, allocated top-down, the page tables of the linear
 *   map: `map_mem()` maps every page with its own PTE under
 *   `rodata_full` (`can_set_direct_map()`), so one PTE table per 2 MiB, one
 *   PMD table per 1 GiB, and two more pages (a PUD and the kernel mapping's
 *   spare); then the unflattened device tree (`unflatten_device_tree()`,
 *   about 44 KiB) and `NODE_DATA` (about 12 KiB) just below them.
 *
 * The real numbers vary by a few pages between releases (6.12 maps the
 * kernel image's linear alias apart, so it needs about 15 PTE tables fewer)
 * and with the device tree's size; the pool, carved top-down at 2 MiB
 * alignment below them, usually lands where the real one does.
 *
 * @module
 */

import type { MemblockRegion, RamBank } from "../../core/mod.ts";

const PAGE = 4096;
const MiB = 2 ** 20;
const GiB = 2 ** 30;
/** The unflattened device tree and NODE_DATA, rounded up to pages. */
const DT_AND_NODE_DATA = 64 * 1024;

/**
 * The approximate `memblock.reserved` at `kvm_hyp_reserve()` time, besides
 * the kernel image.
 *
 * @param memory `memblock.memory`, sorted.
 * @returns The regions, sorted by base.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { earlyMemblockReserved } from "./early_memblock.ts";
 * const r = earlyMemblockReserved([{ base: 0x4000_0000, size: 2 ** 32 }]);
 * // The DTB, then 2048 + 4 + 2 page-table pages and 64 KiB below the top.
 * assertEquals(r, [
 *   { base: 0x4800_0000, size: 0x10_0000 },
 *   { base: 0x1_3f7e_a000, size: 0x81_6000 },
 * ]);
 * ```
 */
export function earlyMemblockReserved(memory: readonly RamBank[]): MemblockRegion[] {
  if (memory.length === 0) return [];
  const total = memory.reduce((n, r) => n + r.size, 0);
  const first = memory[0]!;
  const last = memory[memory.length - 1]!;
  const out: MemblockRegion[] = [];
  const dtb = first.base + Math.min(Math.floor(total / 2 / (2 * MiB)) * 2 * MiB, 128 * MiB);
  if (dtb + MiB <= first.base + first.size) out.push({ base: dtb, size: MiB });
  const pages = Math.ceil(total / (2 * MiB)) + Math.ceil(total / GiB) + 2;
  const size = pages * PAGE + DT_AND_NODE_DATA;
  const top = last.base + last.size;
  if (size < last.size / 2) out.push({ base: top - size, size });
  return out;
}
