import { assertEquals, assertThrows } from "@std/assert";
import { CPU_CORTEX_A57, CPU_MAX, CPU_NEOVERSE_N1, type CpuModel } from "../../../core/mod.ts";
import { initEl2Mdcr } from "../../../plugins/pkvm/el2_setup.ts";
import { V5_13, V6_1, V6_12, V7_2 } from "../../../plugins/releases/mod.ts";

/** A model whose ID_AA64DFR0_EL1 has `field` (at `lsb`) set to `v`. */
function withDfr0(model: CpuModel, lsb: number, v: number): CpuModel {
  const reg = model.idRegs.ID_AA64DFR0_EL1;
  const dfr0 = (reg & ~(0xfn << BigInt(lsb))) | (BigInt(v) << BigInt(lsb));
  return { ...model, idRegs: { ...model.idRegs, ID_AA64DFR0_EL1: dfr0 } };
}

Deno.test("__init_el2_debug: MDCR_EL2.HPMN = PMCR_EL0.N on QEMU's models, in every release", () => {
  // PMUVer 1 (a57), 4 (n1), 6 (max); PMCR_EL0.N = 6 on all three.
  for (const rel of [V5_13, V6_1, V6_12, V7_2]) {
    for (const m of [CPU_CORTEX_A57, CPU_NEOVERSE_N1, CPU_MAX]) {
      assertEquals(initEl2Mdcr(rel, m), 6n);
    }
  }
});

Deno.test("__init_el2_debug: v5.13 and 6.1 sbfx PMUVer (8..15 read as no PMU), 6.12 and 7.2 skip only 0 and 0xf", () => {
  const PMUVER = 8; // ID_AA64DFR0_EL1.PMUVer, bits 11:8
  for (
    const [v, old, now] of [[0, 0n, 0n], [1, 6n, 6n], [7, 6n, 6n], [8, 0n, 6n], [9, 0n, 6n], [
      0xf,
      0n,
      0n,
    ]] as const
  ) {
    const m = withDfr0(CPU_CORTEX_A57, PMUVER, v);
    assertEquals([initEl2Mdcr(V5_13, m), initEl2Mdcr(V6_1, m)], [old, old], `PMUVer ${v}`);
    assertEquals([initEl2Mdcr(V6_12, m), initEl2Mdcr(V7_2, m)], [now, now], `PMUVer ${v}`);
  }
});

Deno.test("__init_el2_debug: SPE or TRBE would need PMBIDR_EL1/TRBIDR_EL1, which are not modelled", () => {
  assertThrows(() => initEl2Mdcr(V6_1, withDfr0(CPU_MAX, 32, 1)), RangeError, "SPE");
  assertThrows(() => initEl2Mdcr(V6_1, withDfr0(CPU_MAX, 44, 1)), RangeError, "TRBE");
});
