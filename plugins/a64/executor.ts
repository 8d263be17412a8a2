/**
 * The A64 executor: runs a parsed program on a core {@link Cpu}.
 *
 * - Code sits at `codeBase` (the idmap page, VA = PA); instruction `i` is at
 *   `codeBase + 4 * i`. While the committed SCTLR_EL2.M is 1, each new code
 *   page is fetched through the MMU with access `exec`: an idmap missing from
 *   the new tables faults, one mapped elsewhere stops with `fetch-mismatch`.
 * - Loads and stores translate through the MMU and can fault; the abort is
 *   taken on the CPU (core `takeAbort`) and the run stops with the fault.
 * - `msr` writes stay pending until a context synchronisation event (ISB,
 *   exception entry, ERET); `mrs` reads the PE's own pending value. On commit
 *   the TLB is told (`onSysregWrite`).
 * - A TLBI acts on the TLB entries present when it is issued, and they go at
 *   its completion, a full DSB (`tlb.invalidate`); entries walked in
 *   between survive it, as the architecture allows (a TLBI may be performed
 *   any time from issue to completion: the adversarial choice is the earliest
 *   for refills and the latest for what was there). IC/DC have no cache model
 *   here (the checker tracks them).
 * - `ret`/`br`/`blr`/`eret` to an address outside the program stop with
 *   `branch-out` and the target — how `__pkvm_init_switch_pgd` hands over to
 *   `__pkvm_init_finalise`.
 * - With `explore` (static runs), a conditional branch on a value that does
 *   not come from the program text forks the run: both successors are
 *   checked (see {@link A64ExecuteOptions.explore}).
 *
 * The hot path works on pre-decoded typed arrays and a plain register array,
 * and allocates nothing per step beyond the BigInt results themselves.
 *
 * @module
 */

import {
  type A64TlbAccount,
  type Cpu,
  EC,
  eret,
  type ExceptionVectors,
  type Mmu,
  type PhysicalMemory,
  SYSREG_DEFS,
  takeException,
  type Tlb,
  type TlbEntry,
  type TlbiOp,
  type TlbWalkEntry,
  type Trace,
} from "../../core/mod.ts";
import type { HazardChecker, RegisterReader } from "./checker.ts";
import { A64ExecutionError } from "./errors.ts";
import { FLAGS, type Liveness, liveness } from "./liveness.ts";
import {
  AddrMode,
  BarrierType,
  conditionHolds,
  Op,
  REGFILE_SIZE,
  Shift,
  SP,
  TLBI_OPS,
  XZR,
} from "./opcodes.ts";
import type { A64Program } from "./program.ts";
import { TlbAccount } from "./tlb_account.ts";

const TWO64 = 1n << 64n;
const MASK64 = TWO64 - 1n;
const MMU_REGS = new Set(["SCTLR_EL2", "TTBR0_EL2", "TCR_EL2", "MAIR_EL2"]);
/** PSTATE views written by `msr` take effect at once (no context synchronisation). */
const PSTATE_REGS = new Set(["SPSEL", "NZCV", "DAIF"]);
/** EL1 TLBIs the TLB capability has no name for, by the operation that covers the same EL2 entries (none). */
const TLBI_ALIAS: Readonly<Record<string, TlbiOp>> = {
  vmalls12e1: "vmalle1",
  vmalls12e1is: "vmalle1is",
};

/** Options of {@link executeA64}. */
export interface A64ExecuteOptions {
  /** The CPU (its x registers, SP and system registers are used and updated). */
  cpu: Cpu;
  /** Address of instruction 0 (VA = PA). */
  codeBase: number;
  /** Physical memory; without it, data accesses use a sparse scratch store (static runs). */
  memory?: PhysicalMemory;
  /** MMU; without it, addresses are flat (VA = PA) whatever SCTLR_EL2.M says. */
  mmu?: Mmu;
  /** TLB, told about completed TLBIs and committed MMU register writes. */
  tlb?: Tlb;
  /**
   * Trace for `insn` and `sysreg_write` events (findings are returned, not
   * traced: the caller records them as `barrier_finding`).
   */
  trace?: Trace;
  /** Hazard checker fed each instruction. */
  checker?: HazardChecker;
  /**
   * Step limit.
   * @default 100000
   */
  maxSteps?: number;
  /** EL2 vector handlers, for `hvc`. */
  vectors?: ExceptionVectors;
  /** Treat an `hvc` with no handler as taken and returned (static runs). */
  hvcReturns?: boolean;
  /**
   * Store an `msr` value as written (static runs, whose register values are
   * synthetic); otherwise the CPU model stores it as QEMU 7.2 does (bits of
   * absent features read back as 0, RES0/RES1 bits as written: the
   * architecture leaves such writes CONSTRAINED UNPREDICTABLE, not faulting).
   */
  lenientSysregs?: boolean;
  /** Initial contents of the scratch store (8-byte words by address). */
  scratch?: Map<number, bigint>;
  /** Index of the first instruction (a routine's entry). @default 0 */
  start?: number;
  /**
   * The address of a symbol the text does not define (`ldr x0, =sym` is
   * `va`, the link-time address; `adr`/`adrp`, PC-relative from the idmap,
   * is `pa`). Without it such an instruction cannot execute.
   */
  symbolAddress?: (name: string, kind: "va" | "pa") => bigint;
  /**
   * Explore mode: report every branch to one of `starts` (a routine's first
   * instruction) with the state it is reached in, so that routine can be
   * checked from each state the text calls or jumps to it in.
   */
  onRoutineEntry?: {
    /** Instruction indices of routine starts. */
    readonly starts: ReadonlySet<number>;
    /**
     * Called at each branch to a start.
     * @param index The start.
     * @param via `call` (bl, blr) or `jump`.
     * @param state The state there (a copy).
     * @param from The branch instruction's index.
     */
    record(index: number, via: "call" | "jump", state: A64EntryState, from: number): void;
  };
  /** Explore mode: start from a recorded state instead of the CPU's (its checker is used). */
  resume?: A64EntryState;
  /**
   * Explore mode: merge states only when they are equal in every register,
   * not only in those that can still matter (see `liveness.ts`): slower, and
   * the reference the merge is tested against.
   */
  exactMerge?: boolean;
  /**
   * Explore every path (static runs, whose register values are synthetic).
   * A `cbz`/`cbnz` on a register whose value does not follow from the
   * program text alone (it comes from the arguments, memory or a system
   * register) forks the run: the executor and checker state are copied, the
   * successor the synthetic value picks runs first, the other later. A
   * branch on a value the text fixes (a counter set by `mov #imm`) is
   * followed as on hardware. A branch target reached again with an equal
   * state (instruction index, {@link HazardChecker.stateKey}, and the values
   * of registers the text fixes, such as return addresses) is not explored
   * again: that is what ends loops on input values. Findings of all paths go
   * to the one checker's result; `maxSteps` bounds all paths together.
   * Needs `checker`; not with `memory`, `mmu`, `tlb` or `vectors`.
   */
  explore?: boolean;
}

/** How a run ended. */
export interface A64ExecuteResult {
  /**
   * Why it stopped. With `explore`, how the first path that did not merge
   * into an explored one stopped; `max-steps` when the paths together hit
   * the limit, `loop` when every path came back to an explored state (no
   * path ever leaves).
   */
  stopped: "end" | "branch-out" | "fault" | "exception" | "max-steps" | "fetch-mismatch" | "loop";
  /** Branch target for `branch-out`. */
  target?: number;
  /** The fault for `fault` (and `fetch-mismatch`). */
  fault?: { access: "data" | "instruction"; va: number; line: number; message: string };
  /** Instructions executed. */
  steps: number;
  /** Line of the last instruction executed (0 if none). */
  line: number;
  /** With `explore`: how many paths ran (forks taken plus one). */
  paths?: number;
  /** The TLB across the MMU enable (runs with a TLB, not `explore`). */
  tlb?: A64TlbAccount;
}

/** A TLBI issued and not yet completed by a DSB. */
interface PendingTlbi {
  op: TlbiOp;
  va?: number;
  /**
   * This CPU's TLB entries when it was issued (null: the TLB's entries are
   * not stable objects). Taken lazily, just before the first MMU call that
   * may fill the TLB (M may be 1): until then the entries are those of the
   * issue, and a TLBI completed before any such call needs no snapshot.
   */
  before?: ReadonlySet<TlbEntry> | null;
  /** The TLB's fill count when `before` was taken: unchanged, nothing was walked since. */
  fillsAtSnap?: number;
  /** {@link Tlb.fillMark} at issue, when the TLB offers it (then no snapshot is taken). */
  mark?: number;
  /** Walk-cache entries it removed at its issue (a TLB with {@link Tlb.invalidateWalks}). */
  walks?: TlbWalkEntry[];
}

/**
 * A state of an explored run at an instruction (explore mode): registers,
 * pending writes and maintenance, memory, the checker. Opaque outside the
 * executor; see {@link A64ExecuteOptions.onRoutineEntry}.
 */
export type A64EntryState = Snapshot;

/**
 * A recorded call-site state, as the called routine's own entry: `ret`
 * goes to `returnAddress` (outside the text, so returning leaves it).
 * @param state The state at the call.
 * @param returnAddress Where the routine returns to.
 * @returns A copy to start from.
 * @example f checked on its own: its `ret` leaves for 0x9000
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "../../core/mod.ts";
 * import {
 *   type A64EntryState, asCalledRoutine, asOwnCheck, entryStateKey, entryStateLine,
 *   executeA64, HazardChecker, parseA64, resolveCheckConfig,
 * } from "./mod.ts";
 * // `bl f` at line 1 reaches the routine f (instruction 3): record the state there.
 * const p = parseA64("bl f\nisb\nret\nf: mov x1, #1\nret");
 * const states: A64EntryState[] = [];
 * const checker = new HazardChecker(p, resolveCheckConfig(), { sctlr: 0x30c5183dn, ttbr0: 0n, abi: "registers" });
 * executeA64(p, {
 *   cpu: new Cpu(0), checker, codeBase: 0x1000, explore: true,
 *   onRoutineEntry: { starts: new Set([3]), record: (_i, _via, s) => states.push(s) },
 * });
 * const start = asCalledRoutine(states[0]!, 0x9000n);
 * const r = executeA64(p, { cpu: new Cpu(0), codeBase: 0x1000, explore: true, resume: start });
 * assertEquals([r.stopped, r.target, r.line], ["branch-out", 0x9000, 5]);
 * ```
 */
export function asCalledRoutine(state: A64EntryState, returnAddress: bigint): A64EntryState {
  const x = state.x.slice();
  x[30] = returnAddress;
  const known = state.known.slice();
  known[30] = 1;
  const checker = state.checker.detach();
  checker.setTag(30, "code");
  return { ...state, x, known, checker };
}

/**
 * A recorded state as the start of a check of its own (its findings are
 * not the recording run's).
 * @param state The state.
 * @returns A copy to start from.
 * @example The copy's checker is its own
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "../../core/mod.ts";
 * import {
 *   type A64EntryState, asCalledRoutine, asOwnCheck, entryStateKey, entryStateLine,
 *   executeA64, HazardChecker, parseA64, resolveCheckConfig,
 * } from "./mod.ts";
 * // `bl f` at line 1 reaches the routine f (instruction 3): record the state there.
 * const p = parseA64("bl f\nisb\nret\nf: mov x1, #1\nret");
 * const states: A64EntryState[] = [];
 * const checker = new HazardChecker(p, resolveCheckConfig(), { sctlr: 0x30c5183dn, ttbr0: 0n, abi: "registers" });
 * executeA64(p, {
 *   cpu: new Cpu(0), checker, codeBase: 0x1000, explore: true,
 *   onRoutineEntry: { starts: new Set([3]), record: (_i, _via, s) => states.push(s) },
 * });
 * const own = asOwnCheck(states[0]!);
 * assertEquals([own.i, own.checker === states[0]!.checker], [3, false]);
 * ```
 */
export function asOwnCheck(state: A64EntryState): A64EntryState {
  return { ...state, checker: state.checker.detach() };
}

/**
 * A key telling recorded states apart: two states with equal keys give the
 * same findings from there on.
 * @param state A recorded state.
 * @param program The program it is a state of.
 * @param exact Count every register, not only those that can still matter.
 * @returns The key.
 * @example x1 is written before it is read: its value does not tell states apart
 * ```ts
 * import { assertEquals, assertNotEquals } from "@std/assert";
 * import { Cpu } from "../../core/mod.ts";
 * import {
 *   type A64EntryState, asCalledRoutine, asOwnCheck, entryStateKey, entryStateLine,
 *   executeA64, HazardChecker, parseA64, resolveCheckConfig,
 * } from "./mod.ts";
 * // `bl f` at line 1 reaches the routine f (instruction 3): record the state there.
 * const p = parseA64("bl f\nisb\nret\nf: mov x1, #1\nret");
 * const states: A64EntryState[] = [];
 * const checker = new HazardChecker(p, resolveCheckConfig(), { sctlr: 0x30c5183dn, ttbr0: 0n, abi: "registers" });
 * executeA64(p, {
 *   cpu: new Cpu(0), checker, codeBase: 0x1000, explore: true,
 *   onRoutineEntry: { starts: new Set([3]), record: (_i, _via, s) => states.push(s) },
 * });
 * const a = asOwnCheck(states[0]!);
 * const b = { ...a, x: a.x.slice(), known: a.known.slice() };
 * b.x[1] = 42n;
 * b.known[1] = 1; // a value the text fixes
 * assertEquals(entryStateKey(a, p), entryStateKey(b, p));
 * assertNotEquals(entryStateKey(a, p, true), entryStateKey(b, p, true));
 * ```
 */
export function entryStateKey(state: A64EntryState, program: A64Program, exact = false): string {
  const live = exact ? ALL_LIVE : liveness(program);
  const at = state.i;
  const regs = state.x.map((v, r) =>
    !live.live(at, r) ? "-" : state.known[r] ? v.toString(16) : "?"
  ).join(",");
  const flags = live.live(at, FLAGS) ? (state.flagsKnown ? `f${state.pstate.nzcv}` : "f?") : "";
  const key = state.checker.stateKey((r) => live.live(at, r));
  return `${at}|${key}|${regs}|${flags}|${state.pstate.el}${state.pstate.spsel}`;
}

/**
 * The source line of the branch a state was recorded at.
 * @param state A recorded state.
 * @returns The line.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "../../core/mod.ts";
 * import {
 *   type A64EntryState, asCalledRoutine, asOwnCheck, entryStateKey, entryStateLine,
 *   executeA64, HazardChecker, parseA64, resolveCheckConfig,
 * } from "./mod.ts";
 * // `bl f` at line 1 reaches the routine f (instruction 3): record the state there.
 * const p = parseA64("bl f\nisb\nret\nf: mov x1, #1\nret");
 * const states: A64EntryState[] = [];
 * const checker = new HazardChecker(p, resolveCheckConfig(), { sctlr: 0x30c5183dn, ttbr0: 0n, abi: "registers" });
 * executeA64(p, {
 *   cpu: new Cpu(0), checker, codeBase: 0x1000, explore: true,
 *   onRoutineEntry: { starts: new Set([3]), record: (_i, _via, s) => states.push(s) },
 * });
 * assertEquals(entryStateLine(states[0]!), 1);
 * ```
 */
export function entryStateLine(state: A64EntryState): number {
  return state.line;
}

/** Every register matters everywhere (`exactMerge`). */
const ALL_LIVE: Liveness = { live: () => true };

/** A path waiting to run (explore mode): everything a run changes. */
interface Snapshot {
  i: number;
  line: number;
  x: bigint[];
  known: Uint8Array;
  pending: Map<string, bigint>;
  tlbi: PendingTlbi[];
  scratch: Map<number, bigint>;
  sysregs: bigint[];
  pstate: Cpu["pstate"];
  spEl: BigUint64Array;
  checker: HazardChecker;
  extra: Map<string, bigint>;
  flagsKnown: boolean;
}

/** Marks a path that reached an explored state: it ends without a result of its own. */
const MERGED: A64ExecuteResult = Object.freeze({ stopped: "end", steps: 0, line: 0 });

interface Compiled {
  n: number;
  op: Uint8Array;
  rd: Int8Array;
  rn: Int8Array;
  rm: Int8Array;
  imm: bigint[];
  shift: Uint8Array;
  shiftKind: Uint8Array;
  target: Int32Array;
  cond: Uint8Array;
  imm2: Uint8Array;
}

const compiledCache = new WeakMap<A64Program, Compiled>();

/** Every system register's name: the registers a CPU holds (SystemRegisters.reset). */
const SYSREG_NAMES: readonly string[] = Object.values(SYSREG_DEFS).map((d) => d.name);
const MODELLED: ReadonlySet<string> = new Set(SYSREG_NAMES);

function compile(p: A64Program): Compiled {
  const cached = compiledCache.get(p);
  if (cached) return cached;
  const n = p.instructions.length;
  const c: Compiled = {
    n,
    op: new Uint8Array(n),
    rd: new Int8Array(n),
    rn: new Int8Array(n),
    rm: new Int8Array(n),
    imm: new Array<bigint>(n),
    shift: new Uint8Array(n),
    shiftKind: new Uint8Array(n),
    target: new Int32Array(n),
    cond: new Uint8Array(n),
    imm2: new Uint8Array(n),
  };
  p.instructions.forEach((ins, i) => {
    c.op[i] = ins.op;
    c.rd[i] = ins.rd;
    c.rn[i] = ins.rn;
    c.rm[i] = ins.rm;
    c.imm[i] = ins.imm;
    c.shift[i] = ins.shift;
    c.shiftKind[i] = ins.shiftKind;
    c.target[i] = ins.target;
    c.cond[i] = ins.cond;
    c.imm2[i] = ins.imm2;
  });
  compiledCache.set(p, c);
  return c;
}

/** NZCV of `a + b + carry` on 64-bit values (N = bit 3 ... V = bit 0). */
function addFlags(a: bigint, b: bigint, carry: bigint): { result: bigint; nzcv: number } {
  const full = a + b + carry;
  const result = full & MASK64;
  const n = result >> 63n;
  const z = result === 0n ? 1 : 0;
  const c = full >> 64n !== 0n ? 1 : 0;
  const sa = a >> 63n;
  const sb = b >> 63n;
  const v = sa === sb && n !== sa ? 1 : 0;
  return { result, nzcv: (Number(n) << 3) | (z << 2) | (c << 1) | v };
}

/** NZCV of a logical result (C = V = 0). */
function logicFlags(result: bigint): number {
  return (Number(result >> 63n) << 3) | (result === 0n ? 4 : 0);
}

const mask = (width: number) => (1n << BigInt(width)) - 1n;

function shifted(v: bigint, kind: number, amount: number): bigint {
  if (amount === 0) return v;
  const a = BigInt(amount);
  if (kind === Shift.LSL) return (v << a) & MASK64;
  if (kind === Shift.LSR) return v >> a;
  return BigInt.asUintN(64, BigInt.asIntN(64, v) >> a);
}

/**
 * Runs a program until it ends, branches out, faults, takes an unhandled
 * exception or hits the step limit.
 *
 * @param program Parsed program.
 * @param options CPU, code address, memory/MMU/TLB, checker, trace.
 * @returns How the run ended.
 * @throws {A64ExecutionError} An instruction the CPU cannot execute as written;
 *   the CPU and the memory stores of the run are put back as they were (TLB
 *   maintenance already completed is not undone).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "../../core/mod.ts";
 * import { executeA64, parseA64 } from "./mod.ts";
 * const cpu = new Cpu(0);
 * const r = executeA64(parseA64("mov x0, #5\nadd x0, x0, #2\nret x1"), { cpu, codeBase: 0x1000 });
 * assertEquals([r.stopped, r.target, cpu.x(0)], ["branch-out", 0, 7n]);
 * ```
 */
export function executeA64(program: A64Program, options: A64ExecuteOptions): A64ExecuteResult {
  const cpu = options.cpu;
  // Bad input (an instruction the CPU cannot execute as written) must leave
  // the CPU and memory as they were: snapshot the CPU, log the stores.
  // (Typed-array copies and a read per register name: cheaper than building
  // arrays of 31 and an object of every register on each run.)
  const saved = {
    x: cpu.xregs.slice(),
    sp: cpu.spEl.slice(),
    pc: cpu.pc,
    pstate: { ...cpu.pstate },
    sysregs: SYSREG_NAMES.map((name) => cpu.sysregs.read(name)),
  };
  const run = new Run(program, options);
  try {
    return run.run();
  } catch (e) {
    run.undoStores();
    saved.x.forEach((v, r) => cpu.setX(r, v));
    saved.sp.forEach((v, el) => (cpu.spEl[el] = v));
    cpu.pc = saved.pc;
    Object.assign(cpu.pstate, saved.pstate);
    SYSREG_NAMES.forEach((name, k) => {
      const v = saved.sysregs[k]!;
      if (cpu.sysregs.read(name) !== v) cpu.sysregs.set(name, v);
    });
    throw e;
  }
}

class Run {
  #p: A64Program;
  #c: Compiled;
  #o: A64ExecuteOptions;
  #cpu: Cpu;
  #x: bigint[] = new Array<bigint>(REGFILE_SIZE).fill(0n);
  #pending = new Map<string, bigint>();
  #tlbi: PendingTlbi[] = [];
  /** Whether {@link Tlb.entries} returns the TLB's own objects (asked once). */
  #stableEntries: boolean | undefined = undefined;
  #mmuOn = false;
  /** SCTLR_EL2.M may be 1: committed, or a pending write sets it. */
  #maybeOn = false;
  #fetchPage = -1;
  #specDone = new Set<string>();
  #scratch: Map<number, bigint>;
  #undo: [number, bigint][] = [];
  #result: A64ExecuteResult | null = null;
  #i = 0;
  #line = 0;
  #checker: HazardChecker | null;
  #explore: boolean;
  /** Explore mode: registers whose value follows from the program text alone (1) or not (0). */
  #known = new Uint8Array(REGFILE_SIZE);
  /** Explore mode: states (`index|state`) already reached at a branch target. */
  #visited = new Set<string>();
  /** Explore mode: paths waiting to run. */
  #work: Snapshot[] = [];
  /** Explore mode: whether the flags follow from the program text. */
  #flagsKnown = true;
  /** Explore mode: which registers each instruction may still read. */
  #live: Liveness | null = null;
  /** System registers the CPU model does not hold (trap controls, GIC, ID registers). */
  #extra = new Map<string, bigint>();
  /** The TLB across the MMU enable (runs with a TLB). */
  #account: TlbAccount | null = null;

  constructor(program: A64Program, options: A64ExecuteOptions) {
    this.#p = program;
    this.#c = compile(program);
    this.#o = options;
    this.#cpu = options.cpu;
    this.#scratch = options.scratch ?? new Map();
    this.#checker = options.checker ?? options.resume?.checker ?? null;
    this.#explore = options.explore === true;
    if (
      this.#explore &&
      (this.#checker === null || options.memory !== undefined || options.mmu !== undefined ||
        options.tlb !== undefined || options.vectors !== undefined)
    ) {
      throw new RangeError(
        "explore is for static runs: it needs a checker, and no memory, MMU, TLB or vectors (their state is not copied at a fork)",
      );
    }
    this.#known[XZR] = 1;
    if (this.#explore) this.#live = liveness(program);
    else if (options.tlb !== undefined) this.#account = new TlbAccount(options.tlb, options.cpu);
  }

  #load(): void {
    const cpu = this.#cpu;
    for (let r = 0; r < 31; r++) this.#x[r] = cpu.x(r);
    this.#x[XZR] = 0n;
    this.#x[SP] = cpu.sp;
    this.#mmuOn = (cpu.sysregs.read("SCTLR_EL2") & 1n) === 1n;
    this.#maybeOn = this.#mmuOn || ((this.#pending.get("SCTLR_EL2") ?? 0n) & 1n) === 1n;
  }

  #store(): void {
    const cpu = this.#cpu;
    for (let r = 0; r < 31; r++) cpu.setX(r, this.#x[r]!);
    cpu.sp = this.#x[SP]!;
  }

  #pc(i: number): bigint {
    return BigInt(this.#o.codeBase) + BigInt(i) * 4n;
  }

  #stop(r: A64ExecuteResult): void {
    this.#result = r;
  }

  run(): A64ExecuteResult {
    const o = this.#o;
    let start = o.start ?? 0;
    if (o.resume !== undefined) start = this.#resume(o.resume);
    else this.#load();
    const c = this.#c;
    const x = this.#x;
    const { op, rd, rn, rm, imm, shift, shiftKind, target } = c;
    const n = c.n;
    const maxSteps = o.maxSteps ?? 100_000;
    let checker = this.#checker;
    const explore = this.#explore;
    let first: A64ExecuteResult | null = null;
    let paths = 1;
    const trace = o.trace;
    const traceInsn = trace !== undefined && trace.wants("insn");
    const reader: RegisterReader = { get: (r) => x[r]! };
    const insns = this.#p.instructions;
    const fetchChecks = o.mmu !== undefined;
    const speculate = o.mmu !== undefined && typeof o.mmu.prefetch === "function";
    let i = start;
    let steps = 0;
    // One pass of the inner loop per path; explore mode then resumes the
    // next queued path (a fork's other successor) until none is left.
    for (;;) {
      while (this.#result === null) {
        if (i >= n) {
          checker?.end();
          this.#stop({ stopped: "end", steps, line: this.#line });
          break;
        }
        if (steps >= maxSteps) {
          this.#stop({ stopped: "max-steps", steps, line: this.#line });
          break;
        }
        this.#i = i;
        if (fetchChecks && this.#mmuOn && !this.#fetch(i)) break;
        if (traceInsn) {
          const ins = insns[i]!;
          trace!.emit("insn", { line: ins.line, text: ins.text }, {
            cpu: this.#cpu.id,
            el: this.#cpu.pstate.el,
          });
        }
        if (checker !== null) {
          this.#line = insns[i]!.line;
          checker.step(i, reader);
        }
        steps++;
        if (explore) this.#track(i);
        switch (op[i]) {
          case Op.NOP:
            i++;
            break;
          case Op.MOV_REG:
            x[rd[i]!] = x[rn[i]!]!;
            i++;
            break;
          case Op.MOV_IMM:
            x[rd[i]!] = imm[i]!;
            i++;
            break;
          case Op.MOVZ:
            x[rd[i]!] = imm[i]! << BigInt(shift[i]!);
            i++;
            break;
          case Op.MOVN:
            x[rd[i]!] = ~(imm[i]! << BigInt(shift[i]!)) & MASK64;
            i++;
            break;
          case Op.MOVK: {
            const s = BigInt(shift[i]!);
            x[rd[i]!] = (x[rd[i]!]! & ~(0xffffn << s) & MASK64) | (imm[i]! << s);
            i++;
            break;
          }
          case Op.ORR_IMM:
            x[rd[i]!] = x[rn[i]!]! | imm[i]!;
            i++;
            break;
          case Op.AND_IMM:
            x[rd[i]!] = x[rn[i]!]! & imm[i]!;
            i++;
            break;
          case Op.ORR_REG:
            x[rd[i]!] = x[rn[i]!]! | shifted(x[rm[i]!]!, shiftKind[i]!, shift[i]!);
            i++;
            break;
          case Op.AND_REG:
            x[rd[i]!] = x[rn[i]!]! & shifted(x[rm[i]!]!, shiftKind[i]!, shift[i]!);
            i++;
            break;
          case Op.BIC_REG:
            x[rd[i]!] = x[rn[i]!]! & (~shifted(x[rm[i]!]!, shiftKind[i]!, shift[i]!) & MASK64);
            i++;
            break;
          case Op.ADD_IMM: {
            const v = x[rn[i]!]! +
              (insns[i]!.symbol !== "" || insns[i]!.target >= 0
                ? this.#symbolValue(i) & 0xfffn
                : imm[i]!);
            x[rd[i]!] = v >= TWO64 ? v - TWO64 : v;
            i++;
            break;
          }
          case Op.SUB_IMM: {
            const v = x[rn[i]!]! - imm[i]!;
            x[rd[i]!] = v < 0n ? v + TWO64 : v;
            i++;
            break;
          }
          case Op.ADD_REG: {
            const v = x[rn[i]!]! + shifted(x[rm[i]!]!, shiftKind[i]!, shift[i]!);
            x[rd[i]!] = v >= TWO64 ? v - TWO64 : v;
            i++;
            break;
          }
          case Op.SUB_REG: {
            const v = x[rn[i]!]! - shifted(x[rm[i]!]!, shiftKind[i]!, shift[i]!);
            x[rd[i]!] = v < 0n ? v + TWO64 : v;
            i++;
            break;
          }
          case Op.LSL_IMM:
            x[rd[i]!] = (x[rn[i]!]! << BigInt(shift[i]!)) & MASK64;
            i++;
            break;
          case Op.LSR_IMM:
            x[rd[i]!] = x[rn[i]!]! >> BigInt(shift[i]!);
            i++;
            break;
          case Op.LSL_REG:
            // LSLV/LSRV use the shift amount modulo 64.
            x[rd[i]!] = (x[rn[i]!]! << (x[rm[i]!]! & 63n)) & MASK64;
            i++;
            break;
          case Op.LSR_REG:
            x[rd[i]!] = x[rn[i]!]! >> (x[rm[i]!]! & 63n);
            i++;
            break;
          case Op.ASR_IMM:
            x[rd[i]!] = shifted(x[rn[i]!]!, Shift.ASR, shift[i]!);
            i++;
            break;
          case Op.ASR_REG:
            x[rd[i]!] = shifted(x[rn[i]!]!, Shift.ASR, Number(x[rm[i]!]! & 63n));
            i++;
            break;
          case Op.EOR_IMM:
            x[rd[i]!] = x[rn[i]!]! ^ imm[i]!;
            i++;
            break;
          case Op.EOR_REG:
            x[rd[i]!] = x[rn[i]!]! ^ shifted(x[rm[i]!]!, shiftKind[i]!, shift[i]!);
            i++;
            break;
          case Op.ORN_REG:
            x[rd[i]!] = x[rn[i]!]! | (~shifted(x[rm[i]!]!, shiftKind[i]!, shift[i]!) & MASK64);
            i++;
            break;
          case Op.SUBS_IMM:
          case Op.SUBS_REG:
          case Op.ADDS_IMM:
          case Op.ADDS_REG: {
            const a = x[rn[i]!]!;
            const b = op[i] === Op.SUBS_IMM || op[i] === Op.ADDS_IMM
              ? imm[i]!
              : shifted(x[rm[i]!]!, shiftKind[i]!, shift[i]!);
            const sub = op[i] === Op.SUBS_IMM || op[i] === Op.SUBS_REG;
            const f = sub ? addFlags(a, ~b & MASK64, 1n) : addFlags(a, b, 0n);
            x[rd[i]!] = f.result;
            this.#cpu.pstate.nzcv = f.nzcv;
            i++;
            break;
          }
          case Op.ANDS_IMM:
          case Op.ANDS_REG: {
            const r = x[rn[i]!]! &
              (op[i] === Op.ANDS_IMM ? imm[i]! : shifted(x[rm[i]!]!, shiftKind[i]!, shift[i]!));
            x[rd[i]!] = r;
            this.#cpu.pstate.nzcv = logicFlags(r);
            i++;
            break;
          }
          case Op.CCMP_IMM:
          case Op.CCMP_REG:
          case Op.CCMN_IMM:
          case Op.CCMN_REG: {
            if (conditionHolds(c.cond[i]!, this.#cpu.pstate.nzcv)) {
              const a = x[rn[i]!]!;
              const b = op[i] === Op.CCMP_IMM || op[i] === Op.CCMN_IMM ? imm[i]! : x[rm[i]!]!;
              const cmp = op[i] === Op.CCMP_IMM || op[i] === Op.CCMP_REG;
              this.#cpu.pstate.nzcv =
                (cmp ? addFlags(a, ~b & MASK64, 1n) : addFlags(a, b, 0n)).nzcv;
            } else this.#cpu.pstate.nzcv = c.imm2[i]!;
            i++;
            break;
          }
          case Op.CSEL:
          case Op.CSINC:
          case Op.CSINV:
          case Op.CSNEG: {
            if (conditionHolds(c.cond[i]!, this.#cpu.pstate.nzcv)) x[rd[i]!] = x[rn[i]!]!;
            else {
              const v = x[rm[i]!]!;
              x[rd[i]!] = op[i] === Op.CSEL
                ? v
                : op[i] === Op.CSINC
                ? (v + 1n) & MASK64
                : op[i] === Op.CSINV
                ? ~v & MASK64
                : (TWO64 - v) & MASK64;
            }
            i++;
            break;
          }
          case Op.UBFX:
          case Op.SBFX: {
            const w = c.imm2[i]!;
            let v = (x[rn[i]!]! >> BigInt(shift[i]!)) & mask(w);
            if (op[i] === Op.SBFX) v = BigInt.asUintN(64, BigInt.asIntN(w, v));
            x[rd[i]!] = v;
            i++;
            break;
          }
          case Op.UBFIZ:
          case Op.SBFIZ: {
            const w = c.imm2[i]!;
            let v = x[rn[i]!]! & mask(w);
            if (op[i] === Op.SBFIZ) v = BigInt.asUintN(64, BigInt.asIntN(w, v));
            x[rd[i]!] = (v << BigInt(shift[i]!)) & MASK64;
            i++;
            break;
          }
          case Op.BFI:
          case Op.BFXIL: {
            const w = c.imm2[i]!;
            const lsb = BigInt(shift[i]!);
            const src = x[rn[i]!]!;
            const old = x[rd[i]!]!;
            x[rd[i]!] = op[i] === Op.BFI
              ? (old & ~(mask(w) << lsb) & MASK64) | ((src & mask(w)) << lsb)
              : (old & ~mask(w) & MASK64) | ((src >> lsb) & mask(w));
            i++;
            break;
          }
          case Op.ADR:
          case Op.ADRP:
          case Op.LDR_LIT:
            x[rd[i]!] = this.#symbolValue(i);
            i++;
            break;
          case Op.HINT:
            i++;
            break;
          case Op.MSR_IMM:
            this.#pstateImm(i);
            i++;
            break;
          case Op.BCOND: {
            const taken = conditionHolds(c.cond[i]!, this.#cpu.pstate.nzcv);
            const next = taken ? target[i]! : i + 1;
            if (!explore) i = next;
            else if (this.#flagsKnown) i = this.#enter(next);
            else i = this.#fork(next, taken ? i + 1 : target[i]!);
            break;
          }
          case Op.TBZ:
          case Op.TBNZ: {
            const bit = (x[rn[i]!]! >> BigInt(c.imm2[i]!)) & 1n;
            const taken = (bit === 0n) === (op[i] === Op.TBZ);
            const next = taken ? target[i]! : i + 1;
            if (!explore) i = next;
            else if (this.#known[rn[i]!]) i = this.#enter(next);
            else i = this.#fork(next, taken ? i + 1 : target[i]!);
            break;
          }
          case Op.B:
            if (explore) this.#recordEntry(target[i]!, "jump");
            i = explore ? this.#enter(target[i]!) : target[i]!;
            break;
          case Op.BL:
            x[30] = this.#pc(i + 1);
            if (explore) {
              this.#known[30] = 1;
              this.#recordEntry(target[i]!, "call");
            }
            i = explore ? this.#enter(target[i]!) : target[i]!;
            break;
          case Op.CBZ:
          case Op.CBNZ: {
            const taken = (x[rn[i]!]! === 0n) === (op[i] === Op.CBZ);
            const next = taken ? target[i]! : i + 1;
            if (!explore) i = next;
            else if (this.#known[rn[i]!]) i = this.#enter(next);
            else i = this.#fork(next, taken ? i + 1 : target[i]!);
            break;
          }
          case Op.BR:
          case Op.BLR:
          case Op.RET: {
            const dest = x[rn[i]!]!;
            if (op[i] === Op.BLR) x[30] = this.#pc(i + 1);
            i = this.#branch(i, dest, rn[i]!);
            break;
          }
          case Op.LDR:
          case Op.STR:
          case Op.LDP:
          case Op.STP:
            if (!this.#memOp(i)) break;
            i++;
            break;
          case Op.MRS:
            x[rd[i]!] = this.#mrs(insns[i]!.sysreg);
            i++;
            break;
          case Op.MSR:
            this.#msr(i, x[rn[i]!]!);
            i++;
            break;
          case Op.ISB:
            this.#commit();
            i++;
            break;
          case Op.DSB:
            this.#dsb(i);
            i++;
            break;
          case Op.DMB:
          case Op.IC:
          case Op.DC:
            i++;
            break;
          case Op.TLBI: {
            const written = insns[i]!.operation;
            const name = (TLBI_ALIAS[written] ?? written) as TlbiOp;
            const d = TLBI_OPS[written]!;
            const e: PendingTlbi = { op: name };
            const tlb = this.#o.tlb;
            if (tlb?.fillMark !== undefined) e.mark = tlb.fillMark(this.#cpu);
            // TLBI VAE2 takes VA[55:12] in Xt[43:0].
            if (d.va) e.va = Number((x[rn[i]!]! & 0xfff_ffff_ffffn) << 12n);
            if (tlb !== undefined) this.#tlbiWalks(tlb, e);
            this.#tlbi.push(e);
            // Walks from here on make entries the TLBI may miss: let the
            // speculative walker run again.
            this.#specDone.clear();
            i++;
            break;
          }
          case Op.HVC:
            i = this.#hvc(i);
            break;
          case Op.ERET:
            i = this.#eret(i);
            break;
          default:
            throw new A64ExecutionError(insns[i]!.line, insns[i]!.text, `unknown opcode ${op[i]}`);
        }
        this.#line = insns[this.#i]!.line;
        if (speculate && this.#maybeOn && this.#result === null) this.#speculate(i);
      }
      if (!explore || this.#result!.stopped === "max-steps") break;
      if (this.#result !== MERGED) first ??= { ...this.#result!, line: this.#line };
      const next = this.#work.pop();
      if (next === undefined) break;
      i = this.#resume(next);
      checker = this.#checker;
      paths++;
    }
    this.#store();
    let r = this.#result!;
    if (explore && r.stopped !== "max-steps") {
      // Every path merged into an explored state: none ever leaves.
      r = first ?? { stopped: "loop", steps: 0, line: this.#line };
    } else r.line = this.#line;
    if (explore) r.paths = paths;
    r.steps = steps;
    if (this.#account !== null) r.tlb = this.#account.finish(this.#cpu.sysregs.read("TTBR0_EL2"));
    if (r.stopped === "end") this.#cpu.pc = this.#pc(n);
    else if (r.stopped === "branch-out") this.#cpu.pc = BigInt(r.target!);
    else if (r.stopped === "max-steps") this.#cpu.pc = this.#pc(i);
    return r;
  }

  /** Resolves a register branch: inside the program → index, outside → branch-out. */
  #branch(i: number, dest: bigint, reg: number): number {
    const off = dest - BigInt(this.#o.codeBase);
    if (off >= 0n && off % 4n === 0n && off / 4n < BigInt(this.#c.n)) {
      if (this.#explore) {
        this.#recordEntry(Number(off / 4n), this.#c.op[i] === Op.BLR ? "call" : "jump");
      }
      return this.#explore ? this.#enter(Number(off / 4n)) : Number(off / 4n);
    }
    this.#checker?.branchOut(i, reg, reg < 0 ? this.#cpu.pstate.el : 2);
    this.#stop({ stopped: "branch-out", target: Number(dest), steps: 0, line: 0 });
    return i;
  }

  #fetch(i: number): boolean {
    const pc = this.#o.codeBase + 4 * i;
    const page = Math.floor(pc / 4096);
    if (page === this.#fetchPage) return true;
    this.#snapTlbis();
    const t = this.#o.mmu!.translate(this.#cpu, pc, "exec");
    const line = this.#p.instructions[i]!.line;
    if (t.kind === "fault") {
      this.#abort(i, "instruction", pc, t.fsc, false, line, t.message);
      return false;
    }
    if (this.#account !== null) this.#accountAccess(pc, t.fromTlb);
    if (t.pa !== pc) {
      const message = `instruction fetch at 0x${pc.toString(16)} translates to PA 0x${
        t.pa.toString(16)
      }, not to the code at PA 0x${pc.toString(16)}: the idmap is not VA = PA in the tables in use`;
      this.#checker?.fetchMismatch(i, t.pa);
      this.#stop({
        stopped: "fetch-mismatch",
        fault: { access: "instruction", va: pc, line, message },
        steps: 0,
        line,
      });
      return false;
    }
    this.#fetchPage = page;
    return true;
  }

  /** Takes a synchronous abort (after the CSE of exception entry) and stops the run. */
  #abort(
    i: number,
    access: "data" | "instruction",
    va: number | bigint,
    fsc: number,
    write: boolean,
    line: number,
    message: string,
  ): void {
    this.#commit();
    this.#store();
    const pc = this.#pc(i);
    this.#cpu.pc = pc;
    const o: Parameters<typeof takeException>[1] = {
      ec: access === "data" ? EC.DABT_CUR : EC.IABT_CUR,
      iss: fsc | (write ? 1 << 6 : 0),
      returnAddress: pc,
      far: BigInt(va),
    };
    if (this.#o.trace) o.trace = this.#o.trace;
    takeException(this.#cpu, o);
    this.#stop({
      stopped: "fault",
      fault: { access, va: Number(va), line, message },
      steps: 0,
      line,
    });
  }

  /**
   * While M may be 1 the PE may walk and fill the TLB at any time (R7), from
   * the committed TTBR0_EL2 and from a written-but-unsynchronised one: fill
   * the page of the next instruction from each, once per state.
   */
  #speculate(i: number): void {
    const pc = this.#o.codeBase + 4 * i;
    const page = Math.floor(pc / 4096) * 4096;
    // The committed base first: where M=1 takes effect before a pending
    // TTBR0_EL2 write (R3), the first walks use the old base, and a walk
    // from the new one may then start from the descriptors they cached.
    const committed = this.#cpu.sysregs.read("TTBR0_EL2");
    const bases = [committed];
    const pend = this.#pending.get("TTBR0_EL2");
    if (pend !== undefined) bases.push(pend);
    const oldWalk = this.#oldBasePending();
    for (const b of bases) {
      const base = Number(b & 0x0000_ffff_ffff_fffen);
      const k = `${page}:${base}`;
      if (this.#specDone.has(k)) continue;
      this.#specDone.add(k);
      this.#snapTlbis();
      const e = this.#o.mmu!.prefetch(this.#cpu, page, { base });
      if (e !== undefined && oldWalk && b === committed) this.#account!.oldBaseWalk(this.#line);
    }
  }

  /**
   * Whether a walk from the committed TTBR0_EL2 now counts as R3's: a write
   * of another base is pending (an account is kept and M may be 1).
   */
  #oldBasePending(): boolean {
    if (this.#account === null) return false;
    const pend = this.#pending.get("TTBR0_EL2");
    if (pend === undefined) return false;
    const mask = 0x0000_ffff_ffff_fffen;
    return (pend & mask) !== (this.#cpu.sysregs.read("TTBR0_EL2") & mask);
  }

  /** A translated access, for the account: a hit on a live survivor, or an old-base walk. */
  #accountAccess(va: number, fromTlb: boolean): void {
    const a = this.#account!;
    if (fromTlb) {
      if (a.open) a.hit(this.#o.tlb!.peek(this.#cpu, va));
    } else if (this.#mmuOn && this.#oldBasePending()) a.oldBaseWalk(this.#line);
  }

  #translate(i: number, va: bigint, write: boolean): number {
    const line = this.#p.instructions[i]!.line;
    const mmu = this.#o.mmu;
    if (va > BigInt(Number.MAX_SAFE_INTEGER)) {
      // Above any configurable VA range: a level-0 translation fault.
      const msg = `address 0x${va.toString(16)} is outside the VA range: translation fault`;
      this.#abort(i, "data", va, 0x04, write, line, msg);
      return -1;
    }
    const vaNum = Number(va);
    let pa = vaNum;
    if (mmu !== undefined) {
      this.#snapTlbis();
      const t = mmu.translate(this.#cpu, vaNum, write ? "write" : "read", { size: 8 });
      if (t.kind === "fault") {
        this.#abort(i, "data", va, t.fsc, write, line, t.message);
        return -1;
      }
      if (this.#account !== null) this.#accountAccess(vaNum, t.fromTlb && !t.mmuOff);
      pa = t.pa;
    }
    const mem = this.#o.memory;
    if (mem !== undefined && mem.probe(pa, 8, write) !== undefined) {
      const msg = `${write ? "store" : "load"} at VA 0x${vaNum.toString(16)} reaches PA 0x${
        pa.toString(16)
      }, outside RAM: synchronous external abort`;
      this.#abort(i, "data", va, 0x10, write, line, msg);
      return -1;
    }
    return pa;
  }

  #read(pa: number): bigint {
    const mem = this.#o.memory;
    return mem !== undefined ? mem.read64(pa) : this.#scratch.get(pa) ?? 0n;
  }

  #write(pa: number, v: bigint): void {
    const mem = this.#o.memory;
    if (mem !== undefined) {
      this.#undo.push([pa, mem.read64(pa)]);
      mem.write64(pa, v);
    } else this.#scratch.set(pa, v);
  }

  /** Puts back every store of this run (newest first). */
  undoStores(): void {
    const mem = this.#o.memory;
    if (mem === undefined) return;
    for (let k = this.#undo.length - 1; k >= 0; k--) {
      mem.write64(this.#undo[k]![0], this.#undo[k]![1]);
    }
  }

  #memOp(i: number): boolean {
    const ins = this.#p.instructions[i]!;
    const x = this.#x;
    const base = x[ins.rn]!;
    const off = ins.symbol !== "" || ins.target >= 0 ? this.#symbolValue(i) & 0xfffn : ins.imm;
    const addr = ins.mode === AddrMode.POST ? base : (base + off) & MASK64;
    const pair = ins.op === Op.LDP || ins.op === Op.STP;
    const write = ins.op === Op.STR || ins.op === Op.STP;
    const pa0 = this.#translate(i, addr, write);
    if (pa0 < 0) return false;
    let pa1 = -1;
    if (pair) {
      pa1 = this.#translate(i, (addr + 8n) & MASK64, write);
      if (pa1 < 0) return false;
    }
    if (write) {
      this.#write(pa0, x[ins.rd]!);
      if (pair) this.#write(pa1, x[ins.rm]!);
    } else {
      const v0 = this.#read(pa0);
      const v1 = pair ? this.#read(pa1) : 0n;
      x[ins.rd] = v0;
      if (pair) x[ins.rm] = v1;
    }
    if (ins.mode !== AddrMode.OFFSET) x[ins.rn] = (base + off) & MASK64;
    x[XZR] = 0n;
    return true;
  }

  #msr(i: number, value: bigint): void {
    const ins = this.#p.instructions[i]!;
    // A write against the RES0/RES1 rules is not refused: the CPU stores it
    // (QEMU does; Linux 7.x writes SCTLR_EL2 with the E2H=0 RES1 bits clear).
    if (PSTATE_REGS.has(ins.sysreg)) {
      this.#setPstate(ins.sysreg, value);
      return;
    }
    if (ins.sysreg === "SCTLR_EL2" && (value & 1n) === 1n && this.#account !== null) {
      const prev = this.#pending.get("SCTLR_EL2") ?? this.#cpu.sysregs.read("SCTLR_EL2");
      // M may be 1 from here: what the pending TLBIs have not removed is live.
      if ((prev & 1n) === 0n) {
        const tlb = this.#o.tlb!;
        this.#snapTlbis();
        this.#account.enable(
          ins.line,
          ins.text,
          this.#tlbi,
          (t) => this.#walkedSince(tlb, t as PendingTlbi),
        );
      }
    }
    this.#pending.set(ins.sysreg, value);
    if (ins.sysreg === "SCTLR_EL2") this.#maybeOn = this.#mmuOn || (value & 1n) === 1n;
    if (ins.sysreg === "TTBR0_EL2") this.#specDone.clear();
    this.#o.trace?.emit("sysreg_write", {
      reg: ins.sysreg,
      value: `0x${value.toString(16)}`,
      pending: true,
    }, {
      cpu: this.#cpu.id,
      el: this.#cpu.pstate.el,
    });
  }

  /** A context synchronisation event: every pending system-register write takes effect. */
  #commit(): void {
    if (this.#pending.size === 0) return;
    const cpu = this.#cpu;
    for (const [reg, value] of this.#pending) {
      // The CPU model stores the write as QEMU 7.2 does (bits of absent
      // features read back as 0; RES0/RES1 as written); lenient runs store
      // the value as it is; registers it does not hold go to the side map.
      if (!MODELLED.has(reg)) this.#extra.set(reg, value);
      else if (this.#o.lenientSysregs) cpu.sysregs.set(reg, value);
      else cpu.msr(reg, value);
      this.#o.trace?.emit(
        "sysreg_write",
        { reg, value: `0x${value.toString(16)}`, pending: false },
        {
          cpu: cpu.id,
          el: cpu.pstate.el,
        },
      );
      if (MMU_REGS.has(reg)) this.#o.tlb?.onSysregWrite(cpu, reg, value);
    }
    this.#pending.clear();
    this.#mmuOn = (cpu.sysregs.read("SCTLR_EL2") & 1n) === 1n;
    this.#maybeOn = this.#mmuOn;
    this.#fetchPage = -1;
    this.#specDone.clear();
  }

  /** A system register read: this PE sees its own pending write. */
  #mrs(name: string): bigint {
    const pending = this.#pending.get(name);
    if (pending !== undefined) return pending;
    if (MODELLED.has(name)) return this.#cpu.sysregs.read(name);
    const ps = this.#cpu.pstate;
    switch (name) {
      case "CURRENTEL":
        return BigInt(ps.el << 2);
      case "SPSEL":
        return BigInt(ps.spsel);
      case "NZCV":
        return BigInt(ps.nzcv) << 28n;
      case "DAIF":
        return BigInt(ps.daif) << 6n;
      default:
        return this.#extra.get(name) ?? 0n;
    }
  }

  /** `msr` to a PSTATE view (SPSel, NZCV, DAIF): it takes effect at once. */
  #setPstate(name: string, value: bigint): void {
    const ps = this.#cpu.pstate;
    if (name === "SPSEL") this.#selectSp(Number(value & 1n) as 0 | 1);
    else if (name === "NZCV") ps.nzcv = Number((value >> 28n) & 0xfn);
    else ps.daif = Number((value >> 6n) & 0xfn);
  }

  #selectSp(sel: 0 | 1): void {
    const cpu = this.#cpu;
    cpu.sp = this.#x[SP]!;
    cpu.pstate.spsel = sel;
    this.#x[SP] = cpu.sp;
  }

  /** `msr <pstatefield>, #imm`. */
  #pstateImm(i: number): void {
    const ins = this.#p.instructions[i]!;
    const ps = this.#cpu.pstate;
    if (ins.operation === "spsel") this.#selectSp((ins.imm2 & 1) as 0 | 1);
    else if (ins.operation === "daifset") ps.daif |= ins.imm2;
    else if (ins.operation === "daifclr") ps.daif &= ~ins.imm2 & 0xf;
  }

  /**
   * The address an `adr`/`adrp`/`ldr =`/`:lo12:` instruction refers to: a
   * label of the text (where the code sits), or an external symbol (from
   * the run's `symbolAddress`), or the literal's value.
   */
  #symbolValue(i: number): bigint {
    const ins = this.#p.instructions[i]!;
    let addr: bigint;
    if (ins.target >= 0) addr = this.#pc(ins.target);
    else if (ins.symbol !== "") {
      const kind = ins.op === Op.LDR_LIT ? "va" : "pa";
      const resolve = this.#o.symbolAddress;
      if (resolve === undefined) {
        throw new A64ExecutionError(
          ins.line,
          ins.text,
          `the address of ${ins.symbol} is not known to this run (a symbol outside the text)`,
        );
      }
      addr = resolve(ins.symbol, kind);
    } else return ins.imm;
    return ins.op === Op.ADRP ? addr & ~0xfffn : addr;
  }

  #dsb(i: number): void {
    const ins = this.#p.instructions[i]!;
    if (ins.barrierType !== BarrierType.FULL || this.#tlbi.length === 0) return;
    // Any full DSB completes every pending TLBI here: a broadcast TLBI under
    // DSB NSH is taken as complete for this PE's own view (the checker
    // reports R11 for it), and, a simplification, on the other PEs too (only
    // DSB ISH/SY guarantees that): the boot runs the switch one PE at a time
    // with local TLBIs, so nothing here depends on it.
    const tlb = this.#o.tlb;
    for (const t of this.#tlbi) {
      if (tlb === undefined) continue;
      // The TLBI may have been performed as early as its issue: entries this
      // CPU walked since then survive it (rules R5, R7; the checker's
      // model is the same). Those present at issue go now, not at issue: it
      // may also have been performed as late as now, and until then they
      // could still be used. The TLB has no "remove all but these", so the
      // survivors are removed with the rest and put back (counted as fills
      // again).
      const since = this.#walkedSince(tlb, t);
      // The walk cache had the TLBI at its issue (#tlbiWalks): what it holds
      // now was walked since, and stays.
      const walks = t.walks !== undefined ? tlb.walkEntries!(this.#cpu) : [];
      tlb.invalidate(this.#cpu, t.op, t.va);
      // Put back the survivors the invalidation took (few: the pages walked
      // between issue and completion), found without listing the TLB again.
      for (const e of since) if (tlb.peek(this.#cpu, e.va) !== e) tlb.fill(this.#cpu, e);
      if (walks.length > 0) {
        const left = new Set(tlb.walkEntries!(this.#cpu));
        for (const w of walks) if (!left.has(w)) tlb.fillWalk!(this.#cpu, w);
      }
    }
    this.#tlbi = [];
    this.#account?.completed(ins.line, ins.text);
    this.#fetchPage = -1;
    this.#specDone.clear();
  }

  /**
   * A TLBI's issue, for a TLB with a walk cache it can invalidate apart: the
   * TLBI is performed on the walk cache now, on the leaf entries at its
   * completion (#dsb). A TLBI may reach any entry at any time between the
   * two; these are the two worst cases. A leaf present at the issue may
   * serve translations until the DSB (R4). A table descriptor present at
   * the issue could only shorten walks that would re-read it anyway;
   * without it, a walk after the issue reads and caches the descriptors of
   * whatever base is in force — the old one, where M=1 lands before the
   * TTBR0_EL2 write (R3) — and those, walked after the TLBI, survive it.
   */
  #tlbiWalks(tlb: Tlb, e: PendingTlbi): void {
    if (
      tlb.invalidateWalks === undefined || tlb.walkEntries === undefined ||
      tlb.fillWalk === undefined
    ) return;
    const before = tlb.walkEntries(this.#cpu);
    tlb.invalidateWalks(this.#cpu, e.op, e.va);
    const left = new Set(tlb.walkEntries(this.#cpu));
    e.walks = before.filter((w) => !left.has(w));
  }

  /** The entries this CPU walked since TLBI `t` was issued that are still in the TLB. */
  #walkedSince(tlb: Tlb, t: PendingTlbi): TlbEntry[] {
    const cpu = this.#cpu;
    if (t.mark !== undefined) {
      const log = tlb.fillsSince?.(cpu, t.mark);
      if (log !== undefined) {
        const out = new Set<TlbEntry>();
        for (const e of log) if (tlb.peek(cpu, e.va) === e) out.add(e);
        return [...out];
      }
    }
    const before = t.before;
    if (before === null || before === undefined || tlb.stats().fills === t.fillsAtSnap) {
      return [];
    }
    return tlb.entries(cpu).filter((e) => !before.has(e));
  }

  /**
   * Before an MMU call that may fill the TLB: snapshots this CPU's entries
   * for the pending TLBIs that have none yet (see {@link PendingTlbi.before}).
   * With M = 0 (committed, and none pending) nothing can fill.
   */
  #snapTlbis(): void {
    const tlb = this.#o.tlb;
    if (tlb === undefined || this.#tlbi.length === 0 || !(this.#maybeOn || this.#mmuOn)) return;
    // A TLB that logs its fills needs no snapshot (see #walkedSince).
    if (tlb.fillMark !== undefined && tlb.fillsSince !== undefined) return;
    let snap: ReadonlySet<TlbEntry> | null | undefined;
    for (const t of this.#tlbi) {
      if (t.before !== undefined) continue;
      if (snap === undefined) snap = this.#entries();
      t.before = snap;
      t.fillsAtSnap = tlb.stats().fills;
    }
  }

  /**
   * This CPU's TLB entries now, to tell at a TLBI's completion which were
   * walked after its issue. Needs a TLB that hands out its own entry objects
   * (the built-in one keeps the very object it is given); with one that
   * copies them, null: the TLBI then removes everything at completion.
   */
  #entries(): ReadonlySet<TlbEntry> | null {
    const tlb = this.#o.tlb;
    if (tlb === undefined) return null;
    const a = tlb.entries(this.#cpu);
    // Whether the TLB hands out its own entry objects is asked once.
    if (this.#stableEntries === undefined && a.length > 0) {
      this.#stableEntries = tlb.entries(this.#cpu)[0] === a[0];
    }
    if (this.#stableEntries === false) return null;
    return new Set(a);
  }

  #hvc(i: number): number {
    const ins = this.#p.instructions[i]!;
    const vectors = this.#o.vectors;
    this.#commit();
    if (vectors === undefined && this.#o.hvcReturns) {
      this.#checker?.exceptionReturn(i);
      return i + 1;
    }
    this.#store();
    this.#cpu.pc = this.#pc(i);
    const o: Parameters<typeof takeException>[1] = {
      ec: EC.HVC64,
      iss: Number(ins.imm),
      returnAddress: this.#pc(i + 1),
    };
    if (this.#o.trace) o.trace = this.#o.trace;
    const offset = takeException(this.#cpu, o);
    const h = vectors?.handler(offset);
    if (h === undefined) {
      this.#stop({ stopped: "exception", steps: 0, line: ins.line });
      return i;
    }
    h(this.#cpu, {
      offset,
      esr: this.#cpu.sysregs.read("ESR_EL2"),
      ec: EC.HVC64,
      iss: Number(ins.imm),
    });
    this.#load();
    this.#checker?.exceptionReturn(i);
    return this.#branchAfterReturn(i, this.#cpu.pc);
  }

  #eret(i: number): number {
    const ins = this.#p.instructions[i]!;
    this.#commit();
    this.#store();
    try {
      eret(this.#cpu, this.#o.trace);
    } catch (e) {
      throw new A64ExecutionError(ins.line, ins.text, e instanceof Error ? e.message : String(e));
    }
    this.#load();
    return this.#branchAfterReturn(i, this.#cpu.pc, -1);
  }

  #branchAfterReturn(i: number, dest: bigint, reg = -1): number {
    return this.#branch(i, dest, reg);
  }

  // ---- explore mode --------------------------------------------------------

  /**
   * Whether each register's value follows from the program text alone:
   * immediates, arithmetic on such values, return addresses (the code's own
   * layout). Arguments, loads and system registers do not. Called before
   * instruction `i` executes.
   */
  #track(i: number): void {
    const c = this.#c;
    const k = this.#known;
    const rd = c.rd[i]!;
    switch (c.op[i]) {
      case Op.MOV_IMM:
      case Op.MOVZ:
      case Op.MOVN:
        k[rd] = 1;
        break;
      case Op.MOV_REG:
      case Op.ORR_IMM:
      case Op.AND_IMM:
      case Op.ADD_IMM:
      case Op.SUB_IMM:
      case Op.LSL_IMM:
      case Op.LSR_IMM:
        k[rd] = k[c.rn[i]!]!;
        break;
      case Op.ORR_REG:
      case Op.AND_REG:
      case Op.BIC_REG:
      case Op.ADD_REG:
      case Op.SUB_REG:
      case Op.LSL_REG:
      case Op.LSR_REG:
        k[rd] = k[c.rn[i]!]! & k[c.rm[i]!]!;
        break;
      case Op.LDR:
        k[rd] = 0;
        break;
      case Op.MRS:
        // CurrentEL follows from how the routine is entered.
        k[rd] = this.#p.instructions[i]!.sysreg === "CURRENTEL" ? 1 : 0;
        break;
      case Op.ADR:
      case Op.ADRP:
      case Op.LDR_LIT:
        k[rd] = 1;
        break;
      case Op.EOR_IMM:
      case Op.ASR_IMM:
      case Op.UBFX:
      case Op.SBFX:
      case Op.UBFIZ:
      case Op.SBFIZ:
        k[rd] = k[c.rn[i]!]!;
        break;
      case Op.EOR_REG:
      case Op.ORN_REG:
      case Op.ASR_REG:
        k[rd] = k[c.rn[i]!]! & k[c.rm[i]!]!;
        break;
      case Op.BFI:
      case Op.BFXIL:
        k[rd] = k[rd]! & k[c.rn[i]!]!;
        break;
      case Op.SUBS_IMM:
      case Op.ADDS_IMM:
      case Op.ANDS_IMM:
        k[rd] = k[c.rn[i]!]!;
        this.#flagsKnown = k[c.rn[i]!] === 1;
        break;
      case Op.SUBS_REG:
      case Op.ADDS_REG:
      case Op.ANDS_REG:
        k[rd] = k[c.rn[i]!]! & k[c.rm[i]!]!;
        this.#flagsKnown = k[rd] === 1 || (k[c.rn[i]!]! & k[c.rm[i]!]!) === 1;
        break;
      case Op.CCMP_IMM:
      case Op.CCMN_IMM:
        this.#flagsKnown &&= k[c.rn[i]!] === 1;
        break;
      case Op.CCMP_REG:
      case Op.CCMN_REG:
        this.#flagsKnown &&= k[c.rn[i]!] === 1 && k[c.rm[i]!] === 1;
        break;
      case Op.CSEL:
      case Op.CSINC:
      case Op.CSINV:
      case Op.CSNEG:
        k[rd] = this.#flagsKnown ? k[c.rn[i]!]! & k[c.rm[i]!]! : 0;
        break;
      case Op.MSR_IMM:
        if (this.#p.instructions[i]!.operation === "spsel") k[SP] = 0;
        break;
      case Op.LDP:
        k[rd] = 0;
        k[c.rm[i]!] = 0;
        break;
      case Op.BL:
      case Op.BLR:
        k[30] = 1;
        break;
      case Op.ERET:
        k[SP] = 0; // the SP of the EL returned to
        break;
      default:
        break;
    }
    k[XZR] = 1;
  }

  /**
   * The state a branch target is reached with: the checker's abstract state
   * plus the values the text fixes (a return address decides where `ret`
   * goes; a known counter decides a loop). Values from the arguments or
   * memory are left out: they are synthetic, and the branches on them fork.
   */
  #stateKey(at: number): string {
    const live = this.#o.exactMerge ? ALL_LIVE : this.#live!;
    const known: string[] = [];
    for (let r = 0; r < REGFILE_SIZE; r++) {
      if (this.#known[r] && r !== XZR && live.live(at, r)) {
        known.push(`${r}=${this.#x[r]!.toString(16)}`);
      }
    }
    const ps = this.#cpu.pstate;
    const flags = live.live(at, FLAGS) ? (this.#flagsKnown ? `f${ps.nzcv}` : "f?") : "";
    const key = this.#checker!.stateKey((r) => live.live(at, r));
    return `${key}|${known.join(",")}|${flags}|${ps.el}${ps.spsel}`;
  }

  /** Marks `index` with the current state; false when it was reached so before. */
  #mark(index: number, key: string): boolean {
    const k = `${index}|${key}`;
    if (this.#visited.has(k)) return false;
    this.#visited.add(k);
    return true;
  }

  /** Reports a branch to a routine start (see `onRoutineEntry`). */
  #recordEntry(index: number, via: "call" | "jump"): void {
    const hook = this.#o.onRoutineEntry;
    if (hook === undefined || !hook.starts.has(index)) return;
    hook.record(index, via, this.#snapshot(index), this.#i);
  }

  /** Goes to `index`, or ends this path when that state was explored already. */
  #enter(index: number): number {
    if (!this.#mark(index, this.#stateKey(index))) this.#stop(MERGED);
    return index;
  }

  /**
   * A conditional branch whose direction the text does not fix: continue at
   * `next`, queue `other` with a copy of the state (unless either was
   * explored already with this state).
   */
  #fork(next: number, other: number): number {
    this.#recordEntry(next, "jump");
    this.#recordEntry(other, "jump");
    const a = this.#mark(next, this.#stateKey(next));
    const b = other !== next && this.#mark(other, this.#stateKey(other));
    if (a && b) this.#work.push(this.#snapshot(other));
    if (a) return next;
    if (b) return other;
    this.#stop(MERGED);
    return next;
  }

  #snapshot(i: number): Snapshot {
    const cpu = this.#cpu;
    return {
      i,
      line: this.#line,
      x: this.#x.slice(),
      known: this.#known.slice(),
      pending: new Map(this.#pending),
      // Copies: a path fills in `before` lazily, for itself only.
      tlbi: this.#tlbi.map((t) => ({ ...t })),
      scratch: new Map(this.#scratch),
      sysregs: SYSREG_NAMES.map((name) => cpu.sysregs.read(name)),
      pstate: { ...cpu.pstate },
      spEl: cpu.spEl.slice(),
      checker: this.#checker!.fork(),
      extra: new Map(this.#extra),
      flagsKnown: this.#flagsKnown,
    };
  }

  /** Puts a queued path's state back and returns where it continues. */
  #resume(s: Snapshot): number {
    const cpu = this.#cpu;
    SYSREG_NAMES.forEach((name, k) => {
      const v = s.sysregs[k]!;
      if (cpu.sysregs.read(name) !== v) cpu.sysregs.set(name, v);
    });
    Object.assign(cpu.pstate, s.pstate);
    cpu.spEl.set(s.spEl);
    s.x.forEach((v, r) => (this.#x[r] = v));
    this.#known.set(s.known);
    this.#pending = s.pending;
    this.#tlbi = s.tlbi.map((t) => ({ ...t }));
    this.#scratch = s.scratch;
    this.#checker = s.checker;
    this.#extra = s.extra;
    this.#flagsKnown = s.flagsKnown;
    this.#mmuOn = (cpu.sysregs.read("SCTLR_EL2") & 1n) === 1n;
    this.#maybeOn = this.#mmuOn || ((this.#pending.get("SCTLR_EL2") ?? 0n) & 1n) === 1n;
    this.#fetchPage = -1;
    this.#specDone.clear();
    this.#line = s.line;
    this.#result = null;
    return s.i;
  }
}
