import { assertEquals, assertRejects } from "@std/assert";
import { Prng } from "../../../core/mod.ts";
import { el2TcrFields, OracleError, walkEl2Stage1 } from "../../../plugins/oracle/mod.ts";
import { FakePhys, shiftOf, TreeBuilder } from "./_el2_tables.ts";

const RAM = [{ base: 0x4000_0000n, size: 0x4000_0000n }];
const AF = 1n << 10n;
const SH_IS = 3n << 8n;
const XN = 1n << 54n;
const RO = 2n << 6n;
const T0SZ = (bits: number) => BigInt(64 - bits);
/** TCR_EL2 (E2H = 0 layout) with T0SZ for `bits`, 4 KiB granule, RES1 bits 31 and 23. */
const tcr = (bits: number, ds = false) =>
  (1n << 31n) | (1n << 23n) | T0SZ(bits) | (ds ? 1n << 32n : 0n);

Deno.test("el2_walk: a 48-bit tree (root at level 0): pages and blocks merged, tables counted", async () => {
  const mem = new FakePhys();
  const b = new TreeBuilder(mem, 48, false, 0x4000_0000n);
  const page = AF | SH_IS | XN;
  const text = AF | SH_IS | RO;
  b.map(0x1000n, 0x4100_0000n, 3, page);
  b.map(0x2000n, 0x4100_1000n, 3, page); // continues VA and PA: merges
  b.map(0x3000n, 0x4200_0000n, 3, page); // PA jumps: new run
  b.map(0x4000n, 0x4200_1000n, 3, text); // attr differs: new run
  b.map(0x4000_0000n, 0x6000_0000n, 2, page); // 2 MiB block
  b.map(0x4020_0000n, 0x6020_0000n, 2, page); // next block: merges into 4 MiB
  b.map(0x4040_0000n, 0x6040_0000n, 3, page); // a page after it: bits 1:0 differ, no merge
  b.map(0x80_0000_0000n, 0x4000_0000n, 1, page); // 1 GiB block in another level-0 slot
  const r = await walkEl2Stage1({ ttbr0: b.ttbr, tcr: tcr(48), hcr: 0x8000_0000n }, mem.read, {
    ram: RAM,
  });
  assertEquals([r.vaBits, r.startLevel, r.lpa2, r.leaves], [48, 0, false, 8]);
  // root, then for VA 0: L1, L2 (covers 0x0 and 0x40000000? no: 1 GiB apart) ...
  assertEquals(r.tablePages, b.tables);
  const h = (v: bigint) => `0x${v.toString(16)}`;
  assertEquals(r.mappings.map((m) => [h(m.va), h(m.pa), h(m.size), h(m.attr)]), [
    ["0x1000", "0x41000000", "0x2000", h(page | 3n)],
    ["0x3000", "0x42000000", "0x1000", h(page | 3n)],
    ["0x4000", "0x42001000", "0x1000", h(text | 3n)],
    ["0x40000000", "0x60000000", "0x400000", h(page | 1n)],
    ["0x40400000", "0x60400000", "0x1000", h(page | 3n)],
    ["0x8000000000", "0x40000000", "0x40000000", h(page | 1n)],
  ]);
  // Each table was read whole, once.
  assertEquals(mem.reads.length, b.tables);
  assertEquals(mem.reads.every(([, n]) => n === 4096), true);
});

Deno.test("el2_walk: 39 bits start at level 1; 40 bits read a 2-entry level-0 root", async () => {
  const mem = new FakePhys();
  const b = new TreeBuilder(mem, 39, false, 0x4000_0000n);
  b.map(0x40_0000_0000n, 0x4000_0000n, 1, AF);
  const r = await walkEl2Stage1({ ttbr0: b.ttbr, tcr: tcr(39), hcr: 0n }, mem.read, { ram: RAM });
  assertEquals([r.startLevel, r.tablePages, r.mappings.length, r.mappings[0]!.va], [
    1,
    1,
    1,
    0x40_0000_0000n,
  ]);

  const mem40 = new FakePhys();
  const b40 = new TreeBuilder(mem40, 40, false, 0x4000_0000n);
  b40.map(0x80_0000_0000n + 0x1000n, 0x4800_0000n, 3, AF);
  const r40 = await walkEl2Stage1({ ttbr0: b40.ttbr, tcr: tcr(40), hcr: 0n }, mem40.read, {
    ram: RAM,
  });
  assertEquals([r40.startLevel, r40.tablePages, r40.mappings[0]!.va], [0, 4, 0x80_0000_1000n]);
  assertEquals(mem40.reads[0], [0x4000_0000n, 16]);
});

/** A 52-bit FEAT_LPA2 tree with tables above 2^51 (BADDR[51:48] and OA[51:50] out of place). */
function lpa2Tree() {
  const mem = new FakePhys();
  const ramBase = 0x8_0000_4000_0000n; // bit 51 set
  const b = new TreeBuilder(mem, 52, true, ramBase);
  const attrs = AF | XN | (1n << 11n); // nG, to see it kept
  const d1 = b.map(0xf_0000_0000_1000n, 0xc_0000_0040_0000n, 3, attrs); // VA in level −1 slot 15
  const d2 = b.map(0x1_0000_0020_0000n, 0x4_0000_0060_0000n, 2, attrs); // 2 MiB block, OA bit 50
  const d3 = b.map(0x2_0000_0000_0000n, 0x8_0000_0000_0000n, 0, attrs); // 512 GiB block at level 0
  return { mem, b, ram: [{ base: ramBase, size: 0x4000_0000n }], attrs, descs: [d1, d2, d3] };
}

Deno.test("el2_walk: a 52-bit FEAT_LPA2 tree from level -1, OA bits 51:50 in descriptor bits 9:8", async () => {
  const { mem, b, ram, attrs, descs } = lpa2Tree();
  // The descriptors really carry OA[51:50] in bits 9:8.
  assertEquals(descs.map((d) => (d >> 8n) & 3n), [3n, 1n, 2n]);
  assertEquals(b.ttbr & 0x3cn, 0x8n << 2n);
  const r = await walkEl2Stage1(
    { ttbr0: b.ttbr | 1n, /* CnP */ tcr: tcr(52, true), hcr: 0n },
    mem.read,
    { ram },
  );
  assertEquals([r.vaBits, r.startLevel, r.lpa2, r.tablePages], [52, -1, true, b.tables]);
  assertEquals(r.mappings, [
    { va: 0x1_0000_0020_0000n, pa: 0x4_0000_0060_0000n, size: 0x20_0000n, attr: attrs | 1n },
    { va: 0x2_0000_0000_0000n, pa: 0x8_0000_0000_0000n, size: 0x80_0000_0000n, attr: attrs | 1n },
    { va: 0xf_0000_0000_1000n, pa: 0xc_0000_0040_0000n, size: 0x1000n, attr: attrs | 3n },
  ]);
  assertEquals(mem.reads[0], [0x8_0000_4000_0000n, 128]); // 16 level −1 entries
});

Deno.test("el2_walk: TCR_EL2's layout follows HCR_EL2.E2H (DS is bit 32, or bit 59 under E2H)", async () => {
  const { mem, b, ram } = lpa2Tree();
  const e2h = 1n << 34n;
  const vhTcr = T0SZ(52) | (1n << 59n);
  assertEquals(el2TcrFields(vhTcr, e2h), { t0sz: 12, tg0: 0, ds: true, e2h: true });
  const r = await walkEl2Stage1(
    { ttbr0: b.ttbr | (0x42n << 48n), /* ASID */ tcr: vhTcr, hcr: e2h },
    mem.read,
    { ram },
  );
  assertEquals(r.mappings.length, 3);
  // Bit 32 under E2H is IPS, not DS: without LPA2 a T0SZ of 12 is refused.
  await assertRejects(
    () => walkEl2Stage1({ ttbr0: b.ttbr, tcr: tcr(52, true), hcr: e2h }, mem.read, { ram }),
    OracleError,
    "TCR_EL2 (E2H=1 layout).T0SZ = 12: outside 16..48",
  );
});

Deno.test("el2_walk refuses garbage tables with one clear error", async (t) => {
  const cases: [string, (b: TreeBuilder, m: FakePhys) => bigint | void, RegExp, bigint?][] = [
    [
      "a table outside RAM",
      (b, m) => m.write64(b.slot(0n, 1), 0x9000_0000n | 3n),
      /level 1 entry 0 at 0x40001000 \(0x90000003\): next-level table 0x90000000 is outside RAM/,
    ],
    [
      "a loop back to the root",
      (b, m) => m.write64(b.slot(0n, 2), b.root | 3n),
      /table 0x40000000 is already reached from TTBR0_EL2 \(a loop or a shared table\)/,
    ],
    [
      "a 0b01 descriptor at level 3",
      (b, m) => m.write64(b.slot(0x5000n, 3), 0x4100_0000n | 1n),
      /level 3 entry 5 .*: reserved descriptor \(0b01 at level 3\)/,
    ],
    [
      "a block at level 0 without LPA2",
      (b, m) => m.write64(b.slot(0n, 0), 0x4000_0000n | AF | 1n),
      /level 0 entry 0 .*: reserved descriptor \(a block at level 0\)/,
    ],
    [
      "RES0 bits 51:48 in a table descriptor",
      (b, m) => m.write64(b.slot(0n, 0), (1n << 48n) | (b.root + 0x1000n) | 3n),
      /RES0 bits 51:48 are set/,
    ],
    [
      "a 16 KiB granule",
      () => {},
      /TCR_EL2\.TG0 = 2: only the 4 KiB granule/,
      tcr(48) | (2n << 14n),
    ],
    ["T0SZ 13 without LPA2", () => {}, /TCR_EL2\.T0SZ = 13: outside 16\.\.48/, tcr(51)],
    [
      "a misaligned root",
      (b) => b.root + 8n,
      /root table 0x40000008 is not aligned to its 0x1000 bytes/,
    ],
    ["a root outside RAM", () => 0x2000_0000n, /root table 0x20000000 is outside RAM/],
  ];
  for (const [name, spoil, re, tcrValue] of cases) {
    await t.step(name, async () => {
      const mem = new FakePhys();
      const b = new TreeBuilder(mem, 48, false, 0x4000_0000n);
      b.map(0x1000n, 0x4100_0000n, 3, AF);
      const ttbr = spoil(b, mem) ?? b.ttbr;
      const e = await assertRejects(
        () =>
          walkEl2Stage1({ ttbr0: ttbr, tcr: tcrValue ?? tcr(48), hcr: 0n }, mem.read, { ram: RAM }),
        OracleError,
      );
      if (!re.test(e.message)) throw new Error(`"${e.message}" !~ ${re}`);
    });
  }
  await t.step("more tables than the bound", async () => {
    const mem = new FakePhys();
    const b = new TreeBuilder(mem, 48, false, 0x4000_0000n);
    for (let i = 0n; i < 8n; i++) b.map(i << 30n, 0x4000_0000n, 3, AF);
    await assertRejects(
      () =>
        walkEl2Stage1({ ttbr0: b.ttbr, tcr: tcr(48), hcr: 0n }, mem.read, {
          ram: RAM,
          maxTablePages: 5,
        }),
      OracleError,
      "more than 5 table pages",
    );
  });
});

Deno.test("property: the walk of random trees gives their leaves merged page by page", async () => {
  let leaves = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const rng = new Prng(seed);
    const lpa2 = seed % 4 === 0;
    const vaBits = lpa2 ? 52 : [39, 42, 48][seed % 3]!;
    const mem = new FakePhys();
    const ramBase = lpa2 ? 0x4_0000_4000_0000n : 0x4000_0000n;
    const b = new TreeBuilder(mem, vaBits, lpa2, ramBase);
    // Under LPA2, bits 9:8 are OA[51:50], not SH (shareability comes from TCR).
    const sh = lpa2 ? 0n : SH_IS;
    const attrsSet = [AF | sh, AF | sh | XN, AF | RO];
    // Expected: every 4 KiB page of every leaf, as [va, pa, attr].
    const pages = new Map<bigint, [bigint, bigint]>();
    const n = 100 + rng.int(100);
    // Clustered VAs so runs form: a few bases, consecutive slots.
    const bases = Array.from(
      { length: 4 },
      () =>
        BigInt(rng.nextU32()) << BigInt(vaBits - 34) & ((1n << BigInt(vaBits)) - 1n) &
        ~0x3fff_ffffn,
    );
    let pa = ramBase + 0x1000_0000n;
    for (let i = 0; i < n; i++) {
      const level = rng.int(10) < 8 ? 3 : 2;
      const size = 1n << BigInt(shiftOf(level));
      const va = (bases[rng.int(bases.length)]! + BigInt(rng.int(64)) * size) & ~(size - 1n);
      if (
        [...Array(Number(size / 0x1000n)).keys()].some((k) => pages.has(va + BigInt(k) * 0x1000n))
      ) continue;
      // Leaves of the other size may overlap in a table slot: skip VAs already under a block or table.
      try {
        pa = rng.int(3) === 0 ? pa + size * BigInt(1 + rng.int(4)) : pa;
        pa = (pa + size - 1n) & ~(size - 1n);
        const attr = attrsSet[rng.int(attrsSet.length)]!;
        const desc = b.map(va, pa, level, attr);
        const normalized = desc & ~b.oa((1n << 52n) - 1n, shiftOf(level));
        for (let k = 0n; k < size; k += 0x1000n) pages.set(va + k, [pa + k, normalized]);
        pa += size;
        leaves++;
      } catch {
        // a block where a table is, or the reverse: not a leaf
      }
    }
    const expect: { va: bigint; pa: bigint; size: bigint; attr: bigint }[] = [];
    for (const va of [...pages.keys()].sort((x, y) => (x < y ? -1 : 1))) {
      const [p, attr] = pages.get(va)!;
      const last = expect[expect.length - 1];
      if (last && last.va + last.size === va && last.pa + last.size === p && last.attr === attr) {
        last.size += 0x1000n;
      } else expect.push({ va, pa: p, size: 0x1000n, attr });
    }
    const r = await walkEl2Stage1(
      { ttbr0: b.ttbr, tcr: tcr(vaBits, lpa2), hcr: 0n },
      mem.read,
      { ram: [{ base: ramBase, size: 0x4000_0000n }] },
    );
    assertEquals(r.mappings, expect, `seed ${seed}`);
    assertEquals(r.tablePages, b.tables, `seed ${seed}`);
  }
  if (leaves < 4000) throw new Error(`only ${leaves} leaves`);
});
