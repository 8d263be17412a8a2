import { assertEquals, assertRejects } from "@std/assert";
import {
  HOST_FACTS,
  type HostFactSpec,
  IMAGE_SYMBOLS,
  imageSymbols,
  OracleError,
  parseSystemMap,
  readHostFacts,
} from "../../../plugins/oracle/mod.ts";

// A kernel image at 0xffff800008000000 loaded at PA 0x40200000, so
// kimage_voffset = 0xffff7fffc7e00000; per-CPU areas in the linear map.
const VOFF = 0xffff7fffc7e00000n;
const MAP = parseSystemMap(
  [
    "ffff800008000000 T _text",
    "ffff800009000000 D kimage_voffset",
    "ffff800009000010 D tag_lsb",
    "ffff800009000018 D magic32",
    "ffff800009000100 D __per_cpu_offset",
    "ffff800009100000 D __kvm_nvhe_kvm_arm_hyp_percpu_base",
    "ffff800009200000 D kvm_arm_hyp_stack_page",
    "ffff80000a000000 B _end",
  ].join("\n"),
  "System.map",
);

class FakeKernel {
  virt = new Map<bigint, number>();
  phys = new Map<bigint, number>();
  /** VAs the host cannot read (hyp-owned). */
  hidden = new Set<bigint>();
  physReads = 0;
  put(m: Map<bigint, number>, at: bigint, v: bigint, n: number) {
    for (let i = 0; i < n; i++) m.set(at + BigInt(i), Number((v >> BigInt(8 * i)) & 0xffn));
  }
  readVirtual = (va: bigint, n: number) => {
    for (let i = 0n; i < BigInt(n); i++) {
      if (this.hidden.has((va + i) & ~0xfffn)) {
        return Promise.reject(
          new OracleError(`cannot read ${n} bytes at 0x${va.toString(16)}: E14`),
        );
      }
    }
    return Promise.resolve(
      Uint8Array.from({ length: n }, (_, i) => this.virt.get(va + BigInt(i)) ?? 0),
    );
  };
  readPhysical = (pa: bigint, n: number) => {
    this.physReads++;
    return Promise.resolve(
      Uint8Array.from({ length: n }, (_, i) => this.phys.get(pa + BigInt(i)) ?? 0),
    );
  };
}

function kernel(): FakeKernel {
  const k = new FakeKernel();
  k.put(k.virt, 0xffff800009000000n, VOFF, 8);
  k.put(k.virt, 0xffff800009000010n, 0x20n, 1);
  k.put(k.virt, 0xffff800009000018n, 0xdeadbeefn, 4);
  const offsets = [0xffff8000f5f47000n, 0xffff8000f5f66000n];
  offsets.forEach((o, i) => k.put(k.virt, 0xffff800009000100n + BigInt(8 * i), o, 8));
  offsets.forEach((o, i) =>
    k.put(
      k.virt,
      (0xffff800009200000n + o) & 0xffff_ffff_ffff_ffffn,
      0xffff0000c0ac7000n + BigInt(i) * 0x1000n,
      8,
    )
  );
  // The hyp-owned array: only physically readable, at VA - kimage_voffset.
  const hyp = 0xffff800009100000n;
  k.hidden.add(hyp);
  [0xffff0000c09c8000n, 0xffff0000c09ca000n].forEach((v, i) =>
    k.put(k.phys, hyp - VOFF + BigInt(8 * i), v, 8)
  );
  return k;
}

Deno.test("host facts: each kind, alternatives, optional and per-CPU values", async () => {
  const k = kernel();
  const specs: HostFactSpec[] = [
    { name: "kimage_voffset", symbol: "kimage_voffset", kind: "u64" },
    { name: "tag_lsb", symbol: "tag_lsb", kind: "u8" },
    { name: "magic32", symbol: "magic32", kind: "u32" },
    { name: "__per_cpu_offset", symbol: "__per_cpu_offset", kind: "u64[cpus]" },
    {
      name: "kvm_arm_hyp_percpu_base",
      symbol: ["kvm_arm_hyp_percpu_base", "__kvm_nvhe_kvm_arm_hyp_percpu_base"],
      kind: "u64[cpus]",
    },
    {
      name: "kvm_arm_hyp_stack_page",
      symbol: "kvm_arm_hyp_stack_page",
      kind: "percpu-u64",
      optional: true,
    },
    {
      name: "kvm_arm_hyp_stack_base",
      symbol: "kvm_arm_hyp_stack_base",
      kind: "percpu-u64",
      optional: true,
    },
  ];
  const facts = await readHostFacts(specs, MAP, k, 2);
  assertEquals(facts, {
    kimage_voffset: "0xffff7fffc7e00000",
    tag_lsb: "0x20",
    magic32: "0xdeadbeef",
    __per_cpu_offset: ["0xffff8000f5f47000", "0xffff8000f5f66000"],
    kvm_arm_hyp_percpu_base: ["0xffff0000c09c8000", "0xffff0000c09ca000"],
    kvm_arm_hyp_stack_page: ["0xffff0000c0ac7000", "0xffff0000c0ac8000"],
  });
  // Only the hyp-owned array went through the physical reader.
  assertEquals(k.physReads, 1);
});

Deno.test("host facts: a required symbol missing, or an unreadable non-image address, is an error", async () => {
  const k = kernel();
  await assertRejects(
    () => readHostFacts([{ name: "va_mask", symbol: "va_mask", kind: "u64" }], MAP, k, 1),
    OracleError,
    "System.map: no symbol va_mask (host fact va_mask is not optional)",
  );
  // Without a physical reader the hyp-owned array cannot be read.
  await assertRejects(
    () =>
      readHostFacts(
        [{ name: "x", symbol: "__kvm_nvhe_kvm_arm_hyp_percpu_base", kind: "u64" }],
        MAP,
        { readVirtual: k.readVirtual },
        1,
      ),
    OracleError,
    "reading x (__kvm_nvhe_kvm_arm_hyp_percpu_base at 0xffff800009100000): cannot read 8 bytes",
  );
});

Deno.test("host facts: the declared lists, and image symbols the map has", () => {
  // hyp_mem_base/hyp_mem_size are observed, never inputs.
  assertEquals(HOST_FACTS.some((s) => /hyp_mem/.test(s.name)), false);
  assertEquals(imageSymbols(MAP, IMAGE_SYMBOLS), {
    // The hyp's own copy of kvm_arm_hyp_percpu_base (6.1+) places the hyp data section.
    __kvm_nvhe_kvm_arm_hyp_percpu_base: "0xffff800009100000",
    _text: "0xffff800008000000",
    _end: "0xffff80000a000000",
  });
});

Deno.test("host facts: a field of a hyp per-CPU variable is read at its PA through kvm_arm_hyp_percpu_base", async () => {
  // The nVHE per-CPU template and kvm_host_data in it; memstart_addr 0x40000000
  // and a 48-bit PAGE_OFFSET, so __pa(0xffff0000c09c8000) = 0x1009c8000.
  const map = parseSystemMap(
    [
      "ffff800008000000 T _text",
      "ffff800009000000 D kimage_voffset",
      "ffff800009000008 D memstart_addr",
      "ffff800009000100 D __per_cpu_offset",
      "ffff800009100000 D __kvm_nvhe_kvm_arm_hyp_percpu_base",
      "ffff800009300000 D __kvm_nvhe___per_cpu_start",
      "ffff800009300400 D __kvm_nvhe_kvm_host_data",
      "ffff80000a000000 B _end",
    ].join("\n"),
    "System.map",
  );
  const k = kernel();
  k.put(k.virt, 0xffff800009000008n, 0x4000_0000n, 8);
  const field = 3104; // struct kvm_host_data.sve_state in 6.12
  const bases = [0x1_009c_8000n, 0x1_009c_a000n];
  bases.forEach((pa, i) =>
    k.put(k.phys, pa + 0x400n + BigInt(field), 0xb34b6c13e4000n + BigInt(i), 8)
  );
  const specs: HostFactSpec[] = [
    { name: "memstart_addr", symbol: "memstart_addr", kind: "u64" },
    {
      name: "kvm_arm_hyp_percpu_base",
      symbol: "__kvm_nvhe_kvm_arm_hyp_percpu_base",
      kind: "u64[cpus]",
    },
    ...HOST_FACTS.filter((s) => s.kind === "hyp-percpu-u64"),
  ];
  const env = {
    fields: { "kvm_host_data.sve_state": field },
    pageOffset: 0xffff_0000_0000_0000n,
  };
  const facts = await readHostFacts(specs, map, k, 2, env);
  assertEquals(facts.sve_state, ["0xb34b6c13e4000", "0xb34b6c13e4001"]);
  // Without the release's field offset the fact is skipped, not guessed.
  const none = await readHostFacts(specs, map, k, 2, { pageOffset: env.pageOffset });
  assertEquals("sve_state" in none, false);
  // It needs the per-CPU bases read first.
  await assertRejects(
    () => readHostFacts(specs.slice(2), map, k, 2, env),
    OracleError,
    "needs kvm_arm_hyp_percpu_base",
  );
});
