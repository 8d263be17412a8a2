/**
 * The hazard checker: an abstract state machine of what the EL2 translation
 * regime, its TLB and the caches hold (rules R1–R18 in `rules.ts`), fed one instruction at a time (by the static run or by a concrete run of
 * the executor), reporting each broken rule with its line.
 *
 * State: SCTLR_EL2 and TTBR0_EL2 as committed value plus pending write
 * (pending until a context synchronisation event), the set of table bases the
 * EL2 TLB may hold entries for, pending TLBI / IC / DC operations (until a
 * DSB of sufficient scope), "completed but not yet synchronised" flags, table
 * stores not yet covered by a DSB, I-cache pollution from PoC fetches while
 * the MMU may be off, and an address-space tag per register (PA, old-table
 * VA, new-table VA) for the stack rule.
 *
 * @module
 */

import { type CheckResult, type Finding, SCTLR_EL2_RES1, type Verdict } from "../../core/mod.ts";
import type { ResolvedCheckConfig } from "./config.ts";
import {
  AddrMode,
  BarrierType,
  Domain,
  IC_OPS,
  Op,
  REGFILE_SIZE,
  SP,
  TLBI_OPS,
  XZR,
} from "./opcodes.ts";
import type { A64Program } from "./program.ts";
import { A64_LOAD_TAGS } from "./symbols.ts";

/** Reads the executor's registers (0–30, 31 = zero, 32 = SP). */
export interface RegisterReader {
  /**
   * Current value.
   * @param n Register index.
   * @returns The 64-bit value.
   */
  get(n: number): bigint;
}

/** Where the checker starts. */
export interface CheckerStart {
  /** Committed SCTLR_EL2 at entry. */
  readonly sctlr: bigint;
  /** Committed TTBR0_EL2 at entry (the old tables). */
  readonly ttbr0: bigint;
  /** How x0–x2 are passed. */
  readonly abi: "params" | "registers";
  /**
   * What the registers hold at entry, overriding `abi` (a routine the
   * kernel enters some other way: an exception vector, a PSCI entry point).
   */
  readonly tags?: Readonly<Record<number, Space>>;
}

/**
 * Address-space tag of a register value: a physical address, a VA of the
 * old or the new tables, a code address (the idmap: valid in every
 * regime), a number from the text (`imm`) or from a system register
 * (`sysreg`), or unknown.
 */
export type Space = "PA" | "oldVA" | "newVA" | "code" | "imm" | "sysreg" | "unknown";

interface PendingTlbi {
  /** Step it was issued at: entries refilled from then on survive it. */
  issued: number;
  op: string;
  broadcast: boolean;
  el2: boolean;
  all: boolean;
  line: number;
}

interface PendingIc {
  op: string;
  broadcast: boolean;
  /** Issued with the MMU certainly on: completing it clears PoC pollution. */
  clears: boolean;
  line: number;
}

/** Instructions that only compute registers (no memory, system or control effect). */
const REGISTER_ONLY: ReadonlySet<number> = new Set([
  Op.NOP,
  Op.MRS,
  Op.MOV_REG,
  Op.MOV_IMM,
  Op.MOVZ,
  Op.MOVK,
  Op.MOVN,
  Op.ORR_IMM,
  Op.ORR_REG,
  Op.AND_IMM,
  Op.AND_REG,
  Op.BIC_REG,
  Op.ADD_IMM,
  Op.ADD_REG,
  Op.SUB_IMM,
  Op.SUB_REG,
  Op.LSL_IMM,
  Op.LSL_REG,
  Op.LSR_IMM,
  Op.LSR_REG,
  Op.ASR_IMM,
  Op.ASR_REG,
  Op.EOR_IMM,
  Op.EOR_REG,
  Op.ORN_REG,
  Op.SUBS_IMM,
  Op.SUBS_REG,
  Op.ADDS_IMM,
  Op.ADDS_REG,
  Op.ANDS_IMM,
  Op.ANDS_REG,
  Op.CCMP_IMM,
  Op.CCMP_REG,
  Op.CCMN_IMM,
  Op.CCMN_REG,
  Op.CSEL,
  Op.CSINC,
  Op.CSINV,
  Op.CSNEG,
  Op.UBFX,
  Op.SBFX,
  Op.UBFIZ,
  Op.SBFIZ,
  Op.BFI,
  Op.BFXIL,
  Op.ADR,
  Op.ADRP,
  Op.LDR_LIT,
  Op.HINT,
]);

const BADDR_MASK = 0x0000_ffff_ffff_fffen;
/** SCTLR_ELx.M (bit 0), C (bit 2) and I (bit 12): the bits R1 is about. */
const SCTLR_MCI = 0x1005n;
/** SCTLR_EL2.EIS (bit 22) and EOS (bit 11), which FEAT_ExS gives a function. */
const SCTLR_EXS = (1n << 22n) | (1n << 11n);
const key = (ttbr: bigint) => `0x${(ttbr & BADDR_MASK).toString(16)}`;
const mBit = (v: bigint) => Number(v & 1n);

/**
 * The barrier-rule state machine.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HazardChecker, parseA64, resolveCheckConfig } from "./mod.ts";
 * const p = parseA64("msr sctlr_el2, x0\nic iallu\nisb");
 * const c = new HazardChecker(p, resolveCheckConfig(), { sctlr: 0x30c50830n, ttbr0: 0n, abi: "registers" });
 * const regs = { get: (n: number) => (n === 0 ? 0x30e5183dn : 0n) };
 * for (let i = 0; i < 3; i++) c.step(i, regs);
 * c.end();
 * // R17: nothing branches away at the end.
 * assertEquals([...new Set(c.result().findings.map((f) => f.rule))], ["R1", "R17", "R9", "R10"]);
 * ```
 */
export class HazardChecker {
  /** Called with each new finding (the executor turns them into trace events). */
  onFinding: ((f: Finding) => void) | undefined;
  #p: A64Program;
  #cfg: ResolvedCheckConfig;
  /**
   * Findings by `rule:line`, one per rule and line, in report order (a
   * replaced value keeps its key's place). Shared by every fork(): all paths
   * report into one result.
   */
  #seen = new Map<string, Finding>();
  // The abstract state. fork() and stateKey() list every field below: keep
  // them in step when adding one.
  #sctlrCur: bigint;
  #sctlrPend: bigint | null = null;
  #ttbrInitial: string;
  #ttbrCur: string;
  #ttbrPend: string | null = null;
  #otherPend = new Set<string>();
  /**
   * Table base → step of the last fill while M may be 1 (`on`) and of the
   * last fill only an allocating M=0 PE would make (`off`, R6); -1 = none.
   */
  #tlb = new Map<string, { on: number; off: number }>();
  #step = 0;
  #tlbi: PendingTlbi[] = [];
  #tlbiNeedCse = false;
  #tlbiLine = 0;
  #ptLine = 0;
  #polluted = false;
  #ic: PendingIc | null = null;
  #icNeedCse = false;
  #icLine = 0;
  #dc: { line: number; addr: bigint }[] = [];
  #cleaned = new Set<bigint>();
  #tags: Space[] = new Array<Space>(REGFILE_SIZE).fill("unknown");
  /** Registers holding an SP-derived value (`mov x9, sp`): their accesses are stack accesses (R15). */
  #stackCopy: boolean[] = new Array<boolean>(REGFILE_SIZE).fill(false);
  #lastIsb = false;
  #ttbrUnsynced = false;
  /** The DSB that completed the last EL2 TLBI ran with the MMU certainly off (R4). */
  #tlbiDoneOff = false;
  /** Address space of the value written to ELR_EL2 (where an `eret` to EL2 goes). */
  #elrTag: Space = "unknown";
  /** Shared by every fork: whether some path changed SCTLR_EL2.M or wrote TTBR0_EL2. */
  #shared = { switches: false };

  /**
   * Creates a checker at the entry of a sequence.
   * @param program The parsed program (instructions are looked up by index).
   * @param config Resolved configuration.
   * @param start Entry state and calling convention.
   */
  constructor(program: A64Program, config: ResolvedCheckConfig, start: CheckerStart) {
    this.#p = program;
    this.#cfg = config;
    this.#sctlrCur = start.sctlr;
    this.#ttbrInitial = key(start.ttbr0);
    this.#ttbrCur = this.#ttbrInitial;
    // The EL2 TLB starts with entries from the tables in use.
    if (mBit(start.sctlr) === 1) this.#tlb.set(this.#ttbrCur, { on: 0, off: -1 });
    this.#tags[SP] = mBit(start.sctlr) === 1 ? "oldVA" : "PA";
    this.#tags[30] = "code";
    this.#tags[XZR] = "imm";
    if (start.tags !== undefined) {
      for (const [r, tag] of Object.entries(start.tags)) this.#tags[Number(r)] = tag;
    } else if (start.abi === "registers") {
      this.#tags[0] = "PA";
      this.#tags[1] = "newVA";
      this.#tags[2] = "newVA";
    } else {
      this.#tags[0] = "PA";
      this.#tags[1] = "newVA";
    }
  }

  /**
   * A copy of this checker's state that reports into the same findings (and
   * the same `onFinding`): the static run forks one per successor of a
   * conditional branch whose direction the program text does not fix.
   * @returns The copy.
   */
  fork(): HazardChecker {
    const c = new HazardChecker(this.#p, this.#cfg, {
      sctlr: this.#sctlrCur,
      ttbr0: 0n,
      abi: "registers",
    });
    c.onFinding = this.onFinding;
    c.#seen = this.#seen;
    c.#shared = this.#shared;
    c.#tlbiDoneOff = this.#tlbiDoneOff;
    c.#elrTag = this.#elrTag;
    c.#sctlrCur = this.#sctlrCur;
    c.#sctlrPend = this.#sctlrPend;
    c.#ttbrInitial = this.#ttbrInitial;
    c.#ttbrCur = this.#ttbrCur;
    c.#ttbrPend = this.#ttbrPend;
    c.#otherPend = new Set(this.#otherPend);
    c.#tlb = new Map([...this.#tlb].map(([b, e]) => [b, { ...e }]));
    c.#step = this.#step;
    c.#tlbi = this.#tlbi.slice(); // entries are never changed in place
    c.#tlbiNeedCse = this.#tlbiNeedCse;
    c.#tlbiLine = this.#tlbiLine;
    c.#ptLine = this.#ptLine;
    c.#polluted = this.#polluted;
    c.#ic = this.#ic === null ? null : { ...this.#ic };
    c.#icNeedCse = this.#icNeedCse;
    c.#icLine = this.#icLine;
    c.#dc = this.#dc.slice();
    c.#cleaned = new Set(this.#cleaned);
    c.#tags = this.#tags.slice();
    c.#stackCopy = this.#stackCopy.slice();
    c.#lastIsb = this.#lastIsb;
    c.#ttbrUnsynced = this.#ttbrUnsynced;
    return c;
  }

  /**
   * A copy of this checker's state that reports into findings of its own:
   * the start of another check (a routine entered from here).
   * @returns The copy.
   */
  detach(): HazardChecker {
    const c = this.fork();
    c.onFinding = undefined;
    c.#seen = new Map();
    c.#shared = { switches: false };
    return c;
  }

  /**
   * The abstract state as a string: two checkers with equal keys report the
   * same findings for the same instructions from here on (the static run
   * uses it, with the instruction index, to stop exploring a state it has
   * seen). Step numbers are kept only as far as they matter: whether a TLB
   * fill came before or after each pending TLBI's issue.
   * @param live Which registers a later instruction may read (default:
   *   all); the tags of the others cannot change a finding.
   * @returns The key.
   */
  stateKey(live: (r: number) => boolean = () => true): string {
    // Built as one string (this runs at every merge point of the static run).
    // Of SCTLR_EL2, M, C and I enter R1-R17, the RES1 bits R18.
    const bits = SCTLR_MCI | SCTLR_EL2_RES1;
    let k = `${this.#sctlrCur & bits}|${
      this.#sctlrPend === null ? "-" : this.#sctlrPend & bits
    }|${this.#ttbrCur}|${this.#ttbrPend}|`;
    if (this.#otherPend.size > 0) k += [...this.#otherPend].sort().join("+");
    // Pending TLBIs by (op, line): a later one of the same op removes all an
    // earlier one does, so a loop of TLBIs without a DSB does not grow the key.
    if (this.#tlbi.length > 0 || this.#tlb.size > 0) {
      const groups = new Map<string, number>();
      for (const t of this.#tlbi) groups.set(`${t.op}@${t.line}`, t.issued);
      const issued = [...groups.values()];
      const when = (step: number) =>
        step < 0 ? "-" : issued.map((s) => (step >= s ? "1" : "0")).join("");
      const tlb = [...this.#tlb].map(([b, e]) => `${b}:${when(e.on)}:${when(e.off)}`).sort();
      k += `|${tlb.join(";")}|${[...groups.keys()].join(";")}`;
    }
    const ic = this.#ic;
    k += `|${+this.#tlbiNeedCse}${+this.#polluted}${+this.#icNeedCse}${+this.#lastIsb}${+this
      .#ttbrUnsynced}${+this
      .#tlbiDoneOff}|${this.#tlbiLine}|${this.#ptLine}|${this.#icLine}|${this.#elrTag}|`;
    if (ic !== null) k += `${ic.op}:${+ic.broadcast}${+ic.clears}:${ic.line}`;
    // Cleaned lines only matter for R8, i.e. without data-clean-to-poc.
    if (!this.#cfg.dataCleanToPoC) {
      k += `|${this.#dc.map((d) => `${d.line}:${d.addr}`).join(",")}|${
        [...this.#cleaned].sort().join(",")
      }`;
    }
    k += "|";
    const tags = this.#tags;
    const copies = this.#stackCopy;
    for (let r = 0; r < tags.length; r++) {
      k += live(r) ? `${tags[r]}${copies[r] ? "*" : ""},` : "-,";
    }
    return k;
  }

  /**
   * Sets a register's address-space tag (a routine entered by a call
   * returns to a code address).
   * @param reg Register number.
   * @param tag `PA`, `oldVA`, `newVA`, `code`, `imm`, `sysreg` or `unknown`.
   */
  setTag(reg: number, tag: Space): void {
    this.#tags[reg] = tag;
    this.#stackCopy[reg] = false;
  }

  /** SCTLR_EL2.M now: `on`, `off`, or `pending` (a write not yet synchronised changes it). */
  get mmu(): "on" | "off" | "pending" {
    if (this.#mUncertain) return "pending";
    return mBit(this.#sctlrCur) === 1 ? "on" : "off";
  }

  /** Whether some explored path changed SCTLR_EL2.M or wrote TTBR0_EL2. */
  get switches(): boolean {
    return this.#shared.switches;
  }

  // ---- views -------------------------------------------------------------

  get #maybeOn(): boolean {
    return mBit(this.#sctlrCur) === 1 || (this.#sctlrPend !== null && mBit(this.#sctlrPend) === 1);
  }

  get #maybeOff(): boolean {
    return mBit(this.#sctlrCur) === 0 || (this.#sctlrPend !== null && mBit(this.#sctlrPend) === 0);
  }

  /**
   * M, C or I differs between the committed and the pending SCTLR_EL2 value:
   * either may apply to what runs now (R1 names all three: translation,
   * data cacheability, instruction cacheability).
   */
  get #uncertain(): boolean {
    return this.#sctlrPend !== null && ((this.#sctlrPend ^ this.#sctlrCur) & SCTLR_MCI) !== 0n;
  }

  /** M alone is uncertain: whether the MMU is off right now is not known. */
  get #mUncertain(): boolean {
    return this.#sctlrPend !== null && mBit(this.#sctlrPend) !== mBit(this.#sctlrCur);
  }

  #ttbrView(): string[] {
    return this.#ttbrPend === null || this.#ttbrPend === this.#ttbrCur
      ? [this.#ttbrCur]
      : [this.#ttbrCur, this.#ttbrPend];
  }

  #regime(): Space {
    if (mBit(this.#sctlrCur) === 0) return "PA";
    return this.#ttbrCur === this.#ttbrInitial ? "oldVA" : "newVA";
  }

  /**
   * Why an address tagged `space` is wrong under the regime in force
   * ("a new-table VA while the MMU is off ..."), or null when it is right or
   * not an address of the three spaces.
   */
  #wrongSpace(space: Space): string | null {
    const regime = this.#regime();
    if ((space !== "PA" && space !== "oldVA" && space !== "newVA") || space === regime) return null;
    return `${
      space === "newVA" ? "a new-table VA" : space === "oldVA" ? "an old-table VA" : "a PA"
    } while ${
      regime === "PA"
        ? "the MMU is off (PA = VA, Device memory)"
        : regime === "oldVA"
        ? "the old tables are in use"
        : "the new tables are in use"
    }`;
  }

  #report(rule: string, severity: "fail" | "warn", index: number, message: string): void {
    const ins = this.#p.instructions[index];
    const line = ins?.line ?? 0;
    const k = `${rule}:${line}`;
    const old = this.#seen.get(k);
    // One finding per rule and line (a loop or a macro repeats them), but a
    // fail must not hide behind an earlier warn of the same rule there (a
    // loop that runs a line first with the MMU off, then on): it replaces it.
    if (old !== undefined && (old.severity === "fail" || severity === "warn")) return;
    const f: Finding = { rule, severity, line, message };
    if (ins !== undefined) f.column = ins.column;
    this.#seen.set(k, f);
    this.onFinding?.(f);
  }

  // ---- events --------------------------------------------------------------

  /**
   * Feeds one instruction, before it executes (registers hold its inputs).
   * @param index Instruction index.
   * @param regs Register values.
   */
  step(index: number, regs: RegisterReader): void {
    const ins = this.#p.instructions[index]!;
    const cfg = this.#cfg;
    this.#step++;
    // Fetching this instruction while the MMU may be off can fill the
    // I-cache from the PoC (R8), i.e. with possibly stale code (R9).
    if (this.#maybeOff && cfg.codePatchedAtPoU) this.#polluted = true;
    const t = this.#tags;
    switch (ins.op) {
      case Op.MSR:
        this.#msr(index, ins.sysreg, regs.get(ins.rn), t[ins.rn]!);
        break;
      case Op.MRS:
        t[ins.rd] = "sysreg";
        this.#stackCopy[ins.rd] = false;
        break;
      case Op.ADR:
      case Op.ADRP:
        // PC-relative from the idmap: a label of the text is code, anything else a PA.
        t[ins.rd] = ins.target >= 0 ? "code" : "PA";
        this.#stackCopy[ins.rd] = false;
        break;
      case Op.LDR_LIT:
        // The literal holds a link-time address (the hyp VA, relocated) or a number.
        t[ins.rd] = ins.target >= 0 || ins.symbol !== "" ? "newVA" : "imm";
        this.#stackCopy[ins.rd] = false;
        break;
      case Op.CSEL:
      case Op.CSINC:
      case Op.CSINV:
      case Op.CSNEG:
        t[ins.rd] = t[ins.rn] === t[ins.rm] ? t[ins.rn]! : "unknown";
        this.#stackCopy[ins.rd] = false;
        break;
      case Op.MSR_IMM:
        if (ins.operation === "spsel") {
          // The other stack pointer: whatever it holds.
          t[SP] = "unknown";
          this.#stackCopy[SP] = false;
        }
        break;
      case Op.ISB:
        this.#cse();
        break;
      case Op.DSB:
        this.#dsb(index, ins.domain, ins.barrierType);
        break;
      case Op.TLBI: {
        const d = TLBI_OPS[ins.operation]!;
        // R11's hazard is a maintenance scope too narrow for the PEs that
        // share the tables, and multi-pe says other PEs do.
        if (cfg.multiPE && !d.broadcast) {
          this.#report(
            "R11",
            "fail",
            index,
            `tlbi ${ins.operation} is local to this PE: with other PEs running, their TLBs keep stale entries (use the "is" form with dsb ish).`,
          );
        }
        this.#tlbi.push({
          issued: this.#step,
          op: ins.operation,
          broadcast: d.broadcast,
          el2: d.el2,
          all: d.el2 && !d.va,
          line: ins.line,
        });
        break;
      }
      case Op.IC:
        this.#icIssue(index, ins.operation);
        break;
      case Op.DC:
        // DC by VA is translated (and its effect depends on C): between the
        // msr and its ISB it may use either setting (R1).
        if (this.#uncertain) {
          this.#report(
            "R1",
            "fail",
            index,
            `dc ${ins.operation} follows the SCTLR_EL2 write with no ISB: its address may be translated with either setting.`,
          );
        }
        this.#dc.push({ line: ins.line, addr: regs.get(ins.rn) >> 6n });
        break;
      case Op.LDR:
      case Op.LDP:
      case Op.STR:
      case Op.STP:
        this.#memory(index, regs);
        break;
      case Op.MOV_REG:
      case Op.ORR_IMM:
      case Op.ORR_REG:
      case Op.AND_IMM:
      case Op.AND_REG:
      case Op.BIC_REG:
      case Op.ADD_IMM:
      case Op.ADD_REG:
      case Op.SUB_IMM:
      case Op.SUB_REG:
      case Op.LSL_IMM:
      case Op.LSL_REG:
      case Op.LSR_IMM:
      case Op.LSR_REG:
      case Op.ASR_IMM:
      case Op.ASR_REG:
      case Op.EOR_IMM:
      case Op.EOR_REG:
      case Op.ORN_REG:
      case Op.SUBS_IMM:
      case Op.SUBS_REG:
      case Op.ADDS_IMM:
      case Op.ADDS_REG:
      case Op.ANDS_IMM:
      case Op.ANDS_REG:
      case Op.UBFX:
      case Op.SBFX:
      case Op.UBFIZ:
      case Op.SBFIZ:
      case Op.BFXIL:
        t[ins.rd] = t[ins.rn]!;
        this.#stackCopy[ins.rd] = ins.rn === SP || this.#stackCopy[ins.rn]!;
        break;
      case Op.MOV_IMM:
      case Op.MOVZ:
      case Op.MOVN:
        t[ins.rd] = "imm";
        this.#stackCopy[ins.rd] = false;
        break;
      case Op.BL:
      case Op.BLR:
        t[30] = "code";
        this.#stackCopy[30] = false;
        break;
      case Op.HVC: {
        // Exception entry is a context synchronisation event; the handler then
        // runs under the regime it synchronised, on this SP (R15: "an
        // exception taken in the window uses the bad SP").
        this.#cse();
        this.#elrTag = "code";
        const wrong = this.#wrongSpace(this.#tags[SP]!);
        if (wrong !== null) {
          this.#report(
            "R15",
            "fail",
            index,
            `the exception taken here runs its handler with SP holding ${wrong}: its stack accesses hit the wrong memory or fault.`,
          );
        }
        break;
      }
      case Op.ERET:
        // Exception return is a context synchronisation event.
        this.#cse();
        break;
      default:
        break;
    }
    this.#fill();
    // R13 wants the ISB "immediately" before the msr; the kernel itself puts
    // pre_disable_mmu_workaround before `mrs; bic`, so register-only
    // instructions in between keep the ISB adjacent.
    if (ins.op === Op.ISB) this.#lastIsb = true;
    else if (!REGISTER_ONLY.has(ins.op)) this.#lastIsb = false;
  }

  /**
   * A context synchronisation event outside the instruction stream (an
   * exception handler returning with ERET).
   * @param _index Instruction that took the exception.
   */
  exceptionReturn(_index: number): void {
    this.#step++;
    this.#cse();
    this.#fill();
  }

  /**
   * The sequence leaves its code by `ret`/`br`/`blr`/`eret`: the first fetch
   * at the target must see everything synchronised.
   * @param index The branch instruction.
   * @param reg Register holding the target (-1 for `eret`).
   * @param el For `eret`: the exception level returned to (EL1 code does
   *   not run in the EL2 translation regime).
   */
  branchOut(index: number, reg: number, el = 2): void {
    const tag = reg >= 0 ? this.#tags[reg]! : el < 2 ? "unknown" : this.#elrTag;
    const what = reg >= 0 ? `the branch to x${reg}` : `the exception return to EL${el}`;
    if (this.#sctlrPend !== null) {
      this.#report(
        "R1",
        "fail",
        index,
        `${what} follows an SCTLR_EL2 write with no ISB: the target may be fetched with either MMU setting.`,
      );
    } else if (mBit(this.#sctlrCur) === 0 && (tag === "newVA" || tag === "oldVA")) {
      this.#report(
        "R1",
        "fail",
        index,
        `${what} targets a virtual address while the MMU is off: it is fetched from PA = VA.`,
      );
    } else if (tag === "newVA" && this.#regime() === "oldVA" && this.#ttbrPend === null) {
      // The new tables are not in force: TTBR0_EL2 was never switched (a
      // pending write is R3 in #leaveChecks). R3 is the rule that puts the new
      // base in force before anything relies on it; its hazard, walks using
      // the old base, is what happens to this fetch.
      this.#report(
        "R3",
        "fail",
        index,
        `${what} targets a new-table VA while TTBR0_EL2 still holds the old tables: the target is fetched through the old tables.`,
      );
    }
    this.#leaveChecks(index, `${what}`, reg >= 0 || el === 2);
  }

  /**
   * A concrete run found the code page translating to another PA once the
   * MMU is on: the idmap is not VA = PA in the tables in use (R2).
   * @param index Instruction being fetched.
   * @param pa Where its VA translates to.
   */
  fetchMismatch(index: number, pa: number): void {
    this.#report(
      "R2",
      "fail",
      index,
      `with the MMU on this code's VA translates to PA 0x${
        pa.toString(16)
      }, not to itself: the idmap is not VA = PA in the tables in use, so fetch continues elsewhere.`,
    );
  }

  /**
   * The sequence ran off its end: it hands over to whatever follows it in
   * memory (R17), and nothing may be left pending.
   */
  end(): void {
    const index = this.#p.instructions.length - 1;
    if (index < 0) return;
    this.#report(
      "R17",
      "fail",
      index,
      "the sequence runs off its end without branching away (ret, br, eret or b): whatever follows it in memory executes next, so no hand-over point exists.",
    );
    if (this.#sctlrPend !== null) {
      this.#report(
        "R1",
        "fail",
        index,
        "the sequence ends with an SCTLR_EL2 write not synchronised by an ISB: where M changes is uncertain.",
      );
    }
    this.#leaveChecks(index, "the end of the sequence");
  }

  /**
   * The verdict and findings so far, in line order.
   * @returns The result.
   */
  result(): CheckResult {
    const findings = [...this.#seen.values()].sort((a, b) => a.line - b.line);
    let verdict: Verdict = "pass";
    for (const f of findings) {
      if (f.severity === "fail") verdict = "fail";
      else if (verdict === "pass") verdict = "warn";
    }
    return { verdict, findings };
  }

  // ---- effects -------------------------------------------------------------

  #leaveChecks(index: number, what: string, toEl2 = true): void {
    if (this.#ttbrPend !== null || this.#otherPend.size > 0) {
      const regs = [...(this.#ttbrPend !== null ? ["TTBR0_EL2"] : []), ...this.#otherPend];
      this.#report(
        "R3",
        "fail",
        index,
        `${what} comes before an ISB synchronises the ${
          regs.join("/")
        } write: the old value may still be used.`,
      );
    }
    if (this.#tlbi.length > 0) {
      this.#report(
        "R4",
        "fail",
        index,
        `the TLBI at line ${
          this.#tlbi[0]!.line
        } is not complete at ${what} (no DSB of its scope): stale translations may be used.`,
      );
    } else if (this.#tlbiNeedCse && !this.#cfg.ets) {
      this.#report(
        "R4",
        "fail",
        index,
        `no ISB after the DSB that completed the TLBI at line ${this.#tlbiLine} before ${what}: without FEAT_ETS, fetches may still use old translations.`,
      );
    }
    // PoC-sourced I-cache lines only matter once fetches are cacheable again,
    // and to EL2 code: an exception return to EL1 runs the host's own text.
    if (this.#polluted && mBit(this.#sctlrCur) === 1 && toEl2) {
      this.#report(
        "R9",
        "fail",
        index,
        `${what} runs code while the I-cache may hold instructions fetched from the PoC with the MMU off (no ic iallu after MMU-on and its ISB): stale, unpatched code may execute.`,
      );
    }
    if (this.#ic !== null) {
      this.#report(
        "R10",
        "fail",
        index,
        `the ic ${this.#ic.op} at line ${this.#ic.line} is not complete at ${what} (no DSB): stale instructions may still be fetched.`,
      );
    } else if (this.#icNeedCse) {
      this.#report(
        "R10",
        "fail",
        index,
        `no ISB after the DSB that completed the ic at line ${this.#icLine} before ${what}: instructions already fetched may be stale.`,
      );
    }
  }

  #msr(index: number, reg: string, value: bigint, tag: Space): void {
    const cfg = this.#cfg;
    if (reg === "ELR_EL2") this.#elrTag = tag;
    if (reg === "SCTLR_EL2") {
      const prev = mBit(this.#sctlrPend ?? this.#sctlrCur);
      const next = mBit(value);
      // R18: only a value the text itself builds (immediates, or what a
      // system register read returned) can be judged; one loaded from memory
      // is the caller's.
      // A value read from SCTLR_EL2 and modified answers only for the bits
      // it clears: a read-modify-write keeps what the register held (the
      // code that put it there is the one to warn).
      const held = tag === "sysreg" ? (this.#sctlrPend ?? this.#sctlrCur) : SCTLR_EL2_RES1;
      const clear = (tag === "imm" || tag === "sysreg") ? SCTLR_EL2_RES1 & ~value & held : 0n;
      if (clear !== 0n) {
        // Every one of these bits has a function when HCR_EL2.E2H = 1: the
        // Arm ARM's rule for a bit RES1 only in some contexts gives it no
        // effect on the PE here, so this is advice (write 1), not a hazard.
        const exs = (clear & SCTLR_EXS) !== 0n
          ? " (with FEAT_ExS, a clear EIS or EOS makes exception entry or return not synchronise)"
          : "";
        this.#report(
          "R18",
          "warn",
          index,
          `SCTLR_EL2 is written as 0x${value.toString(16)}, with bits 0x${
            clear.toString(16)
          } clear that are RES1 while HCR_EL2.E2H = 0: they have no effect on the PE in that state${exs}, but software should write them as 1.`,
        );
      }
      if (prev !== next) this.#shared.switches = true;
      if (prev !== next && !cfg.codeIdmapped) {
        this.#report(
          "R2",
          "fail",
          index,
          "M changes while the code is not identity-mapped in both tables: the next fetch goes to a different PA.",
        );
      }
      if (prev === 1 && next === 0 && cfg.falkorE1041 && !this.#lastIsb) {
        this.#report(
          "R13",
          "fail",
          index,
          "no ISB immediately before the msr that turns the MMU off: Falkor (erratum E1041) may fetch speculatively from an improper location.",
        );
      }
      if (prev === 0 && next === 1) this.#enableChecks(index);
      this.#sctlrPend = value;
      return;
    }
    if (reg === "TTBR0_EL2") {
      if (this.#maybeOn) {
        this.#report(
          "R7",
          "fail",
          index,
          "TTBR0_EL2 is switched while the MMU may be on: walks can refill the TLB from either table and mix old and new translations.",
        );
      }
      if ((value & 1n) === 1n && (cfg.cnpOtherPEsDiffTables || cfg.cnpLocalTlbiBroken)) {
        this.#report(
          "R12",
          "fail",
          index,
          cfg.cnpLocalTlbiBroken
            ? "CnP=1 on a CPU whose local TLBI misses entries other cores installed (Carmel/Hip09): shared stale entries survive the switch."
            : "CnP=1 while another PE shares the TLB with different EL2 tables: TLB-conflict abort or CONSTRAINED UNPREDICTABLE translation.",
        );
      }
      this.#ttbrPend = key(value);
      this.#ttbrUnsynced = true;
      this.#shared.switches = true;
      return;
    }
    if (reg === "TCR_EL2" || reg === "MAIR_EL2") this.#otherPend.add(reg);
  }

  #enableChecks(index: number): void {
    const cfg = this.#cfg;
    const el2 = this.#tlbi.filter((t) => t.el2);
    if (el2.length > 0) {
      this.#report(
        "R4",
        "fail",
        index,
        `the MMU is turned on while the TLBI at line ${
          el2[0]!.line
        } has not completed (no DSB of its scope): old translations may still be used after MMU-on.`,
      );
    } else if (this.#tlbiNeedCse && !cfg.ets && !this.#tlbiDoneOff) {
      // With the MMU off from that DSB to here, the ISB that synchronises
      // this enable is the context synchronisation R4 asks for: nothing was
      // translated before it, everything after it sees the invalidation.
      this.#report(
        "R4",
        "fail",
        index,
        `no ISB between the DSB completing the TLBI at line ${this.#tlbiLine} and the MMU enable: without FEAT_ETS, later translations may not observe the invalidation.`,
      );
    }
    if (this.#ttbrPend !== null || this.#otherPend.size > 0) {
      const regs = [...(this.#ttbrPend !== null ? ["TTBR0_EL2"] : []), ...this.#otherPend];
      this.#report(
        "R3",
        "fail",
        index,
        `the ${
          regs.join("/")
        } write is not synchronised by an ISB before the MMU enable: walks may use the old value once M=1 lands.`,
      );
    }
    // Stale tags: only when no pending full TLBI would remove them (that is R4).
    if (!el2.some((t) => t.all)) {
      for (const [base, { on }] of this.#tlb) {
        const offOnly = on < 0;
        if (base === this.#ttbrCur) continue;
        if (offOnly) {
          this.#report(
            "R6",
            "warn",
            index,
            `this order relies on no EL2 TLB allocation while M=0, which the Arm ARM does not promise: entries walked from the old tables (${base}) after the TLBI would survive into MMU-on.`,
          );
        } else {
          this.#report(
            "R5",
            "fail",
            index,
            `the EL2 TLB may still hold entries from the old tables (${base}) at MMU-on: no TLBI completed after the MMU-off ISB, so stale translations can hit.`,
          );
        }
      }
    }
    if (this.#ptLine > 0) {
      this.#report(
        "R16",
        "fail",
        index,
        `the store at line ${this.#ptLine} is not followed by a DSB before the MMU enable: the walker may read stale descriptors.`,
      );
    }
  }

  #cse(): void {
    if (this.#sctlrPend !== null) {
      this.#sctlrCur = this.#sctlrPend;
      this.#sctlrPend = null;
    }
    if (this.#ttbrPend !== null) {
      this.#ttbrCur = this.#ttbrPend;
      this.#ttbrPend = null;
    }
    this.#otherPend.clear();
    if (this.#tlbi.length === 0) this.#tlbiNeedCse = false;
    if (this.#ic === null) this.#icNeedCse = false;
    this.#ttbrUnsynced = false;
  }

  #dsb(index: number, domain: number, type: number): void {
    // A DSB ST waits for stores (table writes), not for maintenance; a DSB LD
    // for loads only (the ST/LD forms are not taken to complete TLBI/IC: the
    // Arm ARM ties completion of maintenance to the full DSB).
    if (type === BarrierType.LD) return;
    this.#ptLine = 0;
    if (type === BarrierType.ST) return;
    const cfg = this.#cfg;
    const covers = (broadcast: boolean, what: string): boolean => {
      if (!broadcast || domain >= Domain.ISH) return true;
      if (cfg.multiPE) return false;
      this.#report(
        "R11",
        "warn",
        index,
        `dsb nsh after the broadcast ${what}: it completes for this PE only, which suffices on one PE (an assumption: the Arm ARM asks for the Inner Shareable domain) but leaves other PEs stale.`,
      );
      return true;
    };
    const left: PendingTlbi[] = [];
    for (const t of this.#tlbi) {
      if (!covers(t.broadcast, `tlbi ${t.op}`)) {
        left.push(t);
        continue;
      }
      if (t.el2) {
        // A TLBI acts on the entries present when it is performed, at the
        // earliest its issue: walks after that can refill (R5, R7).
        if (t.all) {
          for (const [b, e] of [...this.#tlb]) {
            if (e.on < t.issued) e.on = -1;
            if (e.off < t.issued) e.off = -1;
            if (e.on < 0 && e.off < 0) this.#tlb.delete(b);
          }
        }
        this.#tlbiNeedCse = true;
        this.#tlbiLine = t.line;
        this.#tlbiDoneOff = !this.#maybeOn;
      }
    }
    this.#tlbi = left;
    if (this.#ic !== null && covers(this.#ic.broadcast, `ic ${this.#ic.op}`)) {
      if (this.#ic.clears) this.#polluted = false;
      this.#icNeedCse = true;
      this.#icLine = this.#ic.line;
      this.#ic = null;
    }
    for (const d of this.#dc) this.#cleaned.add(d.addr);
    this.#dc = [];
  }

  #icIssue(index: number, op: string): void {
    const d = IC_OPS[op]!;
    if (this.#uncertain) {
      this.#report(
        "R1",
        "fail",
        index,
        `ic ${op} follows the SCTLR_EL2 write with no ISB: it may run before the new M/C/I value takes effect.`,
      );
    }
    // No R9 here. Failing R9 at any `ic` issued while the MMU may be off and
    // the I-cache polluted would be stricter than R9's statement: what
    // matters is an `ic iallu; dsb; isb` after M=1 and its ISB, before
    // patched code runs. hyplab follows the statement: an IC with the MMU
    // certainly off does not clear the pollution (see `clears` below), and
    // R9 is reported where code is left with the pollution still there
    // (#leaveChecks); an IC issued while M is uncertain is R1 above.
    // As for a local TLBI: R11's "wrong scope on an SMP path" (multi-pe).
    if (this.#cfg.multiPE && !d.broadcast) {
      this.#report(
        "R11",
        "fail",
        index,
        `ic ${op} is local to this PE: with other PEs running, their I-caches keep stale lines (use ic ialluis with dsb ish).`,
      );
    }
    // Only a whole-cache invalidate issued with the MMU certainly on removes
    // the PoC-sourced lines (R9); `ic ivau` covers one line of one VA.
    const clears = !this.#maybeOff && op !== "ivau";
    if (this.#ic === null) {
      this.#ic = { op, broadcast: d.broadcast, clears, line: this.#p.instructions[index]!.line };
    } else {
      this.#ic.broadcast ||= d.broadcast;
      this.#ic.clears ||= clears;
    }
  }

  #memory(index: number, regs: RegisterReader): void {
    const ins = this.#p.instructions[index]!;
    const cfg = this.#cfg;
    const load = ins.op === Op.LDR || ins.op === Op.LDP;
    const kind = load ? "load" : "store";
    if (this.#uncertain) {
      this.#report(
        "R1",
        "fail",
        index,
        `this ${kind} follows the SCTLR_EL2 write with no ISB: it may be translated and cached with either setting.`,
      );
    }
    if (this.#ttbrUnsynced && cfg.tx2_219) {
      const off = mBit(this.#sctlrCur) === 0 && !this.#mUncertain;
      this.#report(
        "R14",
        off ? "warn" : "fail",
        index,
        `a ${kind} between the TTBR0_EL2 write and its ISB: ThunderX2 (erratum 219) may take a spurious Data Abort${
          off ? " (the erratum notice does not say whether it applies with the MMU off)" : ""
        }.`,
      );
    }
    // A stack access: through SP, or through a register copied from it (tags
    // follow the copy, so the space is the one SP held then).
    if (ins.rn === SP || this.#stackCopy[ins.rn]) {
      const wrong = this.#wrongSpace(this.#tags[ins.rn]!);
      if (wrong !== null) {
        const via = ins.rn === SP ? "SP" : `x${ins.rn} (a copy of SP)`;
        this.#report(
          "R15",
          "fail",
          index,
          `stack ${kind} with ${via} holding ${wrong}: the access hits the wrong memory or faults.`,
        );
      }
    }
    if (load && !cfg.dataCleanToPoC && mBit(this.#sctlrCur) === 0 && !this.#mUncertain) {
      const addr = (regs.get(ins.rn) + (ins.mode === AddrMode.POST ? 0n : ins.imm)) &
        ((1n << 64n) - 1n);
      if (!this.#cleaned.has(addr >> 6n)) {
        this.#report(
          "R8",
          "fail",
          index,
          "this load runs with the MMU off (Device, uncached) on data not known to be clean to the PoC: it may read a stale value.",
        );
      }
    }
    if (!load) this.#ptLine = ins.line;
    if (load) {
      this.#stackCopy[ins.rd] = false;
      if (ins.op === Op.LDR) this.#tags[ins.rd] = A64_LOAD_TAGS[ins.offsetSymbol] ?? "unknown";
      else {
        this.#tags[ins.rd] = "unknown";
        this.#tags[ins.rm] = "unknown";
        this.#stackCopy[ins.rm] = false;
      }
    }
  }

  /** After each instruction: while M may be 1, walks may fill the TLB from any TTBR in view (R7). */
  #fill(): void {
    const on = this.#maybeOn;
    if (!on && !this.#cfg.allocWhenOff) return;
    for (const b of this.#ttbrView()) {
      const e = this.#tlb.get(b) ?? { on: -1, off: -1 };
      if (on) e.on = this.#step;
      else e.off = this.#step;
      this.#tlb.set(b, e);
    }
  }
}
