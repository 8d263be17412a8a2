// Machine layouts: several banks with holes, 1 and 64 CPUs, 39/48-bit VA,
// and machines too small to carve (a clean failure, not an exception).

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { MMU } from "../../../core/mod.ts";
import { release } from "../../../plugins/releases/mod.ts";
import { bootMachine, bootOk } from "./_boot.ts";

const GiB = 2 ** 30;
const MiB = 2 ** 20;

Deno.test("__pkvm_init over two banks with a hole between them", () => {
  for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as const) {
    const { m, pkvm } = bootMachine(version, {
      ram: [{ base: 0x4000_0000, size: 2 * GiB }, { base: 0x1_0000_0000, size: 2 * GiB }],
    });
    const r = pkvm.boot();
    assertEquals(bootOk(r), true, `${version}: ${JSON.stringify(r.failure ?? r.verify)}`);
    // The pool is carved top-down, so it sits at the end of the upper bank.
    assertEquals(Number(r.reserve.base) + Number(r.reserve.size) <= 0x1_8000_0000, true);
    assert(Number(r.reserve.base) >= 0x1_0000_0000);
    // The hole is never mapped at EL2.
    const hyp = pkvm.host!.hyp!;
    const holeVa = hyp.va(0xc000_0000 + 0x1000_0000);
    const t = m.get(MMU).translate(m.cpu(0), holeVa, "read", { debug: true });
    assertEquals(t.kind, "fault");
  }
});

Deno.test("__pkvm_init with 1 and with 64 CPUs: every CPU gets its per-CPU region and stack", () => {
  for (const cpus of [1, 64]) {
    const { m, pkvm } = bootMachine("v5.13", { cpus });
    const r = pkvm.boot();
    assertEquals(bootOk(r), true, JSON.stringify(r.failure));
    const init = r.hypercalls.find((h) => h.name === "__pkvm_init")!;
    assertEquals(Number(init.args[2]), cpus);
    assertEquals(r.hypercalls.filter((h) => h.name === "__pkvm_prot_finalize").length, cpus);
    const hyp = pkvm.host!.hyp!;
    for (let i = 0; i < cpus; i++) {
      assert(hyp.expected.some((e) => e.what === `stack cpu${i}`), `stack of CPU ${i}`);
      assert(hyp.expected.some((e) => e.what === `percpu cpu${i}`), `per-CPU region of CPU ${i}`);
      // Each CPU entered EL2 on the hyp's tables.
      assertEquals(m.cpu(i).sysreg("TTBR0_EL2") & ~1n, BigInt(r.pgtable.pgd));
    }
  }
});

Deno.test("39-bit and 48-bit VA: hyp_va_bits, __io_map_base and __hyp_vmemmap per version", () => {
  // hyp_va_bits: v5.13 and 6.1 take the idmap's VA size (64 - idmap_t0sz: 39
  // bits while the image ends below 2^39); 6.12 and 7.2 take max(IDMAP_VA_BITS
  // = 48, vabits_actual). The linear map's top bit (kvm_compute_layout's
  // hyp_va_msb) is bit vabits_actual - 1 up to 6.12, and bit hyp_va_bits - 1
  // in 7.2, which asks kvm_hyp_va_bits().
  const cases = [
    ["v5.13", 48, 48, "0x400000000000", "0x600000000000", 48],
    ["v5.13", 39, 39, "0x2000000000", "0x3000000000", 39],
    ["v6.1", 48, 48, "0x400000000000", "0x600000000000", 48],
    ["v6.1", 39, 39, "0x2000000000", "0x3000000000", 39],
    ["v6.12", 48, 48, "0x400000000000", "0x600000000000", 48],
    ["v6.12", 39, 48, "0x400000000000", "0x600000000000", 39],
    ["v7.2", 48, 48, "0x400000000000", "0x600000000000", 48],
    ["v7.2", 39, 48, "0x400000000000", "0x600000000000", 48],
  ] as const;
  for (const [version, vaBits, hypBits, io, vmemmap, msbBits] of cases) {
    const { pkvm } = bootMachine(version, { overrides: { pkvm: { vaBits } } });
    const r = pkvm.boot();
    assertEquals(bootOk(r), true, `${version}/${vaBits}: ${JSON.stringify(r.failure)}`);
    assertEquals(r.layout.hyp_va_bits, hypBits, `${version}/${vaBits}`);
    assertEquals(r.layout.hyp_vmemmap, vmemmap, `${version}/${vaBits}`);
    // __io_map_base has moved up by the private mappings made since hyp_create_idmap.
    assert(
      BigInt(r.layout.io_map_base) >= BigInt(io) && BigInt(r.layout.io_map_base) < BigInt(vmemmap),
    );
    // The linear map lives in the half the idmap does not use: its top bit set.
    const text = r.pgtable.mappings.find((m) => m.what?.includes("__hyp_text"))!;
    assertEquals(BigInt(text.va) >> BigInt(msbBits - 1), 1n, `${version}/${vaBits}`);
  }
});

Deno.test("memory beyond a 39-bit linear map is left out, and the boot still succeeds", () => {
  const { m, pkvm } = bootMachine("v5.13", {
    ram: [{ base: 0x4000_0000, size: GiB }, { base: 0x80_0000_0000, size: GiB }],
    overrides: { pkvm: { vaBits: 39 } },
  });
  const r = pkvm.boot();
  assertEquals(bootOk(r), true, JSON.stringify(r.failure));
  assert(Number(r.reserve.base) < 0x8000_0000, "carved from the bank the kernel keeps");
  // arm64_memblock_init()'s own warning, and what it removed, in the report and step 1.
  assert(
    m.trace.filter("log").some((e) =>
      e.data.level === "warn" &&
      e.data.message === "Memory doesn't fit in the linear mapping, VA_BITS too small"
    ),
  );
  assertEquals(r.machine.memblock_removed?.map((x) => [x.base, x.size]), [[
    "0x8000000000",
    "0x40000000",
  ]]);
  assertStringIncludes(
    r.steps[1]!.detail,
    "arm64_memblock_init removed 1 GiB of RAM: [0x8000000000, 0x8040000000) above 0x4040000000",
  );
});

Deno.test("a machine too small to carve the pool fails cleanly at step 1", () => {
  // The bank holds the kernel image (placed at RAM + 2 MiB; Debian's images
  // for 6.1, 6.12 and 7.2 are 32 to 47 MiB, System.map's _end) and 2 MiB
  // more, short of the pool's ~4.3 MiB. v5.13's synthetic image is smaller.
  const bank = (v: string) => {
    const end = release(v).image?.symbols._end;
    return end === undefined
      ? 22 * MiB
      : Math.ceil((2 * MiB + end) / (2 * MiB)) * 2 * MiB + 2 * MiB;
  };
  for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as const) {
    const { pkvm } = bootMachine(version, { ram: [{ base: 0x4000_0000, size: bank(version) }] });
    const r = pkvm.boot();
    assertEquals(r.ok, false);
    assertEquals(r.failure?.step, 1);
    assertMatch(r.failure!.reason, /Failed to reserve hyp memory/);
    assertEquals(r.steps.map((s) => s.status), ["ok", "fail"]);
    assertEquals(r.hypercalls, []);
  }
});

Deno.test("a machine too small for the kernel image fails cleanly at step 0", () => {
  const { pkvm } = bootMachine("v5.13", { ram: [{ base: 0x4000_0000, size: 4 * MiB }] });
  const r = pkvm.boot();
  assertEquals([r.ok, r.failure?.step], [false, 0]);
  assertMatch(
    r.failure!.reason,
    /RAM bank \[0x40000000, 0x40400000\) \(4 MiB\) cannot hold the kernel image \[0x40200000, 0x[0-9a-f]+\) \([0-9.]+ MiB\): it is loaded at the bank's base \+ 2 MiB and needs [0-9.]+ MiB of it; QEMU could not boot this machine/,
  );
  assertEquals(r.machine.ram, [{ base: "0x40000000", size: "0x400000" }]);
});

Deno.test("ARM64_SPECTRE_V3A: EL2 maps the vectors privately (EXEC) and the host gets its own mapping by hypercall", () => {
  const { m, pkvm } = bootMachine("v5.13", { overrides: { pkvm: { spectreV3a: true } } });
  const r = pkvm.boot();
  assertEquals(bootOk(r), true, JSON.stringify(r.failure ?? r.verify));
  const hyp = pkvm.host!.hyp!;
  const vecs = pkvm.host!.image.symbols.__bp_harden_hyp_vecs!;
  // hyp_map_vectors() took the first private VA, at __io_map_base.
  assertEquals(hyp.bpVectBase, 0x4000_0000_0000 + (vecs % 4096));
  const t = m.get(MMU).translate(m.cpu(0), hyp.bpVectBase!, "exec");
  assertEquals(t.kind === "ok" && [t.pa, t.executable, t.writable], [vecs, true, false]);
  const priv = r.hypercalls.filter((h) => h.name === "__pkvm_create_private_mapping");
  assertEquals(priv.length, 1);
  // Each CPU's kvm_hyp_vector is the indirect slot: __hyp_bp_vect_base + 2 KiB.
  const host = pkvm.host!;
  for (let i = 0; i < m.cpus.length; i++) {
    const at = host.percpuBase[i]! + host.image.percpuOffsets.kvm_hyp_vector!;
    assertEquals(m.memory.read64(at), BigInt(hyp.bpVectBase! + 0x800));
  }
});
