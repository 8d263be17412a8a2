import { assertEquals, assertRejects } from "@std/assert";
import { type Plugin, TLB, type Tlb, Trace } from "../../core/mod.ts";
import { ConformanceError, tlbConformance } from "../../core/conformance/mod.ts";
import { tlb, TlbModel, type TlbPolicy } from "../../plugins/tlb/mod.ts";

Deno.test("the adversarial tlb() passes the TLB conformance suite", (t) =>
  tlbConformance(tlb({ policy: "adversarial" }), t));

Deno.test("the optimistic tlb() passes the TLB conformance suite", (t) =>
  tlbConformance(tlb({ policy: "optimistic" }), t));

Deno.test("the suite runs on a TLB value shared by every check, without a test context", async () => {
  for (const policy of ["adversarial", "optimistic"] as const) {
    const shared = new TlbModel(policy, new Trace());
    await tlbConformance(shared);
    // The shared TLB was really used (the suite resets it with alle2is per check).
    assertEquals(shared.stats().fills > 50, true, policy);
  }
});

/** A `tlb()`-like plugin whose TLB is the model with some methods replaced. */
function broken(
  name: string,
  policy: TlbPolicy,
  patch: (inner: TlbModel) => Partial<Tlb>,
): Plugin {
  return {
    name,
    provides: [TLB],
    setup(ctx) {
      const inner = new TlbModel(policy, ctx.machine.trace);
      const p = patch(inner);
      const impl: Tlb = {
        policy: p.policy ?? inner.policy,
        lookup: p.lookup ?? ((cpu, va) => inner.lookup(cpu, va)),
        peek: p.peek ?? ((cpu, va) => inner.peek(cpu, va)),
        fill: p.fill ?? ((cpu, e) => inner.fill(cpu, e)),
        prefetch: p.prefetch ?? ((cpu, e) => inner.prefetch(cpu, e)),
        invalidate: p.invalidate ?? ((cpu, op, va, ttl) => inner.invalidate(cpu, op, va, ttl)),
        onSysregWrite: p.onSysregWrite ?? ((cpu, reg, v) => inner.onSysregWrite(cpu, reg, v)),
        entries: p.entries ?? ((cpu) => inner.entries(cpu)),
        stats: p.stats ?? (() => inner.stats()),
        recordStale: p.recordStale ?? (() => inner.recordStale()),
        fillWalk: p.fillWalk ?? ((cpu, e) => inner.fillWalk(cpu, e)),
        lookupWalk: p.lookupWalk ?? ((cpu, va) => inner.lookupWalk(cpu, va)),
        walkEntries: p.walkEntries ?? ((cpu) => inner.walkEntries(cpu)),
      };
      ctx.provide(TLB, impl);
    },
  };
}

Deno.test("the suite fails a TLB whose vae2 removes everything, naming the vae2 check", async () => {
  const sweeping = broken("sweeping", "adversarial", (inner) => ({
    invalidate: (cpu, op, va) => inner.invalidate(cpu, op === "vae2" ? "alle2" : op, va),
  }));
  await assertRejects(
    () => tlbConformance(sweeping),
    ConformanceError,
    `"vae2 removes only the issuing CPU's entries that cover the VA": vae2(0x4000605345): entries removed`,
  );
});

Deno.test("the suite fails optimistic TLBs that flush on writes their policy ignores", async () => {
  for (const [reg, value] of [["SCTLR_EL2", "0x30e5183d"], ["MAIR_EL2", "0xff"]]) {
    const eager = broken(`flush_on_${reg}`, "optimistic", (inner) => ({
      onSysregWrite: (cpu, r, v) => {
        if (r === reg) inner.invalidate(cpu, "alle2");
        inner.onSysregWrite(cpu, r, v);
      },
    }));
    await assertRejects(
      () => tlbConformance(eager),
      ConformanceError,
      `entries after a ${reg} write of ${value} that is no flush trigger`,
    );
  }
});

Deno.test("the suite fails walk caches that TLBIs do not clear or that ignore the VA", async () => {
  const sticky = broken("sticky_walks", "adversarial", (inner) => ({
    invalidate: (cpu, op, va, ttl) => {
      const kept = inner.walkEntries(cpu);
      const n = inner.invalidate(cpu, op, va, ttl);
      for (const w of kept) inner.fillWalk(cpu, w);
      return n;
    },
  }));
  await assertRejects(
    () => tlbConformance(sticky),
    ConformanceError,
    "lookupWalk of the VA after vae2 of it",
  );
  const anyVa = broken("any_va_walk", "adversarial", (inner) => ({
    lookupWalk: (cpu) => inner.walkEntries(cpu)[0],
  }));
  await assertRejects(() => tlbConformance(anyVa), ConformanceError, "lookupWalk(0x4000605000)");
});

Deno.test("the suite fails TLBs that break the per-CPU and EL2-only rules", async () => {
  // alle2 acting like alle2is.
  const global = broken("global_alle2", "adversarial", (inner) => ({
    invalidate: (cpu, op, va) => inner.invalidate(cpu, op === "alle2" ? "alle2is" : op, va),
  }));
  await assertRejects(
    () => tlbConformance(global),
    ConformanceError,
    "alle2 removes every EL2 entry of the issuing CPU and no other",
  );
  // vmalle1 (an EL1&0 operation) dropping EL2 entries.
  const el1 = broken("el1_drops_el2", "optimistic", (inner) => ({
    invalidate: (cpu, op, va) => inner.invalidate(cpu, op === "vmalle1" ? "alle2" : op, va),
  }));
  await assertRejects(
    () => tlbConformance(el1),
    ConformanceError,
    'alle1, alle1is, vmalle1 and vmalle1is leave the EL2 entries": entries removed by vmalle1',
  );
  // vae2is acting only locally.
  const local = broken("local_is", "adversarial", (inner) => ({
    invalidate: (cpu, op, va) => inner.invalidate(cpu, op === "vae2is" ? "vae2" : op, va),
  }));
  await assertRejects(
    () => tlbConformance(local),
    ConformanceError,
    "alle2is, vae2is and vale2is act on every CPU",
  );
  // A lookup that searches every CPU's entries.
  const shared = broken("shared_lookup", "adversarial", (inner) => ({
    lookup: (cpu, va) =>
      inner.lookup(cpu, va) ??
        inner.entries({ ...cpu, id: 1 - cpu.id } as typeof cpu).find((e) =>
          va >= e.va && va < e.va + e.size
        ),
  }));
  await assertRejects(
    () => tlbConformance(shared),
    ConformanceError,
    "entries are per CPU: one CPU's fill is not found on another",
  );
});

Deno.test("the suite fails TLBs whose lookups, fills or counters are wrong", async () => {
  // A page lookup that misses the last byte of the page.
  const shortPage = broken("short_page", "adversarial", (inner) => ({
    lookup: (cpu, va) => (va % 4096 === 4095 ? undefined : inner.lookup(cpu, va)),
  }));
  await assertRejects(
    () => tlbConformance(shortPage),
    ConformanceError,
    `"a 4 KiB entry is found for every VA of its page and nowhere else": lookup(0xfff)`,
  );
  // A fill that accepts a misaligned block.
  const lax = broken("lax_fill", "optimistic", (inner) => ({
    fill: (cpu, e) =>
      inner.fill(cpu, { ...e, va: e.va - (e.va % e.size), pa: e.pa - (e.pa % e.size) }),
  }));
  await assertRejects(
    () => tlbConformance(lax),
    ConformanceError,
    `"fill refuses a bad size or a misaligned VA or PA with a RangeError, changing nothing": ` +
      "fill(a 2 MiB block at a 4 KiB-aligned VA) threw undefined, not a RangeError",
  );
  // peek that counts as a lookup.
  const counting = broken("counting_peek", "adversarial", (inner) => ({
    peek: (cpu, va) => inner.lookup(cpu, va),
  }));
  await assertRejects(
    () => tlbConformance(counting),
    ConformanceError,
    "peek finds what lookup finds without counting",
  );
  // recordStale that also counts a hit.
  let hits = 0;
  const noisy = broken("noisy_stale", "adversarial", (inner) => ({
    recordStale: () => {
      inner.recordStale();
      hits++;
    },
    stats: () => {
      const s = inner.stats();
      return { ...s, hits: s.hits + hits };
    },
  }));
  await assertRejects(
    () => tlbConformance(noisy),
    ConformanceError,
    "recordStale counts one stale hit and nothing else",
  );
  // stats() handing out its live counters.
  const leaky = broken("live_stats", "adversarial", (inner) => {
    const live = inner.stats();
    let last = inner.stats();
    return {
      stats: () => {
        const now = inner.stats();
        for (const k of ["hits", "misses", "fills", "invalidated", "stale"] as const) {
          live[k] += now[k] - last[k];
        }
        last = now;
        return live;
      },
    };
  });
  await assertRejects(
    () => tlbConformance(leaky),
    ConformanceError,
    `"entries() is a copy sorted by VA, and stats() a copy": stats after changing the returned object`,
  );
});

Deno.test("the suite holds each policy to its own contract", async () => {
  // Says optimistic, never flushes.
  const sticky = broken("sticky", "adversarial", () => ({ policy: "optimistic" }));
  await assertRejects(
    () => tlbConformance(sticky),
    ConformanceError,
    "optimistic: an SCTLR_EL2 change or a TTBR0_EL2 or TCR_EL2 write flushes",
  );
  // Says optimistic, but keeps its entries across a TCR_EL2 write (QEMU flushes).
  const tcrKeeping = broken("tcr_keeping", "optimistic", (inner) => ({
    onSysregWrite: (cpu, reg, v) => {
      if (reg !== "TCR_EL2") inner.onSysregWrite(cpu, reg, v);
    },
  }));
  await assertRejects(
    () => tlbConformance(tcrKeeping),
    ConformanceError,
    "entries of the CPU after its TCR_EL2 write: expected []",
  );
  // Says adversarial, flushes on a TTBR0_EL2 write.
  const flushing = broken(
    "flushing",
    "optimistic",
    () => ({ policy: "adversarial", prefetch: () => true }),
  );
  await assertRejects(
    () => tlbConformance(flushing),
    ConformanceError,
    "adversarial: entries survive SCTLR_EL2, TTBR0_EL2, TCR_EL2 and MAIR_EL2 writes",
  );
  // Adversarial that drops speculative fills.
  const timid = broken("timid", "adversarial", () => ({ prefetch: () => false }));
  await assertRejects(
    () => tlbConformance(timid),
    ConformanceError,
    `speculative fills are kept": prefetch() kept the entry: expected true, got false`,
  );
  // Something that is neither a TLB nor a plugin.
  await assertRejects(
    () => tlbConformance(undefined as unknown as Tlb),
    TypeError,
    "pass a Tlb or a plugin providing TLB",
  );
});
