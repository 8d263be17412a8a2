/**
 * What the page adds to a boot (issue 16): ≤ 50 ms over the default
 * machine's boot (v5.13, 4 GiB, 4 CPUs). The group compares the boot alone
 * with the boot and its page; the last bench is the page alone, from a
 * report made once.
 */
import { bootHtml, createMachine, PKVM, Trace } from "../../mod.ts";
import { profile } from "../../plugins/profiles/mod.ts";

const KINDS = ["step", "hypercall", "log", "barrier_finding", "handover"] as const;

function boot() {
  const m = createMachine({
    ram: [{ base: 0x4000_0000, size: 2 ** 32 }],
    cpus: 4,
    plugins: profile("v5.13"),
    trace: new Trace({ kinds: [...KINDS] }),
  });
  const r = m.get(PKVM).boot();
  if (!r.ok) throw new Error("the default boot failed");
  return r;
}

Deno.bench({
  group: "default boot and its page",
  name: "boot (v5.13, 4 GiB, 4 CPUs)",
  baseline: true,
  fn: () => void boot(),
});

Deno.bench({
  group: "default boot and its page",
  name: "boot + bootHtml (target: ≤ 50 ms more)",
  fn: () => void bootHtml(boot()),
});

const report = boot();

Deno.bench({
  name: "bootHtml of the default boot's report (target ≤ 50 ms)",
  fn: () => void bootHtml(report),
});
