/**
 * The six boot steps of nVHE protected mode, end to end, as Will Deacon's
 * review of "[PATCH v3 15/32] KVM: arm64: Prepare the creation of s1
 * mappings at EL2" lists them, then the usual hypercalls after boot and the
 * verification.
 *
 * @module
 */

import {
  type BootReport,
  errnoName,
  formatSize,
  hex,
  type HypercallResult,
  HyplabError,
  type Machine,
  type PagePool,
  type Pkvm,
  type PkvmVersion,
  type StepReport,
  type SwitchHazardReport,
  TLB,
  type VerifyReport,
} from "../../core/mod.ts";
import { type KvmCpuCaps, kvmCpuCaps } from "./cpu_caps.ts";
import { BootStepError, Host, type HostInputs } from "./host.ts";
import { HostBoot, type HostBootEvent, type HostBootStep } from "./host_boot.ts";
import { asSigned } from "./hypercall_ids.ts";
import { modelledHypercalls } from "./hyp_main.ts";
import { HypPanicError, type PkvmCaps } from "./hyp_state.ts";
import { type HostBootPhase, release } from "../releases/mod.ts";
import type { KernelImageOptions } from "./kernel_image.ts";
import { describeRemovedMemory } from "./memblock_init.ts";
import { buildReport, unverified } from "./report.ts";
import { switchHazard } from "./switch_hazard.ts";
import { hostOnlyMappings, verifyBoot } from "./verify.ts";

/** Options of the pKVM plugin. */
export interface PkvmOptions {
  /**
   * Hypercall ids and semantics.
   * @default "v5.13"
   */
  version?: PkvmVersion;
  /**
   * Kernel VA_BITS (`vabits_actual`): 39, 48, or 52 (FEAT_LPA2 on a release
   * built with 52-bit VAs). Default: what the kernel picks on the CPU model
   * (52 on an LPA2 CPU with a 52-bit build, else 48).
   */
  vaBits?: number;
  /** Kernel image placement and section sizes. */
  image?: KernelImageOptions;
  /**
   * ARM64_SPECTRE_V3A (vectors mapped privately, EXEC, and the indirect
   * vector slot). Default: the CPU model's MIDR (a Cortex-A57 or A72).
   */
  spectreV3a?: boolean;
  /**
   * The kernel command line turns the Spectre-v4 mitigation off
   * (`mitigations=off`, `ssbd=force-off`): on a CPU with FEAT_SSBS the
   * host then asks EL2 for `__kvm_enable_ssbs` on every CPU.
   * @default false
   */
  mitigationsOff?: boolean;
  /**
   * Refuse hypercalls whose effect the kernel leaves undefined (a second
   * `__pkvm_init`, `nr_cpus` outside the machine, a pool that is not RAM,
   * `__pkvm_prot_finalize` before `__pkvm_init`).
   * @default true
   */
  guards?: boolean;
  /**
   * After step 6, run the rest of the release's host boot: the other CPUs
   * (`__kvm_hyp_init` on the new pgd, their vectors, MDCR_EL2), the vgic
   * probe, and finalisation (`__pkvm_mark_hyp` in v5.13,
   * `__pkvm_prot_finalize`). Without it the boot stops once
   * `do_pkvm_init()` has returned and the host freed its tables.
   * @default true
   */
  afterBoot?: boolean;
  /** Profile name shown in the report (default: the version). */
  profile?: string;
  /**
   * Host facts a real boot decided (the oracle's predict): the image from
   * System.map, memblock at `kvm_hyp_reserve()`, the hyp VA tag's random
   * bits, and where the host put each CPU's per-CPU region and stack.
   */
  hostInputs?: HostInputs;
}

const STEP_NAMES: Record<number, string> = {
  0: "firmware hand-over",
  1: "carve the hyp pool (kvm_hyp_reserve)",
  2: "host EL2 tables and vectors (init_hyp_mode, __kvm_hyp_init)",
  3: "__pkvm_init: divide the pool, recreate the stage-1 tables",
  4: "back the vmemmap (hyp_back_vmemmap)",
  5: "switch tables and finalise (__pkvm_init_switch_pgd, __pkvm_init_finalise)",
  6: "host frees its EL2 tables (free_hyp_pgds)",
  7: "after boot: the other CPUs, the vgic, finalisation",
};

const PHASE_STEP: Record<string, number> = {
  idle: 3,
  divide: 3,
  recreate: 3,
  vmemmap: 4,
  params: 3,
  switch: 5,
  finalise: 5,
  done: 5,
};

/** The {@link Pkvm} implementation. */
export class PkvmBoot implements Pkvm {
  /** Variant name. */
  readonly name: string;
  /** Kernel version. */
  readonly version: PkvmVersion;
  readonly #machine: Machine;
  readonly #caps: PkvmCaps;
  readonly #options: PkvmOptions;
  #host: Host | undefined;
  #steps: StepReport[] = [];
  #failure: { step: number; name: string; reason: string } | undefined;
  #verify: VerifyReport | undefined;
  #hazard: SwitchHazardReport[] | undefined;
  #prepared = false;
  #booted = false;
  #notes: string[] = [];
  #caps2: KvmCpuCaps | undefined;
  #hostBoot: HostBoot | undefined;
  #events: Generator<HostBootEvent, void, void> | undefined;
  /** The `__pkvm_init` call the host boot stopped at. */
  #pkvmInit: HostBootStep | undefined;

  /**
   * Creates the boot.
   * @param machine The machine.
   * @param caps Capabilities.
   * @param options Options.
   */
  constructor(machine: Machine, caps: PkvmCaps, options: PkvmOptions) {
    this.#machine = machine;
    this.#caps = caps;
    this.#options = options;
    this.version = options.version ?? "v5.13";
    this.name = `pkvm-${this.version}`;
  }

  /** The host kernel (after {@link PkvmBoot.prepare}). */
  get host(): Host | undefined {
    return this.#host;
  }

  /** hVHE, `vabits_actual` and LPA2 as the kernel picks them on the machine's CPU model. */
  get cpuCaps(): KvmCpuCaps {
    return this.#caps2 ??= kvmCpuCaps(
      this.version,
      this.#machine.cpu(0).model,
      this.#options.vaBits,
    );
  }

  /**
   * Steps 0–2: firmware hand-over, carving, the host-built EL2 tables and
   * `__kvm_hyp_init` on the boot CPU. Leaves the host about to issue
   * `__pkvm_init`.
   * @returns The `__pkvm_init` arguments (x1..x5), or null when a step failed.
   */
  prepare(): bigint[] | null {
    if (this.#prepared) return this.#failure ? null : this.#host!.pkvmInitArgs();
    this.#prepared = true;
    try {
      const kc = this.cpuCaps;
      this.#host = new Host(this.#machine, this.version, this.#caps, {
        vaBits: kc.vaBits,
        image: this.#options.image ?? {},
        ...(this.#options.hostInputs === undefined ? {} : { inputs: this.#options.hostInputs }),
        config: {
          // ARM64_SPECTRE_V3A: the CPU model's MIDR says (Cortex-A57/A72).
          spectreV3a: this.#options.spectreV3a ?? this.#machine.cpu(0).model.features.spectreV3a,
          guards: this.#options.guards ?? true,
          hvhe: kc.hvhe,
          lpa2: kc.lpa2,
        },
      });
    } catch (e) {
      this.#fail(0, e);
      return null;
    }
    const host = this.#host;
    host.firmware();
    this.#ok(
      0,
      `${this.#machine.cpus.length} CPUs at EL1 on the hyp stub; kernel image ${
        hex(host.image.base)
      }..${hex(host.image.end)}`,
    );
    const removed = describeRemovedMemory(host.memblockInit?.removed ?? []);
    try {
      const r = host.reserve();
      // The release's own terms, in carving order, so they add up to the total.
      const terms = r.layout.filter((t) => t.pages > 0).map((t) => `${t.name} ${t.pages}`);
      this.#ok(
        1,
        `${formatSize(r.size)} at ${hex(r.base)} (${formatSize(r.align)} aligned): ${
          terms.join(" + ")
        } = ${r.pages.total} pages${removed === "" ? "" : `; ${removed}`}${
          mergedNote(host.memblockInit?.merged ?? [], host.memblock.memory.length)
        }${host.earlyWarnings.map((w) => `; ${w}`).join("")}${
          host.poolForecast.map((p) => p.verdict?.warn === undefined ? "" : `; ${p.verdict.warn}`)
            .join("")
        }`,
      );
    } catch (e) {
      // RAM arm64_memblock_init() removed may be why nothing fits: say so.
      this.#fail(
        1,
        removed === "" || !(e instanceof BootStepError)
          ? e
          : new BootStepError(1, `${e.message}; ${removed}`),
      );
      return null;
    }
    try {
      host.initHypMode();
      // do_pkvm_init() up to __pkvm_init: the host vector on the boot CPU.
      this.#hostBoot = new HostBoot(host, {
        ...(this.#options.spectreV3a === undefined ? {} : { spectreV3a: this.#options.spectreV3a }),
        mitigationsOff: this.#options.mitigationsOff ?? false,
      });
      this.#events = this.#hostBoot.events();
      this.#pkvmInit = this.#runUntil(2, (step) => step.call.call === "__pkvm_init");
      if (this.#pkvmInit === undefined) {
        throw new BootStepError(2, `the ${host.release.name} host boot issues no __pkvm_init`);
      }
      const l = host.layout!;
      this.#ok(
        2,
        `hyp_pgtable ${
          hex(host.hostPgt!.pgd)
        }: ${host.hostPgtPages.length} table pages; hyp_va_bits ${host.hypVaBits}, idmap ${
          hex(l.idmapStart)
        }; __kvm_hyp_init: MMU on at EL2`,
      );
    } catch (e) {
      this.#fail(2, e);
      return null;
    }
    return host.pkvmInitArgs();
  }

  /**
   * Runs the boot (preparing first if needed), then the after-boot
   * hypercalls and the verification.
   * @returns The report.
   */
  boot(): BootReport {
    if (this.#booted) return this.report();
    this.#booted = true;
    const args = this.prepare();
    if (args === null) return this.report();
    const host = this.#host!;
    const hyp = host.hyp!;
    this.#addNotes();
    let ret: bigint;
    try {
      const at = this.#pkvmInit!;
      const rec = host.hypercall("__pkvm_init", args, at.cpu, at.call.from);
      if (rec.x0 !== "0x0") throw new BootStepError(3, `__pkvm_init returned x0 = ${rec.x0}`);
      ret = asSigned(BigInt(rec.x1));
    } catch (e) {
      this.#fail(PHASE_STEP[hyp.phase] ?? 3, e);
      return this.report();
    }
    if (ret !== 0n) {
      const step = PHASE_STEP[hyp.phase] ?? 3;
      this.#fail(
        step,
        new BootStepError(
          step,
          `__pkvm_init returned ${errnoName(Number(ret))} in ${phaseFn(hyp.phase)}${
            hyp.lastError === undefined ? "" : ` (${hyp.lastError})`
          }`,
        ),
      );
      return this.report();
    }
    // kvm_arm_init() → finalize_init_hyp_mode() once init_hyp_mode() is done.
    host.finalizeInitHypMode();
    const pgt = hyp.pgt!;
    const early = hyp.pgtEarly!.nrUsedPages();
    this.#ok(
      3,
      `pool divided (${hyp.terms.map((t) => `${t.name} ${t.pages}`).join(", ")}); pkvm_pgtable ${
        hex(pgt.pgd)
      }: ${early} table pages from the early allocator, ${
        hyp.expected.filter((e) => e.step === 3).length
      } regions mapped`,
    );
    const vm = hyp.expected.filter((e) => e.what === "vmemmap");
    this.#ok(
      4,
      vm.length === 0
        ? "no vmemmap mapping"
        : `vmemmap ${
          vm.map((v) => `${hex(v.va)}..${hex(v.va + v.size)} -> ${hex(v.pa)}`).join(", ")
        } (${vm.reduce((s, v) => s + v.size, 0) / 4096} pages, PAGE_HYP)`,
    );
    const run = hyp.switchRun!;
    const hpool = hyp.pools.get("hpool")!.stats();
    this.#ok(
      5,
      `"${this.#caps.switchSeq.name}" ${run.verdict}${
        run.findings.length ? ` (${[...new Set(run.findings.map((f) => f.rule))].join(", ")})` : ""
      }; TTBR0_EL2 ${
        hex(this.#machine.cpu(0).sysreg("TTBR0_EL2"))
      }; hpool ${hpool.nrPages} pages, ${hpool.reserved} reserved, ${hpool.free} free${this.#wrapNotes()}; mm_ops -> hpool${
        hyp.fixblockSlot === undefined
          ? ""
          : `; fixmap: ${hyp.fixmapSlots.length} page slot(s) at ${
            hex(hyp.fixmapSlots[0]?.addr ?? 0)
          }, fixblock at ${hex(hyp.fixblockSlot.addr)}`
      }`,
    );
    // Before free_hyp_pgds(): what the boot CPU's TLB kept from hyp_pgtable,
    // compared with both tables while both are there.
    if (run.tlb !== undefined && host.hostPgt !== undefined) {
      const old = { name: "hyp_pgtable", base: host.hostPgt.pgd, maplets: host.hostPgt.maplets() };
      const neu = { name: "pkvm_pgtable", base: pgt.pgd, maplets: pgt.maplets() };
      this.#hazard = [switchHazard(run.tlb, 0, old, neu, this.version)];
    }
    // The rest of do_pkvm_init() on the boot CPU (from 5.16: its vector,
    // MDCR_EL2, ...), before kvm_hyp_init_protection() frees the host's tables.
    try {
      this.#runUntil(5, () => false, this.#pkvmInit!.phase);
    } catch (e) {
      this.#fail(5, e);
      return this.report();
    }
    const freedBefore = host.hostPgtPages.length;
    host.freeHypPgds();
    this.#ok(6, `${freedBefore} host table pages freed; EL2 mappings change by hypercall only`);
    const cpus = [this.#machine.cpu(0)];
    if (this.#options.afterBoot ?? true) {
      try {
        this.#afterBoot();
        cpus.push(...this.#machine.cpus.slice(1));
      } catch (e) {
        this.#fail(7, e);
      }
    }
    try {
      const hostOnly = hostOnlyMappings(host.hostExpected, pgt.maplets());
      this.#verify = verifyBoot(hyp, hostOnly, cpus);
      const note = hazardNote(run.findings, this.#hazard?.[0], this.#caps.tlb.policy);
      if (note !== undefined && this.#verify.stale_translations === 0) this.#notes.push(note);
    } catch (e) {
      this.#fail(7, e);
    }
    return this.report();
  }

  /**
   * Issues a hypercall from the host.
   * @param nameOrId Kernel name or id.
   * @param args Arguments.
   * @param cpu Issuing CPU.
   * @returns x0, x1 and the record.
   * @throws {HypPanicError} When EL2 panics.
   */
  hypercall(
    nameOrId: string | number,
    args: readonly (bigint | number)[] = [],
    cpu = 0,
  ): HypercallResult {
    if (this.#host === undefined) this.prepare();
    const host = this.#host;
    if (host === undefined || host.hyp === undefined) {
      throw new HyplabError(
        `Cannot issue ${nameOrId}: the boot failed before the hyp vectors were installed`,
      );
    }
    // After a hyp_panic the machine is dead: say so rather than "CPU at EL2".
    if (host.hyp.panic) throw host.hyp.panic;
    const record = host.hypercall(nameOrId, args, cpu);
    return { x0: BigInt(record.x0), x1: BigInt(record.x1), record };
  }

  /**
   * A pool of the hypervisor after `__pkvm_init_finalise` (`hpool`,
   * `host_s2_mem`, `host_s2_dev` in v5.13; `hpool`, `host_s2` in mainline),
   * for workloads that allocate as EL2 code would.
   * @param name Pool name.
   * @returns The pool, or undefined before finalise or for an unknown name.
   */
  pool(name: string): PagePool | undefined {
    return this.#host?.hyp?.pools.get(name);
  }

  /**
   * The report of the boot so far.
   * @returns The report.
   */
  report(): BootReport {
    const host = this.#host;
    if (host === undefined) return this.#bareReport();
    return buildReport({
      profile: this.#options.profile ?? this.version,
      host,
      steps: this.#steps,
      failure: this.#failure,
      verify: this.#verify,
      variants: this.#variants(),
      seed: this.#machine.prng.seed,
      notes: this.#notes,
      hazard: this.#hazard,
    });
  }

  /** The report when the kernel image could not even be laid out. */
  #bareReport(): BootReport {
    const m = this.#machine;
    const tlb = this.#caps.tlb.stats();
    const r: BootReport = {
      profile: this.#options.profile ?? this.version,
      ok: false,
      machine: {
        ram: m.memory.banks.map((b) => ({ base: hex(b.base), size: hex(b.size) })),
        cpus: m.cpus.length,
        va_bits: this.#caps2?.vaBits ?? this.#options.vaBits ?? 48,
        seed: m.prng.seed,
        cpu: m.cpu(0).model.name,
      },
      variants: this.#variants(),
      steps: this.#steps,
      memblock: { memory: [], reserved: [] },
      reserve: {
        base: "0x0",
        size: "0x0",
        align: "0x0",
        pages: { hyp_s1: 0, host_s2_mem: 0, host_s2_dev: 0, vmemmap: 0, total: 0 },
        terms: [],
        layout: [],
      },
      layout: {
        hyp_va_bits: 0,
        hyp_physvirt_offset: "0x0",
        io_map_base: "0x0",
        hyp_vmemmap: "0x0",
        idmap: "0x0",
        image: {},
      },
      hypercalls: [],
      pools: {},
      pgtable: {
        pgd: "0x0",
        table_pages: 0,
        early_table_pages: 0,
        mappings: [],
        tree: { start_level: 0, levels: [], runs: [] },
      },
      host_pgtable: { pgd: "0x0", table_pages: 0, freed: false },
      switch: {
        sequence: this.#caps.switchSeq.name,
        abi: this.#caps.switchSeq.abi,
        verdict: "fail",
        findings: [],
        executed: 0,
        pc: "0x0",
        source: this.#caps.switchSeq.source,
      },
      sysregs: {},
      tlb: { policy: this.#caps.tlb.policy, ...tlb },
      verify: unverified(tlb.stale),
      notes: this.#notes,
    };
    if (this.#failure) r.failure = this.#failure;
    return r;
  }

  #variants(): Record<string, string> {
    const c = this.#caps;
    // A TLB has no required name: shown by its own name, else by its
    // plugin's, so a user's TLB is not listed under the built-in's policy.
    const tlbPlugin = this.#machine.providerOf(TLB);
    const tlb = c.tlb.name ??
      (tlbPlugin === undefined || tlbPlugin === "tlb" ? `tlb-${c.tlb.policy}` : tlbPlugin);
    return {
      reserved_mem: c.reservedMem.name,
      early_allocator: c.early.name,
      page_allocator: c.pages.name,
      kvm_pgtable: c.pgtable.name,
      mmu: c.mmu.name,
      tlb,
      a64_executor: c.a64.name,
      switch_sequence: c.switchSeq.name,
      pkvm: this.name,
    };
  }

  /**
   * Runs the host boot's calls until `stop` matches one (returned, not
   * issued), or, with `phase`, until that phase ends, or to the end.
   */
  #runUntil(
    bootStep: number,
    stop: (step: HostBootStep) => boolean,
    phase?: HostBootPhase,
  ): HostBootStep | undefined {
    const hb = this.#hostBoot!;
    for (let e = this.#events!.next(); !e.done; e = this.#events!.next()) {
      const ev = e.value;
      if (ev.kind === "phase-end") {
        if (phase !== undefined && ev.phase === phase) return undefined;
        continue;
      }
      if (stop(ev.step)) return ev.step;
      hb.issue(ev.step, bootStep);
    }
    return undefined;
  }

  /** Step 7: the host boot's phases after do_pkvm_init(), to the end of finalisation. */
  #afterBoot(): void {
    const host = this.#host!;
    const hyp = host.hyp!;
    const first = host.records.length;
    this.#runUntil(7, () => false);
    this.#machine.trace.emit("log", {
      level: "info",
      message: `kvm [1]: Protected ${
        hyp.config.hvhe ? "hVHE" : "nVHE"
      } mode initialized successfully`,
    });
    const init = host.records.findIndex((r) => r.name === "__pkvm_init");
    const upAgain = [
      ...new Set(
        host.records.slice(Math.max(first, init + 1))
          .filter((r) => r.name === "__kvm_hyp_init" && r.x0 === "0x0")
          .map((r) => r.cpu),
      ),
    ];
    const counts = new Map<string, number>();
    for (const r of host.records) counts.set(r.name, (counts.get(r.name) ?? 0) + 1);
    this.#ok(
      7,
      `${
        upAgain.length === 0 ? "no CPU" : `CPU${upAgain.length > 1 ? "s" : ""} ${cpuList(upAgain)}`
      } entered EL2 on the new pgd; ${host.records.length} calls: ${
        [...counts].map(([n, c]) => `${n} x${c}`).join(", ")
      }`,
    );
  }

  /** The ranges v5.13's finalize_hyp_mode() passes to `__pkvm_mark_hyp`, in its order. */
  #markHypRanges(): [string, number, number][] {
    const hb = this.#hostBoot!;
    const nr = this.#machine.cpus.length;
    const label = (what: string, cpu: number) =>
      what === "hyp_mem"
        ? "pool"
        : what === "hyp_percpu"
        ? `percpu cpu${cpu}`
        : what === "hyp_stack"
        ? `stack cpu${cpu}`
        : what;
    const out: [string, number, number][] = [];
    for (const phase of hb.release.hostBoot) {
      const loop = phase.perPossibleCpu ? [...Array(nr).keys()] : [0];
      for (const cpu of loop) {
        for (const c of phase.calls) {
          if (c.call !== "__pkvm_mark_hyp" || c.args === undefined) continue;
          out.push([label(c.args, cpu), ...hb.markRange(c.args, cpu)]);
        }
      }
    }
    return out;
  }

  /**
   * The first `__pkvm_mark_hyp` range the v5.13 tag refuses: its
   * range_is_memory() looks up `end` (the v5.13.12 fix looks up `end - 1`),
   * so a range ending where its hyp_memory region ends is -EINVAL.
   */
  #markHypTagFailure(): [string, number, number] | undefined {
    const regions = this.#host!.hyp!.hypMemory;
    const region = (pa: number) => regions.findIndex((r) => pa >= r.base && pa < r.base + r.size);
    return this.#markHypRanges().find(([, a, b]) => region(b) !== region(a));
  }

  #addNotes(): void {
    const n = this.#notes;
    const caps = this.#caps;
    const rel = release(this.version);
    const v513 = rel.hypercalls.ids.__pkvm_mark_hyp !== undefined;
    const s2 = caps.pgtable.stage2Init !== undefined;
    n.push(
      v513
        ? "Host stage-2: __pkvm_prot_finalize loads VTTBR_EL2 (an empty host stage-2 pgd), VTCR_EL2 and HCR_EL2.VM; __pkvm_mark_hyp records ownership only."
        : !s2
        ? `Host stage-2: the kvm_pgtable variant "${caps.pgtable.name}" models no stage 2, so the host stage-2 is its pgd only (no ownership annotations).`
        : `Host stage-2: ${
          rel.setup.finalise.includes("host_ownership")
            ? "fix_host_ownership()"
            : "finalize_host_mappings()"
        } writes the hypervisor's owner annotation (${
          hex(rel.setup.hostOwner?.pte ?? 0n)
        }) on every page it owns${
          rel.setup.hostOwner?.hypText === "read-only" ? " but __hyp_text" : ""
        }; the valid entries it makes for shared pages${
          rel.setup.hostOwner?.hypText === "read-only" ? " and the read-only hyp text" : ""
        }, and those the host's faults fill later, are not modelled.`,
    );
    const kc = this.cpuCaps;
    if (kc.hvhe) {
      n.push(
        `hVHE (ARM64_KVM_HVHE: ${
          this.#machine.cpu(0).model.name
        } has FEAT_VHE): EL2 runs in the EL2&0 regime (HCR_EL2.E2H = 1), TCR_EL2 is the host's TCR_EL1 as cpu_prepare_hyp_mode() turns it, leaves use that regime's AP and execute-never bits, and ___kvm_hyp_init replays __kvm_init_el2_state (modelled for SCTLR_EL2, CNTHCTL_EL2, VTTBR_EL2 and CPTR_EL2).`,
      );
      if (rel.pgtable.hvheExec === "uxn") {
        n.push(
          `${rel.name}'s hyp_set_prot_attr() marks non-executable hVHE leaves with bit 54 only, which is UXN in the EL2&0 regime: at EL2 (PXN governs) read-only hyp mappings stay executable, and only SCTLR_EL2.WXN keeps writable ones from being so; the verification expects exactly that.`,
        );
      }
    }
    if (kc.lpa2) {
      n.push(
        `52-bit VAs (vabits_actual = 52 on a FEAT_LPA2 CPU): hyp_va_bits ${kc.vaBits}, tables from level -1 with LPA2 descriptors (TCR.DS, VTCR_EL2.DS).`,
      );
    }
    if (v513) {
      const fix =
        "__pkvm_mark_hyp follows the v5.13.12 stable fix facee1be7689: range_is_memory() looks up end - 1. At the v5.13 tag it looks up end";
      const fails = this.#markHypTagFailure();
      n.push(
        fails === undefined
          ? `${fix}; no range marked here ends where its memory region ends, so the tag would finish this boot too.`
          : `${fix}, which lies outside the memory region of a range that ends where its region ends, as __pkvm_mark_hyp(${
            fails[0]
          }) [${hex(fails[1])}, ${
            hex(fails[2])
          }) does here: it returns -EINVAL and finalize_hyp_mode() fails ("Failed to finalize Hyp protection"), so the tag cannot finish this boot.`,
      );
    }
    if (
      rel.setup.finalise.includes("pcpu_fixmap") ||
      rel.setup.finalise.includes("fixmap_and_fixblock")
    ) {
      n.push(
        `__pkvm_init_finalise after fix_hyp_pgtable_refcnt(): the fixmap is modelled (one private page per CPU onto __hyp_bss_start${
          rel.setup.finalise.includes("fixmap_and_fixblock")
            ? ", then a PMD-aligned 2 MiB fixblock"
            : ""
        }, each left as an invalid PTE whose table page keeps its reference); hyp_ffa_init() runs as on firmware without FF-A (QEMU's virt machine has none), so it returns 0 and sets up no proxy buffers; pkvm_hyp_vm_table_init() points vm_table at its page.`,
      );
    }
    n.push(
      `The hypercalls are ${rel.name}'s host boot, from the start of kvm_arch_init() / kvm_arm_init() to the end of finalize_hyp_mode() / finalize_pkvm(), as its descriptor lists them (hostBoot): the boot CPU is CPU 0, and what on_each_cpu() runs on every CPU is listed CPU 0 to ${
        this.#machine.cpus.length - 1
      } in turn (the kernel only waits for all of them). The host's SMCs (PSCI, SMCCC firmware calls) are not hypercalls and are not listed.`,
    );
    const modelled = new Set(modelledHypercalls(this.#host!.hyp!));
    const unmodelled = Object.entries(rel.hypercalls.ids).filter(([k]) => !modelled.has(k));
    n.push(
      `Hypercalls ${rel.name} has but hyplab does not model (${unmodelled.length} of them, e.g. ${
        unmodelled.slice(0, 3).map(([k, v]) => `${k} = ${v}`).join(", ")
      }) answer NOT_SUPPORTED.`,
    );
    if (this.#options.guards ?? true) {
      n.push(
        "Guards: a second __pkvm_init, nr_cpus outside the machine, a pool outside RAM and __pkvm_prot_finalize before __pkvm_init get an errno with no state change; the kernel has no such checks.",
      );
    }
    if (caps.pages.metadataBytesPerPage !== caps.reservedMem.hypPageBytes) {
      n.push(
        `The allocator keeps ${caps.pages.metadataBytesPerPage} bytes per page; the host sized the pool for sizeof(struct hyp_page) = ${caps.reservedMem.hypPageBytes}, EL2 carves and backs the vmemmap for the allocator's size.`,
      );
    }
    const abi = rel.setup.switchAbi;
    if (caps.switchSeq.abi !== abi) {
      n.push(
        `The switch sequence "${caps.switchSeq.name}" uses the ${caps.switchSeq.abi} ABI; __pkvm_init calls it that way (the ${this.version} kernel calls it with the ${abi} ABI).`,
      );
    }
  }

  /** Step 5 says again what step 1 warned of: pools whose range_end wrapped. */
  #wrapNotes(): string {
    const hyp = this.#host!.hyp!;
    return this.#host!.poolForecast.filter((p) => p.verdict?.warn !== undefined).map((p) => {
      const s = hyp.pools.get(p.name)?.stats();
      return s === undefined
        ? ""
        : `; ${p.name}: ${s.freeBlocksByOrder[0]} free order-0 blocks, free blocks by order [${
          s.freeBlocksByOrder.join(" ")
        }] (hyp_pool_init's range_end wrapped, step 1)`;
    }).join("");
  }

  #ok(step: number, detail: string): void {
    this.#steps.push({ step, name: STEP_NAMES[step]!, status: "ok", detail });
    this.#machine.trace.emit("step", { step, name: STEP_NAMES[step]!, status: "ok", detail });
  }

  #fail(step: number, e: unknown): void {
    const reason = e instanceof HypPanicError
      ? e.message
      : e instanceof BootStepError
      ? e.message
      : e instanceof Error
      ? `${e.name}: ${e.message}`
      : String(e);
    const s = e instanceof BootStepError ? e.step : step;
    this.#failure = { step: s, name: STEP_NAMES[s]!, reason };
    this.#steps.push({ step: s, name: STEP_NAMES[s]!, status: "fail", detail: reason });
    this.#machine.trace.emit("step", {
      step: s,
      name: STEP_NAMES[s]!,
      status: "fail",
      detail: reason,
    });
  }
}

/** CPU numbers as ranges: `0-3`, `1, 3`. */
function cpuList(cpus: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < cpus.length;) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    out.push(j > i ? `${cpus[i]}-${cpus[j]}` : `${cpus[i]}`);
    i = j + 1;
  }
  return out.join(", ");
}

/**
 * Why a sequence with TLB findings (R4, R5) shows no stale translation in
 * this boot, or undefined when a surviving entry differs (the step 5
 * account and the verification say what).
 */
function hazardNote(
  findings: readonly { rule: string }[],
  h: SwitchHazardReport | undefined,
  policy: string,
): string | undefined {
  const rules = [...new Set(findings.map((f) => f.rule))].filter((r) => r === "R4" || r === "R5");
  if (rules.length === 0 || h === undefined) return undefined;
  const what = `The switch sequence has ${
    rules.join("/")
  } findings, yet no stale translation shows`;
  const kept = h.at_enable.tlb + h.at_enable.walk + h.outlived.tlb + h.outlived.walk +
    h.old_ttbr0.walks;
  if (kept === 0) {
    return `${what}: this TLB kept nothing from hyp_pgtable across the MMU enable${
      policy === "optimistic"
        ? " (the optimistic policy flushes on the SCTLR_EL2 and TTBR0_EL2 writes and never walks speculatively, as QEMU does)"
        : ""
    }.`;
  }
  if (h.at_enable.differ + h.outlived.differ > 0) return undefined;
  return `${what}: the host-built and the hyp's tables map every VA they share identically, so an old TLB entry translates as a fresh walk would.`;
}

function phaseFn(phase: string): string {
  return {
    idle: "__pkvm_init",
    divide: "divide_memory_pool",
    recreate: "recreate_hyp_mappings",
    vmemmap: "hyp_back_vmemmap",
    params: "update_nvhe_init_params",
    switch: "__pkvm_init_switch_pgd",
    finalise: "__pkvm_init_finalise",
    done: "__pkvm_init_finalise",
  }[phase] ?? phase;
}

/**
 * Step 1's note on RAM banks that touch: `memblock_add()` merges them
 * (`memblock_merge_regions()`), and the hyp sizing that iterates the
 * regions (`__hyp_pgtable_total_pages()`) sees one region, not two.
 */
function mergedNote(merged: readonly number[], regions: number): string {
  if (merged.length === 0) return "";
  return `; memblock merged the RAM banks that touch at ${
    merged.map((b) => hex(b)).join(", ")
  }: hyp sizing sees ${regions} memblock region${regions === 1 ? "" : "s"}`;
}
