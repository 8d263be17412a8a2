/**
 * The hypervisor's globals (`pkvm_pgtable`, `hpool`, `__io_map_base`,
 * `hyp_nr_cpus`, the pool bases of `divide_memory_pool`, ...) and the
 * environment the EL2 code runs in (capabilities, image, VA layout).
 *
 * @module
 */

import {
  type A64Executor,
  type A64RunResult,
  type Cpu,
  type EarlyAllocator,
  type EarlyAllocatorFactory,
  type El2Memory,
  HyplabError,
  type KvmPgtable,
  type KvmPgtableFactory,
  type KvmStage2Pgtable,
  type Machine,
  type MemblockRegion,
  MemoryFaultError,
  type Mmu,
  type PageAllocator,
  type PagePool,
  type PhysicalMemory,
  type PkvmVersion,
  type PoolTerm,
  type ReservedMem,
  type SwitchSequence,
  type Tlb,
  type Trace,
} from "../../core/mod.ts";
import { type KernelRelease, release } from "../releases/mod.ts";
import type { HypVaLayout } from "./hyp_va_layout.ts";
import type { KernelImage } from "./kernel_image.ts";

/** The capabilities the boot is built from. */
export interface PkvmCaps {
  /** `kvm_hyp_reserve` and the pool terms. */
  reservedMem: ReservedMem;
  /** `hyp_early_alloc_*`. */
  early: EarlyAllocatorFactory;
  /** The hyp page allocator (`hyp_pool`). */
  pages: PageAllocator;
  /** `kvm_pgtable_hyp_*`. */
  pgtable: KvmPgtableFactory;
  /** EL2 stage-1 translation. */
  mmu: Mmu;
  /** The TLB. */
  tlb: Tlb;
  /** Runs the switch sequence. */
  a64: A64Executor;
  /** `__pkvm_init_switch_pgd`. */
  switchSeq: SwitchSequence;
}

/** Options that change the simulated kernel's configuration. */
export interface HypConfig {
  /** `ARM64_SPECTRE_V3A`: the vectors get an EXEC private mapping. */
  spectreV3a: boolean;
  /**
   * `ARM64_KVM_HVHE`: the hypervisor runs in the EL2&0 regime (HCR_EL2.E2H
   * = 1, TGE = 0), with TCR_EL2 in TCR_EL1's layout and the EL2&0
   * descriptor attributes.
   */
  hvhe: boolean;
  /** `kvm_lpa2_is_enabled()`: LPA2 descriptors in the hyp stage-1 and the host stage-2. */
  lpa2: boolean;
  /**
   * Refuse, with an errno and no state change, hypercalls whose effect the
   * kernel leaves undefined (a second `__pkvm_init`, `nr_cpus` outside the
   * machine, a pool that is not RAM, `__pkvm_prot_finalize` before
   * `__pkvm_init`). Default true.
   */
  guards: boolean;
}

/** A mapping `recreate_hyp_mappings` (or a later hypercall) asked for. */
export interface ExpectedMapping {
  /** First VA (page aligned). */
  va: number;
  /** First PA. */
  pa: number;
  /** Bytes (page multiple). */
  size: number;
  /** Kernel prot. */
  prot: number;
  /** Label (`idmap`, `__hyp_text`, `pool`, `vmemmap`, `percpu cpu0`, ...). */
  what: string;
  /** Boot step (3 = recreate, 4 = vmemmap, 7 = after boot). */
  step: number;
  /** Made page by page (`pkvm_create_mappings`): every leaf must be level 3. */
  pages?: boolean;
}

/**
 * An {@link El2Memory} whose `isZero` (an invariant-checking aid, not an
 * EL2 access) skips pages that were never written (sparse memory reads them
 * as zero), finding each page's PA with a debug translation, or directly in
 * the pool's linear map (whose mappings the verification checks on its
 * own); everything else is delegated, except the optional bulk `readBytes`,
 * left out so zero checks take this path.
 *
 * @param inner The MMU's accessor.
 * @param mmu The MMU.
 * @param cpu The CPU.
 * @param memory Physical memory.
 * @param linear PA of a VA in the pool's linear map, or undefined elsewhere.
 * @returns The accessor.
 */
export function fastZeroCheck(
  inner: El2Memory,
  mmu: Mmu,
  cpu: Cpu,
  memory: PhysicalMemory,
  linear?: (va: number) => number | undefined,
): El2Memory {
  const out: El2Memory = {
    read8: (va) => inner.read8(va),
    read16: (va) => inner.read16(va),
    read32: (va) => inner.read32(va),
    read64: (va) => inner.read64(va),
    write8: (va, v) => inner.write8(va, v),
    write16: (va, v) => inner.write16(va, v),
    write32: (va, v) => inner.write32(va, v),
    write64: (va, v) => inner.write64(va, v),
    zero: (va, size) => inner.zero(va, size),
    isZero: (va, size) => {
      let cur = va;
      const end = va + size;
      while (cur < end) {
        const n = Math.min(end - cur, 4096 - (cur % 4096));
        let pa = linear?.(cur);
        if (pa !== undefined && n < end - cur && linear!(end - 1) === pa + (end - 1 - cur)) {
          // The rest lies in the pool's linear map (one interval, so both
          // ends in it put all of it there): only its backed pages are read.
          const paEnd = pa + (end - cur);
          for (let b = memory.firstBacked(pa, paEnd - pa); b >= 0;) {
            const k = Math.min(paEnd - b, 4096 - (b - Math.floor(b / 4096) * 4096));
            if (!zeroIn(memory, b, k)) return false;
            b = b + k < paEnd ? memory.firstBacked(b + k, paEnd - b - k) : -1;
          }
          return true;
        }
        if (pa === undefined) {
          const t = mmu.translate(cpu, cur, "read", { debug: true });
          if (t.kind === "fault") throw new MemoryFaultError(cur, t.message, t);
          pa = t.pa;
        }
        if (memory.isBacked(pa) && !zeroIn(memory, pa, n)) return false;
        cur += n;
      }
      return true;
    },
  };
  // No readBytes: bulk reads copy whole free blocks, where isZero above skips
  // the pages never written (most of the pool).
  if (inner.writeBytes) {
    const wb = inner.writeBytes.bind(inner);
    out.writeBytes = (va, bytes) => wb(va, bytes);
  }
  return out;
}

/** Whether `[pa, pa + n)`, within one backed page, reads as zero. */
function zeroIn(memory: PhysicalMemory, pa: number, n: number): boolean {
  // Word-aligned runs are read in place (the page's live words, no copy);
  // anything else, or a big-endian host, through a copy.
  const off = pa - Math.floor(pa / 4096) * 4096;
  const w = (off | n) % 4 === 0 ? memory.tableWords(pa) : undefined;
  if (w !== undefined) {
    for (let i = off / 4, e = (off + n) / 4; i < e; i++) if (w[i] !== 0) return false;
  } else {
    const b = memory.readBytes(pa, n);
    for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  }
  return true;
}

/** The EL2 hit a hyp_panic(): the host would panic too. */
export class HypPanicError extends HyplabError {
  /** Where (kernel function). */
  readonly where: string;
  /**
   * Creates the error.
   * @param where Kernel function that panicked.
   * @param reason What happened.
   * @param options Cause.
   */
  constructor(where: string, reason: string, options?: ErrorOptions) {
    super(`hyp_panic in ${where}: ${reason}`, options);
    this.name = "HypPanicError";
    this.where = where;
  }
}

/**
 * Mainline `struct hyp_fixmap_slot` (nvhe/mm.c): a private VA whose PTE the
 * hyp rewrites by hand (`hyp_fixmap_map`), invalid when unused.
 */
export interface FixmapSlot {
  /** The slot's VA. */
  addr: number;
  /** PA of its PTE (the kernel keeps the PTE's hyp VA). */
  ptep: number;
  /** Level of the PTE: 3 for a per-CPU fixmap page, 2 for the fixblock. */
  level: number;
}

/** The hypervisor: environment and globals. */
export class Hyp {
  /** The machine. */
  readonly machine: Machine;
  /** Kernel release name. */
  readonly version: PkvmVersion;
  /** The release's facts. */
  readonly release: KernelRelease;
  /** Capabilities. */
  readonly caps: PkvmCaps;
  /** The kernel image. */
  readonly image: KernelImage;
  /** VA layout (`hyp_physvirt_offset` etc. are set by the host before `__pkvm_init`). */
  readonly layout: HypVaLayout;
  /** `hyp_memory[]`, copied by the host. */
  readonly hypMemory: readonly MemblockRegion[];
  /** Configuration. */
  readonly config: HypConfig;
  /** Trace. */
  readonly trace: Trace;

  /** `pkvm_pgtable`. */
  pgt: KvmPgtable | undefined;
  /** The early allocator of `divide_memory_pool` (over the whole pool). */
  poolEarly: EarlyAllocator | undefined;
  /** The early allocator of `recreate_hyp_mappings` (over `hyp_pgt_base`). */
  pgtEarly: EarlyAllocator | undefined;
  /**
   * The table pages of `pkvm_pgtable` (PAs, read from the table in memory)
   * when `__pkvm_init_finalise` hands its mm_ops to `hpool`: the pages the
   * early allocator gave out, which `hyp_pool_init` must keep reserved.
   */
  handoverTablePages: number[] | undefined;
  /** Pool terms in carving order, with their hyp VA bases. */
  terms: (PoolTerm & { va: number })[] = [];
  /** The pool's linear range `[va, va + size)` (set by `divide_memory_pool`). */
  poolRange: { va: number; size: number } | undefined;
  /** `hpool` and the host stage-2 pools. */
  pools: Map<string, PagePool> = new Map();
  /** `__io_map_base`. */
  ioMapBase = 0;
  /** `__hyp_vmemmap`. */
  hypVmemmap = 0;
  /** `hyp_va_bits` as passed. */
  hypVaBits = 0;
  /** `hyp_nr_cpus`. */
  nrCpus = 0;
  /** `__hyp_bp_vect_base`. */
  bpVectBase: number | undefined;
  /** Mainline per-CPU `fixmap_slots`, by CPU index (`hyp_create_fixmap`). */
  fixmapSlots: FixmapSlot[] = [];
  /** Mainline `hyp_fixblock_slot` (`create_fixblock`). */
  fixblockSlot: FixmapSlot | undefined;
  /** Mainline `vm_table` (`pkvm_hyp_vm_table_init`): hyp VA of the table page. */
  vmTable: number | undefined;
  /** What the mappings should be. */
  expected: ExpectedMapping[] = [];
  /** Boot step whose mappings are being recorded. */
  step = 3;
  /** A `__pkvm_init` reached `__pkvm_init_finalise` and returned 0. */
  initialised = false;
  /** `__pkvm_init` calls that got past the alignment check. */
  initCalls = 0;
  /** Which mm_ops `pkvm_pgtable` uses. */
  mmOpsKind: "early" | "buddy" | "none" = "none";
  /** The switch sequence's run. */
  switchRun: A64RunResult | undefined;
  /** Mainline `kvm_protected_mode_initialized`. */
  protectedModeInitialized = false;
  /** CPUs that ran `__pkvm_prot_finalize`. */
  protFinalized: Set<number> = new Set();
  /** Ranges `__pkvm_mark_hyp` gave to the hyp (host stage-2 ownership, recorded only). */
  markedHyp: MemblockRegion[] = [];
  /**
   * The host stage-2 pgd (PA), its size in pages and VTCR
   * (`host_kvm.arch.vtcr` / `host_mmu.arch.mmu.vtcr`), once
   * `kvm_host_prepare_stage2` ran.
   */
  hostStage2: { pgd: number; pgdPages: number; vtcr: bigint } | undefined;
  /**
   * The host stage-2 table over that pgd (`host_mmu.pgt`), when the
   * kvm_pgtable variant models stage 2: the ownership annotations the
   * finalisation writes.
   */
  hostS2Pgt: KvmStage2Pgtable | undefined;
  /** Where `__pkvm_init` is (for the report's step of a failure). */
  phase: "idle" | "divide" | "recreate" | "vmemmap" | "params" | "switch" | "finalise" | "done" =
    "idle";
  /** Set after a hyp_panic: the machine is dead. */
  panic: HypPanicError | undefined;
  #mem = new Map<number, El2Memory>();
  /**
   * `hyp_physvirt_offset` as a double when that is exact (always: it is
   * below 2^52 in magnitude), so {@link Hyp.va} and {@link Hyp.pa}, called
   * per page and per table entry, subtract and add without building a
   * BigInt. The results equal the layout's: both round the same exact sum.
   */
  readonly #physvirt: number | undefined;

  /**
   * Creates the hypervisor state.
   * @param init Environment.
   */
  constructor(init: {
    machine: Machine;
    version: PkvmVersion;
    caps: PkvmCaps;
    image: KernelImage;
    layout: HypVaLayout;
    hypMemory: readonly MemblockRegion[];
    config: HypConfig;
  }) {
    this.machine = init.machine;
    this.release = release(init.version);
    this.version = this.release.name;
    this.caps = init.caps;
    this.image = init.image;
    this.layout = init.layout;
    this.hypMemory = init.hypMemory;
    this.config = init.config;
    this.trace = init.machine.trace;
    const off = Number(init.layout.hypPhysvirtOffset);
    this.#physvirt = Number.isSafeInteger(off) && BigInt(off) === init.layout.hypPhysvirtOffset
      ? off
      : undefined;
  }

  /**
   * EL2 loads and stores on a CPU, through its MMU and TLB as configured now.
   * @param cpu The CPU.
   * @returns The accessor.
   */
  mem(cpu: Cpu): El2Memory {
    let m = this.#mem.get(cpu.id);
    if (m === undefined) {
      m = fastZeroCheck(
        this.caps.mmu.el2Memory(cpu),
        this.caps.mmu,
        cpu,
        this.machine.memory,
        (va) => {
          const p = this.poolRange;
          return p !== undefined && va >= p.va && va < p.va + p.size ? this.pa(va) : undefined;
        },
      );
      this.#mem.set(cpu.id, m);
    }
    return m;
  }

  /**
   * `hyp_phys_to_virt`.
   * @param pa PA.
   * @returns Hyp VA.
   */
  va(pa: number): number {
    // hyp_phys_to_virt(): (void *)(phys - hyp_physvirt_offset) (nvhe/memory.h).
    const off = this.#physvirt;
    return off === undefined ? this.layout.hypVa(pa) : pa - off;
  }

  /**
   * `hyp_virt_to_phys`.
   * @param va Hyp VA.
   * @returns PA.
   */
  pa(va: number): number {
    // hyp_virt_to_phys(): (phys_addr_t)virt + hyp_physvirt_offset (nvhe/memory.h).
    const off = this.#physvirt;
    return off === undefined ? this.layout.hypPa(va) : va + off;
  }

  /**
   * Hyp VA of an image symbol (the hyp linear alias of its PA).
   * @param name Symbol.
   * @returns Hyp VA.
   */
  sym(name: string): number {
    const pa = this.image.symbols[name];
    if (pa === undefined) throw new RangeError(`Cannot find symbol ${name} in the kernel image`);
    return this.va(pa);
  }

  /**
   * The term's hyp VA base (`hyp_pgt_base`, `vmemmap_base`, ...).
   * @param name Term name.
   * @returns The term.
   */
  term(name: string): PoolTerm & { va: number } {
    const t = this.terms.find((x) => x.name === name);
    if (t === undefined) throw new RangeError(`Cannot find pool term ${name}`);
    return t;
  }

  /** The last error-level message logged (why an errno came back), if any. */
  lastError: string | undefined;

  /** Logs a kernel message. */
  log(level: "info" | "warn" | "error", message: string): void {
    if (level === "error") this.lastError = message;
    this.trace.emit("log", { level, message });
  }
}
