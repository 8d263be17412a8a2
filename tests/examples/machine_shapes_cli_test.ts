// Machines the kernel would not run, from the command line: each reported
// once, where the kernel (or QEMU) would notice, with the exit code of the
// CLI contract (2 for a machine that cannot be built, 1 for a failed boot).

import { assert, assertEquals, assertMatch, assertNotEquals } from "@std/assert";
import { runExample } from "../_example_cli.ts";

const ABOVE_PA =
  "Cannot add RAM bank [0x100000000000, 0x100040000000): it ends above the 44-bit physical " +
  "address range of CPU cortex-a57 (ID_AA64MMFR0_EL1.PARange = 4, addresses below " +
  '0x100000000000); QEMU refuses such a machine ("Addressing limited to 44 bits")';

Deno.test("boot.ts and compare.ts: RAM above the CPU's PA range is one line, exit 2, a JSON error with --json", async () => {
  const ram = ["--ram", "0x40000000:1G", "--ram", "0x100000000000:1G"];
  const text = await runExample("examples/boot.ts", ram);
  assertEquals([text.code, text.stdout, text.stderr], [2, "", `boot: ${ABOVE_PA}\n`]);
  const json = await runExample("examples/boot.ts", [...ram, "--json"]);
  assertEquals(json.code, 2);
  assertEquals(JSON.parse(json.stdout), { error: ABOVE_PA });
  assertEquals(json.stderr.trim().split("\n").length, 1);
  const cmp = await runExample("examples/compare.ts", ram);
  assertEquals(cmp.code, 2);
  assertEquals(cmp.stderr.trim().split("\n").length, 1);
  assertMatch(cmp.stderr, /Addressing limited to 44 bits/);
  assert(!/\n\s+at /.test(text.stderr + json.stderr + cmp.stderr), "no stack trace");
});

Deno.test("boot.ts: a bank too small for the kernel image fails step 0, naming the bank and the image size", async () => {
  const r = await runExample("examples/boot.ts", ["--ram", "0x40000000:16M", "--profile", "v6.12"]);
  assertEquals(r.code, 1);
  assertMatch(
    r.stdout,
    /\[0\] firmware hand-over {2}FAIL\n[^]*RAM bank \[0x40000000, 0x41000000\) \(16 MiB\) cannot hold the kernel image \[0x40200000, 0x[0-9a-f]+\) \([0-9.]+ MiB\): it is loaded at the bank's base \+ 2 MiB/,
  );
  // Once: steps 1 and later are not run.
  assert(!r.stdout.includes("[1] "), r.stdout);
  const j = JSON.parse(
    (await runExample("examples/boot.ts", ["--ram", "0x40000000:16M", "--json"])).stdout,
  );
  assertEquals(j.failure.step, 0);
  assertMatch(j.failure.reason, /RAM bank \[0x40000000, 0x41000000\) \(16 MiB\) cannot hold/);
});

Deno.test("boot.ts --seed: it seeds the hyp VA random tag, and nothing else of the boot", async () => {
  const boot = async (seed: string) =>
    JSON.parse(
      (await runExample("examples/boot.ts", ["--json", "--seed", seed, "--cpus", "1"])).stdout,
    );
  const [a, b] = [await boot("1"), await boot("2")];
  // kvm_compute_layout(): the tag moves hyp_physvirt_offset and every hyp VA.
  assertNotEquals(a.layout.hyp_physvirt_offset, b.layout.hyp_physvirt_offset);
  // The carving, pools and table shapes do not depend on it.
  assertEquals(a.reserve, b.reserve);
  assertEquals(a.pgtable.table_pages, b.pgtable.table_pages);
  assertEquals([a.machine.seed, b.machine.seed], [1, 2]);
  const help = (await runExample("examples/boot.ts", ["--help"])).stdout;
  assertMatch(
    help,
    /--seed N +seeds the machine PRNG \(default 1\), whose only\n +draw is get_random_long\(\) for the hyp VA\n +random tag/,
  );
});

Deno.test("oracle.ts predict: an observation whose RAM lies above the CPU's PA range is one line, exit 2", async () => {
  const fixture = new URL(
    "../fixtures/oracle/observations/v6.1-cortex-a57-1G-1cpu.json",
    import.meta.url,
  );
  const obs = JSON.parse(await Deno.readTextFile(fixture));
  obs.inputs.machine.ram = [{ base: "0x100000000000", size: "0x40000000" }];
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify(obs));
    const text = await runExample("examples/oracle.ts", ["predict", file], ["--allow-read"]);
    assertEquals([text.code, text.stdout], [2, ""]);
    assertEquals(text.stderr, `oracle: inputs.machine: ${ABOVE_PA}\n`);
    const json = await runExample(
      "examples/oracle.ts",
      ["predict", file, "--json"],
      ["--allow-read"],
    );
    assertEquals(json.code, 2);
    assertEquals(JSON.parse(json.stdout), { error: `inputs.machine: ${ABOVE_PA}` });
  } finally {
    await Deno.remove(file);
  }
});
