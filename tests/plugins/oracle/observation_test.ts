// deno-lint-ignore-file no-explicit-any
import { assertEquals, assertThrows } from "@std/assert";
import { formatObservation, OracleError, parseObservation } from "../../../plugins/oracle/mod.ts";

/** A small valid observation (values from a v6.1 boot, trimmed). */
function sample(): Record<string, unknown> {
  return {
    provenance: {
      kernel_package: "linux-image-6.1.0-50-arm64-unsigned 6.1.176-1",
      system_map_package: "linux-image-6.1.0-50-arm64-dbg 6.1.176-1",
      kernel_release: "6.1.0-50-arm64",
      qemu: "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)",
      cmdline: "qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu cortex-a57 ...",
      recorded: "2026-12-07",
    },
    inputs: {
      profile: "v6.1",
      machine: { cpu: "cortex-a57", ram: [{ base: "0x40000000", size: "0x100000000" }], cpus: 4 },
      memblock: {
        memory: [{ base: "0x40000000", size: "0x100000000" }],
        reserved: [{ base: "0x40210000", size: "0x1ffb000" }, {
          base: "0x48000000",
          size: "0x100000",
        }],
      },
      symbols: { _text: "0xffff800008000000", _stext: "0xffff800008010000" },
      host: {
        kimage_voffset: "0xffff7fffc7e00000",
        __per_cpu_offset: ["0xffff8000f5f47000", "0x0"],
      },
    },
    observed: {
      mode: "nVHE",
      reserve: {
        base: "0x13e000000",
        size: "0x1600000",
        request: { size: "0x1600000", align: "0x200000" },
      },
      sysregs: {
        TTBR0_EL2: "0x13e006000",
        TCR_EL2: "0x80843510",
        SCTLR_EL2: "0x30ed183d",
        MAIR_EL2: "0x40044ffff",
        HCR_EL2: "0x80080001",
        VTCR_EL2: "0x80243594",
        VTTBR_EL2: "0x13ea0f000",
      },
      el2: {
        va_bits: 48,
        start_level: 0,
        table_pages: 33,
        mappings: [
          { va: "0x40ee0000", pa: "0x40ee0000", size: "0x1000", attr: "0x7c3" },
          { va: "0x400000000000", pa: "0x40eec000", size: "0x2000", attr: "0x7c3" },
        ],
      },
    },
  };
}

Deno.test("observation: parse and format round-trip in canonical key order", () => {
  const text = JSON.stringify(sample(), null, 2) + "\n";
  const obs = parseObservation(text, "obs.json");
  assertEquals(formatObservation(obs), text);
  assertEquals(obs.inputs.machine.cpus, 4);
  // Keys in another order come back in the canonical one.
  const s = sample();
  const shuffled = { observed: s.observed, inputs: s.inputs, provenance: s.provenance };
  assertEquals(formatObservation(parseObservation(JSON.stringify(shuffled), "x")), text);
  // sysregs_per_cpu is optional and kept.
  const withPer = sample();
  const observed = withPer.observed as Record<string, unknown>;
  observed.sysregs_per_cpu = [1, 2, 3, 4].map(() => observed.sysregs);
  const again = parseObservation(JSON.stringify(withPer), "x");
  assertEquals(again.observed.sysregs_per_cpu?.length, 4);
  assertEquals(parseObservation(formatObservation(again), "x"), again);
  // host_s2 is optional (older recordings lack it), kept, and after el2.
  const withS2 = sample();
  (withS2.observed as Record<string, unknown>).host_s2 = hostS2();
  const s2 = parseObservation(JSON.stringify(withS2), "x");
  assertEquals(s2.observed.host_s2?.annotations.length, 2);
  const t2 = formatObservation(s2);
  assertEquals(t2.indexOf('"host_s2"') > t2.indexOf('"el2"'), true);
  assertEquals(parseObservation(t2, "x"), s2);
});

/** A host stage-2 section (values from a real 7.2 boot on max, trimmed). */
function hostS2(): Record<string, unknown> {
  return {
    ia_bits: 52,
    start_level: 0,
    pgd: "0xbf210000",
    pgd_pages: 16,
    annotations: [
      { ipa: "0x426f2000", size: "0x8000", desc: "0x2000000000000002" },
      { ipa: "0xbe800000", size: "0x1200000", desc: "0x2000000000000002" },
    ],
  };
}

Deno.test("observation: every bad field is named with its path", async (t) => {
  const cases: [string, (o: Record<string, any>) => void, string][] = [
    [
      "cpus not a number",
      (o) => (o.inputs.machine.cpus = "x"),
      'obs.json: inputs.machine.cpus: expected an integer 1..8, got "x"',
    ],
    [
      "cpus out of range",
      (o) => (o.inputs.machine.cpus = 9),
      "obs.json: inputs.machine.cpus: expected an integer 1..8, got 9",
    ],
    [
      "unknown cpu",
      (o) => (o.inputs.machine.cpu = "a53"),
      'obs.json: inputs.machine.cpu: expected one of cortex-a57, neoverse-n1, max, got "a53"',
    ],
    [
      "upper-case hex",
      (o) => (o.observed.sysregs.TCR_EL2 = "0x8084351A"),
      'obs.json: observed.sysregs.TCR_EL2: expected a lowercase 0x hex string, got "0x8084351A"',
    ],
    [
      "a number for an address",
      (o) => (o.observed.reserve.base = 5335154688),
      "obs.json: observed.reserve.base: expected a lowercase 0x hex string, got 5335154688",
    ],
    [
      "a missing register",
      (o) => delete o.observed.sysregs.VTTBR_EL2,
      "obs.json: observed.sysregs.VTTBR_EL2: missing",
    ],
    ["an unknown key", (o) => (o.inputs.extra = 1), "obs.json: inputs.extra: unknown key"],
    [
      "a bad mode",
      (o) => (o.observed.mode = "VHE"),
      'obs.json: observed.mode: expected "nVHE" or "hVHE", got "VHE"',
    ],
    [
      "unsorted mappings",
      (o) => o.observed.el2.mappings.reverse(),
      "obs.json: observed.el2.mappings[1]: not sorted by va or overlaps the previous entry",
    ],
    [
      "overlapping reserved",
      (o) => (o.inputs.memblock.reserved[1].base = "0x40210000"),
      "obs.json: inputs.memblock.reserved[1]: not sorted by base or overlaps the previous entry",
    ],
    [
      "zero size",
      (o) => (o.inputs.machine.ram[0].size = "0x0"),
      "obs.json: inputs.machine.ram[0].size: expected a non-zero size",
    ],
    [
      "a bad date",
      (o) => (o.provenance.recorded = "7 Dec 2026"),
      'obs.json: provenance.recorded: expected YYYY-MM-DD, got "7 Dec 2026"',
    ],
    [
      "a bad per-CPU host value",
      (o) => (o.inputs.host.__per_cpu_offset[1] = "12"),
      'obs.json: inputs.host.__per_cpu_offset[1]: expected a lowercase 0x hex string, got "12"',
    ],
    [
      "start level out of range",
      (o) => (o.observed.el2.start_level = -2),
      "obs.json: observed.el2.start_level: expected an integer -1..3, got -2",
    ],
    [
      "not an object",
      (o) => (o.observed.el2 = []),
      "obs.json: observed.el2: expected an object, got []",
    ],
    [
      "host_s2 pgd pages out of range",
      (o) => (o.observed.host_s2 = { ...hostS2(), pgd_pages: 32 }),
      "obs.json: observed.host_s2.pgd_pages: expected an integer 1..16, got 32",
    ],
    [
      "host_s2 annotations unsorted",
      (o) => {
        o.observed.host_s2 = hostS2();
        o.observed.host_s2.annotations.reverse();
      },
      "obs.json: observed.host_s2.annotations[1]: not sorted by ipa or overlaps the previous entry",
    ],
    [
      "host_s2 annotation without desc",
      (o) => {
        o.observed.host_s2 = hostS2();
        delete o.observed.host_s2.annotations[0].desc;
      },
      "obs.json: observed.host_s2.annotations[0].desc: missing",
    ],
  ];
  for (const [name, spoil, msg] of cases) {
    await t.step(name, () => {
      const o = sample();
      spoil(o);
      const e = assertThrows(() => parseObservation(JSON.stringify(o), "obs.json"), OracleError);
      assertEquals(e.message, msg);
    });
  }
  await t.step("not JSON", () => {
    assertThrows(() => parseObservation("{", "obs.json"), OracleError, "obs.json: not JSON");
    assertThrows(
      () => parseObservation("[]", "obs.json"),
      OracleError,
      "obs.json: expected an object, got []",
    );
  });
});

/** The later recordings' EL2 registers, as a 6.1 boot on cortex-a57 leaves them. */
const EXTRA = {
  VBAR_EL2: "0xfffffbc94000",
  TPIDR_EL2: "0x13ea34000",
  MDCR_EL2: "0x6",
  CPTR_EL2: "0x33ff",
  CNTHCTL_EL2: "0x3",
  VPIDR_EL2: "0x411fd070",
  VMPIDR_EL2: "0x80000000",
};

Deno.test("observation: the later EL2 registers are optional, all or none, and kept in order", () => {
  // Without them (the first recordings): parsed, none present.
  const old = parseObservation(JSON.stringify(sample()), "old.json");
  assertEquals(old.observed.sysregs.VBAR_EL2, undefined);
  assertEquals(old.observed.kvm_hyp_vector, undefined);
  // With them, in any key order: kept, formatted after the first seven.
  const s = sample();
  const observed = s.observed as Record<string, any>;
  observed.sysregs = { ...EXTRA, ...observed.sysregs };
  observed.kvm_hyp_vector = [
    "0xfffffbc96800",
    "0xfffffbc96800",
    "0xfffffbc96800",
    "0xfffffbc96800",
  ];
  const obs = parseObservation(JSON.stringify(s), "new.json");
  assertEquals(obs.observed.sysregs.MDCR_EL2, "0x6");
  assertEquals(obs.observed.kvm_hyp_vector?.length, 4);
  const text = formatObservation(obs);
  assertEquals(Object.keys(JSON.parse(text).observed.sysregs), [
    "TTBR0_EL2",
    "TCR_EL2",
    "SCTLR_EL2",
    "MAIR_EL2",
    "HCR_EL2",
    "VTCR_EL2",
    "VTTBR_EL2",
    ...Object.keys(EXTRA),
  ]);
  assertEquals(parseObservation(text, "new.json"), obs);
  // Some but not all: the first missing one is named.
  const partial = sample();
  (partial.observed as any).sysregs = { ...(partial.observed as any).sysregs, MDCR_EL2: "0x6" };
  assertThrows(
    () => parseObservation(JSON.stringify(partial), "p.json"),
    OracleError,
    "p.json: observed.sysregs.VBAR_EL2: missing",
  );
  // A bad value in one of them is named like any other.
  const bad = sample();
  (bad.observed as any).sysregs = { ...(bad.observed as any).sysregs, ...EXTRA, CPTR_EL2: 7 };
  assertThrows(
    () => parseObservation(JSON.stringify(bad), "b.json"),
    OracleError,
    "observed.sysregs.CPTR_EL2",
  );
  // Per CPU: the same set as CPU 0's.
  const per = sample();
  const po = per.observed as any;
  po.sysregs = { ...po.sysregs, ...EXTRA };
  po.sysregs_per_cpu = [
    po.sysregs,
    po.sysregs,
    po.sysregs,
    { ...sample().observed as any }.sysregs,
  ];
  assertThrows(
    () => parseObservation(JSON.stringify(per), "c.json"),
    OracleError,
    "observed.sysregs_per_cpu[3].VBAR_EL2: missing (observed.sysregs has it)",
  );
  // kvm_hyp_vector: one per CPU.
  const vec = sample();
  (vec.observed as any).kvm_hyp_vector = ["0x1"];
  assertThrows(
    () => parseObservation(JSON.stringify(vec), "v.json"),
    OracleError,
    "observed.kvm_hyp_vector: expected 4 entries",
  );
});
