import { assertEquals, assertThrows } from "@std/assert";
import {
  ERRNO,
  KernelErrnoError,
  KVM_PGTABLE_PROT,
  kvmPgtableProt,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  PROT_NUMBERING_XNX,
} from "../../../core/mod.ts";
import {
  decodeHypPte,
  encodeHypLeaf,
  encodeHypTable,
  hypProtAttr,
  hypProtProblem,
  hypPteProt,
  kernelPteProt,
  KVM_PGTABLE_PROT_SW,
  KVM_PTE,
  mtDeviceNGnRE,
  protName,
} from "../../../plugins/kvm_pgtable/mod.ts";

/**
 * Page-level descriptors (PA 0) per version, as kvm_pgtable_hyp_map writes
 * them (hyp/pgtable.c): AF, SH = inner shareable, AP, XN on every
 * non-executable mapping, AttrIndx MT_NORMAL or MT_DEVICE_nGnRE, bit 1 set
 * for a level-3 page.
 */
const PAGE_VECTORS: Record<string, [number, bigint][]> = {
  "v5.13": [
    [PAGE_HYP, 0x0040_0000_0000_0743n],
    [PAGE_HYP_EXEC, 0x0000_0000_0000_07c3n],
    [PAGE_HYP_RO, 0x0040_0000_0000_07c3n],
    [PAGE_HYP_DEVICE, 0x0040_0000_0000_0757n],
  ],
  mainline: [
    [PAGE_HYP, 0x0040_0000_0000_0743n],
    [PAGE_HYP_EXEC, 0x0000_0000_0000_07c3n],
    [PAGE_HYP_RO, 0x0040_0000_0000_07c3n],
    [PAGE_HYP_DEVICE, 0x0040_0000_0000_0753n],
  ],
};

const LEVEL_PA: [number, number][] = [[1, 0x1_4000_0000], [2, 0x8060_0000], [3, 0xfedc_b000]];

Deno.test("encodeHypLeaf() matches the kernel's descriptors for every prot, level and version", async (t) => {
  for (const version of ["v5.13", "mainline"] as const) {
    for (const [prot, page] of PAGE_VECTORS[version]!) {
      await t.step(`${version} ${protName(prot)}`, () => {
        assertEquals(encodeHypLeaf(0, prot, 3, { version }), page);
        // A block is the same value with bit 1 clear, at both block levels.
        assertEquals(encodeHypLeaf(0, prot, 2, { version }), page & ~2n);
        assertEquals(encodeHypLeaf(0, prot, 1, { version }), page & ~2n);
        for (const [level, pa] of LEVEL_PA) {
          const expected = (level === 3 ? page : page & ~2n) | BigInt(pa);
          assertEquals(encodeHypLeaf(pa, prot, level, { version }), expected);
          const d = decodeHypPte(expected, level, { version });
          assertEquals(d.type, level === 3 ? "page" : "block");
          assertEquals(d.oa, pa);
          assertEquals(d.prot, prot);
          assertEquals(hypPteProt(expected, { version }), prot);
        }
      });
    }
  }
});

Deno.test("decodeHypPte() splits every field of PAGE_HYP_DEVICE", () => {
  const d = decodeHypPte(0x0040_0000_8000_0757n, 3);
  assertEquals(d, {
    valid: true,
    type: "page",
    oa: 0x8000_0000,
    attrIndx: 5,
    ap: 1,
    sh: 3,
    af: true,
    gp: false,
    xn: true,
    pxn: false,
    sw: 0,
    prot: PAGE_HYP_DEVICE,
  });
  assertEquals(decodeHypPte(0x0040_0000_8000_0753n, 3, { version: "mainline" }).attrIndx, 4);
});

Deno.test("mtDeviceNGnRE() is 5 in v5.13 and 4 in mainline", () => {
  assertEquals(mtDeviceNGnRE("v5.13"), 5);
  assertEquals(mtDeviceNGnRE("mainline"), 4);
  // A v5.13 device PTE read with mainline eyes is not device memory.
  assertEquals(hypPteProt(0x0040_0000_0000_0757n, { version: "mainline" }), PAGE_HYP);
});

Deno.test("encodeHypLeaf() outputs bits 47:12 of the PA", () => {
  const pa = 0xffff_ffff_f000;
  assertEquals(encodeHypLeaf(pa, PAGE_HYP, 3), 0x0040_ffff_ffff_f743n);
  assertEquals(decodeHypPte(0x0040_ffff_ffff_f743n, 3).oa, pa);
  assertEquals(KVM_PTE.ADDR_MASK & 0x0040_ffff_ffff_f743n, BigInt(pa));
});

Deno.test("encodeHypTable() is PA | 0b11 and decodes as a table above level 3", () => {
  const pte = encodeHypTable(0x4000_5000);
  assertEquals(pte, 0x4000_5003n);
  for (const level of [0, 1, 2]) {
    assertEquals(decodeHypPte(pte, level).type, "table");
    assertEquals(decodeHypPte(pte, level).oa, 0x4000_5000);
    assertEquals(decodeHypPte(pte, level).prot, 0);
  }
  // At level 3 the same bits are a page.
  assertEquals(decodeHypPte(pte, 3).type, "page");
  assertThrows(() => encodeHypTable(0x4000_5008), RangeError, "page-aligned");
});

Deno.test("decodeHypPte() names invalid and reserved encodings", () => {
  assertEquals(decodeHypPte(0n, 2).type, "invalid");
  assertEquals(decodeHypPte(0x0040_0000_0000_0741n, 0).type, "reserved");
  assertEquals(decodeHypPte(0x0040_0000_0000_0741n, 3).type, "reserved");
  // An invalid entry's prot is its software bits only (kvm_pgtable_hyp_pte_prot).
  assertEquals(decodeHypPte(1n << 56n, 3).prot, KVM_PGTABLE_PROT_SW.SW1);
  assertEquals(decodeHypPte(1n << 56n, 3).sw, 2);
});

Deno.test("hypProtAttr() rejects no R, W with X, X with DEVICE with -EINVAL", async (t) => {
  const P = KVM_PGTABLE_PROT;
  const cases: [number, string][] = [
    [0, "no R"],
    [P.W, "no R"],
    [P.X, "no R"],
    [P.W | P.X, "no R"],
    [P.DEVICE | P.W, "no R"],
    [P.R | P.W | P.X, "W and X together"],
    [P.R | P.X | P.DEVICE, "X with DEVICE"],
    [P.R | P.W | P.X | P.DEVICE, "W and X together"],
    // Ignored bits do not rescue a rejected prot.
    [P.W | 0x10, "no R"],
    [P.R | P.W | P.X | 0x10, "W and X together"],
    [P.R | P.X | P.DEVICE | 0x10, "X with DEVICE"],
  ];
  for (const version of ["v5.13", "mainline"] as const) {
    for (const [prot, rule] of cases) {
      await t.step(`${version} prot 0x${prot.toString(16)}`, () => {
        const e = assertThrows(() => hypProtAttr(prot, { version }), KernelErrnoError, rule);
        assertEquals(e.errno, ERRNO.EINVAL);
        assertEquals(e.fn, "hyp_set_prot_attr");
        assertThrows(() => encodeHypLeaf(0, prot, 3, { version }), KernelErrnoError, rule);
        assertEquals(hypProtProblem(prot, { version }), rule);
      });
    }
  }
});

Deno.test("hypProtAttr() gives every valid prot's attributes", () => {
  assertEquals(hypProtAttr(PAGE_HYP), 0x0040_0000_0000_0740n);
  assertEquals(hypProtAttr(PAGE_HYP_EXEC), 0x7c0n);
  assertEquals(hypProtAttr(PAGE_HYP_RO), 0x0040_0000_0000_07c0n);
  assertEquals(hypProtAttr(PAGE_HYP_DEVICE), 0x0040_0000_0000_0754n);
  // R|DEVICE (read-only device) is accepted.
  assertEquals(hypProtAttr(KVM_PGTABLE_PROT.R | KVM_PGTABLE_PROT.DEVICE), 0x0040_0000_0000_07d4n);
  assertThrows(() => hypProtAttr(-1), TypeError);
  assertThrows(() => hypProtAttr(1.5), TypeError);
});

Deno.test("hypProtAttr() ignores the bits hyp_set_prot_attr does not read, in every release", () => {
  // Every release reads R, W, X, DEVICE of hyplab's prot (6.1 on also copy
  // SW0..3) and ignores the rest: bit 4 is NORMAL_NC (6.9 on), a stage-2
  // attribute; bits 5 and 30 are unnamed.
  const P = KVM_PGTABLE_PROT;
  for (const version of ["v5.13", "v6.1", "v6.12", "v7.2", "mainline"] as const) {
    for (const extra of [0x10, 0x20, 1 << 30, 2 ** 40]) {
      for (const prot of [PAGE_HYP, PAGE_HYP_RO, PAGE_HYP_EXEC, PAGE_HYP_DEVICE]) {
        const what = `${version} prot 0x${prot.toString(16)} | 0x${extra.toString(16)}`;
        assertEquals(hypProtProblem(prot + extra, { version }), undefined, what);
        assertEquals(hypProtAttr(prot + extra, { version }), hypProtAttr(prot, { version }), what);
        assertEquals(
          encodeHypLeaf(0x1000, prot + extra, 3, { version }),
          encodeHypLeaf(0x1000, prot, 3, { version }),
          what,
        );
      }
    }
    // R|bit 4 maps read-only and execute-never, like PAGE_HYP_RO.
    assertEquals(hypPteProt(encodeHypLeaf(0, P.R | 0x10, 3, { version }), { version }), P.R);
  }
});

Deno.test("software prot bits land in 58:55 in mainline and are ignored in v5.13", () => {
  const sw = KVM_PGTABLE_PROT_SW;
  const all = sw.SW0 | sw.SW1 | sw.SW2 | sw.SW3;
  assertEquals(
    encodeHypLeaf(0x1000, PAGE_HYP | all, 3, { version: "mainline" }),
    0x07c0_0000_0000_1743n,
  );
  assertEquals(KVM_PTE.LEAF_ATTR_HI_SW, 0x0780_0000_0000_0000n);
  assertEquals(hypPteProt(0x07c0_0000_0000_1743n, { version: "mainline" }), PAGE_HYP | all);
  assertEquals(decodeHypPte(0x07c0_0000_0000_1743n, 3).sw, 0xf);
  // v5.13's enum has no software bits and its hyp_set_prot_attr copies none.
  assertEquals(
    hypProtAttr(PAGE_HYP | all, { version: "v5.13" }),
    hypProtAttr(PAGE_HYP, { version: "v5.13" }),
  );
  assertEquals(encodeHypLeaf(0x1000, PAGE_HYP | all, 3), 0x0040_0000_0000_1743n);
});

Deno.test("BTI sets GP on executable leaves in mainline only", () => {
  assertEquals(
    encodeHypLeaf(0, PAGE_HYP_EXEC, 3, { version: "mainline", bti: true }),
    0x0004_0000_0000_07c3n,
  );
  assertEquals(
    encodeHypLeaf(0, PAGE_HYP, 3, { version: "mainline", bti: true }),
    0x0040_0000_0000_0743n,
  );
  assertEquals(encodeHypLeaf(0, PAGE_HYP_EXEC, 3, { version: "v5.13", bti: true }), 0x7c3n);
  assertEquals(decodeHypPte(0x0004_0000_0000_07c3n, 3).gp, true);
});

Deno.test("encodeHypLeaf() rejects level 0, misaligned and too-high PAs", () => {
  assertThrows(() => encodeHypLeaf(0, PAGE_HYP, 0), RangeError, "level 0");
  assertThrows(() => encodeHypLeaf(0x1000, PAGE_HYP, 2), RangeError, "2097152-byte aligned");
  assertThrows(() => encodeHypLeaf(2 ** 48, PAGE_HYP, 3), RangeError, "below 2^48");
});

Deno.test("protName() names kernel macros and flag sets", () => {
  assertEquals(protName(PAGE_HYP), "PAGE_HYP");
  assertEquals(protName(PAGE_HYP_EXEC), "PAGE_HYP_EXEC");
  assertEquals(protName(PAGE_HYP_RO), "PAGE_HYP_RO");
  assertEquals(protName(PAGE_HYP_DEVICE), "PAGE_HYP_DEVICE");
  assertEquals(protName(KVM_PGTABLE_PROT.R | KVM_PGTABLE_PROT.DEVICE), "R|DEVICE");
  assertEquals(protName(PAGE_HYP | KVM_PGTABLE_PROT_SW.SW3), "PAGE_HYP|SW3");
  assertEquals(protName(0), "0");
});

Deno.test("kernelPteProt() is kvm_pgtable_hyp_pte_prot in each kernel's enum: mainline reads PX back", async (t) => {
  // The descriptors are the same per prot name in both versions;
  // only the numbers the kernel's decoder returns differ. Mainline (enum of
  // 2608563b466b, v6.19; decoder of 80cbfd7174f3, v7.0) sets PX alone for an
  // executable leaf without hVHE, and never DEVICE.
  const cases: [string, number, bigint, bigint][] = [
    ["PAGE_HYP", PAGE_HYP, 0x6n, 0xcn],
    ["PAGE_HYP_EXEC", PAGE_HYP_EXEC, 0x5n, 0x9n],
    ["PAGE_HYP_RO", PAGE_HYP_RO, 0x4n, 0x8n],
    ["PAGE_HYP_DEVICE", PAGE_HYP_DEVICE, 0x6n, 0xcn],
  ];
  for (const [name, prot, v513, main] of cases) {
    await t.step(name, () => {
      for (const level of [1, 2, 3]) {
        const pa = LEVEL_PA[level - 1]![1];
        assertEquals(
          kernelPteProt(encodeHypLeaf(pa, prot, level, { version: "v5.13" })),
          v513,
        );
        assertEquals(
          kernelPteProt(encodeHypLeaf(pa, prot, level, { version: "mainline" }), {
            version: "mainline",
          }),
          main,
        );
      }
    });
  }
  await t.step("software bits stay at 58:55, valid or not", () => {
    const sw = KVM_PGTABLE_PROT_SW.SW0 | KVM_PGTABLE_PROT_SW.SW3;
    const pte = encodeHypLeaf(0x1000, PAGE_HYP_RO | sw, 3, { version: "mainline" });
    assertEquals(kernelPteProt(pte, { version: "mainline" }), 0x0480_0000_0000_0008n);
    assertEquals(kernelPteProt(pte & ~1n, { version: "mainline" }), 0x0480_0000_0000_0000n);
    assertEquals(kernelPteProt(0n, { version: "mainline" }), 0n);
    assertEquals(kernelPteProt(pte & ~1n), 0n);
  });
  await t.step("what the kernel reads back is not always what was mapped", () => {
    // R|PX (0x9) is not mainline's PAGE_HYP_EXEC (0xb = R|PX|UX).
    assertEquals(
      kernelPteProt(encodeHypLeaf(0, PAGE_HYP_EXEC, 3, { version: "mainline" }), {
        version: "mainline",
      }) === BigInt(kvmPgtableProt(PROT_NUMBERING_XNX).PAGE_HYP_EXEC),
      false,
    );
  });
});
