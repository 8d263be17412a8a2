import { assertEquals, assertThrows } from "@std/assert";
import { Prng } from "../../../core/mod.ts";
import {
  consoleLines,
  kvmReserveLog,
  memblockAtKvmReserve,
  OracleError,
  pkvmMode,
} from "../../../plugins/oracle/mod.ts";

// A real v6.1 console (Debian 6.1.176-1, QEMU virt, cortex-a57, 4 GiB, 4 CPUs,
// memblock=debug), trimmed to the boot header, the last early page-table
// allocations, everything from kvm_hyp_reserve to the MEMBLOCK dump, and the
// pKVM and panic lines. CRLF line ends as the serial port gives them.
const FIXTURE = new URL("../../fixtures/oracle/v6.1_memblock_console.log", import.meta.url);
const LOG = Deno.readTextFileSync(FIXTURE);
const LINES = LOG.split("\n");

const hexRanges = (l: { base: bigint; size: bigint }[]) =>
  l.map((r) => [`0x${r.base.toString(16)}`, `0x${r.size.toString(16)}`]);

/** The fixture with line `n` (1-based) replaced (or removed with null). */
function edit(n: number, text: string | null): string {
  const copy = [...LINES];
  if (text === null) copy.splice(n - 1, 1);
  else copy[n - 1] = text;
  return copy.join("\n");
}

function lineOf(re: RegExp): number {
  return LINES.findIndex((l) => re.test(l)) + 1;
}

Deno.test("memblock at kvm_hyp_reserve(): the v6.1 console replayed back from the dump", () => {
  const s = memblockAtKvmReserve(LOG);
  assertEquals(s.memory.map((r) => [r.base, r.size, r.flags]), [[0x4000_0000n, 0x1_0000_0000n, 0]]);
  // Checked by hand: the dump's eight regions minus the eight reservations
  // logged after the request (kvm's own [0x13e000000-0x13f5fffff], three
  // sparse_init pieces, the 64 MiB memmap, two vmemmap pages, the 64 MiB CMA)
  // leave five regions; the sparse pieces ended at 0x13f7ec37f, so the NODE_DATA
  // reservation [0x13f7ec380-0x13f7ef0ff] is what remains of dump region 5.
  assertEquals(hexRanges(s.reserved), [
    ["0x40210000", "0x1ffb000"],
    ["0x48000000", "0x100000"],
    ["0x13f7ec380", "0x2d80"],
    ["0x13f7ef480", "0xab7c"],
    ["0x13f7fa000", "0x806000"],
  ]);
  assertEquals(s.undone, 8);
  assertEquals(s.dumpLine, 56);
  assertEquals(s.kvm.request, { size: 23068672n, align: 0x200000n, line: 31 });
  assertEquals(s.kvm.reserved, { base: 0x13e000000n, size: 0x1600000n, line: 32 });
  assertEquals(s.kvm.announced, { mib: 22, base: 0x13e000000n, line: 33 });
  assertEquals(pkvmMode(LOG), "nVHE");
});

Deno.test("memblock_log: the pool is the highest free 2 MiB-aligned range of the reconstruction", () => {
  // Cross-check with memblock's own rule: top-down, the first fit below the
  // lowest reservation at the top of memory.
  const s = memblockAtKvmReserve(LOG);
  const top = s.reserved.filter((r) => r.base >= 0x13e000000n)[0]!;
  const size = s.kvm.request.size;
  const align = s.kvm.request.align;
  assertEquals((top.base - size) / align * align, s.kvm.reserved.base);
});

Deno.test("memblock_log refuses logs it cannot replay, naming the line", async (t) => {
  const req = lineOf(/kvm_hyp_reserve\+/);
  const dump = lineOf(/MEMBLOCK configuration:/);
  const cases: [string, string, RegExp][] = [
    ["no kvm_hyp_reserve request", edit(req, null), /no memblock allocation from kvm_hyp_reserve/],
    [
      "no MEMBLOCK dump",
      LINES.slice(0, dump - 1).join("\n"),
      /no "MEMBLOCK configuration:" dump after the kvm_hyp_reserve request \(line 31\)/,
    ],
    [
      "head lost (no earlycon)",
      LINES.slice(40).join("\n"),
      /no memblock allocation from kvm_hyp_reserve/,
    ],
    [
      "a dump cut short",
      LINES.slice(0, dump + 6).join("\n"),
      /line 56: the MEMBLOCK dump says reserved\.cnt = 8 but lists 2 regions/,
    ],
    [
      "a reservation the dump does not hold",
      edit(
        req + 3,
        "memblock_reserve: [0x0000000050000000-0x0000000050000fff] memblock_alloc_range_nid+0xe8/0x17c",
      ),
      /line 34: undoing this reservation \[0x50000000-0x50001000\) fails: only 0x0 of its 0x1000 bytes/,
    ],
    [
      "a free of a range the dump holds reserved",
      edit(req + 3, "memblock_phys_free: [0x0000000048000000-0x0000000048000fff] foo+0x0/0x10"),
      /line 34: undoing this free \[0x48000000-0x48001000\) fails: overlaps/,
    ],
    [
      "an event with no undo rule",
      edit(req + 3, "memblock_frobnicate: [0x0000000048000000-0x0000000048000fff] foo+0x0/0x10"),
      /line 34: memblock_frobnicate between kvm_hyp_reserve and the MEMBLOCK dump: no rule to undo it/,
    ],
    [
      "a dump whose totals disagree",
      edit(dump + 1, " memory size = 0x0000000100000000 reserved size = 0x0000000000001000"),
      /line 57: the MEMBLOCK dump's totals do not match its regions/,
    ],
    [
      "a reservation that does not fit the request",
      edit(
        req + 1,
        "memblock_reserve: [0x000000013e000000-0x000000013f5fefff] memblock_alloc_range_nid+0xe8/0x17c",
      ),
      /line 32: reserved 23064576 bytes at 0x13e000000 for a request of 23068672 bytes/,
    ],
    [
      "an announcement that disagrees",
      edit(req + 2, "[    0.000000] kvm [0]: Reserved 22 MiB at 0x13c000000"),
      /line 33: kvm announces 0x13c000000 but memblock reserved 0x13e000000 \(line 32\)/,
    ],
  ];
  for (const [name, log, re] of cases) {
    await t.step(name, () => {
      const e = assertThrows(() => memblockAtKvmReserve(log), OracleError);
      if (!re.test(e.message)) throw new Error(`"${e.message}" !~ ${re}`);
    });
  }
});

Deno.test("memblock_log: a pool outside the reconstructed memory is refused", () => {
  // The dump's memory ends at 0x13f000000, inside the pool [0x13e000000, 0x13f600000).
  const dump = lineOf(/MEMBLOCK configuration:/);
  const lines = [...LINES];
  lines[dump] = " memory size = 0x00000000ff000000 reserved size = 0x000000000bf31ffc";
  lines[dump + 2] =
    " memory[0x0]\t[0x0000000040000000-0x000000013effffff], 0x00000000ff000000 bytes on node 0 flags: 0x0";
  const e = assertThrows(() => memblockAtKvmReserve(lines.join("\n")), OracleError);
  assertEquals(
    e.message,
    "console log line 32: the kvm pool [0x13e000000-0x13f600000) is not free memory in the reconstructed memblock",
  );
});

Deno.test("kvm_hyp_reserve: a failed 2 MiB-aligned attempt and its page-aligned retry", () => {
  const log = [
    "memblock_phys_alloc_range: 23068672 bytes align=0x200000 from=0x0 max_addr=0x0 kvm_hyp_reserve+0x1d4/0x25c",
    "memblock_phys_alloc_range: 23068672 bytes align=0x1000 from=0x0 max_addr=0x0 kvm_hyp_reserve+0x1f0/0x25c",
    "memblock_reserve: [0x0000000041000000-0x00000000425fffff] memblock_alloc_range_nid+0xe8/0x17c",
    "kvm [0]: Reserved 22 MiB at 0x41000000",
  ].join("\n");
  const r = kvmReserveLog(consoleLines(log));
  assertEquals([r.request.align, r.request.line, r.reserved.base], [0x1000n, 2, 0x41000000n]);
});

Deno.test("pkvmMode reads nVHE, hVHE and v7.2's +NV2 suffix; a non-protected boot is refused", () => {
  assertEquals(pkvmMode("kvm [1]: Protected hVHE mode initialized successfully"), "hVHE");
  assertEquals(pkvmMode("kvm [1]: Protected nVHE+NV2 mode initialized successfully"), "nVHE");
  assertThrows(
    () => pkvmMode("kvm [1]: Hyp nVHE mode initialized successfully"),
    OracleError,
    "pKVM did not start",
  );
  assertThrows(() => pkvmMode("kvm [1]: VHE mode initialized successfully"), OracleError);
});

// --- property: replaying any logged history recovers the state at the request ---

const PAGE = 0x1000n;
const hx = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;

/** Runs of set pages of a bitmap as [base, size) byte ranges. */
function runs(bits: Uint8Array, base: bigint): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  for (let i = 0; i < bits.length;) {
    if (!bits[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < bits.length && bits[j]) j++;
    out.push([base + BigInt(i) * PAGE, BigInt(j - i) * PAGE]);
    i = j;
  }
  return out;
}

function history(rng: Prng): { log: string; expect: [bigint, bigint][]; pool: bigint } {
  const base = 0x4000_0000n;
  const pages = 8192 + rng.int(8192); // 32..64 MiB
  const bits = new Uint8Array(pages);
  const lines: string[] = [];
  const findFree = (n: number, align: number): number => {
    // top-down, like memblock
    for (let i = Math.floor((pages - n) / align) * align; i >= 0; i -= align) {
      let ok = true;
      for (let k = 0; k < n && ok; k++) ok = !bits[i + k];
      if (ok) return i;
    }
    return -1;
  };
  const reserve = (i: number, n: number, caller: string) => {
    for (let k = 0; k < n; k++) bits[i + k] = 1;
    const a = base + BigInt(i) * PAGE;
    lines.push(
      `memblock_phys_alloc_range: ${
        n * 4096
      } bytes align=0x1000 from=0x0 max_addr=0x0 ${caller}+0x0/0x10`,
    );
    lines.push(
      `memblock_reserve: [${hx(a)}-${
        hx(a + BigInt(n) * PAGE - 1n)
      }] memblock_alloc_range_nid+0xe8/0x17c`,
    );
  };
  const step = () => {
    const r = rng.int(10);
    if (r < 6) {
      const n = 1 + rng.int(64);
      const i = findFree(n, 1);
      if (i >= 0) reserve(i, n, "some_alloc");
    } else if (r < 9) {
      const set = runs(bits, 0n);
      if (!set.length) return;
      const [s, len] = set[rng.int(set.length)]!;
      const first = Number(s / PAGE) + rng.int(Number(len / PAGE));
      let n = 1;
      while (n < 32 && first + n < pages && bits[first + n]) n++;
      n = 1 + rng.int(n);
      for (let k = 0; k < n; k++) bits[first + k] = 0;
      const a = base + BigInt(first) * PAGE;
      lines.push(
        `memblock_phys_free: [${hx(a)}-${hx(a + BigInt(n) * PAGE - 1n)}] some_free+0x0/0x10`,
      );
    } else {
      // A zero-size free prints end = base - 1 (pcpu_embed_first_chunk does this).
      const a = base + BigInt(rng.int(pages)) * PAGE;
      lines.push(`memblock_phys_free: [${hx(a)}-${hx(a - 1n)}] pcpu_embed_first_chunk+0x1f4/0x2e4`);
    }
  };
  lines.push(
    `memblock_reserve: [${hx(base)}-${hx(base + 0x1fffffn)}] arm64_memblock_init+0x1f0/0x260`,
  );
  for (let k = 0; k < 512; k++) bits[k] = 1;
  const before = rng.int(40);
  for (let k = 0; k < before; k++) step();
  const expect = runs(bits, base);
  const poolPages = 512 * (1 + rng.int(3));
  const at = findFree(poolPages, 512);
  if (at < 0) return history(rng);
  const pool = base + BigInt(at) * PAGE;
  lines.push(
    `memblock_phys_alloc_range: ${
      poolPages * 4096
    } bytes align=0x200000 from=0x0 max_addr=0x0 kvm_hyp_reserve+0x1d4/0x25c`,
  );
  for (let k = 0; k < poolPages; k++) bits[at + k] = 1;
  lines.push(
    `memblock_reserve: [${hx(pool)}-${
      hx(pool + BigInt(poolPages) * PAGE - 1n)
    }] memblock_alloc_range_nid+0xe8/0x17c`,
  );
  lines.push(`kvm [0]: Reserved ${poolPages / 256} MiB at 0x${pool.toString(16)}`);
  const after = rng.int(40);
  for (let k = 0; k < after; k++) step();
  const res = runs(bits, base);
  const total = res.reduce((s, [, n]) => s + n, 0n);
  const memSize = BigInt(pages) * PAGE;
  lines.push("MEMBLOCK configuration:");
  lines.push(` memory size = ${hx(memSize)} reserved size = ${hx(total)}`);
  lines.push(" memory.cnt  = 0x1");
  lines.push(
    ` memory[0x0]\t[${hx(base)}-${hx(base + memSize - 1n)}], ${
      hx(memSize)
    } bytes on node 0 flags: 0x0`,
  );
  lines.push(` reserved.cnt  = 0x${res.length.toString(16)}`);
  res.forEach(([b, n], i) =>
    lines.push(
      ` reserved[0x${i.toString(16)}]\t[${hx(b)}-${hx(b + n - 1n)}], ${hx(n)} bytes flags: 0x0`,
    )
  );
  lines.push("memblock_reserve: [0x0000000040000000-0x0000000040000fff] after_the_dump+0x0/0x10");
  return { log: lines.map((l) => `[    0.000000] ${l}`).join("\r\n"), expect, pool };
}

Deno.test("property: replaying random memblock histories recovers memblock at the request", () => {
  let events = 0;
  for (let seed = 1; seed <= 150; seed++) {
    const rng = new Prng(seed);
    const h = history(rng);
    events += h.log.split("\n").length;
    const s = memblockAtKvmReserve(h.log);
    assertEquals(s.reserved.map((r) => [r.base, r.size]), h.expect, `seed ${seed}`);
    assertEquals(s.kvm.reserved.base, h.pool, `seed ${seed}`);
  }
  if (events < 5000) throw new Error(`only ${events} log lines replayed`);
});
