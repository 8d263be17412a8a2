// Every hypercall's bad input returns the kernel's errno (or NOT_SUPPORTED)
// and leaves memory, tables and pools byte-for-byte unchanged.

import { assert, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import {
  type CpuModelName,
  ERRNO,
  hex,
  hvc,
  kvmPgtableProt,
  MMU,
  PAGE_HYP,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  PROT_NUMBERING_XNX,
} from "../../../core/mod.ts";
import { kernelPteProt } from "../../../plugins/kvm_pgtable/mod.ts";
import {
  asU64,
  SMCCC_RET_NOT_SUPPORTED,
  smcccFunctionId,
} from "../../../plugins/pkvm/hypercall_ids.ts";
import { initParamsOffset } from "../../../plugins/pkvm/init_params.ts";
import { release } from "../../../plugins/releases/mod.ts";
import { bootMachine, bootOk, stateHash } from "./_boot.ts";

const NOT_SUPPORTED = SMCCC_RET_NOT_SUPPORTED;
const err = (e: number) => asU64(e);

type Release = "v5.13" | "v6.1" | "v6.12" | "v7.2" | "mainline";
/** The releases with the handle_host_hcall gate and the per-CPU -EPERM (v5.16 on). */
const GATED = ["v6.1", "v6.12", "mainline"] as const;

function booted(name: Release = "v5.13", cpu?: CpuModelName) {
  const b = bootMachine(name, cpu === undefined ? {} : { cpu });
  const r = b.pkvm.boot();
  assertEquals(bootOk(r), true, JSON.stringify(r.failure));
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
  // neoverse-n1 has no Spectre-v3a: the private range starts empty (on the
  // default cortex-a57 it holds __bp_harden_hyp_vecs, mapped by the hyp and,
  // in v5.13, again by the host's kvm_init_vector_slots()).
  const b = booted("v5.13", "neoverse-n1");
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

Deno.test("__pkvm_create_private_mapping before __pkvm_init: the kernel's errno, no simulator guard", async (t) => {
  // __io_map_base and __hyp_vmemmap are still 0 (bss) before hyp_create_idmap.
  await t.step("v5.13: -ENOMEM for any size, -EINVAL for an empty one (NULL pgd)", () => {
    const b = bootMachine("v5.13");
    b.pkvm.prepare();
    for (const [phys, size] of [[0x8000_0000, 0x1000], [0x8000_0000, 1], [0x8000_0123, 0]]) {
      const r = expectUnchanged(
        b,
        "__pkvm_create_private_mapping",
        [phys!, size!, PAGE_HYP],
        0n,
        err(ERRNO.ENOMEM),
      );
      assertEquals(r.record.note, undefined);
    }
    // PAGE_ALIGN(0 + offset_in_page(0x80000000)) = 0: kvm_pgtable_hyp_map on the
    // zeroed pkvm_pgtable, whose walk fails on the NULL pgd.
    const r = expectUnchanged(
      b,
      "__pkvm_create_private_mapping",
      [0x8000_0000, 0, PAGE_HYP],
      0n,
      err(ERRNO.EINVAL),
    );
    assertEquals(r.record.note, undefined);
    assertEquals(b.pkvm.host!.hyp!.ioMapBase, 0);
    assertEquals(bootOk(b.pkvm.boot()), true);
  });
  // 6.1 pkvm_alloc_private_va_range(): `!addr` is -ENOMEM; 6.12 and 7.2
  // __pkvm_alloc_private_va_range(): `!start` is -EINVAL.
  for (
    const [version, errno, why] of [
      ["v6.1", ERRNO.ENOMEM, "pkvm_alloc_private_va_range: !addr"],
      ["v6.12", ERRNO.EINVAL, "__pkvm_alloc_private_va_range: !start"],
      ["mainline", ERRNO.EINVAL, "__pkvm_alloc_private_va_range: !start"],
    ] as const
  ) {
    await t.step(`${version}: ${errno === ERRNO.EINVAL ? "-EINVAL" : "-ENOMEM"} (${why})`, () => {
      const b = bootMachine(version);
      b.pkvm.prepare();
      const pageHyp = kvmPgtableProt(release(version).pgtable.prot).PAGE_HYP;
      const r = expectUnchanged(
        b,
        "__pkvm_create_private_mapping",
        [0x8000_0000, 0x1000, pageHyp],
        0n,
        err(errno),
      );
      assertEquals(r.record.note, undefined);
    });
  }
});

for (const version of GATED) {
  Deno.test(`__pkvm_create_private_mapping (${version}, before finalisation): ERR_PTR values in x1`, () => {
    const b = bootMachine(version, { overrides: { pkvm: { afterBoot: false } } });
    assertEquals(bootOk(b.pkvm.boot()), true);
    const hyp = b.pkvm.host!.hyp!;
    const base = hyp.ioMapBase;
    // The host passes its own enum kvm_pgtable_prot: PAGE_HYP = R|W, 0x6 in 6.1
    // and 6.12, 0xc in mainline (7.2).
    const { PAGE_HYP: pageHyp, R, W, X } = kvmPgtableProt(release(version).pgtable.prot);
    assertEquals(pageHyp, version === "mainline" ? 0xc : 0x6);
    expectUnchanged(
      b,
      "__pkvm_create_private_mapping",
      [0x8000_0000, hyp.hypVmemmap - base + 0x1000, pageHyp],
      0n,
      err(ERRNO.ENOMEM),
    );
    assertEquals(hyp.ioMapBase, base);
    expectUnchanged(
      b,
      "__pkvm_create_private_mapping",
      [0x8000_0000, 0x1000, R | W | X],
      0n,
      err(ERRNO.EINVAL),
    );
    assertEquals(hyp.ioMapBase, base + 0x1000);
    const ok = b.pkvm.hypercall("__pkvm_create_private_mapping", [0x8000_0040, 0x10, pageHyp]);
    assertEquals(ok.x1, BigInt(base + 0x1040));
  });
}

Deno.test("__pkvm_create_private_mapping (mainline): prot is mainline's enum kvm_pgtable_prot, not v5.13's", async (t) => {
  // Mainline renumbered enum kvm_pgtable_prot in v6.19 (2608563b466b, FEAT_XNX):
  // PX = 1, UX = 2, X = PX|UX, W = 4, R = 8, DEVICE = 16. Without hVHE,
  // hyp_set_prot_attr drops UX before its checks (80cbfd7174f3, v7.0), and
  // kvm_pgtable_hyp_pte_prot reads an executable leaf back as PX only.
  const b = bootMachine("mainline", { overrides: { pkvm: { afterBoot: false } } });
  assertEquals(bootOk(b.pkvm.boot()), true);
  const hyp = b.pkvm.host!.hyp!;
  const mmu = b.m.get(MMU);
  const cpu0 = b.m.cpu(0);
  const map = (pa: number, prot: number) => {
    const r = b.pkvm.hypercall("__pkvm_create_private_mapping", [pa, 0x1000, prot]);
    assertEquals(r.x0, 0n);
    return Number(r.x1);
  };
  const perms = (va: number) => {
    const tr = mmu.translate(cpu0, va, "read", { debug: true });
    if (tr.kind !== "ok") throw new Error(`${hex(va)}: ${tr.message}`);
    return [hex(tr.pa), tr.writable, tr.executable, tr.memType];
  };
  const reported = (va: number) =>
    b.pkvm.report().pgtable.mappings.find((m) => Number(m.va) === va)?.prot;

  await t.step("PAGE_HYP_EXEC is 0xb (R|PX|UX) and maps R-X", () => {
    assertEquals(kvmPgtableProt(PROT_NUMBERING_XNX).PAGE_HYP_EXEC, 0xb);
    const va = map(0x9000_0000, 0xb);
    assertEquals(perms(va + 0x10), ["0x90000010", false, true, "normal"]);
    assertEquals(mmu.translate(cpu0, va, "exec", { debug: true }).kind, "ok");
    assertEquals(mmu.translate(cpu0, va, "write", { debug: true }).kind, "fault");
    // The descriptor is the PAGE_HYP_EXEC page (0x7c3: AF, inner shareable, AP read-only,
    // no XN, MT_NORMAL, valid page), the same as v5.13's.
    const pte = hyp.pgt!.getLeaf(va).pte;
    assertEquals(pte, 0x9000_07c3n);
    assertEquals(reported(va), "PAGE_HYP_EXEC");
    // kvm_pgtable_hyp_pte_prot gives R|PX back, not PAGE_HYP_EXEC.
    assertEquals(kernelPteProt(pte, { version: "mainline" }), 0x9n);
  });

  await t.step("v5.13's PAGE_HYP_EXEC (0x5) is PX|W with no R: -EINVAL, nothing mapped", () => {
    const base = hyp.ioMapBase;
    const r = expectUnchanged(
      b,
      "__pkvm_create_private_mapping",
      [0x9000_1000, 0x1000, 0x5],
      0n,
      err(ERRNO.EINVAL),
    );
    // As in the kernel, the private VA range stays allocated after the map error.
    assertEquals(hyp.ioMapBase, base + 0x1000);
    assert(r.record.note?.includes("__io_map_base stays advanced"));
  });

  await t.step("v5.13's PAGE_HYP (0x6) and PAGE_HYP_RO (0x4) have no R either: -EINVAL", () => {
    for (const prot of [0x6, 0x4]) {
      expectUnchanged(
        b,
        "__pkvm_create_private_mapping",
        [0x9000_1000, 0x1000, prot],
        0n,
        err(ERRNO.EINVAL),
      );
    }
  });

  await t.step(
    "v5.13's PAGE_HYP_DEVICE (0xe) is R|W|UX: UX is dropped, a Normal RW mapping",
    () => {
      const va = map(0x9000_2000, 0xe);
      assertEquals(perms(va), ["0x90002000", true, false, "normal"]);
      assertEquals(reported(va), "PAGE_HYP");
    },
  );

  await t.step("R|UX (0xa) is read-only and XN: UX alone is not EL2 execute without hVHE", () => {
    const va = map(0x9000_3000, 0xa);
    assertEquals(perms(va), ["0x90003000", false, false, "normal"]);
    assertEquals(mmu.translate(cpu0, va, "exec", { debug: true }).kind, "fault");
    assertEquals(reported(va), "PAGE_HYP_RO");
  });

  await t.step("mainline's PAGE_HYP (0xc), PAGE_HYP_RO (0x8), PAGE_HYP_DEVICE (0x1c)", () => {
    assertEquals(perms(map(0x9000_4000, 0xc)), ["0x90004000", true, false, "normal"]);
    assertEquals(perms(map(0x9000_5000, 0x8)), ["0x90005000", false, false, "normal"]);
    const dev = map(0x9000_6000, 0x1c);
    assertEquals(perms(dev), ["0x90006000", true, false, "device"]);
    assertEquals(reported(dev), "PAGE_HYP_DEVICE");
  });

  await t.step("a mapping with no PAGE_HYP* name is reported in mainline's numbers", () => {
    // R|DEVICE: 0x18 in mainline (0xc would be v5.13's number for it).
    const va = map(0x9000_7000, 0x18);
    assertEquals(reported(va), "0x18");
  });
});

Deno.test("__pkvm_create_private_mapping (v5.13): the same numbers read in v5.13's enum", () => {
  const b = booted("v5.13");
  const mmu = b.m.get(MMU);
  // 0x5 is v5.13's PAGE_HYP_EXEC: R-X.
  const r = b.pkvm.hypercall("__pkvm_create_private_mapping", [0x9000_0000, 0x1000, 0x5]);
  const tr = mmu.translate(b.m.cpu(0), Number(r.x1), "read", { debug: true });
  assertEquals(tr.kind === "ok" && [tr.writable, tr.executable], [false, true]);
  // Mainline's PAGE_HYP_EXEC, 0xb, is X|W|DEVICE with no R in v5.13: -EINVAL.
  expectUnchanged(
    b,
    "__pkvm_create_private_mapping",
    [0x9000_1000, 0x1000, 0xb],
    0n,
    err(ERRNO.EINVAL),
  );
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
  for (const version of GATED) {
    await t.step(`${version} refuses it once pKVM is finalised: NOT_SUPPORTED`, () => {
      const b = booted(version);
      const r = expectUnchanged(b, "__pkvm_init", b.pkvm.host!.pkvmInitArgs(), NOT_SUPPORTED);
      assertEquals(r.record.note, "refused: pKVM is finalised (kvm_protected_mode_initialized)");
    });
  }
});

Deno.test("__pkvm_init: unaligned, empty, nr_cpus 0 or beyond the machine, before the boot", async (t) => {
  for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as const) {
    const b = bootMachine(version);
    const args = b.pkvm.prepare()!;
    // __pkvm_init(phys, size, nr_cpus, per_cpu_base, hyp_va_bits) until 6.x;
    // 7.2's handle___pkvm_init takes (phys, size, per_cpu_base, hyp_va_bits),
    // the host having set hyp_nr_cpus itself (kvm_hyp_init_symbols(), arm.c).
    const takesNrCpus = version !== "v7.2";
    assertEquals(args.length, takesNrCpus ? 5 : 4, version);
    const [phys, size] = args as [bigint, bigint];
    const rest = args.slice(takesNrCpus ? 3 : 2);
    const call = (p: bigint, s: bigint | number, nr = 4) =>
      takesNrCpus ? [p, s, nr, ...rest] : [p, s, ...rest];
    await t.step(`${version}: unaligned phys or size: -EINVAL (PAGE_ALIGNED)`, () => {
      expectUnchanged(b, "__pkvm_init", call(phys + 0x800n, size), 0n, err(ERRNO.EINVAL));
      expectUnchanged(b, "__pkvm_init", call(phys, size - 1n), 0n, err(ERRNO.EINVAL));
    });
    await t.step(`${version}: size 0: -ENOMEM from divide_memory_pool`, () => {
      expectUnchanged(b, "__pkvm_init", call(phys, 0), 0n, err(ERRNO.ENOMEM));
    });
    if (takesNrCpus) {
      await t.step(`${version}: nr_cpus 0 or 5 on a 4-CPU machine: -EINVAL (guard)`, () => {
        expectUnchanged(b, "__pkvm_init", call(phys, size, 0), 0n, err(ERRNO.EINVAL));
        expectUnchanged(b, "__pkvm_init", call(phys, size, 5), 0n, err(ERRNO.EINVAL));
      });
    }
    await t.step(`${version}: a pool outside RAM: -EINVAL (guard)`, () => {
      expectUnchanged(b, "__pkvm_init", call(0x1_0000_0000_0000n, size), 0n, err(ERRNO.EINVAL));
    });
    await t.step(`${version}: then the real call boots`, () => {
      const r = b.pkvm.boot();
      assertEquals(bootOk(r), true, JSON.stringify(r.failure));
    });
  }
});

Deno.test("unknown and empty ids answer NOT_SUPPORTED with nothing changed", () => {
  // __KVM_HOST_SMCCC_FUNC___kvm_vcpu_run in each kvm_asm.h: a slot the kernel
  // has (and no gate refuses after finalisation) but the simulator does not model.
  const vcpuRun = { "v5.13": 1, "v6.1": 12, "v6.12": 12, "v7.2": 9 };
  for (const [version, id] of Object.entries(vcpuRun)) {
    const b = booted(version as Release);
    expectUnchanged(b, 0xffff, [], NOT_SUPPORTED);
    const unknown = expectUnchanged(b, 99, [1, 2, 3], NOT_SUPPORTED);
    assertEquals(unknown.record.name, "unknown", version);
    // __kvm_hyp_init (0) is served by the idmap init vector only.
    expectUnchanged(b, 0, [0x1234], NOT_SUPPORTED);
    const r = expectUnchanged(b, id, [], NOT_SUPPORTED);
    assertEquals(r.record.name, "__kvm_vcpu_run", version);
    assertEquals(r.record.note, "the kernel has this hypercall; hyplab does not model it");
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

Deno.test("__pkvm_prot_finalize: 6.1 on refuse a second call with -EPERM; __pkvm_mark_hyp outside memory is -EINVAL", () => {
  // __pkvm_prot_finalize (mem_protect.c, v5.16 on): `params->hcr_el2 & HCR_VM` is -EPERM.
  for (const version of GATED) {
    expectUnchanged(booted(version), "__pkvm_prot_finalize", [], 0n, err(ERRNO.EPERM));
  }
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

Deno.test("__pkvm_cpu_set_vector before __pkvm_init works on the host-built tables, as in the kernel", () => {
  for (const version of ["v5.13", "v6.1", "v6.12", "mainline"] as const) {
    const b = bootMachine(version);
    b.pkvm.prepare();
    const host = b.pkvm.host!;
    const slot = (cpu: number) => host.percpuBase[cpu]! + host.image.percpuOffsets.kvm_hyp_vector!;
    const r = b.pkvm.hypercall("__pkvm_cpu_set_vector", [1]);
    assertEquals([r.x0, r.x1, r.record.note], [0n, 0n, undefined], version);
    assertEquals(b.m.memory.read64(slot(0)), BigInt(host.hyp!.sym("__bp_harden_hyp_vecs")));
    // Slot 2 before hyp_map_vectors: __hyp_bp_vect_base is still NULL.
    b.pkvm.hypercall("__pkvm_cpu_set_vector", [2]);
    assertEquals(b.m.memory.read64(slot(0)), 0x800n);
    expectUnchanged(b, "__pkvm_cpu_set_vector", [4], 0n, err(ERRNO.EINVAL));
    // CPU 1 is still on the hyp stub: not a stub call, HVC_STUB_ERR.
    const stub = b.pkvm.hypercall("__pkvm_cpu_set_vector", [0], 1);
    assertEquals(stub.x0, 0xbadca11n);
    assertEquals(bootOk(b.pkvm.boot()), true, version);
  }
});

Deno.test("__pkvm_prot_finalize before __pkvm_init: a guard with guards on, the kernel's zero stage-2 with guards off", async (t) => {
  for (const version of ["v5.13", "v6.1", "v6.12", "mainline"] as const) {
    await t.step(`${version}, guards on: -EPERM, nothing changed`, () => {
      const b = bootMachine(version);
      b.pkvm.prepare();
      const r = expectUnchanged(b, "__pkvm_prot_finalize", [], 0n, err(ERRNO.EPERM));
      assert(r.record.note?.startsWith("simulator guard"));
      assertEquals(b.m.cpu(0).sysreg("HCR_EL2") & 1n, 0n);
    });
    await t.step(`${version}, guards off: VTTBR 0, VTCR 0 and HCR_EL2.VM, x1 = 0`, () => {
      const b = bootMachine(version, { overrides: { pkvm: { guards: false } } });
      b.pkvm.prepare();
      const r = b.pkvm.hypercall("__pkvm_prot_finalize", []);
      assertEquals([r.x0, r.x1, r.record.note], [0n, 0n, undefined]);
      const cpu = b.m.cpu(0);
      assertEquals(cpu.sysreg("HCR_EL2") & 1n, 1n);
      assertEquals(cpu.sysreg("VTTBR_EL2"), 0n);
      // VTCR 0, read back with its RES1 bit 31.
      assertEquals(cpu.sysreg("VTCR_EL2"), 1n << 31n);
      const host = b.pkvm.host!;
      const params = host.percpuBase[0]! + host.image.percpuOffsets.kvm_init_params!;
      const at = (f: "vttbr" | "vtcr" | "hcr_el2") => params + initParamsOffset(version, f)!;
      assertEquals([b.m.memory.read64(at("vttbr")), b.m.memory.read64(at("vtcr"))], [0n, 0n]);
      assertEquals(b.m.memory.read64(at("hcr_el2")) & 1n, 1n);
      // From v5.16 the CPU's second call is refused, as after a real finalisation.
      const again = b.pkvm.hypercall("__pkvm_prot_finalize", []);
      assertEquals(again.x1, version === "v5.13" ? 0n : err(ERRNO.EPERM));
    });
  }
});

Deno.test("mainline: every __KVM_HOST_SMCCC_FUNC_* id is known; unmodelled ones say so", () => {
  const b = booted("mainline");
  // 7.2 kvm_asm.h: __kvm_vcpu_run = 9, __pkvm_host_share_guest = 32, and the
  // last, __pkvm_tlb_flush_vmid = 49 (__KVM_HOST_SMCCC_FUNC_MAX = 50).
  const named = [[9, "__kvm_vcpu_run"], [32, "__pkvm_host_share_guest"], [
    49,
    "__pkvm_tlb_flush_vmid",
  ]] as const;
  for (const [id, name] of named) {
    const r = expectUnchanged(b, id, [], NOT_SUPPORTED);
    assertEquals(r.record.name, name);
    assertEquals(r.record.note, "the kernel has this hypercall; hyplab does not model it");
  }
  // Past the end of host_hcall[]: unknown, no note.
  const past = expectUnchanged(b, 50, [], NOT_SUPPORTED);
  assertEquals([past.record.name, past.record.note], ["unknown", undefined]);
});

Deno.test("mainline: before finalisation, the pKVM-only ids are refused (__KVM_HOST_SMCCC_FUNC_PKVM_ONLY)", () => {
  // 7.2 handle_host_hcall(): until kvm_protected_mode_initialized, hcall_max is
  // __KVM_HOST_SMCCC_FUNC_PKVM_ONLY (29, __pkvm_host_share_hyp's number).
  const b = bootMachine("mainline", { overrides: { pkvm: { afterBoot: false } } });
  assertEquals(bootOk(b.pkvm.boot()), true);
  for (
    const [id, name] of [[29, "__pkvm_host_share_hyp"], [49, "__pkvm_tlb_flush_vmid"]] as const
  ) {
    const r = expectUnchanged(b, id, [], NOT_SUPPORTED);
    assertEquals([r.record.name, r.record.note], [
      name,
      "refused: a pKVM-only hypercall before pKVM is finalised",
    ]);
  }
  // The id below it is an ordinary unmodelled one.
  const r = expectUnchanged(b, 28, [], NOT_SUPPORTED);
  assertEquals([r.record.name, r.record.note], [
    "__vgic_v5_restore_vmcr_apr",
    "the kernel has this hypercall; hyplab does not model it",
  ]);
});

/** `hvc #0` from EL1 with a raw x0, as a host passing SMCCC hint bits would. */
function rawHvc(b: ReturnType<typeof booted>, x0: bigint): [bigint, bigint] {
  const cpu = b.m.cpu(0);
  cpu.setX(0, x0);
  cpu.setX(1, 0n);
  hvc(cpu, 0, b.m.vectors, b.m.trace);
  return [cpu.x(0), cpu.x(1)];
}

Deno.test("handle_host_hcall: 6.12 and mainline clear the SMCCC hint bit (bit 16) before decoding; v5.13 and 6.1 do not", () => {
  // `id &= ~ARM_SMCCC_CALL_HINTS` is in 6.12's and 7.2's nvhe/hyp-main.c, not
  // in 6.1's. __pkvm_prot_finalize is 19 (v5.13), 8 (6.1, 6.12), 7 (7.2).
  for (const version of ["v6.12", "mainline"] as const) {
    const b = booted(version);
    const id = version === "mainline" ? 7 : 8;
    // Decoded as __pkvm_prot_finalize: a second call on CPU 0, -EPERM.
    assertEquals(rawHvc(b, smcccFunctionId(id) | (1n << 16n)), [0n, err(ERRNO.EPERM)], version);
  }
  // Without the masking, 0x10000 + id is past host_hcall[].
  for (const [version, id] of [["v5.13", 19], ["v6.1", 8]] as const) {
    const v = booted(version);
    assertEquals(rawHvc(v, smcccFunctionId(id) | (1n << 16n))[0], NOT_SUPPORTED, version);
    const plain = rawHvc(v, smcccFunctionId(id));
    assertEquals(plain, [0n, version === "v5.13" ? 0n : err(ERRNO.EPERM)], version);
  }
});
