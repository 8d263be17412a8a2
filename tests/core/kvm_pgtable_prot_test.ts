// The prot numbers of each kernel's enum kvm_pgtable_prot
// (core/capabilities/kvm_pgtable.ts): the classic numbering (v5.10 to v6.18),
// which is also hyplab's own, and the FEAT_XNX one since 2608563b466b (v6.19).

import { assertEquals, assertThrows } from "@std/assert";
import {
  KVM_PGTABLE_PROT,
  KVM_PGTABLE_PROT_MAINLINE,
  kvmPgtableProt,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  PROT_NUMBERING_CLASSIC,
  PROT_NUMBERING_XNX,
  toKernelProt,
} from "../../core/mod.ts";
import { release } from "../../plugins/releases/mod.ts";

Deno.test("kvmPgtableProt(): the classic numbering is hyplab's, the FEAT_XNX one moves every bit", async (t) => {
  await t.step("classic: X = 1, W = 2, R = 4, DEVICE = 8", () => {
    assertEquals({ ...kvmPgtableProt(PROT_NUMBERING_CLASSIC) }, {
      ...KVM_PGTABLE_PROT,
      PAGE_HYP,
      PAGE_HYP_EXEC,
      PAGE_HYP_RO,
      PAGE_HYP_DEVICE,
    });
    assertEquals([PAGE_HYP, PAGE_HYP_EXEC, PAGE_HYP_RO, PAGE_HYP_DEVICE], [0x6, 0x5, 0x4, 0xe]);
  });
  await t.step("XNX: PX = 1, UX = 2, X = PX|UX, W = 4, R = 8, DEVICE = 16", () => {
    assertEquals({ ...kvmPgtableProt(PROT_NUMBERING_XNX) }, {
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
  await t.step("each release uses the numbering of its own asm/kvm_pgtable.h", () => {
    assertEquals(release("v5.13").pgtable.prot, PROT_NUMBERING_CLASSIC);
    assertEquals(release("v6.1").pgtable.prot, PROT_NUMBERING_CLASSIC);
    assertEquals(release("v6.12").pgtable.prot, PROT_NUMBERING_CLASSIC);
    assertEquals(release("v7.2").pgtable.prot, PROT_NUMBERING_XNX);
  });
  await t.step("the tables cannot be changed by a caller", () => {
    const enc = kvmPgtableProt(PROT_NUMBERING_XNX) as { PAGE_HYP: number };
    assertThrows(() => {
      enc.PAGE_HYP = 0x6;
    }, TypeError);
    assertThrows(() => {
      (PROT_NUMBERING_XNX as { X: number }).X = 1;
    }, TypeError);
    assertEquals(kvmPgtableProt(PROT_NUMBERING_XNX).PAGE_HYP, 0xc);
  });
});

Deno.test("toKernelProt(): every flag combination lands on the numbering's bits", () => {
  const { X, W, R, DEVICE } = KVM_PGTABLE_PROT;
  for (let prot = 0; prot < 16; prot++) {
    assertEquals(
      toKernelProt(prot, PROT_NUMBERING_CLASSIC),
      BigInt(prot),
      `classic 0x${prot.toString(16)}`,
    );
    const expected = (prot & X ? 0x3 : 0) | (prot & W ? 0x4 : 0) | (prot & R ? 0x8 : 0) |
      (prot & DEVICE ? 0x10 : 0);
    assertEquals(
      toKernelProt(prot, PROT_NUMBERING_XNX, true),
      BigInt(expected),
      `XNX 0x${prot.toString(16)}`,
    );
  }
  // SW0..3 (hyplab bits 23..26) go to the kernel's bits 55..58.
  for (let i = 0; i < 4; i++) {
    assertEquals(
      toKernelProt(PAGE_HYP_RO | (1 << (23 + i)), PROT_NUMBERING_XNX, true),
      0x8n | (1n << BigInt(55 + i)),
    );
    assertEquals(
      toKernelProt(PAGE_HYP_RO | (1 << (23 + i)), PROT_NUMBERING_CLASSIC, true),
      0x4n | (1n << BigInt(55 + i)),
    );
  }
});

Deno.test("toKernelProt(): bits the release cannot express are refused", () => {
  for (const bad of [0x10, 0x100, 1 << 22, 1 << 27, 2 ** 40, -1, 0.5, Number.NaN]) {
    for (const n of [PROT_NUMBERING_CLASSIC, PROT_NUMBERING_XNX]) {
      assertThrows(() => toKernelProt(bad, n, true), RangeError, "Cannot encode prot");
    }
  }
  // v5.13 has no software bits.
  assertThrows(
    () => toKernelProt(PAGE_HYP | (1 << 23), PROT_NUMBERING_CLASSIC, false),
    RangeError,
    "without software bits",
  );
  // 2^32 + PAGE_HYP would pass a 32-bit mask check.
  assertThrows(() => toKernelProt(2 ** 32 + PAGE_HYP, PROT_NUMBERING_XNX, true), RangeError);
});
