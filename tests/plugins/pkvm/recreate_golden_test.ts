// Golden lists of what __pkvm_init maps in pkvm_pgtable, per release (v5.13,
// 6.1, 6.12 and 7.2, which mainline names), written from each release's
// arch/arm64/kvm/hyp/nvhe/setup.c `recreate_hyp_mappings`
// (region, order, prot) and the mm.c helpers it calls (one map call for a
// range, or one per page for pkvm_create_mappings), not from the plugin. The
// ranges are computed here from the machine (image sections, RAM, pool) with
// the kernel's formulas; what is compared is the stream of kvm_pgtable_hyp_map
// calls the table saw (its "map" trace events), split at the handover of
// pkvm_pgtable's mm_ops to hpool in __pkvm_init_finalise.

import { assert, assertEquals } from "@std/assert";
import { hex, type TraceEvent } from "../../../core/mod.ts";
import type { BootReport } from "../../../core/mod.ts";
import { bootMachine } from "./_boot.ts";

const PAGE = 4096;
const alignDown = (v: number, a: number) => Math.floor(v / a) * a;
const alignUp = (v: number, a: number) => Math.ceil(v / a) * a;

/** One kvm_pgtable_hyp_map call: VA, PA (page aligned), size, prot name. */
interface MapCall {
  va: number;
  pa: number;
  size: number;
  prot: string;
}

/** A golden region: a label, setup.c's prot for it and the map calls it makes. */
interface Region {
  what: string;
  prot: string;
  calls: MapCall[];
}

/** `pkvm_create_mappings(from, to, prot)`: one call per page of the linear alias. */
function perPage(what: string, va: number, size: number, pa: number, prot: string): Region {
  const calls: MapCall[] = [];
  for (let off = 0; off < size; off += PAGE) {
    calls.push({ va: va + off, pa: pa + off, size: PAGE, prot });
  }
  return { what, prot, calls };
}

/** `__pkvm_create_mappings` / `kvm_pgtable_hyp_map`: one call for the range. */
function oneCall(what: string, va: number, size: number, pa: number, prot: string): Region {
  return { what, prot, calls: [{ va, pa, size, prot }] };
}

/** The kernel releases the golden lists follow. */
type Kernel = "5.13" | "6.1" | "6.12" | "7.2";
/** The profile of each (mainline is 7.2). */
const PROFILE: Record<Kernel, string> = {
  "5.13": "v5.13",
  "6.1": "v6.1",
  "6.12": "v6.12",
  "7.2": "mainline",
};
/** `sizeof(struct hyp_page)` (nvhe/memory.h): u16 refcount and u16 order in 6.1 and 6.12. */
const HYP_PAGE: Record<Kernel, number> = { "5.13": 32, "6.1": 4, "6.12": 4, "7.2": 8 };
/** `pkvm_mkstate(PAGE_HYP_RO, PKVM_PAGE_SHARED_OWNED)`: SW0 in the software bits (6.1, 6.12). */
const RO_SHARED_OWNED = "PAGE_HYP_RO|SW0";

/** The machine as the golden lists need it, read from the report and the host. */
interface Machine {
  kernel: Kernel;
  bits: number;
  /** hyp VA of a PA in the linear map (`hyp_phys_to_virt`). */
  hypVa: (pa: number) => number;
  sections: Record<string, [number, number]>;
  ram: { base: number; size: number }[];
  pool: { base: number; size: number };
  vmemmapBase: number;
  percpuBase: number[];
  stackPages: number[];
  bpHardenHypVecs: number;
  /** PA of `kvm_vgic_global_state` (6.12 maps its page). */
  vgicGlobalState: number;
}

function machineOf(
  kernel: Kernel,
  r: BootReport,
  host: { percpuBase: number[]; stackPages: number[] },
  symbols: Readonly<Record<string, number>>,
): Machine {
  const offset = BigInt.asIntN(64, BigInt(r.layout.hyp_physvirt_offset));
  const sections: Record<string, [number, number]> = {};
  for (const [name, [s, e]] of Object.entries(r.layout.image)) {
    sections[name] = [Number(s), Number(e)];
  }
  const vm = r.reserve.layout.find((t) => t.name === "vmemmap")!;
  return {
    kernel,
    bits: r.layout.hyp_va_bits,
    hypVa: (pa) => Number(BigInt(pa) - offset),
    sections,
    ram: r.machine.ram.map((b) => ({ base: Number(b.base), size: Number(b.size) })),
    pool: { base: Number(r.reserve.base), size: Number(r.reserve.size) },
    vmemmapBase: Number(vm.base),
    percpuBase: host.percpuBase,
    stackPages: host.stackPages,
    bpHardenHypVecs: symbols.__bp_harden_hyp_vecs!,
    vgicGlobalState: symbols.kvm_vgic_global_state ?? 0,
  };
}

/** The linear alias of an image section, page-rounded outwards (pkvm_create_mappings). */
function section(m: Machine, what: string, name: string, prot: string): Region {
  const [s, e] = m.sections[name]!;
  const va = alignDown(m.hypVa(s), PAGE);
  const end = alignUp(m.hypVa(e), PAGE);
  return perPage(what, va, end - va, alignDown(s, PAGE), prot);
}

/**
 * `recreate_hyp_mappings`, as each release's setup.c lists it. All also set
 * `__io_map_base` / `__hyp_vmemmap` in hyp_create_idmap (mm.c): the quarter
 * of the VA space the idmap does not use.
 */
function recreateHypMappings(m: Machine, spectreV3a: boolean): Region[] {
  const [idS, idE] = m.sections[".hyp.idmap.text"]!;
  const idmap = alignDown(idS, PAGE);
  const quarter = 2 ** (m.bits - 2);
  let ioMapBase = Math.floor(idmap / quarter) % 2 === 1 ? 0 : quarter;
  const hypVmemmap = ioMapBase + 2 ** (m.bits - 3);
  const out: Region[] = [];
  // hyp_create_idmap(): one __pkvm_create_mappings, VA == PA, PAGE_HYP_EXEC.
  out.push(oneCall("idmap", idmap, alignUp(idE, PAGE) - idmap, idmap, "PAGE_HYP_EXEC"));
  // hyp_map_vectors(): only with ARM64_SPECTRE_V3A (v5.13) / idmapped vectors
  // (later): __pkvm_create_private_mapping(__bp_harden_hyp_vecs,
  // __BP_HARDEN_HYP_VECS_SZ = 3 × 2 KiB, PAGE_HYP_EXEC) at __io_map_base (6.1
  // aligns it to the order of the size, 8 KiB, which the quarter already is).
  if (spectreV3a) {
    const phys = m.bpHardenHypVecs;
    const size = alignUp(3 * 0x800 + (phys % PAGE), PAGE);
    out.push(oneCall("vectors", ioMapBase, size, alignDown(phys, PAGE), "PAGE_HYP_EXEC"));
    ioMapBase += size;
  }
  // hyp_back_vmemmap(): the vmemmap VA range onto the pages carved for it, PAGE_HYP.
  const hp = HYP_PAGE[m.kernel];
  if (m.kernel === "5.13" || m.kernel === "6.1") {
    // (phys, size, back): the pool's own struct hyp_page range, one call.
    const s = alignDown(hypVmemmap + (m.pool.base / PAGE) * hp, PAGE);
    const e = alignUp(hypVmemmap + (m.pool.base / PAGE) * hp + (m.pool.size / PAGE) * hp, PAGE);
    out.push(oneCall("vmemmap", s, e - s, m.vmemmapBase, "PAGE_HYP"));
  } else {
    // (back): every hyp_memory region, skipping a page the previous region
    // already backed, one call per region.
    let end = 0;
    let back = m.vmemmapBase;
    for (const r of m.ram) {
      const s = Math.max(alignDown(hypVmemmap + (r.base / PAGE) * hp, PAGE), end);
      end = alignUp(hypVmemmap + ((r.base + r.size) / PAGE) * hp, PAGE);
      if (s >= end) continue;
      out.push(oneCall("vmemmap", s, end - s, back, "PAGE_HYP"));
      back += end - s;
    }
  }
  out.push(section(m, "__hyp_text", ".hyp.text", "PAGE_HYP_EXEC"));
  if (m.kernel === "5.13") {
    out.push(section(m, "__start_rodata..__end_rodata", ".rodata", "PAGE_HYP_RO"));
  } else if (m.kernel === "7.2") {
    // Empty in Debian's 7.2 image (System.map: __hyp_data_start == __hyp_data_end).
    out.push(section(m, "__hyp_data", ".hyp.data", "PAGE_HYP"));
  }
  out.push(section(m, "__hyp_rodata", ".hyp.rodata", "PAGE_HYP_RO"));
  out.push(section(m, "__hyp_bss", ".hyp.bss", "PAGE_HYP"));
  if (m.kernel === "5.13") {
    // __hyp_bss_end..__bss_stop: the image's ".bss" section here.
    out.push(section(m, "__hyp_bss_end..__bss_stop", ".bss", "PAGE_HYP_RO"));
  }
  out.push(perPage("pool", m.hypVa(m.pool.base), m.pool.size, m.pool.base, "PAGE_HYP"));
  const [pcS, pcE] = m.sections[".hyp.data..percpu"]!;
  const percpu = alignUp(pcE - pcS, PAGE);
  for (let i = 0; i < m.percpuBase.length; i++) {
    const base = m.percpuBase[i]!;
    out.push(perPage(`percpu cpu${i}`, m.hypVa(base), percpu, base, "PAGE_HYP"));
    const stack = m.stackPages[i]!;
    if (m.kernel === "5.13") {
      // [stack_hyp_va - PAGE_SIZE, stack_hyp_va): the stack page's linear alias.
      out.push(perPage(`stack cpu${i}`, m.hypVa(stack), PAGE, stack, "PAGE_HYP"));
    } else {
      // 6.1: pkvm_alloc_private_va_range(2 pages), aligned to the order of
      // its size; 6.12, 7.2: pkvm_create_stack(), 2 × NVHE_STACK_SIZE of
      // private VA aligned to its size. Either way the upper page is mapped
      // (NVHE_STACK_SIZE = PAGE_SIZE), one kvm_pgtable_hyp_map call.
      const addr = alignUp(ioMapBase, 2 * PAGE);
      out.push(oneCall(`stack cpu${i}`, addr + PAGE, PAGE, stack, "PAGE_HYP"));
      ioMapBase = addr + 2 * PAGE;
    }
  }
  // 6.12 and 7.2 call pkvm_create_host_sve_mappings(), which maps nothing
  // without SVE (system_supports_sve(): cortex-a57 has none).
  if (m.kernel === "6.1") {
    // The host's .rodata and .bss tail, RO and PKVM_PAGE_SHARED_OWNED.
    out.push(section(m, "__start_rodata..__end_rodata", ".rodata", RO_SHARED_OWNED));
    out.push(section(m, "__hyp_bss_end..__bss_stop", ".bss", RO_SHARED_OWNED));
  }
  if (m.kernel === "6.12") {
    // &kvm_vgic_global_state .. + 1, RO and PKVM_PAGE_SHARED_OWNED: one page
    // (struct vgic_global is ~80 bytes, and Debian's sits at offset 0x278).
    const va = alignDown(m.hypVa(m.vgicGlobalState), PAGE);
    out.push(
      perPage(
        "kvm_vgic_global_state",
        va,
        PAGE,
        alignDown(m.vgicGlobalState, PAGE),
        RO_SHARED_OWNED,
      ),
    );
  }
  return out;
}

/** The map calls pkvm_pgtable saw before and after the mm_ops handover. */
function mapCalls(events: TraceEvent[]): { recreate: MapCall[]; finalise: MapCall[] } {
  const recreate: MapCall[] = [];
  const finalise: MapCall[] = [];
  let handedOver = false;
  for (const e of events) {
    if (e.kind === "handover") handedOver = true;
    if (e.kind !== "map") continue;
    const d = (e as TraceEvent<"map">).data;
    if (d.table !== "pkvm_pgtable") continue;
    const call = {
      va: Number(d.va),
      pa: alignDown(Number(d.pa), PAGE),
      size: Number(d.size),
      prot: d.prot,
    };
    (handedOver ? finalise : recreate).push(call);
  }
  return { recreate, finalise };
}

const show = (c: MapCall) => `${hex(c.va)} +${hex(c.size)} -> ${hex(c.pa)} ${c.prot}`;

/** Compares the calls with the golden regions in order; names the region at the first difference. */
function assertGolden(actual: MapCall[], golden: Region[]): void {
  const expected = golden.flatMap((g) => g.calls.map((c) => ({ what: g.what, c })));
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    const a = actual[i];
    const e = expected[i];
    const want = e === undefined ? "nothing more" : `${e.what}: ${show(e.c)}`;
    const got = a === undefined ? "nothing more" : show(a);
    assert(
      a !== undefined && e !== undefined && show(a) === show(e.c),
      `map call #${i}: expected ${want}, got ${got}`,
    );
  }
}

function boot(
  kernel: Kernel,
  opts: { cpus?: number; spectreV3a?: boolean; ram?: { base: number; size: number }[] } = {},
) {
  const b = bootMachine(PROFILE[kernel], {
    cpus: opts.cpus ?? 4,
    ...(opts.ram ? { ram: opts.ram } : {}),
    overrides: { pkvm: { afterBoot: false, spectreV3a: opts.spectreV3a ?? false } },
    fullTrace: true,
  });
  const r = b.pkvm.boot();
  // The boot's own verification is not what this file checks: only that it ran.
  assertEquals(r.failure, undefined);
  const host = b.pkvm.host!;
  const m = machineOf(kernel, r, host, host.image.symbols);
  return { b, r, m, calls: mapCalls(b.m.trace.events()) };
}

for (const kernel of ["5.13", "6.1", "6.12", "7.2"] as const) {
  const name = `${PROFILE[kernel]}${kernel === "7.2" ? " (7.2)" : ""}`;
  Deno.test(`${name}: recreate_hyp_mappings maps setup.c's regions, in setup.c's order, with setup.c's prot`, () => {
    const { m, calls } = boot(kernel);
    assertGolden(calls.recreate, recreateHypMappings(m, false));
  });

  Deno.test(`${name}: with the Spectre-v3a vectors, over two banks, on 2 CPUs`, () => {
    const ram = [{ base: 0x4000_0000, size: 2 ** 31 }, { base: 0x1_0000_0000, size: 2 ** 31 }];
    const { m, calls } = boot(kernel, { cpus: 2, spectreV3a: true, ram });
    assertGolden(calls.recreate, recreateHypMappings(m, true));
  });
}

Deno.test("the golden region names match setup.c's list (a literal, per version)", () => {
  const regions = (kernel: Kernel) => recreateHypMappings(boot(kernel, { cpus: 2 }).m, false);
  const names = (kernel: Kernel) => regions(kernel).map((g) => `${g.what} ${g.prot}`);
  assertEquals(names("5.13"), [
    "idmap PAGE_HYP_EXEC",
    "vmemmap PAGE_HYP",
    "__hyp_text PAGE_HYP_EXEC",
    "__start_rodata..__end_rodata PAGE_HYP_RO",
    "__hyp_rodata PAGE_HYP_RO",
    "__hyp_bss PAGE_HYP",
    "__hyp_bss_end..__bss_stop PAGE_HYP_RO",
    "pool PAGE_HYP",
    "percpu cpu0 PAGE_HYP",
    "stack cpu0 PAGE_HYP",
    "percpu cpu1 PAGE_HYP",
    "stack cpu1 PAGE_HYP",
  ]);
  assertEquals(names("6.1"), [
    "idmap PAGE_HYP_EXEC",
    "vmemmap PAGE_HYP",
    "__hyp_text PAGE_HYP_EXEC",
    "__hyp_rodata PAGE_HYP_RO",
    "__hyp_bss PAGE_HYP",
    "pool PAGE_HYP",
    "percpu cpu0 PAGE_HYP",
    "stack cpu0 PAGE_HYP",
    "percpu cpu1 PAGE_HYP",
    "stack cpu1 PAGE_HYP",
    "__start_rodata..__end_rodata PAGE_HYP_RO|SW0",
    "__hyp_bss_end..__bss_stop PAGE_HYP_RO|SW0",
  ]);
  assertEquals(names("6.12"), [
    "idmap PAGE_HYP_EXEC",
    "vmemmap PAGE_HYP",
    "__hyp_text PAGE_HYP_EXEC",
    "__hyp_rodata PAGE_HYP_RO",
    "__hyp_bss PAGE_HYP",
    "pool PAGE_HYP",
    "percpu cpu0 PAGE_HYP",
    "stack cpu0 PAGE_HYP",
    "percpu cpu1 PAGE_HYP",
    "stack cpu1 PAGE_HYP",
    "kvm_vgic_global_state PAGE_HYP_RO|SW0",
  ]);
  const v72 = regions("7.2");
  assertEquals(v72.map((g) => `${g.what} ${g.prot}`), [
    "idmap PAGE_HYP_EXEC",
    "vmemmap PAGE_HYP",
    "__hyp_text PAGE_HYP_EXEC",
    "__hyp_data PAGE_HYP",
    "__hyp_rodata PAGE_HYP_RO",
    "__hyp_bss PAGE_HYP",
    "pool PAGE_HYP",
    "percpu cpu0 PAGE_HYP",
    "stack cpu0 PAGE_HYP",
    "percpu cpu1 PAGE_HYP",
    "stack cpu1 PAGE_HYP",
  ]);
  // Debian's 7.2 .hyp.data is empty: pkvm_create_mappings() of it maps nothing.
  assertEquals(v72.find((g) => g.what === "__hyp_data")!.calls, []);
});

Deno.test("v5.13 and 6.1: __pkvm_init_finalise maps nothing in pkvm_pgtable (setup.c)", () => {
  // v5.13: hyp_pool_init, kvm_host_prepare_stage2, the mm_ops; 6.1 adds
  // finalize_host_mappings(), which changes the host stage-2 only.
  assertEquals(boot("5.13").calls.finalise.map(show), []);
  assertEquals(boot("6.1").calls.finalise.map(show), []);
});

/**
 * `__pkvm_init_finalise` (setup.c) after the handover, 6.12 and 7.2:
 * fix_host_ownership and fix_hyp_pgtable_refcnt map nothing; then per CPU
 * one unaligned private page (`pkvm_alloc_private_va_range`) mapped PAGE_HYP
 * onto `__hyp_pa(__hyp_bss_start)` (6.12 `hyp_create_pcpu_fixmap`, 7.2
 * `hyp_create_fixmap`, mm.c); 7.2 then `create_fixblock`: 2 MiB at
 * ALIGN(__io_map_base, PMD_SIZE) mapped PAGE_HYP onto the first
 * hyp_memory region's PMD-aligned chunk with `phys + PMD_SIZE < end`.
 * hyp_ffa_init, pkvm_hyp_vm_table_init and the selftest map nothing.
 */
function finaliseGolden(m: Machine, ioMapBase: number): Region[] {
  const PMD = 2 * 1024 * 1024;
  const out: Region[] = [];
  let cur = ioMapBase;
  const bss = m.sections[".hyp.bss"]![0];
  for (let i = 0; i < m.percpuBase.length; i++) {
    out.push(oneCall(`fixmap cpu${i}`, cur, PAGE, bss, "PAGE_HYP"));
    cur += PAGE;
  }
  if (m.kernel !== "7.2") return out;
  const r = m.ram.find((r) => alignUp(r.base, PMD) + PMD < r.base + r.size)!;
  out.push(oneCall("fixblock", alignUp(cur, PMD), PMD, alignUp(r.base, PMD), "PAGE_HYP"));
  return out;
}

for (const kernel of ["6.12", "7.2"] as const) {
  Deno.test(`${PROFILE[kernel]}: __pkvm_init_finalise makes the per-CPU fixmap slots${kernel === "7.2" ? " and the fixblock" : ""} (setup.c, mm.c)`, () => {
    const { b, m, r, calls } = boot(kernel);
    // The private VA cursor after recreate_hyp_mappings: the last stack's range end.
    const golden = recreateHypMappings(m, false);
    const lastStack = golden.filter((g) => g.what.startsWith("stack")).at(-1)!.calls[0]!;
    const fin = finaliseGolden(m, lastStack.va + PAGE);
    assertEquals(fin.length, m.percpuBase.length + (kernel === "7.2" ? 1 : 0));
    assertGolden(calls.finalise, fin);
    // Each slot is left as an invalid PTE of its level that keeps its output address.
    const pgt = b.pkvm.host!.hyp!.pgt!;
    for (const g of fin) {
      const c = g.calls[0]!;
      const leaf = pgt.getLeaf(c.va);
      assertEquals(
        [leaf.level, leaf.pte & 1n, Number(leaf.pte & 0xffff_ffff_f000n)],
        [c.size === PAGE ? 3 : 2, 0n, c.pa],
        g.what,
      );
    }
    const block = fin.at(-1)!.calls[0]!;
    assertEquals(r.layout.io_map_base, hex(block.va + block.size));
  });
}
