// The releases' host boots (hostBoot) are well formed: every call is one of
// the release's hypercalls or a hyp-stub wrapper it has, arguments only where
// the call needs them, __pkvm_init once in do_pkvm_init() on the boot CPU.

import { assert, assertEquals } from "@std/assert";
import { RELEASES } from "../../../plugins/releases/mod.ts";

// arch/arm64/kernel/hyp-stub.S: the wrappers and the asm/virt.h call each makes.
const WRAPPERS: Record<string, string> = {
  __hyp_set_vectors: "HVC_SET_VECTORS",
  __hyp_reset_vectors: "HVC_RESET_VECTORS",
};
const TAKE_ARGS = new Set(["__pkvm_mark_hyp", "__pkvm_create_private_mapping"]);

for (const rel of RELEASES) {
  Deno.test(`${rel.name}: hostBoot names the release's own calls, each with its caller`, () => {
    const hc = rel.hypercalls;
    // asm/virt.h, the same numbers in every release so far.
    assertEquals(
      [hc.stubs.HVC_SET_VECTORS, hc.stubs.HVC_SOFT_RESTART, hc.stubs.HVC_RESET_VECTORS],
      [
        0,
        1,
        2,
      ],
    );
    for (const n of Object.values(hc.stubs)) assert(n < hc.stubHcallNr, `${n} < HVC_STUB_HCALL_NR`);
    let inits = 0;
    rel.hostBoot.forEach((phase, p) => {
      assert(phase.fn.length > 0, `phase ${p}`);
      if (phase.otherwise !== undefined) assert(phase.when !== undefined, `${phase.fn}: otherwise`);
      if (phase.perPossibleCpu) assertEquals(phase.on, "boot-cpu", phase.fn);
      for (const c of phase.calls) {
        const what = `${phase.fn}: ${c.call}`;
        assert(c.from.length > 0, what);
        const stub = WRAPPERS[c.call];
        if (stub !== undefined) assert(hc.stubs[stub] !== undefined, what);
        else assert(hc.ids[c.call] !== undefined, `${what} is not a ${rel.name} hypercall`);
        assertEquals(c.args !== undefined, TAKE_ARGS.has(c.call), `${what}: args`);
        if (c.call === "__pkvm_init") {
          inits++;
          // do_pkvm_init() on the boot CPU, first, and its failure is the boot's.
          assertEquals([p, phase.on, c.fatal], [0, "boot-cpu", true], what);
        }
      }
    });
    assertEquals(inits, 1);
    // The finalisation comes last, on every CPU.
    const last = rel.hostBoot.at(-1)!;
    assertEquals([last.on, last.calls.map((c) => c.call)], ["each-cpu", ["__pkvm_prot_finalize"]]);
    // __kvm_handle_stub_hvc's HCR_EL2 in protected mode: HCR_HOST_NVHE_FLAGS,
    // which is HCR_HOST_NVHE_PROTECTED_FLAGS without TSC (asm/kvm_arm.h).
    if (hc.stubResetHcr !== null) {
      assertEquals(hc.stubResetHcr, rel.sysregs.hcrProtected & ~(1n << 19n));
    }
  });
}
