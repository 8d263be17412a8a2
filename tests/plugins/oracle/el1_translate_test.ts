import { assertEquals, assertRejects } from "@std/assert";
import { readKernelVa, translateKernelVa } from "../../../plugins/oracle/el1_translate.ts";
import { OracleError } from "../../../plugins/oracle/errors.ts";
import { Prng } from "../../../core/prng.ts";

/** A sparse physical memory of 8-byte words. */
class Words {
  readonly words = new Map<bigint, bigint>();
  set(pa: bigint, v: bigint): void {
    this.words.set(pa, v);
  }
  read = (pa: bigint, n: number): Uint8Array => {
    const b = new Uint8Array(n);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < n; i += 8) dv.setBigUint64(i, this.words.get(pa + BigInt(i)) ?? 0n, true);
    return b;
  };
}

const TCR_48 = (16n << 16n) | (2n << 30n); // T1SZ 16, TG1 4 KiB
const TCR_39 = (25n << 16n) | (2n << 30n); // T1SZ 25: three levels from level 1

Deno.test("translateKernelVa: random 1 GiB, 2 MiB and 4 KiB leaves of a 48-bit and a 39-bit tree", async () => {
  const prng = new Prng(0x7ab1e);
  const rng = () => prng.float();
  for (const [tcr, vaBits] of [[TCR_48, 48], [TCR_39, 39]] as const) {
    const mem = new Words();
    let nextTable = 0x100000n;
    const newTable = () => (nextTable += 0x1000n);
    const root = newTable();
    const rootLevel = 4 - Math.ceil((vaBits - 12) / 9);
    const expected: [bigint, bigint][] = [];
    // Each leaf goes to a fresh VA slot; tables are made on the way down.
    const tables = new Map<string, bigint>();
    for (let i = 0; i < 2000; i++) {
      const leafLevel = 1 + Math.floor(rng() * 3); // 1..3
      const shift = 12 + 9 * (3 - leafLevel);
      const slot = BigInt(Math.floor(rng() * 2 ** Math.min(30, vaBits - shift)));
      const va = ((1n << 64n) - (1n << BigInt(vaBits))) | (slot << BigInt(shift));
      let table = root;
      let clash = false;
      for (let level = rootLevel; level < leafLevel; level++) {
        const key = `${level}:${va >> BigInt(12 + 9 * (3 - level))}`;
        const s = 12 + 9 * (3 - level);
        const idx = (va >> BigInt(s)) & 0x1ffn;
        const existing = mem.words.get(table + idx * 8n);
        if (existing !== undefined && (existing & 2n) === 0n) clash = true; // a block is there
        if (clash) break;
        let next = tables.get(key);
        if (next === undefined) {
          next = newTable();
          tables.set(key, next);
          mem.set(table + idx * 8n, next | 3n);
        }
        table = next;
      }
      const idx = (va >> BigInt(shift)) & 0x1ffn;
      if (clash || mem.words.has(table + idx * 8n)) continue;
      const pa = BigInt(Math.floor(rng() * 2 ** 16)) << BigInt(shift) & ((1n << 48n) - 1n);
      // Attribute bits around the output address must not leak into it.
      mem.set(table + idx * 8n, pa | (leafLevel === 3 ? 3n : 1n) | 0x700n | (1n << 54n));
      const off = BigInt(Math.floor(rng() * 2 ** Math.min(shift, 30))) &
        ((1n << BigInt(shift)) - 1n);
      expected.push([va | off, pa | off]);
    }
    assertEquals(expected.length > 1000, true);
    for (const [va, pa] of expected) {
      assertEquals(await translateKernelVa(va, { ttbr1: root, tcr }, mem.read), pa);
    }
  }
});

Deno.test("translateKernelVa: refusals name the reason", async () => {
  const mem = new Words();
  const regs = { ttbr1: 0x1000n, tcr: TCR_48 };
  await assertRejects(
    () => translateKernelVa(0xffff_0000_0000_0000n, regs, mem.read),
    OracleError,
    "invalid level-0 descriptor 0x0",
  );
  await assertRejects(
    () => translateKernelVa(0x0000_ffff_0000_0000n, regs, mem.read),
    OracleError,
    "not in the TTBR1_EL1 range of a 48-bit VA space",
  );
  await assertRejects(
    () =>
      translateKernelVa(
        0xffff_0000_0000_0000n,
        { ...regs, tcr: (16n << 16n) | (1n << 30n) },
        mem.read,
      ),
    OracleError,
    "TCR_EL1.TG1 is 1",
  );
  mem.set(0x1000n, 0x2000n | 1n); // a level-0 block
  await assertRejects(
    () => translateKernelVa(0xffff_0000_0000_0000n, regs, mem.read),
    OracleError,
    "level-0 block",
  );
  mem.set(0x1000n, 0x2000n | 3n);
  mem.set(0x2000n, 0x3000n | 3n);
  mem.set(0x3000n, 0x4000n | 3n);
  mem.set(0x4000n, 0x5000n | 1n); // bits 1:0 = 01 at level 3 is reserved
  await assertRejects(
    () => translateKernelVa(0xffff_0000_0000_0000n, regs, mem.read),
    OracleError,
    "reserved level-3 descriptor",
  );
});

Deno.test("readKernelVa: a read across a page boundary follows each page's own mapping", async () => {
  const mem = new Words();
  mem.set(0x1000n, 0x2000n | 3n);
  mem.set(0x2000n, 0x3000n | 3n);
  mem.set(0x3000n, 0x4000n | 3n);
  mem.set(0x4000n, 0x9000n | 3n); // VA page 0 → PA 0x9000
  mem.set(0x4008n, 0x7000n | 3n); // VA page 1 → PA 0x7000
  mem.set(0x9ff8n, 0x1111111111111111n);
  mem.set(0x7000n, 0x2222222222222222n);
  const b = await readKernelVa(
    0xffff_0000_0000_0ff8n,
    16,
    { ttbr1: 0x1000n, tcr: TCR_48 },
    mem.read,
  );
  const dv = new DataView(b.buffer);
  assertEquals(dv.getBigUint64(0, true), 0x1111111111111111n);
  assertEquals(dv.getBigUint64(8, true), 0x2222222222222222n);
});

Deno.test("translateKernelVa: a 52-bit host (TCR_EL1.DS) walks from level -1 with LPA2 addresses", async () => {
  // T1SZ 12, TG1 4 KiB, DS: 6.12 and 7.2 on QEMU's max.
  const tcr = (12n << 16n) | (2n << 30n) | (1n << 59n);
  const mem = new Words();
  // TTBR1_EL1 with BADDR[51:48] = 0 in bits 5:2 and an ASID in 63:48.
  const root = 0x10_0000n;
  const ttbr1 = root | (0x1234n << 48n);
  const va = 0xfff0_0000_c150_4123n; // a linear-map VA of a 52-bit kernel
  const idx = (l: number) => (va >> BigInt(12 + 9 * (3 - l))) & (l === -1 ? 0xfn : 0x1ffn);
  const l0 = 0x20_0000n;
  const l1 = 0x30_0000n;
  mem.set(root + idx(-1) * 8n, l0 | 3n);
  mem.set(l0 + idx(0) * 8n, l1 | 3n);
  // A 1 GiB block whose output address has bit 50 set (descriptor bit 8).
  mem.set(l1 + idx(1) * 8n, 0x4000_0000n | (1n << 8n) | 0x401n);
  assertEquals(
    await translateKernelVa(va, { ttbr1, tcr }, mem.read),
    (1n << 50n) | 0x4000_0000n | (va & 0x3fff_ffffn),
  );
  // A level-0 block is allowed with DS (512 GiB).
  mem.set(l0 + idx(0) * 8n, 0x80_0000_0000n | 0x401n);
  assertEquals(
    await translateKernelVa(va, { ttbr1, tcr }, mem.read),
    0x80_0000_0000n | (va & 0x7f_ffff_ffffn),
  );
  // Without DS a level-0 block is refused.
  await assertRejects(
    () =>
      translateKernelVa(
        0xffff_0000_0000_0000n,
        { ttbr1: root, tcr: TCR_48 },
        (() => {
          const m = new Words();
          m.set(root, 0n);
          m.set(root + 0x1000n * 0n + (0xffff_0000_0000_0000n >> 39n & 0x1ffn) * 8n, 0x401n);
          return m.read;
        })(),
      ),
    OracleError,
    "level-0 block without FEAT_LPA2",
  );
});
