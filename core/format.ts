/**
 * Number formatting shared by reports and traces.
 *
 * @module
 */

/**
 * `0x`-prefixed lowercase hex of a number or bigint.
 *
 * @param value Non-negative integer.
 * @returns Hex string.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hex } from "./format.ts";
 * assertEquals(hex(0x40000000), "0x40000000");
 * assertEquals(hex(0x0040000000000743n), "0x40000000000743");
 * ```
 */
export function hex(value: number | bigint): string {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new RangeError(`Cannot format ${value} as hex: not a safe integer`);
    }
    if (value < 0) return `-0x${(-value).toString(16)}`;
  }
  return `0x${value.toString(16)}`;
}

/**
 * Human size with binary units (`22 MiB`, `4 GiB`, `512 KiB`, `100 B`).
 *
 * @param bytes Byte count.
 * @returns The size.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatSize } from "./format.ts";
 * assertEquals(formatSize(22 * 2 ** 20), "22 MiB");
 * assertEquals(formatSize(1536), "1.5 KiB");
 * ```
 */
export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const s = Number.isInteger(v) ? String(v) : v.toFixed(1);
  return `${s} ${units[i]}`;
}

/**
 * Parses a size with an optional K/M/G/T suffix (binary), or hex/decimal.
 *
 * @param text `4G`, `512M`, `0x1000`, `4096`.
 * @returns Bytes.
 * @throws {SyntaxError} For anything else.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseSize } from "./format.ts";
 * assertEquals(parseSize("4G"), 2 ** 32);
 * assertEquals(parseSize("0x40000000"), 0x40000000);
 * ```
 */
export function parseSize(text: string): number {
  const m = /^(0x[0-9a-f_]+|[0-9_]+)([kmgt]i?b?)?$/i.exec(text.trim());
  if (!m) {
    throw new SyntaxError(`Cannot parse size "${text}": expected a number with K/M/G/T suffix`);
  }
  const n = Number(m[1]!.replaceAll("_", ""));
  const mult = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[
    (m[2]?.[0]?.toLowerCase() ?? "") as "k"
  ] ?? 1;
  const v = n * mult;
  if (!Number.isSafeInteger(v)) throw new SyntaxError(`Cannot parse size "${text}": too large`);
  return v;
}

/**
 * Parses a RAM bank `BASE:SIZE` (`0x40000000:4G`).
 *
 * @param spec The bank.
 * @returns `{ base, size }`.
 * @throws {SyntaxError} When it is not `BASE:SIZE`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseRamBank } from "./format.ts";
 * assertEquals(parseRamBank("0x40000000:4G"), { base: 0x40000000, size: 2 ** 32 });
 * ```
 */
export function parseRamBank(spec: string): { base: number; size: number } {
  const m = /^([^:]+):([^:]+)$/.exec(spec.trim());
  if (!m) {
    throw new SyntaxError(
      `Cannot parse RAM bank "${spec}": expected BASE:SIZE, e.g. 0x40000000:4G`,
    );
  }
  return { base: parseSize(m[1]!), size: parseSize(m[2]!) };
}
