/**
 * A deliberately naive re-statement of page_alloc.c (v5.13 and mainline) on
 * plain arrays, written from the kernel text independently of the plugin:
 * init attaches pages one by one, lists are arrays (push = list_add_tail,
 * shift = first entry), orders use -1 for HYP_NO_ORDER. The tests compare
 * the plugin against it operation by operation.
 *
 * hyp_pool_init's `nr_pages << PAGE_SHIFT` is an unsigned int: range_end and
 * max_order come from `nr_pages % 2^20` pages. __find_buddy_nocheck refuses
 * buddies at or above range_end; 6.12 and 7.2 also skip coalescing for a
 * page there (7.2 at order 0).
 */
import { type BuddyVersion, hypPageLayout } from "../../../plugins/buddy_allocator/mod.ts";

export class ReferencePool {
  readonly ref: number[];
  readonly ord: number[];
  readonly lists: number[][] = Array.from({ length: 11 }, () => []);
  readonly maxOrder: number;
  readonly v513: boolean;
  readonly inclusive: boolean;
  /** range_end as a page index. */
  readonly end: number;
  readonly skipOutOfRange: boolean;
  readonly forceOrder0: boolean;

  constructor(
    version: BuddyVersion,
    readonly pfn: number,
    readonly nr: number,
    reserved: number,
  ) {
    // The release's rules: MAX_ORDER 11 or MAX_PAGE_ORDER 10, 6.1's
    // get_order(nr + 1), exclusive (< max_order) or inclusive (<=).
    const l = hypPageLayout(version);
    this.v513 = l.nodeOffset >= 0;
    this.inclusive = l.inclusiveMaxOrder;
    this.skipOutOfRange = l.attachSkipsOutOfRange;
    this.forceOrder0 = l.externalPages === "order-0";
    const cap = l.maxOrderCap;
    // The shift keeps the low 20 bits of the page count (32-bit bytes).
    const n = (l.maxOrderPlusOne ? nr + 1 : nr) % 2 ** 20;
    let getOrder = n === 0 ? 52 : 0; // get_order(0) is 52
    while (n > 0 && 2 ** getOrder < n) getOrder++;
    this.maxOrder = Math.min(cap, getOrder);
    this.end = nr % 2 ** 20;
    if (!this.inclusive && this.maxOrder === 0 && reserved < nr) {
      throw new Error("reference: free_area[0] is never initialised (NULL)");
    }
    this.ord = new Array(nr).fill(0);
    if (this.v513) {
      // memset(vmemmap), then __hyp_attach_page for each free page.
      this.ref = new Array(nr).fill(0);
      for (let i = reserved; i < nr; i++) this.#attach(i);
    } else {
      // hyp_set_page_refcounted on all, then __hyp_put_page on the free ones.
      this.ref = new Array(nr).fill(1);
      for (let i = reserved; i < nr; i++) this.put(i);
    }
  }

  #canMergeAbove(order: number): boolean {
    return this.inclusive ? order + 1 <= this.maxOrder : order + 1 < this.maxOrder;
  }

  #listed(i: number): boolean {
    return this.lists.some((l) => l.includes(i));
  }

  #buddy(i: number, order: number): number | null {
    const b = ((this.pfn + i) ^ (1 << order)) - this.pfn; // pfns stay below 2^31 here
    return b < 0 || b >= this.end ? null : b;
  }

  #attach(i: number): void {
    let order = this.ord[i]!;
    let p = i;
    if (i >= this.end && this.skipOutOfRange) {
      if (this.forceOrder0) order = 0;
      this.ord[i] = order;
      this.lists[order]!.push(i);
      return;
    }
    this.ord[p] = -1;
    for (; this.#canMergeAbove(order); order++) {
      const b = this.#buddy(p, order);
      if (b === null || this.ord[b] !== order) break;
      if (this.v513 ? !this.#listed(b) : this.ref[b] !== 0) break;
      const l = this.lists[order]!;
      l.splice(l.indexOf(b), 1);
      this.ord[b] = -1;
      p = Math.min(p, b);
    }
    this.ord[p] = order;
    this.lists[order]!.push(p);
  }

  alloc(order: number): number | null {
    const top = this.inclusive ? this.maxOrder : this.maxOrder - 1;
    let i = order;
    while (i <= top && this.lists[i]!.length === 0) i++;
    if (i > top) return null;
    const head = this.lists[i]![0]!;
    // Splitting at EL2 would dereference the NULL buddy: refused first.
    if (i > order && this.#buddy(head, i - 1) === null) {
      throw new Error("reference: __find_buddy_nocheck returned NULL");
    }
    const p = this.lists[i]!.shift()!;
    while (this.ord[p]! > order) {
      this.ord[p]!--;
      const b = this.#buddy(p, this.ord[p]!)!;
      this.ord[b] = this.ord[p]!;
      this.lists[this.ord[b]!]!.push(b);
    }
    if (this.ref[p] !== 0) throw new Error("reference: set_page_refcounted on a referenced page");
    this.ref[p] = 1;
    return p;
  }

  get(i: number): void {
    this.ref[i]!++;
  }

  put(i: number): void {
    if (this.ref[i] === 0) throw new Error("reference: put at 0");
    if (--this.ref[i]! === 0) this.#attach(i);
  }

  split(i: number): void {
    const order = this.ord[i]!;
    this.ord[i] = 0;
    for (let t = 1; t < 1 << order; t++) {
      this.ord[i + t] = 0;
      this.ref[i + t] = 1;
    }
  }

  free(): number {
    return this.lists.reduce((s, l, o) => s + l.length * 2 ** o, 0);
  }
}
