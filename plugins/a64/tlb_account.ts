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

import type { A64TlbAccount, Cpu, Tlb, TlbEntry, TlbiOp, TlbWalkEntry } from "../../core/mod.ts";

/** What a TLBI covers, for the account: every EL2 entry, one VA's, or none (EL1 forms). */
function covers(op: TlbiOp, va: number | undefined, e: TlbEntry): boolean {
  if (op === "alle2" || op === "alle2is") return true;
  if (op.startsWith("va") && va !== undefined) return va >= e.va && va < e.va + e.size;
  return false;
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
  readonly #atEnable = new Set<TlbEntry>();
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
    const now = this.#tlb.entries(this.#cpu);
    for (const t of pending) {
      const since = new Set(walkedSince(t));
      for (const e of now) if (!since.has(e) && covers(t.op, t.va, e)) this.#atEnable.add(e);
      for (const w of t.walks ?? []) this.#atEnableWalks.add(w);
    }
    this.#open = this.#atEnable.size > 0 || this.#atEnableWalks.size > 0;
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
    if (e !== undefined && this.#atEnable.has(e)) this.#used++;
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
      atEnable: [...this.#atEnable].sort((a, b) => a.va - b.va || a.size - b.size),
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
