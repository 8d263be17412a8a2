// Every hypercall's bad input returns the kernel's errno (or NOT_SUPPORTED)
// and leaves memory, tables and pools byte-for-byte unchanged.

import { assert, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import { ERRNO, MMU, PAGE_HYP, PAGE_HYP_EXEC, PAGE_HYP_RO } from "../../../core/mod.ts";
import { asU64, SMCCC_RET_NOT_SUPPORTED } from "../../../plugins/pkvm/hypercall_ids.ts";
import { bootMachine, stateHash } from "./_boot.ts";

const NOT_SUPPORTED = SMCCC_RET_NOT_SUPPORTED;
const err = (e: number) => asU64(e);

function booted(name: "v5.13" | "mainline" = "v5.13") {
  const b = bootMachine(name);
  const r = b.pkvm.boot();
  assertEquals(r.ok, true, JSON.stringify(r.failure));
  return b;
}

/** Issues a hypercall and checks x0/x1 and that nothing changed. */
function expectUnchanged(
  b: ReturnType<typeof booted>,
  name: string | number,
  args: (number | bigint)[],
  x0: bigint,
  x1?: bigint,
) {
  const before = stateHash(b.m, b.pkvm);
  const r = b.pkvm.hypercall(name, args);
  assertEquals(r.x0, x0, `${name}(${args.join(", ")}) x0`);
  if (x1 !== undefined) assertEquals(r.x1, x1, `${name}(${args.join(", ")}) x1`);
  assertEquals(stateHash(b.m, b.pkvm), before, `${name}(${args.join(", ")}) changed the state`);
  return r;
}

Deno.test("__pkvm_create_mappings: bad prot, range and size leave every structure as it was", async (t) => {
  const b = booted("v5.13");
  const hyp = b.pkvm.host!.hyp!;
  const free = 0x1000_0000_0000 + 0x4000_0000; // unused hyp VA
  const pa = 0x8000_0000;
  await t.step("W and X together: -EINVAL", () => {
    expectUnchanged(b, "__pkvm_create_mappings", [free, 0x1000, pa, 0x7], 0n, err(ERRNO.EINVAL));
  });
  await t.step("no R: -EINVAL", () => {
    expectUnchanged(b, "__pkvm_create_mappings", [free, 0x1000, pa, 0x2], 0n, err(ERRNO.EINVAL));
  });
  await t.step("X with DEVICE: -EINVAL", () => {
    expectUnchanged(b, "__pkvm_create_mappings", [free, 0x1000, pa, 0xd], 0n, err(ERRNO.EINVAL));
  });
  await t.step("past 2^hyp_va_bits: -ERANGE", () => {
    expectUnchanged(
      b,
      "__pkvm_create_mappings",
      [2 ** 48 - 0x1000, 0x2000, pa, PAGE_HYP],
      0n,
      err(ERRNO.ERANGE),
    );
    expectUnchanged(
      b,
      "__pkvm_create_mappings",
      [2 ** 48 + 0x1000, 0x1000, pa, PAGE_HYP],
      0n,
      err(ERRNO.ERANGE),
    );
  });
  await t.step(
    "a size that wraps the u64 range maps nothing and returns 0 (no overflow check in v5.13)",
    () => {
      expectUnchanged(
        b,
        "__pkvm_create_mappings",
        [free, (1n << 64n) - 0x1000n, pa, PAGE_HYP],
        0n,
        0n,
      );
    },
  );
  await t.step("size 0 maps nothing and returns 0", () => {
    expectUnchanged(b, "__pkvm_create_mappings", [free, 0, pa, PAGE_HYP], 0n, 0n);
  });
  await t.step("a good request maps through the buddy and translates", () => {
    const hpool = hyp.pools.get("hpool")!;
    const before = hpool.stats().free;
    const r = b.pkvm.hypercall("__pkvm_create_mappings", [free, 0x3000, pa, PAGE_HYP_RO]);
    assertEquals([r.x0, r.x1], [0n, 0n]);
    assert(hpool.stats().free < before, "new table pages come from hpool");
    const t = b.m.get(MMU).translate(b.m.cpu(0), free + 0x2008, "read");
    assertEquals(t.kind === "ok" && [t.pa, t.writable, t.executable], [pa + 0x2008, false, false]);
    assertEquals(hpool.checkInvariants(), undefined);
  });
});

Deno.test("__pkvm_create_private_mapping (v5.13): -ENOMEM past __hyp_vmemmap, the VA leak on a map error", async (t) => {
  const b = booted("v5.13");
  const hyp = b.pkvm.host!.hyp!;
  const base = hyp.ioMapBase;
  assertEquals(base, 0x4000_0000_0000);
  assertEquals(hyp.hypVmemmap, 0x6000_0000_0000);
  await t.step("past __hyp_vmemmap: ERR_PTR(-ENOMEM), base unchanged", () => {
    expectUnchanged(
      b,
      "__pkvm_create_private_mapping",
      [0x8000_0000, hyp.hypVmemmap - base + 0x1000, PAGE_HYP],
      0n,
      err(ERRNO.ENOMEM),
    );
    assertEquals(hyp.ioMapBase, base);
  });
  await t.step("size 0: returns the current base, nothing allocated", () => {
    expectUnchanged(
      b,
      "__pkvm_create_private_mapping",
      [0x8000_0000, 0, PAGE_HYP],
      0n,
      BigInt(base),
    );
    assertEquals(hyp.ioMapBase, base);
  });
  await t.step(
    "W+X: ERR_PTR(-EINVAL); tables and pools unchanged, but the VA stays taken (kernel behaviour)",
    () => {
      const r = expectUnchanged(
        b,
        "__pkvm_create_private_mapping",
        [0x8000_0000, 0x1000, 0x7],
        0n,
        err(ERRNO.EINVAL),
      );
      assertEquals(hyp.ioMapBase, base + 0x1000);
      assert(r.record.note?.includes("__io_map_base stays advanced"));
    },
  );
  await t.step("success returns the address plus the page offset; the next one follows", () => {
    const a = b.pkvm.hypercall("__pkvm_create_private_mapping", [0x8000_0123, 0x1000, PAGE_HYP]);
    assertEquals(a.x1, BigInt(base + 0x1000 + 0x123));
    assertEquals(hyp.ioMapBase, base + 0x3000); // offset 0x123 + 0x1000 rounds up to two pages
    const c = b.pkvm.hypercall("__pkvm_create_private_mapping", [
      0x9000_0000,
      0x1000,
      PAGE_HYP_EXEC,
    ]);
    assertEquals(c.x1, BigInt(base + 0x3000));
    const tr = b.m.get(MMU).translate(b.m.cpu(0), base + 0x3010, "exec");
    assertEquals(tr.kind === "ok" && tr.pa, 0x9000_0010);
  });
});

Deno.test("__pkvm_create_private_mapping (mainline, before finalisation): ERR_PTR values in x1", () => {
  const b = bootMachine("mainline", { overrides: { pkvm: { afterBoot: false } } });
  assertEquals(b.pkvm.boot().ok, true);
  const hyp = b.pkvm.host!.hyp!;
  const base = hyp.ioMapBase;
  expectUnchanged(
    b,
    "__pkvm_create_private_mapping",
    [0x8000_0000, hyp.hypVmemmap - base + 0x1000, PAGE_HYP],
    0n,
    err(ERRNO.ENOMEM),
  );
  assertEquals(hyp.ioMapBase, base);
  expectUnchanged(
    b,
    "__pkvm_create_private_mapping",
    [0x8000_0000, 0x1000, 0x7],
    0n,
    err(ERRNO.EINVAL),
  );
  assertEquals(hyp.ioMapBase, base + 0x1000);
  const ok = b.pkvm.hypercall("__pkvm_create_private_mapping", [0x8000_0040, 0x10, PAGE_HYP]);
  assertEquals(ok.x1, BigInt(base + 0x1040));
});

Deno.test("the mainline gate: after finalisation the early hypercalls are NOT_SUPPORTED", () => {
  const b = booted("mainline");
  const hyp = b.pkvm.host!.hyp!;
  expectUnchanged(
    b,
    "__pkvm_create_private_mapping",
    [0x8000_0000, 0x1000, PAGE_HYP],
    NOT_SUPPORTED,
  );
  expectUnchanged(b, "__pkvm_cpu_set_vector", [0], NOT_SUPPORTED);
  assertEquals(hyp.protectedModeInitialized, true);
});

Deno.test("the state hash sees a successful mapping (the unchanged checks can fail)", () => {
  const b = booted("v5.13");
  const before = stateHash(b.m, b.pkvm);
  b.pkvm.hypercall("__pkvm_create_mappings", [0x1000_4000_0000, 0x1000, 0x8000_0000, PAGE_HYP]);
  assertNotEquals(stateHash(b.m, b.pkvm), before);
});

Deno.test("__pkvm_init: a second call, refused with no state change", async (t) => {
  await t.step("v5.13 has no gate: the simulator's guard answers -EPERM", () => {
    const b = booted("v5.13");
    const args = b.pkvm.host!.pkvmInitArgs();
    const r = expectUnchanged(b, "__pkvm_init", args, 0n, err(ERRNO.EPERM));
    assert(r.record.note?.startsWith("simulator guard"));
  });
  await t.step("mainline refuses it once pKVM is finalised: NOT_SUPPORTED", () => {
    const b = booted("mainline");
    expectUnchanged(b, "__pkvm_init", b.pkvm.host!.pkvmInitArgs(), NOT_SUPPORTED);
  });
});

Deno.test("__pkvm_init: unaligned, empty, nr_cpus 0 or beyond the machine, before the boot", async (t) => {
  for (const version of ["v5.13", "mainline"] as const) {
    const b = bootMachine(version);
    const args = b.pkvm.prepare()!;
    const [phys, size, , base, bits] = args as [bigint, bigint, bigint, bigint, bigint];
    await t.step(`${version}: unaligned phys or size: -EINVAL (PAGE_ALIGNED)`, () => {
      expectUnchanged(
        b,
        "__pkvm_init",
        [phys + 0x800n, size, 4, base, bits],
        0n,
        err(ERRNO.EINVAL),
      );
      expectUnchanged(b, "__pkvm_init", [phys, size - 1n, 4, base, bits], 0n, err(ERRNO.EINVAL));
    });
    await t.step(`${version}: size 0: -ENOMEM from divide_memory_pool`, () => {
      expectUnchanged(b, "__pkvm_init", [phys, 0, 4, base, bits], 0n, err(ERRNO.ENOMEM));
    });
    await t.step(`${version}: nr_cpus 0 or 5 on a 4-CPU machine: -EINVAL (guard)`, () => {
      expectUnchanged(b, "__pkvm_init", [phys, size, 0, base, bits], 0n, err(ERRNO.EINVAL));
      expectUnchanged(b, "__pkvm_init", [phys, size, 5, base, bits], 0n, err(ERRNO.EINVAL));
    });
    await t.step(`${version}: a pool outside RAM: -EINVAL (guard)`, () => {
      expectUnchanged(
        b,
        "__pkvm_init",
        [0x1_0000_0000_0000n, size, 4, base, bits],
        0n,
        err(ERRNO.EINVAL),
      );
    });
    await t.step(`${version}: then the real call boots`, () => {
      const r = b.pkvm.boot();
      assertEquals(r.ok, true, JSON.stringify(r.failure));
    });
  }
});

Deno.test("unknown and empty ids answer NOT_SUPPORTED with nothing changed", () => {
  for (const version of ["v5.13", "mainline"] as const) {
    const b = booted(version);
    expectUnchanged(b, 0xffff, [], NOT_SUPPORTED);
    expectUnchanged(b, 99, [1, 2, 3], NOT_SUPPORTED);
    // __kvm_hyp_init (0) is served by the idmap init vector only.
    expectUnchanged(b, 0, [0x1234], NOT_SUPPORTED);
    // A slot the kernel has but the simulator does not model (__kvm_vcpu_run / enable_ssbs).
    const r = expectUnchanged(b, version === "v5.13" ? 1 : 4, [], NOT_SUPPORTED);
    assertNotEquals(r.record.note, undefined);
  }
});

Deno.test("__pkvm_cpu_set_vector: a bad slot is -EINVAL with nothing changed; slot 1 stores __bp_harden_hyp_vecs", () => {
  const b = booted("v5.13");
  expectUnchanged(b, "__pkvm_cpu_set_vector", [4], 0n, err(ERRNO.EINVAL));
  expectUnchanged(b, "__pkvm_cpu_set_vector", [(1n << 64n) - 1n], 0n, err(ERRNO.EINVAL));
  const r = b.pkvm.hypercall("__pkvm_cpu_set_vector", [1], 2);
  assertEquals([r.x0, r.x1], [0n, 0n]);
  const host = b.pkvm.host!;
  const slot = host.percpuBase[2]! + host.image.percpuOffsets.kvm_hyp_vector!;
  assertEquals(b.m.memory.read64(slot), BigInt(host.hyp!.sym("__bp_harden_hyp_vecs")));
});

Deno.test("__pkvm_prot_finalize: mainline refuses a second call with -EPERM; __pkvm_mark_hyp outside memory is -EINVAL", () => {
  const main = booted("mainline");
  expectUnchanged(main, "__pkvm_prot_finalize", [], 0n, err(ERRNO.EPERM));
  const v = booted("v5.13");
  expectUnchanged(v, "__pkvm_mark_hyp", [0x1000, 0x2000], 0n, err(ERRNO.EINVAL));
  expectUnchanged(v, "__pkvm_mark_hyp", [0x4000_0000, 0x2_0000_0000], 0n, err(ERRNO.EINVAL));
  // The host stage-2 was loaded on every CPU.
  for (const cpu of v.m.cpus) assertEquals(cpu.sysreg("HCR_EL2") & 1n, 1n);
});

Deno.test("hypercall() rejects what the host could not issue", () => {
  const b = booted("v5.13");
  assertThrows(() => b.pkvm.hypercall("__pkvm_bogus", []), RangeError, "not a v5.13 hypercall");
  assertThrows(() => b.pkvm.hypercall(0x1_0000, []), RangeError, "0..0xffff");
  assertThrows(() => b.pkvm.hypercall(16, [1, 2, 3, 4, 5, 6]), RangeError, "five");
  assertThrows(() => b.pkvm.hypercall(16, [], 9), RangeError, "4 CPUs");
});
