/**
 * The executor's account of the TLB across an MMU enable: which entries
 * walked from the tables in force before a switch are still usable after
 * SCTLR_EL2.M may have become 1 (barrier rule R4), which walks the PE may
 * have made from the old TTBR0_EL2 while the write of the new one was not
 * yet synchronised (R3), and what of either is still in the TLB when the
 * run ends.
 *
 * @module
 */

import {
  type A64TlbAccount,
  type Cpu,
  type Tlb,
  type TlbEntry,
  type TlbiOp,
  tlbLeafColumns,
  type TlbWalkEntry,
} from "../../core/mod.ts";

/** What a TLBI covers, for the account: every EL2 entry, one VA's, or none (EL1 forms). */
function covers(op: TlbiOp, va: number | undefined, eva: number, esize: number): boolean {
  if (op === "alle2" || op === "alle2is") return true;
  if (op.startsWith("va") && va !== undefined) return va >= eva && va < eva + esize;
  return false;
}

/**
 * The entries live at the enable as rows of numbers, for a TLB with
 * {@link Tlb.leafRows}: first VA, size, table base and the TLB's key of the
 * fill, in visit order; `sorted` holds the keys ascending for
 * {@link TlbAccount.hit}.
 */
class LiveRows {
  n = 0;
  va = new Float64Array(256);
  size = new Float64Array(256);
  base = new Float64Array(256);
  key = new Float64Array(256);
  sorted = new Float64Array(0);

  push(va: number, size: number, base: number, key: number): void {
    if (this.n === this.va.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.va = grow(this.va);
      this.size = grow(this.size);
      this.base = grow(this.base);
      this.key = grow(this.key);
    }
    const i = this.n++;
    this.va[i] = va;
    this.size[i] = size;
    this.base[i] = base;
    this.key[i] = key;
  }

  /** Whether `key` is one of the rows' (after {@link LiveRows.index}). */
  has(key: number): boolean {
    const s = this.sorted;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo < s.length && s[lo] === key;
  }

  /** Sorts the keys for {@link LiveRows.has}. */
  index(): void {
    this.sorted = this.key.slice(0, this.n).sort();
  }

  /**
   * The rows sorted by VA then size, and in the order counted between
   * entries of one VA and size (from two enables), as the object path's
   * stable sort of its set leaves them.
   */
  columns(): A64TlbAccount["atEnable"] {
    const { n, va, size, base } = this;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => va[a]! - va[b]! || size[a]! - size[b]! || a - b);
    const ova = new Float64Array(n);
    const osize = new Float64Array(n);
    const obase = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      const i = order[r]!;
      ova[r] = va[i]!;
      osize[r] = size[i]!;
      obase[r] = base[i]!;
    }
    return { length: n, va: ova, size: osize, base: obase };
  }
}

/** A TLBI the executor has issued and not completed, as the account sees it. */
export interface AccountTlbi {
  /** Operation (the TLB's name for it). */
  readonly op: TlbiOp;
  /** VA operand of the VA forms. */
  readonly va?: number;
  /** Walk-cache entries it removed at its issue. */
  readonly walks?: readonly TlbWalkEntry[];
}

/**
 * Collects an {@link A64TlbAccount} during one run on one CPU. The executor
 * calls it at the points that matter: an `msr` that may set M, a DSB that
 * completes TLBIs, a translated access, a walk from the committed base while
 * a TTBR0_EL2 write is pending, and the end of the run.
 *
 * @example An entry present at a TLBI's issue is live at the MMU enable until the DSB
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu, Trace } from "../../core/mod.ts";
 * import { TlbModel } from "../tlb/mod.ts";
 * import { TlbAccount } from "./tlb_account.ts";
 * const cpu = new Cpu(0);
 * const tlb = new TlbModel("adversarial", new Trace());
 * const e = { regime: "EL2", base: 0x4100_0000, va: 0x8000_0000_0000, size: 4096,
 *   pa: 0x4160_0000, level: 3, pte: 0x4160_0743n, speculative: false } as const;
 * tlb.fill(cpu, e);
 * const a = new TlbAccount(tlb, cpu);
 * a.enable(20, "msr sctlr_el2, x2", [{ op: "alle2" }], () => []);
 * a.hit(tlb.peek(cpu, e.va));
 * a.completed(24, "dsb nsh");
 * tlb.invalidate(cpu, "alle2");
 * const r = a.finish(0x4120_0000n);
 * assertEquals([r.enableLine, r.atEnable.length, r.used, r.completedLine, r.outlived.length],
 *   [20, 1, 1, 24, 0]);
 * ```
 */
export class TlbAccount {
  readonly #tlb: Tlb;
  readonly #cpu: Cpu;
  #enableLine = 0;
  #enableText = "";
  /** The entries live at the enable, as objects (a TLB without {@link Tlb.leafRows}). */
  readonly #atEnable = new Set<TlbEntry>();
  /** The same as rows (a TLB with {@link Tlb.leafRows} and {@link Tlb.keyOf}). */
  readonly #rows = new LiveRows();
  readonly #atEnableWalks = new Set<TlbWalkEntry>();
  #completedLine = 0;
  #completedText = "";
  #used = 0;
  #open = false;
  #oldBaseWalks = 0;
  readonly #oldBaseLines = new Set<number>();

  /**
   * Creates an empty account.
   * @param tlb The TLB the run uses.
   * @param cpu The CPU the run is on.
   */
  constructor(tlb: Tlb, cpu: Cpu) {
    this.#tlb = tlb;
    this.#cpu = cpu;
  }

  /** Whether entries counted at an enable are still awaiting their TLBI's completion. */
  get open(): boolean {
    return this.#open;
  }

  /**
   * An `msr` after which M may be 1 while it was 0: the entries the pending
   * TLBIs cover and had at their issue are live from here.
   * @param line Source line of the `msr`.
   * @param text The instruction.
   * @param pending The TLBIs issued and not completed.
   * @param walkedSince The entries walked after a TLBI's issue (not covered by it).
   */
  enable(
    line: number,
    text: string,
    pending: readonly AccountTlbi[],
    walkedSince: (t: AccountTlbi) => readonly TlbEntry[],
  ): void {
    if (this.#enableLine === 0) {
      this.#enableLine = line;
      this.#enableText = text;
    }
    if (pending.length === 0) return;
    const tlb = this.#tlb;
    const cpu = this.#cpu;
    if (tlb.leafRows !== undefined && tlb.keyOf !== undefined) {
      // v5.13 and v6.1 set M before the DSB of their TLBI: every leaf entry
      // is live here, hundreds of thousands at a large RAM size. Kept as
      // rows and told apart by the TLB's key of the fill (an entry
      // replaced or refilled later is another one), never as objects.
      const since = pending.map((t) => {
        const keys = new Set<number>();
        for (const e of walkedSince(t)) {
          const k = tlb.keyOf!(cpu, e);
          if (k >= 0) keys.add(k);
        }
        return keys;
      });
      const rows = this.#rows;
      // An entry counted at an earlier enable is counted once.
      const again = rows.n > 0;
      tlb.leafRows(cpu, (va, size, base, key) => {
        if (again && rows.has(key)) return;
        for (let i = 0; i < pending.length; i++) {
          const t = pending[i]!;
          if (!since[i]!.has(key) && covers(t.op, t.va, va, size)) {
            rows.push(va, size, base, key);
            return;
          }
        }
      });
      rows.index();
    } else {
      const now = tlb.entries(cpu);
      for (const t of pending) {
        const since = new Set(walkedSince(t));
        for (const e of now) {
          if (!since.has(e) && covers(t.op, t.va, e.va, e.size)) this.#atEnable.add(e);
        }
      }
    }
    for (const t of pending) for (const w of t.walks ?? []) this.#atEnableWalks.add(w);
    this.#open = this.#atEnable.size > 0 || this.#rows.n > 0 || this.#atEnableWalks.size > 0;
  }

  /**
   * A DSB completed every pending TLBI.
   * @param line Its source line.
   * @param text The instruction.
   */
  completed(line: number, text: string): void {
    if (!this.#open) return;
    this.#completedLine = line;
    this.#completedText = text;
    this.#open = false;
  }

  /**
   * A translated access hit this entry (call only while {@link TlbAccount.open}).
   * @param e The entry the TLB returned.
   */
  hit(e: TlbEntry | undefined): void {
    if (e === undefined) return;
    if (this.#rows.n > 0) {
      // The entry's key now: the same only for the very fill live at the enable.
      const k = this.#tlb.keyOf?.(this.#cpu, e) ?? -1;
      if (k >= 0 && this.#rows.has(k)) this.#used++;
    } else if (this.#atEnable.has(e)) this.#used++;
  }

  /**
   * A walk from the committed TTBR0_EL2 filled the TLB while a write of it
   * was pending and M may be 1.
   * @param line Source line of the instruction it followed.
   */
  oldBaseWalk(line: number): void {
    this.#oldBaseWalks++;
    this.#oldBaseLines.add(line);
  }

  /**
   * The account at the end of the run.
   * @param ttbr0 TTBR0_EL2 then (its table base decides what is old).
   * @returns The account.
   */
  finish(ttbr0: bigint): A64TlbAccount {
    // BADDR, as the executor hands it to the walker (bit 0 is CnP).
    const finalBase = Number(ttbr0 & 0x0000_ffff_ffff_fffen);
    const walks = this.#tlb.walkEntries?.(this.#cpu) ?? [];
    return {
      enableLine: this.#enableLine,
      enableText: this.#enableText,
      atEnable: this.#rows.n > 0
        ? this.#rows.columns()
        : tlbLeafColumns([...this.#atEnable].sort((a, b) => a.va - b.va || a.size - b.size)),
      atEnableWalks: [...this.#atEnableWalks].sort((a, b) => a.va - b.va || a.level - b.level),
      completedLine: this.#completedLine,
      completedText: this.#completedText,
      used: this.#used,
      oldBaseWalks: this.#oldBaseWalks,
      oldBaseLines: [...this.#oldBaseLines].sort((a, b) => a - b),
      finalBase,
      outlived: this.#tlb.entries(this.#cpu).filter((e) => e.base !== finalBase),
      outlivedWalks: walks.filter((w) => w.base !== finalBase),
    };
  }
}
