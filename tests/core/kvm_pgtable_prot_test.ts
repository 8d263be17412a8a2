// The prot numbers of each kernel's enum kvm_pgtable_prot
// (core/capabilities/kvm_pgtable.ts): v5.13's, which is also hyplab's own
// numbering, and mainline's since 2608563b466b (v6.19).

import { assertEquals, assertThrows } from "@std/assert";
import {
  KVM_PGTABLE_PROT,
  KVM_PGTABLE_PROT_MAINLINE,
  kvmPgtableProt,
  type KvmPgtableVersion,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  toKernelProt,
} from "../../core/mod.ts";

Deno.test("kvmPgtableProt(): v5.13 is hyplab's numbering, mainline the FEAT_XNX enum", async (t) => {
  await t.step("v5.13: X = 1, W = 2, R = 4, DEVICE = 8", () => {
    assertEquals({ ...kvmPgtableProt("v5.13") }, {
      ...KVM_PGTABLE_PROT,
      PAGE_HYP,
      PAGE_HYP_EXEC,
      PAGE_HYP_RO,
      PAGE_HYP_DEVICE,
    });
    assertEquals([PAGE_HYP, PAGE_HYP_EXEC, PAGE_HYP_RO, PAGE_HYP_DEVICE], [0x6, 0x5, 0x4, 0xe]);
  });
  await t.step("mainline: PX = 1, UX = 2, X = PX|UX, W = 4, R = 8, DEVICE = 16", () => {
    assertEquals({ ...kvmPgtableProt("mainline") }, {
      X: 0x3,
      W: 0x4,
      R: 0x8,
      DEVICE: 0x10,
      PAGE_HYP: 0xc,
      PAGE_HYP_EXEC: 0xb,
      PAGE_HYP_RO: 0x8,
      PAGE_HYP_DEVICE: 0x1c,
    });
    const M = KVM_PGTABLE_PROT_MAINLINE;
    assertEquals([M.PX, M.UX, M.X, M.NORMAL_NC], [1, 2, 3, 0x20]);
  });
  await t.step("the tables cannot be changed by a caller", () => {
    const enc = kvmPgtableProt("mainline") as { PAGE_HYP: number };
    assertThrows(() => {
      enc.PAGE_HYP = 0x6;
    }, TypeError);
    assertEquals(kvmPgtableProt("mainline").PAGE_HYP, 0xc);
  });
  await t.step("an unknown version is refused", () => {
    assertThrows(
      () => kvmPgtableProt("v6.1" as KvmPgtableVersion),
      RangeError,
      "kernel version v6.1",
    );
  });
});

Deno.test("toKernelProt(): every flag combination lands on the version's bits", () => {
  const { X, W, R, DEVICE } = KVM_PGTABLE_PROT;
  for (let prot = 0; prot < 16; prot++) {
    assertEquals(toKernelProt(prot, "v5.13"), BigInt(prot), `v5.13 0x${prot.toString(16)}`);
    const expected = (prot & X ? 0x3 : 0) | (prot & W ? 0x4 : 0) | (prot & R ? 0x8 : 0) |
      (prot & DEVICE ? 0x10 : 0);
    assertEquals(
      toKernelProt(prot, "mainline"),
      BigInt(expected),
      `mainline 0x${prot.toString(16)}`,
    );
  }
  // SW0..3 (hyplab bits 23..26) go to the kernel's bits 55..58.
  for (let i = 0; i < 4; i++) {
    assertEquals(
      toKernelProt(PAGE_HYP_RO | (1 << (23 + i)), "mainline"),
      0x8n | (1n << BigInt(55 + i)),
    );
  }
});

Deno.test("toKernelProt(): bits the version cannot express are refused", () => {
  for (const bad of [0x10, 0x100, 1 << 22, 1 << 27, 2 ** 40, -1, 0.5, Number.NaN]) {
    for (const version of ["v5.13", "mainline"] as const) {
      assertThrows(() => toKernelProt(bad, version), RangeError, "Cannot encode prot");
    }
  }
  // v5.13 has no software bits.
  assertThrows(() => toKernelProt(PAGE_HYP | (1 << 23), "v5.13"), RangeError, "for v5.13");
  // 2^32 + PAGE_HYP would pass a 32-bit mask check.
  assertThrows(() => toKernelProt(2 ** 32 + PAGE_HYP, "mainline"), RangeError);
});
