// The oracle's host stage-2 walker against tables hyplab's kvm_pgtable
// builds (random annotations, three geometries), and its refusals.

import { assertEquals, assertRejects } from "@std/assert";
import { PhysicalMemory, Prng } from "../../../core/mod.ts";
import { stage2PgtableInit } from "../../../plugins/kvm_pgtable/mod.ts";
import { hostVtcr } from "../../../plugins/pkvm/hyp_setup.ts";
import { OracleError } from "../../../plugins/oracle/mod.ts";
import { stage2StartLevel, walkHostStage2 } from "../../../plugins/oracle/mod.ts";

const RAM = { base: 0x4000_0000n, size: 0x8000_0000n };

function setup(mmfr0: bigint, lpa2: boolean) {
  const memory = new PhysicalMemory([{ base: 0x4000_0000, size: 2 ** 31 }]);
  const vtcr = hostVtcr(mmfr0, 0x20n, lpa2);
  const iaBits = 64 - Number(vtcr & 0x3fn);
  const startLevel = 2 - Number((vtcr >> 6n) & 3n);
  const pgdPages = Math.max(1, 2 ** (iaBits - (12 + 9 * (3 - startLevel))) / 512);
  const pgd = 0x7000_0000;
  let next = pgd + 0x10_0000;
  const refs = new Map<number, number>();
  const mmOps = {
    zallocPage: () => {
      memory.zero(next, 4096);
      refs.set(next, 1);
      return (next += 4096) - 4096;
    },
    getPage: (va: number) => void refs.set(va & ~0xfff, (refs.get(va & ~0xfff) ?? 0) + 1),
    putPage: (va: number) => void refs.set(va & ~0xfff, (refs.get(va & ~0xfff) ?? 1) - 1),
    physToVirt: (pa: number) => pa,
    virtToPhys: (va: number) => va,
  };
  const s2 = stage2PgtableInit("v7.2", { iaBits, startLevel, pgd, pgdPages, mmOps, memory, lpa2 });
  const read = (pa: bigint, n: number) => memory.readBytes(Number(pa), n);
  return { memory, vtcr, s2, read, pgd, pgdPages, iaBits, startLevel };
}

Deno.test("walkHostStage2 reads back exactly the annotations kvm_pgtable wrote (40, 48, 52 bits; 2000 random ranges each)", async () => {
  for (const [mmfr0, lpa2] of [[2n, false], [5n, false], [6n, true]] as const) {
    const { vtcr, s2, read, pgd, pgdPages, iaBits, startLevel } = setup(mmfr0, lpa2);
    const prng = new Prng(Number(mmfr0));
    for (let i = 0; i < 2000; i++) {
      const pa = 0x4000_0000 + prng.int(2 ** 18) * 4096;
      const pte = i % 3 === 0 ? (2n << 60n) | 2n : 4n;
      assertEquals(s2.annotate(pa, (1 + prng.int(3)) * 4096, pte), 0);
    }
    const r = await walkHostStage2({ vttbr: BigInt(pgd) | 1n, vtcr }, read, { ram: [RAM] });
    assertEquals([r.iaBits, r.startLevel, r.pgd, r.pgdPages, r.lpa2], [
      iaBits,
      startLevel,
      BigInt(pgd),
      pgdPages,
      lpa2,
    ]);
    assertEquals(r.tablePages, s2.tablePages().length);
    assertEquals(
      r.annotations,
      s2.annotations().map((a) => ({ ipa: BigInt(a.ipa), size: BigInt(a.size), desc: a.pte })),
    );
  }
});

Deno.test("stage2StartLevel: SL0 and, with DS, SL2", () => {
  assertEquals([0n, 1n, 2n, 3n].map((sl0) => stage2StartLevel(sl0 << 6n)), [2, 1, 0, 3]);
  assertEquals(stage2StartLevel((1n << 32n) | (1n << 33n)), -1);
  // Without DS, bit 33 is not SL2.
  assertEquals(stage2StartLevel(1n << 33n), 2);
});

Deno.test("walkHostStage2 refuses what it cannot walk, naming the register or entry", async () => {
  const { vtcr, s2, read, pgd, memory } = setup(5n, false);
  const ram = { ram: [RAM] };
  const walk = (vttbr: bigint, v: bigint) => walkHostStage2({ vttbr, vtcr: v }, read, ram);
  await assertRejects(() => walk(BigInt(pgd), vtcr | (1n << 14n)), OracleError, "TG0");
  await assertRejects(() => walk(BigInt(pgd), (vtcr & ~0x3fn) | 10n), OracleError, "T0SZ");
  await assertRejects(() => walk(BigInt(pgd) + 8n, vtcr), OracleError, "not aligned");
  await assertRejects(() => walk(0x1000n, vtcr), OracleError, "outside RAM");
  await assertRejects(
    () => walk(BigInt(pgd), (1n << 32n) | (1n << 33n) | (1n << 6n) | 12n),
    OracleError,
    "reserved",
  );
  // 48 bits cannot start at level 1 (it would need 512 concatenated tables).
  await assertRejects(
    () => walk(BigInt(pgd), (vtcr & ~0xc0n) | (1n << 6n)),
    OracleError,
    "level 1",
  );
  // A table reached twice.
  assertEquals(s2.annotate(0x4000_0000, 4096, 4n), 0);
  memory.write64(pgd + 8, memory.read64(pgd));
  await assertRejects(() => walk(BigInt(pgd), vtcr), OracleError, "reached twice");
});
