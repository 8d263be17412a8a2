/**
 * hyplab's prediction of a real boot: the `observed` section of an
 * {@link Observation}, computed from its `inputs` alone.
 *
 * The release's profile boots a simulated machine of the same shape (CPU
 * model, RAM, CPU count); what the host decided at run time and hyplab
 * cannot predict comes from the inputs: the kernel image (System.map), the
 * memblock state when `kvm_hyp_reserve()` runs, the random bits of the hyp VA
 * tag, and where the host's page allocator put each CPU's per-CPU region and
 * stack. Everything else — the pool's size and place, the EL2 registers, the
 * EL2 stage-1 tables — is hyplab's own. The tables are read back with the
 * same walker the oracle uses on the real machine, so both sides are
 * described by one piece of code.
 *
 * @module
 */

import {
  type BootReport,
  createMachine,
  type Machine,
  type MemblockRegion,
  PKVM,
  Trace,
} from "../../core/mod.ts";
import { type HostInputs, kernelImageFromSystemMap, kvmCpuCaps } from "../pkvm/mod.ts";
import { profile } from "../profiles/mod.ts";
import { type KernelRelease, release } from "../releases/mod.ts";
import { walkEl2Stage1 } from "./el2_walk.ts";
import { hostStage2Observed, walkHostStage2 } from "./s2_walk.ts";
import { OracleError } from "./errors.ts";
import {
  type HexMapping,
  type Observation,
  OBSERVED_SYSREGS,
  type ObservedSysregs,
} from "./observation.ts";

/** What {@link predict} returns: the observed section, and the boot behind it. */
export interface Prediction {
  /** In the shape of `Observation["observed"]`. */
  observed: Observation["observed"];
  /** hyplab's boot report, for pictures and for reading why. */
  report: BootReport;
}

/** Thrown when hyplab cannot model what the observation ran (a feature not modelled yet). */
export class UnsupportedPrediction extends OracleError {
  /**
   * Creates the error.
   * @param message What is not modelled, and what would be needed.
   */
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedPrediction";
  }
}

const U64 = (1n << 64n) - 1n;

function big(path: string, v: string | string[] | undefined): bigint {
  if (typeof v !== "string") {
    throw new OracleError(`inputs.${path}: missing (predict needs it)`);
  }
  return BigInt(v);
}

function bigs(path: string, v: string | string[] | undefined): bigint[] {
  if (!Array.isArray(v)) throw new OracleError(`inputs.${path}: missing (predict needs it)`);
  return v.map((x) => BigInt(x));
}

/**
 * The kernel VA of a physical address in the linear map and back: `__va(pa)
 * = (pa - memstart_addr) | PAGE_OFFSET` with `PAGE_OFFSET = -(1 <<
 * CONFIG_ARM64_VA_BITS)` (on a 52-bit build running with 48 bits,
 * `arm64_memblock_init()` moves `memstart_addr` so this still holds).
 */
function linearToPa(rel: KernelRelease, memstart: bigint, va: bigint): number {
  const pageOffset = U64 & -(1n << BigInt(rel.config.vaBits));
  return Number(BigInt.asUintN(64, va - pageOffset + memstart));
}

/**
 * The PA behind a pointer the host may already have turned into a hyp VA
 * (`kern_hyp_va()`, as `finalize_init_hyp_mode()` does to the SVE state
 * pointers): a hyp VA keeps the kernel VA's low `tag_lsb` bits (`va_mask`),
 * and every linear-map VA of the machine shares the bits above them, those
 * of the first memory region's; a kernel VA goes straight through the
 * linear map.
 */
function pointerToPa(
  rel: KernelRelease,
  memstart: bigint,
  vaMask: bigint,
  firstPa: bigint,
  v: bigint,
): number {
  if (v >> 56n === 0xffn) return linearToPa(rel, memstart, v);
  const pageOffset = U64 & -(1n << BigInt(rel.config.vaBits));
  const first = BigInt.asUintN(64, firstPa - memstart + pageOffset);
  return linearToPa(rel, memstart, (first & ~vaMask) | (v & vaMask));
}

/**
 * The host facts of an observation, as hyplab's host model takes them.
 *
 * @param obs The observation.
 * @param rel Its release.
 * @returns Host inputs.
 * @throws {OracleError} A fact predict needs is missing or malformed.
 */
export function hostInputsOf(obs: Observation, rel: KernelRelease): HostInputs {
  const h = obs.inputs.host;
  const map: Record<string, bigint> = {};
  for (const [k, v] of Object.entries(obs.inputs.symbols)) map[k] = BigInt(v);
  let image;
  try {
    image = kernelImageFromSystemMap(map, big("host.kimage_voffset", h.kimage_voffset));
  } catch (e) {
    if (e instanceof OracleError) throw e;
    throw new OracleError(`inputs.symbols: ${(e as Error).message}`);
  }
  const memstart = big("host.memstart_addr", h.memstart_addr);
  const tagVal = big("host.tag_val", h.tag_val);
  const tagLsb = big("host.tag_lsb", h.tag_lsb);
  const percpu = bigs("host.kvm_arm_hyp_percpu_base", h.kvm_arm_hyp_percpu_base);
  const stackName = h.kvm_arm_hyp_stack_page !== undefined
    ? "kvm_arm_hyp_stack_page"
    : "kvm_arm_hyp_stack_base";
  const stacks = bigs(`host.${stackName}`, h[stackName]);
  const nr = obs.inputs.machine.cpus;
  if (percpu.length < nr || stacks.length < nr) {
    throw new OracleError(
      `inputs.host: ${nr} CPUs, but kvm_arm_hyp_percpu_base has ${percpu.length} and ${stackName} ${stacks.length} entries`,
    );
  }
  let sveState: number[] | undefined;
  if (h.sve_state !== undefined) {
    const vaMask = big("host.va_mask", h.va_mask);
    const first = BigInt(obs.inputs.memblock.memory[0]?.base ?? "0x0");
    sveState = bigs("host.sve_state", h.sve_state).slice(0, nr).map((v) =>
      pointerToPa(rel, memstart, vaMask, first, v)
    );
  }
  const region = (r: { base: string; size: string; flags?: number }): MemblockRegion =>
    r.flags === undefined
      ? { base: Number(BigInt(r.base)), size: Number(BigInt(r.size)) }
      : { base: Number(BigInt(r.base)), size: Number(BigInt(r.size)), flags: r.flags };
  return {
    image,
    memblock: {
      memory: obs.inputs.memblock.memory.map(region),
      reserved: obs.inputs.memblock.reserved.map(region),
    },
    // tag_val is stored shifted down by tag_lsb; hyplab recomputes its top
    // bit and takes only the random bits from it.
    hypVaRandom: tagVal << tagLsb,
    percpuBase: percpu.slice(0, nr).map((v) => linearToPa(rel, memstart, v)),
    stackPages: stacks.slice(0, nr).map((v) => linearToPa(rel, memstart, v)),
    ...(sveState === undefined ? {} : { sveState }),
  };
}

/**
 * The pKVM mode the release picks on the CPU model: hVHE when the release
 * runs the hypervisor in the EL2&0 regime on a VHE CPU (`ARM64_KVM_HVHE`,
 * 6.6+, in protected mode), nVHE otherwise.
 *
 * @param rel The release.
 * @param vhe The CPU has FEAT_VHE.
 * @returns The mode.
 */
export function predictedMode(rel: KernelRelease, vhe: boolean): "nVHE" | "hVHE" {
  return rel.host.hvheOnVhe && vhe ? "hVHE" : "nVHE";
}

/**
 * hyplab's prediction of an observation, from its inputs only.
 *
 * @param obs The observation (its `observed` section is not read).
 * @returns The prediction.
 * @throws {OracleError} Inputs predict needs are missing.
 * @throws {UnsupportedPrediction} The observation ran something hyplab does not model.
 * @example
 * ```ts ignore
 * import { parseObservation, predict } from "./mod.ts";
 * const obs = parseObservation(await Deno.readTextFile("obs.json"), "obs.json");
 * console.log((await predict(obs)).observed.reserve);
 * ```
 */
export async function predict(obs: Observation): Promise<Prediction> {
  const inp = obs.inputs;
  let rel: KernelRelease;
  try {
    rel = release(inp.profile);
  } catch (e) {
    throw new OracleError(`inputs.profile: ${(e as Error).message}`);
  }
  const ram = inp.machine.ram.map((r) => ({
    base: Number(BigInt(r.base)),
    size: Number(BigInt(r.size)),
  }));
  let m: Machine;
  try {
    m = createMachine({ ram, cpus: inp.machine.cpus, cpu: inp.machine.cpu });
  } catch (e) {
    throw new OracleError(`inputs.machine: ${(e as Error).message}`);
  }
  const model = m.cpu(0).model;
  const mode = predictedMode(rel, model.features.vhe);
  // vabits_actual: a 52-bit build falls back to 48 bits without LPA2.
  const vaBits = kvmCpuCaps(rel, model).vaBits;
  const hostInputs = hostInputsOf(obs, rel);
  const m2 = createMachine({
    ram,
    cpus: inp.machine.cpus,
    cpu: inp.machine.cpu,
    plugins: profile(inp.profile, { pkvm: { vaBits, hostInputs } }),
    // The report needs these kinds; the per-map and per-access events of a
    // full trace are most of a prediction's time.
    trace: new Trace({ kinds: ["step", "hypercall", "log", "barrier_finding", "handover"] }),
  });
  const pkvm = m2.get(PKVM);
  const report = pkvm.boot();
  if (!report.ok) {
    const f = report.failure;
    throw new UnsupportedPrediction(
      `hyplab's ${rel.name} boot of this machine failed${
        f ? ` at step ${f.step} (${f.name}): ${f.reason}` : ""
      }`,
    );
  }
  const cpu0 = m2.cpu(0);
  // Every register an observation may hold, as each CPU has it after the
  // boot; a recording without some of them compares only the rest.
  const perCpu = m2.cpus.map((c) =>
    Object.fromEntries(OBSERVED_SYSREGS.map((n) => [n, hex(c.sysreg(n))])) as ObservedSysregs
  );
  const sysregs = perCpu[0]!;
  const ttbr0 = cpu0.sysreg("TTBR0_EL2");
  const mem = m2.memory;
  const walk = await walkEl2Stage1(
    { ttbr0, tcr: cpu0.sysreg("TCR_EL2"), hcr: cpu0.sysreg("HCR_EL2") },
    (pa, len) => mem.readBytes(Number(pa), len),
    { ram: mem.banks.map((b) => ({ base: BigInt(b.base), size: BigInt(b.size) })) },
  );
  const r = report.reserve;
  const observed: Observation["observed"] = {
    mode,
    reserve: {
      base: r.base,
      size: r.size,
      // The memblock request: the PMD-rounded size at PMD alignment, or the
      // exact size at page alignment when that failed.
      request: { size: r.size, align: r.align },
    },
    sysregs,
    el2: {
      va_bits: walk.vaBits,
      start_level: walk.startLevel,
      table_pages: walk.tablePages,
      mappings: walk.mappings.map((x): HexMapping => ({
        va: hex(x.va),
        pa: hex(x.pa),
        size: hex(x.size),
        attr: hex(x.attr),
      })),
    },
  };
  if (perCpu.some((p) => OBSERVED_SYSREGS.some((n) => p[n] !== sysregs[n]))) {
    observed.sysregs_per_cpu = perCpu;
  }
  // Each CPU's kvm_hyp_vector, where __pkvm_cpu_set_vector stored it: in the
  // CPU's copy of the hyp per-CPU section, at the host's pages.
  const vecOff = hostInputs.image?.percpuOffsets.kvm_hyp_vector;
  const percpu = hostInputs.percpuBase;
  if (vecOff !== undefined && percpu !== undefined) {
    observed.kvm_hyp_vector = percpu.map((pa) => hex(mem.read64(pa + vecOff)));
  }
  // The host stage-2 as __pkvm_prot_finalize left it on (HCR_EL2.VM), read
  // with the walker the oracle uses on the real machine.
  if ((cpu0.sysreg("HCR_EL2") & 1n) === 1n) {
    const s2 = await walkHostStage2(
      { vttbr: cpu0.sysreg("VTTBR_EL2"), vtcr: cpu0.sysreg("VTCR_EL2") },
      (pa, len) => mem.readBytes(Number(pa), len),
      { ram: mem.banks.map((b) => ({ base: BigInt(b.base), size: BigInt(b.size) })) },
    );
    observed.host_s2 = hostStage2Observed(s2);
  }
  return { observed, report };
}

function hex(v: bigint | number | string): string {
  return typeof v === "string" ? v : `0x${v.toString(16)}`;
}
