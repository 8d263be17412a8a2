/**
 * E2H-format registers in a concrete run: with HCR_EL2.E2H = 1 (pKVM's
 * hVHE) TCR_EL2 takes TCR_EL1's layout and CPTR_EL2 CPACR_EL1's, so a
 * sequence written for the E2H = 0 layouts stores values that mean
 * something else. The CPU stores them (QEMU 7.2 does not police either
 * register); this watch turns each such write into a finding instead.
 *
 * @module
 */

import { type Finding, Trace, type TraceEventMap, type TraceKind } from "../../core/mod.ts";

/** The rule id of the findings here. */
export const E2H_RULE = "E2H";

const HCR_E2H = 1n << 34n;

/**
 * Why `value` written to `reg` under E2H = 1 looks like an E2H = 0 value,
 * or undefined:
 * - TCR_EL2 with IPS (34:32) = 0 and a non-zero PS in bits 18:16: the EL2
 *   layout's PS, which here is T1SZ's low bits, while IPS — the output
 *   size now — says 32 bits;
 * - CPTR_EL2 with FPEN (21:20) = 0b00 or 0b10: CPACR_EL1's layout, where
 *   that traps FP/SIMD at EL2 (the E2H = 0 value `CPTR_NVHE_EL2_RES1`,
 *   0x32ff or 0x33ff, has FPEN = 0).
 *
 * @param reg Register written.
 * @param value Value written.
 * @returns The reason, or undefined.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { e2hLayoutProblem } from "./e2h.ts";
 * assertEquals(e2hLayoutProblem("TCR_EL2", 0x80843510n)?.startsWith("TCR_EL2 = 0x80843510"), true);
 * assertEquals(e2hLayoutProblem("TCR_EL2", 0x5001f5b5d53510n), undefined); // a real hVHE value
 * assertEquals(e2hLayoutProblem("CPTR_EL2", 0x33ffn)?.includes("FPEN"), true);
 * assertEquals(e2hLayoutProblem("CPTR_EL2", 0x330000n), undefined);
 * ```
 */
export function e2hLayoutProblem(reg: string, value: bigint): string | undefined {
  const hex = `0x${value.toString(16)}`;
  if (reg === "TCR_EL2") {
    const ips = (value >> 32n) & 7n;
    const ps = (value >> 16n) & 7n;
    if (ips === 0n && ps !== 0n) {
      return `TCR_EL2 = ${hex} is an E2H = 0 value under HCR_EL2.E2H = 1: there TCR_EL2 has TCR_EL1's layout, so the PS field (18:16) is T1SZ's low bits and IPS (34:32) = 0 gives a 32-bit output size`;
    }
  }
  if (reg === "CPTR_EL2") {
    const fpen = (value >> 20n) & 3n;
    if (fpen === 0n || fpen === 2n) {
      return `CPTR_EL2 = ${hex} under HCR_EL2.E2H = 1 has CPACR_EL1's layout: FPEN (21:20) = ${fpen} traps FP/SIMD at EL2 (an E2H = 0 CPTR_EL2 value has FPEN = 0)`;
    }
  }
  return undefined;
}

/**
 * A trace that also watches a run's instructions and system-register
 * writes, forwarding everything the caller's trace wants: each committed
 * write of TCR_EL2 or CPTR_EL2 made while HCR_EL2.E2H = 1 (as committed
 * writes leave it) is checked with {@link e2hLayoutProblem}, and reported at
 * the line of its `msr`.
 */
export class E2hWatch extends Trace {
  readonly #inner: Trace | undefined;
  #hcr: bigint;
  #line = 0;
  readonly #msrLine = new Map<string, number>();
  /** The findings so far. */
  readonly findings: Finding[] = [];

  /**
   * Creates the watch.
   * @param hcr HCR_EL2 when the run starts.
   * @param inner The caller's trace, if any.
   */
  constructor(hcr: bigint, inner?: Trace) {
    super();
    this.#hcr = hcr;
    this.#inner = inner;
  }

  /**
   * Instructions and register writes, and whatever the caller's trace wants.
   * @param kind Event kind.
   * @returns Whether to emit it.
   */
  override wants(kind: TraceKind): boolean {
    return kind === "insn" || kind === "sysreg_write" || (this.#inner?.wants(kind) ?? false);
  }

  /**
   * Watches, then forwards to the caller's trace.
   * @param kind Event kind.
   * @param data Payload.
   * @param where CPU / EL.
   */
  override emit<K extends TraceKind>(
    kind: K,
    data: TraceEventMap[K],
    where?: { cpu?: number; el?: number },
  ): void {
    if (kind === "insn") this.#line = (data as TraceEventMap["insn"]).line;
    else if (kind === "sysreg_write") this.#write(data as TraceEventMap["sysreg_write"]);
    if (this.#inner?.wants(kind)) this.#inner.emit(kind, data, where);
  }

  #write(d: TraceEventMap["sysreg_write"]): void {
    if (d.pending) {
      this.#msrLine.set(d.reg, this.#line);
      return;
    }
    const value = BigInt(d.value);
    if (d.reg === "HCR_EL2") {
      this.#hcr = value;
      return;
    }
    if ((this.#hcr & HCR_E2H) === 0n) return;
    const why = e2hLayoutProblem(d.reg, value);
    if (why === undefined) return;
    this.findings.push({
      rule: E2H_RULE,
      severity: "fail",
      line: this.#msrLine.get(d.reg) ?? this.#line,
      message: why,
    });
  }
}
