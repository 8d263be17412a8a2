import { assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import {
  allocatorMetrics,
  builtinSequence,
  check,
  compareVariants,
  comparisonJson,
  createMachine,
  diffRuns,
  formatComparison,
  parseVariantSpec,
  PKVM,
  type Plugin,
  PluginError,
  PluginLoadError,
  profile,
  resolveVariant,
  runChurn,
  type Variant,
  VariantError,
  type VariantRun,
  workloadPrng,
} from "../../../mod.ts";

const v = (label: string, o: Partial<Variant> = {}): Variant => ({
  label,
  profile: "v5.13",
  overrides: {},
  choices: {},
  ...o,
});

Deno.test("compareVariants() reports the findings each switch sequence really has", () => {
  const names = ["v3", "v5.13", "mainline"] as const;
  const c = compareVariants(
    { cpus: 1 },
    names.map((n) => v(n, { overrides: { switch: n } })),
  );
  for (const [i, n] of names.entries()) {
    const run = c.runs[i]!;
    const direct = check(builtinSequence(n).source, { abi: builtinSequence(n).abi });
    const rules = (fs: { rule: string; severity: string }[]) =>
      [...new Set(fs.map((f) => `${f.rule}/${f.severity}`))].sort();
    assertEquals(rules(run.findings), rules(direct.findings), `${n} findings`);
    assertEquals(run.metrics["switch.verdict"], direct.verdict, `${n} verdict`);
    assertEquals(run.metrics["switch.sequence"], n);
  }
  assertEquals(c.runs.map((r) => r.metrics["switch.verdict"]), ["fail", "fail", "pass"]);
  assertEquals(c.runs[0]!.metrics["switch.rules"], "R1 R9 R10");
  // v5.13 vs v3: findings only one side has, by rule.
  const d = c.diffs[0]!;
  assertEquals([...new Set(d.findingsOnlyA.map((f) => f.rule))].sort(), ["R1", "R10", "R9"]);
  assertEquals([...new Set(d.findingsOnlyB.map((f) => f.rule))].sort(), ["R3", "R4"]);
  assertEquals(d.mapletsOnlyA, []);
});

Deno.test("buddy vs bitmap: reported metrics match each allocator's own stats", () => {
  const c = compareVariants({ cpus: 2, workload: { kind: "churn", ops: 3000 } }, [
    v("buddy"),
    v("bitmap", { overrides: { allocator: "bitmap" } }),
  ]);
  for (const [i, allocator] of (["buddy", "bitmap"] as const).entries()) {
    // Re-run the same seeded scenario by hand and read the pool directly.
    const m = createMachine({ cpus: 2, seed: 1, plugins: profile("v5.13", { allocator }) });
    m.trace.enabled = false;
    const pkvm = m.get(PKVM);
    pkvm.boot();
    const pool = pkvm.pool("hpool")!;
    const run = c.runs[i]!;
    // Replay the churn with the same PRNG stream the runner used.
    runChurn(pool, 3000, workloadPrng(1));
    const own = allocatorMetrics(pool.stats());
    assertEquals(run.allocator, own, `${allocator} metrics`);
    assertEquals(run.metrics["hpool.free"], own.free);
    assertEquals(run.metrics["hpool.metadata_bytes_per_page"], own.metadataBytesPerPage);
  }
  assertEquals(c.runs[0]!.metrics["hpool.metadata_bytes_per_page"], 32);
  assertEquals(c.runs[1]!.metrics["hpool.metadata_bytes_per_page"], 4);
  const d = c.diffs[0]!;
  const meta = d.metrics.find((x) => x.name === "hpool.metadata_bytes_per_page")!;
  assertEquals([meta.a, meta.b, meta.delta, meta.differs], [32, 4, -28, true]);
  assertEquals(d.mapletsOnlyA.map((m) => m.what), ["vmemmap"]);
  assertEquals(d.mapletsOnlyB.map((m) => m.what), ["vmemmap"]);
});

Deno.test("the workload's random stream does not depend on what plugins draw during boot", () => {
  // A plugin that, like a randomised allocator or a random-replacement TLB,
  // draws from the machine PRNG during setup and boot.
  const eater: Plugin = {
    name: "prng_eater",
    provides: [],
    setup(ctx) {
      for (let i = 0; i < 3; i++) ctx.machine.prng.nextU32();
    },
  };
  for (const kind of ["churn", "map"] as const) {
    const c = compareVariants({ cpus: 1, workload: { kind, ops: 1500 } }, [
      v("plain"),
      v("eater", { overrides: { plugins: [eater] } }),
    ]);
    const [a, b] = c.runs;
    assertEquals(a!.workload, b!.workload, `${kind}: same sequence of operations`);
    assertEquals(a!.allocator, b!.allocator, `${kind}: same allocator state afterwards`);
    assertEquals(c.diffs[0]!.metrics.filter((m) => m.differs).map((m) => m.name), [], kind);
  }
});

Deno.test("diffRuns() on hand-made runs", () => {
  const run = (label: string, metrics: Record<string, number | string>, extra = {}) =>
    ({ label, metrics, maplets: [], findings: [], ...extra }) as unknown as VariantRun;
  const m1 = { va: "0x1000", pa: "0x2000", size: "0x1000", prot: "PAGE_HYP" };
  const m2 = { va: "0x3000", pa: "0x4000", size: "0x1000", prot: "PAGE_HYP_RO" };
  const f1 = { rule: "R4", severity: "fail" as const, line: 3, message: "x" };
  const f2 = { rule: "R4", severity: "fail" as const, line: 9, message: "y" };
  const f3 = { rule: "R14", severity: "warn" as const, line: 2, message: "z" };
  const a = run("a", { pages: 10, verdict: "fail", only_a: 1 }, {
    maplets: [m1, m2],
    findings: [f1, f3],
  });
  const b = run("b", { pages: 7, verdict: "fail", only_b: "x" }, { maplets: [m1], findings: [f2] });
  const d = diffRuns(a, b);
  assertEquals(d.metrics, [
    { name: "pages", a: 10, b: 7, delta: -3, differs: true },
    { name: "verdict", a: "fail", b: "fail", differs: false },
    { name: "only_a", a: 1, b: undefined, differs: true },
    { name: "only_b", a: undefined, b: "x", differs: true },
  ]);
  assertEquals(d.mapletsOnlyA, [m2]);
  assertEquals(d.mapletsOnlyB, []);
  assertEquals(d.findingsOnlyA, [f3], "R4 fail is on both sides, whatever the line");
  assertEquals(d.findingsOnlyB, []);
});

Deno.test("a comparison is deterministic for a seed (timings excluded)", () => {
  const run = (seed: number) => {
    const c = compareVariants({ cpus: 1, seed, workload: { kind: "churn", ops: 2000 } }, [
      v("a"),
      v("b", { overrides: { allocator: "bitmap" } }),
    ]);
    const j = comparisonJson(c, { timing: false }) as { runs: { wall_ms?: number }[] };
    assertEquals(j.runs.map((r) => r.wall_ms), [undefined, undefined], "timing: false");
    assertEquals(formatComparison(c, "text", { timing: false }).includes("wall time"), false);
    return JSON.stringify(j);
  };
  assertEquals(run(7), run(7));
  assertEquals(run(7) === run(8), false, "a different seed churns differently");
});

Deno.test("the map workload counts hypercall outcomes", () => {
  const c = compareVariants({ cpus: 1, workload: { kind: "map", ops: 40 } }, [v("v5.13")]);
  const counts = c.runs[0]!.workload.counts;
  assertEquals(Object.values(counts).reduce((s, n) => s + n, 0), 40);
  for (const k of Object.keys(counts)) {
    assertEquals(/^__pkvm_create_(mappings|private_mapping):/.test(k), true, k);
  }
});

Deno.test("the map workload under 6.1, 6.12 and mainline: every call is refused, as the kernel does once finalised", () => {
  // handle_host_hcall() (v5.16 on) refuses __pkvm_create_private_mapping, an
  // id below __pkvm_prot_finalize, once kvm_protected_mode_initialized is set.
  const c = compareVariants({ cpus: 1, workload: { kind: "map", ops: 20 } }, [
    v("v6.1", { profile: "v6.1" }),
    v("v6.12", { profile: "v6.12" }),
    v("mainline", { profile: "mainline" }),
  ]);
  for (const run of c.runs) {
    assertEquals(run.workload.counts, { "__pkvm_create_private_mapping:NOT_SUPPORTED": 20 });
    assertEquals(run.metrics["hypercalls.failed"], 20);
  }
});

Deno.test("formatComparison() renders text and Markdown tables", () => {
  const c = compareVariants({ cpus: 1 }, [v("v3", { overrides: { switch: "v3" } }), v("v5.13")]);
  const text = formatComparison(c);
  const lines = text.split("\n");
  assertEquals(lines[0]!.split(/\s+/).slice(0, 4), ["metric", "v3", "v5.13", "Δ"]);
  assertEquals(lines.some((l) => /^\* switch\.verdict\s+fail\s+fail/.test(l)), false);
  assertEquals(lines.some((l) => /^\* switch\.rules\s+R1 R9 R10\s+R4 R3/.test(l)), true);
  assertEquals(text.includes("v3: R10 fail line"), true);
  const md = formatComparison(c, "markdown").split("\n");
  assertEquals(md[0], "| metric | v3 | v5.13 | Δ |");
  assertEquals(md[1], "|---|---:|---:|---:|");
});

Deno.test("parseVariantSpec() and resolveVariant() explain bad specs", async (t) => {
  await t.step("syntax", () => {
    assertThrows(() => parseVariantSpec("nolabel"), SyntaxError, "expected LABEL:capability=NAME");
    assertThrows(
      () => parseVariantSpec("x:frobnicator=1"),
      SyntaxError,
      'unknown capability "frobnicator"',
    );
    assertThrows(() => parseVariantSpec("x:allocator="), SyntaxError, "allocator has no value");
    assertEquals(parseVariantSpec("x:plugin=a.ts,plugin=b.ts").choices, { plugin: "a.ts,b.ts" });
  });
  await t.step("unknown names fail when the profile is built", async () => {
    const bad = await resolveVariant(parseVariantSpec("x:allocator=slab"));
    const e = assertThrows(
      () => compareVariants({ cpus: 1 }, [bad]),
      VariantError,
      'variant "x": Cannot use allocator "slab"',
    );
    assertInstanceOf(e.cause, RangeError);
    await assertRejects(
      () => resolveVariant(parseVariantSpec("x:profile=v4.19")),
      RangeError,
      'Cannot use profile "v4.19"',
    );
  });
  await t.step("repeated labels", () => {
    assertThrows(
      () => compareVariants({ cpus: 1 }, [v("a"), v("a")]),
      RangeError,
      'label "a" is used twice',
    );
  });
});

const fixtures = new URL("../../core/fixtures/", import.meta.url).pathname;
const examples = new URL("../../../examples/", import.meta.url).pathname;

Deno.test("custom plugins load by path with clear messages", async (t) => {
  await t.step("a valid allocator module", async () => {
    const variant = await resolveVariant(
      parseVariantSpec(`extent:allocator=${examples}custom_allocator.ts`),
    );
    const c = compareVariants({ cpus: 1 }, [variant]);
    assertEquals(c.runs[0]!.ok, true);
    assertEquals(c.runs[0]!.variants.page_allocator, "extent");
  });
  await t.step("a module with no plugin export", async () => {
    await assertRejects(
      () => resolveVariant(parseVariantSpec(`x:allocator=${fixtures}no_export.ts`)),
      PluginLoadError,
      'no export named "plugin" or "plugins"',
    );
  });
  await t.step("a plugin for the wrong capability", async () => {
    await assertRejects(
      () => resolveVariant(parseVariantSpec(`x:allocator=${fixtures}valid_plugin.ts`)),
      PluginLoadError,
      'expected a plugin providing "page_allocator", but "fixture_valid" provides "fixture_greeting"',
    );
  });
  await t.step("a path for any capability key must provide that capability", async () => {
    for (
      const [key, cap] of [
        ["pgtable", "kvm_pgtable"],
        ["reserved_mem", "reserved_mem"],
        ["early_allocator", "early_allocator"],
      ]
    ) {
      await assertRejects(
        () => resolveVariant(parseVariantSpec(`x:${key}=examples/custom_allocator.ts`)),
        PluginLoadError,
        `expected a plugin providing "${cap}", but "extent_allocator" provides "page_allocator"`,
      );
    }
  });
  await t.step("a throwing hook names the file, the plugin and the hook", async () => {
    const variant = await resolveVariant(
      parseVariantSpec(`x:plugin=${fixtures}throwing_plugin.ts`),
    );
    const e = assertThrows(() => compareVariants({ cpus: 1 }, [variant]), VariantError);
    assertInstanceOf(e.cause, PluginError);
    assertEquals(
      e.message,
      `variant "x": Plugin "fixture_throwing" (from ${fixtures}throwing_plugin.ts) failed in setup: cannot find my config`,
    );
  });
});

Deno.test("releases side by side: each variant's reserve rows are its release's own kvm_hyp_reserve terms, and they add up", () => {
  const c = compareVariants({ cpus: 2, seed: 1, workload: { kind: "boot" } }, [
    v("v5.13", { profile: "v5.13" }),
    v("v6.1", { profile: "v6.1" }),
    v("v7.2", { profile: "v7.2" }),
  ]);
  for (const r of c.runs) {
    const terms = Object.entries(r.metrics).filter(([k]) =>
      k.startsWith("reserve.") && k !== "reserve.total_pages" && k !== "reserve.size"
    );
    assertEquals(
      terms.reduce((n, [, p]) => n + (p as number), 0),
      r.metrics["reserve.total_pages"],
      `${r.label}: ${terms.map(([k, p]) => `${k}=${p}`).join(" ")}`,
    );
  }
  // v5.13 splits host stage-2 into memory and device terms (host_s2_mem,
  // host_s2_dev); 6.1 has one host_s2 term; 6.1+ add vm_table and ffa_proxy
  // (kvm_hyp_reserve() in each release's arch/arm64/kvm/pkvm.c).
  assertEquals(c.runs[0]!.metrics["reserve.host_s2"], undefined);
  assertEquals(c.runs[1]!.metrics["reserve.host_s2_dev"], undefined);
  assertEquals(typeof c.runs[2]!.metrics["reserve.ffa_proxy"], "number");
  // The table keeps the reserve rows together.
  const lines = formatComparison(c).split("\n").map((l) => l.slice(2).split(/\s+/)[0]!);
  const first = lines.indexOf("reserve.total_pages");
  const last = lines.indexOf("reserve.size");
  assertEquals(
    lines.slice(first, last + 1).every((n) => n.startsWith("reserve.")),
    true,
    lines.join(" "),
  );
});
