/**
 * Comparing variants (issue 7 targets): three variants on the default
 * machine with the boot workload ≤ 1 s in total; a churn of 1,000,000
 * operations ≤ 2 s per variant.
 */
import { compareVariants, type Variant } from "../../mod.ts";

const v = (label: string, overrides: Variant["overrides"] = {}): Variant => ({
  label,
  profile: "v5.13",
  overrides,
  choices: {},
});

Deno.bench({
  group: "compare",
  name: "3 switch variants, default machine, boot workload",
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
    name: allocator,
    n: 1,
    warmup: 0,
    fn() {
      compareVariants({ cpus: 1, workload: { kind: "churn", ops: 1_000_000 } }, [
        v(allocator, { allocator }),
      ]);
    },
  });
}
