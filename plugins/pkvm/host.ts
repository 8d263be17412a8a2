/**
 * The host kernel at EL1 (`arch/arm64/kvm/arm.c`, `mmu.c`, `mm/init.c`):
 * memblock carving (`kvm_hyp_reserve`), the EL1-built EL2 page table
 * (`kvm_mmu_init`, `create_hyp_mappings`), each CPU's
 * `kvm_nvhe_init_params`, `__kvm_hyp_init` through the hyp stub, the
 * `__pkvm_init` hypercall, and `free_hyp_pgds`.
 *
 * @module
 */

import {
  type Cpu,
  errnoName,
  hex,
  hvc,
  type HypercallRecord,
  type HypReservation,
  type KvmPgtable,
  type Machine,
  type Memblock,
  PAGE_HYP,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  type PgtableMmOps,
  type PkvmVersion,
  type PoolSizeVerdict,
} from "../../core/mod.ts";
import { type KernelRelease, release } from "../releases/mod.ts";
import { earlyMemblockReserved } from "./early_memblock.ts";
import { mapEach, vmemmapPagesFor } from "./hyp_mm.ts";
import { arm64MemblockInit, type MemblockInitResult } from "./memblock_init.ts";
import { HostPages } from "./host_pages.ts";
import {
  asSigned,
  asU64,
  hypercallIds,
  hypercallName,
  KVM_HOST_SMCCC_BASE,
  SMCCC_RET_NOT_SUPPORTED,
  smcccFunctionId,
} from "./hypercall_ids.ts";
import { initEl2State } from "./el2_setup.ts";
import { type DispatchNote, installVectors } from "./hyp_main.ts";
import { type ExpectedMapping, Hyp, type HypConfig, type PkvmCaps } from "./hyp_state.ts";
import { computeHypVaLayout, type HypVaLayout } from "./hyp_va_layout.ts";
import { hostHcrEl2, hostTcrEl2, hostTcrEl2Hvhe, pkvmHostSveStateSize } from "./host_regs.ts";
import { type InitParamsField, initParamsOffset } from "./init_params.ts";
import {
  getOrder,
  type KernelImage,
  type KernelImageOptions,
  layoutKernelImage,
} from "./kernel_image.ts";

const PAGE = 4096;

/** A step failure the report shows. */
export class BootStepError extends Error {
  /** Step number. */
  readonly step: number;
  /**
   * Creates the error.
   * @param step Boot step.
   * @param message What failed, in the kernel's words where it has some.
   */
  constructor(step: number, message: string) {
    super(message);
    this.name = "BootStepError";
    this.step = step;
  }
}

/**
 * What a real boot's host decided that hyplab cannot predict: the host's page
 * allocator and RNG choose them. The oracle reads them from kernel memory and
 * the console log of a real boot; without them hyplab's own host model
 * decides (its page allocator, its seeded PRNG, an approximation of the
 * early memblock allocations).
 */
export interface HostInputs {
  /** The kernel image as System.map lays it out. */
  image?: KernelImage;
  /** memblock when `kvm_hyp_reserve()` runs (memory and reserved regions). */
  memblock?: Memblock;
  /** The random long `kvm_compute_layout()` ORs into the hyp VA tag. */
  hypVaRandom?: bigint;
  /** `kvm_arm_hyp_percpu_base[cpu]` as PAs. */
  percpuBase?: readonly number[];
  /** Each CPU's hyp stack page (`kvm_arm_hyp_stack_page` / `_base`) as a PA. */
  stackPages?: readonly number[];
  /**
   * Each CPU's host SVE state buffer for protected mode
   * (`kvm_host_data.sve_state` / `.sve_regs`, 6.12+ on an SVE CPU) as a PA.
   */
  sveState?: readonly number[];
}

/** Options of the host kernel. */
export interface HostOptions {
  /** Kernel VA_BITS (39 or 48). */
  vaBits: number;
  /** Kernel image placement and sizes. */
  image: KernelImageOptions;
  /** Simulated kernel configuration. */
  config: HypConfig;
  /** Host facts from a real boot (the oracle's predict). */
  inputs?: HostInputs;
}

/** The host kernel and the hypervisor it boots. */
export class Host {
  /** The machine. */
  readonly machine: Machine;
  /** Kernel release name. */
  readonly version: PkvmVersion;
  /** The release's facts. */
  readonly release: KernelRelease;
  /** Capabilities. */
  readonly caps: PkvmCaps;
  /** Options. */
  readonly options: HostOptions;
  /** The host's SVE state buffer per CPU (PA), when the release and CPU have one. */
  sveState: number[] = [];
  /** The kernel image. */
  readonly image: KernelImage;
  /** memblock. */
  readonly memblock: Memblock;
  /**
   * What `arm64_memblock_init()` kept of the machine's RAM and why it
   * removed the rest (undefined when a real boot's memblock was given).
   */
  readonly memblockInit: MemblockInitResult | undefined;
  /** `kvm_hyp_reserve()` result. */
  reservation: HypReservation | undefined;
  /**
   * The pools EL2 will create at step 5 (`hpool` and the host stage-2
   * pools), sized at step 1, with what the page allocator said of each.
   */
  poolForecast: { name: string; pfn: number; nrPages: number; verdict?: PoolSizeVerdict }[] = [];
  /** What the early allocator said at step 1 of the terms it will carve. */
  earlyWarnings: string[] = [];
  /** VA layout. */
  layout: HypVaLayout | undefined;
  /** `hyp_va_bits`. */
  hypVaBits = 0;
  /** The host page allocator (after carving). */
  pages: HostPages | undefined;
  /** `hyp_pgtable`: the EL1-built EL2 table. */
  hostPgt: KvmPgtable | undefined;
  /** Its pgd (kept after it was freed). */
  hostPgd = 0;
  /** Its table pages before they were freed. */
  hostPgtPages: number[] = [];
  /** Step 6 done. */
  hostPgtFreed = false;
  /** Mappings of the host-built table. */
  hostExpected: ExpectedMapping[] = [];
  /** `kvm_arm_hyp_stack_page` per CPU (PA). */
  stackPages: number[] = [];
  /** `kvm_arm_hyp_percpu_base[cpu]` (PA). */
  percpuBase: number[] = [];
  /** EL1 `io_map_base` (private VAs grow down from the idmap). */
  ioMapBase = 0;
  /** The hypervisor (created at step 2, when the host knows the layout). */
  hyp: Hyp | undefined;
  /** Every hypercall issued. */
  records: HypercallRecord[] = [];
  #note: DispatchNote = {};
  /**
   * Page counts of the host table's pages (the EL1 `kvm_pgtable_mm_ops`
   * page refcounts), keyed by page frame number: a frame number is a small
   * integer where a PA above 2 GiB is a heap-allocated double in V8, and
   * every entry the table makes or frees takes or drops one.
   */
  #refs = new Map<number, number>();

  /**
   * Creates the host kernel, lays out its image and reserves it in memblock.
   * @param machine The machine.
   * @param version Kernel version.
   * @param caps Capabilities.
   * @param options VA bits, image, configuration.
   */
  constructor(machine: Machine, version: PkvmVersion, caps: PkvmCaps, options: HostOptions) {
    this.machine = machine;
    this.release = release(version);
    this.version = this.release.name;
    this.caps = caps;
    this.options = options;
    this.image = options.inputs?.image ??
      layoutKernelImage(machine.memory.banks, version, options.image);
    const given = options.inputs?.memblock;
    if (given !== undefined) {
      // A real boot's memblock, read when kvm_hyp_reserve() ran: after
      // arm64_memblock_init() and the early allocations.
      this.memblockInit = undefined;
      this.memblock = {
        memory: given.memory.map((r) => ({ ...r })),
        reserved: given.reserved.map((r) => ({ ...r })),
      };
      return;
    }
    // setup_arch() → arm64_memblock_init(): memblock.memory from the banks,
    // clipped to the kernel's PA size and its linear map, with its messages.
    // The build is the release's (a 52-bit VA build runs with 48 bits on a
    // CPU without LPA2) unless VA_BITS 39 is asked for.
    const init = arm64MemblockInit({
      banks: machine.memory.banks,
      image: { base: this.image.base, end: this.image.end },
      vabitsActual: options.vaBits,
      // The release's 52-bit build falls back to 48 bits on a CPU without
      // FEAT_LPA2; 48 on an LPA2 CPU (or 39) is a build asked for.
      configVaBits: options.vaBits === 48 && this.release.config.vaBits === 52 &&
          !machine.cpu(0).model.features.lpa2
        ? 52
        : options.vaBits,
      configPaBits: this.release.config.paBits,
      lpa2: options.config.lpa2,
      kvm: true,
      hypModeAvailable: true,
      // Protected KVM runs the kernel at EL1 (nVHE or hVHE).
      kernelInHypMode: false,
    });
    this.memblockInit = init;
    for (const l of init.logs) machine.trace.emit("log", { level: l.level, message: l.message });
    const memory = init.memory;
    // The image, then an approximation of what the kernel allocated before
    // kvm_hyp_reserve() (the DTB, the linear map's page tables, the
    // unflattened device tree): see early_memblock.ts.
    const image = { base: this.image.base, size: this.image.end - this.image.base };
    const early = earlyMemblockReserved(memory).filter((r) =>
      r.base + r.size <= image.base || r.base >= image.base + image.size
    );
    this.memblock = { memory, reserved: [image, ...early].sort((a, b) => a.base - b.base) };
  }

  /**
   * Step 0: firmware hands over at EL2; head.S sets EL2 up (`init_el2_state`
   * and `finalise_el2`, {@link initEl2State}: MDCR_EL2 is read back later,
   * by `__kvm_get_mdcr_el2`; CPTR_EL2, CNTHCTL_EL2, VPIDR_EL2 and
   * VMPIDR_EL2 stay as set in nVHE), installs the hyp stub and drops to EL1.
   */
  firmware(): void {
    for (const cpu of this.machine.cpus) {
      initEl2State(this.release, cpu);
      cpu.sysregs.write("VBAR_EL2", BigInt(this.image.symbols.__hyp_stub_vectors!));
      cpu.pstate.el = 1;
      cpu.pstate.spsel = 1;
      cpu.pc = BigInt(this.image.symbols._stext!);
    }
  }

  /**
   * Step 1: `kvm_hyp_reserve()` from `bootmem_init()`.
   * @returns The reservation.
   * @throws {BootStepError} Nothing reserved.
   */
  reserve(): HypReservation {
    const init = this.memblockInit;
    if (init?.imageRemoved) {
      throw new BootStepError(
        1,
        `arm64_memblock_init: the kernel image [${hex(this.image.base)}, ${
          hex(this.image.end)
        }) lies above 1 << PHYS_MASK_SHIFT (${
          hex(2 ** init.physMaskShift)
        }), so memblock_remove() takes the RAM it runs from; hyplab stops here`,
      );
    }
    const r = this.caps.reservedMem.kvmHypReserve(this.memblock, this.machine.trace);
    this.reservation = r;
    if (!r.ok) {
      throw new BootStepError(
        1,
        `kvm_hyp_reserve: ${
          r.reason ?? "Failed to reserve hyp memory"
        } (needs ${r.pages.total} pages)`,
      );
    }
    this.pages = new HostPages(this.memblock.memory, this.memblock.reserved);
    this.#forecastPools(r);
    return r;
  }

  /**
   * The pools EL2 will init from the pool just carved, as
   * `divide_memory_pool()` will lay them out (hpool over `hyp_s1`, the host
   * stage-2 pools), each put to the page allocator's `checkPool` now, when
   * the sizes are known: a warning goes to the trace (and step 1), a refusal
   * fails step 1 rather than step 5.
   * @throws {BootStepError} The allocator refuses a pool.
   */
  #forecastPools(r: HypReservation): void {
    const pages = this.caps.pages;
    const pool = { base: r.base, size: r.size };
    // divide_memory_pool carves the terms in order; the vmemmap term follows
    // the allocator's sizeof(struct hyp_page), as at EL2.
    const vmemmap = vmemmapPagesFor(
      this.release.setup.backVmemmap,
      pages.metadataBytesPerPage,
      r.regions,
      pool,
    );
    const at = new Map<string, { pfn: number; nrPages: number }>();
    this.earlyWarnings = [];
    let offset = 0;
    for (const t of this.caps.reservedMem.poolLayout(r.regions, pool)) {
      const n = t.name === "vmemmap" ? vmemmap : t.pages;
      at.set(t.name, { pfn: r.base / PAGE + offset, nrPages: n });
      offset += n;
      // hyp_early_alloc_contig() for each term: its own 32-bit shift.
      const early = n > 0 ? this.caps.early.checkContig?.(n, t.name) : undefined;
      if (early !== undefined) {
        this.earlyWarnings.push(early);
        this.machine.trace.emit("log", { level: "warn", message: early });
      }
    }
    const names = this.release.reserve.hostS2 === "split"
      ? [["hpool", "hyp_s1"], ["host_s2_mem", "host_s2_mem"], ["host_s2_dev", "host_s2_dev"]]
      : [["hpool", "hyp_s1"], ["host_s2", "host_s2"]];
    this.poolForecast = [];
    for (const [name, term] of names) {
      const t = at.get(term!);
      if (t === undefined) continue;
      const verdict = pages.checkPool?.({ name: name!, ...t, reservedPages: 0 });
      this.poolForecast.push(
        verdict === undefined ? { name: name!, ...t } : { name: name!, ...t, verdict },
      );
      if (verdict?.warn !== undefined) {
        this.machine.trace.emit("log", { level: "warn", message: verdict.warn });
      }
    }
    const refused = this.poolForecast.find((p) => p.verdict?.refuse !== undefined);
    if (refused !== undefined) {
      throw new BootStepError(
        1,
        `${pages.name}: ${refused.verdict!.refuse!}${
          refused.verdict!.warn === undefined ? "" : ` (${refused.verdict!.warn})`
        }`,
      );
    }
  }

  /**
   * Step 2: `init_hyp_mode()` up to and including `__kvm_hyp_init` on the
   * boot CPU (`kvm_hyp_init_protection` → `do_pkvm_init` →
   * `hyp_install_host_vector`).
   * @throws {BootStepError} Anything the kernel would fail on.
   */
  initHypMode(): void {
    const r = this.reservation;
    if (r === undefined || r.base === 0) {
      throw new BootStepError(2, "init_hyp_mode: protected mode without hyp_mem_base (-ENOMEM)");
    }
    const img = this.image;
    let layout: HypVaLayout;
    try {
      layout = computeHypVaLayout(
        this.memblock.memory,
        this.options.vaBits,
        { start: img.symbols.__hyp_idmap_text_start!, end: img.symbols.__hyp_idmap_text_end! },
        this.version,
        {
          random: this.options.inputs?.hypVaRandom ?? this.#randomLong(),
          ...(this.memblockInit === undefined
            ? {}
            : { physOffset: this.memblockInit.linearMapBase }),
        },
      );
    } catch (e) {
      throw new BootStepError(2, `kvm_mmu_init: ${(e as Error).message}`);
    }
    this.layout = layout;
    this.hypVaBits = layout.hypVaBits;
    // kvm_mmu_init(): the idmap must not sit inside the hyp linear map.
    const mem = this.memblock.memory;
    const lo = layout.hypVa(mem[0]!.base);
    const last = mem[mem.length - 1]!;
    const hi = layout.hypVa(last.base + last.size - 1);
    if (layout.idmapStart >= lo && layout.idmapStart < hi) {
      throw new BootStepError(
        2,
        "kvm_mmu_init: IDMAP intersecting with HYP VA, unable to continue (-EINVAL)",
      );
    }
    const hyp = new Hyp({
      machine: this.machine,
      version: this.version,
      caps: this.caps,
      image: img,
      layout,
      hypMemory: r.regions,
      config: this.options.config,
    });
    this.hyp = hyp;
    // 7.x: the host writes hyp_nr_cpus before __pkvm_init (no nr_cpus argument).
    if (!this.release.setup.initTakesNrCpus) hyp.nrCpus = this.machine.cpus.length;
    installVectors(hyp, this.#note);

    const pgt = this.caps.pgtable.hypInit({
      iaBits: this.hypVaBits,
      mmOps: this.#hostMmOps(),
      memory: this.machine.memory,
      name: "hyp_pgtable",
      trace: this.machine.trace,
      hvhe: this.options.config.hvhe,
      lpa2: this.options.config.lpa2,
    });
    if (typeof pgt === "number") {
      throw new BootStepError(2, `kvm_pgtable_hyp_init: ${errnoName(pgt)} (no page for the pgd)`);
    }
    this.hostPgt = pgt;
    this.hostPgd = pgt.pgd;
    this.#mapRaw(
      layout.idmapStart,
      layout.idmapEnd - layout.idmapStart,
      layout.idmapStart,
      PAGE_HYP_EXEC,
      "idmap",
    );
    this.ioMapBase = layout.idmapStart;

    const nr = this.machine.cpus.length;
    const given = this.options.inputs;
    for (let cpu = 0; cpu < nr; cpu++) {
      const p = given?.stackPages?.[cpu] ?? this.pages!.allocPages(0);
      if (p === null) throw new BootStepError(2, "init_hyp_mode: no stack page (-ENOMEM)");
      this.stackPages.push(p);
    }
    const order = getOrder(img.percpuSize);
    for (let cpu = 0; cpu < nr; cpu++) {
      const p = given?.percpuBase?.[cpu] ?? this.pages!.allocPages(order);
      if (p === null) throw new BootStepError(2, "init_hyp_mode: no per-CPU pages (-ENOMEM)");
      this.machine.memory.copy(p, img.symbols.__per_cpu_start!, img.percpuSize);
      this.machine.memory.write64(img.symbols.kvm_arm_hyp_percpu_base! + 8 * cpu, layout.kernVa(p));
      this.percpuBase.push(p);
    }
    // init_hyp_mode(): the kernel sections the host-built table maps, in the
    // release's order and protections.
    const s = img.symbols;
    for (const sec of this.release.host.hostSections) {
      const [from, to, prot, what] = HOST_SECTIONS[sec];
      this.#createHypMappings(s[from]!, s[to]!, prot, what);
    }
    const stackVa: number[] = [];
    for (let cpu = 0; cpu < nr; cpu++) {
      const page = this.stackPages[cpu]!;
      if (this.release.setup.stack === "linear") {
        this.#createHypMappings(page, page + PAGE, PAGE_HYP, `stack cpu${cpu}`);
        stackVa.push(layout.hypVa(page) + PAGE);
      } else {
        // hyp_alloc_private_va_range(2 pages), aligned to its size, growing down.
        const base = Math.floor((this.ioMapBase - 2 * PAGE) / (2 * PAGE)) * (2 * PAGE);
        this.ioMapBase = base;
        this.#mapRaw(base + PAGE, PAGE, page, PAGE_HYP, `stack cpu${cpu}`);
        stackVa.push(base + 2 * PAGE);
      }
    }
    for (let cpu = 0; cpu < nr; cpu++) {
      const base = this.percpuBase[cpu]!;
      this.#createHypMappings(base, base + img.percpuSize, PAGE_HYP, `percpu cpu${cpu}`);
      this.#prepareParams(cpu, stackVa[cpu]!);
    }
    this.#initPkvmHostSveState();
    // kvm_hyp_init_protection(): the pool, PAGE_HYP, in the EL1-built table.
    // do_pkvm_init() comes next: the release's host boot (host_boot.ts).
    this.#createHypMappings(r.base, r.base + r.size, PAGE_HYP, "pool");
    this.hostPgtPages = pgt.tablePages();
  }

  /**
   * The PA of a CPU's `kvm_nvhe_init_params`, which `__kvm_hyp_init` gets
   * in x1 (`virt_to_phys(this_cpu_ptr_nvhe_sym(kvm_init_params))`).
   * @param cpuId The CPU.
   * @returns The PA.
   */
  initParamsPa(cpuId: number): number {
    return this.percpuBase[cpuId]! + this.image.percpuOffsets.kvm_init_params!;
  }

  /**
   * A hyp-stub call (arch/arm64/kernel/hyp-stub.S): `hvc #0` with x0 = the
   * release's `HVC_*` number and the arguments in x1...
   * @param cpuId Issuing CPU.
   * @param hvc The asm/virt.h name (`HVC_SET_VECTORS`, `HVC_RESET_VECTORS`, ...).
   * @param args Arguments.
   * @param label The record's name (the wrapper, e.g. `__hyp_set_vectors`) and caller.
   * @returns The record.
   * @throws {RangeError} For a stub call the release does not have.
   */
  stubCall(
    cpuId: number,
    hvc: string,
    args: readonly bigint[],
    label: { name: string; caller?: string },
  ): HypercallRecord {
    const nr = this.release.hypercalls.stubs[hvc];
    if (nr === undefined) {
      throw new RangeError(
        `Cannot issue ${hvc}: not a ${this.version} hyp-stub call (known: ${
          Object.keys(this.release.hypercalls.stubs).join(", ")
        })`,
      );
    }
    return this.#hvc(this.machine.cpu(cpuId), BigInt(nr), args, label.name, label.caller);
  }

  /**
   * `init_pkvm_host_sve_state()` (6.12+, protected mode, an SVE CPU): one
   * `alloc_pages(pkvm_host_sve_state_order())` per CPU, its linear VA stored
   * in that CPU's `kvm_host_data` (the field the release names), not mapped
   * at EL2 by the host (the hypervisor maps it in `recreate_hyp_mappings()`).
   */
  #initPkvmHostSveState(): void {
    const sve = this.release.host.sveState;
    const size = pkvmHostSveStateSize(this.release, this.machine.cpu(0).model);
    if (sve === null || size === 0) return;
    const hostData = this.image.percpuOffsets.kvm_host_data;
    if (hostData === undefined) {
      throw new BootStepError(2, "init_pkvm_host_sve_state: the image has no kvm_host_data");
    }
    const given = this.options.inputs?.sveState;
    const order = getOrder(size);
    for (let cpu = 0; cpu < this.machine.cpus.length; cpu++) {
      const p = given?.[cpu] ?? this.pages!.allocPages(order);
      if (p === null) throw new BootStepError(2, "init_pkvm_host_sve_state: -ENOMEM");
      this.sveState.push(p);
      this.machine.memory.write64(
        this.percpuBase[cpu]! + hostData + sve.field,
        this.layout!.kernVa(p),
      );
    }
  }

  /**
   * `finalize_init_hyp_mode()` after `__pkvm_init` (6.12+): each CPU's
   * `kvm_host_data` SVE pointer becomes its `kern_hyp_va()`.
   */
  finalizeInitHypMode(): void {
    const sve = this.release.host.sveState;
    const hostData = this.image.percpuOffsets.kvm_host_data;
    if (sve === null || hostData === undefined || this.sveState.length === 0) return;
    const layout = this.layout!;
    for (let cpu = 0; cpu < this.sveState.length; cpu++) {
      const at = this.percpuBase[cpu]! + hostData + sve.field;
      this.machine.memory.write64(at, BigInt(layout.kernHypVa(this.machine.memory.read64(at))));
    }
  }

  /**
   * The `__pkvm_init` arguments `do_pkvm_init` passes.
   * @returns x1..x5.
   */
  pkvmInitArgs(): bigint[] {
    const r = this.reservation!;
    const perCpu = BigInt(this.layout!.hypVa(this.image.symbols.kvm_arm_hyp_percpu_base!));
    // 7.x: do_pkvm_init() sets kvm_nvhe_sym(hyp_nr_cpus) itself and passes
    // (phys, size, per_cpu_base, hyp_va_bits).
    if (!this.release.setup.initTakesNrCpus) {
      return [BigInt(r.base), BigInt(r.size), perCpu, BigInt(this.hypVaBits)];
    }
    return [
      BigInt(r.base),
      BigInt(r.size),
      BigInt(this.machine.cpus.length),
      perCpu,
      BigInt(this.hypVaBits),
    ];
  }

  /** Step 6: `free_hyp_pgds()`: the EL1-built table goes back to the host. */
  freeHypPgds(): void {
    if (this.hostPgt === undefined || this.hostPgtFreed) return;
    this.hostPgtPages = this.hostPgt.tablePages();
    this.hostPgt.destroy();
    this.hostPgtFreed = true;
  }

  /**
   * A hypercall as `kvm_call_hyp_nvhe` issues it: `hvc #0` with x0 =
   * `0xC6000000 | id` and the arguments in x1..x5.
   * @param nameOrId Kernel name or id.
   * @param args Arguments.
   * @param cpuId Issuing CPU.
   * @param caller The kernel function issuing it, recorded with the call.
   * @returns The record.
   */
  hypercall(
    nameOrId: string | number,
    args: readonly (bigint | number)[],
    cpuId = 0,
    caller?: string,
  ): HypercallRecord {
    const ids = hypercallIds(this.version);
    let id: number;
    if (typeof nameOrId === "number") id = nameOrId;
    else {
      const v = ids[nameOrId];
      if (v === undefined) {
        throw new RangeError(
          `Cannot issue ${nameOrId}: not a ${this.version} hypercall (known: ${
            Object.keys(ids).join(", ")
          })`,
        );
      }
      id = v;
    }
    if (!Number.isInteger(id) || id < 0 || id > 0xffff) {
      throw new RangeError(`Cannot issue hypercall id ${id}: the function number is 0..0xffff`);
    }
    if (args.length > 5) {
      throw new RangeError(`Cannot pass ${args.length} arguments: x1..x5 hold five`);
    }
    const cpu = this.machine.cpu(cpuId);
    return this.#hvc(
      cpu,
      smcccFunctionId(id),
      args.map((a) => asU64(a)),
      hypercallName(this.version, id) ?? "unknown",
      caller,
    );
  }

  #hvc(
    cpu: Cpu,
    x0: bigint,
    args: readonly bigint[],
    name: string,
    caller?: string,
  ): HypercallRecord {
    if (cpu.pstate.el !== 1) {
      throw new RangeError(
        `Cannot issue ${name} from CPU ${cpu.id}: it is at EL${cpu.pstate.el}, not EL1`,
      );
    }
    cpu.setX(0, x0);
    for (let i = 0; i < 5; i++) cpu.setX(i + 1, args[i] ?? 0n);
    cpu.pc = BigInt(this.image.symbols._stext! + 0x2000);
    delete this.#note.note;
    const trace = this.machine.trace;
    const prevCpu = trace.cpu;
    trace.cpu = cpu.id;
    try {
      hvc(cpu, 0, this.machine.vectors, trace);
    } finally {
      trace.cpu = prevCpu;
    }
    const r0 = cpu.x(0);
    const r1 = cpu.x(1);
    const isHost = x0 >= BigInt(KVM_HOST_SMCCC_BASE);
    const id = isHost ? Number(x0 - BigInt(KVM_HOST_SMCCC_BASE)) : Number(x0);
    const rec: HypercallRecord = {
      name,
      id,
      kind: isHost ? "hvc" : "stub",
      cpu: cpu.id,
      args: args.map((a) => hex(a)),
      x0: hex(r0),
      x1: hex(r1),
      result: describeResult(r0, r1, name),
    };
    if (caller !== undefined) rec.caller = caller;
    if (this.#note.note !== undefined) rec.note = this.#note.note;
    this.records.push(rec);
    trace.emit("hypercall", { name, id, kind: rec.kind, x0: rec.x0, x1: rec.x1, args: rec.args }, {
      cpu: cpu.id,
      el: 1,
    });
    return rec;
  }

  #hostMmOps(): PgtableMmOps {
    const mem = this.machine.memory;
    return {
      zallocPage: () => {
        const p = this.pages!.allocPages(0);
        if (p === null) return null;
        mem.zero(p, PAGE);
        this.#refs.set(Math.floor(p / 4096), 1);
        return p;
      },
      getPage: (va) => {
        const pfn = Math.floor(va / 4096);
        this.#refs.set(pfn, (this.#refs.get(pfn) ?? 0) + 1);
      },
      // The table walkers' batched get_page: a run's references at once.
      getPages: (va, n) => {
        const pfn = Math.floor(va / 4096);
        this.#refs.set(pfn, (this.#refs.get(pfn) ?? 0) + n);
        return n;
      },
      putPage: (va) => {
        const pfn = Math.floor(va / 4096);
        const n = (this.#refs.get(pfn) ?? 1) - 1;
        if (n <= 0) {
          this.#refs.delete(pfn);
          this.pages!.freePages(pfn * PAGE);
        } else this.#refs.set(pfn, n);
      },
      pageCount: (va) => this.#refs.get(Math.floor(va / 4096)) ?? 0,
      physToVirt: (pa) => pa,
      virtToPhys: (va) => va,
    };
  }

  /** `__create_hyp_mappings(start, size, phys, prot)`. */
  #mapRaw(va: number, size: number, pa: number, prot: number, what: string): void {
    const err = this.hostPgt!.map(va, size, pa, prot);
    if (err !== 0) {
      throw new BootStepError(
        2,
        `__create_hyp_mappings(${hex(va)}, ${hex(size)}) for ${what}: ${errnoName(err)}`,
      );
    }
    this.hostExpected.push({ va, pa, size, prot, what, step: 2 });
  }

  /** `create_hyp_mappings(from, to, prot)` over a PA range, one page at a time. */
  #createHypMappings(from: number, to: number, prot: number, what: string): void {
    const start = Math.floor(from / PAGE) * PAGE;
    const end = Math.ceil(to / PAGE) * PAGE;
    const layout = this.layout!;
    // The hyp VA of each page (kern_hyp_va() of its linear-map address) is
    // one offset from the first: found once (the sums are exact integers
    // below 2^53, equal to what the layout computes per page).
    const va0 = layout.hypVa(start);
    const pgt = this.hostPgt!;
    // One kvm_pgtable_hyp_map call per page, as the whole loop where the
    // table offers it (mapPages: the same effect, walked once).
    const { mapped, err } = pgt.mapPages !== undefined
      ? pgt.mapPages(va0, (end - start) / PAGE, start, prot)
      : mapEach(pgt, va0, (end - start) / PAGE, start, prot);
    if (err !== 0) {
      throw new BootStepError(
        2,
        `create_hyp_mappings for ${what} at ${hex(start + mapped * PAGE)}: ${errnoName(err)}`,
      );
    }
    this.hostExpected.push({
      va: va0,
      pa: start,
      size: end - start,
      prot,
      what,
      step: 2,
    });
  }

  /**
   * `get_random_long()` for `kvm_compute_layout()`'s tag: drawn from the
   * machine's seeded PRNG (so `--seed` picks the tag), as the kernel draws it
   * from its RNG even under `nokaslr`.
   */
  #randomLong(): bigint {
    const p = this.machine.prng;
    return (BigInt(p.nextU32()) << 32n) | BigInt(p.nextU32());
  }

  /** `cpu_prepare_hyp_mode(cpu)`: the CPU's `kvm_nvhe_init_params`. */
  #prepareParams(cpu: number, stackVa: number): void {
    const mem = this.machine.memory;
    const params = this.percpuBase[cpu]! + this.image.percpuOffsets.kvm_init_params!;
    const put = (f: InitParamsField, v: bigint) => {
      const off = initParamsOffset(this.version, f);
      if (off !== undefined) mem.write64(params + off, v);
    };
    // tpidr_el2: the raw per-CPU offset from the template's linear alias.
    put("tpidr_el2", asU64(this.percpuBase[cpu]! - this.image.symbols.__per_cpu_start!));
    // The host's MAIR_EL1 (proc.S MAIR_EL1_SET, as __cpu_setup leaves it).
    put("mair_el2", this.release.sysregs.mair);
    const model = this.machine.cpu(cpu).model;
    const { hvhe, lpa2 } = this.options.config;
    put(
      "tcr_el2",
      hvhe
        ? hostTcrEl2Hvhe(this.release, model, this.options.vaBits, this.hypVaBits)
        : hostTcrEl2(this.release, model, this.hypVaBits, lpa2),
    );
    put("stack_hyp_va", BigInt(stackVa));
    put("stack_pa", BigInt(this.stackPages[cpu]!));
    put("pgd_pa", BigInt(this.hostPgt!.pgd));
    put("hcr_el2", hostHcrEl2(this.release, model, hvhe));
    put("vttbr", 0n);
    put("vtcr", 0n);
  }
}

/** A kernel section the host-built table maps: its symbols, prot and label. */
const HOST_SECTIONS: Record<
  KernelRelease["host"]["hostSections"][number],
  [string, string, number, string]
> = {
  hyp_text: ["__hyp_text_start", "__hyp_text_end", PAGE_HYP_EXEC, "__hyp_text"],
  hyp_data: ["__hyp_data_start", "__hyp_data_end", PAGE_HYP, "__hyp_data"],
  hyp_rodata: ["__hyp_rodata_start", "__hyp_rodata_end", PAGE_HYP_RO, "__hyp_rodata"],
  kernel_rodata: ["__start_rodata", "__end_rodata", PAGE_HYP_RO, ".rodata"],
  hyp_bss: ["__hyp_bss_start", "__hyp_bss_end", PAGE_HYP, "__hyp_bss"],
  bss_tail: ["__hyp_bss_end", "__bss_stop", PAGE_HYP_RO, ".bss"],
};

/**
 * The host's reading of x0/x1: NOT_SUPPORTED, an errno, an address or 0.
 *
 * @param x0 x0 on return.
 * @param x1 x1 on return.
 * @param name Hypercall name.
 * @returns Text.
 */
export function describeResult(x0: bigint, x1: bigint, name: string): string {
  if (x0 === SMCCC_RET_NOT_SUPPORTED) return "NOT_SUPPORTED";
  if (x0 !== 0n) return `x0 = ${hex(x0)}`;
  // SMCCC_RET_SUCCESS, or a stub call's 0: nothing in x1.
  if (name === "__kvm_hyp_init" || name === "__hyp_set_vectors" || name === "__hyp_reset_vectors") {
    return "0";
  }
  const s = asSigned(x1);
  if (s < 0n && s >= -4095n) return errnoName(Number(s));
  if (name === "__pkvm_create_private_mapping") return hex(x1);
  return s === 0n ? "0" : hex(x1);
}
