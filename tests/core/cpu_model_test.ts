// The expected values below were read from QEMU itself, not from hyplab:
// qemu-system-aarch64 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18) started with
// `-M virt,virtualization=on[,gic-version=N] -cpu MODEL -S -gdb ...`; under
// gdb, an `MRS x0, <reg>` (or `MSR <reg>, x0` then the register read back
// through the stub) was written at 0x40000000 and single-stepped at EL2
// after each `system_reset`. The ID values also agree with the stub's own
// register dump of each model at reset.

import { assert, assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import {
  CPU_CORTEX_A57,
  CPU_MAX,
  CPU_MODEL_NAMES,
  CPU_MODELS,
  CPU_NEOVERSE_N1,
  type CpuFeatures,
  type CpuModel,
  cpuModel,
  decodeCpuFeatures,
  decodeMidr,
  ichVtrEl2,
  ID_REGISTER_NAMES,
  idField,
  type IdRegisterName,
  type IdRegisters,
  Prng,
  QEMU_EL2_REGISTERS,
  qemuSysregWrite,
  qemuWriteRules,
} from "../../mod.ts";

const ALL = (1n << 64n) - 1n;
const bit = (n: number) => 1n << BigInt(n);

const ZERO_IDS: Partial<Record<IdRegisterName, bigint>> = {
  REVIDR_EL1: 0n,
  ID_AA64PFR2_EL1: 0n,
  ID_AA64DFR1_EL1: 0n,
  ID_AA64AFR0_EL1: 0n,
  ID_AA64AFR1_EL1: 0n,
  ID_AA64ISAR2_EL1: 0n,
  ID_AA64MMFR3_EL1: 0n,
  ID_AA64MMFR4_EL1: 0n,
};

// As read with gic-version=3 (the default of cpuModel()).
const MEASURED: Record<string, IdRegisters> = {
  "cortex-a57": {
    ...ZERO_IDS,
    MIDR_EL1: 0x411fd070n,
    CTR_EL0: 0x8444c004n,
    DCZID_EL0: 0x4n,
    CLIDR_EL1: 0xa200023n,
    ID_AA64PFR0_EL1: 0x1000222n,
    ID_AA64PFR1_EL1: 0x0n,
    ID_AA64DFR0_EL1: 0x10305106n,
    ID_AA64ISAR0_EL1: 0x11120n,
    ID_AA64ISAR1_EL1: 0x0n,
    ID_AA64MMFR0_EL1: 0x1124n,
    ID_AA64MMFR1_EL1: 0x0n,
    ID_AA64MMFR2_EL1: 0x0n,
    ID_AA64ZFR0_EL1: 0x0n,
    ID_AA64SMFR0_EL1: 0x0n,
  } as IdRegisters,
  "neoverse-n1": {
    ...ZERO_IDS,
    MIDR_EL1: 0x414fd0c1n,
    CTR_EL0: 0x8444c004n,
    DCZID_EL0: 0x4n,
    CLIDR_EL1: 0x82000023n,
    ID_AA64PFR0_EL1: 0x1100000011110112n,
    ID_AA64PFR1_EL1: 0x20n,
    ID_AA64DFR0_EL1: 0x10305408n,
    ID_AA64ISAR0_EL1: 0x100010211120n,
    ID_AA64ISAR1_EL1: 0x100001n,
    ID_AA64MMFR0_EL1: 0x101125n,
    ID_AA64MMFR1_EL1: 0x10212122n,
    ID_AA64MMFR2_EL1: 0x1011n,
    ID_AA64ZFR0_EL1: 0x0n,
    ID_AA64SMFR0_EL1: 0x0n,
  } as IdRegisters,
  "max": {
    ...ZERO_IDS,
    MIDR_EL1: 0xf0510n,
    CTR_EL0: 0x8444c004n,
    DCZID_EL0: 0x4n,
    CLIDR_EL1: 0x2000023n,
    ID_AA64PFR0_EL1: 0x1201001121110222n,
    ID_AA64PFR1_EL1: 0x1000021n,
    ID_AA64DFR0_EL1: 0x10305609n,
    ID_AA64ISAR0_EL1: 0x1221111110212120n,
    ID_AA64ISAR1_EL1: 0x11111101211012n,
    ID_AA64MMFR0_EL1: 0x32310201126n,
    ID_AA64MMFR1_EL1: 0x11010211122n,
    ID_AA64MMFR2_EL1: 0x1021011010011011n,
    ID_AA64ZFR0_EL1: 0x110110100110021n,
    ID_AA64SMFR0_EL1: 0x80f100fd00000000n,
  } as IdRegisters,
};

// ID_AA64PFR0_EL1 without gic-version (QEMU 7.2's TCG default, GICv2) and
// with gic-version=4.
const PFR0_GIC2: Record<string, bigint> = {
  "cortex-a57": 0x222n,
  "neoverse-n1": 0x1100000010110112n,
  "max": 0x1201001120110222n,
};

Deno.test("every ID register of every model reads as QEMU 7.2 returns it (gic-version=3)", () => {
  for (const name of CPU_MODEL_NAMES) {
    const m = cpuModel(name);
    assertEquals(Object.keys(m.idRegs).sort(), [...ID_REGISTER_NAMES].sort());
    for (const reg of ID_REGISTER_NAMES) {
      assertEquals(m.idRegs[reg], MEASURED[name]![reg], `${name} ${reg}`);
    }
  }
});

Deno.test("the GIC field of ID_AA64PFR0_EL1 follows -M virt,gic-version", () => {
  for (const name of CPU_MODEL_NAMES) {
    const v2 = cpuModel(name, { gicVersion: 2 });
    assertEquals(v2.idRegs.ID_AA64PFR0_EL1, PFR0_GIC2[name], name);
    assertEquals(v2.features.gicSysregs, false);
    assertEquals(v2.qemu.machine, "virt,virtualization=on,gic-version=2");
    const v4 = cpuModel(name, { gicVersion: 4 });
    assertEquals(v4.idRegs.ID_AA64PFR0_EL1, MEASURED[name]!.ID_AA64PFR0_EL1, name);
    // Nothing else depends on the GIC.
    for (const reg of ID_REGISTER_NAMES) {
      if (reg !== "ID_AA64PFR0_EL1") assertEquals(v2.idRegs[reg], cpuModel(name).idRegs[reg]);
    }
  }
});

Deno.test("-M virt removes EL3 and SPE from every model and MTE from max", () => {
  for (const m of Object.values(CPU_MODELS)) {
    assertEquals(idField(m.idRegs, "ID_AA64PFR0_EL1", "EL3"), 0, m.name);
    assertEquals(m.features.el2, true, m.name);
    assertEquals(idField(m.idRegs, "ID_AA64DFR0_EL1", "PMSVer"), 0, m.name);
    assertEquals(idField(m.idRegs, "ID_AA64PFR1_EL1", "MTE"), 0, m.name);
  }
  // ... but max keeps advertising SEL2 without EL3.
  assertEquals(CPU_MAX.features.sel2, true);
  assertEquals(CPU_MAX.features.el3, false);
});

const A57_FEATURES: CpuFeatures = {
  el2: true,
  el3: false,
  el0Aarch32: true,
  el1Aarch32: true,
  gicSysregs: true,
  paBits: 44,
  asidBits: 16,
  vmidBits: 8,
  vhe: false,
  lpa2: false,
  lva: false,
  cnp: false,
  hafdbs: 0,
  hpds: 0,
  pan: 0,
  lor: false,
  xnx: false,
  ets: false,
  hcx: false,
  uao: false,
  iesb: false,
  idst: false,
  s2fwb: false,
  ttl: false,
  bbm: 0,
  evt: false,
  e0pd: false,
  nv: 0,
  ecv: false,
  fgt: false,
  tlbRange: false,
  tlbOs: false,
  lse: false,
  ras: 0,
  sve: false,
  sme: false,
  smeFa64: false,
  sel2: false,
  dit: false,
  amu: false,
  csv2: 0,
  csv3: false,
  ssbs: 0,
  bti: false,
  mte: 0,
  pauth: { address: false, generic: false, algorithm: "none" },
  pmuVer: 1,
  spe: false,
  spectreV3a: true,
  iminLineBytes: 64,
  dminLineBytes: 64,
  idc: false,
  dic: false,
};

Deno.test("decoded features: cortex-a57", () => {
  assertEquals(CPU_CORTEX_A57.features, A57_FEATURES);
  assertEquals(CPU_CORTEX_A57.midr, {
    implementer: 0x41,
    variant: 1,
    architecture: 0xf,
    partNum: 0xd07,
    revision: 0,
  });
});

Deno.test("decoded features: neoverse-n1", () => {
  assertEquals(CPU_NEOVERSE_N1.features, {
    ...A57_FEATURES,
    el1Aarch32: false,
    paBits: 48,
    vmidBits: 16,
    vhe: true,
    cnp: true,
    hafdbs: 2,
    hpds: 2,
    pan: 2,
    lor: true,
    xnx: true,
    uao: true,
    iesb: true,
    lse: true,
    ras: 1,
    csv2: 1,
    csv3: true,
    ssbs: 2,
    pmuVer: 4,
    spectreV3a: false,
  });
  assertEquals(CPU_NEOVERSE_N1.midr.variant, 4);
  assertEquals(CPU_NEOVERSE_N1.midr.revision, 1);
  assertEquals(CPU_NEOVERSE_N1.sveMaxVectorBits, 0);
});

Deno.test("decoded features: max", () => {
  assertEquals(CPU_MAX.features, {
    ...A57_FEATURES,
    paBits: 52,
    vmidBits: 16,
    vhe: true,
    lpa2: true,
    lva: true,
    cnp: true,
    hafdbs: 2,
    hpds: 1,
    pan: 2,
    lor: true,
    xnx: true,
    ets: true,
    hcx: true,
    uao: true,
    iesb: true,
    idst: true,
    s2fwb: true,
    ttl: true,
    bbm: 2,
    e0pd: true,
    tlbRange: true,
    tlbOs: true,
    lse: true,
    ras: 2,
    sve: true,
    sme: true,
    smeFa64: true,
    sel2: true,
    dit: true,
    csv2: 2,
    csv3: true,
    ssbs: 2,
    bti: true,
    pauth: { address: true, generic: true, algorithm: "qarma5" },
    pmuVer: 6,
    spectreV3a: false,
  });
  assertEquals(CPU_MAX.midr, {
    implementer: 0,
    variant: 0,
    architecture: 0xf,
    partNum: 0x51,
    revision: 0,
  });
  // RDVL / RDSVL at EL2 with ZCR_EL2 / SMCR_EL2.LEN = 15 read 256 bytes.
  assertEquals([CPU_MAX.sveMaxVectorBits, CPU_MAX.smeMaxVectorBits], [2048, 2048]);
  // MDCR_EL2 reads 6 at reset on all three: HPMN = PMCR_EL0.N.
  for (const m of Object.values(CPU_MODELS)) assertEquals(m.pmuCounters, 6);
});

function withFields(
  base: IdRegisters,
  reg: IdRegisterName,
  fields: Record<number, number>,
): IdRegisters {
  let v = base[reg];
  for (const [lsb, val] of Object.entries(fields)) {
    const sh = BigInt(Number(lsb));
    v = (v & ~(0xfn << sh)) | (BigInt(val) << sh);
  }
  return { ...base, [reg]: v };
}

Deno.test("decodeCpuFeatures follows the kernel's field rules", () => {
  const base = CPU_NEOVERSE_N1.idRegs;
  // LPA2 needs both stages: TGran4 = 1 (bits 31:28) and TGran4_2 = 3 (43:40).
  const s1only = withFields(base, "ID_AA64MMFR0_EL1", { 28: 1, 40: 2 });
  assertEquals(decodeCpuFeatures(s1only).lpa2, false);
  assertEquals(decodeCpuFeatures(withFields(s1only, "ID_AA64MMFR0_EL1", { 40: 3 })).lpa2, true);
  // The PARange encodings, and a reserved one.
  const pa = [32, 36, 40, 42, 44, 48, 52];
  pa.forEach((bits, i) => {
    const r = withFields(base, "ID_AA64MMFR0_EL1", { 0: i });
    assertEquals(decodeCpuFeatures(r).paBits, bits);
  });
  assertThrows(
    () => decodeCpuFeatures(withFields(base, "ID_AA64MMFR0_EL1", { 0: 7 })),
    RangeError,
    "PARange = 7 is reserved",
  );
  // PAuth algorithms: IMPDEF (ISAR1.API, bits 11:8), QARMA3 (ISAR2.APA3, 15:12).
  const impdef = decodeCpuFeatures(withFields(base, "ID_AA64ISAR1_EL1", { 8: 1, 28: 1 }));
  assertEquals(impdef.pauth, { address: true, generic: true, algorithm: "impdef" });
  const q3 = decodeCpuFeatures(withFields(base, "ID_AA64ISAR2_EL1", { 12: 1 }));
  assertEquals(q3.pauth, { address: true, generic: false, algorithm: "qarma3" });
  // Spectre-v3a: Cortex-A57 and A72 of any revision, nothing else.
  const midr = (v: bigint) => decodeCpuFeatures({ ...base, MIDR_EL1: v }).spectreV3a;
  assertEquals([midr(0x410fd070n), midr(0x413fd080n), midr(0x410fd030n)], [true, true, false]);
  assertEquals(decodeMidr(0x413fd080n).partNum, 0xd08);
  // MTE: the level is kept raw (the kernel's ARM64_MTE wants 2).
  assertEquals(decodeCpuFeatures(withFields(base, "ID_AA64PFR1_EL1", { 8: 3 })).mte, 3);
});

Deno.test("cpuModel: lookup, identity, frozen values, clear errors", () => {
  assertStrictEquals(cpuModel("cortex-a57"), CPU_CORTEX_A57);
  assertStrictEquals(cpuModel("neoverse-n1", { gicVersion: 3 }), CPU_NEOVERSE_N1);
  assertStrictEquals(cpuModel("max", { gicVersion: 2 }), cpuModel("max", { gicVersion: 2 }));
  assertEquals(CPU_MAX.qemu, { version: "7.2", machine: "virt,virtualization=on,gic-version=3" });
  for (const m of Object.values(CPU_MODELS)) {
    assert(Object.isFrozen(m) && Object.isFrozen(m.idRegs) && Object.isFrozen(m.features));
    assert(m.summary.length > 0);
  }
  const e = assertThrows(() => cpuModel("cortex-a53"), RangeError);
  assertEquals(
    e.message,
    'Unknown CPU model "cortex-a53": expected one of cortex-a57, neoverse-n1, max',
  );
  assertThrows(() => cpuModel("MAX"), RangeError, "expected one of");
  assertThrows(
    () => cpuModel("max", { gicVersion: 1 as 2 }),
    RangeError,
    "Unknown GIC version 1: expected 2, 3 or 4",
  );
});

// ---------------------------------------------------------------------------
// Writes.

// Linux 6.1, arch/arm64/include/asm/sysreg.h: INIT_SCTLR_EL2_MMU_ON =
// M | C | SA | I | IESB | WXN | ENDIAN (0, little-endian) | ITFSB | RES1.
const SCTLR_EL2_RES1 = [4, 5, 11, 16, 18, 22, 23, 28, 29].reduce((m, b) => m | bit(b), 0n);
const INIT_SCTLR_EL2_MMU_ON = bit(0) | bit(2) | bit(3) | bit(12) | bit(21) | bit(19) | bit(37) |
  SCTLR_EL2_RES1;
// Linux 6.1 HCR_EL2 at pKVM init: RW | API | APK | ATA | TSC, then VM.
const HCR_61 = bit(31) | bit(41) | bit(40) | bit(56) | bit(19);

Deno.test("the two measured Linux 6.1 writes on cortex-a57", () => {
  assertEquals(INIT_SCTLR_EL2_MMU_ON, 0x20_30ed_183dn);
  // sctlr_write(): ITFSB (bit 37) dropped, no FEAT_MTE2.
  assertEquals(qemuSysregWrite(CPU_CORTEX_A57, "SCTLR_EL2", INIT_SCTLR_EL2_MMU_ON), 0x30ed183dn);
  // do_hcr_write(): API, APK (no PAuth) and ATA (no MTE2) dropped.
  assertEquals(qemuSysregWrite(CPU_CORTEX_A57, "HCR_EL2", HCR_61 | bit(0)), 0x80080001n);
  assertEquals(qemuSysregWrite(CPU_CORTEX_A57, "HCR_EL2", HCR_61), 0x80080000n);
  // The same writes on max keep API and APK (QEMU 7.2 measured 0x30080080001).
  assertEquals(qemuSysregWrite(CPU_MAX, "HCR_EL2", HCR_61 | bit(0)), 0x300_8008_0001n);
});

// Writing all ones: what each register keeps, per model (measured).
const KEEP: Record<string, Record<string, bigint>> = {
  "cortex-a57": { SCTLR_EL2: 0xfffff01fffffffffn, HCR_EL2: 0x3ffffffffn },
  "neoverse-n1": { SCTLR_EL2: 0xfffff01fffffffffn, HCR_EL2: 0x3fffffffffn },
  "max": { SCTLR_EL2: 0xfffff01fffffffffn, HCR_EL2: 0x0020433fffffffffn },
};

Deno.test("the keep mask of every register on every model is QEMU 7.2's", () => {
  for (const m of Object.values(CPU_MODELS)) {
    const rules = qemuWriteRules(m);
    for (const name of QEMU_EL2_REGISTERS) {
      const want = KEEP[m.name]![name] ?? ALL;
      assertEquals(rules[name].keep, want, `${m.name} ${name}`);
      assertEquals(qemuSysregWrite(m, name, ALL), want, `${m.name} ${name} <- ~0`);
      // No bit is forced to 1: RES1 bits written as 0 read back as 0.
      assertEquals(qemuSysregWrite(m, name, 0n), 0n, `${m.name} ${name} <- 0`);
      assertEquals(rules[name].reset, name === "MDCR_EL2" ? 6n : 0n, `${m.name} ${name} reset`);
    }
  }
});

// More (model, register, written, read back) observations from QEMU 7.2.
const OBSERVED: readonly [CpuModel, string, bigint, bigint][] = [
  [CPU_CORTEX_A57, "SCTLR_EL2", 0xc735df5ef7697fb9n, 0xc735d01ef7697fb9n],
  [CPU_NEOVERSE_N1, "SCTLR_EL2", 0x5555555555555555n, 0x5555501555555555n],
  [CPU_MAX, "SCTLR_EL2", 0xaaaaaaaaaaaaaaaan, 0xaaaaa00aaaaaaaaan],
  [CPU_CORTEX_A57, "HCR_EL2", 0xc735df5ef7697fb9n, 0x2f7697fb9n],
  [CPU_CORTEX_A57, "HCR_EL2", 0x8f0ebd4950cddd9n, 0x950cddd9n],
  [CPU_NEOVERSE_N1, "HCR_EL2", 0xc735df5ef7697fb9n, 0x1ef7697fb9n],
  [CPU_NEOVERSE_N1, "HCR_EL2", 0xce97b5bdf073eed1n, 0x3df073eed1n],
  [CPU_MAX, "HCR_EL2", 0xc735df5ef7697fb9n, 0x20431ef7697fb9n],
  [CPU_MAX, "HCR_EL2", 0xf149f542e935b870n, 0x4102e935b870n],
  [CPU_MAX, "HCR_EL2", 0x5555555555555555n, 0x411555555555n],
  [CPU_MAX, "HCR_EL2", 0xaaaaaaaaaaaaaaaan, 0x20022aaaaaaaaan],
  [CPU_CORTEX_A57, "TTBR0_EL2", 0xaaaaaaaaaaaaaaaan, 0xaaaaaaaaaaaaaaaan],
  [CPU_CORTEX_A57, "VTTBR_EL2", 0xaaaaaaaaaaaaaaaan, 0xaaaaaaaaaaaaaaaan],
  [CPU_NEOVERSE_N1, "TCR_EL2", 0xaaaaaaaaaaaaaaaan, 0xaaaaaaaaaaaaaaaan],
];

Deno.test("further QEMU 7.2 observations are reproduced", () => {
  for (const [m, name, written, read] of OBSERVED) {
    assertEquals(qemuSysregWrite(m, name, written), read, `${m.name} ${name} <- ${written}`);
  }
});

/** A model as `-M virt,mte=on` would give it (measured: PFR1 = 0x1000321). */
function withMte(m: CpuModel): CpuModel {
  const idRegs = { ...m.idRegs, ID_AA64PFR1_EL1: m.idRegs.ID_AA64PFR1_EL1 | (3n << 8n) };
  return { ...m, idRegs, features: decodeCpuFeatures(idRegs) };
}

Deno.test("each masking rule drops its bits exactly when the feature is absent", () => {
  const hcr = (m: CpuModel, bits: bigint) => qemuSysregWrite(m, "HCR_EL2", bits);
  const dropsOn = (bits: bigint, without: CpuModel, withIt: CpuModel) => {
    assertEquals(hcr(without, bits), 0n, `${without.name} keeps ${bits.toString(16)}`);
    assertEquals(hcr(withIt, bits), bits, `${withIt.name} drops ${bits.toString(16)}`);
  };
  // do_hcr_write(): E2H with FEAT_VHE, TLOR with FEAT_LOR, TERR/TEA with RAS.
  dropsOn(bit(34), CPU_CORTEX_A57, CPU_NEOVERSE_N1);
  dropsOn(bit(35), CPU_CORTEX_A57, CPU_NEOVERSE_N1);
  dropsOn(bit(36) | bit(37), CPU_CORTEX_A57, CPU_NEOVERSE_N1);
  // ... APK/API with PAuth, FWB with S2FWB, EnSCXT with CSV2_2.
  dropsOn(bit(40) | bit(41), CPU_NEOVERSE_N1, CPU_MAX);
  dropsOn(bit(46), CPU_NEOVERSE_N1, CPU_MAX);
  dropsOn(bit(53), CPU_NEOVERSE_N1, CPU_MAX);
  // ... ATA/DCT/TID5 with MTE2: absent on all three under -M virt; with
  // mte=on QEMU 7.2 measured HCR_EL2 keep = 0x720433fffffffff.
  dropsOn(bit(56) | bit(57) | bit(58), CPU_MAX, withMte(CPU_MAX));
  assertEquals(qemuWriteRules(withMte(CPU_MAX)).HCR_EL2.keep, 0x720433fffffffffn);
  // EnSCXT also with CSV2 = 1 and CSV2_frac >= 2 (FEAT_CSV2_1p2).
  const n1 = CPU_NEOVERSE_N1;
  const frac = { ...n1.idRegs, ID_AA64PFR1_EL1: n1.idRegs.ID_AA64PFR1_EL1 | (2n << 32n) };
  assertEquals(hcr({ ...n1, idRegs: frac }, bit(53)), bit(53));
  // TSC (19) and HCD (29) stay: no EL3, and -M virt,virtualization=on uses
  // the SMC PSCI conduit. The never-writable bits stay dropped everywhere.
  const never = ALL & ~((1n << 34n) - 1n) &
    ~(bit(34) | bit(35) | bit(36) | bit(37) | bit(40) | bit(41) | bit(46) | bit(53)) &
    ~(bit(56) | bit(57) | bit(58));
  for (const m of [...Object.values(CPU_MODELS), withMte(CPU_MAX)]) {
    assertEquals(hcr(m, bit(19) | bit(29)), bit(19) | bit(29));
    assertEquals(hcr(m, never), 0n, m.name);
  }
  // sctlr_write(): ITFSB, TCF0, TCF, ATA0, ATA only with MTE2 (measured:
  // all ones read back on max with mte=on).
  const sctlrMte = 0x7fn << 37n;
  assertEquals(qemuSysregWrite(CPU_MAX, "SCTLR_EL2", sctlrMte), 0n);
  assertEquals(qemuSysregWrite(withMte(CPU_MAX), "SCTLR_EL2", ALL), ALL);
  // Each rule says why.
  const why = qemuWriteRules(CPU_CORTEX_A57).HCR_EL2.dropped.map((d) => d.why.split(":")[0]);
  assertEquals(why.slice(0, 4), ["E2H", "TLOR", "TERR, TEA", "APK, API"]);
  assertEquals(qemuWriteRules(CPU_MAX).SCTLR_EL2.dropped[0]!.bits, sctlrMte);
});

Deno.test("the other seven registers store RES0 and feature bits as written", () => {
  // TTBR0_EL2.CnP on a CPU without FEAT_TTCNP, an ASID in TTBR0_EL2 with
  // E2H = 0, a 16-bit VMID on an 8-bit-VMID CPU, TCR_EL2's nVHE RES0 bits,
  // VTCR_EL2 bit 31 (RES1) written as 0.
  assertEquals(
    qemuSysregWrite(CPU_CORTEX_A57, "TTBR0_EL2", 0x1234_0000_4000_0001n),
    0x1234_0000_4000_0001n,
  );
  assertEquals(
    qemuSysregWrite(CPU_CORTEX_A57, "VTTBR_EL2", 0xff01_0000_8000_0000n),
    0xff01_0000_8000_0000n,
  );
  assertEquals(
    qemuSysregWrite(CPU_CORTEX_A57, "TCR_EL2", 0xffff_fffc_0000_0000n),
    0xffff_fffc_0000_0000n,
  );
  assertEquals(
    qemuSysregWrite(CPU_NEOVERSE_N1, "VTCR_EL2", 0x0008_0000_0000_3558n),
    0x0008_0000_0000_3558n,
  );
  for (const m of Object.values(CPU_MODELS)) {
    for (const name of ["TCR_EL2", "VTCR_EL2", "MAIR_EL2", "TTBR0_EL2", "VTTBR_EL2"] as const) {
      assertEquals(qemuWriteRules(m)[name].dropped, []);
    }
  }
});

Deno.test("E2H = 1: TCR_EL2 in TCR_EL1's layout is stored whole; refused without FEAT_VHE", () => {
  // A TCR_EL1-layout value: T0SZ = 16, IRGN0/ORGN0 = WBWA, SH0 = inner,
  // TG0 = 4K, T1SZ = 16, EPD1, TG1 = 4K, IPS = 48 bits, AS, TBI0, HA, HD,
  // HPD0, HPD1, DS (QEMU 7.2 stored 0xaaaa... and ~0 whole with E2H = 1).
  const tcr = 0x3510n | (16n << 16n) | bit(23) | (2n << 30n) | (5n << 32n) | bit(36) | bit(37) |
    bit(39) | bit(40) | bit(41) | bit(42) | bit(59);
  for (const m of [CPU_NEOVERSE_N1, CPU_MAX]) {
    assertEquals(qemuSysregWrite(m, "TCR_EL2", tcr, { e2h: true }), tcr);
    assertEquals(qemuSysregWrite(m, "TCR_EL2", ALL, { e2h: true }), ALL);
    assertEquals(qemuSysregWrite(m, "CPTR_EL2", ALL, { e2h: true }), ALL);
    assertEquals(
      qemuSysregWrite(m, "SCTLR_EL2", ALL, { e2h: true }),
      qemuSysregWrite(m, "SCTLR_EL2", ALL, { e2h: false }),
    );
  }
  assertThrows(
    () => qemuSysregWrite(CPU_CORTEX_A57, "TCR_EL2", tcr, { e2h: true }),
    RangeError,
    "Cannot write TCR_EL2 with HCR_EL2.E2H = 1 on cortex-a57: it has no FEAT_VHE",
  );
});

Deno.test("qemuSysregWrite rejects unknown registers and values outside 64 bits", () => {
  assertThrows(
    () => qemuSysregWrite(CPU_MAX, "TTBR1_EL2", 0n),
    RangeError,
    'Cannot write "TTBR1_EL2" on max: expected one of SCTLR_EL2, HCR_EL2, TCR_EL2, VTCR_EL2, ' +
      "MAIR_EL2, TTBR0_EL2, VTTBR_EL2, CPTR_EL2, MDCR_EL2",
  );
  assertThrows(() => qemuSysregWrite(CPU_MAX, "sctlr_el2", 0n), RangeError, "expected one of");
  for (const bad of [-1n, 1n << 64n, 5 as unknown as bigint]) {
    assertThrows(
      () => qemuSysregWrite(CPU_MAX, "HCR_EL2", bad),
      RangeError,
      "not a 64-bit unsigned bigint",
    );
  }
});

Deno.test("property: a write stores value & keep, for any value, model and register", () => {
  const rng = new Prng(0x5eed_c0de);
  const u64 = () => (BigInt(rng.nextU32()) << 32n) | BigInt(rng.nextU32());
  const models = [...Object.values(CPU_MODELS), withMte(CPU_MAX)];
  for (const m of models) {
    const rules = qemuWriteRules(m);
    for (const name of QEMU_EL2_REGISTERS) {
      // The dropped groups are disjoint and cover exactly what is not kept.
      let seen = 0n;
      for (const d of rules[name].dropped) {
        assertEquals(seen & d.bits, 0n, `${m.name} ${name}: overlapping groups`);
        assert(d.bits !== 0n && d.why.length > 0);
        seen |= d.bits;
      }
      assertEquals(seen, ALL & ~rules[name].keep, `${m.name} ${name}: groups cover ~keep`);
    }
  }
  for (let i = 0; i < 5000; i++) {
    const m = models[rng.int(models.length)]!;
    const name = QEMU_EL2_REGISTERS[rng.int(QEMU_EL2_REGISTERS.length)]!;
    // Sparse values as well as dense ones, so single features get exercised.
    const v = rng.int(2) === 0 ? u64() : u64() & u64() & u64();
    const e2h = m.features.vhe && rng.int(2) === 0;
    const stored = qemuSysregWrite(m, name, v, { e2h });
    assertEquals(stored, v & qemuWriteRules(m)[name].keep);
    assertEquals(stored & ~v, 0n, "a write never sets a bit");
    assertEquals(qemuSysregWrite(m, name, stored, { e2h }), stored, "idempotent");
    // More features never keep fewer bits: a57 <= n1 <= max.
    if (name === "HCR_EL2" || name === "SCTLR_EL2") {
      const a = qemuSysregWrite(CPU_CORTEX_A57, name, v);
      const n = qemuSysregWrite(CPU_NEOVERSE_N1, name, v);
      const x = qemuSysregWrite(CPU_MAX, name, v);
      assertEquals(a & ~n, 0n);
      assertEquals(n & ~x, 0n);
    }
  }
});

Deno.test("ichVtrEl2: QEMU 7.2's ich_vtr_read() from the model's gic_num_lrs, gic_vpribits, gic_vprebits", () => {
  // ListRegs [4:0] = LRs - 1, TDS 19, NV4 20 (GICv3 only), A3V 21,
  // IDbits [25:23] = 1, PREbits [28:26] = pre - 1, PRIbits [31:29] = pri - 1.
  const vtr = (lrs: number, pre: number, pri: number, nv4: boolean) =>
    BigInt(lrs - 1) | (1n << 19n) | (nv4 ? 1n << 20n : 0n) | (1n << 21n) | (1n << 23n) |
    (BigInt(pre - 1) << 26n) | (BigInt(pri - 1) << 29n);
  for (const name of CPU_MODEL_NAMES) {
    // "From B4.23 ICH_VTR_EL2" in QEMU: 4 list registers, 5 bits each, on all three.
    assertEquals(ichVtrEl2(cpuModel(name)), vtr(4, 5, 5, true), name);
    assertEquals(ichVtrEl2(cpuModel(name, { gicVersion: 4 })), vtr(4, 5, 5, false), name);
    assertThrows(() => ichVtrEl2(cpuModel(name, { gicVersion: 2 })), RangeError, "GICv3");
  }
});
