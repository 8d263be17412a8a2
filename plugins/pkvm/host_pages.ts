/**
 * The host kernel's page allocator as far as the boot needs it
 * (`__get_free_page`, `alloc_pages(order)`, `free_pages`): naturally
 * aligned blocks of free RAM, handed out from the top of memory down,
 * skipping everything memblock reserved (the kernel image, the hyp pool).
 *
 * The host runs with its own EL1 stage 1, which is not modelled: the host
 * side writes physical memory directly, and a kernel linear VA is
 * represented by its PA where a number is needed.
 *
 * @module
 */

import { hex, type MemblockRegion } from "../../core/mod.ts";

const PAGE = 4096;

/** A simple top-down block allocator over free memblock ranges. */
export class HostPages {
  #free: MemblockRegion[];
  #freed: Map<number, number[]> = new Map();
  #live = new Map<number, number>();

  /**
   * Creates the allocator.
   * @param memory `memblock.memory`.
   * @param reserved `memblock.reserved` (after the hyp pool was carved).
   */
  constructor(memory: readonly MemblockRegion[], reserved: readonly MemblockRegion[]) {
    // Free ranges = memory minus reserved, page-aligned inwards.
    const free: MemblockRegion[] = [];
    const res = [...reserved].sort((a, b) => a.base - b.base);
    for (const m of memory) {
      let cur = m.base;
      const end = m.base + m.size;
      for (const r of res) {
        if (r.base + r.size <= cur || r.base >= end) continue;
        if (r.base > cur) free.push({ base: cur, size: r.base - cur });
        cur = Math.max(cur, r.base + r.size);
      }
      if (cur < end) free.push({ base: cur, size: end - cur });
    }
    this.#free = free
      .map((r) => {
        const b = Math.ceil(r.base / PAGE) * PAGE;
        const e = Math.floor((r.base + r.size) / PAGE) * PAGE;
        return { base: b, size: e - b };
      })
      .filter((r) => r.size > 0);
  }

  /**
   * `alloc_pages(GFP_KERNEL, order)`: a block of 2^order pages aligned to its size.
   * @param order Block order.
   * @returns The block's PA, or null when no free range holds one.
   */
  allocPages(order: number): number | null {
    const size = PAGE * 2 ** order;
    const reuse = this.#freed.get(order);
    if (reuse !== undefined && reuse.length > 0) {
      const pa = reuse.pop()!;
      this.#live.set(pa, order);
      return pa;
    }
    for (let i = this.#free.length - 1; i >= 0; i--) {
      const r = this.#free[i]!;
      const top = Math.floor((r.base + r.size) / size) * size - size;
      if (top < r.base) continue;
      // Take the block from the top; keep what lies above it for later.
      const above = r.base + r.size - (top + size);
      const below = top - r.base;
      const parts: MemblockRegion[] = [];
      if (below > 0) parts.push({ base: r.base, size: below });
      if (above > 0) parts.push({ base: top + size, size: above });
      this.#free.splice(i, 1, ...parts);
      this.#live.set(top, order);
      return top;
    }
    return null;
  }

  /**
   * `free_pages(pa, order)`.
   * @param pa Block PA returned by {@link HostPages.allocPages}.
   * @throws {RangeError} Not a live block.
   */
  freePages(pa: number): void {
    const order = this.#live.get(pa);
    if (order === undefined) {
      throw new RangeError(`Cannot free host pages at ${hex(pa)}: not an allocated block`);
    }
    this.#live.delete(pa);
    const list = this.#freed.get(order) ?? [];
    list.push(pa);
    this.#freed.set(order, list);
  }

  /** Number of live blocks. */
  get liveBlocks(): number {
    return this.#live.size;
  }
}
