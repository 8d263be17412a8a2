// The host stage-2 configuration __pkvm_init_finalise prepares
// (kvm_host_prepare_stage2 → prepare_host_vtcr → kvm_get_vtcr, then
// kvm_pgtable_stage2_init) and __pkvm_prot_finalize loads. Expected values
// are worked out from VTCR_EL2's fields (Arm ARM) and kvm_get_vtcr (v5.13
// hyp/pgtable.c, the same in 6.1, 6.12 and 7.2 for 4 KiB pages without LPA2),
// not taken from the plugin. The CPU models' ID registers are QEMU 7.2's
// (core/cpu_model.ts).

import { assertEquals } from "@std/assert";
import type { CpuModelName } from "../../../core/mod.ts";
import { bootMachine, bootOk } from "./_boot.ts";

/** VTCR_EL2 fields: T0SZ [5:0], SL0 [7:6], IRGN0 [9:8], ORGN0 [11:10], SH0 [13:12], PS [18:16], VS 19, HA 21, RES1 31. */
function vtcr(f: { t0sz: number; sl0: number; ps: number; vs?: boolean }): bigint {
  return (1n << 31n) | (1n << 21n) | (f.vs ? 1n << 19n : 0n) | (BigInt(f.ps) << 16n) |
    (3n << 12n) | (1n << 10n) | (1n << 8n) | (BigInt(f.sl0) << 6n) | BigInt(f.t0sz);
}

function boot(
  version: Release,
  id: { mmfr0?: bigint; mmfr1?: bigint; cpu?: CpuModelName } = {},
  ram = [{ base: 0x4000_0000, size: 2 ** 32 }],
) {
  const b = bootMachine(version, { ram, cpus: 2, ...(id.cpu ? { cpu: id.cpu } : {}) });
  for (const cpu of b.m.cpus) {
    if (id.mmfr0 !== undefined) cpu.sysregs.set("ID_AA64MMFR0_EL1", id.mmfr0);
    if (id.mmfr1 !== undefined) cpu.sysregs.set("ID_AA64MMFR1_EL1", id.mmfr1);
  }
  const r = b.pkvm.boot();
  assertEquals(bootOk(r), true, JSON.stringify(r.failure ?? r.verify));
  const hyp = b.pkvm.host!.hyp!;
  const pool = hyp.pools.get(version === "v5.13" ? "host_s2_mem" : "host_s2")!;
  return { r, hyp, m: b.m, pool };
}

type Release = "v5.13" | "v6.1" | "v6.12" | "v7.2";

/**
 * The host stage-2 pool gave out the pgd pages and, from 6.1, the tables
 * under the hypervisor's owner annotations (finalize_host_mappings /
 * fix_host_ownership), and nothing else; v5.13 annotates nothing.
 */
function assertPoolHoldsTables(
  hyp: ReturnType<typeof boot>["hyp"],
  pool: ReturnType<typeof boot>["pool"],
  pgdPages: number,
): void {
  const tables = hyp.hostS2Pgt!.tablePages().length;
  if (hyp.release.setup.hostOwner === null) assertEquals(tables, pgdPages);
  else assertEquals(tables > pgdPages, true);
  assertEquals(pool.stats().free, pool.stats().nrPages - tables);
}

for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as const) {
  Deno.test(`${version}: VTCR_EL2 of the default machine (cortex-a57) has HA (0x80243594), one pgd page`, () => {
    const { r, hyp, m, pool } = boot(version);
    // cortex-a57: PARange 4, 44-bit PA: T0SZ 20; stage2_pgtable_levels(44) =
    // ARM64_HW_PGTABLE_LEVELS(40) = 4 levels from level 0 (SL0 2), whose
    // 2^(44-39) = 32 entries fit one page; PS 0b100; 8-bit VMIDs (no VS).
    const want = vtcr({ t0sz: 20, sl0: 2, ps: 4 });
    assertEquals(want, 0x8024_3594n);
    assertEquals(r.sysregs.VTCR_EL2, "0x80243594");
    for (const cpu of m.cpus) assertEquals(cpu.sysreg("VTCR_EL2"), want);
    assertEquals([hyp.hostStage2!.vtcr, hyp.hostStage2!.pgdPages], [want, 1]);
    assertPoolHoldsTables(hyp, pool, 1);
  });

  Deno.test(`${version}: neoverse-n1 (48-bit PA, 16-bit VMIDs): T0SZ 16, PS 0b101 and VS (0x802d3590)`, () => {
    const { r, hyp, m, pool } = boot(version, { cpu: "neoverse-n1" });
    // neoverse-n1: PARange 5, 48-bit PA: 4 levels from level 0, 2^(48-39) =
    // 512 entries, one page; MMFR1.VMIDBits 2: get_vmid_bits() is 16, so VS.
    const want = vtcr({ t0sz: 16, sl0: 2, ps: 5, vs: true });
    assertEquals(want, 0x802d_3590n);
    assertEquals(r.sysregs.VTCR_EL2, "0x802d3590");
    for (const cpu of m.cpus) assertEquals(cpu.sysreg("VTCR_EL2"), want);
    // MMFR2.CnP 1 (ARM64_HAS_CNP): kvm_get_vttbr() ORs VTTBR_CNP_BIT (bit 0).
    for (const cpu of m.cpus) {
      assertEquals(cpu.sysreg("VTTBR_EL2"), BigInt(hyp.hostStage2!.pgd) | 1n);
    }
    assertEquals([hyp.hostStage2!.vtcr, hyp.hostStage2!.pgdPages], [want, 1]);
    assertPoolHoldsTables(hyp, pool, 1);
  });

  Deno.test(`${version}: a 40-bit PA machine gets T0SZ 24, 3 levels from level 1 and a two-page pgd`, () => {
    const { hyp, m, pool } = boot(version, { mmfr0: 2n });
    const want = vtcr({ t0sz: 24, sl0: 1, ps: 2 });
    for (const cpu of m.cpus) assertEquals(cpu.sysreg("VTCR_EL2"), want);
    // 2^40 at level 1 (1 GiB entries): 1024 entries, two concatenated tables.
    assertEquals(hyp.hostStage2!.pgdPages, 2);
    assertEquals(hyp.hostStage2!.pgd % 8192, 0);
    assertPoolHoldsTables(hyp, pool, 2);
    // cortex-a57 has no CnP: VTTBR_EL2 is the pgd alone (VMID 0).
    assertEquals(m.cpu(0).sysreg("VTTBR_EL2"), BigInt(hyp.hostStage2!.pgd));
  });

  Deno.test(`${version}: 16-bit VMIDs set VS; a 52-bit PARange is used as 48 bits`, () => {
    // MMFR1.VMIDBits = 2 on the cortex-a57 (44-bit PA) machine.
    assertEquals(
      boot(version, { mmfr1: 2n << 4n }).r.sysregs.VTCR_EL2,
      `0x${vtcr({ t0sz: 20, sl0: 2, ps: 4, vs: true }).toString(16)}`,
    );
    // kvm_get_parange(): 48 bits is the cap without LPA2 (PARANGE_MAX for 4 KiB
    // pages in v5.13 and 6.1; kvm_get_parange_max() in 6.12 and 7.2, 52 only
    // with kvm_lpa2_is_enabled(), and MMFR0.TGran4 = 0 here means no LPA2).
    assertEquals(boot(version, { mmfr0: 6n }).r.sysregs.VTCR_EL2, "0x80253590");
  });

  Deno.test(`${version}: a 32-bit PA machine: 2 levels from level 2 (SL0 0), a four-page pgd`, () => {
    const { hyp, m } = boot(version, { mmfr0: 0n }, [{ base: 0x4000_0000, size: 2 ** 30 }]);
    assertEquals(m.cpu(0).sysreg("VTCR_EL2"), vtcr({ t0sz: 32, sl0: 0, ps: 0 }));
    assertEquals(hyp.hostStage2!.pgdPages, 4);
    assertEquals(hyp.hostStage2!.pgd % 16384, 0);
  });

  Deno.test(`${version}: the sanitised PARange is the smallest over the CPUs`, () => {
    const b = bootMachine(version, { cpus: 2 });
    b.m.cpu(1).sysregs.set("ID_AA64MMFR0_EL1", 2n);
    const r = b.pkvm.boot();
    assertEquals(bootOk(r), true, JSON.stringify(r.failure ?? r.verify));
    assertEquals(b.pkvm.host!.hyp!.hostStage2!.vtcr, vtcr({ t0sz: 24, sl0: 1, ps: 2 }));
  });
}
