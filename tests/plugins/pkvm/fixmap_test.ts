// Mainline (7.2) __pkvm_init_finalise after fix_hyp_pgtable_refcnt
// (nvhe/setup.c): hyp_create_fixmap / create_fixblock (nvhe/mm.c), the refcount
// the kernel keeps on each slot's table page, create_fixblock's -EINVAL, and
// pkvm_hyp_vm_table_init.

import { assertEquals, assertMatch } from "@std/assert";
import { ERRNO } from "../../../core/mod.ts";
import { createFixblock, fixblockPhys, PMD_SIZE } from "../../../plugins/pkvm/hyp_mm.ts";
import { pgtableInvariants } from "../../../plugins/pkvm/verify.ts";
import { bootMachine } from "./_boot.ts";

const MiB = 2 ** 20;

function booted() {
  const b = bootMachine("mainline");
  const r = b.pkvm.boot();
  assertEquals(r.ok, true, JSON.stringify(r.failure ?? r.verify));
  return { ...b, r, hyp: b.pkvm.host!.hyp! };
}

Deno.test("create_fixblock's chunk: the first region with ALIGN(base, PMD_SIZE) + PMD_SIZE < its end", () => {
  // A region exactly one aligned 2 MiB chunk long does not qualify (strict <).
  assertEquals(fixblockPhys([{ base: 0x4000_0000, size: 2 * MiB }]), undefined);
  assertEquals(fixblockPhys([{ base: 0x4000_0000, size: 2 * MiB + 4096 }]), 0x4000_0000);
  // An unaligned base rounds up: 3 MiB from 1 MiB past a boundary is not enough.
  assertEquals(fixblockPhys([{ base: 0x4010_0000, size: 3 * MiB }]), undefined);
  assertEquals(fixblockPhys([{ base: 0x4010_0000, size: 3 * MiB + 4096 }]), 0x4020_0000);
  // The first region that qualifies, in hyp_memory[] order.
  assertEquals(
    fixblockPhys([
      { base: 0x4000_0000, size: MiB },
      { base: 0x8000_0000, size: 64 * MiB },
      { base: 0x4_0000_0000, size: 64 * MiB },
    ]),
    0x8000_0000,
  );
  assertEquals(fixblockPhys([]), undefined);
});

Deno.test("create_fixblock: -EINVAL when no hyp_memory region holds a PMD-aligned 2 MiB chunk, nothing changed", () => {
  const { m, hyp } = booted();
  const io = hyp.ioMapBase;
  const maplets = JSON.stringify(hyp.pgt!.maplets());
  const slot = hyp.fixblockSlot;
  const digest = m.memory.digest();
  const ret = createFixblock(hyp, m.cpu(0), [
    { base: 0x4000_0000, size: 2 * MiB },
    { base: 0x8010_0000, size: 3 * MiB },
  ]);
  assertEquals(ret, ERRNO.EINVAL);
  assertEquals(hyp.ioMapBase, io);
  assertEquals(hyp.fixblockSlot, slot);
  assertEquals(JSON.stringify(hyp.pgt!.maplets()), maplets);
  assertEquals(m.memory.digest(), digest);
});

Deno.test("hyp_create_fixmap: one slot per CPU, consecutive private pages, then a PMD-aligned fixblock", () => {
  const { r, hyp } = booted();
  const pages = hyp.fixmapSlots.map((s) => [s.addr, s.level]);
  const first = hyp.fixmapSlots[0]!.addr;
  assertEquals(pages, [0, 1, 2, 3].map((i) => [first + i * 4096, 3]));
  const block = hyp.fixblockSlot!;
  assertEquals(block.level, 2);
  assertEquals(block.addr % PMD_SIZE, 0);
  assertEquals(block.addr, Math.ceil((first + 4 * 4096) / PMD_SIZE) * PMD_SIZE);
  assertEquals(Number(r.layout.io_map_base), block.addr + PMD_SIZE);
  // The slots are not mappings: the report and the verification do not list them.
  for (const mp of r.pgtable.mappings) {
    const va = Number(mp.va);
    for (const s of [...hyp.fixmapSlots, block]) {
      assertEquals(s.addr >= va && s.addr < va + Number(mp.size), false, `slot ${s.addr} listed`);
    }
  }
});

Deno.test("fixmap slots keep their table page's reference: the invariant counts them, exactly", () => {
  const { hyp } = booted();
  assertEquals(pgtableInvariants(hyp), null);
  const hpool = hyp.pools.get("hpool")!;
  const slot = hyp.fixmapSlots[0]!;
  const table = hyp.va(slot.ptep - (slot.ptep % 4096));
  // Dropping the reference the kernel keeps for the slot breaks the count ...
  hpool.putPage(table);
  assertMatch(pgtableInvariants(hyp)!, /expected 1 \+ \d+ valid entries \+ 4 fixmap slot\(s\)/);
  hpool.getPage(table);
  assertEquals(pgtableInvariants(hyp), null);
  // ... and so does one more.
  hpool.getPage(table);
  assertMatch(pgtableInvariants(hyp)!, /has refcount \d+, expected/);
  hpool.putPage(table);
  // A slot left mapped is reported.
  const pte = hyp.machine.memory.read64(slot.ptep);
  hyp.machine.memory.write64(slot.ptep, pte | 1n);
  assertMatch(pgtableInvariants(hyp)!, /fixmap slot 0x[0-9a-f]+ is mapped/);
  hyp.machine.memory.write64(slot.ptep, pte);
  assertEquals(pgtableInvariants(hyp), null);
});

Deno.test("pkvm_hyp_vm_table_init: vm_table is the page divide_memory_pool carved for it", () => {
  const { hyp } = booted();
  assertEquals(hyp.vmTable, hyp.term("vm_table").va);
});
