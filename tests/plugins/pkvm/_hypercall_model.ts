// The host hypercall ABI as the kernel defines it, for the property tests in
// hypercall_property_test.ts: a model that says what x0/x1 each call must
// return given the state before it (hyp-main.c handle_host_hcall and the
// handlers, mm.c, mem_protect.c, pgtable.c kvm_pgtable_hyp_map), argument
// generators that reach every success and error path, and a cheap snapshot of
// the state a failing call must leave untouched.
//
// The model is written from the kernel, not from the plugin: it keeps its own
// __io_map_base, per-CPU finalisation and gate, and computes every result with
// u64 arithmetic.

import {
  ERRNO,
  KVM_PGTABLE_PROT,
  type Machine,
  type Maplet,
  type Prng,
} from "../../../core/mod.ts";
import { hypercallIds, SMCCC_RET_NOT_SUPPORTED } from "../../../plugins/pkvm/hypercall_ids.ts";
import type { PkvmBoot } from "../../../plugins/pkvm/pkvm_boot.ts";

export const U64 = 1n << 64n;
export const NOT_SUPPORTED = SMCCC_RET_NOT_SUPPORTED;
const PAGE = 4096;
const PMD = 2 * 1024 * 1024;
const { R, W, X, DEVICE } = KVM_PGTABLE_PROT;

/**
 * The releases the model follows: v5.13, 6.12 and mainline (7.2). 6.1 is
 * left out: its pkvm_alloc_private_va_range() aligns the base to the order
 * of the size and answers -ENOMEM for a 0 base, which this model does not
 * follow.
 */
export type ModelVersion = "v5.13" | "v6.12" | "mainline";

/**
 * Each kernel's `enum kvm_pgtable_prot`, as the host writes it into a
 * register. v5.13: X = BIT(0), W = BIT(1), R = BIT(2), DEVICE = BIT(3), a
 * 32-bit enum. 6.12 (asm/kvm_pgtable.h): the same four, NORMAL_NC = BIT(4),
 * SW0..3 = BIT(55..58), a 64-bit enum. Mainline, since 2608563b466b ("KVM:
 * arm64: Add support for FEAT_XNX stage-2 permissions", v6.19; so in 7.2):
 * PX = BIT(0), UX = BIT(1), X = PX|UX, W = BIT(2), R = BIT(3), DEVICE =
 * BIT(4), NORMAL_NC = BIT(5), SW0..3 = BIT(55..58). Written here from the
 * kernel headers, not taken from the code under test.
 */
export const KERNEL_PROT = {
  "v5.13": { PX: 1, UX: 0, X: 1, W: 2, R: 4, DEVICE: 8, NORMAL_NC: 0 },
  "v6.12": { PX: 1, UX: 0, X: 1, W: 2, R: 4, DEVICE: 8, NORMAL_NC: 16 },
  "mainline": { PX: 1, UX: 2, X: 3, W: 4, R: 8, DEVICE: 16, NORMAL_NC: 32 },
} as const;

/** The `PAGE_HYP*` macros of a kernel version, from {@link KERNEL_PROT}. */
export function pageHyp(
  version: ModelVersion,
): Record<"PAGE_HYP" | "PAGE_HYP_EXEC" | "PAGE_HYP_RO" | "PAGE_HYP_DEVICE", number> {
  const k = KERNEL_PROT[version];
  return {
    PAGE_HYP: k.R | k.W,
    PAGE_HYP_EXEC: k.R | k.X,
    PAGE_HYP_RO: k.R,
    PAGE_HYP_DEVICE: k.R | k.W | k.DEVICE,
  };
}

/**
 * What `hyp_set_prot_attr` makes of a register value: the permissions of the
 * mapping as hyplab prot flags (R, W, X, DEVICE: what the MMU checks), or
 * -EINVAL. v5.13 reads the low 32 bits. Mainline without hVHE first clears UX
 * (80cbfd7174f3, "KVM: arm64: Honor UX/PX attributes for EL2 S1 mappings",
 * v7.0), so `prot & KVM_PGTABLE_PROT_X` is PX alone. All then refuse no R,
 * X with W and X with DEVICE, and ignore every other bit (6.12 and mainline
 * copy SW0..3 into the PTE, which the MMU does not read). Under hVHE
 * mainline keeps UX: X (PX|UX) in the W and DEVICE checks, but only PX
 * lets EL2 execute (the X flag returned).
 */
export function hypSetProtAttr(
  version: ModelVersion,
  value: bigint,
  hvhe = false,
): { prot: number } | { errno: number } {
  const k = KERNEL_PROT[version];
  let v = Number(value & 0xffn);
  if (version === "mainline" && !hvhe) v &= ~k.UX;
  const [r, w, x, d] = [(v & k.R) !== 0, (v & k.W) !== 0, (v & k.X) !== 0, (v & k.DEVICE) !== 0];
  if (!r || (x && w) || (x && d)) return { errno: ERRNO.EINVAL };
  const px = (v & k.PX) !== 0;
  return { prot: R | (w ? W : 0) | (px ? X : 0) | (d ? DEVICE : 0) };
}

/**
 * Whether EL2 can execute a mapping of hyplab prot `prot`: X; or, under
 * 6.12's hVHE, any mapping that is not writable (its non-executable leaves
 * carry only UXN, bit 54, and PXN governs EL2; SCTLR_EL2.WXN keeps the
 * writable ones from executing).
 */
export function executableAtEl2(version: ModelVersion, prot: number, hvhe: boolean): boolean {
  if ((prot & X) !== 0) return true;
  return hvhe && version === "v6.12" && (prot & W) === 0;
}

/** x1 for a negative errno. */
export const errno = (e: number): bigint => BigInt.asUintN(64, BigInt(e));

/** A value in x1 that is an ERR_PTR / negative errno (`IS_ERR_VALUE`). */
export function isErrValue(x1: bigint): boolean {
  return x1 >= U64 - 4095n;
}

/** What the state a failing hypercall must not change looks like, cheaply. */
export interface Snapshot {
  /** PhysicalMemory.generation when taken. */
  generation: number;
  /** PhysicalMemory.digest(). */
  memory: string;
  /** Backed pages. */
  resident: number;
  /** Every pool's free/free-by-order/pages/reserved. */
  pools: string;
  /** pkvm_pgtable maplets. */
  maplets: Maplet[];
  /** JSON of the maplets (for equality). */
  mapletsJson: string;
  /** pkvm_pgtable table pages. */
  tablePages: string;
  /** The host-built EL2 table's maplets (before free_hyp_pgds). */
  hostMaplets: string;
  /** Mappings the hyp recorded as asked for. */
  expected: number;
}

/**
 * Snapshots of the state, reusing the memory-derived parts while
 * PhysicalMemory.generation (bumped by every store) has not moved: the digest,
 * the backed pages and both tables' maplets and table pages are functions of
 * memory contents (the tables are walks from a fixed pgd), so an unchanged
 * generation means they are unchanged. Anything that writes memory, even the
 * same bytes, recomputes them.
 */
export class StateTracker {
  readonly #m: Machine;
  readonly #pkvm: PkvmBoot;
  #last: Snapshot | undefined;
  #lastKey = "";

  constructor(m: Machine, pkvm: PkvmBoot) {
    this.#m = m;
    this.#pkvm = pkvm;
  }

  /** Returns: the state now. */
  take(): Snapshot {
    const mem = this.#m.memory;
    const host = this.#pkvm.host;
    const hyp = host?.hyp;
    const pools: Record<string, unknown> = {};
    for (const [name, p] of hyp?.pools ?? []) {
      const s = p.stats();
      pools[name] = [s.free, s.freeBlocksByOrder, s.nrPages, s.reserved];
    }
    const key = `${mem.generation}:${hyp?.pgt?.pgd ?? "-"}:${host?.hostPgtFreed ?? "-"}`;
    const last = this.#last;
    let snap: Snapshot;
    if (last !== undefined && key === this.#lastKey) {
      snap = { ...last, pools: JSON.stringify(pools), expected: hyp?.expected.length ?? 0 };
    } else {
      const maplets = hyp?.pgt?.maplets() ?? [];
      snap = {
        generation: mem.generation,
        memory: mem.digest(),
        resident: mem.backedPfns().length,
        pools: JSON.stringify(pools),
        maplets,
        mapletsJson: JSON.stringify(maplets),
        tablePages: JSON.stringify(hyp?.pgt?.tablePages() ?? null),
        hostMaplets: JSON.stringify(
          host?.hostPgtFreed ? null : host?.hostPgt?.maplets() ?? null,
        ),
        expected: hyp?.expected.length ?? 0,
      };
    }
    this.#last = snap;
    this.#lastKey = key;
    return snap;
  }
}

/**
 * The parts of a snapshot that must be equal when nothing changed: memory,
 * pools and tables, and (unless `records` is false) the simulator's list of
 * mappings asked for, which a successful call that changes nothing (a v5.13
 * remap the kernel WARNs about and ignores) still adds to.
 */
export function comparable(s: Snapshot, records = true): Record<string, unknown> {
  const out: Record<string, unknown> = {
    memory: s.memory,
    resident: s.resident,
    pools: s.pools,
    maplets: s.mapletsJson,
    tablePages: s.tablePages,
    hostMaplets: s.hostMaplets,
  };
  if (records) out.expected = s.expected;
  return out;
}

/** The sub-ranges `[start, end)` of `[va, va + size)` no maplet covers. */
export function gaps(maplets: readonly Maplet[], va: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  const end = va + size;
  let lo = 0;
  let hi = maplets.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const m = maplets[mid]!;
    if (m.va + m.size <= va) lo = mid + 1;
    else hi = mid;
  }
  let cur = va;
  for (let i = lo; i < maplets.length && cur < end; i++) {
    const m = maplets[i]!;
    if (m.va >= end) break;
    if (m.va > cur) out.push([cur, m.va]);
    cur = Math.max(cur, m.va + m.size);
  }
  if (cur < end) out.push([cur, end]);
  return out;
}

/** One hypercall as the host issues it. */
export interface Call {
  /** Function id. */
  id: number;
  /** x1..x5. */
  args: bigint[];
  /** Issuing CPU. */
  cpu: number;
  /** How the generator built it (for messages). */
  how: string;
  /** The generator knows the target is already mapped exactly: success must change nothing. */
  remapExisting?: boolean;
}

/** What the kernel does with a call. */
export interface Expectation {
  /** x0. */
  x0: bigint;
  /** x1. */
  x1: bigint;
  /** `none`: every structure stays as it was; `may`: a success that may change state. */
  change: "none" | "may";
  /** A range the call maps: VA, PA of its first page, the permissions (hyplab prot flags). */
  maps?: { va: number; size: number; pa: number; prot: number };
  /** A fresh private range taken from __io_map_base (success or a map error). */
  privateRange?: [number, number];
  /** The size wrapped 2^64 and __io_map_base moved backwards (kernel behaviour). */
  wrapped?: boolean;
  /** x1 is a value the handler reads (a register), not 0, an errno or an address. */
  value?: boolean;
  /** Outcome label for coverage counts (`__pkvm_create_mappings:-EINVAL`). */
  label: string;
}

/** The hyp's memory regions and VA layout the model needs (from the boot report). */
export interface ModelInit {
  /** Kernel version. */
  version: ModelVersion;
  /** `ARM64_KVM_HVHE` (6.12 and 7.2 on a VHE CPU). */
  hvhe?: boolean;
  /** `hyp_memory[]`. */
  ram: { base: number; size: number }[];
  /** `__io_map_base` now. */
  ioMapBase: number;
  /** `__hyp_vmemmap`. */
  hypVmemmap: number;
  /** `hyp_va_bits`. */
  iaBits: number;
  /** `__pkvm_init` has completed. */
  initialised: boolean;
  /** 6.12 and mainline: kvm_protected_mode_initialized. */
  gate: boolean;
  /** 6.12 and mainline: CPUs whose params already have HCR_EL2.VM. */
  finalized: number[];
  /** MDCR_EL2 as head.S's `__init_el2_debug` left it: `__kvm_get_mdcr_el2`'s x1. */
  mdcrEl2: bigint;
  /** `__vgic_v3_get_gic_config`'s x1: bit 63 (GICv2-compatible interface) | ICH_VTR_EL2. */
  gicConfig: bigint;
}

const ERRNAME: Record<number, string> = {
  [ERRNO.EINVAL]: "-EINVAL",
  [ERRNO.ENOMEM]: "-ENOMEM",
  [ERRNO.ERANGE]: "-ERANGE",
  [ERRNO.EPERM]: "-EPERM",
};

/** The kernel's answer to each host hypercall, with its own copy of the hyp globals. */
export class HypercallModel {
  readonly version: ModelVersion;
  readonly hvhe: boolean;
  readonly ids: Readonly<Record<string, number>>;
  readonly names: Map<number, string>;
  readonly ram: { base: number; size: number }[];
  readonly hypVmemmap: number;
  readonly iaBits: number;
  /** `__io_map_base`. */
  ioMapBase: number;
  initialised: boolean;
  gate: boolean;
  finalized: Set<number>;
  readonly mdcrEl2: bigint;
  readonly gicConfig: bigint;

  constructor(init: ModelInit) {
    this.version = init.version;
    this.hvhe = init.hvhe ?? false;
    this.ids = hypercallIds(init.version);
    this.names = new Map(Object.entries(this.ids).map(([n, i]) => [i, n]));
    this.ram = init.ram;
    this.ioMapBase = init.ioMapBase;
    this.hypVmemmap = init.hypVmemmap;
    this.iaBits = init.iaBits;
    this.initialised = init.initialised;
    this.gate = init.gate;
    this.finalized = new Set(init.finalized);
    this.mdcrEl2 = init.mdcrEl2;
    this.gicConfig = init.gicConfig;
  }

  /** Handled ids: handle_host_hcall's table (ids the simulator does not model answer NOT_SUPPORTED). */
  #modelled(name: string | undefined): boolean {
    return name !== undefined && [
      "__pkvm_init",
      "__pkvm_create_mappings",
      "__pkvm_create_private_mapping",
      "__pkvm_cpu_set_vector",
      "__pkvm_prot_finalize",
      "__pkvm_mark_hyp",
      "__kvm_get_mdcr_el2",
      "__vgic_v3_get_gic_config",
      "__kvm_enable_ssbs",
    ].includes(name);
  }

  /**
   * The kernel's answer to `call` in the current state; updates the model.
   * @param call The call.
   * @returns The expectation.
   */
  step(call: Call): Expectation {
    const name = this.names.get(call.id);
    const a = (i: number) => call.args[i] ?? 0n;
    const unsupported = (why: string): Expectation => ({
      x0: NOT_SUPPORTED,
      // Only x0 is written on the inval path: x1 comes back as the host set it.
      x1: a(0),
      change: "none",
      label: `NOT_SUPPORTED:${why}`,
    });
    // handle_host_hcall (since v5.16, so 6.12 and mainline): once
    // kvm_protected_mode_initialized, ids below __pkvm_prot_finalize are refused.
    if (this.version !== "v5.13" && this.gate && call.id < this.ids.__pkvm_prot_finalize!) {
      return unsupported("gate");
    }
    // host_hcall[] has no __kvm_hyp_init slot: the init vector serves it.
    if (name === "__kvm_hyp_init") return unsupported("empty");
    if (!this.#modelled(name)) {
      return unsupported(name === undefined ? "unknown" : "unmodelled");
    }
    const ret = (
      label: string,
      x1: bigint,
      change: "none" | "may",
      extra: Partial<Expectation> = {},
    ): Expectation => ({ x0: 0n, x1, change, label: `${name}:${label}`, ...extra });
    const fail = (e: number) => ret(ERRNAME[e]!, errno(e), "none");
    switch (name) {
      case "__pkvm_init": {
        // __pkvm_init: PAGE_ALIGNED(phys) && PAGE_ALIGNED(size), else -EINVAL.
        if ((a(0) & 0xfffn) !== 0n || (a(1) & 0xfffn) !== 0n) return fail(ERRNO.EINVAL);
        // After a successful init the simulator's guard refuses a second one.
        if (this.initialised) return fail(ERRNO.EPERM);
        throw new Error("the property tests never issue an aligned __pkvm_init before boot");
      }
      case "__pkvm_create_mappings": {
        const attr = hypSetProtAttr(this.version, a(3) & 0xffff_ffffn, this.hvhe); // a 32-bit enum in v5.13
        if ("errno" in attr) return fail(attr.errno);
        const walk = this.#walkRange(a(0), a(1));
        if (walk === "erange") return fail(ERRNO.ERANGE);
        if (walk === null) return ret("0 (empty)", 0n, "none");
        return ret("0", 0n, "may", {
          maps: {
            va: walk[0],
            size: walk[1] - walk[0],
            pa: Number(a(2) & ~0xfffn),
            prot: attr.prot,
          },
        });
      }
      case "__pkvm_create_private_mapping": {
        const [phys, size] = [a(0), a(1)];
        const prot = this.version === "v5.13" ? a(2) & 0xffff_ffffn : a(2);
        const off = phys & 0xfffn;
        const sz = BigInt.asUintN(64, size + off + 0xfffn) & ~0xfffn;
        const base = BigInt(this.ioMapBase);
        // __pkvm_alloc_private_va_range (6.12, mainline): -EINVAL for a 0 start.
        if (this.version !== "v5.13" && base === 0n) return fail(ERRNO.EINVAL);
        const next = base + sz;
        if (next < U64 && next > BigInt(this.hypVmemmap)) return fail(ERRNO.ENOMEM);
        // __io_map_base += size, kept on a map error; a wrapped sum moves it back.
        const wrapped = next >= U64;
        this.ioMapBase = Number(next % U64);
        const range: [number, number] = [Number(base), Number(next % U64)];
        const attr = hypSetProtAttr(this.version, prot, this.hvhe);
        if ("errno" in attr) {
          return ret(
            ERRNAME[attr.errno]!,
            errno(attr.errno),
            "none",
            wrapped ? { wrapped } : { privateRange: range },
          );
        }
        // The walk over [base, base + sz): empty when sz is 0 or the end wrapped.
        const x1 = base + off;
        if (wrapped) return ret("address (wrapped)", x1, "none", { wrapped });
        if (sz === 0n) return ret("address (empty)", x1, "none", { privateRange: range });
        return ret("address", x1, "may", {
          privateRange: range,
          maps: {
            va: Number(base),
            size: Number(sz),
            pa: Number(phys & ~0xfffn),
            prot: attr.prot,
          },
        });
      }
      case "__pkvm_cpu_set_vector": {
        // DECLARE_REG(enum arm64_hyp_spectre_vector): the low 32 bits; slots 0..3.
        const slot = a(0) & 0xffff_ffffn;
        if (slot > 3n) return fail(ERRNO.EINVAL);
        return ret("0", 0n, "may");
      }
      // handle___kvm_get_mdcr_el2: cpu_reg(host_ctxt, 1) = read_sysreg(mdcr_el2).
      case "__kvm_get_mdcr_el2":
        return ret("mdcr", this.mdcrEl2, "none", { value: true });
      // handle___vgic_v3_get_gic_config: cpu_reg(host_ctxt, 1) = __vgic_v3_get_gic_config().
      case "__vgic_v3_get_gic_config":
        return ret("gic config", this.gicConfig, "none", { value: true });
      // handle___kvm_enable_ssbs sets SCTLR_EL2.DSSBS and writes no register back.
      case "__kvm_enable_ssbs":
        return ret("x1 kept", a(0), "none", { value: true });
      case "__pkvm_prot_finalize": {
        // v5.13 reloads the same values every time; 6.12 and mainline refuse
        // a CPU whose params already have HCR_EL2.VM.
        if (this.version !== "v5.13") {
          if (this.finalized.has(call.cpu)) return fail(ERRNO.EPERM);
          this.finalized.add(call.cpu);
        }
        return ret("0", 0n, "may");
      }
      case "__pkvm_mark_hyp": {
        // range_is_memory(start, end) with the v5.13.12 fix: start and end - 1
        // in the same hyp_memory[] region. Ownership only (no tables here).
        const [start, last] = [a(0), BigInt.asUintN(64, a(1) - 1n)];
        const ok = this.ram.some((r) => {
          const [lo, hi] = [BigInt(r.base), BigInt(r.base + r.size)];
          return start >= lo && start < hi && last >= lo && last < hi;
        });
        return ok ? ret("0", 0n, "none") : fail(ERRNO.EINVAL);
      }
    }
    throw new Error(`unreachable: ${name}`);
  }

  /**
   * kvm_pgtable_walk's range: `[ALIGN_DOWN(addr), PAGE_ALIGN(addr + size))`
   * in u64, -ERANGE past 2^ia_bits, null when empty (or the end wrapped).
   */
  #walkRange(addr: bigint, size: bigint): [number, number] | "erange" | null {
    const a = addr & ~0xfffn;
    const end = BigInt.asUintN(64, a + size + 0xfffn) & ~0xfffn;
    const limit = 1n << BigInt(this.iaBits);
    if (a > limit || end > limit) return "erange";
    if (end <= a) return null;
    return [Number(a), Number(end)];
  }
}

/**
 * Random prot in `version`'s own encoding: the four kernel values, the
 * forbidden mixes, values with no R (among them the other version's
 * PAGE_HYP*), mainline's UX alone (dropped without hVHE) and bits the kernel
 * ignores.
 */
export function genProt(p: Prng, version: ModelVersion): bigint {
  const k = KERNEL_PROT[version];
  const own = pageHyp(version);
  const other = pageHyp(version === "mainline" ? "v5.13" : "mainline");
  const { R: r, W: w, X: x, DEVICE: d } = k;
  const n = p.int(100);
  if (n < 45) {
    return BigInt(p.pick([own.PAGE_HYP, own.PAGE_HYP_RO, own.PAGE_HYP_EXEC, own.PAGE_HYP_DEVICE]));
  }
  if (n < 55) return BigInt(p.pick([r | w | x, w | x, r | x | d, x | d | w | r, r | w | k.PX]));
  if (n < 65) return BigInt(p.pick([0, w, x, d, w | d, x | w]));
  // The other numbering: v5.13's PAGE_HYP_EXEC (0x5) is PX|W in mainline, and
  // mainline's PAGE_HYP_EXEC (0xb) is X|W|DEVICE in v5.13 and 6.12.
  if (n < 72) {
    return BigInt(
      p.pick([other.PAGE_HYP, other.PAGE_HYP_RO, other.PAGE_HYP_EXEC, other.PAGE_HYP_DEVICE]),
    );
  }
  if (n < 78 && version === "mainline") {
    // UX without PX: no execute at EL2 without hVHE, and no W+X conflict.
    return BigInt(p.pick([r | k.UX, r | w | k.UX, r | d | k.UX, r | w | d | k.UX, w | k.UX]));
  }
  // Bits hyp_set_prot_attr does not look at: NORMAL_NC-like bits, high garbage.
  const valid = BigInt(p.pick([own.PAGE_HYP, own.PAGE_HYP_RO, own.PAGE_HYP_EXEC]));
  const ignored = version === "v5.13" ? [0x10, 0x20, 0x100] : [k.NORMAL_NC, 0x40, 0x100];
  if (n < 84) return valid | BigInt(p.pick([...ignored, 0x8000_0000]));
  if (n < 90) return valid | (1n << BigInt(p.range(33, 55)));
  return BigInt(p.nextU32()) | (BigInt(p.nextU32()) << 32n);
}

/** A random u64. */
export function genU64(p: Prng): bigint {
  return BigInt(p.nextU32()) | (BigInt(p.nextU32()) << 32n);
}

/** Random PA: RAM pages, unaligned RAM addresses, PMD-aligned RAM, beyond RAM (below 2^48). */
export function genPhys(p: Prng, ram: { base: number; size: number }): bigint {
  const r = p.int(100);
  const page = ram.base + p.int(ram.size / PAGE) * PAGE;
  if (r < 45) return BigInt(page);
  if (r < 65) return BigInt(page + p.range(1, PAGE));
  if (r < 80) return BigInt(ram.base + p.int(ram.size / PMD) * PMD);
  // Outside RAM: below it, just past it, or far up (an MMIO-like address).
  const out = p.pick([
    p.int(ram.base / PAGE) * PAGE,
    ram.base + ram.size + p.int(1024) * PAGE,
    0x10_0000_0000 + p.int(2 ** 20) * PAGE,
    2 ** 47 + p.int(2 ** 20) * PAGE + p.int(PAGE),
  ]);
  return BigInt(out);
}

/**
 * Random size: zero, small unaligned, page multiples, sizes past 2^ia_bits
 * (but not wrapping), and sizes that wrap 2^64 when the offset and page
 * rounding are added.
 */
export function genSize(p: Prng): bigint {
  const r = p.int(100);
  if (r < 10) return 0n;
  if (r < 35) return BigInt(p.range(1, 4 * PAGE));
  if (r < 65) return BigInt(p.range(1, 17) * PAGE);
  if (r < 75) return BigInt(p.range(17, 257) * PAGE + p.pick([0, p.int(PAGE)]));
  if (r < 87) return (1n << BigInt(p.range(48, 63))) + BigInt(p.int(2 ** 30));
  return U64 - BigInt(p.int(8) * PAGE + p.int(PAGE)) - 1n;
}
