// The real kernel as the judge, in CI: every recorded observation of a real
// Linux pKVM boot under QEMU (tests/fixtures/oracle/observations, recorded
// by `deno task oracle`) must agree with hyplab's prediction field for field.
// A prediction reads only the observation's inputs; the check below also
// makes sure of that, by predicting from a copy whose observed section is
// blanked.

import { assert, assertEquals } from "@std/assert";
import {
  diffObserved,
  EXTRA_SYSREGS,
  formatOracleDiff,
  type Observation,
  parseObservation,
  predict,
} from "../../../plugins/oracle/mod.ts";

const DIR = new URL("../../fixtures/oracle/observations/", import.meta.url);

async function fixtures(): Promise<[string, Observation][]> {
  const out: [string, Observation][] = [];
  for await (const e of Deno.readDir(DIR)) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    const text = await Deno.readTextFile(new URL(e.name, DIR));
    out.push([e.name, parseObservation(text, e.name)]);
  }
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}

Deno.test("every recorded real-kernel observation agrees with hyplab, field for field", async (t) => {
  const all = await fixtures();
  // Each release checked against a real kernel has recordings.
  for (const profile of ["v6.1", "v6.12", "v7.2"]) {
    assert(all.some(([, o]) => o.inputs.profile === profile), `no recording of ${profile}`);
  }
  for (const [name, obs] of all) {
    await t.step(name, async () => {
      const blank = structuredClone(obs);
      // deno-lint-ignore no-explicit-any
      (blank as any).observed = null;
      const { observed } = await predict(blank);
      const d = diffObserved(obs.observed, observed);
      assertEquals(d.agree, true, formatOracleDiff(d, name));
    });
  }
});

Deno.test("a recorded observation with one field changed is reported, by name", async () => {
  const [[name, obs]] = await fixtures() as [[string, Observation]];
  const changed = structuredClone(obs);
  // TCR_EL2.PS one step up: the diff names the field.
  const tcr = BigInt(changed.observed.sysregs.TCR_EL2) + (1n << 16n);
  changed.observed.sysregs.TCR_EL2 = `0x${tcr.toString(16)}`;
  changed.observed.el2.mappings.pop();
  const d = diffObserved(changed.observed, (await predict(obs)).observed);
  assertEquals(d.agree, false);
  const text = formatOracleDiff(d, name);
  assert(text.includes("sysregs.TCR_EL2"), text);
  assert(text.includes("PS (bits 18:16)"), text);
  assert(text.includes("only in hyplab"), text);
});

Deno.test("the later EL2 registers: predicted per CPU, compared by field, skipped when not recorded", async () => {
  const all = await fixtures();
  // A recording with them, under hVHE (CPTR_EL2 in CPACR_EL1's layout).
  const found = all.find(([, o]) =>
    o.observed.sysregs.CPTR_EL2 !== undefined && o.observed.mode === "hVHE"
  );
  if (found === undefined) throw new Error("no re-recorded hVHE observation");
  const [name, obs] = found;
  const { observed: predicted } = await predict(obs);
  for (const reg of EXTRA_SYSREGS) {
    assert(predicted.sysregs[reg] !== undefined, `${reg} not predicted`);
  }
  assertEquals(predicted.kvm_hyp_vector?.length, obs.inputs.machine.cpus);
  // MDCR_EL2.HPMN one less, CPTR_EL2.FPEN (E2H layout, bits 21:20) cleared.
  const changed = structuredClone(obs);
  const s = changed.observed.sysregs;
  s.MDCR_EL2 = `0x${(BigInt(s.MDCR_EL2!) - 1n).toString(16)}`;
  s.CPTR_EL2 = `0x${(BigInt(s.CPTR_EL2!) & ~(3n << 20n)).toString(16)}`;
  changed.observed.kvm_hyp_vector![0] = "0x0";
  const d = diffObserved(changed.observed, predicted);
  const text = formatOracleDiff(d, name);
  assertEquals(d.differences.length, 3, text);
  assert(text.includes("sysregs.MDCR_EL2"), text);
  assert(text.includes("HPMN (bits 4:0)"), text);
  assert(text.includes("FPEN (bits 21:20): real 0, hyplab 3"), text);
  assert(text.includes("kvm_hyp_vector[0]"), text);
  assertEquals(d.notRecorded, []);
  // The same recording without them, as an older observer wrote it: the
  // rest is compared and the missing ones are named.
  const old = structuredClone(obs);
  for (const reg of EXTRA_SYSREGS) delete old.observed.sysregs[reg];
  delete old.observed.kvm_hyp_vector;
  delete old.observed.sysregs_per_cpu;
  const d2 = diffObserved(old.observed, predicted);
  assertEquals(d2.agree, true, formatOracleDiff(d2, name));
  assertEquals(d2.notRecorded, [...EXTRA_SYSREGS, "kvm_hyp_vector"]);
  assert(d2.compared < d.compared);
  assert(
    formatOracleDiff(d2, name).includes(
      `; ${EXTRA_SYSREGS.join(", ")}, kvm_hyp_vector not in this recording`,
    ),
  );
});
