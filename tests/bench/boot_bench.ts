/**
 * The whole pKVM boot (steps 1–6, the after-boot hypercalls and the
 * verification), as `examples/boot.ts` runs it. Targets (issue 6): the
 * default machine (4 GiB, 4 CPUs) ≤ 150 ms; 64 GiB / 8 CPUs ≤ 1 s with the
 * resident simulated memory ≤ 256 MiB. The growth group boots 1, 4, 16 and
 * 64 GiB; each name carries the resident simulated memory of that boot.
 */
import { createMachine, formatSize, PKVM, Trace } from "../../mod.ts";
import { profile, type ProfileName } from "../../plugins/profiles/mod.ts";

const GiB = 2 ** 30;
const KINDS = ["step", "hypercall", "log", "barrier_finding", "handover"] as const;

function boot(name: ProfileName, gib: number, cpus: number): number {
  const m = createMachine({
    ram: [{ base: 0x4000_0000, size: gib * GiB }],
    cpus,
    plugins: profile(name),
    trace: new Trace({ kinds: [...KINDS] }),
  });
  const r = m.get(PKVM).boot();
  if (!r.ok) throw new Error(`boot of ${gib} GiB failed: ${JSON.stringify(r.failure ?? r.verify)}`);
  return m.memory.residentBytes;
}

const MAX_RESIDENT = 256 * 2 ** 20;

Deno.bench({
  group: "boot default machine",
  name: "v5.13, 4 GiB, 4 CPUs (target ≤ 150 ms)",
  baseline: true,
  fn: () => void boot("v5.13", 4, 4),
});

Deno.bench({
  group: "boot default machine",
  name: "mainline, 4 GiB, 4 CPUs",
  fn: () => void boot("mainline", 4, 4),
});

Deno.bench({
  group: "boot large machine",
  name: `v5.13, 64 GiB, 8 CPUs (target ≤ 1 s, resident ${formatSize(boot("v5.13", 64, 8))} ≤ ${
    formatSize(MAX_RESIDENT)
  })`,
  n: 5,
  warmup: 1,
  fn: () => {
    const resident = boot("v5.13", 64, 8);
    if (resident > MAX_RESIDENT) {
      throw new Error(`resident ${formatSize(resident)} over the target`);
    }
  },
});

for (const gib of [1, 4, 16, 64]) {
  Deno.bench({
    group: "boot growth (v5.13, 4 CPUs)",
    name: `${gib} GiB, resident ${formatSize(boot("v5.13", gib, 4))}`,
    baseline: gib === 1,
    n: gib >= 16 ? 5 : 20,
    warmup: 1,
    fn: () => void boot("v5.13", gib, 4),
  });
}
