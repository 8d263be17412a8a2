// hVHE and 52-bit EL2 boots of 6.12 and 7.2 on QEMU's neoverse-n1 and max:
// the EL2 registers real boots read back (independent of the machine's
// shape), the modes and VA sizes each release picks on each CPU model, and
// the host stage-2 annotations against the pages the hypervisor owns.

import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  type CpuModelName,
  createMachine,
  type Machine,
  PKVM,
  Prng,
  Trace,
  WALK,
} from "../../../core/mod.ts";
import type { PkvmBoot } from "../../../plugins/pkvm/pkvm_boot.ts";
import { profile } from "../../../plugins/profiles/mod.ts";
import { bootOk, LEAN_TRACE_KINDS } from "./_boot.ts";

function boot(
  rel: string,
  cpu: CpuModelName,
  o: { gib?: number; cpus?: number; vaBits?: number } = {},
): { m: Machine; pkvm: PkvmBoot } {
  const m = createMachine({
    ram: [{ base: 0x4000_0000, size: (o.gib ?? 4) * 2 ** 30 }],
    cpus: o.cpus ?? 2,
    cpu,
    plugins: profile(rel, o.vaBits === undefined ? {} : { pkvm: { vaBits: o.vaBits } }),
    trace: new Trace({ kinds: [...LEAN_TRACE_KINDS] }),
  });
  const pkvm = m.get(PKVM) as PkvmBoot;
  const r = pkvm.boot();
  assertEquals(bootOk(r), true, JSON.stringify(r.failure ?? r.verify));
  return { m, pkvm };
}

/** What real boots read back (the oracle's recordings of Debian's kernels under QEMU 7.2). */
const REAL: Record<string, Record<string, bigint>> = {
  "v6.12 neoverse-n1": {
    TCR_EL2: 0x5001f5b5d53510n,
    SCTLR_EL2: 0x30ed183dn,
    HCR_EL2: 0x480080001n,
    VTCR_EL2: 0x802d3590n,
  },
  "v6.12 max": {
    TCR_EL2: 0x95001f7b5ce350cn,
    SCTLR_EL2: 0xf8ed383dn,
    HCR_EL2: 0x30480080001n,
    VTCR_EL2: 0x1802e358cn,
  },
  "v7.2 neoverse-n1": {
    TCR_EL2: 0x4500075b5903510n,
    SCTLR_EL2: 0x0068180dn,
    HCR_EL2: 0x480080001n,
    VTCR_EL2: 0x802d3590n,
  },
  "v7.2 max": {
    TCR_EL2: 0xd500076b58c350cn,
    SCTLR_EL2: 0xc868380dn,
    HCR_EL2: 0x430480080001n,
    VTCR_EL2: 0x1802e358cn,
  },
};

for (const [key, want] of Object.entries(REAL)) {
  const [rel, cpu] = key.split(" ") as [string, CpuModelName];
  Deno.test(`${key}: hVHE, the VA size the kernel picks, and the EL2 registers a real boot reads back`, () => {
    const { m, pkvm } = boot(rel, cpu);
    const caps = pkvm.cpuCaps;
    assertEquals([caps.hvhe, caps.vaBits, caps.lpa2], [
      true,
      cpu === "max" ? 52 : 48,
      cpu === "max",
    ]);
    assertEquals(pkvm.host!.hypVaBits, caps.vaBits);
    assertEquals(pkvm.host!.hyp!.pgt!.startLevel, cpu === "max" ? -1 : 0);
    for (const c of m.cpus) {
      for (const [reg, v] of Object.entries(want)) {
        assertEquals(c.sysreg(reg), v, `CPU ${c.id} ${reg} = 0x${c.sysreg(reg).toString(16)}`);
      }
    }
    const notes = pkvm.report().notes.join("\n");
    assert(notes.includes("hVHE (ARM64_KVM_HVHE"), notes);
  });
}

Deno.test("the host stage-2 annotations are exactly the pages the hyp owns (random shapes; 7.2 leaves its text to the host)", () => {
  const prng = new Prng(13);
  for (let i = 0; i < 6; i++) {
    const rel = i % 2 === 0 ? "v6.12" : "v7.2";
    const cpu: CpuModelName = prng.int(2) === 0 ? "max" : "neoverse-n1";
    const { pkvm } = boot(rel, cpu, { gib: 1 + prng.int(6), cpus: 1 + prng.int(4) });
    const hyp = pkvm.host!.hyp!;
    const owned = new Set<number>();
    const text = [hyp.image.symbols.__hyp_text_start!, hyp.image.symbols.__hyp_text_end!];
    const visit = (v: { pte: bigint; level: number; flag: number }) => {
      if ((v.pte & 1n) === 0n || v.flag !== WALK.LEAF) return 0;
      assertEquals(v.level, 3);
      const pa = Number(v.pte & 0x0003_ffff_ffff_f000n);
      const state = (v.pte >> 55n) & 3n;
      const isText = pa >= Math.floor(text[0]! / 4096) * 4096 && pa < text[1]!;
      if (state === 0n && !(rel === "v7.2" && isText)) owned.add(pa);
      return 0;
    };
    for (const r of hyp.hypMemory) {
      hyp.pgt!.walk(hyp.va(r.base), r.size, { flags: WALK.LEAF, cb: visit });
    }
    // The stacks, in the private range.
    for (const m of hyp.expected.filter((e) => e.what.startsWith("stack"))) {
      hyp.pgt!.walk(m.va, m.size, { flags: WALK.LEAF, cb: visit });
    }
    const annotated = new Set<number>();
    const want = hyp.release.setup.hostOwner!.pte;
    for (const a of hyp.hostS2Pgt!.annotations()) {
      assertEquals(a.pte, want);
      for (let p = a.ipa; p < a.ipa + a.size; p += 4096) annotated.add(p);
    }
    assertEquals([...annotated].sort((a, b) => a - b), [...owned].sort((a, b) => a - b));
    if (rel === "v7.2") assert(!annotated.has(Math.floor(text[0]! / 4096) * 4096));
  }
});

Deno.test("52-bit VAs only where the CPU and the build give them; an explicit 48 on max boots 48-bit", () => {
  const mk = (rel: string, cpu: CpuModelName, vaBits: number) =>
    createMachine({ cpus: 1, cpu, plugins: profile(rel, { pkvm: { vaBits } }) });
  assertThrows(() => mk("v7.2", "neoverse-n1", 52), Error, "FEAT_LPA2");
  assertThrows(() => mk("v6.1", "max", 52), Error, "CONFIG_ARM64_VA_BITS=48");
  assertThrows(() => mk("v6.12", "max", 44), Error, "39 or 48");
  const { pkvm } = boot("v7.2", "max", { vaBits: 48 });
  assertEquals([pkvm.host!.hypVaBits, pkvm.host!.hyp!.pgt!.startLevel], [48, 0]);
  // v6.1 on max stays nVHE and 48-bit.
  const old = boot("v6.1", "max");
  assertEquals([old.pkvm.cpuCaps.hvhe, old.pkvm.cpuCaps.vaBits], [false, 48]);
});
