/**
 * An arm64 kernel image: the sections and symbols the pKVM boot maps. For a
 * release hyplab follows against a real kernel (6.1, 6.12, 7.2), the layout
 * is that of Debian's build (its System.map, as the release descriptor
 * records it), placed where QEMU's `-kernel` loader puts it; the oracle's
 * predict reads a real System.map instead ({@link kernelImageFromSystemMap}).
 * For v5.13, which has no build here, it is laid out the way
 * `arch/arm64/kernel/vmlinux.lds.S` orders the sections (`.hyp.bss` first in
 * `.bss`, the rest of `.bss` mapped RO at EL2), with sizes one can set.
 *
 * Addresses are physical. The hyp per-CPU section is the template the host
 * copies into each CPU's pages (`kvm_arm_hyp_percpu_base[cpu]`).
 *
 * @module
 */

import { formatSize, hex, type PkvmVersion, type RamBank } from "../../core/mod.ts";
import { type ImageFacts, release } from "../releases/mod.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const PAGE = 4096;
/** `SEGMENT_ALIGN` (64 KiB). */
const SEGMENT_ALIGN = 64 * KiB;

/** Section sizes and placement of the image. */
export interface KernelImageOptions {
  /** PA of `_text` (default: the lowest RAM bank's base + 2 MiB, as QEMU loads `Image`). */
  base?: number;
  /** Kernel `.text` outside the hyp sections (default 12 MiB). */
  textSize?: number;
  /** `.hyp.idmap.text` (default 0xa40; must fit one page, as the linker script asserts). */
  hypIdmapTextSize?: number;
  /** `.hyp.text` (default 64 KiB). */
  hypTextSize?: number;
  /** Kernel `.rodata` (default 4 MiB). */
  rodataSize?: number;
  /** `.hyp.rodata` + `.hyp.data..ro_after_init` (default 8 KiB). */
  hypRodataSize?: number;
  /** Mainline `.hyp.data` (default 8 KiB). */
  hypDataSize?: number;
  /** The hyp per-CPU template `.hyp.data..percpu` (default 0x1200: two pages per CPU). */
  hypPercpuSize?: number;
  /** Kernel `.data` (default 2 MiB). */
  dataSize?: number;
  /** `.hyp.bss` (default 16 KiB). */
  hypBssSize?: number;
  /** The rest of `.bss` after `.hyp.bss` (default 1 MiB). */
  bssSize?: number;
}

/** A section `[start, end)` (PA). */
export interface ImageSection {
  /** First byte. */
  start: number;
  /** One past the last byte. */
  end: number;
}

/** The laid-out image. */
export interface KernelImage {
  /** `_text`. */
  readonly base: number;
  /** `_end`. */
  readonly end: number;
  /** Sections by name (`.hyp.idmap.text`, `.hyp.text`, `.rodata`, ...). */
  readonly sections: Readonly<Record<string, ImageSection>>;
  /** Symbols (PA) by kernel name. */
  readonly symbols: Readonly<Record<string, number>>;
  /** Offsets of hyp per-CPU variables from `__per_cpu_start`. */
  readonly percpuOffsets: Readonly<Record<string, number>>;
  /** `nvhe_percpu_size()`. */
  readonly percpuSize: number;
  /** `NR_CPUS` (length of `kvm_arm_hyp_percpu_base[]`). */
  readonly nrCpusMax: number;
  /** Bytes reserved for `__pkvm_init_switch_pgd` in the idmap page. */
  readonly switchSlotBytes: number;
}

/** `CONFIG_NR_CPUS` default on arm64. */
export const NR_CPUS = 256;

const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;

function size(name: string, v: number | undefined, dflt: number, min = 0): number {
  const s = v ?? dflt;
  if (!Number.isSafeInteger(s) || s < min) {
    throw new RangeError(
      `Cannot lay out the kernel image: ${name} = ${s} must be an integer ≥ ${min}`,
    );
  }
  return s;
}

/**
 * Lays out the image in RAM.
 *
 * @param banks RAM banks.
 * @param version Kernel version (mainline has `.hyp.data`; v5.13 keeps
 *   `kvm_arm_hyp_percpu_base[]` in the kernel `.bss`).
 * @param options Placement and sizes.
 * @returns The image.
 * @throws {RangeError} The image does not fit in one RAM bank, or a size is bad.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { layoutKernelImage } from "./kernel_image.ts";
 * const img = layoutKernelImage([{ base: 0x4000_0000, size: 2 ** 32 }], "v5.13");
 * assertEquals(img.base, 0x4020_0000);
 * assertEquals(img.symbols.__hyp_idmap_text_start! % 4096, 0);
 * ```
 */
export function layoutKernelImage(
  banks: readonly RamBank[],
  version: PkvmVersion,
  options: KernelImageOptions = {},
): KernelImage {
  const facts = release(version).image;
  if (facts !== undefined) return placeReleaseImage(banks, facts, options);
  return layoutSyntheticImage(banks, version, options);
}

/** The v5.13 layout: sections in vmlinux.lds.S order, with settable sizes. */
function layoutSyntheticImage(
  banks: readonly RamBank[],
  version: PkvmVersion,
  options: KernelImageOptions,
): KernelImage {
  const low = [...banks].sort((a, b) => a.base - b.base)[0];
  if (low === undefined) throw new RangeError("Cannot lay out the kernel image: no RAM bank");
  const base = options.base ?? low.base + 2 * MiB;
  if (base % SEGMENT_ALIGN !== 0) {
    throw new RangeError(
      `Cannot place the kernel image at ${hex(base)}: _text must be 64 KiB aligned`,
    );
  }
  const textSize = size("textSize", options.textSize, 12 * MiB);
  const idmapSize = size("hypIdmapTextSize", options.hypIdmapTextSize, 0xa40, 0xa00);
  if (idmapSize > PAGE) {
    throw new RangeError(
      `Cannot lay out .hyp.idmap.text of ${hex(idmapSize)} bytes: it must fit in one 4 KiB page`,
    );
  }
  const hypTextSize = size("hypTextSize", options.hypTextSize, 64 * KiB, 0x4000);
  const rodataSize = size("rodataSize", options.rodataSize, 4 * MiB, PAGE);
  const hypRodataSize = size("hypRodataSize", options.hypRodataSize, 8 * KiB, 0x100);
  const hypDataSize = size("hypDataSize", options.hypDataSize, 8 * KiB, 0x100);
  const percpuSize = size("hypPercpuSize", options.hypPercpuSize, 0x1200, 0x200);
  const dataSize = size("dataSize", options.dataSize, 2 * MiB, PAGE);
  const hypBssSize = size("hypBssSize", options.hypBssSize, 16 * KiB, 0x100);
  const bssSize = size("bssSize", options.bssSize, 1 * MiB, 2 * PAGE);

  const sections: Record<string, ImageSection> = {};
  const sym: Record<string, number> = {};
  let p = base;
  sym._text = base;
  sections[".head.text"] = { start: p, end: p + SEGMENT_ALIGN };
  p += SEGMENT_ALIGN;
  // .text: the kernel's text, then HYPERVISOR_TEXT (idmap first, 4 KiB aligned).
  sym._stext = p;
  sym.__hyp_stub_vectors = p + 0x800;
  p += textSize;
  const idmap = alignUp(p, PAGE);
  sections[".hyp.idmap.text"] = { start: idmap, end: idmap + idmapSize };
  sym.__hyp_idmap_text_start = idmap;
  sym.__hyp_idmap_text_end = idmap + idmapSize;
  sym.__kvm_hyp_init = idmap; // the init vector table: 2 KiB aligned
  sym.___kvm_hyp_init = idmap + 0x800;
  sym.__pkvm_init_switch_pgd = idmap + 0x900;
  const hypText = idmap + idmapSize;
  sections[".hyp.text"] = { start: hypText, end: hypText + hypTextSize };
  sym.__hyp_text_start = hypText;
  sym.__hyp_text_end = hypText + hypTextSize;
  const vec = alignUp(hypText, 0x800);
  sym.__kvm_hyp_host_vector = vec;
  sym.__kvm_hyp_vector = vec + 0x800;
  sym.__bp_harden_hyp_vecs = vec + 0x1000; // 3 × 2 KiB (__BP_HARDEN_HYP_VECS_SZ)
  sym.__pkvm_init_finalise = vec + 0x2800;
  sym.__host_enter = vec + 0x2a00;
  sym.__hyp_panic = vec + 0x2c00;
  p = hypText + hypTextSize;
  sym._etext = alignUp(p, SEGMENT_ALIGN);
  sections[".text"] = { start: sym._stext, end: sym._etext };
  // RO_DATA(PAGE_SIZE): kernel .rodata, then HYPERVISOR_DATA_SECTIONS.
  p = sym._etext;
  sym.__start_rodata = p;
  sym.__end_rodata = alignUp(p + rodataSize, PAGE);
  sections[".rodata"] = { start: sym.__start_rodata, end: sym.__end_rodata };
  p = sym.__end_rodata;
  sym.__hyp_rodata_start = p;
  sym.__hyp_rodata_end = alignUp(p + hypRodataSize, PAGE);
  sections[".hyp.rodata"] = { start: sym.__hyp_rodata_start, end: sym.__hyp_rodata_end };
  sym.hyp_cpu_logical_map = p;
  p = sym.__hyp_rodata_end + 3 * PAGE; // idmap_pg_dir, swapper_pg_dir
  // __init_begin .. __init_end holds the hyp per-CPU template.
  sym.__init_begin = alignUp(p, SEGMENT_ALIGN);
  sym.__per_cpu_start = sym.__init_begin + 0x1_0000;
  sym.__per_cpu_end = sym.__per_cpu_start + percpuSize;
  sections[".hyp.data..percpu"] = { start: sym.__per_cpu_start, end: sym.__per_cpu_end };
  sym.__init_end = alignUp(sym.__per_cpu_end + 0x1_0000, SEGMENT_ALIGN);
  p = sym.__init_end;
  sym._sdata = p;
  if (release(version).host.hostSections.includes("hyp_data")) {
    sym.__hyp_data_start = alignUp(p, PAGE);
    sym.__hyp_data_end = alignUp(sym.__hyp_data_start + hypDataSize, PAGE);
    sections[".hyp.data"] = { start: sym.__hyp_data_start, end: sym.__hyp_data_end };
    // hyp-smp.c: `unsigned long __ro_after_init kvm_arm_hyp_percpu_base[NR_CPUS]` at EL2.
    sym.kvm_arm_hyp_percpu_base = sym.__hyp_data_start;
    p = sym.__hyp_data_end;
  }
  p = alignUp(p + dataSize, PAGE);
  sections[".data"] = { start: sym._sdata, end: p };
  // BSS_SECTION: .hyp.bss first (page aligned), then the kernel's .bss.
  sym.__bss_start = p;
  sym.__hyp_bss_start = p;
  sym.__hyp_bss_end = alignUp(p + hypBssSize, PAGE);
  sections[".hyp.bss"] = { start: sym.__hyp_bss_start, end: sym.__hyp_bss_end };
  if (sym.kvm_arm_hyp_percpu_base === undefined) {
    // arm.c: `unsigned long kvm_arm_hyp_percpu_base[NR_CPUS]` in the kernel .bss,
    // which v5.13 maps RO at EL2 (`__hyp_bss_end..__bss_stop`).
    sym.kvm_arm_hyp_percpu_base = sym.__hyp_bss_end + 0x100;
  }
  sym.__bss_stop = sym.__hyp_bss_end + bssSize;
  sections[".bss"] = { start: sym.__hyp_bss_end, end: sym.__bss_stop };
  sym._end = alignUp(sym.__bss_stop, SEGMENT_ALIGN);

  checkImageFits(banks, base, sym._end);
  return {
    base,
    end: sym._end,
    sections,
    symbols: sym,
    percpuOffsets: { kvm_hyp_vector: 0x0, kvm_init_params: 0x40, kvm_host_data: 0x100 },
    percpuSize,
    nrCpusMax: NR_CPUS,
    switchSlotBytes: idmapSize - 0x900,
  };
}

/**
 * `get_order(size)` in pages (`nvhe_percpu_order`).
 *
 * @param bytes Size.
 * @returns Smallest order whose block holds `bytes`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { getOrder } from "./kernel_image.ts";
 * assertEquals([getOrder(1), getOrder(4096), getOrder(0x1200)], [0, 0, 1]);
 * ```
 */
export function getOrder(bytes: number): number {
  let order = 0;
  while (4096 * 2 ** order < bytes) order++;
  return order;
}

/** Where a section starts and ends, by its symbols. */
const SECTION_SYMBOLS: readonly [string, string, string][] = [
  [".hyp.idmap.text", "__hyp_idmap_text_start", "__hyp_idmap_text_end"],
  [".hyp.text", "__hyp_text_start", "__hyp_text_end"],
  [".text", "_stext", "_etext"],
  [".rodata", "__start_rodata", "__end_rodata"],
  [".hyp.rodata", "__hyp_rodata_start", "__hyp_rodata_end"],
  [".hyp.data..percpu", "__per_cpu_start", "__per_cpu_end"],
  [".hyp.data", "__hyp_data_start", "__hyp_data_end"],
  [".hyp.bss", "__hyp_bss_start", "__hyp_bss_end"],
  [".bss", "__hyp_bss_end", "__bss_stop"],
];

/** The symbols every image must have for the boot to run. */
const REQUIRED_SYMBOLS = [
  "_text",
  "_stext",
  "_end",
  "__hyp_stub_vectors",
  "__hyp_idmap_text_start",
  "__hyp_idmap_text_end",
  "__kvm_hyp_init",
  "__pkvm_init_switch_pgd",
  "__hyp_text_start",
  "__hyp_text_end",
  "__kvm_hyp_host_vector",
  "__kvm_hyp_vector",
  "__bp_harden_hyp_vecs",
  "__pkvm_init_finalise",
  "__start_rodata",
  "__end_rodata",
  "__hyp_rodata_start",
  "__hyp_rodata_end",
  "__per_cpu_start",
  "__per_cpu_end",
  "__hyp_bss_start",
  "__hyp_bss_end",
  "__bss_stop",
  "kvm_arm_hyp_percpu_base",
] as const;

/**
 * An image from symbol offsets (bytes from `_text`) placed with `_text` at
 * `base`.
 *
 * @param base PA of `_text`.
 * @param offsets Offsets from `_text`.
 * @param percpuSize The nVHE per-CPU template's size.
 * @param percpuOffsets Offsets inside it.
 * @param what What the offsets come from (for errors).
 * @returns The image.
 */
function imageFromOffsets(
  base: number,
  offsets: Readonly<Record<string, number>>,
  percpuSize: number,
  percpuOffsets: Readonly<Record<string, number>>,
  what: string,
): KernelImage {
  const missing = REQUIRED_SYMBOLS.filter((n) => offsets[n] === undefined);
  if (missing.length > 0) {
    throw new RangeError(`Cannot lay out the kernel image from ${what}: no ${missing.join(", ")}`);
  }
  for (const n of ["kvm_init_params", "kvm_hyp_vector"]) {
    if (percpuOffsets[n] === undefined) {
      throw new RangeError(`Cannot lay out the kernel image from ${what}: no per-CPU ${n}`);
    }
  }
  const sym: Record<string, number> = {};
  for (const [n, off] of Object.entries(offsets)) sym[n] = base + off;
  const sections: Record<string, ImageSection> = {};
  for (const [name, a, b] of SECTION_SYMBOLS) {
    if (sym[a] !== undefined && sym[b] !== undefined) {
      sections[name] = { start: sym[a], end: sym[b] };
    }
  }
  return {
    base,
    end: sym._end!,
    sections,
    symbols: sym,
    percpuOffsets,
    percpuSize,
    nrCpusMax: NR_CPUS,
    switchSlotBytes: sym.__hyp_idmap_text_end! - sym.__pkvm_init_switch_pgd!,
  };
}

/** A release's own image layout at its load address, checked against the RAM. */
function placeReleaseImage(
  banks: readonly RamBank[],
  facts: ImageFacts,
  options: KernelImageOptions,
): KernelImage {
  const low = [...banks].sort((a, b) => a.base - b.base)[0];
  if (low === undefined) throw new RangeError("Cannot lay out the kernel image: no RAM bank");
  const base = options.base ?? low.base + 2 * MiB;
  // arm64's boot protocol: Image at a 2 MiB-aligned base (text_offset 0).
  if (base % (2 * MiB) !== 0) {
    throw new RangeError(
      `Cannot place the kernel image at ${hex(base)}: Image must be loaded 2 MiB aligned`,
    );
  }
  const img = imageFromOffsets(
    base,
    facts.symbols,
    facts.hypPercpuSize,
    facts.percpuOffsets,
    "the release",
  );
  checkImageFits(banks, base, img.end);
  return img;
}

/**
 * Where hyplab's image symbols come from in a real System.map: the first of
 * each list that is present. Symbols of the nVHE objects carry the
 * `__kvm_nvhe_` prefix; some have a host-visible alias too.
 */
export const IMAGE_SYMBOL_SOURCES: Readonly<Record<string, readonly string[]>> = {
  _text: ["_text"],
  _stext: ["_stext"],
  _etext: ["_etext"],
  _end: ["_end"],
  _sdata: ["_sdata"],
  __init_begin: ["__init_begin"],
  __init_end: ["__init_end"],
  __hyp_stub_vectors: ["__hyp_stub_vectors", "__kvm_nvhe___hyp_stub_vectors"],
  __hyp_idmap_text_start: ["__hyp_idmap_text_start"],
  __hyp_idmap_text_end: ["__hyp_idmap_text_end"],
  __kvm_hyp_init: ["__kvm_nvhe___kvm_hyp_init"],
  ___kvm_hyp_init: ["__kvm_nvhe____kvm_hyp_init"],
  __pkvm_init_switch_pgd: ["__kvm_nvhe___pkvm_init_switch_pgd"],
  __hyp_text_start: ["__hyp_text_start"],
  __hyp_text_end: ["__hyp_text_end"],
  __kvm_hyp_host_vector: ["__kvm_nvhe___kvm_hyp_host_vector"],
  __kvm_hyp_vector: ["__kvm_nvhe___kvm_hyp_vector"],
  __bp_harden_hyp_vecs: ["__kvm_nvhe___bp_harden_hyp_vecs"],
  __pkvm_init_finalise: ["__kvm_nvhe___pkvm_init_finalise"],
  __host_enter: ["__kvm_nvhe___host_enter"],
  __hyp_panic: ["__kvm_nvhe___hyp_panic", "__kvm_nvhe_hyp_panic"],
  __start_rodata: ["__start_rodata"],
  __end_rodata: ["__end_rodata"],
  __hyp_rodata_start: ["__hyp_rodata_start"],
  __hyp_rodata_end: ["__hyp_rodata_end"],
  hyp_cpu_logical_map: ["__kvm_nvhe_hyp_cpu_logical_map"],
  kvm_vgic_global_state: ["kvm_vgic_global_state"],
  __per_cpu_start: ["__kvm_nvhe___per_cpu_start"],
  __per_cpu_end: ["__kvm_nvhe___per_cpu_end"],
  __hyp_data_start: ["__hyp_data_start"],
  __hyp_data_end: ["__hyp_data_end"],
  kvm_arm_hyp_percpu_base: ["__kvm_nvhe_kvm_arm_hyp_percpu_base", "kvm_arm_hyp_percpu_base"],
  __bss_start: ["__bss_start"],
  __hyp_bss_start: ["__hyp_bss_start"],
  __hyp_bss_end: ["__hyp_bss_end"],
  __bss_stop: ["__bss_stop"],
};

/** The nVHE per-CPU variables whose offsets the boot needs, by System.map name. */
export const PERCPU_SYMBOL_SOURCES: Readonly<Record<string, string>> = {
  kvm_hyp_vector: "__kvm_nvhe_kvm_hyp_vector",
  kvm_init_params: "__kvm_nvhe_kvm_init_params",
  kvm_host_data: "__kvm_nvhe_kvm_host_data",
};

/**
 * The image of a real kernel: hyplab's symbols from System.map addresses
 * (kernel VAs), turned into PAs with `kimage_voffset` (the VA − PA offset of
 * the kernel image, which the host computes from where the loader put it).
 *
 * @param systemMap System.map names to kernel VAs (at least the names of
 *   {@link IMAGE_SYMBOL_SOURCES} and {@link PERCPU_SYMBOL_SOURCES} it has).
 * @param kimageVoffset `kimage_voffset`.
 * @returns The image.
 * @throws {RangeError} A symbol the boot needs is missing.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kernelImageFromSystemMap, layoutKernelImage } from "./kernel_image.ts";
 * import { V6_1 } from "../releases/mod.ts";
 * const text = 0xffff_8000_0800_0000n;
 * const map: Record<string, bigint> = {};
 * for (const [n, off] of Object.entries(V6_1.image!.symbols)) map[n] = text + BigInt(off);
 * map.__kvm_nvhe___kvm_hyp_init = map.__kvm_hyp_init!; // System.map spells nVHE ones with a prefix
 * const img = layoutKernelImage([{ base: 0x4000_0000, size: 2 ** 32 }], "v6.1");
 * assertEquals(img.symbols.__hyp_idmap_text_start, 0x40ee_0000);
 * ```
 */
export function kernelImageFromSystemMap(
  systemMap: Readonly<Record<string, bigint>>,
  kimageVoffset: bigint,
): KernelImage {
  const text = systemMap._text;
  if (text === undefined) throw new RangeError("Cannot lay out the kernel image: no _text");
  const offsets: Record<string, number> = {};
  for (const [name, sources] of Object.entries(IMAGE_SYMBOL_SOURCES)) {
    const src = sources.find((s) => systemMap[s] !== undefined);
    if (src !== undefined) offsets[name] = Number(systemMap[src]! - text);
  }
  const pcpu = systemMap.__kvm_nvhe___per_cpu_start;
  const pcpuEnd = systemMap.__kvm_nvhe___per_cpu_end;
  const percpuOffsets: Record<string, number> = {};
  if (pcpu !== undefined) {
    for (const [name, src] of Object.entries(PERCPU_SYMBOL_SOURCES)) {
      const v = systemMap[src];
      if (v !== undefined) percpuOffsets[name] = Number(v - pcpu);
    }
  }
  const base = Number(BigInt.asUintN(64, text - kimageVoffset));
  return imageFromOffsets(
    base,
    offsets,
    pcpu !== undefined && pcpuEnd !== undefined ? Number(pcpuEnd - pcpu) : 0,
    percpuOffsets,
    "System.map",
  );
}

/**
 * Refuses a machine whose RAM cannot hold the kernel `Image` where the boot
 * loader puts it: QEMU's virt board loads it at the RAM base + 2 MiB
 * (text_offset 0, 2 MiB aligned), and a bank too small for it is a machine
 * QEMU cannot boot. Banks that touch count as one (memblock merges them, and
 * the image may run across the boundary).
 *
 * @param banks RAM banks.
 * @param base `_text`.
 * @param end `_end`.
 * @throws {RangeError} Naming the bank (or the lack of one), the image range and size.
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { checkImageFits } from "./kernel_image.ts";
 * checkImageFits([{ base: 0x4000_0000, size: 2 ** 30 }], 0x4020_0000, 0x4270_0000);
 * assertThrows(
 *   () => checkImageFits([{ base: 0x4000_0000, size: 2 ** 24 }], 0x4020_0000, 0x4270_0000),
 *   RangeError,
 *   "RAM bank [0x40000000, 0x41000000) (16 MiB) cannot hold the kernel image",
 * );
 * ```
 */
export function checkImageFits(banks: readonly RamBank[], base: number, end: number): void {
  const runs: { base: number; end: number }[] = [];
  for (const b of [...banks].sort((x, y) => x.base - y.base)) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.end === b.base) last.end = b.base + b.size;
    else runs.push({ base: b.base, end: b.base + b.size });
  }
  const run = runs.find((r) => base >= r.base && base < r.end);
  if (run !== undefined && end <= run.end) return;
  const image = `the kernel image [${hex(base)}, ${hex(end)}) (${formatSize(end - base)})`;
  if (run === undefined) {
    throw new RangeError(
      `Cannot place ${image}: no RAM bank holds its load address ${hex(base)}`,
    );
  }
  throw new RangeError(
    `RAM bank [${hex(run.base)}, ${hex(run.end)}) (${
      formatSize(run.end - run.base)
    }) cannot hold ${image}: it is loaded at the bank's base + ${
      formatSize(base - run.base)
    } and needs ${formatSize(end - run.base)} of it; QEMU could not boot this machine`,
  );
}
