/**
 * The kvm_pgtable conformance suite: what every provider of `KVM_PGTABLE`
 * must do, whatever its remap semantics. Run it in one line:
 * `Deno.test("my tables", (t) => kvmPgtableConformance(myFactory, t))`.
 *
 * @module
 */

import {
  type KvmPgtableFactory,
  type KvmPgtableVersion,
  type Maplet,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  type PgtableMmOps,
  WALK,
} from "../capabilities/kvm_pgtable.ts";
import { ERRNO } from "../errors.ts";
import { PAGE_SIZE, PhysicalMemory } from "../physical_memory.ts";
import { expect, expectEqual, runCases, type StepContext } from "./_suite.ts";

const RAM_BASE = 0x4000_0000;
const RAM_SIZE = 0x1000_0000; // 256 MiB
const TABLE_POOL = RAM_BASE + 0x0800_0000; // tables come from the upper half
const VA_OFFSET = 0x1_0000_0000; // hyp VA = PA + offset, so a provider must use mm_ops

/** Refcounted page source over physical memory, for the suite's mm_ops. */
interface TestPages {
  mmOps: PgtableMmOps;
  live(): number;
}

function testPages(memory: PhysicalMemory): TestPages {
  const refs = new Map<number, number>();
  const free: number[] = [];
  let next = TABLE_POOL;
  const pa = (va: number) => Math.floor((va - VA_OFFSET) / PAGE_SIZE) * PAGE_SIZE;
  const mmOps: PgtableMmOps = {
    zallocPage() {
      const p = free.pop() ?? next;
      if (p === next) {
        if (next >= RAM_BASE + RAM_SIZE) return null;
        next += PAGE_SIZE;
      }
      memory.zero(p, PAGE_SIZE);
      refs.set(p, 1);
      return p + VA_OFFSET;
    },
    getPage(va) {
      const p = pa(va);
      refs.set(p, (refs.get(p) ?? 0) + 1);
    },
    putPage(va) {
      const p = pa(va);
      const n = (refs.get(p) ?? 0) - 1;
      if (n < 0) throw new Error(`put_page on free page 0x${p.toString(16)}`);
      if (n === 0) {
        refs.delete(p);
        free.push(p);
      } else refs.set(p, n);
    },
    pageCount: (va) => refs.get(pa(va)) ?? 0,
    physToVirt: (p) => p + VA_OFFSET,
    virtToPhys: (va) => va - VA_OFFSET,
  };
  return { mmOps, live: () => refs.size };
}

function fresh(factory: KvmPgtableFactory, iaBits = 48) {
  const memory = new PhysicalMemory([{ base: RAM_BASE, size: RAM_SIZE }]);
  const pages = testPages(memory);
  const t = factory.hypInit({ iaBits, mmOps: pages.mmOps, memory });
  if (typeof t === "number") throw new Error(`hypInit returned ${t}`);
  return { memory, pages, table: t };
}

function leafPa(pte: bigint): number {
  return Number(pte & 0x0000_ffff_ffff_f000n);
}

/**
 * The MAIR index of `MT_DEVICE_nGnRE` (`asm/memory.h`), the AttrIndx of a
 * `PAGE_HYP_DEVICE` leaf: 5 in v5.13 (MT_NORMAL_WT = 3 and MT_DEVICE_nGnRnE
 * = 4 were still there), 4 once MT_NORMAL_WT was removed.
 */
const DEVICE_ATTR_INDEX: Record<KvmPgtableVersion, number> = { "v5.13": 5, mainline: 4 };

const G = 2 ** 30;
const M2 = 2 ** 21;

/**
 * Runs the kvm_pgtable conformance checks against a factory.
 *
 * @param factory The provider's factory (what it passes to `ctx.provide(KVM_PGTABLE, ...)`).
 * @param t Test context: each check becomes a `t.step`.
 * @returns Resolves when every check passed.
 * @throws {Error} A `ConformanceError` naming the first check that failed.
 * @example
 * ```ts ignore
 * import { kvmPgtableConformance, kvmPgtableFactory } from "../../mod.ts";
 * Deno.test("kvm_pgtable v5.13 conforms", (t) => kvmPgtableConformance(kvmPgtableFactory(), t));
 * ```
 */
export function kvmPgtableConformance(
  factory: KvmPgtableFactory,
  t?: StepContext,
): Promise<void> {
  const va = 0x8000_0000_0000 - 0x4000_0000; // below 2^47
  return runCases(`kvm_pgtable "${factory.name}"`, t, [
    ["hyp_init allocates one zeroed, page-aligned pgd through mm_ops", () => {
      const { table, pages, memory } = fresh(factory);
      expectEqual(pages.live(), 1, "pages allocated by hyp_init");
      expect(table.pgd % PAGE_SIZE === 0, `pgd 0x${table.pgd.toString(16)} is not page-aligned`);
      expect(memory.readBytes(table.pgd, PAGE_SIZE).every((b) => b === 0), "pgd is not zero");
      expectEqual(table.tablePages(), [table.pgd], "table pages after init");
      expectEqual(table.maplets(), [], "maplets of an empty table");
    }],
    ["a 4 KiB PAGE_HYP mapping is a valid level-3 page with the right output address", () => {
      const { table } = fresh(factory);
      expectEqual(table.map(va, PAGE_SIZE, RAM_BASE + 0x5000, PAGE_HYP), 0, "map");
      const leaf = table.getLeaf(va);
      expectEqual(leaf.level, 3, "leaf level");
      expectEqual(Number(leaf.pte & 3n), 3, "descriptor bits[1:0] of a page");
      expectEqual(leafPa(leaf.pte), RAM_BASE + 0x5000, "output address");
      expectEqual(Number((leaf.pte >> 10n) & 1n), 1, "AF");
      expectEqual(Number((leaf.pte >> 54n) & 1n), 1, "XN on a non-executable mapping");
      expectEqual(
        table.maplets(),
        [{ va, pa: RAM_BASE + 0x5000, size: PAGE_SIZE, prot: PAGE_HYP }],
        "maplets",
      );
    }],
    ["2 MiB-aligned ranges use level-2 blocks, misaligned ones use pages", () => {
      const { table } = fresh(factory);
      expectEqual(table.map(va, 2 * M2, RAM_BASE, PAGE_HYP_RO), 0, "map blocks");
      expectEqual(table.getLeaf(va).level, 2, "block level");
      expectEqual(Number(table.getLeaf(va + M2).pte & 3n), 1, "block descriptor bits[1:0]");
      for (const at of [va, va + M2]) {
        expectEqual(
          Number((table.getLeaf(at).pte >> 7n) & 1n),
          1,
          `AP[2] (read-only) of the PAGE_HYP_RO block at 0x${at.toString(16)}`,
        );
      }
      expectEqual(
        table.maplets(),
        [{ va, pa: RAM_BASE, size: 2 * M2, prot: PAGE_HYP_RO }],
        "maplets of the PAGE_HYP_RO blocks",
      );
      expectEqual(table.map(va + 4 * M2 + PAGE_SIZE, M2, RAM_BASE + M2, PAGE_HYP), 0, "map pages");
      expectEqual(table.getLeaf(va + 4 * M2 + PAGE_SIZE).level, 3, "misaligned uses pages");
    }],
    ["PAGE_HYP is writable and PAGE_HYP_DEVICE is writable, never executable Device-nGnRE", () => {
      const { table } = fresh(factory);
      expectEqual(table.map(va, PAGE_SIZE, RAM_BASE, PAGE_HYP), 0, "map PAGE_HYP");
      expectEqual(Number((table.getLeaf(va).pte >> 7n) & 1n), 0, "AP[2] of a PAGE_HYP page");
      const dev = va + G;
      expectEqual(table.map(dev, PAGE_SIZE, RAM_BASE + 0x9000, PAGE_HYP_DEVICE), 0, "map device");
      const { pte, level } = table.getLeaf(dev);
      expectEqual(level, 3, "device leaf level");
      expectEqual(leafPa(pte), RAM_BASE + 0x9000, "device output address");
      expectEqual(
        Number((pte >> 2n) & 7n),
        DEVICE_ATTR_INDEX[factory.version],
        `AttrIndx of a PAGE_HYP_DEVICE page (MT_DEVICE_nGnRE in ${factory.version})`,
      );
      expectEqual(Number((pte >> 54n) & 1n), 1, "XN of a PAGE_HYP_DEVICE page");
      expectEqual(Number((pte >> 7n) & 1n), 0, "AP[2] of a PAGE_HYP_DEVICE page (writable)");
      expectEqual(Number((pte >> 10n) & 1n), 1, "AF of a PAGE_HYP_DEVICE page");
      expectEqual(
        table.maplets(),
        [
          { va, pa: RAM_BASE, size: PAGE_SIZE, prot: PAGE_HYP },
          { va: dev, pa: RAM_BASE + 0x9000, size: PAGE_SIZE, prot: PAGE_HYP_DEVICE },
        ],
        "maplets",
      );
    }],
    ["maplets are maximal merged ranges sorted by VA", () => {
      const { table } = fresh(factory);
      expectEqual(
        table.map(va + 3 * PAGE_SIZE, PAGE_SIZE, RAM_BASE + 0x3000, PAGE_HYP),
        0,
        "map c",
      );
      expectEqual(table.map(va, 2 * PAGE_SIZE, RAM_BASE, PAGE_HYP), 0, "map a");
      expectEqual(
        table.map(va + 2 * PAGE_SIZE, PAGE_SIZE, RAM_BASE + 0x2000, PAGE_HYP),
        0,
        "map b",
      );
      expectEqual(
        table.map(va + 4 * PAGE_SIZE, PAGE_SIZE, RAM_BASE + 0x4000, PAGE_HYP_EXEC),
        0,
        "map x",
      );
      const want: Maplet[] = [
        { va, pa: RAM_BASE, size: 4 * PAGE_SIZE, prot: PAGE_HYP },
        { va: va + 4 * PAGE_SIZE, pa: RAM_BASE + 0x4000, size: PAGE_SIZE, prot: PAGE_HYP_EXEC },
      ];
      expectEqual(table.maplets(), want, "maplets");
    }],
    ["invalid prot is -EINVAL and changes nothing", () => {
      const { table, memory, pages } = fresh(factory);
      expectEqual(table.map(va, PAGE_SIZE, RAM_BASE, PAGE_HYP), 0, "map");
      const digest = memory.digest();
      const live = pages.live();
      for (const prot of [0x2, 0x3, 0x7, 0xd, 0x0]) {
        expectEqual(
          table.map(va + G, PAGE_SIZE, RAM_BASE, prot),
          ERRNO.EINVAL,
          `map prot 0x${prot.toString(16)}`,
        );
      }
      expectEqual(memory.digest(), digest, "memory after rejected maps");
      expectEqual(pages.live(), live, "table pages after rejected maps");
    }],
    ["a range past 2^ia_bits is -ERANGE", () => {
      const { table } = fresh(factory, 39);
      expectEqual(
        table.map(2 ** 39 - PAGE_SIZE, 2 * PAGE_SIZE, RAM_BASE, PAGE_HYP),
        ERRNO.ERANGE,
        "map",
      );
    }],
    ["walk visits leaves in VA order with LEAF, tables with TABLE_PRE before TABLE_POST", () => {
      const { table } = fresh(factory);
      table.map(va, PAGE_SIZE, RAM_BASE, PAGE_HYP);
      table.map(va + M2, PAGE_SIZE, RAM_BASE + M2, PAGE_HYP);
      const seen: string[] = [];
      const rc = table.walk(va, 2 * M2, {
        flags: WALK.LEAF | WALK.TABLE_PRE | WALK.TABLE_POST,
        cb(v) {
          const kind = v.flag === WALK.LEAF ? "leaf" : v.flag === WALK.TABLE_PRE ? "pre" : "post";
          if (kind !== "leaf" || (v.pte & 1n) === 1n) {
            seen.push(`${kind}@${v.level}:${(v.addr - va).toString(16)}`);
          }
          return 0;
        },
      });
      expectEqual(rc, 0, "walk return");
      expect(
        seen.indexOf("leaf@3:0") < seen.indexOf("leaf@3:200000"),
        `leaf order: ${seen.join(" ")}`,
      );
      expect(
        seen.indexOf("pre@2:0") < seen.indexOf("post@2:0"),
        `pre before post: ${seen.join(" ")}`,
      );
      expectEqual(seen.filter((s) => s.startsWith("leaf")).length, 2, "valid leaves");
    }],
    ["a visitor's error stops the walk and is returned", () => {
      const { table } = fresh(factory);
      table.map(va, 4 * PAGE_SIZE, RAM_BASE, PAGE_HYP);
      let n = 0;
      const rc = table.walk(va, 4 * PAGE_SIZE, {
        flags: WALK.LEAF,
        cb: () => (++n === 2 ? ERRNO.EBUSY : 0),
      });
      expectEqual([rc, n], [ERRNO.EBUSY, 2], "[return, visits]");
    }],
    ["1 GiB of 4 KiB pages from an empty 48-bit table uses 515 table pages", () => {
      const { table } = fresh(factory);
      // 4 KiB-misaligned phys keeps every leaf at level 3 (no 2 MiB block fits).
      expectEqual(table.map(0x4000_0000_0000, G, RAM_BASE + PAGE_SIZE, PAGE_HYP), 0, "map");
      expectEqual(
        table.tablePages().length,
        1 + 1 + 1 + 512,
        "table pages (pgd, pud, pmd, 512 pte)",
      );
    }],
    ["destroy puts back every table page", () => {
      const { table, pages } = fresh(factory);
      table.map(va, 8 * M2 + PAGE_SIZE, RAM_BASE + PAGE_SIZE, PAGE_HYP);
      table.destroy();
      expectEqual(pages.live(), 0, "live pages after destroy");
    }],
  ]);
}
