import { assertEquals } from "@std/assert";
import { CPU_CORTEX_A57, CPU_MAX, CPU_NEOVERSE_N1, type CpuModel } from "../../../core/mod.ts";
import {
  HYP_VECTOR_DIRECT,
  HYP_VECTOR_INDIRECT,
  hypVectorSlot,
  spectreBhbChoice,
} from "../../../plugins/pkvm/mod.ts";
import { V5_13, V6_1, V6_12, V7_2 } from "../../../plugins/releases/mod.ts";

// What the recorded real boots show (kvm_hyp_vector per CPU): the slot each
// release gives each CPU model under QEMU 7.2 (no SMCCC 1.1 workarounds).
Deno.test("spectre: the hyp vector slot per release and CPU model", () => {
  const v3a = (m: CpuModel) => m.features.spectreV3a;
  const want: [string, CpuModel, number][] = [
    ["cortex-a57", CPU_CORTEX_A57, HYP_VECTOR_INDIRECT], // Spectre-v3a
    ["neoverse-n1", CPU_NEOVERSE_N1, HYP_VECTOR_INDIRECT], // BHB loop, k = 24
    ["max", CPU_MAX, HYP_VECTOR_DIRECT], // unknown MIDR, no ECBHB/CLRBHB/loop
  ];
  for (const rel of [V6_1, V6_12, V7_2]) {
    for (const [name, m, slot] of want) {
      assertEquals(hypVectorSlot(rel, m, v3a(m)), slot, `${rel.name} ${name}`);
    }
  }
  // v5.13 predates the BHB mitigation: a Neoverse N1 keeps the direct slot.
  assertEquals(spectreBhbChoice(V5_13, CPU_NEOVERSE_N1), "none");
  assertEquals(hypVectorSlot(V5_13, CPU_NEOVERSE_N1, false), HYP_VECTOR_DIRECT);
  // mitigations=off: the loop is not installed, the slot stays direct.
  assertEquals(spectreBhbChoice(V6_12, CPU_NEOVERSE_N1, true), "vulnerable");
  assertEquals(hypVectorSlot(V6_12, CPU_NEOVERSE_N1, false, true), HYP_VECTOR_DIRECT);
  // Spectre-v3a wins whatever BHB does.
  assertEquals(hypVectorSlot(V6_12, CPU_MAX, true), HYP_VECTOR_INDIRECT);
});

Deno.test("spectre: FEAT_CSV2_3, ECBHB and CLRBHB in the ID registers", () => {
  const withId = (m: CpuModel, reg: keyof CpuModel["idRegs"], lsb: bigint, v: bigint) => ({
    ...m,
    idRegs: { ...m.idRegs, [reg]: (m.idRegs[reg] & ~(0xfn << lsb)) | (v << lsb) },
  });
  const n1 = CPU_NEOVERSE_N1;
  assertEquals(spectreBhbChoice(V6_12, withId(n1, "ID_AA64PFR0_EL1", 56n, 3n)), "unaffected");
  assertEquals(spectreBhbChoice(V6_12, withId(n1, "ID_AA64MMFR1_EL1", 60n, 1n)), "ecbhb");
  const clr = withId(n1, "ID_AA64ISAR2_EL1", 28n, 1n);
  assertEquals(spectreBhbChoice(V6_12, clr), "clearbhb");
  assertEquals(hypVectorSlot(V6_12, clr, false), HYP_VECTOR_INDIRECT);
});
