/**
 * Exception entry and return between EL1 and EL2 (AArch64 only).
 *
 * Mirrors the architectural effects the pKVM boot depends on: HVC from EL1
 * enters EL2 at VBAR_EL2 + 0x400 with ESR_EL2.EC = 0x16 and the immediate in
 * ISS; synchronous aborts taken at EL2 from EL2 enter at VBAR_EL2 + 0x200
 * (EC 0x25 data, 0x21 instruction) with FAR_EL2 and the fault status code;
 * ERET restores PSTATE from SPSR_EL2 and PC from ELR_EL2.
 *
 * @module
 */

import { HyplabError } from "./errors.ts";
import type { Cpu, ExceptionLevelNumber } from "./registers.ts";
import type { Trace } from "./trace.ts";

/** Vector table offsets (Arm ARM D1.10.2). */
export const VECTOR = {
  CUR_SP0_SYNC: 0x000,
  CUR_SPX_SYNC: 0x200,
  CUR_SPX_IRQ: 0x280,
  LOWER_A64_SYNC: 0x400,
  LOWER_A64_IRQ: 0x480,
} as const;

/** Exception classes used here (ESR_ELx.EC). */
export const EC = {
  UNKNOWN: 0x00,
  HVC64: 0x16,
  SMC64: 0x17,
  SYS64: 0x18,
  IABT_LOW: 0x20,
  IABT_CUR: 0x21,
  DABT_LOW: 0x24,
  DABT_CUR: 0x25,
} as const;

/** Kinds of fault with a fault status code. */
export type FaultKind = "address_size" | "translation" | "access_flag" | "permission";

/**
 * The data/instruction fault status code (DFSC/IFSC) for a fault at a level
 * (Arm ARM D17.2: 0b0000LL address size, 0b0001LL translation, 0b0010LL
 * access flag, 0b0011LL permission; level -1 uses the FEAT_LPA2 encodings).
 *
 * @param kind Fault kind.
 * @param level Lookup level, -1..3.
 * @returns The 6-bit status code.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { faultStatusCode } from "./exception_level.ts";
 * assertEquals(faultStatusCode("translation", 3), 0x07);
 * assertEquals(faultStatusCode("permission", 2), 0x0e);
 * ```
 */
export function faultStatusCode(kind: FaultKind, level: number): number {
  if (level === -1) {
    if (kind === "translation") return 0x2b;
    if (kind === "address_size") return 0x29;
  }
  if (level < 0 || level > 3) {
    throw new RangeError(`Cannot encode a ${kind} fault at level ${level}: levels are 0..3`);
  }
  const base = { address_size: 0x00, translation: 0x04, access_flag: 0x08, permission: 0x0c }[
    kind
  ];
  return base + level;
}

/** What a handler is told about the exception it serves. */
export interface ExceptionInfo {
  /** Vector offset entered. */
  readonly offset: number;
  /** ESR value. */
  readonly esr: bigint;
  /** Exception class. */
  readonly ec: number;
  /** Instruction-specific syndrome. */
  readonly iss: number;
  /** Faulting address for aborts. */
  readonly far?: bigint;
}

/** A handler runs at EL2 on entry to a vector; it normally ends with {@link eret}. */
export type ExceptionHandler = (cpu: Cpu, info: ExceptionInfo) => void;

/**
 * EL2 vector handlers, one per vector entry offset. The pKVM plugin
 * registers its host HVC handler at {@link VECTOR.LOWER_A64_SYNC}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ExceptionVectors, VECTOR } from "./exception_level.ts";
 * const v = new ExceptionVectors();
 * v.on(VECTOR.LOWER_A64_SYNC, () => {});
 * assertEquals(v.handler(VECTOR.LOWER_A64_SYNC) !== undefined, true);
 * ```
 */
export class ExceptionVectors {
  #handlers = new Map<number, ExceptionHandler>();

  /**
   * Registers the handler of one vector entry, replacing any previous one.
   * @param offset Vector offset (multiple of 0x80, below 0x800).
   * @param handler Handler.
   */
  on(offset: number, handler: ExceptionHandler): void {
    if (offset < 0 || offset >= 0x800 || offset % 0x80 !== 0) {
      throw new RangeError(`Cannot register vector 0x${offset.toString(16)}: not a vector entry`);
    }
    this.#handlers.set(offset, handler);
  }

  /**
   * Removes a handler.
   * @param offset Vector offset.
   */
  off(offset: number): void {
    this.#handlers.delete(offset);
  }

  /**
   * The handler of a vector entry.
   * @param offset Vector offset.
   * @returns The handler, if any.
   */
  handler(offset: number): ExceptionHandler | undefined {
    return this.#handlers.get(offset);
  }
}

/**
 * Thrown when an exception is taken to a vector with no handler while
 * dispatching (the simulated CPU would run unknown code).
 *
 * @example
 * ```ts
 * import { UnhandledExceptionError } from "./exception_level.ts";
 * const e = new UnhandledExceptionError(0x400, 0x5a000000n);
 * if (!e.message.includes("0x400")) throw new Error("unreachable");
 * ```
 */
export class UnhandledExceptionError extends HyplabError {
  /** Vector offset. */
  readonly offset: number;
  /** ESR value. */
  readonly esr: bigint;
  /**
   * Creates the value.
   * @param offset Vector offset.
   * @param esr ESR_EL2 value.
   */
  constructor(offset: number, esr: bigint) {
    super(
      `Cannot dispatch exception at VBAR_EL2+0x${offset.toString(16)} (ESR_EL2 0x${
        esr.toString(16)
      }): no handler registered`,
    );
    this.name = "UnhandledExceptionError";
    this.offset = offset;
    this.esr = esr;
  }
}

/**
 * PSTATE in SPSR layout: M[3:0] = EL << 2 | SPSel, DAIF at bits 9:6, NZCV at 31:28.
 *
 * @param cpu The CPU.
 * @returns The SPSR value.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "./registers.ts";
 * import { pstateToSpsr } from "./exception_level.ts";
 * const cpu = new Cpu(0);
 * cpu.pstate.el = 1;
 * assertEquals(pstateToSpsr(cpu), 0x3c5n); // EL1h, DAIF masked
 * ```
 */
export function pstateToSpsr(cpu: Cpu): bigint {
  const p = cpu.pstate;
  return BigInt((((p.nzcv & 0xf) << 28) | ((p.daif & 0xf) << 6) | (p.el << 2) | p.spsel) >>> 0);
}

/** Parameters of {@link takeException}. */
export interface TakeExceptionOptions {
  /** Exception class. */
  ec: number;
  /** Syndrome (25 bits). */
  iss: number;
  /** Preferred return address, stored in ELR_EL2. */
  returnAddress: bigint;
  /** Faulting address (aborts), stored in FAR_EL2. */
  far?: bigint;
  /** Trace to record the entry in. */
  trace?: Trace;
}

/**
 * Takes a synchronous exception to EL2: saves PSTATE in SPSR_EL2 and the
 * return address in ELR_EL2, writes ESR_EL2 (IL = 1) and FAR_EL2, masks DAIF,
 * selects SP_EL2 and sets PC to the vector. Does not run a handler.
 *
 * @param cpu CPU taking the exception (at EL1 or EL2).
 * @param opts Syndrome and addresses.
 * @returns The vector offset used.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "./registers.ts";
 * import { EC, takeException } from "./exception_level.ts";
 * const cpu = new Cpu(0);
 * cpu.pstate.el = 1;
 * const off = takeException(cpu, { ec: EC.HVC64, iss: 0, returnAddress: 0x1004n });
 * assertEquals(off, 0x400);
 * assertEquals(cpu.pstate.el, 2);
 * assertEquals(cpu.sysreg("ESR_EL2"), 0x5a000000n);
 * ```
 */
export function takeException(cpu: Cpu, opts: TakeExceptionOptions): number {
  const from = cpu.pstate.el;
  if (from > 2) throw new RangeError(`Cannot take an exception to EL2 from EL${from}`);
  const offset = from === 2
    ? (cpu.pstate.spsel === 1 ? VECTOR.CUR_SPX_SYNC : VECTOR.CUR_SP0_SYNC)
    : VECTOR.LOWER_A64_SYNC;
  const esr = (BigInt(opts.ec & 0x3f) << 26n) | (1n << 25n) | BigInt(opts.iss & 0x1ffffff);
  const regs = cpu.sysregs;
  regs.set("SPSR_EL2", pstateToSpsr(cpu));
  regs.set("ELR_EL2", opts.returnAddress);
  regs.set("ESR_EL2", esr);
  if (opts.far !== undefined) regs.set("FAR_EL2", opts.far);
  cpu.pstate.el = 2;
  cpu.pstate.spsel = 1;
  cpu.pstate.daif = 0xf;
  const vbar = regs.read("VBAR_EL2");
  cpu.pc = vbar + BigInt(offset);
  const data: {
    type: string;
    from: number;
    to: number;
    esr: string;
    vector: string;
    far?: string;
  } = {
    type: ecName(opts.ec),
    from,
    to: 2,
    esr: `0x${esr.toString(16)}`,
    vector: `0x${offset.toString(16)}`,
  };
  if (opts.far !== undefined) data.far = `0x${opts.far.toString(16)}`;
  opts.trace?.emit("exception", data, { cpu: cpu.id, el: from });
  return offset;
}

/** The AArch64 SPSR.M[3:0] values an ERET from EL2 may name: EL0t, EL1t, EL1h, EL2t, EL2h. */
const AARCH64_RETURN_MODES: readonly number[] = [0b0000, 0b0100, 0b0101, 0b1000, 0b1001];

/**
 * Returns from EL2: restores PSTATE from SPSR_EL2 and PC from ELR_EL2.
 *
 * @param cpu CPU at EL2.
 * @param trace Optional trace.
 * @throws {RangeError} If not at EL2, SPSR_EL2 names a reserved or AArch32
 * mode, or it names EL1 while HCR_EL2.TGE = 1 (illegal exception returns).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "./registers.ts";
 * import { EC, eret, takeException } from "./exception_level.ts";
 * const cpu = new Cpu(0);
 * cpu.pstate.el = 1;
 * takeException(cpu, { ec: EC.HVC64, iss: 0, returnAddress: 0x1004n });
 * eret(cpu);
 * assertEquals([cpu.pstate.el, cpu.pc], [1, 0x1004n]);
 * ```
 */
export function eret(cpu: Cpu, trace?: Trace): void {
  if (cpu.pstate.el !== 2) {
    throw new RangeError(`Cannot ERET from EL${cpu.pstate.el}: this model returns from EL2 only`);
  }
  const spsr = Number(cpu.sysregs.read("SPSR_EL2") & 0xffffffffn) >>> 0;
  const m = spsr & 0xf;
  const el = (m >> 2) as ExceptionLevelNumber;
  // Only EL0t, EL1t, EL1h, EL2t and EL2h exist as AArch64 modes at EL2 and
  // below; any other M[3:0] (M[1] set, EL0 with SPSel = 1, EL3) is reserved,
  // and an ERET to a reserved mode is an illegal exception return (Arm ARM D1
  // "Illegal return events from AArch64 state"). M[4] = 1 would be AArch32.
  if (!AARCH64_RETURN_MODES.includes(m) || (spsr & 0x10) !== 0) {
    throw new RangeError(
      `Cannot ERET to SPSR_EL2 0x${spsr.toString(16)}: illegal return state ` +
        `(M[4:0] = 0b${(spsr & 0x1f).toString(2).padStart(5, "0")} is not one of ` +
        `EL0t 0b00000, EL1t 0b00100, EL1h 0b00101, EL2t 0b01000, EL2h 0b01001)`,
    );
  }
  // With HCR_EL2.{E2H, TGE} = {0, 1} EL1 is not in use (the host runs at EL0
  // under EL2), so an ERET from EL2 to EL1 is an illegal exception return
  // (Arm ARM D1 "Illegal return events from AArch64 state").
  if (el === 1 && cpu.sysregs.field("HCR_EL2", "TGE") === 1n) {
    throw new RangeError(
      `Cannot ERET to SPSR_EL2 0x${spsr.toString(16)}: illegal return state ` +
        `(EL1 while HCR_EL2.TGE = 1)`,
    );
  }
  cpu.pstate.el = el;
  cpu.pstate.spsel = (m & 1) as 0 | 1;
  cpu.pstate.daif = (spsr >>> 6) & 0xf;
  cpu.pstate.nzcv = (spsr >>> 28) & 0xf;
  cpu.pc = cpu.sysregs.read("ELR_EL2");
  trace?.emit("exception", { type: "eret", from: 2, to: el }, { cpu: cpu.id, el: 2 });
}

/** Parameters of {@link takeAbort}. */
export interface AbortOptions {
  /** Data or instruction abort. */
  access: "data" | "instruction";
  /** Faulting virtual address. */
  far: bigint;
  /** Fault kind. */
  fault: FaultKind;
  /** Lookup level of the fault. */
  level: number;
  /** Whether a data access was a write (ISS.WnR). */
  write?: boolean;
  /** Address of the faulting instruction (ELR_EL2). */
  pc: bigint;
  /** Optional trace. */
  trace?: Trace;
}

/**
 * Takes a synchronous abort to EL2 with the fault status code of the fault,
 * FAR_EL2 = the faulting address and ELR_EL2 = the faulting instruction.
 *
 * From EL2 this is an EL2 stage-1 fault. From EL1 it models a stage-2 fault
 * (the only EL1 aborts routed to EL2 when HCR_EL2.TGE = 0: stage-1 EL1&0
 * faults go to EL1, which this EL2-only model does not take). HPFAR_EL2 and
 * ISS.S1PTW are not modelled.
 *
 * @param cpu CPU.
 * @param opts The fault.
 * @returns Vector offset used (0x200 from EL2, 0x400 from EL1).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "./registers.ts";
 * import { takeAbort } from "./exception_level.ts";
 * const cpu = new Cpu(0);
 * const off = takeAbort(cpu, { access: "data", far: 0xdead000n, fault: "translation", level: 3, write: true, pc: 0x80n });
 * assertEquals(off, 0x200);
 * assertEquals(cpu.sysreg("ESR_EL2"), (0x25n << 26n) | (1n << 25n) | 0x47n);
 * assertEquals(cpu.sysreg("FAR_EL2"), 0xdead000n);
 * ```
 */
export function takeAbort(cpu: Cpu, opts: AbortOptions): number {
  const sameEl = cpu.pstate.el === 2;
  const ec = opts.access === "data"
    ? (sameEl ? EC.DABT_CUR : EC.DABT_LOW)
    : (sameEl ? EC.IABT_CUR : EC.IABT_LOW);
  let iss = faultStatusCode(opts.fault, opts.level);
  if (opts.access === "data" && opts.write) iss |= 1 << 6;
  const o: TakeExceptionOptions = { ec, iss, returnAddress: opts.pc, far: opts.far };
  if (opts.trace) o.trace = opts.trace;
  return takeException(cpu, o);
}

/**
 * `hvc #imm` from EL1 (or EL2): takes the exception and runs the registered
 * vector handler, which normally ends with {@link eret}.
 *
 * @param cpu Calling CPU.
 * @param imm 16-bit immediate.
 * @param vectors EL2 handlers.
 * @param trace Optional trace.
 * @throws {UnhandledExceptionError} When no handler serves the vector.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "./registers.ts";
 * import { eret, ExceptionVectors, hvc, VECTOR } from "./exception_level.ts";
 * const cpu = new Cpu(0);
 * cpu.pstate.el = 1;
 * const v = new ExceptionVectors();
 * v.on(VECTOR.LOWER_A64_SYNC, (c) => { c.setX(0, 0n); eret(c); });
 * cpu.setX(0, 0xc6000000n);
 * hvc(cpu, 0, v);
 * assertEquals([cpu.pstate.el, cpu.x(0)], [1, 0n]);
 * ```
 */
export function hvc(cpu: Cpu, imm: number, vectors: ExceptionVectors, trace?: Trace): void {
  if (cpu.pstate.el < 1) throw new RangeError("Cannot execute HVC at EL0: UNDEFINED");
  const o: TakeExceptionOptions = { ec: EC.HVC64, iss: imm & 0xffff, returnAddress: cpu.pc + 4n };
  if (trace) o.trace = trace;
  const offset = takeException(cpu, o);
  const h = vectors.handler(offset);
  const esr = cpu.sysregs.read("ESR_EL2");
  if (h === undefined) throw new UnhandledExceptionError(offset, esr);
  h(cpu, { offset, esr, ec: EC.HVC64, iss: imm & 0xffff });
}

function ecName(ec: number): string {
  for (const [k, v] of Object.entries(EC)) if (v === ec) return k.toLowerCase();
  return `ec_0x${ec.toString(16)}`;
}
