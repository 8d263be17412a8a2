/**
 * The observation: what the oracle saw when a real kernel booted in pKVM
 * protected mode under QEMU. `inputs` holds what a prediction may use (the
 * machine, the memblock state when `kvm_hyp_reserve()` ran, kernel-image
 * symbols, host facts read from kernel memory); `observed` holds what it is
 * asked to predict (the mode, the pool, the EL2 registers, the EL2 stage-1
 * tables and, in recordings that have it, the host stage-2's geometry and
 * the ownership annotations the hypervisor wrote in it). Every address and
 * 64-bit value is a lowercase `0x` hex string.
 *
 * @module
 */

import { CPU_MODEL_NAMES, type CpuModelName } from "../../core/mod.ts";
import { OracleError } from "./errors.ts";

/**
 * The EL2 registers every observation records, in this order: the first
 * oracle's seven.
 */
export const REQUIRED_SYSREGS = [
  "TTBR0_EL2",
  "TCR_EL2",
  "SCTLR_EL2",
  "MAIR_EL2",
  "HCR_EL2",
  "VTCR_EL2",
  "VTTBR_EL2",
] as const;
/** One of {@link REQUIRED_SYSREGS}. */
export type RequiredSysreg = typeof REQUIRED_SYSREGS[number];

/**
 * The EL2 registers later recordings add, in this order. An observation
 * has all of them or none (older recordings); a register an observation
 * lacks is not compared. Each has one value per CPU once pKVM is
 * finalised, which the boot decides:
 *
 * - VBAR_EL2: `__kvm_hyp_host_vector` (`___kvm_hyp_init`); the Spectre slot
 *   a CPU selects only reaches VBAR_EL2 while a guest runs, so it is
 *   observed separately (`kvm_hyp_vector`);
 * - TPIDR_EL2: the CPU's hyp per-CPU offset (`kvm_nvhe_init_params`);
 * - MDCR_EL2: `__init_el2_debug` (head.S), which `__kvm_get_mdcr_el2` reads;
 * - CPTR_EL2: `__init_el2_cptr` and `finalise_el2_state` (head.S), replayed
 *   in CPACR_EL1's layout by `___kvm_hyp_init` under hVHE;
 * - CNTHCTL_EL2: `__init_el2_timers`, likewise;
 * - VPIDR_EL2, VMPIDR_EL2: `__init_el2_nvhe_idregs` (MIDR_EL1, MPIDR_EL1).
 *
 * Not observed, because no model could know them: ESR_EL2, ELR_EL2,
 * SPSR_EL2, FAR_EL2 and HPFAR_EL2 describe the last exception taken to EL2
 * (a host stage-2 fault or hypercall at some moment of the boot), SP_EL2
 * where the CPU was stopped, and the EL2 timer registers (CNTHP_*, CNTHV_*)
 * a moment of the counter.
 */
export const EXTRA_SYSREGS = [
  "VBAR_EL2",
  "TPIDR_EL2",
  "MDCR_EL2",
  "CPTR_EL2",
  "CNTHCTL_EL2",
  "VPIDR_EL2",
  "VMPIDR_EL2",
] as const;
/** One of {@link EXTRA_SYSREGS}. */
export type ExtraSysreg = typeof EXTRA_SYSREGS[number];

/** Every EL2 register an observation may record, in this order. */
export const OBSERVED_SYSREGS = [...REQUIRED_SYSREGS, ...EXTRA_SYSREGS] as const;
/** One of {@link OBSERVED_SYSREGS}. */
export type ObservedSysreg = typeof OBSERVED_SYSREGS[number];

/**
 * One CPU's EL2 registers: the {@link REQUIRED_SYSREGS} always, the
 * {@link EXTRA_SYSREGS} in recordings that have them.
 */
export type ObservedSysregs = Record<RequiredSysreg, string> & Partial<Record<ExtraSysreg, string>>;

/** A half-open range as hex strings. */
export interface HexRange {
  /** First byte. */
  base: string;
  /** Bytes. */
  size: string;
}

/** A memblock memory region; `flags` only when non-zero (e.g. 0x4 MEMBLOCK_NOMAP). */
export interface HexMemoryRegion extends HexRange {
  /** memblock region flags. */
  flags?: number;
}

/** One merged run of EL2 stage-1 leaves. */
export interface HexMapping {
  /** First VA. */
  va: string;
  /** First PA. */
  pa: string;
  /** Bytes. */
  size: string;
  /** Leaf descriptor with its output-address bits cleared. */
  attr: string;
}

/** One run of equal invalid non-zero host stage-2 entries (an owner annotation). */
export interface HexAnnotation {
  /** First IPA. */
  ipa: string;
  /** Bytes. */
  size: string;
  /** The invalid descriptor, as the release encodes the owner. */
  desc: string;
}

/** The host stage-2 as far as the boot decides it (`observed.host_s2`). */
export interface ObservedHostStage2 {
  /** 64 − VTCR_EL2.T0SZ. */
  ia_bits: number;
  /** Start level (VTCR_EL2.SL0, SL2). */
  start_level: number;
  /** PA of the first (concatenated) root page, from VTTBR_EL2. */
  pgd: string;
  /** Concatenated root pages. */
  pgd_pages: number;
  /** The hypervisor's owner annotations, merged into runs, by IPA. */
  annotations: HexAnnotation[];
}

/** One observation. */
export interface Observation {
  /** Where it came from. */
  provenance: {
    /** Image package and version, e.g. `linux-image-6.1.0-50-arm64-unsigned 6.1.176-1`. */
    kernel_package: string;
    /** System.map package and version (the `-dbg` package), or the path given. */
    system_map_package: string;
    /** `uname -r` of the kernel, e.g. `6.1.0-50-arm64`. */
    kernel_release: string;
    /** First line of `qemu-system-aarch64 --version`. */
    qemu: string;
    /** The exact QEMU command line. */
    cmdline: string;
    /** Date recorded, YYYY-MM-DD. */
    recorded: string;
  };
  /** What a prediction may use. */
  inputs: {
    /** hyplab profile, e.g. `v6.1`. */
    profile: string;
    /** The QEMU machine. */
    machine: { cpu: CpuModelName; ram: HexRange[]; cpus: number };
    /** memblock when `kvm_hyp_reserve()` allocated. */
    memblock: { memory: HexMemoryRegion[]; reserved: HexRange[] };
    /** Kernel-image symbols from System.map. */
    symbols: Record<string, string>;
    /** Host facts read from kernel memory (arrays for per-CPU values). */
    host: Record<string, string | string[]>;
  };
  /** What a prediction is asked to reproduce. */
  observed: {
    /** pKVM mode. */
    mode: "nVHE" | "hVHE";
    /** The hyp pool (`hyp_mem_base`, `hyp_mem_size`) and the memblock request for it. */
    reserve: { base: string; size: string; request: { size: string; align: string } };
    /** CPU 0's EL2 registers. */
    sysregs: ObservedSysregs;
    /**
     * Every CPU's EL2 registers (the same set as `sysregs`), only when some
     * CPU differs from CPU 0.
     */
    sysregs_per_cpu?: ObservedSysregs[];
    /** The EL2 stage-1 tables from TTBR0_EL2. */
    el2: { va_bits: number; start_level: number; table_pages: number; mappings: HexMapping[] };
    /**
     * The host stage-2 from VTTBR_EL2 (recordings from the oracle that walks
     * it; absent in older ones).
     */
    host_s2?: ObservedHostStage2;
    /**
     * Each CPU's hyp per-CPU `kvm_hyp_vector`: the vectors
     * `__pkvm_cpu_set_vector` selected for the CPU's Spectre slot
     * (`__kvm_hyp_vector`, `__bp_harden_hyp_vecs` or the slot in
     * `__hyp_bp_vect_base`), a hyp VA. Absent in older recordings.
     */
    kvm_hyp_vector?: string[];
  };
}

class Checker {
  constructor(readonly file: string) {}
  fail(path: string, msg: string): never {
    throw new OracleError(`${this.file}: ${path ? `${path}: ` : ""}${msg}`);
  }
  show(v: unknown): string {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 40 ? s.slice(0, 40) + "..." : s;
  }
  object(v: unknown, path: string, keys: readonly string[], optional: readonly string[] = []) {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.fail(path, `expected an object, got ${this.show(v)}`);
    }
    const o = v as Record<string, unknown>;
    for (const k of keys) if (!(k in o)) this.fail(path ? `${path}.${k}` : k, "missing");
    for (const k of Object.keys(o)) {
      if (!keys.includes(k) && !optional.includes(k)) {
        this.fail(path ? `${path}.${k}` : k, "unknown key");
      }
    }
    return o;
  }
  map(v: unknown, path: string): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.fail(path, `expected an object, got ${this.show(v)}`);
    }
    return v as Record<string, unknown>;
  }
  array(v: unknown, path: string, min = 0): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `expected an array, got ${this.show(v)}`);
    if (v.length < min) this.fail(path, `expected at least ${min} entries`);
    return v;
  }
  string(v: unknown, path: string, re?: RegExp, what?: string): string {
    if (typeof v !== "string" || v.length === 0 || (re && !re.test(v))) {
      this.fail(path, `expected ${what ?? "a non-empty string"}, got ${this.show(v)}`);
    }
    return v;
  }
  hex(v: unknown, path: string): string {
    return this.string(v, path, /^0x(0|[1-9a-f][0-9a-f]*)$/, "a lowercase 0x hex string");
  }
  int(v: unknown, path: string, lo: number, hi: number): number {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < lo || v > hi) {
      this.fail(path, `expected an integer ${lo}..${hi}, got ${this.show(v)}`);
    }
    return v;
  }
  range(v: unknown, path: string, extra: readonly string[] = []): HexRange {
    const o = this.object(v, path, ["base", "size"], extra);
    const r = { base: this.hex(o.base, `${path}.base`), size: this.hex(o.size, `${path}.size`) };
    if (BigInt(r.size) === 0n) this.fail(`${path}.size`, "expected a non-zero size");
    return r;
  }
  sortedRanges(list: { base: string; size: string }[], path: string, what = "base"): void {
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1]!;
      if (BigInt(a.base) + BigInt(a.size) > BigInt(list[i]!.base)) {
        this.fail(`${path}[${i}]`, `not sorted by ${what} or overlaps the previous entry`);
      }
    }
  }
  /**
   * One CPU's registers: the required ones, and the extra ones all or none
   * (`like`: exactly the set of CPU 0's).
   */
  sysregs(v: unknown, path: string, like?: ObservedSysregs): ObservedSysregs {
    const o = this.object(v, path, REQUIRED_SYSREGS, EXTRA_SYSREGS);
    const out = {} as ObservedSysregs;
    for (const r of REQUIRED_SYSREGS) out[r] = this.hex(o[r], `${path}.${r}`);
    const want = like === undefined
      ? EXTRA_SYSREGS.some((r) => r in o)
      : EXTRA_SYSREGS.some((r) => r in like);
    for (const r of EXTRA_SYSREGS) {
      if (!(r in o)) {
        if (want) {
          this.fail(
            `${path}.${r}`,
            like === undefined
              ? `missing (a recording has every one of ${EXTRA_SYSREGS.join(", ")} or none)`
              : "missing (observed.sysregs has it)",
          );
        }
        continue;
      }
      if (!want) this.fail(`${path}.${r}`, "not in observed.sysregs");
      out[r] = this.hex(o[r], `${path}.${r}`);
    }
    return out;
  }
}

/**
 * Parses and validates an observation, naming the culprit of any problem as
 * `file: path.to.field: expected ..., got ...`.
 *
 * @param text JSON text.
 * @param path File name for messages.
 * @returns The observation, in canonical key order.
 * @throws {OracleError} On invalid JSON or any invalid field.
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { parseObservation } from "./observation.ts";
 * assertThrows(() => parseObservation("{}", "obs.json"), Error, "obs.json: provenance: missing");
 * ```
 */
export function parseObservation(text: string, path: string): Observation {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new OracleError(`${path}: not JSON: ${(e as Error).message}`);
  }
  const c = new Checker(path);
  const top = c.object(json, "", ["provenance", "inputs", "observed"]);

  const pv = c.object(top.provenance, "provenance", [
    "kernel_package",
    "system_map_package",
    "kernel_release",
    "qemu",
    "cmdline",
    "recorded",
  ]);
  const provenance = {
    kernel_package: c.string(pv.kernel_package, "provenance.kernel_package"),
    system_map_package: c.string(pv.system_map_package, "provenance.system_map_package"),
    kernel_release: c.string(pv.kernel_release, "provenance.kernel_release"),
    qemu: c.string(pv.qemu, "provenance.qemu"),
    cmdline: c.string(pv.cmdline, "provenance.cmdline"),
    recorded: c.string(pv.recorded, "provenance.recorded", /^\d{4}-\d{2}-\d{2}$/, "YYYY-MM-DD"),
  };

  const inp = c.object(top.inputs, "inputs", ["profile", "machine", "memblock", "symbols", "host"]);
  const mach = c.object(inp.machine, "inputs.machine", ["cpu", "ram", "cpus"]);
  const cpu = c.string(mach.cpu, "inputs.machine.cpu");
  if (!(CPU_MODEL_NAMES as readonly string[]).includes(cpu)) {
    c.fail("inputs.machine.cpu", `expected one of ${CPU_MODEL_NAMES.join(", ")}, got "${cpu}"`);
  }
  const ram = c.array(mach.ram, "inputs.machine.ram", 1).map((r, i) =>
    c.range(r, `inputs.machine.ram[${i}]`)
  );
  c.sortedRanges(ram, "inputs.machine.ram");
  const mb = c.object(inp.memblock, "inputs.memblock", ["memory", "reserved"]);
  const memory = c.array(mb.memory, "inputs.memblock.memory", 1).map((r, i) => {
    const p = `inputs.memblock.memory[${i}]`;
    const out: HexMemoryRegion = c.range(r, p, ["flags"]);
    const f = (r as Record<string, unknown>).flags;
    if (f !== undefined) out.flags = c.int(f, `${p}.flags`, 1, 0xffff_ffff);
    return out;
  });
  c.sortedRanges(memory, "inputs.memblock.memory");
  const reserved = c.array(mb.reserved, "inputs.memblock.reserved").map((r, i) =>
    c.range(r, `inputs.memblock.reserved[${i}]`)
  );
  c.sortedRanges(reserved, "inputs.memblock.reserved");
  const symbols: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.map(inp.symbols, "inputs.symbols"))) {
    symbols[k] = c.hex(v, `inputs.symbols.${k}`);
  }
  const host: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(c.map(inp.host, "inputs.host"))) {
    host[k] = Array.isArray(v)
      ? v.map((x, i) => c.hex(x, `inputs.host.${k}[${i}]`))
      : c.hex(v, `inputs.host.${k}`);
  }
  const inputs = {
    profile: c.string(inp.profile, "inputs.profile"),
    machine: {
      cpu: cpu as CpuModelName,
      ram,
      cpus: c.int(mach.cpus, "inputs.machine.cpus", 1, 8),
    },
    memblock: { memory, reserved },
    symbols,
    host,
  };

  const obs = c.object(top.observed, "observed", ["mode", "reserve", "sysregs", "el2"], [
    "sysregs_per_cpu",
    "host_s2",
    "kvm_hyp_vector",
  ]);
  const mode = c.string(obs.mode, "observed.mode");
  if (mode !== "nVHE" && mode !== "hVHE") {
    c.fail("observed.mode", `expected "nVHE" or "hVHE", got "${mode}"`);
  }
  const res = c.object(obs.reserve, "observed.reserve", ["base", "size", "request"]);
  const req = c.object(res.request, "observed.reserve.request", ["size", "align"]);
  const el2 = c.object(obs.el2, "observed.el2", [
    "va_bits",
    "start_level",
    "table_pages",
    "mappings",
  ]);
  const mappings = c.array(el2.mappings, "observed.el2.mappings").map((m, i) => {
    const p = `observed.el2.mappings[${i}]`;
    const o = c.object(m, p, ["va", "pa", "size", "attr"]);
    return {
      va: c.hex(o.va, `${p}.va`),
      pa: c.hex(o.pa, `${p}.pa`),
      size: c.hex(o.size, `${p}.size`),
      attr: c.hex(o.attr, `${p}.attr`),
    };
  });
  c.sortedRanges(
    mappings.map((m) => ({ base: m.va, size: m.size })),
    "observed.el2.mappings",
    "va",
  );
  const observed: Observation["observed"] = {
    mode: mode as "nVHE" | "hVHE",
    reserve: {
      base: c.hex(res.base, "observed.reserve.base"),
      size: c.hex(res.size, "observed.reserve.size"),
      request: {
        size: c.hex(req.size, "observed.reserve.request.size"),
        align: c.hex(req.align, "observed.reserve.request.align"),
      },
    },
    sysregs: c.sysregs(obs.sysregs, "observed.sysregs"),
    el2: {
      va_bits: c.int(el2.va_bits, "observed.el2.va_bits", 25, 52),
      start_level: c.int(el2.start_level, "observed.el2.start_level", -1, 3),
      table_pages: c.int(el2.table_pages, "observed.el2.table_pages", 1, 2 ** 31),
      mappings,
    },
  };
  if (obs.host_s2 !== undefined) {
    const p = "observed.host_s2";
    const h = c.object(obs.host_s2, p, [
      "ia_bits",
      "start_level",
      "pgd",
      "pgd_pages",
      "annotations",
    ]);
    const annotations = c.array(h.annotations, `${p}.annotations`).map((a, i) => {
      const q = `${p}.annotations[${i}]`;
      const o = c.object(a, q, ["ipa", "size", "desc"]);
      return {
        ipa: c.hex(o.ipa, `${q}.ipa`),
        size: c.hex(o.size, `${q}.size`),
        desc: c.hex(o.desc, `${q}.desc`),
      };
    });
    c.sortedRanges(
      annotations.map((a) => ({ base: a.ipa, size: a.size })),
      `${p}.annotations`,
      "ipa",
    );
    observed.host_s2 = {
      ia_bits: c.int(h.ia_bits, `${p}.ia_bits`, 25, 52),
      start_level: c.int(h.start_level, `${p}.start_level`, -1, 3),
      pgd: c.hex(h.pgd, `${p}.pgd`),
      pgd_pages: c.int(h.pgd_pages, `${p}.pgd_pages`, 1, 16),
      annotations,
    };
  }
  if (obs.sysregs_per_cpu !== undefined) {
    const p = "observed.sysregs_per_cpu";
    const list = c.array(obs.sysregs_per_cpu, p, 1);
    if (list.length !== inputs.machine.cpus) {
      c.fail(
        p,
        `expected ${inputs.machine.cpus} entries (inputs.machine.cpus), got ${list.length}`,
      );
    }
    observed.sysregs_per_cpu = list.map((r, i) => c.sysregs(r, `${p}[${i}]`, observed.sysregs));
  }
  if (obs.kvm_hyp_vector !== undefined) {
    const p = "observed.kvm_hyp_vector";
    const list = c.array(obs.kvm_hyp_vector, p, 1);
    if (list.length !== inputs.machine.cpus) {
      c.fail(
        p,
        `expected ${inputs.machine.cpus} entries (inputs.machine.cpus), got ${list.length}`,
      );
    }
    observed.kvm_hyp_vector = list.map((v, i) => c.hex(v, `${p}[${i}]`));
  }
  return { provenance, inputs, observed };
}

/**
 * Formats an observation as 2-space JSON in canonical key order (the order
 * of {@link Observation}'s members; open maps keep their insertion order),
 * with a trailing newline.
 *
 * @param obs The observation.
 * @returns The text.
 * @example
 * ```ts ignore
 * import { formatObservation, parseObservation } from "./observation.ts";
 * const text = formatObservation(parseObservation(Deno.readTextFileSync("obs.json"), "obs.json"));
 * ```
 */
export function formatObservation(obs: Observation): string {
  const o = obs;
  const canonical = {
    provenance: {
      kernel_package: o.provenance.kernel_package,
      system_map_package: o.provenance.system_map_package,
      kernel_release: o.provenance.kernel_release,
      qemu: o.provenance.qemu,
      cmdline: o.provenance.cmdline,
      recorded: o.provenance.recorded,
    },
    inputs: {
      profile: o.inputs.profile,
      machine: {
        cpu: o.inputs.machine.cpu,
        ram: o.inputs.machine.ram.map((r) => ({ base: r.base, size: r.size })),
        cpus: o.inputs.machine.cpus,
      },
      memblock: {
        memory: o.inputs.memblock.memory.map((r) =>
          r.flags ? { base: r.base, size: r.size, flags: r.flags } : { base: r.base, size: r.size }
        ),
        reserved: o.inputs.memblock.reserved.map((r) => ({ base: r.base, size: r.size })),
      },
      symbols: o.inputs.symbols,
      host: o.inputs.host,
    },
    observed: {
      mode: o.observed.mode,
      reserve: {
        base: o.observed.reserve.base,
        size: o.observed.reserve.size,
        request: {
          size: o.observed.reserve.request.size,
          align: o.observed.reserve.request.align,
        },
      },
      sysregs: sysregsInOrder(o.observed.sysregs),
      ...(o.observed.sysregs_per_cpu
        ? { sysregs_per_cpu: o.observed.sysregs_per_cpu.map(sysregsInOrder) }
        : {}),
      el2: {
        va_bits: o.observed.el2.va_bits,
        start_level: o.observed.el2.start_level,
        table_pages: o.observed.el2.table_pages,
        mappings: o.observed.el2.mappings.map((m) => ({
          va: m.va,
          pa: m.pa,
          size: m.size,
          attr: m.attr,
        })),
      },
      ...(o.observed.host_s2
        ? {
          host_s2: {
            ia_bits: o.observed.host_s2.ia_bits,
            start_level: o.observed.host_s2.start_level,
            pgd: o.observed.host_s2.pgd,
            pgd_pages: o.observed.host_s2.pgd_pages,
            annotations: o.observed.host_s2.annotations.map((a) => ({
              ipa: a.ipa,
              size: a.size,
              desc: a.desc,
            })),
          },
        }
        : {}),
      ...(o.observed.kvm_hyp_vector ? { kvm_hyp_vector: [...o.observed.kvm_hyp_vector] } : {}),
    },
  };
  return JSON.stringify(canonical, null, 2) + "\n";
}

function sysregsInOrder(r: ObservedSysregs): ObservedSysregs {
  const out = {} as Record<ObservedSysreg, string>;
  for (const k of OBSERVED_SYSREGS) if (r[k] !== undefined) out[k] = r[k];
  return out;
}
