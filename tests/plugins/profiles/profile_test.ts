import { assertEquals, assertThrows } from "@std/assert";
import {
  createMachine,
  KVM_PGTABLE,
  PAGE_ALLOCATOR,
  PKVM,
  type Plugin,
  RESERVED_MEM,
  SWITCH_SEQUENCE,
  TLB,
} from "../../../core/mod.ts";
import { buddyAllocator } from "../../../plugins/buddy_allocator/mod.ts";
import { profile, profileDefaults, PROFILES } from "../../../plugins/profiles/mod.ts";

Deno.test("profile() gives one provider per capability, with the profile's variants", () => {
  // The built-in switch sequence each profile runs: the release's own
  // __pkvm_init_switch_pgd, cut from its hyp-init.S (6.1's is v5.13's text:
  // params ABI, no `dsb nsh; isb` before set_sctlr_el2; 6.12's and 7.2's are
  // the registers-ABI routine with the pair, 040113fa32f2 and ea9d7c83d14e).
  const switches: Record<string, string> = {
    "v5.13": "v5.13",
    "v6.1": "v6.1",
    "v6.12": "v6.12",
    "v7.2": "v7.2",
    "mainline": "v7.2",
  };
  assertEquals(PROFILES, ["v5.13", "v6.1", "v6.12", "v7.2", "mainline"]);
  for (const name of PROFILES) {
    const m = createMachine({ cpus: 1, plugins: profile(name) });
    // `mainline` is an alias: the pKVM and kvm_pgtable keep the name they were
    // given, reserved_mem reports the release whose formulas it runs.
    const rel = name === "mainline" ? "v7.2" : name;
    assertEquals(m.get(PKVM).version, name);
    assertEquals(m.get(RESERVED_MEM).version, rel);
    assertEquals(m.get(KVM_PGTABLE).version, name);
    assertEquals(m.get(PAGE_ALLOCATOR).name, `buddy-${name}`);
    assertEquals(m.get(SWITCH_SEQUENCE).name, switches[name]);
    assertEquals(profileDefaults(name).switch, switches[name]);
    assertEquals(m.get(TLB).policy, "adversarial");
  }
  assertEquals(profileDefaults("v5.13"), {
    allocator: "buddy-v5.13",
    switch: "v5.13",
    tlb: "adversarial",
    pgtable: "v5.13",
    reservedMem: "v5.13",
    earlyAllocator: "v5.13",
  });
});

Deno.test("profile() overrides single capabilities by name", () => {
  const m = createMachine({
    cpus: 1,
    plugins: profile("v5.13", {
      switch: "v3",
      tlb: "optimistic",
      allocator: "buddy-mainline",
      pgtable: "mainline",
    }),
  });
  assertEquals(m.get(SWITCH_SEQUENCE).name, "v3");
  assertEquals(m.get(TLB).policy, "optimistic");
  assertEquals(m.get(PAGE_ALLOCATOR).name, "buddy-mainline");
  assertEquals(m.get(KVM_PGTABLE).version, "mainline");
  assertEquals(m.get(RESERVED_MEM).version, "v5.13");
});

Deno.test("profile() takes a plugin for a capability, and extra plugins replace providers", () => {
  const mine: Plugin = { ...buddyAllocator({ version: "mainline" }), name: "my_allocator" };
  const a = createMachine({ cpus: 1, plugins: profile("v5.13", { allocator: mine }) });
  assertEquals(a.providerOf(PAGE_ALLOCATOR), "my_allocator");
  const b = createMachine({ cpus: 1, plugins: profile("v5.13", { plugins: [mine] }) });
  assertEquals(b.providerOf(PAGE_ALLOCATOR), "my_allocator");
  assertEquals(profile("v5.13", { plugins: [mine] }).length, profile("v5.13").length);
});

Deno.test("profile() names the bad choice", () => {
  assertThrows(
    () => profile("v6.6"),
    RangeError,
    'Cannot use profile "v6.6": profiles are v5.13, v6.1, v6.12, v7.2, mainline',
  );
  assertThrows(() => profile("v5.13", { switch: "v4" }), RangeError, 'switch sequence "v4"');
  assertThrows(() => profile("v5.13", { tlb: "lazy" }), RangeError, 'tlb "lazy"');
  assertThrows(() => profile("v5.13", { allocator: "slab" }), RangeError, 'allocator "slab"');
  assertThrows(() => profile("v5.13", { pgtable: "v6" }), RangeError, 'kvm_pgtable "v6"');
  assertThrows(() => profile("v5.13", { pkvm: { vaBits: 42 } }), RangeError, "VA_BITS = 42");
});

Deno.test("profile() with the mainline buddy under v5.13 sizing boots, and the report notes the mismatch", () => {
  const m = createMachine({ cpus: 1, plugins: profile("v5.13", { allocator: "buddy-mainline" }) });
  const r = m.get(PKVM).boot();
  assertEquals(r.ok, true, JSON.stringify(r.failure));
  assertEquals(r.notes.some((n) => n.includes("8 bytes per page")), true);
});

Deno.test("profile() with the bitmap allocator boots; the vmemmap follows its metadata size", () => {
  const m = createMachine({ cpus: 2, plugins: profile("v5.13", { allocator: "bitmap" }) });
  const r = m.get(PKVM).boot();
  assertEquals(r.ok, true, JSON.stringify(r.failure));
  assertEquals(r.pools.hpool!.allocator, m.get(PAGE_ALLOCATOR).name);
  // hyp_vmemmap_range() over the pool with the allocator's bytes per page.
  const bytes = m.get(PAGE_ALLOCATOR).metadataBytesPerPage;
  const base = Number(r.reserve.base);
  const size = Number(r.reserve.size);
  const vm = Number(r.layout.hyp_vmemmap);
  const start = Math.floor((vm + (base / 4096) * bytes) / 4096);
  const end = Math.ceil((vm + ((base + size) / 4096) * bytes) / 4096);
  const term = r.reserve.layout.find((t) => t.name === "vmemmap");
  assertEquals(term?.pages ?? 0, end - start);
});
