import { assertEquals, assertThrows } from "@std/assert";
import { computeHypVaLayout } from "../../../plugins/pkvm/hyp_va_layout.ts";
import { getOrder, layoutKernelImage } from "../../../plugins/pkvm/kernel_image.ts";
import { initParamsOffset, initParamsSize } from "../../../plugins/pkvm/init_params.ts";
import {
  hypercallIds,
  hypercallName,
  smcccFunctionId,
} from "../../../plugins/pkvm/hypercall_ids.ts";
import { HostPages } from "../../../plugins/pkvm/host_pages.ts";
import { mapletsMinus, mergeMappings } from "../../../plugins/pkvm/verify.ts";

const RAM = [{ base: 0x4000_0000, size: 2 ** 32 }];

Deno.test("layoutKernelImage() orders the hyp sections as vmlinux.lds.S does", () => {
  for (const version of ["v5.13", "v6.1", "v6.12", "v7.2"] as const) {
    const img = layoutKernelImage(RAM, version);
    const s = img.symbols;
    assertEquals(s.__hyp_idmap_text_start! % 4096, 0);
    assertEquals(s.__hyp_idmap_text_end, s.__hyp_text_start); // HYPERVISOR_TEXT
    assertEquals(s.__kvm_hyp_host_vector! % 0x800, 0);
    assertEquals(s.__end_rodata, s.__hyp_rodata_start);
    assertEquals(s.__hyp_bss_start, s.__bss_start); // .hyp.bss first in .bss
    assertEquals(s.__hyp_bss_end! % 4096, 0);
    // The switch sequence's code lives in the idmap page.
    const sw = s.__pkvm_init_switch_pgd!;
    assertEquals(Math.floor(sw / 4096), Math.floor(s.__hyp_idmap_text_start! / 4096));
    assertEquals(sw + img.switchSlotBytes, s.__hyp_idmap_text_end);
    // kvm_arm_hyp_percpu_base[]: v5.13 and 6.1 define it in arm.c, in the
    // kernel .bss after .hyp.bss; 6.12 and 7.2 in nvhe/hyp-smp.c as
    // __ro_after_init, which the nVHE link puts in .hyp.rodata (System.map).
    const arr = s.kvm_arm_hyp_percpu_base!;
    if (version === "v5.13" || version === "v6.1") {
      assertEquals(arr >= s.__hyp_bss_end! && arr < s.__bss_stop!, true, version);
    } else {
      assertEquals(arr >= s.__hyp_rodata_start! && arr < s.__hyp_rodata_end!, true, version);
    }
  }
});

Deno.test("layoutKernelImage() rejects an idmap over a page, a misaligned base, an image outside RAM", () => {
  assertThrows(
    () => layoutKernelImage(RAM, "v5.13", { hypIdmapTextSize: 0x1001 }),
    RangeError,
    "one 4 KiB page",
  );
  assertThrows(
    () => layoutKernelImage(RAM, "v5.13", { base: 0x4020_1000 }),
    RangeError,
    "64 KiB aligned",
  );
  assertThrows(
    () => layoutKernelImage([{ base: 0x4000_0000, size: 0x40_0000 }], "v5.13"),
    RangeError,
    "RAM bank [0x40000000, 0x40400000) (4 MiB) cannot hold the kernel image [0x40200000,",
  );
  // A load address no bank holds.
  assertThrows(
    () => layoutKernelImage(RAM, "v5.13", { base: 0x10_0000_0000 }),
    RangeError,
    "no RAM bank holds its load address 0x1000000000",
  );
  // Banks that touch hold an image across their boundary (memblock merges them).
  layoutKernelImage(
    [{ base: 0x4000_0000, size: 0x40_0000 }, { base: 0x4040_0000, size: 0x4000_0000 }],
    "v5.13",
  );
  assertThrows(() => layoutKernelImage(RAM, "v5.13", { textSize: -1 }), RangeError, "textSize");
});

Deno.test("getOrder() is the kernel's get_order in pages", () => {
  assertEquals([0, 1, 4096, 4097, 8192, 0x1200, 0x10_0000].map(getOrder), [0, 0, 0, 1, 1, 1, 8]);
});

Deno.test("computeHypVaLayout(): kern_hyp_va, hyp_physvirt_offset and the IO/vmemmap quarter", () => {
  const idmap = { start: 0x40e1_0000, end: 0x40e1_0a40 };
  const l = computeHypVaLayout(RAM, 48, idmap, "v5.13");
  assertEquals(l.hypVaBits, 48);
  assertEquals(l.tagLsb, 32);
  assertEquals(l.kernVa(0x4000_0000), 0xffff_0000_0000_0000n);
  assertEquals(l.kernHypVa(l.kernVa(0x1_3ea0_0000)), 0x8000_fea0_0000);
  assertEquals(l.hypPa(l.hypVa(0x1_2345_6000)), 0x1_2345_6000);
  assertEquals(BigInt.asUintN(64, l.hypPhysvirtOffset), 0xffff_8000_4000_0000n);
  assertEquals([l.ioMapBase, l.hypVmemmap], [0x4000_0000_0000, 0x6000_0000_0000]);
  const l39 = computeHypVaLayout(RAM, 39, idmap, "v5.13");
  assertEquals([l39.hypVaBits, l39.ioMapBase, l39.hypVmemmap], [
    39,
    0x20_0000_0000,
    0x30_0000_0000,
  ]);
  assertEquals(l39.hypVa(0x4020_0000), 0x40_0020_0000);
  // mainline: hyp_va_bits = max(48, vabits_actual).
  assertEquals(computeHypVaLayout(RAM, 39, idmap, "mainline").hypVaBits, 48);
  // An idmap in the upper quarter puts IO/vmemmap in the lower one.
  const hi = computeHypVaLayout([{ base: 0x4000_0000_0000, size: 2 ** 30 }], 48, {
    start: 0x4000_00e1_0000,
    end: 0x4000_00e1_0a40,
  }, "v5.13");
  assertEquals([hi.ioMapBase, hi.hypVmemmap], [0, 0x2000_0000_0000]);
});

Deno.test("computeHypVaLayout() refuses what the kernel cannot map", () => {
  const idmap = { start: 0x40e1_0000, end: 0x40e1_0a40 };
  assertThrows(() => computeHypVaLayout(RAM, 42, idmap, "v5.13"), RangeError, "39 or 48");
  assertThrows(
    () => computeHypVaLayout([{ base: 0x4000_0000, size: 2 ** 39 }], 39, idmap, "v5.13"),
    RangeError,
    "linear map",
  );
});

Deno.test("hypercall ids: v5.13 and mainline tables, SMCCC encoding", () => {
  const v = hypercallIds("v5.13");
  assertEquals(
    [
      v.__pkvm_init,
      v.__pkvm_create_mappings,
      v.__pkvm_create_private_mapping,
      v.__pkvm_cpu_set_vector,
      v.__pkvm_prot_finalize,
      v.__pkvm_mark_hyp,
    ],
    [15, 16, 17, 18, 19, 20],
  );
  const m = hypercallIds("mainline");
  assertEquals([
    m.__pkvm_init,
    m.__pkvm_create_private_mapping,
    m.__pkvm_cpu_set_vector,
    m.__pkvm_prot_finalize,
  ], [1, 2, 3, 7]);
  assertEquals(m.__pkvm_create_mappings, undefined);
  assertEquals(hypercallName("v5.13", 21), "__kvm_adjust_pc");
  assertEquals(smcccFunctionId(15), 0xc600000fn);
});

Deno.test("kvm_nvhe_init_params offsets: pgd_pa at 32 in v5.13, after stack_pa in mainline", () => {
  assertEquals(initParamsOffset("v5.13", "pgd_pa"), 32);
  assertEquals(initParamsOffset("v5.13", "stack_pa"), undefined);
  assertEquals(initParamsOffset("mainline", "stack_pa"), 32);
  assertEquals(initParamsOffset("mainline", "pgd_pa"), 40);
  assertEquals([initParamsSize("v5.13"), initParamsSize("mainline")], [64, 80]);
});

Deno.test("HostPages hands out aligned blocks top-down around reserved ranges, and reuses freed ones", () => {
  const hp = new HostPages(
    [{ base: 0x4000_0000, size: 0x10_0000 }],
    [{ base: 0x400f_0000, size: 0x1_0000 }],
  );
  assertEquals(hp.allocPages(0), 0x400e_f000);
  assertEquals(hp.allocPages(2), 0x400e_b000 & ~0x3fff);
  const a = hp.allocPages(0)!;
  hp.freePages(a);
  assertEquals(hp.allocPages(0), a);
  assertThrows(() => hp.freePages(0x1234_5000), RangeError, "not an allocated block");
  const tiny = new HostPages([{ base: 0x4000_0000, size: 0x2000 }], []);
  assertEquals([tiny.allocPages(0), tiny.allocPages(0), tiny.allocPages(0)], [
    0x4000_1000,
    0x4000_0000,
    null,
  ]);
});

Deno.test("mergeMappings() and mapletsMinus(): maximal ranges, later writers win, differences by page", () => {
  const merged = mergeMappings([
    { va: 0x2000, pa: 0x12000, size: 0x1000, prot: 6 },
    { va: 0x1000, pa: 0x11000, size: 0x1000, prot: 6 },
    { va: 0x3000, pa: 0x13000, size: 0x1000, prot: 4 },
  ]);
  assertEquals(merged, [
    { va: 0x1000, pa: 0x11000, size: 0x2000, prot: 6 },
    { va: 0x3000, pa: 0x13000, size: 0x1000, prot: 4 },
  ]);
  const overlap = mergeMappings([
    { va: 0x1000, pa: 0x11000, size: 0x3000, prot: 6 },
    { va: 0x2000, pa: 0x99000, size: 0x1000, prot: 6 },
  ]);
  assertEquals(overlap.map((m) => [m.va, m.pa, m.size]), [[0x1000, 0x11000, 0x1000], [
    0x2000,
    0x99000,
    0x1000,
  ], [0x3000, 0x13000, 0x1000]]);
  const a = [{ va: 0x1000, pa: 0x11000, size: 0x4000, prot: 6 }];
  const b = [{ va: 0x2000, pa: 0x12000, size: 0x1000, prot: 6 }, {
    va: 0x3000,
    pa: 0x13000,
    size: 0x1000,
    prot: 4,
  }];
  assertEquals(mapletsMinus(a, b), [
    { va: 0x1000, pa: 0x11000, size: 0x1000, prot: 6 },
    { va: 0x3000, pa: 0x13000, size: 0x2000, prot: 6 },
  ]);
  assertEquals(mapletsMinus(a, a), []);
});

Deno.test("computeHypVaLayout(): an idmap in the upper half, and v5.13's extended idmap", () => {
  const upper = computeHypVaLayout([{ base: 0x40_0000_0000, size: 2 ** 32 }], 39, {
    start: 0x40_00e1_0000,
    end: 0x40_00e1_0a40,
  }, "v5.13");
  // The linear map takes the lower half; IO/vmemmap the quarter of the lower half above it.
  assertEquals([upper.hypVaBits, upper.hypVa(0x40_0020_0000)], [39, 0x20_0000]);
  assertEquals([upper.ioMapBase, upper.hypVmemmap], [0x20_0000_0000, 0x30_0000_0000]);
  // Above 2^39 the idmap is extended to the bits its PA needs (40), and the
  // IO quarter then lands on the linear map: a clear refusal.
  assertThrows(
    () =>
      computeHypVaLayout([{ base: 0x80_0000_0000, size: 2 ** 32 }], 39, {
        start: 0x80_00e1_0000,
        end: 0x80_00e1_0a40,
      }, "v5.13"),
    RangeError,
    "meets the IO/vmemmap quarter",
  );
});
