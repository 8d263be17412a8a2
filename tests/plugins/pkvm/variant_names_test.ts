import { assertEquals } from "@std/assert";
import { createMachine, PKVM, type Plugin, profile, TLB, TlbModel } from "../../../mod.ts";

/** A user's TLB: the optimistic model under another plugin (and maybe its own name). */
class NamedTlb extends TlbModel {
  readonly name = "lazy-tlb";
}

function userTlb(name: string, Model: typeof TlbModel = TlbModel): Plugin {
  return {
    name,
    provides: [TLB],
    setup: (ctx) => ctx.provide(TLB, new Model("optimistic", ctx.machine.trace)),
  };
}

function reportedTlb(plugins: Plugin[]): string | undefined {
  const m = createMachine({ cpus: 1, plugins });
  m.trace.enabled = false;
  return m.get(PKVM).report().variants.tlb;
}

Deno.test("the report shows a user's TLB by its plugin's name, not the built-in policy name", () => {
  assertEquals(reportedTlb(profile("v5.13", { tlb: userTlb("my_tlb") })), "my_tlb");
  // A TLB that names itself is shown by that name.
  assertEquals(reportedTlb(profile("v5.13", { tlb: userTlb("my_tlb", NamedTlb) })), "lazy-tlb");
  // The built-in keeps its policy names.
  assertEquals(reportedTlb(profile("v5.13", { tlb: "optimistic" })), "tlb-optimistic");
  assertEquals(reportedTlb(profile("mainline")), "tlb-adversarial");
});
