/**
 * The kernel and hyp virtual address layouts (`arch/arm64/kvm/va_layout.c`
 * `kvm_compute_layout`, `kern_hyp_va`; `nvhe/mm.c` `hyp_create_idmap`).
 *
 * Kernel VAs (0xffff…) do not fit a JS number, so they are bigints; hyp VAs
 * (below 2^hyp_va_bits ≤ 2^52) are numbers. With 52-bit VAs `PAGE_OFFSET`
 * is `-(1 << 52)` (0xfff0…), and the linear map covers 2^51 bytes.
 *
 * @module
 */

import { hex, type PkvmVersion, type RamBank } from "../../core/mod.ts";
import { release } from "../releases/mod.ts";

/** The computed layout. */
export interface HypVaLayout {
  /** Kernel `VA_BITS` (= `vabits_actual` here). */
  readonly vaBits: number;
  /** `hyp_va_bits` passed to `__pkvm_init` (v5.13: 64 − T0SZ(idmap); now max(48, vabits_actual)). */
  readonly hypVaBits: number;
  /** Kernel `PAGE_OFFSET` (start of the linear map). */
  readonly pageOffset: bigint;
  /** `PHYS_OFFSET` (`memstart_addr`). */
  readonly physOffset: number;
  /** `tag_lsb`: bits of the kernel VA kept by `kern_hyp_va`. */
  readonly tagLsb: number;
  /** `tag_val << tag_lsb`. */
  readonly tag: bigint;
  /** `hyp_physvirt_offset` (signed: PA − hyp VA). */
  readonly hypPhysvirtOffset: bigint;
  /** PA of `__hyp_idmap_text_start` rounded down to a page. */
  readonly idmapStart: number;
  /** PA of `__hyp_idmap_text_end` rounded up to a page. */
  readonly idmapEnd: number;
  /** `__io_map_base` as `hyp_create_idmap` sets it. */
  readonly ioMapBase: number;
  /** `__hyp_vmemmap`. */
  readonly hypVmemmap: number;
  /**
   * `__va` / `phys_to_virt`: PA → kernel linear VA.
   * @param pa Physical address.
   * @returns Kernel VA.
   */
  kernVa(pa: number): bigint;
  /**
   * `__pa` of a linear-map kernel VA.
   * @param kva Kernel VA.
   * @returns Physical address.
   */
  kernPa(kva: bigint): number;
  /**
   * `kern_hyp_va`: kernel VA → hyp VA.
   * @param kva Kernel VA.
   * @returns Hyp VA.
   */
  kernHypVa(kva: bigint): number;
  /**
   * `hyp_phys_to_virt` / `__hyp_va`.
   * @param pa Physical address.
   * @returns Hyp VA.
   */
  hypVa(pa: number): number;
  /**
   * `hyp_virt_to_phys` / `__hyp_pa`.
   * @param va Hyp VA (linear map).
   * @returns Physical address.
   */
  hypPa(va: number): number;
}

/** `ARM64_MEMSTART_ALIGN` with 4 KiB pages (`PUD_SHIFT`). */
const MEMSTART_ALIGN = 2 ** 30;

function fls64(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

/**
 * Computes the layout for a RAM map, a kernel `VA_BITS` and the idmap's PA.
 *
 * @param banks RAM banks (memblock.memory).
 * @param vaBits Kernel VA_BITS (`vabits_actual`): 39, 48, or 52 (LPA2).
 * @param idmap `[__hyp_idmap_text_start, __hyp_idmap_text_end)` PA.
 * @param version The release: which `hyp_va_bits` rule applies, and whether
 *   `kvm_compute_layout()` ORs a random tag in (`CONFIG_RANDOMIZE_BASE`).
 * @param options `random`: the `get_random_long()` value the tag's free bits
 *   come from (its bits in `GENMASK(hyp_va_bits - 2, tag_lsb)` are used; 0
 *   gives no random bits). `physOffset`: the PA at the start of the linear
 *   map as `arm64_memblock_init()` chose it (default: the first bank's base
 *   rounded down to `ARM64_MEMSTART_ALIGN`, which it is unless a kernel
 *   image high in memory moved it up).
 * @returns The layout.
 * @throws {RangeError} RAM wider than the linear map, or an idmap the hyp VA space cannot hold.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { computeHypVaLayout } from "./hyp_va_layout.ts";
 * const l = computeHypVaLayout([{ base: 0x4000_0000, size: 2 ** 32 }], 48,
 *   { start: 0x40e1_0000, end: 0x40e1_0a40 }, "v5.13");
 * assertEquals(l.hypVa(0x4020_0000), 0x8000_0020_0000);
 * assertEquals([l.ioMapBase, l.hypVmemmap], [0x4000_0000_0000, 0x6000_0000_0000]);
 * // Linux 6.1 with the tag a real boot drew (tag_val 0xd231, tag_lsb 32):
 * const r = computeHypVaLayout([{ base: 0x4000_0000, size: 2 ** 32 }], 48,
 *   { start: 0x40ee_0000, end: 0x40ee_0ae4 }, "v6.1", { random: 0xd231n << 32n });
 * assertEquals(r.hypVa(0x40ee_0000), 0xd231_00ee_0000);
 * ```
 */
export function computeHypVaLayout(
  banks: readonly RamBank[],
  vaBits: number,
  idmap: { start: number; end: number },
  version: PkvmVersion,
  options: { random?: bigint; physOffset?: number } = {},
): HypVaLayout {
  const rel = release(version);
  if (vaBits !== 39 && vaBits !== 48 && vaBits !== 52) {
    throw new RangeError(
      `Cannot use VA_BITS = ${vaBits}: 4 KiB pages give 39 or 48, or 52 with FEAT_LPA2`,
    );
  }
  const sorted = [...banks].sort((a, b) => a.base - b.base);
  const dramStart = sorted[0]!.base;
  const last = sorted[sorted.length - 1]!;
  const dramEnd = last.base + last.size;
  const physOffset = options.physOffset ?? Math.floor(dramStart / MEMSTART_ALIGN) * MEMSTART_ALIGN;
  const pageOffset = BigInt.asUintN(64, -(1n << BigInt(vaBits)));
  if (dramEnd - physOffset > 2 ** (vaBits - 1)) {
    throw new RangeError(
      `Cannot map RAM up to ${hex(dramEnd)} in the linear map: VA_BITS = ${vaBits} covers ${
        hex(2 ** (vaBits - 1))
      } bytes from PHYS_OFFSET ${hex(physOffset)}`,
    );
  }
  const kernVa = (pa: number): bigint => pageOffset + BigInt(pa - physOffset);
  const kernPa = (kva: bigint): number => Number(kva - pageOffset) + physOffset;

  const idmapStart = Math.floor(idmap.start / 4096) * 4096;
  const idmapEnd = Math.ceil(idmap.end / 4096) * 4096;
  // head.S: when the image sits above VA_BITS the idmap is extended, with
  // T0SZ = clz(__idmap_text_end), i.e. as many bits as its PA needs.
  const idmapBits = Math.max(vaBits, fls64(BigInt(Math.floor(idmap.end / 4096) * 4096)));
  // v5.13/6.1: 64 - idmap_t0sz (the idmap's own VA size, at least VA_BITS);
  // from 6.6: max(IDMAP_VA_BITS = 48, vabits_actual).
  const hypVaBits = rel.host.hypVaBits === "idmap" ? idmapBits : Math.max(48, vaBits);
  if (idmapEnd > 2 ** hypVaBits) {
    throw new RangeError(
      `Cannot idmap ${hex(idmapStart)}: it lies above the ${hypVaBits}-bit hyp VA space`,
    );
  }

  // kvm_compute_layout(): the hyp linear map lives in the half of the VA space
  // the idmap does not use (bit vabits_actual - 1 up to 6.x; 7.x takes
  // hyp_va_bits, the same number unless the kernel has fewer VA bits than
  // the idmap); with CONFIG_RANDOMIZE_BASE, random bits fill the tag between
  // that bit and the linear map's own bits (even under nokaslr).
  const msbBits = rel.host.tagBits === "hyp_va_bits" ? hypVaBits : vaBits;
  const msbBit = 1n << BigInt(msbBits - 1);
  const hypVaMsb = (BigInt(idmapStart) & msbBit) ^ msbBit;
  const tagLsb = fls64(kernVa(dramStart) ^ (kernVa(dramEnd - 1)));
  const vaMask = (1n << BigInt(tagLsb)) - 1n;
  let tagVal = hypVaMsb;
  if (rel.host.randomTag && tagLsb !== msbBits - 1) {
    const free = ((1n << BigInt(msbBits - 1)) - 1n) & ~vaMask; // GENMASK(bits - 2, tag_lsb)
    tagVal |= BigInt.asUintN(64, options.random ?? 0n) & free;
  }
  const tag = (tagVal >> BigInt(tagLsb)) << BigInt(tagLsb);
  const kernHypVa = (kva: bigint): number => Number((kva & vaMask) | tag);
  // init_hyp_physvirt_offset(): from a random symbol's PA and hyp VA.
  const hypPhysvirtOffset = BigInt(idmapStart) - BigInt(kernHypVa(kernVa(idmapStart)));
  // __hyp_va / __hyp_pa as plain-number arithmetic: the offset is a safe
  // integer (PA and hyp VA are both below 2^52), so `pa - off` is the
  // bigint difference rounded once, exactly as Number() rounds it; a
  // non-integer argument gets the RangeError BigInt() gives it. The boot
  // converts once per page it maps.
  const off = Number(hypPhysvirtOffset);
  const exact = Number.isSafeInteger(off);
  const hypVa = exact
    ? (pa: number): number => Number.isInteger(pa) ? pa - off : Number(BigInt(pa))
    : (pa: number): number => Number(BigInt(pa) - hypPhysvirtOffset);
  const hypPa = exact
    ? (va: number): number => Number.isInteger(va) ? va + off : Number(BigInt(va))
    : (va: number): number => Number(BigInt(va) + hypPhysvirtOffset);

  // hyp_create_idmap(): IOs and the vmemmap take the quarter the idmap does not.
  const q = 2 ** (hypVaBits - 2);
  const ioMapBase = Math.floor(idmapStart / q) % 2 === 1 ? 0 : q;
  const hypVmemmap = ioMapBase + 2 ** (hypVaBits - 3);
  // The layout only works when the three regions stay apart (the kernel
  // assumes so; with an idmap in the upper half they can meet).
  const linLo = hypVa(dramStart);
  const linHi = hypVa(dramEnd - 1) + 1;
  const overlaps = (a: number, b: number, c: number, d: number) => a < d && c < b;
  if (overlaps(linLo, linHi, ioMapBase, ioMapBase + q)) {
    throw new RangeError(
      `Cannot lay out EL2: the linear map [${hex(linLo)}, ${
        hex(linHi)
      }) meets the IO/vmemmap quarter at ${hex(ioMapBase)} (idmap ${hex(idmapStart)})`,
    );
  }
  if (
    overlaps(linLo, linHi, idmapStart, idmapEnd) ||
    overlaps(ioMapBase, ioMapBase + q, idmapStart, idmapEnd)
  ) {
    throw new RangeError(
      `Cannot lay out EL2: the idmap ${hex(idmapStart)} meets the linear map or the IO quarter`,
    );
  }
  return {
    vaBits,
    hypVaBits,
    pageOffset,
    physOffset,
    tagLsb,
    tag,
    hypPhysvirtOffset,
    idmapStart,
    idmapEnd,
    ioMapBase,
    hypVmemmap,
    kernVa,
    kernPa,
    kernHypVa,
    hypVa,
    hypPa,
  };
}
