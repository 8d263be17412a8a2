import { assert, assertEquals, assertMatch } from "@std/assert";
import { EARLY_ALLOCATOR, type Plugin } from "../../../core/mod.ts";
import { createEarlyAllocator } from "../../../plugins/early_alloc/mod.ts";
import { bootMachine, bootOk } from "./_boot.ts";

Deno.test("__pkvm_init boots the default machine with the v5.13 profile", () => {
  const { m, pkvm } = bootMachine("v5.13");
  const r = pkvm.boot();
  assertEquals(r.failure, undefined);
  assertEquals(r.ok, true);
  assertEquals(r.steps.map((s) => [s.step, s.status]), [
    [0, "ok"],
    [1, "ok"],
    [2, "ok"],
    [3, "ok"],
    [4, "ok"],
    [5, "ok"],
    [6, "ok"],
    [7, "ok"],
  ]);
  // 22 MiB carved top-down at 2 MiB alignment below the early memblock
  // allocations at the top of DRAM (the linear map's page tables, the
  // unflattened DT: 0x13f7ea000 up), so it ends at 0x13f600000.
  assertEquals([r.reserve.base, r.reserve.size], ["0x13e000000", "0x1600000"]);
  assertEquals(r.reserve.pages.total, 5199);
  // The hyp's table is the one in TTBR0_EL2 on every CPU, with the MMU on.
  for (const cpu of m.cpus) {
    assertEquals(cpu.sysreg("TTBR0_EL2") & ~1n, BigInt(r.pgtable.pgd));
    assertEquals(cpu.sysreg("SCTLR_EL2") & 1n, 1n);
    assertEquals(cpu.pstate.el, 1);
  }
  assertEquals(r.host_pgtable.freed, true);
  assertEquals(r.verify.ok, true);
  assertEquals(r.verify.stale_translations, 0);
  assert(r.verify.checked_pages > 0);
  assertMatch(r.pgtable.mappings[0]!.prot, /PAGE_HYP_EXEC/);
});

// __KVM_HOST_SMCCC_FUNC___pkvm_init in each kvm_asm.h: 2 in 6.1 and 6.12
// (after __kvm_hyp_init and __kvm_get_mdcr_el2), 1 in 7.2 (which dropped
// __kvm_get_mdcr_el2); mainline is 7.2.
for (const [profile, id] of [["v6.1", 2], ["v6.12", 2], ["v7.2", 1], ["mainline", 1]] as const) {
  Deno.test(`__pkvm_init boots the default machine with the ${profile} profile`, () => {
    const { m, pkvm } = bootMachine(profile);
    const r = pkvm.boot();
    assertEquals(r.failure, undefined);
    // 6.1's switch sequence (R3/R4) leaves walk-cache entries of the freed
    // host table under the adversarial TLB: the boot completes, and the
    // verification finds the host's old VAs still translating.
    const hazard = profile === "v6.1";
    assertEquals(r.ok, !hazard);
    assertEquals(bootOk(r), true);
    assertEquals(r.steps.map((s) => s.status), Array(8).fill("ok"));
    const init = r.hypercalls.find((h) => h.name === "__pkvm_init")!;
    assertEquals([init.id, init.x0, init.x1], [id, "0x0", "0x0"]);
    for (const cpu of m.cpus) {
      assertEquals(cpu.sysreg("TTBR0_EL2") & ~1n, BigInt(r.pgtable.pgd));
      assertEquals(cpu.sysreg("SCTLR_EL2") & 1n, 1n);
    }
    assertEquals([r.host_pgtable.freed, r.verify.ok, r.verify.stale_translations > 0], [
      true,
      !hazard,
      hazard,
    ]);
  });
}

Deno.test("verification reports a table page whose refcount is off (mainline) and a block where pages were asked for", async (t) => {
  const { pkvm } = bootMachine("mainline");
  assertEquals(pkvm.boot().verify.pgtable_invariants, null);
  const hyp = pkvm.host!.hyp!;
  const { pgtableInvariants } = await import("../../../plugins/pkvm/verify.ts");
  await t.step("refcount", () => {
    const pgd = hyp.pgt!.pgd;
    hyp.pools.get("hpool")!.getPage(hyp.va(pgd));
    assertMatch(pgtableInvariants(hyp)!, /refcount .* expected 1 \+ \d+ valid entries/);
    hyp.pools.get("hpool")!.putPage(hyp.va(pgd));
    assertEquals(pgtableInvariants(hyp), null);
  });
  await t.step("a level-2 block where pkvm_create_mappings mapped pages", () => {
    hyp.expected.push({
      va: 0x5000_0000_0000,
      pa: 0x4000_0000,
      size: 0x20_0000,
      prot: 6,
      what: "test",
      step: 7,
      pages: true,
    });
    hyp.pgt!.map(0x5000_0000_0000, 0x20_0000, 0x4000_0000, 6);
    assertMatch(pgtableInvariants(hyp)!, /test at 0x500000000000 is a level-2 block/);
  });
});

/**
 * An early allocator whose `hyp_early_alloc_nr_used_pages()` says one page
 * more than it handed out: `hyp_pool_init` then reserves a page no table uses.
 */
function overcountingEarlyAllocator(version: "v5.13" | "mainline"): Plugin {
  const real = createEarlyAllocator({ version });
  return {
    name: "overcounting_early_alloc",
    provides: [EARLY_ALLOCATOR],
    setup(ctx) {
      ctx.provide(EARLY_ALLOCATOR, {
        ...real,
        init: (o) => {
          const ea = real.init(o);
          return Object.assign(Object.create(ea), { nrUsedPages: () => ea.nrUsedPages() + 1 });
        },
      });
    },
  };
}

Deno.test("verification counts the early table pages in the table itself, not from the early allocator's counter", () => {
  for (const version of ["v5.13", "mainline"] as const) {
    const { pkvm } = bootMachine(version, {
      overrides: { earlyAllocator: overcountingEarlyAllocator(version) },
    });
    const r = pkvm.boot();
    assertEquals(r.failure, undefined);
    assertEquals(r.ok, false, version);
    assertMatch(
      r.verify.pgtable_invariants ?? "",
      /hpool reserved (\d+) pages; pkvm_pgtable had \d+ table pages, all from the early allocator/,
    );
    // The early allocator's own figure agrees with hpool: only the table tells them apart.
    assertEquals(r.pools.hpool!.reserved, r.pgtable.early_table_pages);
  }
});

Deno.test("v5.13: the report says __pkvm_mark_hyp follows the v5.13.12 fix, and whether the tag would fail", () => {
  // The default machine: the pool ends below the early allocations at the top
  // of DRAM, so no marked range ends where its memory region ends.
  const { pkvm } = bootMachine("v5.13");
  const r = pkvm.boot();
  assertEquals(r.ok, true);
  const note = r.notes.find((n) => n.includes("range_is_memory"));
  assertMatch(note ?? "", /v5\.13\.12 stable fix facee1be7689/);
  assertMatch(note!, /no range marked here ends where its memory region ends/);
  const ram = r.machine.ram[0]!;
  assert(
    Number(r.reserve.base) + Number(r.reserve.size) < Number(ram.base) + Number(ram.size),
    "the pool ends inside DRAM",
  );

  // Two banks: the pool (14 MiB) does not fit in the 8 MiB upper bank, so
  // memblock carves it at the top of the lower one, where the bank ends. The
  // tag's find_mem_range(end) then finds no region and __pkvm_mark_hyp(pool)
  // would be -EINVAL ("Failed to finalize Hyp protection").
  const two = bootMachine("v5.13", {
    ram: [{ base: 0x4000_0000, size: 2 ** 31 }, { base: 0x1_0000_0000, size: 8 * 2 ** 20 }],
  }).pkvm.boot();
  assertEquals(two.ok, true);
  const end = Number(two.reserve.base) + Number(two.reserve.size);
  assertEquals(end, 0xc000_0000);
  const tagNote = two.notes.find((n) => n.includes("range_is_memory"));
  assertMatch(tagNote ?? "", /v5\.13\.12 stable fix facee1be7689/);
  assertMatch(tagNote!, /__pkvm_mark_hyp\(pool\) \[0x[0-9a-f]+, 0xc0000000\) does here/);
  assertMatch(tagNote!, /Failed to finalize Hyp protection/);
  // With the fix (end - 1), the simulated call succeeds.
  const pool = two.hypercalls.find((h) =>
    h.name === "__pkvm_mark_hyp" && h.args[0] === two.reserve.base
  )!;
  assertEquals([pool.x0, pool.result], ["0x0", "0"]);
  // Mainline has no __pkvm_mark_hyp and no such note.
  const main = bootMachine("mainline").pkvm.boot();
  assertEquals(main.notes.some((n) => n.includes("range_is_memory")), false);
});
