// The EL2&0 regime (HCR_EL2.E2H = 1) and FEAT_LPA2 in the MMU: tables built
// by kvm_pgtable the way real 6.12 / 7.2 hVHE boots build them, walked with
// the registers those boots load.

import { assert, assertEquals } from "@std/assert";
import {
  CPU_MAX,
  createMachine,
  type Machine,
  MMU,
  PAGE_HYP,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  Prng,
  TLB,
} from "../../../core/mod.ts";
import { kvmPgtableFactory } from "../../../plugins/kvm_pgtable/mod.ts";
import { mmu } from "../../../plugins/mmu/mod.ts";
import { tlb } from "../../../plugins/tlb/mod.ts";
import { fault, ok } from "./_machine.ts";

const HCR_E2H = 1n << 34n;
/** A real 7.2 hVHE boot's TCR_EL2 on QEMU's max: T0SZ 12, DS, IPS 52 bits, EPD1. */
const TCR_72_MAX = 0xd500076b58c350cn;
/** SCTLR_EL2 M|C|SA|I|WXN|…, as the real 7.2 boot reads it back. */
const SCTLR_ON = 0xc868380dn;

function machine(): Machine {
  return createMachine({
    ram: [{ base: 0x4000_0000, size: 2 ** 31 }],
    cpus: 1,
    cpu: "max",
    plugins: [tlb({ policy: "adversarial" }), mmu()],
  });
}

/** A table from a bump allocator at `base`, kvm_pgtable's v7.2 or v6.12 hVHE format. */
function table(m: Machine, version: "v7.2" | "v6.12", iaBits: number, lpa2: boolean) {
  let next = 0x7000_0000;
  const mmOps = {
    zallocPage: () => {
      m.memory.zero(next, 4096);
      return (next += 4096) - 4096;
    },
    physToVirt: (pa: number) => pa,
    virtToPhys: (va: number) => va,
  };
  const pgt = kvmPgtableFactory({ version }).hypInit({
    iaBits,
    mmOps,
    memory: m.memory,
    hvhe: true,
    lpa2,
  });
  if (typeof pgt === "number") throw new Error(`hypInit ${pgt}`);
  return pgt;
}

function enter(m: Machine, ttbr: bigint, tcr: bigint, hcr = HCR_E2H): void {
  const cpu = m.cpu(0);
  cpu.msr("HCR_EL2", hcr);
  cpu.msr("MAIR_EL2", 0x40044ffffn);
  cpu.msr("TCR_EL2", tcr);
  cpu.msr("TTBR0_EL2", ttbr);
  cpu.msr("SCTLR_EL2", SCTLR_ON);
}

Deno.test("E2H + LPA2: 52-bit VAs walk from level -1 to the PA kvm_pgtable mapped (random VAs over all 16 top entries)", () => {
  assert(CPU_MAX.features.lpa2 && CPU_MAX.features.vhe);
  const m = machine();
  const pgt = table(m, "v7.2", 52, true);
  const prng = new Prng(2026);
  const maps: [number, number][] = [];
  for (let i = 0; i < 500; i++) {
    const va = prng.int(16) * 2 ** 48 + prng.int(2 ** 24) * 4096;
    const pa = 0x4000_0000 + prng.int(2 ** 19) * 4096;
    if (pgt.map(va, 4096, pa, PAGE_HYP) === 0) maps.push([va, pa]);
  }
  enter(m, BigInt(pgt.pgd) | 1n, TCR_72_MAX);
  const u = m.get(MMU);
  for (const [va, pa] of maps) {
    const t = ok(u.translate(m.cpu(0), va + 0x123, "write"));
    assertEquals([t.pa, t.level, t.writable, t.executable], [pa + 0x123, 3, true, false]);
  }
  // An unmapped top-level entry: a translation fault at level -1 (FSC 0x2b).
  const empty = [...Array(16).keys()].find((i) =>
    !maps.some(([va]) => Math.floor(va / 2 ** 48) === i)
  );
  if (empty !== undefined) {
    const f = fault(u.translate(m.cpu(0), empty * 2 ** 48, "read"));
    assertEquals([f.fault, f.level, f.fsc], ["translation", -1, 0x2b]);
  }
  // Beyond 52 bits: level 0 translation fault (VA range).
  assertEquals(fault(u.translate(m.cpu(0), 2 ** 52, "read")).level, 0);
});

Deno.test("E2H: PXN governs EL2 execution; 7.2 sets it on data, 6.12 only UXN (data stays EL2-executable unless WXN)", () => {
  for (const version of ["v7.2", "v6.12"] as const) {
    const m = machine();
    const pgt = table(m, version, 48, false);
    const TEXT = 0x4_0000_0000;
    const RO = TEXT + 0x1000;
    const RW = TEXT + 0x2000;
    assertEquals(pgt.map(TEXT, 4096, 0x4010_0000, PAGE_HYP_EXEC), 0);
    assertEquals(pgt.map(RO, 4096, 0x4010_1000, PAGE_HYP_RO), 0);
    assertEquals(pgt.map(RW, 4096, 0x4010_2000, PAGE_HYP), 0);
    // 48-bit E2H TCR: T0SZ 16, IPS 48 bits, TG0 4K, SH0/ORGN0/IRGN0.
    enter(m, BigInt(pgt.pgd), 0x5_0080_3510n);
    const u = m.get(MMU);
    const cpu = m.cpu(0);
    ok(u.translate(cpu, TEXT, "exec"));
    // Read-only data: 7.2 PXN, 6.12 only UXN (bit 54).
    const ro = u.translate(cpu, RO, "exec");
    if (version === "v7.2") assertEquals(fault(ro).message.includes("PXN"), true);
    else assertEquals(ok(ro).executable, true);
    // Writable data: WXN makes it execute-never in both.
    assertEquals(fault(u.translate(cpu, RW, "exec")).fault, "permission");
    assertEquals(fault(u.translate(cpu, RO, "write")).fault, "permission");
    ok(u.translate(cpu, RW, "write"));
    // The same descriptors read in the EL2 regime (E2H = 0): bit 54 is XN.
    // (A regime change comes with TLB maintenance, as in ___kvm_hyp_init.)
    enter(m, BigInt(pgt.pgd), 0x8080_3510n | (5n << 16n), 0n);
    m.get(TLB).invalidate(cpu, "alle2");
    assertEquals(fault(u.translate(cpu, RO, "exec")).fault, "permission");
  }
});

Deno.test("E2H: EPD0 disables walks; TCR.HA sets a clear AF in memory instead of faulting; without HA it faults", () => {
  const m = machine();
  const pgt = table(m, "v7.2", 48, false);
  assertEquals(pgt.map(0x1000, 4096, 0x4020_0000, PAGE_HYP), 0);
  const pte = pgt.getLeaf(0x1000).pte;
  // The PTE's PA: the table page slot that holds it.
  let at = -1;
  for (const tp of pgt.tablePages()) {
    for (let o = 0; o < 4096; o += 8) if (m.memory.read64(tp + o) === pte) at = tp + o;
  }
  assert(at > 0);
  m.memory.write64(at, pte & ~0x400n); // AF = 0
  const u = m.get(MMU);
  const cpu = m.cpu(0);
  const TCR = 0x5_0080_3510n; // E2H layout, 48 bits
  enter(m, BigInt(pgt.pgd), TCR | (1n << 7n));
  assertEquals(fault(u.translate(cpu, 0x1000, "read")).message.includes("EPD0"), true);
  cpu.msr("TCR_EL2", TCR);
  assertEquals(fault(u.translate(cpu, 0x1000, "read")).fault, "access_flag");
  cpu.msr("TCR_EL2", TCR | (1n << 39n)); // HA (bit 39 in the E2H layout)
  // A debug walk changes nothing; the access sets AF, as the hardware would.
  ok(u.walk(cpu, 0x1000, "read"));
  assertEquals(m.memory.read64(at), pte & ~0x400n);
  assertEquals(ok(u.translate(cpu, 0x1000, "read")).pa, 0x4020_0000);
  assertEquals(m.memory.read64(at), pte);
});
