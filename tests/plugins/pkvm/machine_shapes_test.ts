// Machines the kernel would not run, through a boot: what arm64_memblock_init()
// removed and merged shows at step 1, and a pool whose hyp_pool_init shift
// wraps is reported at step 1, where the host sizes it, not at step 5.

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { bootMachine } from "./_boot.ts";

const GiB = 2 ** 30;
const TiB = 2 ** 40;

Deno.test("banks that touch are one memblock region: hyp sizing rounds one region, not two", () => {
  const boot = (gap: number) => {
    const { pkvm } = bootMachine("v6.12", {
      ram: [{ base: 0x4000_0000, size: GiB + 2 ** 21 }, {
        base: 0x4000_0000 + GiB + 2 ** 21 + gap,
        size: 3 * GiB,
      }],
      cpus: 1,
    });
    const r = pkvm.boot();
    assertEquals(r.ok, true, JSON.stringify(r.failure));
    return r;
  };
  const touching = boot(0);
  const apart = boot(GiB);
  assertEquals(touching.memblock.memory.length, 1);
  assertEquals(apart.memblock.memory.length, 2);
  // __hyp_pgtable_total_pages() rounds each region up at every level.
  assert(
    touching.reserve.pages.hyp_s1 < apart.reserve.pages.hyp_s1,
    `${touching.reserve.pages.hyp_s1} vs ${apart.reserve.pages.hyp_s1}`,
  );
  assertEquals(touching.machine.memblock_removed, undefined);
  assertStringIncludes(
    touching.steps[1]!.detail,
    "; memblock merged the RAM banks that touch at 0x80200000: hyp sizing sees 1 memblock region",
  );
  assert(!apart.steps[1]!.detail.includes("memblock merged"));
});

for (const version of ["v6.1", "v6.12", "v7.2"] as const) {
  Deno.test(`a 4 TiB machine (${version}): the wrapped hpool is reported at step 1, with hyplab's own limit`, () => {
    const { m, pkvm } = bootMachine(version, { ram: [{ base: 0x4000_0000, size: 4 * TiB }] });
    const r = pkvm.boot();
    assertEquals(r.ok, false);
    assertEquals(r.failure?.step, 1);
    assertMatch(
      r.failure!.reason,
      /hyplab cannot simulate pool "hpool": its \d+ free pages above range_end would each hold a list node/,
    );
    assertStringIncludes(
      r.failure!.reason,
      `hyp_pool_init's 32-bit nr_pages << PAGE_SHIFT wraps, range_end = `,
    );
    // The early allocator's own wrap and the pool's, as warnings in the trace.
    const warns = m.trace.filter("log").filter((e) => e.data.level === "warn").map((e) =>
      String(e.data.message)
    );
    assert(warns.some((w) => w.startsWith(`the hyp pool "hpool" has `)), warns.join("\n"));
    assert(
      warns.some((w) => /hyp_early_alloc_contig\(\d+\) for hyp_s1 computes nr_pages/.test(w)),
      warns.join("\n"),
    );
    // Nothing past step 1 ran.
    assertEquals(r.steps.map((s) => s.status), ["ok", "fail"]);
  });
}
