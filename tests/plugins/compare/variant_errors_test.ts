// What compare does with variants that cannot run, choices that conflict,
// runs whose verification fails, and long workloads (progress).

import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  A64SyntaxError,
  compareVariants,
  comparisonJson,
  createMachine,
  formatComparison,
  parseVariantSpec,
  PKVM,
  PluginError,
  profile,
  PROGRESS_STEPS,
  resolveVariant,
  runChurn,
  runMapWorkload,
  runVariant,
  switchSequence,
  type Variant,
  VariantError,
  workloadPrng,
} from "../../../mod.ts";

const v = (label: string, o: Partial<Variant> = {}): Variant => ({
  label,
  profile: "v5.13",
  overrides: {},
  choices: {},
  ...o,
});

Deno.test("a variant whose switch sequence does not parse is a VariantError naming the variant and line, not a failed boot", () => {
  const bad = switchSequence({
    name: "mine.S",
    source: "  isb\n  frobnicate x0\n",
    abi: "registers",
  });
  const e = assertThrows(
    () => compareVariants({ cpus: 1 }, [v("ok"), v("mine", { overrides: { switch: bad } })]),
    VariantError,
  );
  assertEquals([e.variant, e.sequence], ["mine", "mine.S"]);
  assertInstanceOf(e.cause, A64SyntaxError);
  assertStringIncludes(e.message, 'variant "mine": switch sequence mine.S:2:3: ');
});

Deno.test("a variant whose plugins cannot be set up is a VariantError with the plugin error as cause", () => {
  const e = assertThrows(
    () => runVariant({ cpus: 1 }, v("mix", { overrides: { reservedMem: "mainline" } })),
    VariantError,
  );
  assertInstanceOf(e.cause, PluginError);
  assertStringIncludes(e.message, 'variant "mix": Plugin "pkvm_v5_13" failed in setup: ');
  assertEquals(e.message.includes("RangeError"), false);
});

Deno.test("a variant names each capability once: a repeated key, or a plugin= module that provides what another key chose, is refused", async () => {
  assertThrows(
    () => parseVariantSpec("a:allocator=buddy,allocator=bitmap"),
    SyntaxError,
    "allocator is given twice (allocator=buddy, then allocator=bitmap); a variant takes one allocator",
  );
  // plugin= may repeat.
  assertEquals(
    parseVariantSpec("a:plugin=x.ts,plugin=y.ts").choices.plugin,
    "x.ts,y.ts",
  );
  await assertRejects(
    () =>
      resolveVariant(
        parseVariantSpec("a:allocator=bitmap,plugin=examples/custom_allocator.ts"),
      ),
    RangeError,
    'allocator=bitmap and plugin=examples/custom_allocator.ts (plugin "extent_allocator") both choose the provider of "page_allocator": give one',
  );
  await assertRejects(
    () =>
      resolveVariant(
        parseVariantSpec("a:tlb=optimistic,plugin=tests/plugins/compare/fixtures/tlb_plugin.ts"),
        "v5.13",
        { spell: (k, val) => `--${k} ${val}` },
      ),
    RangeError,
    '--tlb optimistic and --plugin tests/plugins/compare/fixtures/tlb_plugin.ts (plugin "user_tlb") both choose the provider of "tlb"',
  );
});

Deno.test("a run whose boot completed but whose verification failed says why, and is not 'fail at step ?'", () => {
  // The v5.13 kvm_pgtable keeps no table refcounts; mainline's hypervisor
  // relies on them (its fixmap), so the verification finds the difference.
  const run = runVariant(
    { cpus: 1 },
    v("mix", { profile: "mainline", overrides: { pgtable: "v5.13" } }),
  );
  assertEquals(run.ok, false);
  assertEquals(run.metrics.boot, "ok");
  assertEquals(run.metrics.verify, "fail");
  assert(run.failure?.startsWith("verify: page-table invariant: table page 0x"), run.failure);
  assert(run.allocator !== null, "the pool's metrics are there");
  const c = compareVariants({ cpus: 1 }, [
    v("mix", { profile: "mainline", overrides: { pgtable: "v5.13" } }),
  ]);
  const text = formatComparison(c, "text", { timing: false });
  assertStringIncludes(text, "mix: verification failed: page-table invariant: table page 0x");
  assertEquals(text.includes("step ?"), false);
  const json = comparisonJson(c) as { runs: { failure?: string }[] };
  assertEquals(json.runs[0]!.failure, run.failure);
});

Deno.test("long workloads report progress often enough to show, and once at the end", () => {
  const m = createMachine({ cpus: 1, plugins: profile("v5.13") });
  m.trace.enabled = false;
  const pkvm = m.get(PKVM);
  pkvm.boot();
  const calls: [number, number][] = [];
  const progress = (d: number, t: number) => calls.push([d, t]);
  runChurn(pkvm.pool("hpool")!, 10_000, workloadPrng(1), { progress });
  assert(calls.length >= PROGRESS_STEPS, `${calls.length} calls`);
  assertEquals(calls.at(-1), [10_000, 10_000]);
  for (let i = 1; i < calls.length; i++) assert(calls[i]![0] > calls[i - 1]![0]);
  calls.length = 0;
  runMapWorkload(pkvm, 1_000, workloadPrng(1), m.memory.banks, progress);
  assert(calls.length >= PROGRESS_STEPS, `${calls.length} calls`);
  assertEquals(calls.at(-1), [1_000, 1_000]);
});
