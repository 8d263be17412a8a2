// Property tests with the seeded PRNG: random hand-built mappings (pages,
// 2 MiB and 1 GiB blocks, every prot, some with AF = 0) under several
// T0SZ values, WXN settings and both TLB policies. Every mapped VA must
// translate to the expected PA and permissions (or the expected fault),
// through a walk and then through the TLB; every unmapped VA must give a
// translation fault; a remap without TLBI must be served stale (and
// recorded) until its tlbi vae2.

import { assertEquals } from "@std/assert";
import { type AccessKind, Prng } from "../../../core/mod.ts";
import { D, enable, PROT } from "./_tables.ts";
import { rig } from "./_machine.ts";

interface Mapping {
  va: number;
  pa: number;
  size: number;
  level: number;
  prot: bigint;
  af: boolean;
}

const PROTS = [PROT.RW, PROT.RX, PROT.RO, PROT.DEVICE, PROT.RWX] as const;
const ACCESSES: readonly AccessKind[] = ["read", "write", "exec"];

function expected(mp: Mapping, va: number, access: AccessKind, wxn: boolean) {
  if (!mp.af) return { fault: "access_flag", level: mp.level };
  const ro = (mp.prot & D.AP_RO) !== 0n;
  const xn = (mp.prot & D.XN) !== 0n;
  if (access === "write" && ro) return { fault: "permission", level: mp.level };
  if (access === "exec" && (xn || (wxn && !ro))) return { fault: "permission", level: mp.level };
  const device = mp.prot === PROT.DEVICE && access !== "exec";
  return {
    pa: mp.pa + (va - mp.va),
    level: mp.level,
    writable: !ro,
    executable: !xn && !(wxn && !ro),
    memType: device ? "device" : "normal",
  };
}

function run(seed: number, t0sz: number, policy: "adversarial" | "optimistic", wxn: boolean) {
  const prng = new Prng(seed);
  const { m, mmu, tlb, t } = rig({ policy, t0sz });
  const cpu = m.cpu(0);
  const ia = 64 - t0sz;
  const maps: Mapping[] = [];
  const overlaps = (va: number, size: number) =>
    maps.some((o) => va < o.va + o.size && o.va < va + size);
  while (maps.length < 250) {
    const r = prng.float();
    const size = r < 0.7 ? 4096 : r < 0.95 || t.startLevel > 1 ? 2 ** 21 : 2 ** 30;
    const slots = 2 ** ia / size;
    // Cluster pages near each other so tables are shared, but cover the space.
    const va = prng.float() < 0.5
      ? size * prng.int(Math.min(slots, 4096))
      : size * Math.floor(prng.float() * slots);
    if (overlaps(va, size)) continue;
    const pa = size * prng.int(2 ** 40 / size);
    const prot = prng.pick(PROTS);
    const af = prng.float() > 0.05;
    const level = size === 4096 ? 3 : size === 2 ** 21 ? 2 : 1;
    t.map(va, pa, size, af ? prot : prot & ~D.AF);
    maps.push({ va, pa, size, level, prot, af });
  }
  enable(cpu, t.root, { t0sz, wxn });

  const sample = (mp: Mapping) => [mp.va, mp.va + mp.size - 1, mp.va + prng.int(mp.size)];
  const check = (pass: string) => {
    for (const mp of maps) {
      for (const va of sample(mp)) {
        for (const access of ACCESSES) {
          const r = mmu.translate(cpu, va, access);
          const want = expected(mp, va, access, wxn);
          const got = r.kind === "ok"
            ? {
              pa: r.pa,
              level: r.level,
              writable: r.writable,
              executable: r.executable,
              memType: r.memType,
            }
            : { fault: r.fault, level: r.level };
          assertEquals(got, want, `${pass}: seed ${seed} VA 0x${va.toString(16)} ${access}`);
        }
      }
    }
  };
  check("walk");
  check("tlb");
  const st = tlb.stats();
  assertEquals(st.stale, 0);
  assertEquals(st.hits > 0 && st.misses > 0, true);

  // Unmapped VAs: translation faults (at whatever level the walk stops).
  for (let i = 0; i < 500; i++) {
    const va = Math.floor(prng.float() * 2 ** ia);
    if (overlaps(va, 1)) continue;
    const r = mmu.translate(cpu, va, prng.pick(ACCESSES));
    assertEquals(
      r.kind === "fault" && r.fault,
      "translation",
      `seed ${seed} VA 0x${va.toString(16)}`,
    );
  }
  // Beyond the input range: translation fault at level 0.
  const out = mmu.translate(cpu, 2 ** ia + 4096 * prng.int(1000), "read");
  assertEquals(out.kind === "fault" && [out.fault, out.level], ["translation", 0]);

  // Remap readable pages without TLBI: stale until tlbi vae2.
  const pages = maps.filter((mp) => mp.size === 4096 && mp.af);
  let stale = tlb.stats().stale;
  for (const mp of pages.slice(0, 40)) {
    const newPa = 4096 * prng.int(2 ** 28);
    t.map(mp.va, newPa, 4096, mp.prot);
    const before = mmu.translate(cpu, mp.va, "read");
    assertEquals(before.kind === "ok" && [before.pa, before.fromTlb], [mp.pa, true]);
    stale += newPa === mp.pa ? 0 : 1;
    assertEquals(tlb.stats().stale, stale);
    tlb.invalidate(cpu, "vae2", mp.va);
    const after = mmu.translate(cpu, mp.va, "read");
    assertEquals(after.kind === "ok" && [after.pa, after.fromTlb], [newPa, false]);
    mp.pa = newPa;
  }
  assertEquals(tlb.stats().stale, stale);
  check("after remap");
}

Deno.test("property: random hand-built mappings translate to the expected PA and permissions; unmapped VAs fault", async (t) => {
  const configs = [
    [1, 16, "adversarial", false],
    [2, 16, "optimistic", true],
    [3, 25, "adversarial", true],
    [4, 25, "optimistic", false],
    [5, 34, "adversarial", false],
    [6, 39, "adversarial", true],
  ] as const;
  for (const [seed, t0sz, policy, wxn] of configs) {
    await t.step(`seed ${seed}, T0SZ ${t0sz}, ${policy}, WXN ${wxn ? 1 : 0}`, () => {
      run(seed, t0sz, policy, wxn);
    });
  }
});
