// The host's boot hypercall trace, per release and per CPU: each profile's
// report.hypercalls against the sequence the release's own kernel source
// issues, written out here from that source (not read from the release
// descriptors), on the default machine and on other shapes (1, 3 and 8 CPUs;
// each CPU model; a GICv2 and a GICv4 board; the Spectre-v4 mitigation off).

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  cpuModel,
  type CpuModelName,
  createMachine,
  type GicVersion,
  type HypercallRecord,
  PKVM,
  Trace,
} from "../../../core/mod.ts";
import type { PkvmBoot } from "../../../plugins/pkvm/pkvm_boot.ts";
import { profile } from "../../../plugins/profiles/mod.ts";
import { bootOk, LEAN_TRACE_KINDS } from "./_boot.ts";

type Release = "v5.13" | "v6.1" | "v6.12" | "v7.2";
const RELEASES: readonly Release[] = ["v5.13", "v6.1", "v6.12", "v7.2"];

interface Shape {
  cpus: number;
  cpu: CpuModelName;
  gic: GicVersion;
  mitigationsOff: boolean;
}

const DEFAULT: Shape = { cpus: 4, cpu: "cortex-a57", gic: 3, mitigationsOff: false };

function boot(rel: Release, s: Shape): PkvmBoot {
  const m = createMachine({
    ram: [{ base: 0x4000_0000, size: 2 ** 31 }],
    cpus: s.cpus,
    cpu: cpuModel(s.cpu, { gicVersion: s.gic }),
    plugins: profile(rel, { pkvm: { mitigationsOff: s.mitigationsOff } }),
    trace: new Trace({ kinds: [...LEAN_TRACE_KINDS] }),
  });
  const pkvm = m.get(PKVM) as PkvmBoot;
  pkvm.boot();
  return pkvm;
}

// What the test knows of QEMU 7.2's CPU models, stated here.
// cortex-a57: MIDR 0x411fd070, a Cortex-A57: ARM64_SPECTRE_V3A (has_spectre_v3a()).
const SPECTRE_V3A: Record<CpuModelName, boolean> = {
  "cortex-a57": true,
  "neoverse-n1": false,
  "max": false,
};
// ID_AA64PFR1_EL1.SSBS: 0 on cortex-a57, 2 on neoverse-n1 (0x20) and max.
const SSBS: Record<CpuModelName, boolean> = {
  "cortex-a57": false,
  "neoverse-n1": true,
  "max": true,
};

const cpusFrom = (first: number, n: number) => [...Array(n).keys()].slice(first);

/**
 * The trace each release's kvm_arm_init() / kvm_arch_init() and
 * finalize_pkvm() / finalize_hyp_mode() issue in protected nVHE mode, as
 * "cpu:call@caller", read from each release's arch/arm64/kvm/arm.c (and
 * pkvm.c, vgic/vgic-v3.c, vgic/vgic-v2.c, debug.c, mmu.c).
 */
function expected(rel: Release, s: Shape): string[] {
  const t: string[] = [];
  const at = (cpu: number, call: string, from: string) => t.push(`${cpu}:${call}@${from}`);
  const ssbs = SSBS[s.cpu] && s.mitigationsOff; // cpu_init_hyp_mode(): SPECTRE_VULNERABLE
  const installHostVector = (cpu: number) => {
    at(cpu, "__hyp_set_vectors", "hyp_install_host_vector");
    at(cpu, "__kvm_hyp_init", "hyp_install_host_vector");
    if (ssbs) at(cpu, "__kvm_enable_ssbs", "cpu_init_hyp_mode");
  };
  const initFeatures = (cpu: number) => {
    at(cpu, "__pkvm_cpu_set_vector", "cpu_set_hyp_vector");
    // kvm_arm_init_debug() until 7.x, whose kvm_init_host_debug_data() reads
    // the registers itself.
    if (rel !== "v7.2") at(cpu, "__kvm_get_mdcr_el2", "kvm_arm_init_debug");
    // kvm_vgic_init_cpu_hardware() needs vgic_present: never set yet here.
  };
  const reinit = (cpu: number) => {
    at(cpu, "__hyp_reset_vectors", "cpu_hyp_reset");
    installHostVector(cpu);
    initFeatures(cpu);
  };
  if (rel === "v5.13") {
    // do_pkvm_init(): hyp_install_host_vector() (no SSBS step here), __pkvm_init.
    at(0, "__hyp_set_vectors", "hyp_install_host_vector");
    at(0, "__kvm_hyp_init", "hyp_install_host_vector");
    at(0, "__pkvm_init", "do_pkvm_init");
    // kvm_init_vector_slots(): a Spectre-v3a nVHE host maps the vectors through EL2.
    if (SPECTRE_V3A[s.cpu]) {
      at(
        0,
        "__pkvm_create_private_mapping",
        "create_hyp_exec_mappings → __create_hyp_private_mapping",
      );
    }
    // init_subsystems(): on_each_cpu(_kvm_arch_hardware_enable): do_pkvm_init()
    // set no kvm_arm_hardware_enabled, so CPU 0 is re-initialised as well.
    for (const cpu of cpusFrom(0, s.cpus)) reinit(cpu);
    // kvm_vgic_hyp_init(): vgic_v3_probe(), or vgic_v2_probe() mapping GICH.
    if (s.gic >= 3) at(0, "__vgic_v3_get_gic_config", "vgic_v3_probe");
    else {at(
        0,
        "__pkvm_create_private_mapping",
        "create_hyp_io_mappings → __create_hyp_private_mapping",
      );}
    // finalize_hyp_mode(): four sections, the pool, then each CPU's per-CPU
    // pages and stack page.
    for (let i = 0; i < 5 + 2 * s.cpus; i++) at(0, "__pkvm_mark_hyp", "finalize_hyp_mode");
    for (const cpu of cpusFrom(0, s.cpus)) {
      at(cpu, "__pkvm_prot_finalize", "_kvm_host_prot_finalize");
    }
    return t;
  }
  // 6.1 / 6.12 / 7.2 do_pkvm_init(): cpu_hyp_init_context(), __pkvm_init,
  // cpu_hyp_init_features(), then the CPU is marked initialised.
  installHostVector(0);
  at(0, "__pkvm_init", "do_pkvm_init");
  initFeatures(0);
  // kvm_init_vector_slots() maps nothing in protected mode. init_subsystems():
  // on_each_cpu() re-initialises the CPUs not yet initialised.
  for (const cpu of cpusFrom(1, s.cpus)) reinit(cpu);
  if (s.gic >= 3) at(0, "__vgic_v3_get_gic_config", "vgic_v3_probe");
  // 7.2 on a GICv2: vgic_v2_probe() -ENXIO in protected mode, and
  // init_subsystems() gives up ("No VGIC? No pKVM for you."): no finalisation.
  else if (rel === "v7.2") return t;
  // (6.12, 7.2: kvm_init()'s kvm_online_cpu() finds every CPU initialised.)
  for (const cpu of cpusFrom(0, s.cpus)) at(cpu, "__pkvm_prot_finalize", "_kvm_host_prot_finalize");
  return t;
}

const trace = (rs: readonly HypercallRecord[]) => rs.map((h) => `${h.cpu}:${h.name}@${h.caller}`);

/** The expected trace, cut where a failed boot stopped (after the call that failed). */
function check(rel: Release, s: Shape, what: string): PkvmBoot {
  const pkvm = boot(rel, s);
  const r = pkvm.report();
  const want = expected(rel, s);
  const got = trace(r.hypercalls);
  if (bootOk(r)) {
    assertEquals(got, want, what);
  } else {
    // 6.12 and 7.2 on `max` stop in __pkvm_init (hVHE and the SVE state are
    // another branch's work): nothing is issued after the failed call.
    assertEquals(got, want.slice(0, got.length), `${what}: ${r.failure?.reason}`);
    assert(got.length > 0 && got.length <= want.length, what);
  }
  return pkvm;
}

for (const rel of RELEASES) {
  Deno.test(`${rel}: the default machine's trace is the release's own, per CPU, in its order`, () => {
    const pkvm = check(rel, DEFAULT, `${rel} default`);
    const r = pkvm.report();
    assertEquals(bootOk(r), true);
    // Every call but the hyp-stub ones is an SMCCC success; stubs answer 0.
    for (const h of r.hypercalls) assertEquals(h.x0, "0x0", `${h.cpu}:${h.name}`);
    // cortex-a57 is Spectre-v3a: every CPU asks for HYP_VECTOR_INDIRECT (2).
    for (const h of r.hypercalls.filter((h) => h.name === "__pkvm_cpu_set_vector")) {
      assertEquals(h.args, ["0x2"]);
    }
    // MDCR_EL2 as head.S left it: HPMN = PMCR_EL0.N = 6 (QEMU's A57 PMU).
    for (const h of r.hypercalls.filter((h) => h.name === "__kvm_get_mdcr_el2")) {
      assertEquals(h.x1, "0x6");
    }
    // ICH_VTR_EL2: 4 LRs, 5 priority and preemption bits, TDS, A3V, IDbits 1,
    // NV4 on a GICv3; bit 63 clear (no GICv2-compatible CPU interface).
    const gic = r.hypercalls.find((h) => h.name === "__vgic_v3_get_gic_config")!;
    assertEquals(gic.x1, "0x90b80003");
    // The step-7 summary counts the trace.
    const detail = r.steps.find((st) => st.step === 7)!.detail;
    assertStringIncludes(detail, `${r.hypercalls.length} calls`);
    assertStringIncludes(detail, "__pkvm_prot_finalize x4");
    assertStringIncludes(detail, rel === "v5.13" ? "CPUs 0-3 entered" : "CPUs 1-3 entered");
  });

  Deno.test(`${rel}: 1, 3 and 8 CPUs, each CPU model, GICv2 and GICv4, mitigations off`, () => {
    for (const cpus of [1, 3, 8]) check(rel, { ...DEFAULT, cpus }, `${rel} ${cpus} CPUs`);
    for (const cpu of ["cortex-a57", "neoverse-n1", "max"] as const) {
      check(rel, { ...DEFAULT, cpus: 2, cpu }, `${rel} ${cpu}`);
    }
    check(rel, { ...DEFAULT, cpus: 2, gic: 2 }, `${rel} GICv2`);
    const v4 = check(rel, { ...DEFAULT, cpus: 2, gic: 4 }, `${rel} GICv4`).report();
    // A GICv4 board's CPU interface has direct vLPI injection: NV4 (bit 20) clear.
    assertEquals(
      v4.hypercalls.find((h) => h.name === "__vgic_v3_get_gic_config")!.x1,
      "0x90a80003",
    );
    check(rel, { ...DEFAULT, cpus: 3, cpu: "neoverse-n1", mitigationsOff: true }, `${rel} ssbd`);
  });
}

Deno.test("v7.2 on a GICv2 board: init_subsystems() fails and nothing is finalised", () => {
  const r = boot("v7.2", { ...DEFAULT, gic: 2 }).report();
  assertEquals(r.ok, false);
  assertEquals(r.failure?.step, 7);
  assertStringIncludes(r.failure!.reason, "No VGIC? No pKVM for you.");
  assertEquals(r.hypercalls.filter((h) => h.name === "__pkvm_prot_finalize"), []);
});

Deno.test("v5.13: CPU 0's HVC_RESET_VECTORS reaches __kvm_handle_stub_hvc, and CPU 0 comes back on the hyp's tables", () => {
  const pkvm = boot("v5.13", DEFAULT);
  const r = pkvm.report();
  const reset = r.hypercalls.find((h) => h.cpu === 0 && h.name === "__hyp_reset_vectors")!;
  assertEquals([reset.kind, reset.id, reset.x0], ["stub", 2, "0x0"]);
  assertStringIncludes(reset.note!, "__kvm_handle_stub_hvc");
  const hyp = pkvm.host!.hyp!;
  const cpu0 = hyp.machine.cpu(0);
  assertEquals(cpu0.sysreg("TTBR0_EL2") & ~1n, BigInt(r.pgtable.pgd));
  assertEquals(Number(cpu0.sysreg("VBAR_EL2")), hyp.sym("__kvm_hyp_host_vector"));
  assertEquals(cpu0.sysreg("SCTLR_EL2") & 1n, 1n);
  // HCR_EL2 is the params' again (the stub path left HCR_HOST_NVHE_FLAGS),
  // with the host stage-2 on after __pkvm_prot_finalize.
  assertEquals(cpu0.sysreg("HCR_EL2") & 1n, 1n);
  assertEquals((cpu0.sysreg("HCR_EL2") >> 19n) & 1n, 1n, "HCR_EL2.TSC");
});

Deno.test("6.1: from 5.16 the boot CPU's re-init is skipped, and a stub call after __pkvm_init is refused", () => {
  const pkvm = boot("v6.1", DEFAULT);
  const r = pkvm.report();
  assertEquals(r.hypercalls.filter((h) => h.cpu === 0 && h.name === "__hyp_reset_vectors"), []);
  // What do_pkvm_init()'s flag prevents: the host vector refuses the stub call.
  const again = pkvm.host!.stubCall(0, "HVC_RESET_VECTORS", [], { name: "__hyp_reset_vectors" });
  assertEquals(again.result, "NOT_SUPPORTED");
});

Deno.test("prepare() stops at __pkvm_init; afterBoot: false stops once do_pkvm_init() returned", () => {
  for (const rel of RELEASES) {
    const m = createMachine({
      ram: [{ base: 0x4000_0000, size: 2 ** 31 }],
      cpus: 2,
      plugins: profile(rel, { pkvm: { afterBoot: false } }),
      trace: new Trace({ kinds: [...LEAN_TRACE_KINDS] }),
    });
    const pkvm = m.get(PKVM) as PkvmBoot;
    pkvm.prepare();
    assertEquals(trace(pkvm.report().hypercalls), [
      "0:__hyp_set_vectors@hyp_install_host_vector",
      "0:__kvm_hyp_init@hyp_install_host_vector",
    ], rel);
    const r = pkvm.boot();
    assertEquals(bootOk(r), true, rel);
    const full = expected(rel, { ...DEFAULT, cpus: 2 });
    const upTo = rel === "v5.13" ? 3 : rel === "v7.2" ? 4 : 5; // the end of do_pkvm_init()
    assertEquals(trace(r.hypercalls), full.slice(0, upTo), rel);
  }
});

Deno.test("__vgic_v3_get_gic_config on a GICv2 machine: the mrs of ICC_SRE_EL1 is UNDEFINED, the hyp panics", () => {
  const m = createMachine({
    ram: [{ base: 0x4000_0000, size: 2 ** 31 }],
    cpus: 1,
    cpu: cpuModel("cortex-a57", { gicVersion: 2 }),
    plugins: profile("v6.12", { pkvm: { afterBoot: false } }),
    trace: new Trace({ kinds: [...LEAN_TRACE_KINDS] }),
  });
  const pkvm = m.get(PKVM) as PkvmBoot;
  assertEquals(bootOk(pkvm.boot()), true);
  let err: unknown;
  try {
    pkvm.hypercall("__vgic_v3_get_gic_config");
  } catch (e) {
    err = e;
  }
  assertStringIncludes(String(err), "UNDEFINED");
});

Deno.test("__kvm_enable_ssbs sets SCTLR_EL2.DSSBS (bit 44) and leaves x1 as the host set it", () => {
  const pkvm = boot("v6.1", { ...DEFAULT, cpus: 2, cpu: "neoverse-n1", mitigationsOff: true });
  const m = pkvm.host!.machine;
  for (const cpu of m.cpus) assertEquals((cpu.sysreg("SCTLR_EL2") >> 44n) & 1n, 1n);
  const quiet = boot("v6.1", { ...DEFAULT, cpus: 2, cpu: "neoverse-n1" });
  for (const cpu of quiet.host!.machine.cpus) {
    assertEquals((cpu.sysreg("SCTLR_EL2") >> 44n) & 1n, 0n);
  }
  const rec = pkvm.report().hypercalls.find((h) => h.name === "__kvm_enable_ssbs")!;
  assertEquals([rec.x0, rec.x1], ["0x0", "0x0"]);
});
