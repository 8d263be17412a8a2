import { assertEquals, assertStringIncludes } from "@std/assert";
import { PAGE_SIZE } from "../../../core/mod.ts";
import { type BuddyVersion, hypPageLayout } from "../../../plugins/buddy_allocator/mod.ts";
import { makePool, POOL_STRUCT_PA, VMEMMAP_PA } from "./_fixture.ts";

const PFN = 0x40400;
const page = (i: number) => (PFN + i) * PAGE_SIZE;

for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as BuddyVersion[]) {
  const esz = hypPageLayout(version).size;
  const orderAt = (i: number) => VMEMMAP_PA + i * esz + (version === "v5.13" ? 4 : 2);

  Deno.test(`checkInvariants() names a vmemmap entry changed behind the pool's back (${version})`, () => {
    const { mem, pool } = makePool(version, { nrPages: 16 });
    assertEquals(pool.checkInvariants(), undefined);
    mem.write8(orderAt(3), 0); // a tail page now claims order 0
    const bad = pool.checkInvariants()!;
    assertStringIncludes(bad, "vmemmap entry of page 0x40403000");
    assertStringIncludes(bad, "behind the pool's back");
  });

  Deno.test(`checkInvariants() finds writes into free memory, unless contents are skipped (${version})`, () => {
    const { mem, pool } = makePool(version, { nrPages: 16 });
    const va = pool.allocPages(0)!;
    pool.putPage(va); // freed: use after free below
    mem.write8(page(5) + 123, 1);
    assertStringIncludes(pool.checkInvariants()!, "page 5 holds non-zero bytes (use after free?)");
    assertEquals(pool.checkInvariants({ contents: false }), undefined);
  });

  Deno.test(`checkInvariants() finds a broken free-list pointer (${version})`, () => {
    const { mem, pool } = makePool(version, { nrPages: 16 });
    pool.allocPages(0); // lists 0..2 now hold pages 1, 2, 4 (and 8 at order 3)
    // Point free_area[1]'s only node's prev somewhere else.
    const prevField = version === "v5.13" ? VMEMMAP_PA + 2 * 32 + 24 : page(2) + 8;
    mem.write32(prevField, mem.read32(prevField) + 16);
    const bad = pool.checkInvariants()!;
    assertStringIncludes(bad, version === "v5.13" ? "list node" : "free_area[1]");
  });

  Deno.test(`checkInvariants() checks struct hyp_pool in memory (${version})`, () => {
    const { mem, pool } = makePool(version, { nrPages: 16 });
    mem.write32(POOL_STRUCT_PA + 192, 0); // range_end
    assertStringIncludes(pool.checkInvariants()!, "struct hyp_pool at");
  });
}
