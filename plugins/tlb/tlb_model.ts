/**
 * The TLB model: per-CPU EL2 entries, TLBI operations, the two policies and
 * the counters.
 *
 * @module
 */

import {
  type Cpu,
  hex,
  LEAF,
  sizeClass,
  type Tlb,
  type TlbEntry,
  type TlbiOp,
  type TlbiTtl,
  type TlbStats,
  type TlbWalkEntry,
  type Trace,
} from "../../core/mod.ts";
import { CpuTlb, TLB_ENTRY_SIZES, WALK_ENTRY_SIZES } from "./cpu_tlb.ts";
import type { LeafStore } from "./leaf_store.ts";

/** TLB policy: what the architecture allows, or what QEMU does. */
export type TlbPolicy = "adversarial" | "optimistic";

/**
 * What each TLBI does here: by VA, broadcast, whether it targets EL2
 * entries, and whether it is a leaf-only (`vale2`) form, which leaves the
 * walk cache alone.
 */
const TLBI_OPS: ReadonlyMap<string, { byVa: boolean; is: boolean; el2: boolean; leaf: boolean }> =
  new Map([
    ["alle2", { byVa: false, is: false, el2: true, leaf: false }],
    ["alle2is", { byVa: false, is: true, el2: true, leaf: false }],
    ["vae2", { byVa: true, is: false, el2: true, leaf: false }],
    ["vae2is", { byVa: true, is: true, el2: true, leaf: false }],
    ["vale2", { byVa: true, is: false, el2: true, leaf: true }],
    ["vale2is", { byVa: true, is: true, el2: true, leaf: true }],
    // EL1&0-regime operations: this TLB holds only EL2 entries.
    ["alle1", { byVa: false, is: false, el2: false, leaf: false }],
    ["alle1is", { byVa: false, is: true, el2: false, leaf: false }],
    ["vmalle1", { byVa: false, is: false, el2: false, leaf: false }],
    ["vmalle1is", { byVa: false, is: true, el2: false, leaf: false }],
  ]);

/**
 * The {@link Tlb} implementation behind the `tlb()` plugin.
 *
 * - adversarial: an entry stays until a TLBI removes it; speculative fills
 *   ({@link TlbModel.prefetch}) are kept; a TLBI with a level hint removes
 *   only the entries of that level (the architecture does not promise more).
 *   It also keeps a walk cache ({@link TlbModel.fillWalk}): table
 *   descriptors that only `alle2*` and `vae2*` remove — `vae2*` hinted with
 *   level L only those above L — and that the leaf-only `vale2*` forms keep,
 *   so a freed table followed by `tlbi vale2is` stays reachable.
 * - optimistic: like QEMU's softmmu TLB — flushed when SCTLR_EL2 changes or
 *   TTBR0_EL2 or TCR_EL2 is written, never filled speculatively, level
 *   hints ignored. In QEMU (qemu/qemu `target/arm/helper.c`, a 2025 tree):
 *   `sctlr_write` flushes when the value changes; TCR_EL2's writefn is
 *   `vmsa_tcr_el12_write`, which flushes on every write (a 2023 patch to
 *   flush only the EL2&0 regime, "target/arm: Flush only required tlbs for
 *   TCR_EL[12]", is not in that tree); `vmsa_tcr_ttbr_el2_write` flushes on
 *   a TTBR0_EL2 write only when HCR_EL2.E2H = 1 and the ASID changes — the
 *   flush on any TTBR write is the more forgiving behaviour the optimistic
 *   policy stands for; MAIR_EL2 has no writefn, so no flush.
 *
 * Every entry is kept until a TLBI (or the optimistic policy's flush)
 * removes it — no eviction, so no stale finding depends on one. They are
 * kept as 48-byte rows of typed arrays ({@link LeafStore}), found through
 * buckets of 64 neighbouring pages (about 4 bytes an entry more where the
 * hyp's mappings are dense, at most a 256-byte bucket for a lone entry), so
 * memory follows the live entries (at most the pages the hyp maps, per
 * CPU), not the accesses made; the rows of ids freed by a TLBI are reused,
 * not given back; the MMU fills and hits them by id without an
 * object ({@link TlbModel.fillLeaf}, {@link TlbModel.lookupId}).
 *
 * Both hold EL2 entries only, whichever EL2 regime filled them. Under
 * HCR_EL2.E2H = 1 (pKVM's hVHE) the EL2&0 regime would tag non-global
 * entries (nG = 1) with TTBR0_EL2's ASID; pKVM's hyp leaves are all global
 * and its ASID is 0, so no ASID is kept. A change of E2H comes with
 * `tlbi alle2` in the kernel (`___kvm_hyp_init`), so entries of the other
 * regime are never looked up here.
 *
 * @example A stale entry survives until `tlbi vae2`
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu, Trace } from "../../core/mod.ts";
 * import { TlbModel } from "./tlb_model.ts";
 * const tlb = new TlbModel("adversarial", new Trace());
 * const cpu = new Cpu(0);
 * tlb.fill(cpu, { regime: "EL2", base: 0x4000_0000, va: 0x1000, size: 4096, pa: 0x4100_0000,
 *   level: 3, pte: 0x0040000041000743n, speculative: false });
 * tlb.onSysregWrite(cpu, "TTBR0_EL2", 0x4800_0000n);
 * assertEquals(tlb.lookup(cpu, 0x1234)?.pa, 0x4100_0000);
 * assertEquals(tlb.invalidate(cpu, "vae2", 0x1000), 1);
 * assertEquals(tlb.lookup(cpu, 0x1234), undefined);
 * assertEquals(tlb.stats(), { hits: 1, misses: 1, fills: 1, invalidated: 1, stale: 0 });
 * ```
 */
export class TlbModel implements Tlb {
  /** The policy. */
  readonly policy: TlbPolicy;
  #trace: Trace;
  #cpus: (CpuTlb | undefined)[] = [];
  #hits = 0;
  #misses = 0;
  #fills = 0;
  #invalidated = 0;
  #stale = 0;

  /**
   * Creates an empty TLB.
   * @param policy `adversarial` or `optimistic`.
   * @param trace Trace for `tlb_fill` / `tlb_invalidate` events.
   */
  constructor(policy: TlbPolicy, trace: Trace) {
    if (policy !== "adversarial" && policy !== "optimistic") {
      throw new TypeError(
        `Cannot create a TLB with policy "${String(policy)}": use "adversarial" or "optimistic"`,
      );
    }
    this.policy = policy;
    this.#trace = trace;
  }

  #cpu(cpu: Cpu): CpuTlb {
    let t = this.#cpus[cpu.id];
    if (t === undefined) {
      t = new CpuTlb();
      // The SCTLR_EL2 in effect when this CPU first meets the TLB; the
      // optimistic policy flushes when a later report differs from it.
      t.lastSctlr = cpu.sysreg("SCTLR_EL2");
      this.#cpus[cpu.id] = t;
    }
    return t;
  }

  /**
   * The entry translating `va` (any table base: nVHE EL2 has no ASID); counts a hit or miss.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @returns The entry or undefined.
   */
  lookup(cpu: Cpu, va: number): TlbEntry | undefined {
    const t = this.#cpus[cpu.id];
    const e = t === undefined ? undefined : t.find(va);
    if (e === undefined) this.#misses++;
    else this.#hits++;
    return e;
  }

  /**
   * Like {@link TlbModel.lookup}, without counting.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @returns The entry or undefined.
   */
  peek(cpu: Cpu, va: number): TlbEntry | undefined {
    return this.#cpus[cpu.id]?.find(va);
  }

  /**
   * Adds a demand-walk entry.
   * @param cpu The CPU.
   * @param entry The entry (kept as is).
   */
  fill(cpu: Cpu, entry: TlbEntry): void {
    checkEntry(entry);
    this.#cpu(cpu).put(entry);
    this.#fills++;
    if (this.#trace.wants("tlb_fill")) {
      this.#trace.emit("tlb_fill", {
        va: hex(entry.va),
        pa: hex(entry.pa),
        level: entry.level,
        base: hex(entry.base),
        speculative: entry.speculative,
      }, { cpu: cpu.id, el: cpu.pstate.el });
    }
  }

  /**
   * A speculative fill: kept by the adversarial policy, dropped by the optimistic one.
   * @param cpu The CPU.
   * @param entry The entry.
   * @returns True when kept.
   */
  prefetch(cpu: Cpu, entry: TlbEntry): boolean {
    if (this.policy === "optimistic") return false;
    this.fill(cpu, entry);
    return true;
  }

  /**
   * Applies a completed TLBI (see {@link Tlb.invalidate}).
   * @param cpu Issuing CPU.
   * @param op Operation.
   * @param va VA operand of the VA forms.
   * @param ttl Level hint of the VA forms (default `"unknown"`: none).
   * @returns Entries removed.
   */
  invalidate(cpu: Cpu, op: TlbiOp, va?: number, ttl?: TlbiTtl): number {
    return this.#apply(cpu, op, va, ttl, true);
  }

  /**
   * Applies a TLBI to the walk cache only (see {@link Tlb.invalidateWalks}):
   * the A64 executor calls it at the TLBI's issue.
   * @param cpu Issuing CPU.
   * @param op Operation.
   * @param va VA operand of the VA forms.
   * @param ttl Level hint of the VA forms (default `"unknown"`: none).
   * @returns Walk-cache entries removed.
   * @example The walk cache goes at the issue, the leaf entries at the completion
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { Cpu, Trace } from "../../core/mod.ts";
   * import { TlbModel } from "./tlb_model.ts";
   * const tlb = new TlbModel("adversarial", new Trace());
   * const cpu = new Cpu(0);
   * tlb.fill(cpu, { regime: "EL2", base: 0x4000_0000, va: 0x1000, size: 4096, pa: 0x4100_0000,
   *   level: 3, pte: 0x0040000041000743n, speculative: false });
   * tlb.fillWalk(cpu, { regime: "EL2", base: 0x4000_0000, level: 2, va: 0, size: 0x20_0000,
   *   table: 0x4000_3000, apTable: false, xnTable: false });
   * assertEquals(tlb.invalidateWalks(cpu, "alle2"), 1);
   * assertEquals([tlb.walkEntries(cpu).length, tlb.entries(cpu).length], [0, 1]);
   * ```
   */
  invalidateWalks(cpu: Cpu, op: TlbiOp, va?: number, ttl?: TlbiTtl): number {
    return this.#apply(cpu, op, va, ttl, false);
  }

  /** A TLBI on the walk cache, and with `leaves` on the leaf entries too. */
  #apply(
    cpu: Cpu,
    op: TlbiOp,
    va: number | undefined,
    ttl: TlbiTtl | undefined,
    leaves: boolean,
  ): number {
    const kind = TLBI_OPS.get(op);
    if (kind === undefined) {
      throw new TypeError(
        `Cannot apply tlbi ${String(op)}: not one of ${[...TLBI_OPS.keys()].join(", ")}`,
      );
    }
    const byVa = kind.byVa;
    // vae2 forms also remove the walk-cache entries of the VA: all levels,
    // or (adversarial, hinted with level L) only the levels above L, which
    // are all the architecture promises. vale2 forms keep them.
    if (byVa && (va === undefined || !Number.isSafeInteger(va) || va < 0)) {
      throw new TypeError(
        `Cannot apply tlbi ${op}: it needs a VA operand (a non-negative integer), got ${va}`,
      );
    }
    const hint = ttl === undefined || ttl === "unknown" ? 0 : checkTtl(op, byVa, ttl);
    // Only the adversarial policy lets the entries of other levels survive
    // a hinted TLBI; the optimistic one removes every level, hint or not.
    const level = this.policy === "adversarial" ? hint : 0;
    const walksBelow = kind.leaf ? 0 : level === 0 ? 3 : level;
    let removed = 0;
    let walks = 0;
    if (kind.el2) {
      const targets = kind.is ? this.#cpus : [this.#cpus[cpu.id]];
      for (const t of targets) {
        if (t === undefined) continue;
        if (byVa) {
          if (leaves) removed += t.removeVa(va!, level);
          walks += t.removeWalkVa(va!, walksBelow);
        } else if (leaves) removed += t.clear();
        else walks += t.clearWalks();
      }
    }
    if (!leaves) return walks;
    this.#invalidated += removed;
    if (this.#trace.wants("tlb_invalidate")) {
      const data: { op: string; va?: string; ttl?: number; removed: number } = { op, removed };
      if (byVa) data.va = hex(va!);
      if (hint !== 0) data.ttl = hint;
      this.#trace.emit("tlb_invalidate", data, { cpu: cpu.id, el: cpu.pstate.el });
    }
    return removed;
  }

  /**
   * A committed EL2 translation-register write (optimistic: maybe flush).
   * @param cpu The CPU.
   * @param reg Register name.
   * @param value New value.
   */
  onSysregWrite(cpu: Cpu, reg: string, value: bigint): void {
    const name = reg.toUpperCase();
    const t = this.#cpu(cpu);
    if (name === "SCTLR_EL2") {
      const changed = t.lastSctlr !== value;
      t.lastSctlr = value;
      if (changed && this.policy === "optimistic") this.#flush(cpu, t, name);
    } else if ((name === "TTBR0_EL2" || name === "TCR_EL2") && this.policy === "optimistic") {
      this.#flush(cpu, t, name);
    }
  }

  #flush(cpu: Cpu, t: CpuTlb, reason: string): void {
    const removed = t.clear();
    if (removed === 0) return;
    this.#invalidated += removed;
    this.#trace.emit("tlb_invalidate", { op: `flush on ${reason} write`, removed }, {
      cpu: cpu.id,
      el: cpu.pstate.el,
    });
  }

  /**
   * The CPU's entries, sorted by VA.
   * @param cpu The CPU.
   * @returns A copy.
   */
  entries(cpu: Cpu): TlbEntry[] {
    return this.#cpus[cpu.id]?.list() ?? [];
  }

  /**
   * A mark of the CPU's fills so far (see {@link Tlb.fillMark}).
   * @param cpu The CPU.
   * @returns The CPU's fill count.
   */
  fillMark(cpu: Cpu): number {
    const t = this.#cpus[cpu.id];
    return t === undefined ? 0 : t.mark();
  }

  /**
   * The entries the CPU filled after `mark`, oldest first, or undefined when
   * the log no longer reaches back that far (see {@link Tlb.fillsSince}).
   * @param cpu The CPU.
   * @param mark A value of {@link TlbModel.fillMark}.
   * @returns The entries, or undefined.
   */
  fillsSince(cpu: Cpu, mark: number): TlbEntry[] | undefined {
    const t = this.#cpus[cpu.id];
    if (t === undefined) return mark === 0 ? [] : undefined;
    return t.fillsSince(mark);
  }

  /**
   * Visits the CPU's leaf entries as plain numbers, by id (see
   * {@link Tlb.leafRows}): what {@link TlbModel.entries} lists, without an
   * object per entry.
   * @param cpu The CPU.
   * @param visit Called with each entry's first VA, size, table base and key.
   * @example Two entries, no object made
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { Cpu, Trace } from "../../core/mod.ts";
   * import { TlbModel } from "./tlb_model.ts";
   * const cpu = new Cpu(0);
   * const tlb = new TlbModel("adversarial", new Trace());
   * const e = { regime: "EL2", base: 0x4100_0000, va: 0x20_0000, size: 0x20_0000,
   *   pa: 0x4020_0000, level: 2, pte: 0x4020_0741n, speculative: false } as const;
   * tlb.fill(cpu, e);
   * tlb.fill(cpu, { ...e, va: 0x1000, size: 4096, pa: 0x4300_0000, level: 3, pte: 0x4300_0743n });
   * const rows: number[][] = [];
   * tlb.leafRows(cpu, (va, size, base) => rows.push([va, size, base]));
   * assertEquals(rows, [[0x20_0000, 0x20_0000, 0x4100_0000], [0x1000, 4096, 0x4100_0000]]);
   * ```
   */
  leafRows(cpu: Cpu, visit: (va: number, size: number, base: number, key: number) => void): void {
    this.#cpus[cpu.id]?.leaves.forEachRow(visit);
  }

  /**
   * The key of a live entry given its object (see {@link Tlb.keyOf}), or -1.
   * @param cpu The CPU.
   * @param entry An object this TLB handed out (or was given by `fill`).
   * @returns The key, or -1.
   * @example A refill of the same VA is another entry
   * ```ts
   * import { assertEquals, assertNotEquals } from "@std/assert";
   * import { Cpu, Trace } from "../../core/mod.ts";
   * import { TlbModel } from "./tlb_model.ts";
   * const cpu = new Cpu(0);
   * const tlb = new TlbModel("adversarial", new Trace());
   * const e = { regime: "EL2", base: 0x4100_0000, va: 0x1000, size: 4096,
   *   pa: 0x4300_0000, level: 3, pte: 0x4300_0743n, speculative: false } as const;
   * tlb.fill(cpu, e);
   * const k = tlb.keyOf(cpu, tlb.peek(cpu, 0x1000)!);
   * const keys: number[] = [];
   * tlb.leafRows(cpu, (_va, _size, _base, key) => keys.push(key));
   * assertEquals(keys, [k]);
   * tlb.fill(cpu, { ...e });
   * assertEquals(tlb.keyOf(cpu, e), -1);
   * assertNotEquals(tlb.keyOf(cpu, tlb.peek(cpu, 0x1000)!), k);
   * ```
   */
  keyOf(cpu: Cpu, entry: TlbEntry): number {
    const t = this.#cpus[cpu.id];
    if (t === undefined) return -1;
    const s = entry.size;
    const cls = s === 4096 ? 0 : s === 2097152 ? 1 : s === 1073741824 ? 2 : -1;
    if (cls < 0) return -1;
    const l = t.leaves;
    const id = l.findClass(entry.va, cls);
    return id >= 0 && l.objectAt(id) === entry ? l.keyAt(id) : -1;
  }

  // ---------------------------------------------------------------------
  // The MMU's allocation-free path: entries as ids into the CPU's
  // LeafStore, filled from numbers, never an object unless an API above
  // hands one out.

  /**
   * The CPU's leaf entries as typed-array rows (see {@link LeafStore}), for the
   * MMU's allocation-free path; undefined until the CPU first fills.
   * @param cpu The CPU.
   * @returns The store, or undefined.
   */
  leaves(cpu: Cpu): LeafStore | undefined {
    return this.#cpus[cpu.id]?.leaves;
  }

  /**
   * {@link TlbModel.lookup} as an id into {@link TlbModel.leaves}: counts a
   * hit or a miss, makes no object.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @returns The id, or -1.
   */
  lookupId(cpu: Cpu, va: number): number {
    const t = this.#cpus[cpu.id];
    const id = t === undefined ? -1 : t.leaves.find(va);
    if (id < 0) this.#misses++;
    else this.#hits++;
    return id;
  }

  /**
   * {@link TlbModel.peek} as an id into {@link TlbModel.leaves}.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @returns The id, or -1.
   */
  peekId(cpu: Cpu, va: number): number {
    const t = this.#cpus[cpu.id];
    return t === undefined ? -1 : t.leaves.find(va);
  }

  /**
   * {@link TlbModel.fill} (or, with `speculative`, {@link TlbModel.prefetch})
   * from numbers: the same checks, counters, log and trace, and no object.
   * The filler's words ({@link LEAF} bits from 8 up in `meta`, and the
   * row's generation and tag words, set here) come with the entry.
   * @param cpu The CPU.
   * @param va First VA of the page or block.
   * @param size 4 KiB, 2 MiB or 1 GiB.
   * @param pa First PA.
   * @param level Leaf level.
   * @param base Table base (provenance).
   * @param lo Low half of the descriptor.
   * @param hi High half.
   * @param meta The filler's {@link LEAF} bits.
   * @param gen The filler's generation word.
   * @param tag The filler's tag word.
   * @param speculative A speculative fill (dropped by the optimistic policy).
   * @returns The id, or -1 when a speculative fill was dropped.
   */
  fillLeaf(
    cpu: Cpu,
    va: number,
    size: number,
    pa: number,
    level: number,
    base: number,
    lo: number,
    hi: number,
    meta: number,
    gen: number,
    tag: number,
    speculative: boolean,
  ): number {
    if (speculative && this.policy === "optimistic") return -1;
    const cls = sizeClass(size);
    // Alignment by the low 32 bits (every size divides 2^32, and a safe
    // non-negative integer's low bits are those of `x >>> 0`): `x / size`
    // with `size` a variable is a real divide on every fill.
    if (
      cls < 0 || !Number.isSafeInteger(va) || va < 0 || ((va >>> 0) & (size - 1)) !== 0 ||
      !Number.isSafeInteger(pa) || pa < 0 || ((pa >>> 0) & (size - 1)) !== 0
    ) {
      checkEntry({ regime: "EL2", base, va, size, pa, level, pte: 0n, speculative });
    }
    const t = this.#cpu(cpu);
    const l = t.leaves;
    const id = l.put(
      va,
      cls,
      pa,
      base,
      lo,
      hi,
      (meta & ~0xff) | ((level & 3) << LEAF.LEVEL_SHIFT) | LEAF.WORDS |
        (speculative ? LEAF.SPECULATIVE : 0),
    );
    const lc = l.chunk(id);
    const lj = id & 16383;
    lc.f[lj * 6 + 2] = gen;
    lc.u[lj * 12 + 10] = tag;
    t.logFill(id);
    this.#fills++;
    if (this.#trace.wants("tlb_fill")) {
      this.#trace.emit("tlb_fill", {
        va: hex(va),
        pa: hex(pa),
        level,
        base: hex(base),
        speculative,
      }, { cpu: cpu.id, el: cpu.pstate.el });
    }
    return id;
  }

  /**
   * Adds a walk-cache entry (a table descriptor a demand walk read): kept by
   * the adversarial policy, dropped by the optimistic one (QEMU has no walk
   * cache). Not counted in `fills`.
   * @param cpu The CPU.
   * @param entry The entry (kept as is).
   * @returns True when kept.
   */
  fillWalk(cpu: Cpu, entry: TlbWalkEntry): boolean {
    checkWalkEntry(entry);
    if (this.policy === "optimistic") return false;
    this.#cpu(cpu).putWalk(entry);
    return true;
  }

  /**
   * The deepest walk-cache entry covering `va`, without counting.
   * @param cpu The CPU.
   * @param va Virtual address.
   * @returns The entry or undefined.
   */
  lookupWalk(cpu: Cpu, va: number): TlbWalkEntry | undefined {
    return this.#cpus[cpu.id]?.findWalk(va);
  }

  /**
   * The CPU's walk-cache entries, sorted by VA then level.
   * @param cpu The CPU.
   * @returns A copy.
   */
  walkEntries(cpu: Cpu): TlbWalkEntry[] {
    return this.#cpus[cpu.id]?.listWalks() ?? [];
  }

  /** Returns: A copy of the counters. */
  stats(): TlbStats {
    // The MMU's lookups by id count in each CPU's store.
    let hits = this.#hits;
    let misses = this.#misses;
    for (const t of this.#cpus) {
      if (t === undefined) continue;
      hits += t.leaves.hits;
      misses += t.leaves.misses;
    }
    return {
      hits,
      misses,
      fills: this.#fills,
      invalidated: this.#invalidated,
      stale: this.#stale,
    };
  }

  /** Counts a stale hit. */
  recordStale(): void {
    this.#stale++;
  }
}

/** The level a TLBI hint names; throws for a hint that is not one. */
function checkTtl(op: TlbiOp, byVa: boolean, ttl: TlbiTtl): number {
  if (!byVa) {
    throw new TypeError(
      `Cannot apply tlbi ${op} with level hint ${String(ttl)}: only the VA forms take a hint`,
    );
  }
  if (ttl !== 1 && ttl !== 2 && ttl !== 3) {
    throw new RangeError(
      `Cannot apply tlbi ${op} with level hint ${
        String(ttl)
      }: a hint is a leaf level (1, 2 or 3 with the 4 KiB granule) or "unknown"`,
    );
  }
  return ttl;
}

function checkEntry(e: TlbEntry): void {
  const size = e.size;
  if (
    e.regime === "EL2" && (size === 4096 || size === 0x20_0000 || size === 0x4000_0000) &&
    Number.isSafeInteger(e.va) && e.va >= 0 && Math.floor(e.va / size) * size === e.va &&
    Number.isSafeInteger(e.pa) && e.pa >= 0 && Math.floor(e.pa / size) * size === e.pa
  ) {
    return;
  }
  const where = `TLB entry VA ${hexOr(e.va)} size ${hexOr(size)}`;
  if (e.regime !== "EL2") {
    throw new RangeError(`Cannot fill ${where}: regime ${String(e.regime)} is not EL2`);
  }
  if (!TLB_ENTRY_SIZES.includes(size)) {
    throw new RangeError(`Cannot fill ${where}: size must be 4 KiB, 2 MiB or 1 GiB`);
  }
  throw new RangeError(`Cannot fill ${where}: VA and PA ${hexOr(e.pa)} must be size-aligned`);
}

function checkWalkEntry(e: TlbWalkEntry): void {
  const size = WALK_ENTRY_SIZES[e.level];
  const where = `walk-cache entry VA ${hexOr(e.va)} level ${String(e.level)}`;
  if (e.regime !== "EL2") {
    throw new RangeError(`Cannot fill ${where}: regime ${String(e.regime)} is not EL2`);
  }
  if (size === undefined || !Number.isInteger(e.level)) {
    throw new RangeError(`Cannot fill ${where}: table descriptors are at levels 0..2`);
  }
  if (
    e.size !== size || !Number.isSafeInteger(e.va) || e.va < 0 ||
    Math.floor(e.va / size) * size !== e.va
  ) {
    throw new RangeError(
      `Cannot fill ${where}: it must cover the ${hexOr(size)}-byte region its VA starts`,
    );
  }
  if (!Number.isSafeInteger(e.table) || e.table < 0 || e.table % 4096 !== 0) {
    throw new RangeError(`Cannot fill ${where}: table ${hexOr(e.table)} is not page-aligned`);
  }
}

function hexOr(v: number): string {
  return Number.isSafeInteger(v) ? hex(v) : String(v);
}
