import { assertEquals, assertStringIncludes } from "@std/assert";
import {
  checkKernelTree,
  EXPECTED_HYP_INIT,
  hypInitMismatches,
} from "../../../examples/kernel_sources.ts";
import { cacheDir } from "../../../plugins/oracle/mod.ts";
import { builtinSequence, check, parseA64 } from "./deps.ts";

const FIXTURES = new URL("../../fixtures/hyp_init/", import.meta.url).pathname;
const RELEASES = ["v6.1", "v6.12", "v7.2"] as const;
const text = (r: string) => Deno.readTextFileSync(`${FIXTURES}${r}/hyp-init.S`);

Deno.test("hyp-init.S of v6.1, v6.12 and v7.2, exactly as shipped, gets its verdicts", async (t) => {
  for (const r of RELEASES) {
    await t.step(r, () => {
      const res = check(text(r), {}, { release: r, file: "hyp-init.S" });
      assertEquals(hypInitMismatches(r, res), []);
      assertEquals(res.release, r);
      // The file's verdict is its worst routine's.
      const order = ["pass", "warn", "fail"];
      const worst = res.routines.map((x) =>
        x.verdict
      ).sort((a, b) => order.indexOf(b) - order.indexOf(a))[0];
      assertEquals(res.verdict, worst);
    });
  }
});

Deno.test("the routines that switch are found by what they do", () => {
  const res = check(text("v6.12"), {}, { release: "v6.12" });
  const switching = res.routines.filter((x) => x.switches).map((x) => x.name);
  // __kvm_init_el2_state writes SCTLR_EL2 but never changes M (it runs with
  // the MMU off) and never touches TTBR0_EL2.
  assertEquals(switching, [
    "__kvm_hyp_init",
    "___kvm_hyp_init",
    "kvm_hyp_cpu_entry",
    "kvm_hyp_cpu_resume",
    "__kvm_hyp_init_cpu",
    "__kvm_handle_stub_hvc",
    "__pkvm_init_switch_pgd",
  ]);
});

Deno.test("each routine starts in the state the kernel (or the file) enters it in", () => {
  const res = check(text("v6.1"), {}, { release: "v6.1" });
  const entries = (name: string) =>
    res.routines.find((x) => x.name === name)!.entries.map((e) => [e.mmu, e.from, e.how]);
  // The hyp stub's vectors run with the MMU off; the host's HVC lands at 0x400.
  const [init] = entries("__kvm_hyp_init");
  assertEquals(init!.slice(0, 2), ["off", "kernel"]);
  assertStringIncludes(init![2] as string, "offset 0x400");
  // ___kvm_hyp_init is reached only from the file: three call sites' states.
  assertEquals(entries("___kvm_hyp_init").map((e) => e.slice(0, 2)), [
    ["off", "text"],
    ["off", "text"],
    ["off", "text"],
  ]);
  assertStringIncludes(entries("___kvm_hyp_init")[0]![2] as string, "called from __kvm_hyp_init");
  // __pkvm_init runs on the host-built tables when it calls the switch.
  assertEquals(entries("__pkvm_init_switch_pgd").map((e) => e.slice(0, 2)), [["on", "kernel"]]);
  // The stub handler: from the host (MMU on) and from __do_hyp_init (MMU off).
  assertEquals(entries("__kvm_handle_stub_hvc").map((e) => e.slice(0, 2)), [
    ["on", "kernel"],
    ["off", "text"],
  ]);
});

Deno.test("___kvm_hyp_init's missing ic iallu is R9 only if its code could be patched at the PoU", () => {
  // The release models assume what Linux does: alternatives are cleaned to the
  // PoC (clean_dcache_range_nopatch). Assuming PoU-only patching instead, the
  // MMU enable with a bare `msr; isb` leaves PoC-fetched lines in the I-cache.
  const res = check(text("v6.12"), { assume: { "code-patched-at-pou": true } }, {
    release: "v6.12",
  });
  const hypInit = res.routines.find((x) => x.name === "___kvm_hyp_init")!;
  assertEquals([...new Set(hypInit.findings.map((f) => f.rule))], ["R9"]);
  // __pkvm_init_switch_pgd has set_sctlr_el2's ic iallu: still a pass.
  assertEquals(res.routines.find((x) => x.name === "__pkvm_init_switch_pgd")!.verdict, "pass");
});

Deno.test("the built-in v6.1, v6.12 and v7.2 sequences are the files' own routine", () => {
  for (const r of RELEASES) {
    const body = builtinSequence(r).source.split("\n").filter((l) => !l.startsWith("// "))
      .join("\n");
    assertEquals(text(r).includes(body), true, r);
  }
});

Deno.test("the expectations cover every routine of every release", () => {
  for (const r of RELEASES) {
    const names = parseA64(text(r), { release: r }).symbols!.map((s) => s.name);
    assertEquals(names.sort(), Object.keys(EXPECTED_HYP_INIT[r]!.routines).sort(), r);
  }
});

/** The cached extracted tree of a release (deno task kernel-sources), if there is one. */
function cachedTree(version: string): string | undefined {
  try {
    const dir = `${cacheDir()}/sources/${version}/linux-source-${version}`;
    Deno.statSync(`${dir}/arch/arm64/kvm/hyp/nvhe/hyp-init.S`);
    return dir;
  } catch {
    return undefined;
  }
}

for (const v of ["6.1", "6.12", "7.2"]) {
  Deno.test({
    name:
      `v${v}: the models give the instruction stream of the tree's own headers (cached sources)`,
    ignore: cachedTree(v) === undefined,
    fn() {
      const { problems } = checkKernelTree(cachedTree(v)!, FIXTURES.replace(/\/$/, ""));
      assertEquals(problems, []);
    },
  });
}
