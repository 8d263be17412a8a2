/**
 * The EL2 stage-1 regime of each CPU, decoded once per change of its system
 * registers (SCTLR_EL2, TCR_EL2, TTBR0_EL2, MAIR_EL2, ID_AA64MMFR0_EL1,
 * HCR_EL2.E2H), and the changes made behind the executor's back reported to
 * the TLB (`onSysregWrite`), as a write of those registers would be.
 *
 * @module
 */

import type { Cpu, Tlb } from "../../core/mod.ts";
import { decodeRegime, readRegimeRegisters, type RegimeConfig } from "./regime.ts";

/** HCR_EL2.E2H: the only HCR_EL2 bit that changes the EL2 stage-1 regime here. */
const E2H = 1n << 34n;

/** The regime last decoded for one CPU. */
export interface CpuRegime {
  /** The CPU. */
  readonly cpu: Cpu;
  /** Its system registers' generation when decoded. */
  gen: number;
  /** The regime. */
  cfg: RegimeConfig;
}

/**
 * The regimes of the CPUs an MMU translates for, by CPU id (`states` is
 * read directly on the MMU's hit path: a hit needs the entry of the CPU and
 * a generation compare, nothing else).
 */
export class RegimeCache {
  /** The regime decoded last, by CPU id. */
  readonly states: (CpuRegime | undefined)[] = [];
  #tlb: Tlb;

  /**
   * Creates an empty cache.
   * @param tlb The TLB told of register changes.
   */
  constructor(tlb: Tlb) {
    this.#tlb = tlb;
  }

  /**
   * The CPU's regime; re-decoded (and changes reported to the TLB) after a
   * register write.
   * @param cpu The CPU.
   * @returns Its regime now.
   */
  get(cpu: Cpu): RegimeConfig {
    const st = this.states[cpu.id];
    if (st !== undefined && st.cpu === cpu && st.gen === cpu.sysregs.generation) return st.cfg;
    return this.#refresh(cpu, st);
  }

  #refresh(cpu: Cpu, st: CpuRegime | undefined): RegimeConfig {
    const gen = cpu.sysregs.generation;
    const [sctlr, tcr, ttbr, mair, mmfr0, hcr] = readRegimeRegisters(cpu);
    if (st === undefined || st.cpu !== cpu) {
      const cfg = decodeRegime(sctlr, tcr, ttbr, mair, mmfr0, hcr);
      this.states[cpu.id] = { cpu, gen, cfg };
      return cfg;
    }
    const old = st.cfg;
    if (
      old.sctlr !== sctlr || old.tcr !== tcr || old.ttbr !== ttbr || old.mair !== mair ||
      old.mmfr0 !== mmfr0 || ((old.hcr ^ hcr) & E2H) !== 0n
    ) {
      // Report what changed behind the executor's back (direct register
      // writes); an executor reporting the same write first is harmless.
      if (old.sctlr !== sctlr) this.#tlb.onSysregWrite(cpu, "SCTLR_EL2", sctlr);
      if (old.ttbr !== ttbr) this.#tlb.onSysregWrite(cpu, "TTBR0_EL2", ttbr);
      if (old.tcr !== tcr) this.#tlb.onSysregWrite(cpu, "TCR_EL2", tcr);
      if (old.mair !== mair) this.#tlb.onSysregWrite(cpu, "MAIR_EL2", mair);
      st.cfg = decodeRegime(sctlr, tcr, ttbr, mair, mmfr0, hcr);
    }
    st.gen = gen;
    return st.cfg;
  }

  /**
   * The regime without updating the cache (debug and walk).
   * @param cpu The CPU.
   * @returns Its regime now.
   */
  peek(cpu: Cpu): RegimeConfig {
    const st = this.states[cpu.id];
    if (st !== undefined && st.cpu === cpu && st.gen === cpu.sysregs.generation) return st.cfg;
    const [sctlr, tcr, ttbr, mair, mmfr0, hcr] = readRegimeRegisters(cpu);
    return st !== undefined && st.cpu === cpu && st.cfg.sctlr === sctlr &&
        st.cfg.tcr === tcr && st.cfg.ttbr === ttbr && st.cfg.mair === mair &&
        st.cfg.mmfr0 === mmfr0 && ((st.cfg.hcr ^ hcr) & E2H) === 0n
      ? st.cfg
      : decodeRegime(sctlr, tcr, ttbr, mair, mmfr0, hcr);
  }

  /**
   * Whether the optimistic TLB will flush before the CPU's next access (an
   * SCTLR_EL2, TTBR0_EL2 or TCR_EL2 change the MMU has not reported yet).
   * @param cpu The CPU.
   * @param cfg Its regime now.
   * @returns True when a flush is pending.
   */
  flushPending(cpu: Cpu, cfg: RegimeConfig): boolean {
    const st = this.states[cpu.id];
    return this.#tlb.policy === "optimistic" && st !== undefined && st.cpu === cpu &&
      (st.cfg.sctlr !== cfg.sctlr || st.cfg.ttbr !== cfg.ttbr || st.cfg.tcr !== cfg.tcr);
  }
}
