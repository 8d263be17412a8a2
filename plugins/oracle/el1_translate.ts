/**
 * Translates a host kernel VA (the TTBR1_EL1 half) to a PA by walking the
 * host's own stage-1 tables through a physical memory reader.
 *
 * Why: once `__pkvm_prot_finalize` has run, the host runs under a stage 2
 * that pKVM fills lazily (`host_stage2_idmap()` on the host's faults), and
 * QEMU's gdb stub translates a virtual read through both stages, so a page
 * of the kernel image the host has not touched since reads as `E14`. The
 * stage-1 walk alone gives the PA the host would use (the host's stage 2 is
 * an identity map), which the stub reads in physical mode.
 *
 * Only the 4 KiB granule (TCR_EL1.TG1 = 0b10) is walked: Debian's arm64
 * kernels use it (CONFIG_ARM64_4K_PAGES in 6.1, 6.12 and 7.2). With
 * TCR_EL1.DS (FEAT_LPA2: 6.12 and 7.2 on a CPU that has it run with 52-bit
 * VAs) the walk starts at level −1, output addresses have bits 49:12 in
 * place and 51:50 in descriptor bits 9:8, TTBR1_EL1 holds BADDR[51:48] in
 * bits 5:2, and a level-0 block is allowed.
 *
 * @module
 */

import { hex } from "../../core/mod.ts";
import type { PhysReader } from "./el2_walk.ts";
import { OracleError } from "./errors.ts";

/** The EL1 registers a translation needs. */
export interface El1TranslateRegs {
  /** TTBR1_EL1. */
  ttbr1: bigint;
  /** TCR_EL1. */
  tcr: bigint;
}

const OA_MASK = ((1n << 48n) - 1n) & ~0xfffn; // descriptor bits 47:12
const OA_MASK_LPA2 = ((1n << 50n) - 1n) & ~0xfffn; // descriptor bits 49:12 under DS

/** A descriptor's output address: bits 47:12, or under DS 49:12 and 51:50 from 9:8. */
function outputAddress(d: bigint, ds: boolean): bigint {
  return ds ? (d & OA_MASK_LPA2) | (((d >> 8n) & 3n) << 50n) : d & OA_MASK;
}

/**
 * The PA of a TTBR1_EL1 VA (4 KiB granule; 48-bit output addresses, or
 * with TCR_EL1.DS the FEAT_LPA2 formats and 52-bit VAs).
 *
 * @param va A kernel VA (top bits set).
 * @param regs TTBR1_EL1 and TCR_EL1 of a CPU running the host.
 * @param read Physical memory reader.
 * @returns The PA.
 * @throws {OracleError} On another granule, a VA outside the TTBR1 range,
 *   or an invalid descriptor on the way.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { translateKernelVa } from "./el1_translate.ts";
 * // T1SZ = 16 (48-bit), TG1 = 4 KiB; one level-0 table whose entry 511 points
 * // at a level-1 table whose entry 511 is a 1 GiB block at 0x40000000.
 * const mem = new Map<bigint, bigint>([
 *   [0x1000n + 511n * 8n, 0x2000n | 3n],
 *   [0x2000n + 511n * 8n, 0x40000000n | 1n],
 * ]);
 * const read = (pa: bigint) => {
 *   const b = new Uint8Array(8);
 *   new DataView(b.buffer).setBigUint64(0, mem.get(pa) ?? 0n, true);
 *   return b;
 * };
 * const tcr = (16n << 16n) | (2n << 30n);
 * assertEquals(
 *   await translateKernelVa(0xffff_ffff_c000_1234n, { ttbr1: 0x1000n, tcr }, read),
 *   0x40001234n,
 * );
 * ```
 */
export async function translateKernelVa(
  va: bigint,
  regs: El1TranslateRegs,
  read: PhysReader,
): Promise<bigint> {
  const tcr = regs.tcr;
  const tg1 = Number((tcr >> 30n) & 3n);
  if (tg1 !== 2) {
    throw new OracleError(`TCR_EL1.TG1 is ${tg1}, only the 4 KiB granule (2) is walked`);
  }
  const ds = ((tcr >> 59n) & 1n) === 1n;
  const t1sz = Number((tcr >> 16n) & 0x3fn);
  const vaBits = 64 - t1sz;
  // The TTBR1 half: bits 63:vaBits all ones.
  if ((va >> BigInt(vaBits)) !== (1n << BigInt(64 - vaBits)) - 1n) {
    throw new OracleError(`${hex(va)} is not in the TTBR1_EL1 range of a ${vaBits}-bit VA space`);
  }
  // Levels of 9 bits above the 12-bit page offset; the root takes the rest.
  const levels = Math.ceil((vaBits - 12) / 9);
  let table = ds
    ? (regs.ttbr1 & (((1n << 48n) - 1n) & ~0x3fn)) | (((regs.ttbr1 >> 2n) & 0xfn) << 48n)
    : regs.ttbr1 & OA_MASK & ~1n;
  for (let level = 4 - levels; level <= 3; level++) {
    const shift = 12 + 9 * (3 - level);
    const index = (va >> BigInt(shift)) &
      (level === 4 - levels ? (1n << BigInt(vaBits - shift)) - 1n : 0x1ffn);
    const at = table + index * 8n;
    const b = await read(at, 8);
    const d = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    if ((d & 1n) === 0n) {
      throw new OracleError(
        `${hex(va)}: invalid level-${level} descriptor ${hex(d)} at PA ${hex(at)}`,
      );
    }
    const isTable = (d & 2n) !== 0n && level < 3;
    if (!isTable) {
      if (level === 3 && (d & 2n) === 0n) {
        throw new OracleError(`${hex(va)}: reserved level-3 descriptor ${hex(d)} at PA ${hex(at)}`);
      }
      if (level < 0 || (level === 0 && !ds)) {
        throw new OracleError(
          `${hex(va)}: a level-${level} block${ds ? "" : " without FEAT_LPA2"} at PA ${hex(at)}`,
        );
      }
      const offMask = (1n << BigInt(shift)) - 1n;
      return (outputAddress(d, ds) & ~offMask) | (va & offMask);
    }
    table = outputAddress(d, ds);
  }
  throw new OracleError(`${hex(va)}: the walk ran past level 3`); // unreachable: level 3 returns
}

/**
 * Reads `length` bytes at a kernel VA by translating each page it touches
 * with {@link translateKernelVa} and reading the PA.
 *
 * @param va First byte.
 * @param length Bytes.
 * @param regs TTBR1_EL1 and TCR_EL1.
 * @param read Physical memory reader.
 * @returns The bytes.
 * @throws {OracleError} From the translation or the reader.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { readKernelVa } from "./el1_translate.ts";
 * const ram = new Uint8Array(0x3000);
 * const dv = new DataView(ram.buffer);
 * dv.setBigUint64(0x1000 + 511 * 8, 0x2000n | 3n, true); // level 0 → level 1
 * dv.setBigUint64(0x2000 + 511 * 8, 0x0n | 1n, true); // 1 GiB block at PA 0
 * ram[0x10] = 42;
 * const read = (pa: bigint, n: number) => ram.slice(Number(pa), Number(pa) + n);
 * const tcr = (16n << 16n) | (2n << 30n);
 * const b = await readKernelVa(0xffff_ffff_c000_0010n, 1, { ttbr1: 0x1000n, tcr }, read);
 * assertEquals(b[0], 42);
 * ```
 */
export async function readKernelVa(
  va: bigint,
  length: number,
  regs: El1TranslateRegs,
  read: PhysReader,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const at = va + BigInt(done);
    const inPage = 0x1000 - Number(at & 0xfffn);
    const n = Math.min(inPage, length - done);
    const pa = await translateKernelVa(at, regs, read);
    out.set((await read(pa, n)).subarray(0, n), done);
    done += n;
  }
  return out;
}
