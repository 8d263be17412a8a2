/**
 * Host facts read from kernel memory at System.map addresses, from declared
 * lists the lead extends per release: the values a prediction needs that the
 * host computed (`kimage_voffset`, the hyp VA tag, per-CPU pages the host
 * allocated for the hypervisor), and the kernel-image symbol addresses.
 *
 * Reads go through the gdb stub in virtual mode with a CPU halted at EL1,
 * so a kernel VA means what it means to the kernel.
 *
 * @module
 */

import { hex } from "../../core/mod.ts";
import { IMAGE_SYMBOL_SOURCES, PERCPU_SYMBOL_SOURCES } from "../pkvm/mod.ts";
import { OracleError } from "./errors.ts";
import type { SystemMap } from "./system_map.ts";

/** How a host fact is laid out in memory. */
export type HostFactKind = "u64" | "u8" | "u32" | "u64[cpus]" | "percpu-u64" | "hyp-percpu-u64";

/** One fact to read. */
export interface HostFactSpec {
  /** Key in `inputs.host` (or in the observed reserve facts). */
  name: string;
  /**
   * System.map symbol (a kernel VA), or alternatives of which the first
   * present is used (a symbol renamed between releases).
   */
  symbol: string | readonly string[];
  /**
   * `u64`/`u32`/`u8`: one value; `u64[cpus]`: an array indexed by CPU;
   * `percpu-u64`: a `DEFINE_PER_CPU` variable, the value at
   * symbol + `__per_cpu_offset[cpu]` for each CPU; `hyp-percpu-u64`: a
   * field of a hypervisor per-CPU variable (`DEFINE_PER_CPU` in the nVHE
   * object), as the host reaches it with `per_cpu_ptr_nvhe_sym()`: in CPU
   * i's copy at `kvm_arm_hyp_percpu_base[i]` (a fact read before), at the
   * symbol's offset from the nVHE `__per_cpu_start`, plus {@link
   * HostFactSpec.field}'s byte offset. Those pages belong to the hypervisor
   * once pKVM is up (the host's stage 2 no longer maps them), so they are
   * read at their PA, through the linear map's `__pa()`.
   */
  kind: HostFactKind;
  /** Skip silently when the release's System.map lacks the symbol. */
  optional?: boolean;
  /**
   * `hyp-percpu-u64`: the struct field, by a name the caller's
   * {@link HostFactEnv.fields} gives an offset for (from the release's
   * DWARF); without one the fact is skipped. No field: the variable itself.
   */
  field?: string;
}

/** What per-release facts the reader needs besides System.map. */
export interface HostFactEnv {
  /** Byte offsets of struct fields, by {@link HostFactSpec.field} name. */
  fields?: Readonly<Record<string, number>>;
  /** `PAGE_OFFSET` of the build (`-(1 << CONFIG_ARM64_VA_BITS)`), for `__pa()`. */
  pageOffset?: bigint;
  /**
   * Facts read by an earlier call (`kvm_arm_hyp_percpu_base`,
   * `memstart_addr`), for `hyp-percpu-u64` facts read apart from them.
   */
  known?: Readonly<Record<string, string | string[]>>;
}

/**
 * The host facts recorded under `inputs.host`, with the symbol names of
 * v6.1..v7.2. `kvm_arm_hyp_stack_page` (one page per CPU, v6.1) became
 * `kvm_arm_hyp_stack_base` (an `NVHE_STACK_SIZE` stack, v6.12+): each is
 * optional, and a release has one of them.
 */
export const HOST_FACTS: readonly HostFactSpec[] = [
  { name: "kimage_voffset", symbol: "kimage_voffset", kind: "u64" },
  { name: "memstart_addr", symbol: "memstart_addr", kind: "u64" },
  { name: "tag_val", symbol: "tag_val", kind: "u64" },
  { name: "tag_lsb", symbol: "tag_lsb", kind: "u8" },
  { name: "va_mask", symbol: "va_mask", kind: "u64" },
  { name: "__per_cpu_offset", symbol: "__per_cpu_offset", kind: "u64[cpus]" },
  {
    name: "kvm_arm_hyp_percpu_base",
    symbol: ["kvm_arm_hyp_percpu_base", "__kvm_nvhe_kvm_arm_hyp_percpu_base"],
    kind: "u64[cpus]",
  },
  {
    name: "kvm_arm_hyp_stack_page",
    symbol: "kvm_arm_hyp_stack_page",
    kind: "percpu-u64",
    optional: true,
  },
  {
    name: "kvm_arm_hyp_stack_base",
    symbol: "kvm_arm_hyp_stack_base",
    kind: "percpu-u64",
    optional: true,
  },
  // 6.12+: the host's SVE state buffer per CPU (init_pkvm_host_sve_state(),
  // arm.c), which the hypervisor maps; after finalize_init_hyp_mode() a hyp
  // VA. NULL without SVE.
  {
    name: "sve_state",
    symbol: "__kvm_nvhe_kvm_host_data",
    kind: "hyp-percpu-u64",
    field: "kvm_host_data.sve_state",
    optional: true,
  },
];

/**
 * Facts read the same way that are OBSERVED, not inputs: the pool
 * `kvm_hyp_reserve()` chose (`hyp_mem_base`) and its unaligned size
 * (`hyp_mem_size`). They go to `observed.reserve`.
 */
export const RESERVE_FACTS: readonly HostFactSpec[] = [
  { name: "hyp_mem_base", symbol: "hyp_mem_base", kind: "u64" },
  { name: "hyp_mem_size", symbol: "hyp_mem_size", kind: "u64" },
];

/**
 * Hypervisor state read the same way that is OBSERVED: each CPU's
 * `kvm_hyp_vector` (nvhe/switch.c), the vectors `__pkvm_cpu_set_vector`
 * chose for the CPU's Spectre slot. Read with {@link HostFactEnv.known}
 * holding the {@link HOST_FACTS}. It goes to `observed.kvm_hyp_vector`.
 */
export const HYP_STATE_FACTS: readonly HostFactSpec[] = [
  { name: "kvm_hyp_vector", symbol: "__kvm_nvhe_kvm_hyp_vector", kind: "hyp-percpu-u64" },
];

/**
 * Kernel-image symbols recorded under `inputs.symbols` when the System.map
 * has them (the hyp sections' bounds, the vectors, the per-CPU templates).
 */
export const IMAGE_SYMBOLS: readonly string[] = [
  ...new Set([
    // Every System.map name the prediction's image may take a symbol from.
    ...Object.values(IMAGE_SYMBOL_SOURCES).flat(),
    ...Object.values(PERCPU_SYMBOL_SOURCES),
    "__per_cpu_start",
    "__per_cpu_end",
    "__hyp_reloc_begin",
    "__hyp_reloc_end",
  ]),
];

/**
 * The addresses of the listed symbols that the map has, as hex strings, in
 * list order.
 *
 * @param map The System.map.
 * @param names Symbol names.
 * @returns Name → `0x` address.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseSystemMap } from "./system_map.ts";
 * import { imageSymbols } from "./host_facts.ts";
 * const m = parseSystemMap("ffff800008000000 T _text\n", "map");
 * assertEquals(imageSymbols(m, ["_text", "_etext"]), { _text: "0xffff800008000000" });
 * ```
 */
export function imageSymbols(map: SystemMap, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const a = map.address(n);
    if (a !== undefined) out[n] = hex(a);
  }
  return out;
}

/**
 * Kernel memory as the gdb stub shows it: virtual reads through a CPU at EL1
 * and, optionally, physical reads.
 */
export interface KernelMemory {
  /** Reads `length` bytes at a kernel VA. */
  readVirtual(va: bigint, length: number): Promise<Uint8Array>;
  /**
   * Reads `length` bytes at a PA. Used for kernel-image addresses the host
   * can no longer read: pKVM gives the hyp sections to the hypervisor and
   * unmaps them from the host's stage 2 (`__pkvm_init`), and QEMU's debug
   * access applies stage 2. In v7.2 `kvm_arm_hyp_percpu_base` lives there
   * (`.hyp.rodata`).
   */
  readPhysical?(pa: bigint, length: number): Promise<Uint8Array>;
}

function resolve(map: SystemMap, spec: HostFactSpec): { symbol: string; va: bigint } | null {
  const names = typeof spec.symbol === "string" ? [spec.symbol] : spec.symbol;
  for (const s of names) {
    const va = map.address(s);
    if (va !== undefined) return { symbol: s, va };
  }
  if (spec.optional) return null;
  throw new OracleError(
    `${map.source}: no symbol ${names.join(" or ")} (host fact ${spec.name} is not optional)`,
  );
}

function le(bytes: Uint8Array, off: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[off + i]!);
  return v;
}

/**
 * Reads the listed facts.
 *
 * @param specs What to read.
 * @param map System.map of the running kernel.
 * @param mem Kernel memory (virtual reads, and physical ones for image
 *   addresses the host lost to the hypervisor).
 * @param cpus Number of CPUs (length of the per-CPU arrays).
 * @param env Struct field offsets and `PAGE_OFFSET` for `hyp-percpu-u64`.
 * @returns Name → hex string, or an array of them for per-CPU kinds.
 * @throws {OracleError} When a required symbol is missing or a read fails.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseSystemMap } from "./system_map.ts";
 * import { readHostFacts } from "./host_facts.ts";
 * const map = parseSystemMap("ffff800000001000 D tag_lsb\n", "map");
 * const mem = { readVirtual: (_va: bigint, n: number) => Promise.resolve(new Uint8Array(n).fill(0x2f)) };
 * const facts = await readHostFacts([{ name: "tag_lsb", symbol: "tag_lsb", kind: "u8" }], map, mem, 1);
 * assertEquals(facts, { tag_lsb: "0x2f" });
 * ```
 */
export async function readHostFacts(
  specs: readonly HostFactSpec[],
  map: SystemMap,
  mem: KernelMemory,
  cpus: number,
  env: HostFactEnv = {},
): Promise<Record<string, string | string[]>> {
  const out: Record<string, string | string[]> = {};
  let offsets: bigint[] | null = null;
  let voffset: bigint | null = null;
  const text = map.address("_text");
  const end = map.address("_end");
  // An image address the host cannot read any more is read at its PA,
  // __kimg_to_phys(va) = va - kimage_voffset (arch/arm64/include/asm/memory.h).
  const read = async (va: bigint, n: number): Promise<Uint8Array> => {
    try {
      return await mem.readVirtual(va, n);
    } catch (e) {
      const inImage = text !== undefined && end !== undefined && va >= text &&
        va + BigInt(n) <= end;
      if (!mem.readPhysical || !inImage || !(e instanceof OracleError)) throw e;
      if (voffset === null) {
        voffset = le(await mem.readVirtual(map.require("kimage_voffset"), 8), 0, 8);
      }
      return await mem.readPhysical((va - voffset) & 0xffff_ffff_ffff_ffffn, n);
    }
  };
  for (const spec of specs) {
    const at = resolve(map, spec);
    if (!at) continue;
    const what = `${spec.name} (${at.symbol} at ${hex(at.va)})`;
    const get = async (va: bigint, n: number) => {
      try {
        return await read(va, n);
      } catch (e) {
        throw new OracleError(`reading ${what}: ${(e as Error).message}`);
      }
    };
    switch (spec.kind) {
      case "u8":
      case "u32":
      case "u64": {
        const n = spec.kind === "u8" ? 1 : spec.kind === "u32" ? 4 : 8;
        out[spec.name] = hex(le(await get(at.va, n), 0, n));
        break;
      }
      case "u64[cpus]": {
        const b = await get(at.va, 8 * cpus);
        out[spec.name] = Array.from({ length: cpus }, (_, i) => hex(le(b, 8 * i, 8)));
        break;
      }
      case "percpu-u64": {
        if (!offsets) {
          const base = map.require("__per_cpu_offset");
          const b = await get(base, 8 * cpus);
          offsets = Array.from({ length: cpus }, (_, i) => le(b, 8 * i, 8));
        }
        const vals: string[] = [];
        for (const off of offsets) {
          const va = (at.va + off) & 0xffff_ffff_ffff_ffffn;
          vals.push(hex(le(await get(va, 8), 0, 8)));
        }
        out[spec.name] = vals;
        break;
      }
      case "hyp-percpu-u64": {
        const off = spec.field === undefined ? 0 : env.fields?.[spec.field];
        if (off === undefined) break;
        const bases = out.kvm_arm_hyp_percpu_base ?? env.known?.kvm_arm_hyp_percpu_base;
        const start = map.address("__kvm_nvhe___per_cpu_start");
        const memstart = out.memstart_addr ?? env.known?.memstart_addr;
        if (!Array.isArray(bases) || start === undefined || typeof memstart !== "string") {
          throw new OracleError(
            `reading ${what}: needs kvm_arm_hyp_percpu_base, memstart_addr and __kvm_nvhe___per_cpu_start first`,
          );
        }
        if (!mem.readPhysical || env.pageOffset === undefined) {
          throw new OracleError(`reading ${what}: needs physical reads and PAGE_OFFSET`);
        }
        const vals: string[] = [];
        for (const b of bases) {
          // __pa(): the linear map's VA - PAGE_OFFSET + memstart_addr.
          const pa = BigInt.asUintN(64, BigInt(b) - env.pageOffset + BigInt(memstart)) +
            (at.va - start) + BigInt(off);
          let bytes: Uint8Array;
          try {
            bytes = await mem.readPhysical(pa, 8);
          } catch (e) {
            throw new OracleError(`reading ${what} at PA ${hex(pa)}: ${(e as Error).message}`);
          }
          vals.push(hex(le(bytes, 0, 8)));
        }
        out[spec.name] = vals;
        break;
      }
    }
  }
  return out;
}
