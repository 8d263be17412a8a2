// Property test of the host's boot trace: seeded random machine shapes
// (release, 1..8 CPUs, CPU model, GIC version, RAM, Spectre-v4 mitigation on
// or off), and invariants every release's boot keeps, checked call by call.

import { assert, assertEquals } from "@std/assert";
import {
  cpuModel,
  type CpuModelName,
  createMachine,
  type GicVersion,
  type HypercallRecord,
  PKVM,
  Prng,
  Trace,
} from "../../../core/mod.ts";
import type { PkvmBoot } from "../../../plugins/pkvm/pkvm_boot.ts";
import { profile } from "../../../plugins/profiles/mod.ts";
import { bootOk, LEAN_TRACE_KINDS } from "./_boot.ts";

const RELEASES = ["v5.13", "v6.1", "v6.12", "v7.2"] as const;
const MODELS: readonly CpuModelName[] = ["cortex-a57", "neoverse-n1", "max"];
const GICS: readonly GicVersion[] = [2, 3, 4];
const STUBS: Record<string, number> = { __hyp_set_vectors: 0, __hyp_reset_vectors: 2 };

interface Shape {
  rel: (typeof RELEASES)[number];
  cpus: number;
  cpu: CpuModelName;
  gic: GicVersion;
  ramGiB: number;
  mitigationsOff: boolean;
}

function draw(p: Prng): Shape {
  return {
    rel: RELEASES[p.int(RELEASES.length)]!,
    cpus: p.range(1, 9),
    cpu: MODELS[p.int(MODELS.length)]!,
    gic: GICS[p.int(GICS.length)]!,
    ramGiB: p.range(1, 4),
    mitigationsOff: p.int(2) === 1,
  };
}

/** Checks one boot's trace; returns how many calls it checked. */
function checkBoot(s: Shape): number {
  const what = JSON.stringify(s);
  const model = cpuModel(s.cpu, { gicVersion: s.gic });
  const m = createMachine({
    ram: [{ base: 0x4000_0000, size: s.ramGiB * 2 ** 30 }],
    cpus: s.cpus,
    cpu: model,
    plugins: profile(s.rel, { pkvm: { mitigationsOff: s.mitigationsOff } }),
    trace: new Trace({ kinds: [...LEAN_TRACE_KINDS] }),
  });
  const r = (m.get(PKVM) as PkvmBoot).boot();
  const hs = r.hypercalls;
  const at = (h: HypercallRecord, i: number) => `${what} #${i} ${h.cpu}:${h.name}`;
  const idx = (pred: (h: HypercallRecord) => boolean) => hs.flatMap((h, i) => (pred(h) ? [i] : []));
  const cpus = [...Array(s.cpus).keys()];

  // Every record names a CPU of the machine and the kernel function that
  // issued it; stub calls are the hyp-stub wrappers with their HVC_* number.
  hs.forEach((h, i) => {
    assert(h.cpu >= 0 && h.cpu < s.cpus, at(h, i));
    assert(typeof h.caller === "string" && h.caller.length > 0, `${at(h, i)}: caller`);
    assertEquals(h.kind === "stub", h.name in STUBS, at(h, i));
    if (h.kind === "stub") assertEquals(h.id, STUBS[h.name], at(h, i));
  });

  // __pkvm_init: once, on the boot CPU, after its own __kvm_hyp_init.
  const init = idx((h) => h.name === "__pkvm_init");
  assertEquals(init.length, 1, `${what}: __pkvm_init`);
  const i0 = init[0]!;
  assertEquals(hs[i0]!.cpu, 0, what);
  assert(hs.slice(0, i0).some((h) => h.cpu === 0 && h.name === "__kvm_hyp_init"), what);
  assert(
    hs.slice(0, i0).every((h) => h.cpu === 0),
    `${what}: only the boot CPU before __pkvm_init`,
  );

  // A boot that fails stops at the call that failed: either __pkvm_init
  // itself (6.12 and 7.2 on max: another branch's hVHE work), or 7.2's
  // init_subsystems() on a GICv2 board, which issues no finalisation.
  const gicv2Fatal = s.rel === "v7.2" && s.gic === 2;
  if (!bootOk(r)) {
    if (r.failure?.step === 3) {
      assertEquals(hs.length, i0 + 1, `${what}: nothing after a failed __pkvm_init`);
      return hs.length;
    }
    assert(gicv2Fatal, `${what}: ${r.failure?.reason}`);
  } else {
    assert(!gicv2Fatal, what);
    for (const [i, h] of hs.entries()) assertEquals(h.x0, "0x0", at(h, i));
  }

  // Per CPU: every __kvm_hyp_init right after its __hyp_set_vectors, every
  // __hyp_reset_vectors followed by a re-install; exactly one
  // __pkvm_cpu_set_vector, with exactly one __kvm_hyp_init since the CPU was
  // last reset (or since the start) before it.
  const lastSetVector: number[] = [];
  for (const c of cpus) {
    const mine = idx((h) => h.cpu === c);
    const names = mine.map((i) => hs[i]!.name);
    names.forEach((n, k) => {
      if (n === "__kvm_hyp_init") {
        assertEquals(names[k - 1], "__hyp_set_vectors", `${what} cpu${c}`);
      }
      if (n === "__hyp_reset_vectors") {
        assertEquals(names.slice(k + 1, k + 3), ["__hyp_set_vectors", "__kvm_hyp_init"], what);
      }
    });
    const sv = names.flatMap((n, k) => (n === "__pkvm_cpu_set_vector" ? [k] : []));
    assertEquals(sv.length, 1, `${what} cpu${c}: __pkvm_cpu_set_vector`);
    const since = names.lastIndexOf("__hyp_reset_vectors", sv[0]!) + 1;
    assertEquals(
      names.slice(since, sv[0]!).filter((n) => n === "__kvm_hyp_init").length,
      1,
      `${what} cpu${c}: one __kvm_hyp_init before its vector`,
    );
    lastSetVector.push(mine[sv[0]!]!);
    // The CPUs other than the boot CPU come up on the hyp's own tables.
    if (c !== 0) assert(mine[0]! > i0, `${what} cpu${c} before __pkvm_init`);
    // The SSBS step on every CPU when it has FEAT_SSBS and the mitigation is off.
    assertEquals(
      names.filter((n) => n === "__kvm_enable_ssbs").length,
      model.features.ssbs >= 1 && s.mitigationsOff ? 1 : 0,
      `${what} cpu${c}: __kvm_enable_ssbs`,
    );
    // MDCR_EL2 once per CPU until 7.x, as head.S left it: HPMN = PMCR_EL0.N.
    const mdcr = mine.filter((i) => hs[i]!.name === "__kvm_get_mdcr_el2");
    assertEquals(mdcr.length, s.rel === "v7.2" ? 0 : 1, `${what} cpu${c}: mdcr`);
    for (const i of mdcr) assertEquals(BigInt(hs[i]!.x1), BigInt(model.pmuCounters), what);
  }

  // The vgic probe: once on the boot CPU on a GICv3/v4 board, after every
  // CPU's hyp is up; its result carries the board's list registers.
  const gic = idx((h) => h.name === "__vgic_v3_get_gic_config");
  assertEquals(gic.length, s.gic >= 3 ? 1 : 0, `${what}: gic config`);
  for (const i of gic) {
    assertEquals(hs[i]!.cpu, 0, what);
    assert(lastSetVector.every((v) => v < i), `${what}: probe before a CPU's vector`);
    const x1 = BigInt(hs[i]!.x1);
    assertEquals(Number(x1 & 0x1fn) + 1, model.gicVirt.listRegs, what);
    assertEquals((x1 >> 20n) & 1n, s.gic === 3 ? 1n : 0n, `${what}: NV4`);
    assertEquals(x1 >> 32n, 0n, `${what}: bit 63 and the high half`);
  }

  // Finalisation: one __pkvm_prot_finalize per CPU after __pkvm_init and
  // after every CPU's vector; nothing after the last one.
  const fin = idx((h) => h.name === "__pkvm_prot_finalize");
  if (gicv2Fatal) {
    assertEquals(fin, [], what);
    return hs.length;
  }
  assertEquals(fin.map((i) => hs[i]!.cpu).sort((a, b) => a - b), cpus, `${what}: finalize`);
  for (const i of fin) {
    assert(i > i0 && lastSetVector.every((v) => v < i), `${what}: #${i} finalize too early`);
  }
  assertEquals(Math.max(...fin), hs.length - 1, `${what}: a call after the last finalize`);
  // v5.13's __pkvm_mark_hyp: the four sections, the pool, and two per CPU,
  // all before the finalisation.
  const mark = idx((h) => h.name === "__pkvm_mark_hyp");
  assertEquals(mark.length, s.rel === "v5.13" ? 5 + 2 * s.cpus : 0, what);
  for (const i of mark) assert(i < Math.min(...fin), what);
  return hs.length;
}

Deno.test("boot trace: 160 seeded random machine shapes keep every release's invariants", () => {
  const p = new Prng(0x7ace);
  let calls = 0;
  const seen = new Set<string>();
  for (let n = 0; n < 160; n++) {
    const s = draw(p);
    calls += checkBoot(s);
    seen.add(`${s.rel}/${s.cpu}/${s.gic}`);
  }
  // Thousands of calls checked, over (nearly) every release/model/GIC mix.
  assert(calls > 3000, `only ${calls} calls`);
  assert(seen.size >= 30, `only ${seen.size} of 36 release/model/GIC mixes`);
});
