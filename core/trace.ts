/**
 * The trace: a typed, ordered, deterministic event log.
 *
 * Events carry a sequence number, the CPU and exception level they happened
 * on, a kind and a kind-specific payload. No wall-clock time is recorded, so
 * the same inputs and seed give the same trace.
 *
 * @module
 */

/** Payload of each trace event kind. Values are JSON-friendly. */
export interface TraceEventMap {
  /** A hypercall issued by the host and its result. */
  hypercall: {
    name: string;
    id: number;
    kind: "hvc" | "stub";
    x0: string;
    x1: string;
    args: string[];
  };
  /** Pages taken from an allocator. */
  alloc: { allocator: string; pool: string; pa: string; order: number };
  /** Pages returned to an allocator. */
  free: { allocator: string; pool: string; pa: string; order: number };
  /** A range mapped in a page table. */
  map: { table: string; va: string; pa: string; size: string; prot: string };
  /** A range unmapped from a page table. */
  unmap: { table: string; va: string; size: string };
  /** A TLB entry filled by a walk. */
  tlb_fill: { va: string; pa: string; level: number; base: string; speculative: boolean };
  /** A TLB invalidation took effect. */
  tlb_invalidate: { op: string; va?: string; ttl?: number; removed: number };
  /** A TLB hit returned a translation that differs from a walk of memory now. */
  tlb_stale: { va: string; tlb: string; walk: string };
  /** A system register write (pending or committed). */
  sysreg_write: { reg: string; value: string; pending: boolean };
  /** A barrier-rule finding from the A64 checker. */
  barrier_finding: { rule: string; severity: "fail" | "warn"; line: number; message: string };
  /** An exception was taken or returned from. */
  exception: {
    type: string;
    from: number;
    to: number;
    esr?: string;
    far?: string;
    vector?: string;
  };
  /** One executed A64 instruction. */
  insn: { line: number; text: string };
  /** A boot step started or ended. */
  step: { step: number; name: string; status: "start" | "ok" | "fail"; detail?: string };
  /** A provider of a capability was swapped for another (handover). */
  handover: { capability: string; from: string; to: string };
  /** A kernel log message (pr_info / pr_err / WARN). */
  log: { level: "info" | "warn" | "error"; message: string };
}

/** Every event kind. */
export type TraceKind = keyof TraceEventMap;

/** One event as stored. */
export type TraceEvent<K extends TraceKind = TraceKind> = {
  [P in K]: {
    /** Position in the trace, from 0. */
    seq: number;
    /** CPU index, or -1 when not on a CPU (host-side setup). */
    cpu: number;
    /** Exception level, or -1 when not applicable. */
    el: number;
    /** Event kind. */
    kind: P;
    /** Kind-specific payload. */
    data: TraceEventMap[P];
  };
}[K];

/**
 * A typed, ordered event log.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Trace } from "./trace.ts";
 * const t = new Trace();
 * t.emit("log", { level: "info", message: "Reserved 22 MiB at 0x13ea00000" });
 * assertEquals(t.filter("log")[0]!.data.message, "Reserved 22 MiB at 0x13ea00000");
 * assertEquals(t.toJSON().length, 1);
 * ```
 */
export class Trace {
  #events: TraceEvent[] = [];
  /** When false, {@link Trace.emit} records nothing (benchmarks). */
  enabled = true;
  /** CPU index stamped on new events. */
  cpu: number = -1;
  /** Exception level stamped on new events. */
  el: number = -1;
  #kinds: Set<TraceKind> | undefined;

  /**

   * Creates the value.
   * @param options `kinds`: record only these kinds (all when omitted).
   */
  constructor(options: { kinds?: readonly TraceKind[] } = {}) {
    this.#kinds = options.kinds ? new Set(options.kinds) : undefined;
  }

  /** Number of events recorded. */
  get length(): number {
    return this.#events.length;
  }

  /**
   * Whether an event of this kind would be recorded (so callers can skip
   * building a payload).
   * @param kind Event kind.
   * @returns True if recording.
   */
  wants(kind: TraceKind): boolean {
    return this.enabled && (this.#kinds === undefined || this.#kinds.has(kind));
  }

  /**
   * Appends an event. The payload is copied (payloads are flat: strings,
   * numbers, booleans and string arrays), so a caller changing its object
   * afterwards cannot rewrite history.
   * @param kind Event kind.
   * @param data Its payload.
   * @param where Optional CPU / EL overriding the current stamp.
   */
  emit<K extends TraceKind>(
    kind: K,
    data: TraceEventMap[K],
    where?: { cpu?: number; el?: number },
  ): void {
    if (!this.wants(kind)) return;
    this.#events.push({
      seq: this.#events.length,
      cpu: where?.cpu ?? this.cpu,
      el: where?.el ?? this.el,
      kind,
      data: copyPayload(data),
    } as TraceEvent);
  }

  /**
   * The events of one kind, in order.
   * @param kind Event kind.
   * @returns Matching events.
   */
  filter<K extends TraceKind>(kind: K): TraceEvent<K>[] {
    return this.#events.filter((e) => e.kind === kind) as unknown as TraceEvent<K>[];
  }

  /** Returns: All events, in order (a copy). */

  events(): TraceEvent[] {
    return [...this.#events];
  }

  /** Forgets every event. */
  clear(): void {
    this.#events = [];
  }

  /** Returns: The events as plain JSON-ready objects. */

  toJSON(): TraceEvent[] {
    return this.events();
  }
}

/** A copy of a flat payload; array members (hypercall `args`) are copied too. */
function copyPayload<T>(data: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    out[k] = Array.isArray(v) ? [...v] : v;
  }
  return out as T;
}
