import { assertEquals, assertThrows } from "@std/assert";
import {
  ERRNO,
  KernelErrnoError,
  PAGE_HYP,
  WALK,
  type Walker,
  type WalkVisit,
} from "../../../core/mod.ts";
import { encodeHypLeaf, encodeHypTable } from "../../../plugins/kvm_pgtable/mod.ts";
import { fixture, G1, K4, M2 } from "./_fixture.ts";

const ALL = WALK.LEAF | WALK.TABLE_PRE | WALK.TABLE_POST;
const NAME: Record<number, string> = {
  [WALK.LEAF]: "leaf",
  [WALK.TABLE_PRE]: "pre",
  [WALK.TABLE_POST]: "post",
};

function recorder(flags: number, ret: (v: WalkVisit) => number = () => 0) {
  const seen: string[] = [];
  const walker: Walker = {
    flags,
    cb(v) {
      seen.push(`${NAME[v.flag]}@${v.level}:${v.addr.toString(16)}`);
      return ret(v);
    },
  };
  return { seen, walker };
}

for (const version of ["v5.13", "mainline"] as const) {
  Deno.test(`kvm_pgtable_walk() (${version}) visits in the kernel's order`, () => {
    const { pgt } = fixture(version, { iaBits: 39 });
    assertEquals(pgt.startLevel, 1);
    assertEquals(pgt.map(K4, K4, 0x4100_0000, PAGE_HYP), 0);
    assertEquals(pgt.map(M2, M2, 0x4120_0000, PAGE_HYP), 0);
    const { seen, walker } = recorder(ALL);
    assertEquals(pgt.walk(0, 2 * M2, walker), 0);
    const leaves3 = Array.from({ length: 512 }, (_, i) => `leaf@3:${(i * K4).toString(16)}`);
    assertEquals(seen, [
      "pre@1:0",
      "pre@2:0",
      ...leaves3, // invalid entries get LEAF too
      "post@2:0",
      "leaf@2:200000",
      "post@1:0",
    ]);
  });

  Deno.test(`kvm_pgtable_walk() (${version}) rounds the range out to pages`, () => {
    const { pgt } = fixture(version, { iaBits: 39 });
    const { seen, walker } = recorder(ALL);
    // [ALIGN_DOWN(0x1234), PAGE_ALIGN(0x1000 + 0x1000)): one invalid level-1
    // entry, visited at the unaligned start address, then past the end.
    assertEquals(pgt.walk(0x1234, 0x1000, walker), 0);
    assertEquals(seen, ["leaf@1:1000"]);
    // A zero-size walk visits nothing.
    const r2 = recorder(ALL);
    assertEquals(pgt.walk(0x5000, 0, r2.walker), 0);
    assertEquals(r2.seen, []);
  });

  Deno.test(`kvm_pgtable_walk() (${version}) returns -ERANGE past 2^ia_bits`, () => {
    const { pgt } = fixture(version, { iaBits: 39 });
    const limit = 2 ** 39;
    const { seen, walker } = recorder(ALL);
    assertEquals(pgt.walk(limit + K4, 0, walker), ERRNO.ERANGE); // addr > limit
    assertEquals(pgt.walk(limit - K4, 2 * K4, walker), ERRNO.ERANGE); // end > limit
    assertEquals(pgt.walk(0, limit + 1, walker), ERRNO.ERANGE); // end rounds up past
    assertEquals(seen, []);
    assertEquals(pgt.walk(limit, 0, walker), 0); // addr == limit is allowed
    assertEquals(pgt.walk(0, limit, walker), 0);
    assertEquals(seen.length, 512);
    assertEquals(pgt.map(limit - K4, 2 * K4, 0x4000_0000, PAGE_HYP), ERRNO.ERANGE);
    assertEquals(pgt.maplets(), []);
    assertThrows(() => pgt.getLeaf(limit), KernelErrnoError, "-ERANGE");
  });

  Deno.test(`kvm_pgtable_walk() (${version}) returns -EINVAL once the pgd is gone`, () => {
    const { pgt } = fixture(version);
    pgt.destroy();
    assertEquals(pgt.pgd, 0);
    const { seen, walker } = recorder(ALL);
    assertEquals(pgt.walk(0, K4, walker), ERRNO.EINVAL);
    assertEquals(seen, []);
    assertEquals(pgt.map(0, K4, 0x4000_0000, PAGE_HYP), ERRNO.EINVAL);
    const e = assertThrows(() => pgt.getLeaf(0), KernelErrnoError, "-EINVAL");
    assertEquals(e.errno, ERRNO.EINVAL);
    assertEquals(pgt.maplets(), []);
    assertEquals(pgt.tablePages(), []);
  });

  Deno.test(`kvm_pgtable_walk() (${version}) stops at a visitor's error in every phase`, () => {
    for (const flag of [WALK.TABLE_PRE, WALK.LEAF, WALK.TABLE_POST]) {
      const { pgt } = fixture(version, { iaBits: 39 });
      pgt.map(K4, K4, 0x4100_0000, PAGE_HYP);
      const { seen, walker } = recorder(ALL, (v) => v.flag === flag ? ERRNO.EBUSY : 0);
      assertEquals(pgt.walk(0, 2 * M2, walker), ERRNO.EBUSY);
      assertEquals(seen[seen.length - 1]!.startsWith(NAME[flag]!), true);
      // An error in PRE means no descent: the walk ends at once.
      if (flag === WALK.TABLE_PRE) assertEquals(seen, ["pre@1:0"]);
      if (flag === WALK.LEAF) assertEquals(seen, ["pre@1:0", "pre@2:0", "leaf@3:0"]);
    }
  });

  Deno.test(`kvm_pgtable_walk() (${version}) descends into a table a LEAF visitor installs`, () => {
    const { pgt, pool } = fixture(version, { iaBits: 39 });
    const memory = pool.memory;
    const child = pool.mmOps.virtToPhys(pool.mmOps.zallocPage()!);
    memory.write64(child + 8, encodeHypLeaf(0x4200_1000, PAGE_HYP, 3));
    let installed = false;
    const { seen, walker } = recorder(WALK.LEAF | WALK.TABLE_POST, (v) => {
      if (v.level === 2 && !installed) {
        installed = true;
        memory.write64(v.ptep, encodeHypTable(child));
      } else if (v.level === 1 && v.flag === WALK.LEAF) {
        // Give the level-1 slot a level-2 table first.
        const l2 = pool.mmOps.virtToPhys(pool.mmOps.zallocPage()!);
        memory.write64(v.ptep, encodeHypTable(l2));
      }
      return 0;
    });
    assertEquals(pgt.walk(0, 2 * K4, walker), 0);
    assertEquals(seen, ["leaf@1:0", "leaf@2:0", "leaf@3:0", "leaf@3:1000", "post@2:0", "post@1:0"]);
    assertEquals(pgt.maplets(), [{ va: K4, pa: 0x4200_1000, size: K4, prot: PAGE_HYP }]);
  });

  Deno.test(`kvm_pgtable_walk() (${version}) TABLE_POST sees the entry as it is now`, () => {
    const { pgt } = fixture(version, { iaBits: 39 });
    pgt.map(0, K4, 0x4100_0000, PAGE_HYP);
    const posts: bigint[] = [];
    const pre = new Map<number, bigint>();
    pgt.walk(0, K4, {
      flags: WALK.TABLE_PRE | WALK.TABLE_POST,
      cb(v) {
        if (v.flag === WALK.TABLE_PRE) pre.set(v.level, v.pte);
        else posts.push(v.pte);
        return 0;
      },
    });
    assertEquals(posts, [pre.get(2)!, pre.get(1)!]);
  });
}

// The walker reworked around struct kvm_pgtable_visit_ctx came in v6.2: 6.12
// and 7.2 (mainline) have it; v5.13 and 6.1 (no kvm_pgtable_visit_ctx in
// its hyp/pgtable.c) have the one before.
const RELEASES = ["v5.13", "v6.1", "v6.12", "v7.2"] as const;
const visitCtx = (v: string) => v === "v6.12" || v === "v7.2";

Deno.test("kvm_pgtable_walk() (6.2 on) refuses a SHARED walk at hyp with -EPERM; v5.13 and 6.1 have no such flag", () => {
  for (const version of RELEASES) {
    const { pgt } = fixture(version);
    const { seen, walker } = recorder(WALK.LEAF | WALK.SHARED);
    const ret = pgt.walk(0, K4, walker);
    if (visitCtx(version)) {
      assertEquals(ret, ERRNO.EPERM, version);
      assertEquals(seen, [], version);
    } else {
      assertEquals(ret, 0, version);
      assertEquals(seen, ["leaf@0:0"], version);
    }
  }
});

Deno.test("kvm_pgtable_walk() ignores -EAGAIN from 6.2 on and stops on it in v5.13 and 6.1", () => {
  const EAGAIN = -11;
  for (const version of RELEASES) {
    const { pgt } = fixture(version, { iaBits: 39 });
    pgt.map(0, 4 * K4, 0x4100_0000, PAGE_HYP);
    const { seen, walker } = recorder(WALK.LEAF, () => EAGAIN);
    const ret = pgt.walk(0, 4 * K4, walker);
    assertEquals(ret, visitCtx(version) ? 0 : EAGAIN, version);
    assertEquals(seen.length, visitCtx(version) ? 4 : 1, version);
  }
});

Deno.test("kvm_pgtable_walk() re-reads after TABLE_PRE from 6.2 on only", () => {
  for (const version of RELEASES) {
    const { pgt, pool } = fixture(version, { iaBits: 39 });
    pgt.map(0, K4, 0x4100_0000, PAGE_HYP);
    const { seen, walker } = recorder(ALL, (v) => {
      // Unhook the level-2 table in PRE.
      if (v.flag === WALK.TABLE_PRE && v.level === 2) pool.memory.write64(v.ptep, 0n);
      return 0;
    });
    assertEquals(pgt.walk(0, K4, walker), 0);
    assertEquals(
      seen,
      visitCtx(version)
        // Re-read: now invalid, so no descent and no POST.
        ? ["pre@1:0", "pre@2:0", "post@1:0"]
        // v5.13 and 6.1 keep the value read before PRE and walk the old child.
        : ["pre@1:0", "pre@2:0", "leaf@3:0", "post@2:0", "post@1:0"],
      version,
    );
  }
});

Deno.test("kvm_pgtable_get_leaf() gives the entry ending the lookup and its level", () => {
  const { pgt } = fixture("mainline");
  assertEquals(pgt.getLeaf(0x1234_5000), { pte: 0n, level: 0 });
  pgt.map(0x4000_0000, M2, 0x8000_0000, PAGE_HYP);
  assertEquals(pgt.getLeaf(0x4000_0000 + 0x1_2345), {
    pte: encodeHypLeaf(0x8000_0000, PAGE_HYP, 2),
    level: 2,
  });
  assertEquals(pgt.getLeaf(0x4000_0000 + M2), { pte: 0n, level: 2 });
  assertEquals(pgt.getLeaf(0x4000_0000 + G1), { pte: 0n, level: 1 });
  assertThrows(() => pgt.getLeaf(-1), RangeError);
});
