/**
 * A 52-bit boot against a 48-bit boot of the same machine: Linux 7.2 on
 * QEMU's `max` (hVHE both times), 4 GiB and 4 CPUs, once with the VA size
 * the kernel picks there (52 bits: LPA2, level -1 tables) and once forced to
 * 48. Target: the 52-bit boot costs at most 10 % more.
 */
import { createMachine, PKVM, Trace } from "../../mod.ts";
import { profile } from "../../plugins/profiles/mod.ts";

const KINDS = ["step", "hypercall", "log", "barrier_finding", "handover"] as const;

function boot(vaBits: 48 | 52): void {
  const m = createMachine({
    ram: [{ base: 0x4000_0000, size: 2 ** 32 }],
    cpus: 4,
    cpu: "max",
    plugins: profile("v7.2", { pkvm: { vaBits } }),
    trace: new Trace({ kinds: [...KINDS] }),
  });
  const r = m.get(PKVM).boot();
  if (!r.ok) throw new Error(`${vaBits}-bit boot failed: ${JSON.stringify(r.failure ?? r.verify)}`);
}

Deno.bench({
  group: "52-bit vs 48-bit boot (v7.2, max, 4 GiB, 4 CPUs)",
  name: "48-bit VAs (forced)",
  baseline: true,
  fn: () => boot(48),
});

Deno.bench({
  group: "52-bit vs 48-bit boot (v7.2, max, 4 GiB, 4 CPUs)",
  name: "52-bit VAs, LPA2 (target ≤ 1.10x)",
  fn: () => boot(52),
});
