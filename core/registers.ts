/**
 * CPU registers: general-purpose x0–x30, the banked stack pointers, PC,
 * PSTATE and the system registers of {@link SYSREG_DEFS}.
 *
 * @module
 */

import { HyplabError } from "./errors.ts";
import { SYSREG_DEFS, type SysregDef } from "./sysreg_defs.ts";
import { CPU_CORTEX_A57, type CpuModel, ID_REGISTER_NAMES } from "./cpu_model.ts";
import { QEMU_EL2_REGISTERS, qemuSysregWrite } from "./cpu_model_masks.ts";

/**
 * A register access that the architecture forbids or the simulator does not
 * know: unknown name, unknown field, RES0/RES1 violation, read-only register.
 *
 * @example
 * ```ts
 * import { RegisterError } from "./registers.ts";
 * const e = new RegisterError("Cannot write SCTLR_EL2 = 0x0: RES1 bits 0x30c50830 clear");
 * if (e.name !== "RegisterError") throw new Error("unreachable");
 * ```
 */
export class RegisterError extends HyplabError {
  /** Creates the error.
   * @param message What is wrong, naming the register and value. */
  constructor(message: string) {
    super(message);
    this.name = "RegisterError";
  }
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/**
 * Resolves a register definition by name.
 *
 * @param name Arm ARM register name.
 * @returns Its definition.
 * @throws {RegisterError} For an unknown name.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sysregDef } from "./registers.ts";
 * assertEquals(sysregDef("sctlr_el2").name, "SCTLR_EL2");
 * ```
 */
export function sysregDef(name: string): SysregDef {
  const d = SYSREG_DEFS[name.toUpperCase()];
  if (d === undefined) {
    throw new RegisterError(`Cannot access system register "${name}": unknown register`);
  }
  return d;
}

/**
 * Extracts a field from a register value.
 *
 * @param reg Register name.
 * @param field Field name as in the Arm ARM.
 * @param value Register value.
 * @returns The field value.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { extractField } from "./registers.ts";
 * assertEquals(extractField("TCR_EL2", "T0SZ", 0x80803510n), 16n);
 * ```
 */
export function extractField(reg: string, field: string, value: bigint): bigint {
  const [lsb, width] = fieldSpec(reg, field);
  return (value >> BigInt(lsb)) & ((1n << BigInt(width)) - 1n);
}

/**
 * Returns `value` with one field replaced.
 *
 * @param reg Register name.
 * @param field Field name.
 * @param value Register value.
 * @param fieldValue New field value.
 * @returns The new register value.
 * @throws {RegisterError} If the field value does not fit.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { depositField } from "./registers.ts";
 * assertEquals(depositField("SCTLR_EL2", "M", 0x30C50830n, 1n), 0x30C50831n);
 * ```
 */
export function depositField(
  reg: string,
  field: string,
  value: bigint,
  fieldValue: bigint,
): bigint {
  const [lsb, width] = fieldSpec(reg, field);
  const mask = (1n << BigInt(width)) - 1n;
  if (fieldValue < 0n || fieldValue > mask) {
    throw new RegisterError(
      `Cannot set ${reg}.${field} = ${hex(fieldValue)}: does not fit in ${width} bits`,
    );
  }
  return (value & ~(mask << BigInt(lsb))) | (fieldValue << BigInt(lsb));
}

function fieldSpec(reg: string, field: string): readonly [number, number] {
  const d = sysregDef(reg);
  const f = d.fields[field];
  if (f === undefined) {
    throw new RegisterError(
      `Cannot access ${d.name}.${field}: unknown field (known: ${
        Object.keys(d.fields).join(", ")
      })`,
    );
  }
  return f;
}

/**
 * One CPU's system registers, with RES0/RES1 checks on write.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { SystemRegisters } from "./registers.ts";
 * const r = new SystemRegisters();
 * assertEquals(r.read("SCTLR_EL2"), 0x30C50830n);
 * r.setField("SCTLR_EL2", "M", 1n);
 * assertEquals(r.field("SCTLR_EL2", "M"), 1n);
 * assertThrows(() => r.write("SCTLR_EL2", 0n)); // RES1 bits clear
 * ```
 */
export class SystemRegisters {
  #values = new Map<string, bigint>();
  #generation = 0;

  constructor() {
    this.reset();
  }

  /**
   * A counter bumped by every write, `set` and `reset`: caches of decoded
   * register state (the MMU's translation regime) compare it to know that no
   * register changed since they last looked.
   */
  get generation(): number {
    return this.#generation;
  }

  /** Puts every register back to its reset value. */
  reset(): void {
    this.#generation++;
    for (const d of Object.values(SYSREG_DEFS)) this.#values.set(d.name, d.reset);
  }

  /**
   * Reads a register.
   * @param name Register name (case-insensitive).
   * @returns Its value.
   * @throws {RegisterError} Unknown register.
   */
  read(name: string): bigint {
    const v = this.#values.get(name) ?? this.#values.get(sysregDef(name).name);
    return v!;
  }

  /**
   * Checks a value against a register's RES0/RES1 rules without writing it.
   * @param name Register name.
   * @param value Proposed value.
   * @returns An error message, or undefined when valid.
   */
  validate(name: string, value: bigint): string | undefined {
    const d = sysregDef(name);
    if (value < 0n || value >= 1n << 64n) {
      return `Cannot write ${d.name} = ${value}: not a 64-bit value`;
    }
    if ((value & d.res1) !== d.res1) {
      return `Cannot write ${d.name} = ${hex(value)}: RES1 bits ${hex(d.res1 & ~value)} are clear`;
    }
    if ((value & d.res0) !== 0n) {
      return `Cannot write ${d.name} = ${hex(value)}: RES0 bits ${hex(value & d.res0)} are set`;
    }
    return undefined;
  }

  /**
   * Writes a register as software would (`msr`), enforcing the rules; RAO/WI
   * bits ({@link SysregDef.rao}) keep reading as 1 whatever is written.
   * @param name Register name.
   * @param value New value.
   * @throws {RegisterError} Unknown register, read-only, or RES0/RES1 violation.
   */
  write(name: string, value: bigint): void {
    const d = sysregDef(name);
    if (d.readOnly) throw new RegisterError(`Cannot write ${d.name}: read-only register`);
    const err = this.validate(d.name, value);
    if (err !== undefined) throw new RegisterError(err);
    this.#generation++;
    // RAO/WI bits (HCR_EL2.RW for an AArch64-only EL1) ignore the written 0.
    this.#values.set(d.name, value | (d.rao ?? 0n));
  }

  /**
   * Sets a register without the software rules (hardware-owned updates such
   * as ESR/FAR on exception entry, or ID registers at machine creation).
   * @param name Register name.
   * @param value New value.
   */
  set(name: string, value: bigint): void {
    const d = sysregDef(name);
    this.#generation++;
    // RAO bits are read-as-one whoever stores the value.
    this.#values.set(d.name, BigInt.asUintN(64, value) | (d.rao ?? 0n));
  }

  /**
   * Reads one field.
   * @param name Register name.
   * @param field Field name.
   * @returns Field value.
   */
  field(name: string, field: string): bigint {
    return extractField(name, field, this.read(name));
  }

  /**
   * Writes one field (read-modify-write through {@link SystemRegisters.write}).
   * @param name Register name.
   * @param field Field name.
   * @param value Field value.
   */
  setField(name: string, field: string, value: bigint): void {
    this.write(name, depositField(name, field, this.read(name), value));
  }

  /** Returns: Every register as `{ name: value }`. */

  snapshot(): Record<string, bigint> {
    return Object.fromEntries(this.#values);
  }
}

/** Exception levels (EL0 and EL3 are named but unused). */
export const EL = { EL0: 0, EL1: 1, EL2: 2, EL3: 3 } as const;

/** An exception level number, 0–3. */
export type ExceptionLevelNumber = 0 | 1 | 2 | 3;

/** PSTATE fields the simulator tracks. */
export interface Pstate {
  /** Current exception level. */
  el: ExceptionLevelNumber;
  /** Stack pointer select: 0 = SP_EL0, 1 = SP_ELx. */
  spsel: 0 | 1;
  /** D, A, I, F mask bits as a 4-bit value (D = bit 3). */
  daif: number;
  /** N, Z, C, V as a 4-bit value (N = bit 3). */
  nzcv: number;
}

/**
 * One CPU: general-purpose registers, banked SPs, PC, PSTATE and system
 * registers. Starts at EL2 with the MMU off, as after firmware handover.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cpu } from "./registers.ts";
 * const cpu = new Cpu(0);
 * cpu.setX(0, 0xc600000fn);
 * assertEquals(cpu.x(0), 0xc600000fn);
 * assertEquals(cpu.x(31), 0n); // xzr
 * cpu.pstate.el = 2;
 * cpu.sp = 0x1000n;
 * assertEquals(cpu.spEl[2], 0x1000n);
 * ```
 */
export class Cpu {
  /** CPU index (MPIDR_EL1.Aff0). */
  readonly id: number;
  /** x0–x30. */
  readonly xregs: BigUint64Array = new BigUint64Array(31);
  /** SP_EL0, SP_EL1, SP_EL2 (index by EL). */
  readonly spEl: BigUint64Array = new BigUint64Array(3);
  /** Program counter. */
  pc = 0n;
  /** PSTATE. */
  readonly pstate: Pstate = { el: 2, spsel: 1, daif: 0xf, nzcv: 0 };
  /** System registers. */
  readonly sysregs: SystemRegisters = new SystemRegisters();
  /** The CPU model: its identification registers and what its registers implement. */
  readonly model: CpuModel;

  /**
   * Creates a CPU in its reset state.
   * @param id CPU index.
   * @param model CPU model (default cortex-a57, as QEMU 7.2 emulates it).
   */
  constructor(id: number, model: CpuModel = CPU_CORTEX_A57) {
    this.id = id;
    this.model = model;
    this.sysregs.set("MPIDR_EL1", (1n << 31n) | BigInt(id & 0xff));
    for (const n of ID_REGISTER_NAMES) this.sysregs.set(n, model.idRegs[n]);
  }

  /**
   * `MSR <name>, value` at EL2 as the CPU model executes it (QEMU 7.2): the
   * bits of features the model lacks read back as 0, and RES0/RES1 bits are
   * stored as written (the emulator does not police them; hyplab's checker
   * reports them). Registers outside the EL2 set QEMU's rules describe are
   * written with {@link SystemRegisters.write}'s checks.
   *
   * @param name Register name.
   * @param value Value written.
   * @returns The value stored.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { Cpu } from "./registers.ts";
   * const cpu = new Cpu(0); // cortex-a57: no MTE, so ITFSB (bit 37) is dropped
   * assertEquals(cpu.msr("SCTLR_EL2", 0x20_30ed_183dn), 0x30ed_183dn);
   * ```
   */
  msr(name: string, value: bigint): bigint {
    const d = sysregDef(name);
    if (!(QEMU_EL2_REGISTERS as readonly string[]).includes(d.name)) {
      this.sysregs.write(d.name, value);
      return this.sysregs.read(d.name);
    }
    const e2h = (this.sysregs.read("HCR_EL2") >> 34n & 1n) === 1n && this.model.features.vhe;
    this.sysregs.set(
      d.name,
      qemuSysregWrite(this.model, d.name, BigInt.asUintN(64, value), { e2h }),
    );
    return this.sysregs.read(d.name);
  }

  /**
   * Reads x0–x30; register 31 reads as zero (xzr).
   * @param n Register number.
   * @returns Value.
   */
  x(n: number): bigint {
    return n === 31 ? 0n : this.xregs[n]!;
  }

  /**
   * Writes x0–x30; register 31 is discarded (xzr).
   * @param n Register number.
   * @param value Value (taken modulo 2^64).
   */
  setX(n: number, value: bigint): void {
    if (n < 31) this.xregs[n] = BigInt.asUintN(64, value);
  }

  /** The stack pointer selected by PSTATE.EL and SPSel. */
  get sp(): bigint {
    return this.spEl[this.pstate.spsel === 0 ? 0 : this.pstate.el]!;
  }

  set sp(value: bigint) {
    this.spEl[this.pstate.spsel === 0 ? 0 : this.pstate.el] = BigInt.asUintN(64, value);
  }

  /**
   * Reads a system register.
   * @param name Register name.
   * @returns Value.
   */
  sysreg(name: string): bigint {
    return this.sysregs.read(name);
  }
}
