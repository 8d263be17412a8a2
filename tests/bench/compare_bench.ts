/**
 * Comparing variants: three variants on the default machine with the boot
 * workload ≤ 1 s in total; a churn of 1,000,000 operations ≤ 2 s per
 * variant (boot included); and compare.ts's churn itself, through the MMU
 * (every list node and record the allocator touches is translated by the
 * stage-1 MMU and its TLB), ≤ 200 ns per operation: 1,000,000 operations
 * per iteration on one booted machine (as `compare.ts --workload churn
 * --ops 1000000` runs them), so ≤ 200 ms per iteration.
 */
import { compareVariants, createMachine, PKVM, Prng, type Variant } from "../../mod.ts";
import { runChurn } from "../../plugins/compare/workloads.ts";
import { profile } from "../../plugins/profiles/mod.ts";
import { budget } from "./_targets.ts";

const v = (label: string, overrides: Variant["overrides"] = {}): Variant => ({
  label,
  profile: "v5.13",
  overrides,
  choices: {},
});

Deno.bench({
  group: "compare",
  name: `3 switch variants, default machine, boot workload ${budget(1, "s")}`,
  n: 3,
  warmup: 1,
  fn() {
    compareVariants({}, [
      v("v3", { switch: "v3" }),
      v("v5.13"),
      v("mainline", { switch: "mainline" }),
    ]);
  },
});

for (const allocator of ["buddy-v5.13", "buddy-mainline", "bitmap"]) {
  Deno.bench({
    group: "churn 1,000,000 ops",
    name: `${allocator} ${budget(2, "s")}`,
    n: 1,
    warmup: 0,
    fn() {
      compareVariants({ cpus: 1, workload: { kind: "churn", ops: 1_000_000 } }, [
        v(allocator, { allocator }),
      ]);
    },
  });
}

for (const name of ["v7.2", "v5.13"] as const) {
  const m = createMachine({ cpus: 1, plugins: profile(name) });
  m.trace.enabled = false;
  const pkvm = m.get(PKVM);
  if (!pkvm.boot().ok) throw new Error(`${name} boot failed`);
  const pool = pkvm.pool("hpool")!;
  const prng = new Prng(1);
  // Held blocks stay held between iterations (~50% occupancy, as in
  // compare.ts); each iteration is 1,000,000 more operations, GC included.
  Deno.bench({
    group: "compare.ts churn through the MMU (1,000,000 ops per iteration)",
    name: `${name}, default machine ${budget(200, "ms")}`,
    n: 3,
    warmup: 0,
    fn() {
      runChurn(pool, 1_000_000, prng);
    },
  });
}
