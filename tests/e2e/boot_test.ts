// End to end: the boot report of both profiles (snapshots), the switch
// sequences' findings and their effect on the TLB, and examples/boot.ts as
// a user runs it (no permission flags, exit codes, --json contract).

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { runExample } from "../_example_cli.ts";
import { assertSnapshot } from "@std/testing/snapshot";
import { type BootReport, createMachine, PKVM, Trace } from "../../mod.ts";
import { profile, type ProfileName, type ProfileOverrides } from "../../plugins/profiles/mod.ts";
import { MAINLINE_S, switchSequence } from "../../plugins/switch_sequence/mod.ts";

function boot(name: ProfileName, overrides: ProfileOverrides = {}, cpus = 4): BootReport {
  const m = createMachine({
    cpus,
    plugins: profile(name, overrides),
    trace: new Trace({ kinds: ["step", "hypercall", "log", "barrier_finding", "handover"] }),
  });
  return m.get(PKVM).boot();
}

/** The report without the TLB's hit/miss/fill counters, which follow the MMU's internals. */
function stable(r: BootReport): unknown {
  return { ...r, tlb: { policy: r.tlb.policy, stale: r.tlb.stale } };
}

Deno.test("boot report of the default machine, v5.13 profile", async (t) => {
  const r = boot("v5.13");
  assertEquals(r.ok, true);
  await assertSnapshot(t, stable(r));
});

Deno.test("boot report of the default machine, mainline profile", async (t) => {
  const r = boot("mainline");
  assertEquals(r.ok, true);
  await assertSnapshot(t, stable(r));
});

Deno.test("the v3 sequence boots, but its findings show R1, R9 and R10", () => {
  const r = boot("v5.13", { switch: "v3" });
  assertEquals(r.ok, true);
  assertEquals(r.switch.verdict, "fail");
  const rules = new Set(r.switch.findings.map((f) => f.rule));
  for (const rule of ["R1", "R9", "R10"]) {
    assert(rules.has(rule), `expected ${rule} in ${[...rules]}`);
  }
  assertEquals(r.verify.stale_translations, 0);
});

Deno.test("a sequence without tlbi leaves stale translations under the adversarial TLB only", () => {
  const noTlbi = MAINLINE_S.replace(/^\s*tlbi\s+alle2\s*$/m, "");
  assert(noTlbi !== MAINLINE_S);
  const seq = () => switchSequence({ name: "no-tlbi", source: noTlbi, abi: "registers" });
  const adversarial = boot("mainline", { switch: seq(), tlb: "adversarial" });
  assertEquals(adversarial.switch.findings.some((f) => f.rule === "R5"), true);
  assert(adversarial.verify.stale_translations > 0);
  assertEquals(adversarial.ok, false);
  // Host-only VAs still translate through what the TLB kept of the freed host
  // table: leaf entries, and table descriptors in the walk cache.
  assertMatch(
    adversarial.verify.unexpected[0]!,
    /through a walk-cache entry \(a table descriptor\) of the freed host table/,
  );
  assert(
    adversarial.verify.unexpected.some((u) =>
      /from a TLB entry walked from the freed host table/.test(u)
    ),
  );
  const optimistic = boot("mainline", { switch: seq(), tlb: "optimistic" });
  assertEquals([optimistic.ok, optimistic.verify.stale_translations], [true, 0]);
  // The same machine with the tlbi: nothing stale.
  const good = boot("mainline", { tlb: "adversarial" });
  assertEquals([good.ok, good.verify.stale_translations], [true, 0]);
  assert(good.verify.probed_old_vas > 0);
});

Deno.test("report contract: hex strings for addresses, numbers for counts, maximal sorted maplets", () => {
  for (const name of ["v5.13", "v6.1", "v6.12", "mainline"] as const) {
    const r = boot(name);
    const isHex = (s: unknown) => typeof s === "string" && /^0x[0-9a-f]+$/.test(s);
    assert(isHex(r.reserve.base) && isHex(r.reserve.size) && isHex(r.pgtable.pgd));
    for (const h of r.hypercalls) assert(isHex(h.x0) && isHex(h.x1) && typeof h.id === "number");
    for (const v of Object.values(r.sysregs)) assert(isHex(v));
    for (const p of Object.values(r.pools)) {
      assertEquals(typeof p.pages, "number");
      assertEquals(p.free_by_order.reduce((s, n, o) => s + n * 2 ** o, 0), p.free);
    }
    const maps = r.pgtable.mappings.map((m) => ({
      va: BigInt(m.va),
      pa: BigInt(m.pa),
      size: BigInt(m.size),
      prot: m.prot,
    }));
    for (let i = 1; i < maps.length; i++) {
      const a = maps[i - 1]!;
      const b = maps[i]!;
      assert(a.va + a.size <= b.va, "sorted, disjoint");
      assert(!(a.va + a.size === b.va && a.pa + a.size === b.pa && a.prot === b.prot), "maximal");
    }
    assertEquals(r.switch.findings.every((f) => typeof f.line === "number"), true);
  }
});

Deno.test("report contract: each hypercall says whether it was a KVM hypercall or a hyp-stub call", () => {
  for (const name of ["v5.13", "v6.1", "v6.12", "v7.2"] as const) {
    const r = boot(name);
    for (const h of r.hypercalls) assert(h.kind === "hvc" || h.kind === "stub", JSON.stringify(h));
    // hyp_install_host_vector(): HVC_SET_VECTORS (stub call 0, asm/virt.h) on the
    // hyp stub, then __kvm_hyp_init (KVM hypercall 0) on the init vector; the
    // fields kept as they were.
    const [set, init] = r.hypercalls;
    assertEquals(
      [set!.name, set!.kind, set!.id, set!.x0],
      ["__hyp_set_vectors", "stub", 0, "0x0"],
      name,
    );
    assertEquals([init!.name, init!.kind, init!.id], ["__kvm_hyp_init", "hvc", 0], name);
    // Both are number 0: filtering on kind and id finds the KVM hypercall only.
    const zero = r.hypercalls.filter((h) => h.kind === "hvc" && h.id === 0).map((h) => h.name);
    assertEquals([...new Set(zero)], ["__kvm_hyp_init"], name);
    // __hyp_set_vectors (HVC_SET_VECTORS, 0) each time a CPU leaves the stub for
    // KVM's init vector; __hyp_reset_vectors (HVC_RESET_VECTORS, 2) first in
    // each cpu_hyp_reinit() that init_subsystems() runs: on CPUs 1-3, and in
    // v5.13 on CPU 0 too, which its do_pkvm_init() does not mark initialised.
    const stubs = r.hypercalls.filter((h) => h.kind === "stub").map((h) => `${h.cpu}:${h.id}`);
    const others = ["1:2", "1:0", "2:2", "2:0", "3:2", "3:0"];
    assertEquals(stubs, name === "v5.13" ? ["0:0", "0:2", "0:0", ...others] : ["0:0", ...others]);
  }
});

// --- examples/boot.ts as a user runs it ------------------------------------

function cli(args: string[], flags: string[] = []) {
  return runExample("examples/boot.ts", args, flags);
}

Deno.test("examples/boot.ts with no flags boots the default machine, needing no permission", async (t) => {
  const r = await cli([]);
  assertEquals(r.stderr, "");
  // The default profile is v7.2, whose switch sequence has 040113fa32f2's
  // dsb nsh; isb: nothing of hyp_pgtable survives the MMU enable.
  assertEquals(r.code, 0);
  assertStringIncludes(r.stdout, "profile v7.2");
  assertStringIncludes(r.stdout, "verify  ok");
  assertStringIncludes(r.stdout, "nothing from hyp_pgtable live, no walk from the old TTBR0_EL2");
  for (const step of [0, 1, 2, 3, 4, 5, 6, 7]) assertStringIncludes(r.stdout, `[${step}] `);
  assert(!r.stdout.includes("\x1b["), "no colours without a terminal");
  assert(r.stdout.split("\n").length < 50, "one screen");
  await assertSnapshot(t, r.stdout);
});

Deno.test("examples/boot.ts --profile v6.1: 6.1's switch leaves walk-cache entries of the freed host table, verify fails (exit 1)", async () => {
  const r = await cli(["--profile", "v6.1"]);
  assertEquals(r.stderr, "");
  assertEquals(r.code, 1);
  assertStringIncludes(r.stdout, "verify  FAIL");
  assertStringIncludes(r.stdout, "R3 walks from the old TTBR0_EL2: 1");
  assertStringIncludes(r.stdout, "4 stale TLB hits");
  const qemu = await cli(["--profile", "v6.1", "--tlb", "optimistic"]);
  assertEquals(qemu.code, 0, qemu.stdout);
  assertStringIncludes(qemu.stdout, "verify  ok");
});

Deno.test("examples/boot.ts --json prints one report", async () => {
  const r = await cli(["--json", "--profile", "mainline", "--cpus", "2", "--ram", "0x40000000:1G"]);
  assertEquals(r.code, 0);
  const report = JSON.parse(r.stdout) as BootReport;
  assertEquals([report.profile, report.ok, report.machine.cpus], ["mainline", true, 2]);
  assertEquals(report.machine.ram, [{ base: "0x40000000", size: "0x40000000" }]);
});

Deno.test("examples/boot.ts: a failed boot is an account and exit 1, never a stack trace", async () => {
  // 6.1's image takes 32 MiB of the 36: no room for a pool of 1094 pages.
  const r = await cli(["--profile", "v6.1", "--ram", "0x40000000:36M"]);
  assertEquals(r.code, 1);
  assertStringIncludes(r.stdout, "boot failed at step 1");
  assertStringIncludes(r.stdout, "Failed to reserve hyp memory");
  assert(!/\n\s+at /.test(r.stdout + r.stderr), "no stack trace");
});

Deno.test("examples/boot.ts: bad flags print one line, without the usage, and exit 2", async () => {
  for (
    const args of [
      ["--bogus"],
      ["--cpus", "0"],
      ["--va-bits", "42"],
      ["--profile", "v6"],
      ["--ram", "0x40000000"],
      ["--tlb", "lazy"],
      ["--switch", "v4"],
      ["--seed", "-1"],
      ["stray"],
    ]
  ) {
    const r = await cli(args);
    assertEquals(r.code, 2, args.join(" "));
    assertMatch(r.stderr, /^boot: [^\n]+\n$/, args.join(" "));
    assertEquals(r.stdout, "", args.join(" "));
  }
});

Deno.test("examples/boot.ts reads a PATH only with --allow-read", async () => {
  const path = "plugins/switch_sequence/sequences/v3.S";
  const denied = await cli(["--switch", path]);
  assertEquals(denied.code, 2);
  assertStringIncludes(denied.stderr, "needs --allow-read");
  const ok = await cli(["--switch", path, "--json"], ["--allow-read"]);
  assertEquals(ok.code, 0, ok.stderr);
  const report = JSON.parse(ok.stdout) as BootReport;
  assertEquals(report.switch.sequence, path);
  assert(report.switch.findings.some((f) => f.rule === "R9"));
  // 6.1: the fixture wraps the v5.13 buddy, whose 32-byte struct hyp_page
  // does not fit the vmemmap 6.12 and later size for all of memory; the
  // optimistic TLB, since 6.1's switch hazard would make the exit status 1.
  const alloc = await cli([
    "--profile",
    "v6.1",
    "--allocator",
    "tests/e2e/fixtures/counting_allocator.ts",
    "--tlb",
    "optimistic",
    "--json",
  ], [
    "--allow-read",
  ]);
  assertEquals(alloc.code, 0, alloc.stderr);
  assertEquals((JSON.parse(alloc.stdout) as BootReport).variants.page_allocator, "counting-buddy");
});

Deno.test("examples/boot.ts: a switch sequence that faults is an account of where, exit 1", async () => {
  const r = await cli(["--switch", "tests/e2e/fixtures/faulting_switch.S"], ["--allow-read"]);
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(r.stdout, "boot failed at step 5");
  assertStringIncludes(r.stdout, "hyp_panic in __pkvm_init_switch_pgd");
  assert(!/\n\s+at /.test(r.stdout + r.stderr), "no stack trace");
});

Deno.test("the same machine and seed give the same report", () => {
  for (const name of ["v5.13", "v6.1", "v6.12", "mainline"] as const) {
    assertEquals(JSON.stringify(boot(name, {}, 2)), JSON.stringify(boot(name, {}, 2)));
  }
});
