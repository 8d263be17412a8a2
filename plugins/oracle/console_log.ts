/**
 * Reading a kernel console log: lines without their printk timestamps, and
 * the facts the oracle takes from it — the `kvm_hyp_reserve()` request and
 * result, the pKVM mode line, and the final panic.
 *
 * @module
 */

import { OracleError } from "./errors.ts";

/** A console line: its 1-based number in the log and its text without the `[   0.000000] ` stamp. */
export interface ConsoleLine {
  /** 1-based line number. */
  n: number;
  /** Text after the timestamp, without a trailing CR. */
  text: string;
}

/**
 * Splits a console log into lines, dropping CRs and printk timestamps.
 *
 * @param log The console text (a serial port gives CRLF line ends).
 * @returns Lines with their numbers.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { consoleLines } from "./console_log.ts";
 * assertEquals(consoleLines("[    0.000000] Booting Linux\r\nx"), [
 *   { n: 1, text: "Booting Linux" },
 *   { n: 2, text: "x" },
 * ]);
 * ```
 */
export function consoleLines(log: string): ConsoleLine[] {
  return log.split("\n").map((raw, i) => ({
    n: i + 1,
    text: raw.replace(/\r$/, "").replace(/^\[\s*\d+\.\d+\]\s?/, ""),
  }));
}

/** The pKVM mode the kernel reports: `Protected nVHE` or `Protected hVHE`. */
export type PkvmMode = "nVHE" | "hVHE";

/**
 * The pKVM line, `kvm [N]: Protected nVHE mode initialized successfully`
 * (v6.1; `%s%sVHE%s` with a possible `+NV2` suffix in v7.2). A `VHE mode` or
 * `Hyp mode` line does not match: pKVM is then off.
 */
export const PKVM_MODE_LINE: RegExp =
  /Protected (nVHE|hVHE)(?:\+\w+)? mode initialized successfully/;

/** The start of a panic: `Kernel panic - not syncing: ...`. */
export const PANIC_LINE: RegExp = /Kernel panic - not syncing/;

/** The last line a panic prints: `---[ end Kernel panic - not syncing: ... ]---`. */
export const PANIC_END_LINE: RegExp = /end Kernel panic - not syncing/;

/**
 * The mode from the pKVM line.
 *
 * @param log Console text.
 * @returns The mode.
 * @throws {OracleError} When the line is missing.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pkvmMode } from "./console_log.ts";
 * assertEquals(pkvmMode("kvm [1]: Protected nVHE mode initialized successfully"), "nVHE");
 * ```
 */
export function pkvmMode(log: string): PkvmMode {
  const m = PKVM_MODE_LINE.exec(log);
  if (!m) {
    throw new OracleError(
      'console log: no "Protected nVHE|hVHE mode initialized successfully" line (pKVM did not start)',
    );
  }
  return m[1] as PkvmMode;
}

/** What the console says about `kvm_hyp_reserve()`. */
export interface KvmReserveLog {
  /** The allocation request (`memblock_phys_alloc_range: <size> bytes align=<a>`, memblock=debug). */
  request: { size: bigint; align: bigint; line: number };
  /** The range memblock reserved for it (the `memblock_reserve` after the request). */
  reserved: { base: bigint; size: bigint; line: number };
  /** `kvm [0]: Reserved <N> MiB at <base>`. */
  announced: { mib: number; base: bigint; line: number };
}

const RANGE = /^(_*memblock_\w+): \[(0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)\]/;

/**
 * Parses a `memblock_*: [a-b] ...` event line (`memblock=debug`): the range
 * is printed inclusive, so the size is b − a + 1 (0 when b = a − 1).
 *
 * @param text A console line's text.
 * @returns The function name and the half-open range, or null.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { memblockEvent } from "./console_log.ts";
 * assertEquals(
 *   memblockEvent("memblock_reserve: [0x000000013e000000-0x000000013f5fffff] memblock_alloc_range_nid+0xe8/0x17c"),
 *   { fn: "memblock_reserve", base: 0x13e000000n, size: 0x1600000n },
 * );
 * ```
 */
export function memblockEvent(text: string): { fn: string; base: bigint; size: bigint } | null {
  const m = RANGE.exec(text);
  if (!m) return null;
  const base = BigInt(m[2]!);
  const size = BigInt(m[3]!) + 1n - base;
  return { fn: m[1]!, base, size: size < 0n ? 0n : size };
}

/** Index of the line with the `kvm_hyp_reserve` allocation request, or −1. */
export function kvmRequestIndex(lines: readonly ConsoleLine[]): number {
  return lines.findIndex((l) =>
    /^_*memblock_\w+: \d+ bytes align=.*\bkvm_hyp_reserve\+/.test(l.text)
  );
}

/**
 * The `kvm_hyp_reserve()` request, reservation and announcement.
 *
 * @param lines Console lines.
 * @returns The three facts.
 * @throws {OracleError} When a line is missing (boot without `memblock=debug`
 *   or without `earlycon`: the head of the log is lost) or they disagree.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { consoleLines, kvmReserveLog } from "./console_log.ts";
 * const r = kvmReserveLog(consoleLines([
 *   "memblock_phys_alloc_range: 23068672 bytes align=0x200000 from=0x0000000000000000 max_addr=0x0000000000000000 kvm_hyp_reserve+0x1d4/0x25c",
 *   "memblock_reserve: [0x000000013e000000-0x000000013f5fffff] memblock_alloc_range_nid+0xe8/0x17c",
 *   "kvm [0]: Reserved 22 MiB at 0x13e000000",
 * ].join("\n")));
 * assertEquals([r.request.size, r.reserved.base, r.announced.mib], [0x1600000n, 0x13e000000n, 22]);
 * ```
 */
export function kvmReserveLog(lines: readonly ConsoleLine[]): KvmReserveLog {
  const i = kvmRequestIndex(lines);
  if (i < 0) {
    throw new OracleError(
      "console log: no memblock allocation from kvm_hyp_reserve (boot with memblock=debug and earlycon, or the head of the log is lost)",
    );
  }
  const parseRequest = (l: ConsoleLine) => {
    const req = /^_*memblock_\w+: (\d+) bytes align=(0x[0-9a-fA-F]+)/.exec(l.text)!;
    return { size: BigInt(req[1]!), align: BigInt(req[2]!), line: l.n };
  };
  let request = parseRequest(lines[i]!);
  let reserved: KvmReserveLog["reserved"] | null = null;
  for (let j = i + 1; j < lines.length && !reserved; j++) {
    // A failed 2 MiB-aligned attempt is followed by a page-aligned retry
    // (kvm_hyp_reserve, v6.1..v7.2): the later request is the one served.
    if (kvmRequestIndex([lines[j]!]) === 0) {
      request = parseRequest(lines[j]!);
      continue;
    }
    const ev = memblockEvent(lines[j]!.text);
    if (!ev) continue;
    if (!/^_*memblock_reserve$/.test(ev.fn)) {
      throw new OracleError(
        `console log line ${
          lines[j]!.n
        }: ${ev.fn} between the kvm_hyp_reserve request (line ${request.line}) and its memblock_reserve`,
      );
    }
    reserved = { base: ev.base, size: ev.size, line: lines[j]!.n };
  }
  if (!reserved) {
    throw new OracleError(
      `console log: no memblock_reserve after the kvm_hyp_reserve request (line ${request.line})`,
    );
  }
  const ann = lines.find((l) => /^kvm \[\d+\]: Reserved \d+ MiB at 0x[0-9a-fA-F]+/.test(l.text));
  if (!ann) throw new OracleError('console log: no "kvm [0]: Reserved N MiB at 0x..." line');
  const a = /Reserved (\d+) MiB at (0x[0-9a-fA-F]+)/.exec(ann.text)!;
  const announced = { mib: Number(a[1]), base: BigInt(a[2]!), line: ann.n };
  if (reserved.size !== request.size || reserved.base % request.align !== 0n) {
    throw new OracleError(
      `console log line ${reserved.line}: reserved ${reserved.size} bytes at 0x${
        reserved.base.toString(16)
      } for a request of ${request.size} bytes aligned to 0x${request.align.toString(16)}`,
    );
  }
  if (announced.base !== reserved.base) {
    throw new OracleError(
      `console log line ${announced.line}: kvm announces 0x${
        announced.base.toString(16)
      } but memblock reserved 0x${reserved.base.toString(16)} (line ${reserved.line})`,
    );
  }
  return { request, reserved, announced };
}
