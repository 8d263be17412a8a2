/**
 * EL2 setup (`arch/arm64/kvm/hyp/nvhe/setup.c`): `__pkvm_init`,
 * `divide_memory_pool`, `recreate_hyp_mappings`, `update_nvhe_init_params`
 * and `__pkvm_init_finalise`.
 *
 * @module
 */

import {
  type Cpu,
  ERRNO,
  type HalvesWalker,
  hex,
  MemoryFaultError,
  PAGE_HYP,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  type PagePool,
  type PgtableMmOps,
  WALK,
  type WalkVisitHalves,
} from "../../core/mod.ts";
import {
  hypBackVmemmap,
  hypCreateFixmap,
  hypCreateIdmap,
  hypMapVectors,
  hypVmemmapPages,
  pkvmCreateMappings,
  pkvmCreateStack,
} from "./hyp_mm.ts";
import type { FinaliseStep, RecreateStep } from "../releases/mod.ts";
import { type Hyp, HypPanicError } from "./hyp_state.ts";
import { initParamsOffset } from "./init_params.ts";
import { runSwitchSequence } from "./hyp_switch.ts";
import { pkvmHostSveStateSize } from "./host_regs.ts";

const PAGE = 4096;

/** What `__pkvm_init` does with its arguments. */
export interface PkvmInitArgs {
  /** `hyp_mem_base`. */
  phys: bigint;
  /** `hyp_mem_size`. */
  size: bigint;
  /** `num_possible_cpus()`. */
  nrCpus: bigint;
  /** `kern_hyp_va(kvm_arm_hyp_percpu_base)`. */
  perCpuBase: bigint;
  /** `hyp_va_bits` (a u32). */
  hypVaBits: bigint;
}

/** The outcome of `__pkvm_init` seen by `handle___pkvm_init`. */
export interface PkvmInitOutcome {
  /** The value for x1. */
  ret: number;
  /** Why the simulator refused (a guard), if it did. */
  note?: string;
}

/**
 * `per_cpu_ptr(&sym, cpu)` at EL2: `kern_hyp_va(per_cpu_base[cpu]) + offset`.
 *
 * @param hyp The hypervisor.
 * @param cpu CPU running the code.
 * @param perCpuBase Hyp VA of `kvm_arm_hyp_percpu_base[]`.
 * @param i CPU index.
 * @returns Hyp VA of CPU i's per-CPU region.
 */
export function hypPerCpuBase(hyp: Hyp, cpu: Cpu, perCpuBase: number, i: number): number {
  return hyp.layout.kernHypVa(hyp.mem(cpu).read64(perCpuBase + 8 * i));
}

/**
 * `__pkvm_init(phys, size, nr_cpus, per_cpu_base, hyp_va_bits)`. On success
 * it runs the switch sequence and `__pkvm_init_finalise`, whose return value
 * is the result; otherwise it returns the error of the step that failed,
 * with nothing rolled back (as the kernel).
 *
 * @param hyp The hypervisor.
 * @param cpu The CPU that issued the hypercall.
 * @param args The hypercall's x1..x5.
 * @returns The value for x1 and an optional note.
 * @throws {HypPanicError} When EL2 faults (the switch sequence, an unmapped access).
 */
export function pkvmInit(hyp: Hyp, cpu: Cpu, args: PkvmInitArgs): PkvmInitOutcome {
  // v4+ uses PAGE_ALIGNED() (the review of v3 15/32 asked for it instead of '%').
  if ((args.phys & 0xfffn) !== 0n || (args.size & 0xfffn) !== 0n) return { ret: ERRNO.EINVAL };
  if (hyp.config.guards) {
    if (hyp.initialised) {
      return {
        ret: ERRNO.EPERM,
        note:
          `simulator guard: a second __pkvm_init would re-divide the live pool (zeroing the vmemmap and the page tables in use); ${
            hyp.release.hypercalls.minAfterInit === null
              ? `${hyp.version} has no check`
              : `${hyp.version} refuses it only once pKVM is finalised`
          }`,
      };
    }
    const nr = args.nrCpus;
    if (nr === 0n || nr > BigInt(hyp.machine.cpus.length)) {
      return {
        ret: ERRNO.EINVAL,
        note:
          `simulator guard: nr_cpus = ${nr} outside 1..${hyp.machine.cpus.length}; the kernel does not check it and would ${
            nr === 0n
              ? "leave every CPU's pgd_pa pointing at the host tables"
              : "read kvm_arm_hyp_percpu_base[] entries the host never filled"
          }`,
      };
    }
    const inRam = args.phys + args.size <= BigInt(Number.MAX_SAFE_INTEGER) &&
      hyp.machine.memory.contains(Number(args.phys), Math.max(1, Number(args.size)));
    if (args.size !== 0n && !inRam) {
      return {
        ret: ERRNO.EINVAL,
        note: `simulator guard: [${hex(args.phys)}, +${
          hex(args.size)
        }) is not RAM; the kernel does not check it and EL2 would fault dividing it`,
      };
    }
  }
  hyp.initCalls++;
  hyp.nrCpus = Number(args.nrCpus);
  const phys = Number(args.phys);
  const size = Number(args.size);
  const perCpuBase = Number(args.perCpuBase);
  const hypVaBits = Number(args.hypVaBits & 0xffff_ffffn);
  hyp.hypVaBits = hypVaBits;
  return guarded(hyp, "__pkvm_init", () => {
    hyp.phase = "divide";
    let ret = divideMemoryPool(hyp, cpu, hyp.va(phys), size);
    if (ret !== 0) return { ret };
    hyp.phase = "recreate";
    ret = recreateHypMappings(hyp, cpu, phys, size, perCpuBase, hypVaBits);
    if (ret !== 0) return { ret };
    hyp.phase = "params";
    updateNvheInitParams(hyp, cpu, perCpuBase);
    // Jump to the idmap page to switch to the new page-tables.
    const self = hypPerCpuBase(hyp, cpu, perCpuBase, cpu.id);
    const params = self + hyp.image.percpuOffsets.kvm_init_params!;
    hyp.phase = "switch";
    runSwitchSequence(hyp, cpu, params);
    hyp.phase = "finalise";
    ret = pkvmInitFinalise(hyp, cpu);
    if (ret === 0) hyp.phase = "done";
    return { ret };
  });
}

/**
 * Runs EL2 code, turning a fault on an EL2 access into a hyp panic.
 * @param hyp The hypervisor.
 * @param where Kernel function.
 * @param fn Body.
 * @returns What `fn` returns.
 */
export function guarded<R>(hyp: Hyp, where: string, fn: () => R): R {
  try {
    return fn();
  } catch (e) {
    if (e instanceof HypPanicError) {
      hyp.panic = e;
      throw e;
    }
    if (e instanceof MemoryFaultError) {
      const p = new HypPanicError(where, e.message, { cause: e });
      hyp.panic = p;
      throw p;
    }
    throw e;
  }
}

/**
 * `divide_memory_pool(virt, size)`: the early allocator over the whole pool
 * hands out the terms in order (v5.13: vmemmap, hyp_s1, host_s2_mem,
 * host_s2_dev; mainline: selftest, vmemmap, vm_table, hyp_s1, host_s2,
 * ffa_proxy), each zeroed; any failure is -ENOMEM.
 *
 * @param hyp The hypervisor.
 * @param cpu CPU running the code.
 * @param virt Pool hyp VA.
 * @param size Pool bytes.
 * @returns 0 or -ENOMEM.
 */
export function divideMemoryPool(hyp: Hyp, cpu: Cpu, virt: number, size: number): number {
  const early = hyp.caps.early.init({
    virt,
    size,
    memory: hyp.mem(cpu),
    physToVirt: (pa) => hyp.va(pa),
    virtToPhys: (va) => hyp.pa(va),
  });
  hyp.poolEarly = early;
  hyp.poolRange = { va: virt, size };
  const pool = { base: hyp.pa(virt), size };
  // The vmemmap term follows sizeof(struct hyp_page) of the allocator in use,
  // which may differ from the one the host sized the pool with.
  const vmemmapPages = hypVmemmapPages(hyp, pool);
  const sized = hyp.caps.reservedMem.poolLayout(hyp.hypMemory, pool);
  const hostVmemmap = sized.find((t) => t.name === "vmemmap")?.pages;
  const terms = sized.map((t) => t.name === "vmemmap" ? { ...t, pages: vmemmapPages } : t);
  hyp.terms = [];
  for (const t of terms) {
    // An empty selftest term (no NVHE_EL2_DEBUG) or an allocator without a vmemmap.
    if (t.pages === 0 && (t.name === "selftest" || t.name === "vmemmap")) {
      hyp.terms.push({ ...t, va: early.cur });
      continue;
    }
    const va = early.contig(t.pages);
    if (va === null) {
      const why = t.name === "vmemmap" && hostVmemmap !== undefined && hostVmemmap < t.pages
        ? `: the page allocator's struct hyp_page needs ${t.pages} vmemmap pages where the host reserved ${hostVmemmap}`
        : "";
      hyp.log("error", `no room for ${t.name} (${t.pages} pages)${why}`);
      return ERRNO.ENOMEM;
    }
    hyp.terms.push({ ...t, va });
  }
  return 0;
}

/**
 * `recreate_hyp_mappings`: a fresh `pkvm_pgtable` from the early allocator
 * over `hyp_pgt_base`, then every region with its profile's permissions.
 *
 * @param hyp The hypervisor.
 * @param cpu CPU running the code.
 * @param phys Pool PA.
 * @param size Pool bytes.
 * @param perCpuBase Hyp VA of `kvm_arm_hyp_percpu_base[]`.
 * @param hypVaBits `hyp_va_bits`.
 * @returns 0 or the first error.
 */
export function recreateHypMappings(
  hyp: Hyp,
  cpu: Cpu,
  phys: number,
  size: number,
  perCpuBase: number,
  hypVaBits: number,
): number {
  const s1 = hyp.term("hyp_s1");
  const early = hyp.caps.early.init({
    virt: s1.va,
    size: s1.pages * PAGE,
    memory: hyp.mem(cpu),
    physToVirt: (pa) => hyp.va(pa),
    virtToPhys: (va) => hyp.pa(va),
  });
  hyp.pgtEarly = early;
  const pgt = hyp.caps.pgtable.hypInit({
    iaBits: hypVaBits,
    mmOps: early.mmOps,
    memory: hyp.machine.memory,
    name: "pkvm_pgtable",
    trace: hyp.trace,
    hvhe: hyp.config.hvhe,
    lpa2: hyp.config.lpa2,
  });
  if (typeof pgt === "number") return pgt;
  hyp.pgt = pgt;
  hyp.mmOpsKind = "early";
  hyp.expected = [];
  hyp.step = 3;
  for (const step of hyp.release.setup.recreate) {
    const err = recreateStep(hyp, cpu, step, phys, size, perCpuBase, hypVaBits);
    if (err !== 0) {
      hyp.log("error", `recreate_hyp_mappings: ${step} failed with ${err}`);
      return err;
    }
  }
  return 0;
}

/** The symbols, prot and label of a kernel section `recreate_hyp_mappings()` maps. */
const SECTION_STEPS: Partial<Record<RecreateStep, [string, string, number, string]>> = {
  hyp_text: ["__hyp_text_start", "__hyp_text_end", PAGE_HYP_EXEC, "__hyp_text"],
  hyp_data: ["__hyp_data_start", "__hyp_data_end", PAGE_HYP, "__hyp_data"],
  hyp_rodata: ["__hyp_rodata_start", "__hyp_rodata_end", PAGE_HYP_RO, "__hyp_rodata"],
  hyp_bss: ["__hyp_bss_start", "__hyp_bss_end", PAGE_HYP, "__hyp_bss"],
  // v5.13: the kernel's whole .rodata and the .bss after .hyp.bss, read-only.
  kernel_rodata: ["__start_rodata", "__end_rodata", PAGE_HYP_RO, ".rodata"],
  bss_tail: ["__hyp_bss_end", "__bss_stop", PAGE_HYP_RO, ".bss"],
};

/**
 * `pkvm_mkstate(PAGE_HYP_RO, PKVM_PAGE_SHARED_OWNED)`: read-only, with the
 * page state in the software bits (SW0 = bit 55: SHARED_OWNED is 1 << 55 in
 * `enum pkvm_page_state`), which the host stage-2 ownership pass mirrors.
 */
const PAGE_HYP_RO_SHARED_OWNED = PAGE_HYP_RO | (1 << 23); // hyplab keeps SW0 at bit 23

/** `sizeof(struct vgic_global)` in Debian's 6.12.117 build (its DWARF). */
const VGIC_GLOBAL_STATE_BYTES = 88;

/** Kernel objects mapped read-only and shared by the host (6.1: .rodata, .bss; 6.12: the vgic state). */
const SHARED_STEPS: Partial<Record<RecreateStep, [string, string | number, string]>> = {
  kernel_rodata_shared: ["__start_rodata", "__end_rodata", ".rodata"],
  bss_tail_shared: ["__hyp_bss_end", "__bss_stop", ".bss"],
  // &kvm_vgic_global_state .. &kvm_vgic_global_state + 1: the struct's size.
  vgic_global_state_shared: [
    "kvm_vgic_global_state",
    VGIC_GLOBAL_STATE_BYTES,
    "kvm_vgic_global_state",
  ],
};

/** One step of `recreate_hyp_mappings()`. */
function recreateStep(
  hyp: Hyp,
  cpu: Cpu,
  step: RecreateStep,
  phys: number,
  size: number,
  perCpuBase: number,
  hypVaBits: number,
): number {
  const sec = SECTION_STEPS[step];
  if (sec !== undefined) {
    const [from, to, prot, what] = sec;
    return pkvmCreateMappings(hyp, hyp.sym(from), hyp.sym(to), prot, what);
  }
  const shared = SHARED_STEPS[step];
  if (shared !== undefined) {
    const [from, to, what] = shared;
    const start = hyp.sym(from);
    const end = typeof to === "number" ? start + to : hyp.sym(to);
    return pkvmCreateMappings(hyp, start, end, PAGE_HYP_RO_SHARED_OWNED, what);
  }
  switch (step) {
    case "idmap":
      return hypCreateIdmap(hyp, hypVaBits);
    case "vectors":
      return hypMapVectors(hyp);
    case "vmemmap": {
      hyp.step = 4;
      hyp.phase = "vmemmap";
      const r = hypBackVmemmap(hyp, cpu, phys, size, hyp.pa(hyp.term("vmemmap").va));
      hyp.step = 3;
      if (r === 0) hyp.phase = "recreate";
      return r;
    }
    case "pool":
      return pkvmCreateMappings(hyp, hyp.va(phys), hyp.va(phys) + size, PAGE_HYP, "pool");
    case "percpu_and_stacks":
      return mapPercpuAndStacks(hyp, cpu, perCpuBase);
    case "host_sve":
      return pkvmCreateHostSveMappings(hyp, cpu);
    default:
      throw new RangeError(`Cannot run recreate_hyp_mappings step "${step}"`);
  }
}

/**
 * `pkvm_create_host_sve_mappings()` (6.12+): without SVE nothing; else for
 * each of `hyp_nr_cpus` CPUs, the buffer its `kvm_host_data` points at
 * (`sve_state`, 7.x `sve_regs`: a kernel VA, `kern_hyp_va()`'d here),
 * `PAGE_ALIGN(pkvm_host_sve_state_size())` bytes, PAGE_HYP, page by page.
 */
function pkvmCreateHostSveMappings(hyp: Hyp, cpu: Cpu): number {
  const size = pkvmHostSveStateSize(hyp.release, hyp.machine.cpu(0).model);
  const sve = hyp.release.host.sveState;
  if (size === 0 || sve === null) return 0;
  const hostData = hyp.image.percpuOffsets.kvm_host_data!;
  const perCpuBase = hyp.sym("kvm_arm_hyp_percpu_base");
  for (let i = 0; i < hyp.nrCpus; i++) {
    const at = hypPerCpuBase(hyp, cpu, perCpuBase, i) + hostData + sve.field;
    const start = hyp.layout.kernHypVa(hyp.mem(cpu).read64(at));
    const end = start + Math.ceil(size / PAGE) * PAGE;
    const err = pkvmCreateMappings(hyp, start, end, PAGE_HYP, `host sve cpu${i}`);
    if (err !== 0) return err;
  }
  return 0;
}

/** Per CPU: its per-CPU region, then its stack (the release's way). */
function mapPercpuAndStacks(hyp: Hyp, cpu: Cpu, perCpuBase: number): number {
  const percpuBytes = Math.ceil(hyp.image.percpuSize / PAGE) * PAGE;
  const stackOff = initParamsOffset(hyp.version, "stack_hyp_va")!;
  for (let i = 0; i < hyp.nrCpus; i++) {
    const start = hypPerCpuBase(hyp, cpu, perCpuBase, i);
    let err = pkvmCreateMappings(hyp, start, start + percpuBytes, PAGE_HYP, `percpu cpu${i}`);
    if (err !== 0) return err;
    const params = start + hyp.image.percpuOffsets.kvm_init_params!;
    if (hyp.release.setup.stack === "linear") {
      // v5.13: a single page below stack_hyp_va, at its linear VA, no guard page.
      const end = Number(hyp.mem(cpu).read64(params + stackOff));
      err = pkvmCreateMappings(hyp, end - PAGE, end, PAGE_HYP, `stack cpu${i}`);
    } else {
      const stackPa = Number(
        hyp.mem(cpu).read64(params + initParamsOffset(hyp.version, "stack_pa")!),
      );
      const r = pkvmCreateStack(hyp, stackPa, `stack cpu${i}`);
      err = r.err;
      if (err === 0) hyp.mem(cpu).write64(params + stackOff, BigInt(r.top));
    }
    if (err !== 0) return err;
  }
  return 0;
}

/**
 * `update_nvhe_init_params`: every CPU's `params->pgd_pa` = `__hyp_pa(pgd)`,
 * cleaned to the PoC (memory is coherent here).
 *
 * @param hyp The hypervisor.
 * @param cpu CPU running the code.
 * @param perCpuBase Hyp VA of `kvm_arm_hyp_percpu_base[]`.
 */
export function updateNvheInitParams(hyp: Hyp, cpu: Cpu, perCpuBase: number): void {
  const off = initParamsOffset(hyp.version, "pgd_pa")!;
  for (let i = 0; i < hyp.nrCpus; i++) {
    const params = hypPerCpuBase(hyp, cpu, perCpuBase, i) +
      hyp.image.percpuOffsets.kvm_init_params!;
    hyp.mem(cpu).write64(params + off, BigInt(hyp.pgt!.pgd));
  }
}

/**
 * `__pkvm_init_finalise`: `hyp_pool_init(&hpool)` over the s1 region with
 * the early allocator's pages reserved, the host stage-2 pools, then
 * `pkvm_pgtable_mm_ops` switched to the buddy as one value (the review's
 * request) — from here on table pages come from `hpool`, whose vmemmap is
 * reached through the new tables. Mainline (setup.c, ≈ v6.16) then runs
 * `fix_hyp_pgtable_refcnt`, `hyp_create_fixmap` (per-CPU fixmap pages and
 * the fixblock), `hyp_ffa_init` and `pkvm_hyp_vm_table_init`;
 * `fix_host_ownership` (host stage-2) and the selftest are not modelled.
 *
 * @param hyp The hypervisor.
 * @param cpu CPU running the code (on the new tables).
 * @returns The value for x1 (0 or a negative errno).
 */
export function pkvmInitFinalise(hyp: Hyp, cpu: Cpu): number {
  const mem = hyp.mem(cpu);
  const common = {
    memory: mem,
    vmemmap: hyp.hypVmemmap,
    physToVirt: (pa: number) => hyp.va(pa),
    virtToPhys: (va: number) => hyp.pa(va),
    trace: hyp.trace,
  };
  const s1 = hyp.term("hyp_s1");
  // What the verification checks hpool's reserved pages against: the table
  // pages as they are in memory now, before any page comes from the buddy.
  hyp.handoverTablePages = hyp.pgt!.tablePages();
  const reserved = hyp.pgtEarly!.nrUsedPages();
  const hpool = hyp.caps.pages.createPool({
    ...common,
    name: "hpool",
    pfn: hyp.pa(s1.va) / PAGE,
    nrPages: s1.pages,
    reservedPages: reserved,
  });
  hyp.pools.set("hpool", hpool);
  // kvm_host_prepare_stage2(): the host stage-2 pools, nothing reserved.
  const s2Terms = hyp.release.reserve.hostS2 === "split" ? ["host_s2_mem", "host_s2_dev"] : [
    "host_s2",
  ];
  for (const name of s2Terms) {
    const t = hyp.term(name);
    hyp.pools.set(
      name,
      hyp.caps.pages.createPool({
        ...common,
        name,
        pfn: hyp.pa(t.va) / PAGE,
        nrPages: t.pages,
        reservedPages: 0,
      }),
    );
  }
  // prepare_host_vtcr(), then kvm_pgtable_stage2_init(): the host stage-2
  // pgd, sized from VTCR (concatenated tables at the start level), comes from
  // zalloc_pages_exact: hyp_alloc_pages(host_s2_mem (v5.13) / host_s2_pool,
  // get_order(size)); from v5.14 it is then split into order-0 pages.
  const vtcr = hostVtcr(
    sanitisedIdReg(hyp, "ID_AA64MMFR0_EL1"),
    sanitisedIdReg(hyp, "ID_AA64MMFR1_EL1"),
    hyp.config.lpa2,
  );
  const pgdPages = stage2PgdPages(vtcr);
  const s2pool = hyp.pools.get(s2Terms[0]!)!;
  const pgdVa = s2pool.allocPages(Math.log2(pgdPages));
  if (pgdVa === null) return ERRNO.ENOMEM;
  if (hyp.release.buddy.listNode === "free_page" && pgdPages > 1) s2pool.splitPage?.(pgdVa);
  hyp.hostStage2 = { pgd: hyp.pa(pgdVa), vtcr, pgdPages };
  // host_s2_mm_ops: table pages from the host stage-2 pool, refcounted there.
  hyp.hostS2Pgt = hyp.caps.pgtable.stage2Init?.({
    iaBits: 64 - Number(vtcr & 0x3fn),
    startLevel: 2 - Number((vtcr >> 6n) & 3n),
    pgd: hyp.pa(pgdVa),
    pgdPages,
    mmOps: {
      zallocPage: () => s2pool.allocPages(0),
      physToVirt: (pa) => hyp.va(pa),
      virtToPhys: (va) => hyp.pa(va),
      getPage: (va) => s2pool.getPage(va),
      putPage: (va) => s2pool.putPage(va),
      ...batchedGets(s2pool),
    },
    memory: hyp.machine.memory,
    lpa2: hyp.config.lpa2,
  });
  const mmOps: PgtableMmOps = {
    zallocPage: () => hpool.allocPages(0),
    physToVirt: (pa) => hyp.va(pa),
    virtToPhys: (va) => hyp.pa(va),
    getPage: (va) => hpool.getPage(va),
    putPage: (va) => hpool.putPage(va),
    ...batchedGets(hpool),
  };
  // page_count arrived with hyp stage-1 refcounting (v5.17).
  if (hyp.release.pgtable.refcounted) mmOps.pageCount = (va) => hpool.pageCount(va);
  hyp.pgt!.mmOps = mmOps;
  hyp.mmOpsKind = "buddy";
  hyp.trace.emit("handover", {
    capability: "pkvm_pgtable.mm_ops",
    from: "early_alloc",
    to: "hpool",
  });
  for (const step of hyp.release.setup.finalise) {
    const ret = finaliseStep(hyp, cpu, step, mmOps);
    if (ret !== 0) return ret;
  }
  hyp.initialised = true;
  return 0;
}

/**
 * The pool's batched `getPages` as mm_ops offer it (table walkers take a
 * run's references in one call), where the pool has one: `hyp_get_page`
 * only writes the page's refcount in the vmemmap, which no table store
 * changes.
 */
function batchedGets(pool: PagePool): Pick<PgtableMmOps, "getPages"> {
  const getPages = pool.getPages;
  return getPages === undefined ? {} : { getPages: (va, n) => getPages.call(pool, va, n) };
}

/**
 * `kvm_pgtable_walk` over the hyp stage-1 with the visitor seeing each entry
 * as two 32-bit halves: the finalise walks visit every page the hyp maps,
 * and a bigint per entry is most of their cost. A table without
 * `walkHalves` is walked through `walk`, its entries split.
 */
function walkHalves(hyp: Hyp, addr: number, size: number, walker: HalvesWalker): number {
  const pgt = hyp.pgt!;
  if (pgt.walkHalves !== undefined) return pgt.walkHalves(addr, size, walker);
  return pgt.walk(addr, size, {
    flags: walker.flags,
    cb: (v) =>
      walker.cb({
        addr: v.addr,
        end: v.end,
        level: v.level,
        ptep: v.ptep,
        lo: Number(v.pte & 0xffff_ffffn),
        hi: Number(v.pte >> 32n),
      }, v.flag),
  });
}

/**
 * How many entries from `idx` a walk's LEAF run may cover: those whose
 * granule starts before the walk's end, up to the end of the page.
 */
function leafSpan(v: WalkVisitHalves, idx: number): number {
  const g = 4096 * 512 ** (3 - v.level);
  const va0 = Math.floor(v.addr / g) * g;
  const left = Math.ceil((v.end - va0) / g);
  return left < 512 - idx ? left : 512 - idx;
}

/**
 * `n` `get_page(va)` calls: in one getPages call where the mm_ops have it,
 * the rest (at the refcount's limit) one by one, the first failing as it
 * does alone.
 */
function getPagesEach(mm: PgtableMmOps, va: number, n: number): void {
  let taken = n === 0 || mm.getPages === undefined ? 0 : mm.getPages(va, n);
  for (; taken < n; taken++) mm.getPage!(va);
}

/** One step of `__pkvm_init_finalise()` after the allocator handover. */
function finaliseStep(hyp: Hyp, cpu: Cpu, step: FinaliseStep, mmOps: PgtableMmOps): number {
  switch (step) {
    case "host_mappings": {
      // 6.1 finalize_host_mappings(): over each memory region's linear range,
      // LEAF|TABLE_POST: a reference per valid entry (the early allocator
      // could not take them), and every leaf must be a level-3 page of
      // memory whose host stage-2 entry then follows its state.
      const run = new OwnerRun(hyp);
      const walker: HalvesWalker = {
        flags: WALK.LEAF | WALK.TABLE_POST,
        cb: (v, flag) => {
          if ((v.lo & 1) === 0) return 0;
          mmOps.getPage!(hyp.va(v.ptep));
          if (flag !== WALK.LEAF) return 0;
          return hostOwnershipOf(hyp, v.level, v.lo, v.hi, run);
        },
      };
      for (const r of hyp.hypMemory) {
        const ret = walkHalves(hyp, hyp.va(r.base), r.size, walker);
        if (ret !== 0) return ret;
      }
      return run.flush();
    }
    case "pgtable_refcnt": {
      // fix_hyp_pgtable_refcnt(): one reference per valid entry on its table page.
      return walkHalves(hyp, 0, 2 ** hyp.hypVaBits, {
        flags: WALK.LEAF | WALK.TABLE_POST,
        cb: (v) => {
          if ((v.lo & 1) === 1) mmOps.getPage!(hyp.va(v.ptep));
          return 0;
        },
        // A page's run of non-table entries: their references all go to
        // that page, taken in one getPages call where the mm_ops have it.
        leafRun: (v, idx, words) => {
          const max = leafSpan(v, idx);
          if (words === undefined) return max;
          let n = 0;
          let valid = 0;
          for (; n < max; n++) {
            const lo = words[2 * (idx + n)]!;
            if (v.level < 3 && (lo & 3) === 3) break;
            valid += lo & 1;
          }
          getPagesEach(mmOps, hyp.va(v.ptep), valid);
          return n;
        },
      });
    }
    case "pcpu_fixmap":
      return hypCreateFixmap(hyp, cpu, false);
    case "fixmap_and_fixblock":
      return hypCreateFixmap(hyp, cpu, true);
    case "host_ownership":
      return fixHostOwnership(hyp, cpu);
    case "ffa_init":
      return hypFfaInit();
    case "vm_table_init":
      // pkvm_hyp_vm_table_init(vm_table_base) (nvhe/pkvm.c): vm_table points
      // at the page divide_memory_pool carved (and zeroed) for it.
      hyp.vmTable = hyp.term("vm_table").va;
      return 0;
  }
}

/** `pkvm_getstate()`: the page state in software bits 56:55 of a hyp leaf. */
const PKVM_PAGE_STATE = { OWNED: 0, SHARED_OWNED: 1, SHARED_BORROWED: 2 } as const;

/**
 * What `fix_host_ownership_walker()` (6.12, 7.2) and
 * `finalize_host_mappings_walker()` (6.1) do with one hyp stage-1 entry: an
 * invalid one is skipped; a valid one must be a level-3 page of memory
 * (else -EINVAL); a page the hypervisor owns gets the release's owner
 * annotation in the host stage-2
 * (`host_stage2_set_owner_locked(phys, PAGE_SIZE, PKVM_ID_HYP)`), except
 * 7.x's `__hyp_text`, which stays mapped read-only for the host. A shared
 * page (SHARED_OWNED / SHARED_BORROWED) gets a valid host mapping with the
 * mirrored state in 6.1 and 6.12 (`host_stage2_idmap_locked()`), in 7.x
 * only its vmemmap state: valid host stage-2 entries, like the hyp text's,
 * are not written here (only the annotations are modelled).
 *
 * @param hyp The hypervisor.
 * @param level The entry's level.
 * @param lo Bits 31:0 of the entry.
 * @param hi Bits 63:32 of the entry.
 * @returns 0 or a negative errno.
 */
function hostOwnershipOf(hyp: Hyp, level: number, lo: number, hi: number, run: OwnerRun): number {
  const r = ownedPhys(hyp, level, lo, hi);
  if (r >= 0) return run.add(r);
  return r === NOT_OWNED ? 0 : r;
}

/** {@link ownedPhys}: an entry that gets no annotation. */
const NOT_OWNED = -1;

/**
 * {@link hostOwnershipOf}'s decision for one entry, with no side effect:
 * the PA to annotate, {@link NOT_OWNED}, or -EINVAL.
 */
function ownedPhys(hyp: Hyp, level: number, lo: number, hi: number): number {
  // Plain numbers from the descriptor's halves: this runs for every page
  // the hyp maps.
  if ((lo & 1) === 0) return NOT_OWNED;
  if (level !== 3) return ERRNO.EINVAL;
  // The output address: bits [47:12], or with LPA2 bits [49:12] and
  // OA[51:50] from descriptor bits 9:8.
  const oaHi = hyp.config.lpa2 ? (hi & 0x3_ffff) + ((lo >>> 8) & 3) * 2 ** 18 : hi & 0xffff;
  const phys = oaHi * 2 ** 32 + ((lo & 0xffff_f000) >>> 0);
  // A plain loop, no callback: this runs once per page the hyp maps.
  const regions = hyp.hypMemory;
  let inMemory = false;
  for (let i = 0; i < regions.length && !inMemory; i++) {
    const r = regions[i]!;
    inMemory = phys >= r.base && phys < r.base + r.size;
  }
  if (!inMemory) return ERRNO.EINVAL;
  // Software bits 56:55 are bits 24:23 of the high half.
  const state = (hi >>> 23) & 3;
  if (state === 3) return ERRNO.EINVAL;
  const owner = hyp.release.setup.hostOwner;
  if (owner === null || state !== PKVM_PAGE_STATE.OWNED) return NOT_OWNED;
  if (owner.hypText === "read-only") {
    const s = hyp.image.symbols;
    const start = Math.floor(s.__hyp_text_start! / PAGE) * PAGE;
    const end = Math.ceil(s.__hyp_text_end! / PAGE) * PAGE;
    if (phys >= start && phys < end) return NOT_OWNED;
  }
  return phys;
}

/**
 * The pages to annotate, coalesced: the kernel annotates page by page in
 * the order of the hyp stage-1 walk, and a run of consecutive pages gets the
 * same tables, from the same pool, in the same order as one annotation of
 * the run, which is much cheaper to simulate. (Only an error part-way
 * through would show the difference: the walk then went further before the
 * run is written.)
 */
class OwnerRun {
  #start = -1;
  #end = -1;
  readonly #hyp: Hyp;

  constructor(hyp: Hyp) {
    this.#hyp = hyp;
  }

  /** Whether `phys` is the page right after the pending run (adding it writes nothing). */
  continues(phys: number): boolean {
    return phys === this.#end && phys >= 0;
  }

  add(phys: number): number {
    if (phys === this.#end) {
      this.#end += PAGE;
      return 0;
    }
    const err = this.flush();
    this.#start = phys;
    this.#end = phys + PAGE;
    return err;
  }

  /** Writes the pending run (without a stage-2 model, the host stage-2 stays a bare pgd). */
  flush(): number {
    if (this.#start < 0) return 0;
    const [start, end] = [this.#start, this.#end];
    this.#start = this.#end = -1;
    const owner = this.#hyp.release.setup.hostOwner!;
    return this.#hyp.hostS2Pgt?.annotate(start, end - start, owner.pte) ?? 0;
  }
}

/**
 * `fix_host_ownership()` (6.12, 7.2): {@link hostOwnershipOf} for every
 * valid leaf of the hyp's linear map of each `hyp_memory[]` region, then of
 * each CPU's stack page (`params->stack_hyp_va - NVHE_STACK_SIZE`, in the
 * private range).
 *
 * @param hyp The hypervisor.
 * @param cpu CPU running the code.
 * @returns 0 or the first error.
 */
function fixHostOwnership(hyp: Hyp, cpu: Cpu): number {
  const run = new OwnerRun(hyp);
  const walker: HalvesWalker = {
    flags: WALK.LEAF,
    cb: (v) => hostOwnershipOf(hyp, v.level, v.lo, v.hi, run),
    // A page's run of entries in one loop, each as cb decides it, up to an
    // entry cb must handle itself: an error, or a page that starts a new run
    // (writing the pending one).
    leafRun: (v, idx, words) => {
      const max = leafSpan(v, idx);
      if (words === undefined) return max;
      const level = v.level;
      let n = 0;
      for (; n < max; n++) {
        const k = 2 * (idx + n);
        const lo = words[k]!;
        if ((lo & 1) === 0) continue;
        if (level !== 3) break;
        const r = ownedPhys(hyp, 3, lo, words[k + 1]!);
        if (r === NOT_OWNED) continue;
        if (!run.continues(r)) break;
        run.add(r);
      }
      return n;
    },
  };
  for (const r of hyp.hypMemory) {
    const ret = walkHalves(hyp, hyp.va(r.base), r.size, walker);
    if (ret !== 0) return ret;
  }
  const perCpuBase = hyp.sym("kvm_arm_hyp_percpu_base");
  const off = initParamsOffset(hyp.version, "stack_hyp_va")!;
  for (let i = 0; i < hyp.nrCpus; i++) {
    const params = hypPerCpuBase(hyp, cpu, perCpuBase, i) +
      hyp.image.percpuOffsets.kvm_init_params!;
    const top = Number(hyp.mem(cpu).read64(params + off));
    const ret = walkHalves(hyp, top - PAGE, PAGE, walker);
    if (ret !== 0) return ret;
  }
  return run.flush();
}

/**
 * Mainline `hyp_ffa_init(ffa_proxy_pages)` (nvhe/ffa.c, ≈ v6.16): returns 0
 * at once when the firmware's SMCCC version is below 1.2 or `FFA_VERSION`
 * answers NOT_SUPPORTED, -EOPNOTSUPP for a major version other than 1, and
 * otherwise only points hyp globals (TX, RX and the descriptor buffer) into
 * the `ffa_proxy` pages, writing none of them. hyplab models no EL3
 * firmware, so it runs as on firmware without FF-A: nothing changes.
 *
 * @returns 0.
 */
function hypFfaInit(): number {
  return 0;
}

/** `id_aa64mmfr0_parange_to_phys_shift`: PARange → physical address bits. */
const PARANGE_BITS = [32, 36, 40, 42, 44, 48, 52] as const;

/**
 * The sanitised system value of an ID register as the host hands it to EL2
 * (`id_aa64mmfr{0,1}_el1_sys_val`): each field the boot reads here
 * (PARange, VMIDBits) is lower-safe, so it is the smallest over the CPUs.
 *
 * @param hyp The hypervisor.
 * @param reg `ID_AA64MMFR0_EL1` or `ID_AA64MMFR1_EL1`.
 * @returns The value, with the fields the boot reads sanitised.
 */
export function sanitisedIdReg(hyp: Hyp, reg: "ID_AA64MMFR0_EL1" | "ID_AA64MMFR1_EL1"): bigint {
  const shift = reg === "ID_AA64MMFR0_EL1" ? 0n : 4n; // PARange [3:0], VMIDBits [7:4]
  const cpus = hyp.machine.cpus;
  let v = cpus[0]!.sysreg(reg);
  for (const c of cpus) {
    const f = (c.sysreg(reg) >> shift) & 0xfn;
    if (f < ((v >> shift) & 0xfn)) v = (v & ~(0xfn << shift)) | (f << shift);
  }
  return v;
}

/**
 * `prepare_host_vtcr()` → `kvm_get_vtcr(mmfr0, mmfr1, phys_shift)`
 * (v5.13 `hyp/pgtable.c`, kept in mainline), 4 KiB pages: VTCR_EL2_FLAGS
 * (RES1 bit 31, SH0 inner, ORGN0/IRGN0 write-back, TG0 4K); PS =
 * `kvm_get_parange` (PARange clamped to 48 bits: v5.13's PARANGE_MAX for 4
 * KiB pages, and mainline's `kvm_get_parange_max()` without LPA2; 52 bits
 * with LPA2); the host stage-2 is an idmap, so the IPA size is that PA size:
 * T0SZ = 64 − bits and SL0 from `stage2_pgtable_levels(bits)` (at least 2
 * levels; at 52 bits 4 levels from level 0, whose 16 tables are
 * concatenated, so SL2 stays 0); HA always (v5.13 unconditionally; mainline
 * under CONFIG_ARM64_HW_AFDBM, on by default, on CPUs without the AmpereOne
 * AC03 erratum); DS with LPA2; VS when ID_AA64MMFR1_EL1.VMIDBits says
 * 16-bit VMIDs.
 *
 * @param mmfr0 `ID_AA64MMFR0_EL1` (sanitised).
 * @param mmfr1 `ID_AA64MMFR1_EL1` (sanitised).
 * @param lpa2 `kvm_lpa2_is_enabled()`.
 * @returns VTCR_EL2.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hostVtcr } from "./hyp_setup.ts";
 * assertEquals(hostVtcr(0x5n, 0n), 0x8025_3590n); // 48-bit PA, 8-bit VMIDs
 * assertEquals(hostVtcr(0x2n, 0x20n), 0x802a_3558n); // 40-bit PA, 16-bit VMIDs
 * assertEquals(hostVtcr(0x6n, 0x20n, true), 0x1_802e_358cn); // a real 7.2 boot on max
 * ```
 */
export function hostVtcr(mmfr0: bigint, mmfr1: bigint, lpa2 = false): bigint {
  const parange = Math.min(Number(mmfr0 & 0xfn), lpa2 ? 6 : 5);
  const bits = PARANGE_BITS[parange]!;
  const levels = Math.max(2, Math.floor((bits - 4 - 4) / 9));
  const sl0 = BigInt(2 - (4 - levels));
  let vtcr = (1n << 31n) | (3n << 12n) | (1n << 10n) | (1n << 8n);
  vtcr |= BigInt(parange) << 16n;
  vtcr |= BigInt(64 - bits);
  vtcr |= sl0 << 6n;
  vtcr |= 1n << 21n; // VTCR_EL2_HA
  if (lpa2) vtcr |= 1n << 32n; // VTCR_EL2_DS
  if (((mmfr1 >> 4n) & 0xfn) === 2n) vtcr |= 1n << 19n; // VTCR_EL2_VS_16BIT
  return vtcr;
}

/**
 * `kvm_pgd_pages(ia_bits, start_level)` for a VTCR_EL2 (4 KiB pages): the
 * pages of the (concatenated) start-level table, with ia_bits = 64 − T0SZ
 * and start level = 2 − SL0 (`kvm_pgtable_stage2_init`); with DS and 52
 * bits from level 0 that is 16 concatenated pages.
 *
 * @param vtcr VTCR_EL2.
 * @returns Pages (a power of two, 1 to 16).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hostVtcr, stage2PgdPages } from "./hyp_setup.ts";
 * assertEquals(stage2PgdPages(hostVtcr(0x5n, 0n)), 1); // 48 bits from level 0
 * assertEquals(stage2PgdPages(hostVtcr(0x2n, 0n)), 2); // 40 bits: two level-1 tables
 * assertEquals(stage2PgdPages(hostVtcr(0x6n, 0n, true)), 16); // 52 bits: sixteen level-0 tables
 * ```
 */
export function stage2PgdPages(vtcr: bigint): number {
  const iaBits = 64 - Number(vtcr & 0x3fn);
  const start = 2 - Number((vtcr >> 6n) & 3n);
  const shift = 9 * (4 - (start - 1)) + 3; // kvm_granule_shift(start - 1)
  return Number(((1n << BigInt(iaBits)) - 1n) >> BigInt(shift)) + 1;
}
