// Boots that fail say where and why, as a report, never as an exception.

import { assertEquals, assertMatch } from "@std/assert";
import { type Plugin, RESERVED_MEM, type ReservedMem } from "../../../core/mod.ts";
import { reservedMem } from "../../../plugins/reserved_mem/mod.ts";
import { switchSequence } from "../../../plugins/switch_sequence/mod.ts";
import { bootMachine } from "./_boot.ts";

const FAULTING = `
	mrs	x2, sctlr_el2
	bic	x3, x2, #SCTLR_ELx_M
	msr	sctlr_el2, x3
	isb
	ldr	x4, [x9]
	ret	x1
`;

Deno.test("a switch sequence that faults ends the boot at step 5 with a hyp_panic account", () => {
  const { pkvm } = bootMachine("v5.13", {
    overrides: { switch: switchSequence({ name: "faulting", source: FAULTING, abi: "params" }) },
  });
  const r = pkvm.boot();
  assertEquals([r.ok, r.failure?.step], [false, 5]);
  assertMatch(
    r.failure!.reason,
    /hyp_panic in __pkvm_init_switch_pgd: "faulting" line 6: data abort at 0x0/,
  );
  assertEquals(r.steps.at(-1)!.status, "fail");
  // The machine is dead: later hypercalls throw the same panic.
  let threw = false;
  try {
    pkvm.hypercall("__pkvm_create_mappings", [0, 0, 0, 6]);
  } catch (e) {
    threw = (e as Error).name === "HypPanicError";
  }
  assertEquals(threw, true);
});

Deno.test("a sequence that never branches to __pkvm_init_finalise is a clear failure", () => {
  const { pkvm } = bootMachine("v5.13", { overrides: { switch: "set_sctlr" } });
  const r = pkvm.boot();
  assertEquals([r.ok, r.failure?.step], [false, 5]);
  assertMatch(r.failure!.reason, /ran off its end .* without branching to __pkvm_init_finalise/);
});

/** reserved_mem whose hyp_s1 term is too small for the tables recreate_hyp_mappings builds. */
function starvedReservedMem(pages: number): Plugin {
  const real = reservedMem({ version: "v5.13" });
  return {
    name: "starved_reserved_mem",
    provides: [RESERVED_MEM],
    setup(ctx) {
      const inner: ReservedMem[] = [];
      real.setup({
        ...ctx,
        provide: <T>(_cap: unknown, v: T) => void inner.push(v as unknown as ReservedMem),
      });
      const rm = inner[0]!;
      ctx.provide(RESERVED_MEM, {
        ...rm,
        poolLayout: (regions, pool) =>
          rm.poolLayout(regions, pool).map((t) => (t.name === "hyp_s1" ? { ...t, pages } : t)),
      });
    },
  };
}

Deno.test("-ENOMEM from recreate_hyp_mappings ends the boot at step 3 with the errno", () => {
  // neoverse-n1 has no Spectre-v3a: the idmap takes 4 of the 8 table pages,
  // the vmemmap fits, and the kernel-image regions run out.
  const { pkvm } = bootMachine("v5.13", {
    cpu: "neoverse-n1",
    overrides: { reservedMem: starvedReservedMem(8) },
  });
  const r = pkvm.boot();
  assertEquals([r.ok, r.failure?.step], [false, 3]);
  assertMatch(r.failure!.reason, /__pkvm_init returned -ENOMEM in recreate_hyp_mappings/);
  const init = r.hypercalls.find((h) => h.name === "__pkvm_init")!;
  assertEquals([init.x0, init.result], ["0x0", "-ENOMEM"]);
  // The host keeps its EL2 tables when __pkvm_init fails (no free_hyp_pgds).
  assertEquals(r.host_pgtable.freed, false);
});

Deno.test("-ENOMEM in hyp_back_vmemmap ends the boot at step 4 (Spectre-v3a vectors took the pages)", () => {
  // On the default cortex-a57 (Spectre-v3a), hyp_map_vectors() maps
  // __bp_harden_hyp_vecs in the private VA range right after the idmap: its
  // three new table levels leave no page for the vmemmap, which follows.
  const { pkvm } = bootMachine("v5.13", { overrides: { reservedMem: starvedReservedMem(8) } });
  const r = pkvm.boot();
  assertEquals([r.ok, r.failure?.step], [false, 4]);
  assertMatch(r.failure!.reason, /__pkvm_init returned -ENOMEM in hyp_back_vmemmap/);
  assertEquals(r.hypercalls.find((h) => h.name === "__pkvm_init")!.result, "-ENOMEM");
  assertEquals(r.host_pgtable.freed, false);
});
