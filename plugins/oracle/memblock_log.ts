/**
 * The host's memblock state at the moment `kvm_hyp_reserve()` allocates the
 * hypervisor pool, reconstructed from a `memblock=debug` console log.
 *
 * The kernel prints every memblock event (`memblock_reserve: [a-b] caller`,
 * `memblock_phys_free`, `memblock_remove`, ...) and, later in
 * `setup_arch()`, one `MEMBLOCK configuration:` dump of both region arrays.
 * Starting from that dump, the events logged after the `kvm_hyp_reserve`
 * request (its own `memblock_reserve` included) are undone, newest first: a
 * reservation is taken out of `reserved`, a free is put back, a removal of
 * memory is put back into `memory`, an addition is taken out. Each undo must
 * find the state it expects (a reservation fully reserved, a free fully
 * unreserved), and the pool itself must be free memory in the result;
 * anything else is an error naming the log line.
 *
 * Limit: an explicit `memblock_reserve` of a range that was already partly
 * reserved cannot be told apart from a fresh one, so undoing it frees too
 * much. Allocations never overlap a reservation, so only explicit
 * reservations between `kvm_hyp_reserve` and the dump could do this (none on
 * the QEMU virt boots of v6.1..v7.2).
 *
 * @module
 */

import { hex } from "../../core/mod.ts";
import {
  type ConsoleLine,
  consoleLines,
  kvmRequestIndex,
  type KvmReserveLog,
  kvmReserveLog,
  memblockEvent,
} from "./console_log.ts";
import { OracleError } from "./errors.ts";
import { type FlaggedRange, RangeSet } from "./range_set.ts";

/** memblock at `kvm_hyp_reserve()` time, plus what the log says about that call. */
export interface MemblockAtKvmReserve {
  /** `memblock.memory`, merged (touching regions with equal flags). */
  memory: FlaggedRange[];
  /** `memblock.reserved`, merged (flags dropped: they do not change what is free). */
  reserved: { base: bigint; size: bigint }[];
  /** The request, reservation and announcement. */
  kvm: KvmReserveLog;
  /** Line of the `MEMBLOCK configuration:` dump that was replayed back from. */
  dumpLine: number;
  /** How many events were undone. */
  undone: number;
}

interface Dump {
  memory: FlaggedRange[];
  reserved: FlaggedRange[];
  line: number;
  end: number;
}

const REGION =
  /^\s*(memory|reserved|physmem)\[0x[0-9a-fA-F]+\]\s+\[(0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)\], (0x[0-9a-fA-F]+) bytes(?: on node -?\d+)? flags: (0x[0-9a-fA-F]+)/;

function parseDump(lines: readonly ConsoleLine[], at: number): Dump {
  const head = lines[at]!;
  const sizes = /^\s*memory size = (0x[0-9a-fA-F]+) reserved size = (0x[0-9a-fA-F]+)/.exec(
    lines[at + 1]?.text ?? "",
  );
  if (!sizes) {
    throw new OracleError(
      `console log line ${head.n + 1}: expected " memory size = ... reserved size = ..."`,
    );
  }
  const out: Dump = { memory: [], reserved: [], line: head.n, end: at + 2 };
  const counts = new Map<string, number>();
  let i = at + 2;
  for (; i < lines.length; i++) {
    const t = lines[i]!.text;
    const cnt = /^\s*(memory|reserved|physmem)\.cnt\s*= (0x[0-9a-fA-F]+)/.exec(t);
    if (cnt) {
      counts.set(cnt[1]!, Number(cnt[2]!));
      continue;
    }
    const r = REGION.exec(t);
    if (!r) break;
    const base = BigInt(r[2]!);
    const size = BigInt(r[4]!);
    if (BigInt(r[3]!) + 1n - base !== size) {
      throw new OracleError(`console log line ${lines[i]!.n}: region end and size disagree`);
    }
    const region = { base, size, flags: Number(r[5]!) };
    if (r[1] === "memory") out.memory.push(region);
    else if (r[1] === "reserved") out.reserved.push(region);
  }
  out.end = i;
  for (const [kind, list] of [["memory", out.memory], ["reserved", out.reserved]] as const) {
    if (counts.get(kind) !== list.length) {
      throw new OracleError(
        `console log line ${head.n}: the MEMBLOCK dump says ${kind}.cnt = ${
          counts.get(kind) ?? "(missing)"
        } but lists ${list.length} regions (truncated log?)`,
      );
    }
  }
  const total = (l: FlaggedRange[]) => l.reduce((s, x) => s + x.size, 0n);
  if (total(out.memory) !== BigInt(sizes[1]!) || total(out.reserved) !== BigInt(sizes[2]!)) {
    throw new OracleError(
      `console log line ${head.n + 1}: the MEMBLOCK dump's totals do not match its regions`,
    );
  }
  return out;
}

/**
 * Reconstructs memblock at the `kvm_hyp_reserve()` allocation.
 *
 * @param log The console text of a boot with `memblock=debug` and `earlycon`.
 * @returns The state and the kvm facts.
 * @throws {OracleError} When the log lacks the request or the dump, holds an
 *   event this replay does not know, or an undo does not fit the state.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { memblockAtKvmReserve } from "./memblock_log.ts";
 * const log = [
 *   "memblock_reserve: [0x0000000040210000-0x000000004220ffff] arm64_memblock_init+0x1f0/0x260",
 *   "memblock_phys_alloc_range: 2097152 bytes align=0x200000 from=0x0000000000000000 max_addr=0x0000000000000000 kvm_hyp_reserve+0x1d4/0x25c",
 *   "memblock_reserve: [0x000000007fe00000-0x000000007fffffff] memblock_alloc_range_nid+0xe8/0x17c",
 *   "kvm [0]: Reserved 2 MiB at 0x7fe00000",
 *   "MEMBLOCK configuration:",
 *   " memory size = 0x0000000040000000 reserved size = 0x0000000002200000",
 *   " memory.cnt  = 0x1",
 *   " memory[0x0]\t[0x0000000040000000-0x000000007fffffff], 0x0000000040000000 bytes flags: 0x0",
 *   " reserved.cnt  = 0x2",
 *   " reserved[0x0]\t[0x0000000040210000-0x000000004220ffff], 0x0000000002000000 bytes flags: 0x0",
 *   " reserved[0x1]\t[0x000000007fe00000-0x000000007fffffff], 0x0000000000200000 bytes flags: 0x0",
 * ].join("\n");
 * const s = memblockAtKvmReserve(log);
 * assertEquals(s.reserved, [{ base: 0x40210000n, size: 0x2000000n }]);
 * assertEquals(s.kvm.reserved.base, 0x7fe00000n);
 * ```
 */
export function memblockAtKvmReserve(log: string): MemblockAtKvmReserve {
  const lines = consoleLines(log);
  const kvm = kvmReserveLog(lines);
  const from = kvmRequestIndex(lines);
  const dumpAt = lines.findIndex((l, i) => i > from && /^MEMBLOCK configuration:/.test(l.text));
  if (dumpAt < 0) {
    throw new OracleError(
      `console log: no "MEMBLOCK configuration:" dump after the kvm_hyp_reserve request (line ${
        lines[from]!.n
      }); boot with memblock=debug`,
    );
  }
  const dump = parseDump(lines, dumpAt);
  const memory = new RangeSet();
  const reserved = new RangeSet();
  for (const r of dump.memory) {
    const why = memory.add(r.base, r.size, r.flags);
    if (why) {
      throw new OracleError(`console log line ${dump.line}: memory region ${hex(r.base)} ${why}`);
    }
  }
  for (const r of dump.reserved) {
    const why = reserved.add(r.base, r.size);
    if (why) {
      throw new OracleError(`console log line ${dump.line}: reserved region ${hex(r.base)} ${why}`);
    }
  }
  let undone = 0;
  for (let i = dumpAt - 1; i > from; i--) {
    const l = lines[i]!;
    const ev = memblockEvent(l.text);
    if (!ev) continue;
    let why: string | null;
    let what: string;
    if (/^_*memblock_reserve$/.test(ev.fn)) {
      what = "undoing this reservation";
      why = reserved.remove(ev.base, ev.size);
    } else if (ev.fn === "memblock_phys_free" || ev.fn === "memblock_free") {
      what = "undoing this free";
      why = reserved.add(ev.base, ev.size);
    } else if (ev.fn === "memblock_remove") {
      what = "undoing this removal";
      why = memory.add(ev.base, ev.size);
    } else if (ev.fn === "memblock_add" || ev.fn === "memblock_add_node") {
      what = "undoing this addition";
      why = memory.remove(ev.base, ev.size);
    } else if (ev.fn === "memblock_physmem_add") {
      continue;
    } else {
      throw new OracleError(
        `console log line ${l.n}: ${ev.fn} between kvm_hyp_reserve and the MEMBLOCK dump: no rule to undo it`,
      );
    }
    if (why) {
      throw new OracleError(
        `console log line ${l.n}: ${what} [${hex(ev.base)}-${
          hex(ev.base + ev.size)
        }) fails: ${why}`,
      );
    }
    undone++;
  }
  const k = kvm.reserved;
  if (!memory.covers(k.base, k.size) || reserved.overlaps(k.base, k.size)) {
    throw new OracleError(
      `console log line ${k.line}: the kvm pool [${hex(k.base)}-${
        hex(k.base + k.size)
      }) is not free memory in the reconstructed memblock`,
    );
  }
  return {
    memory: memory.ranges(),
    reserved: reserved.ranges().map(({ base, size }) => ({ base, size })),
    kvm,
    dumpLine: dump.line,
    undone,
  };
}
