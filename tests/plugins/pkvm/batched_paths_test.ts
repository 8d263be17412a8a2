/**
 * The boot's batched table paths — `mapPages` for the page-by-page
 * `create_hyp_mappings` / `pkvm_create_mappings` loops, and `walkHalves`
 * with its LEAF runs for the finalise walks (`fix_hyp_pgtable_refcnt`,
 * `fix_host_ownership`, `finalize_host_mappings`) — against the paths the
 * boot takes for a table without them (one `map` call per page, one visit
 * per entry through `walk`): every release boots to the same report, the
 * same memory (every byte), the same pool counters and TLB statistics.
 */
import { assertEquals } from "@std/assert";
import { HypPgtable } from "../../../plugins/kvm_pgtable/mod.ts";
import type { ProfileName } from "../../../plugins/profiles/mod.ts";
import { bootMachine, stateHash } from "./_boot.ts";

function bootState(name: ProfileName, gib: number, cpus: number): string {
  const { m, pkvm } = bootMachine(name, {
    ram: [{ base: 0x4000_0000, size: gib * 2 ** 30 }],
    cpus,
  });
  const report = pkvm.boot();
  const hyp = pkvm.host?.hyp;
  const stats: Record<string, unknown> = {};
  for (const [pool, p] of hyp?.pools ?? []) stats[pool] = p.stats();
  return JSON.stringify({ report, state: stateHash(m, pkvm), stats });
}

/** Boots with HypPgtable's batched members hidden (the boot then falls back). */
function withoutBatches<T>(f: () => T): T {
  const proto = HypPgtable.prototype as unknown as Record<string, unknown>;
  const saved = { mapPages: proto.mapPages, walkHalves: proto.walkHalves };
  delete proto.mapPages;
  delete proto.walkHalves;
  try {
    return f();
  } finally {
    Object.assign(proto, saved);
  }
}

for (const name of ["v5.13", "v6.1", "v6.12", "v7.2", "mainline"] as ProfileName[]) {
  Deno.test(`batched map and finalise walks boot as one call and one visit per entry (${name})`, () => {
    for (const [gib, cpus] of [[2, 4], [5, 3]] as const) {
      const fast = bootState(name, gib, cpus);
      const slow = withoutBatches(() => bootState(name, gib, cpus));
      assertEquals(fast, slow, `${gib} GiB, ${cpus} CPUs`);
    }
  });
}
