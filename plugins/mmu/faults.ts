/**
 * MMU fault values and the sentences that explain them.
 *
 * @module
 */

import {
  type AccessKind,
  hex,
  type MmuFault,
  type MmuFaultKind,
  mmuFaultStatusCode,
  pteOf,
  type TlbEntry,
  type TlbWalkEntry,
} from "../../core/mod.ts";
import type { RegimeConfig } from "./regime.ts";
import { WALK_FAULT, type WalkState } from "./table_walk.ts";

const KIND_NAME: Readonly<Record<MmuFaultKind, string>> = {
  translation: "Translation fault",
  access_flag: "Access flag fault",
  permission: "Permission fault",
  address_size: "Address size fault",
  alignment: "Alignment fault",
  external_abort: "Synchronous external abort",
  external_abort_on_walk: "Synchronous external abort on translation table walk",
};

const ACCESS_NAME: Readonly<Record<AccessKind, string>> = {
  read: "read",
  write: "write",
  exec: "instruction fetch",
};

/**
 * Builds a fault value with its status code and a message
 * `"<Kind> at level <L> on <access> of VA <va>: <reason>"`.
 *
 * @param kind Fault kind.
 * @param level Lookup level (0 for kinds without one).
 * @param va Faulting VA.
 * @param access Access kind.
 * @param reason Why, naming the value and the rule.
 * @returns The fault.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mmuFault } from "./faults.ts";
 * const f = mmuFault("permission", 3, 0x1000, "write", "mapping is read-only (AP[2] = 1)");
 * assertEquals(f.fsc, 0x0f);
 * assertEquals(f.message, "Permission fault at level 3 on write of VA 0x1000: mapping is read-only (AP[2] = 1)");
 * ```
 */
export function mmuFault(
  kind: MmuFaultKind,
  level: number,
  va: number,
  access: AccessKind,
  reason: string,
): MmuFault {
  const where = kind === "alignment" || kind === "external_abort" ? "" : ` at level ${level}`;
  return {
    kind: "fault",
    fault: kind,
    level,
    va,
    access,
    fsc: mmuFaultStatusCode(kind, level),
    message: `${KIND_NAME[kind]}${where} on ${ACCESS_NAME[access]} of VA ${hex(va)}: ${reason}`,
  };
}

function descHex(lo: number, hi: number): string {
  return hex(pteOf(lo, hi));
}

/**
 * The fault a walk stopped with.
 *
 * @param s A walk that found no leaf.
 * @param cfg The regime walked.
 * @param va The VA.
 * @param access The access.
 * @returns The fault value.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PhysicalMemory } from "../../core/mod.ts";
 * import { walkFault } from "./faults.ts";
 * import { decodeRegime } from "./regime.ts";
 * import { walkTables, WalkState } from "./table_walk.ts";
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
 * const cfg = decodeRegime(0x30C50831n, 0x80803522n, 0x4000_0000n, 0n, 5n);
 * const s = new WalkState();
 * walkTables(mem, cfg, 0x5000, s);
 * assertEquals(walkFault(s, cfg, 0x5000, "read").fsc, 0x06); // translation, level 2
 * ```
 */
export function walkFault(
  s: WalkState,
  cfg: RegimeConfig,
  va: number,
  access: AccessKind,
): MmuFault {
  const d = () => `descriptor ${descHex(s.lo, s.hi)} at PA ${hex(s.descPa)}`;
  switch (s.fault) {
    case WALK_FAULT.T0SZ:
      return mmuFault(
        "translation",
        0,
        va,
        access,
        `TCR_EL2.T0SZ = ${cfg.t0sz} is outside ${cfg.ds ? "12" : "16"}..39 for the 4 KiB granule${
          cfg.ds ? " with DS" : ""
        }`,
      );
    case WALK_FAULT.VA_RANGE:
      return mmuFault(
        "translation",
        0,
        va,
        access,
        `the VA is outside the ${cfg.iaBits}-bit input range (TCR_EL2.T0SZ = ${cfg.t0sz})`,
      );
    case WALK_FAULT.BASE_RANGE:
      return mmuFault(
        "address_size",
        0,
        va,
        access,
        `TTBR0_EL2 base ${
          hex(cfg.ttbrAddr)
        } is beyond the ${cfg.psBits}-bit output size (TCR_EL2.PS)`,
      );
    case WALK_FAULT.EPD0:
      return mmuFault(
        "translation",
        0,
        va,
        access,
        "TCR_EL2.EPD0 = 1 (E2H = 1 layout): walks from TTBR0_EL2 are disabled",
      );
    case WALK_FAULT.INVALID:
      return mmuFault("translation", s.level, va, access, `${d()} is invalid`);
    case WALK_FAULT.BLOCK_L0:
      return mmuFault(
        "translation",
        s.level,
        va,
        access,
        `${d()} is a block, invalid at level ${s.level} with the 4 KiB granule${
          s.level === 0 ? " (without TCR.DS)" : ""
        }`,
      );
    case WALK_FAULT.RESERVED_L3:
      return mmuFault(
        "translation",
        3,
        va,
        access,
        `${d()} uses the reserved level-3 encoding (bits[1:0] = 0b01)`,
      );
    case WALK_FAULT.OA_RANGE: {
      const oa = cfg.ds
        ? (s.hi & 0x3ffff) * 2 ** 32 + ((s.lo & 0xfffff000) >>> 0) + ((s.lo >>> 8) & 3) * 2 ** 50
        : (s.hi & 0xffff) * 2 ** 32 + ((s.lo & 0xfffff000) >>> 0);
      return mmuFault(
        "address_size",
        s.level,
        va,
        access,
        `${d()} points at ${hex(oa)}, beyond the ${cfg.psBits}-bit output size (TCR_EL2.PS)`,
      );
    }
    case WALK_FAULT.ACCESS_FLAG:
      return mmuFault("access_flag", s.level, va, access, `${d()} has AF = 0`);
    case WALK_FAULT.EXTERNAL:
      return mmuFault(
        "external_abort_on_walk",
        s.level,
        va,
        access,
        `the descriptor at PA ${hex(s.descPa)} is outside every RAM bank`,
      );
    default:
      throw new Error(`walkFault called for a walk that found a leaf (code ${s.fault})`);
  }
}

/**
 * The permission fault of an access to a mapping, or undefined when allowed
 * (EL2 regime: reads always allowed; AP[1] is ignored).
 *
 * @param level Leaf level.
 * @param va The VA.
 * @param access The access.
 * @param ro Read-only.
 * @param xn Execute-never (before WXN).
 * @param wxn SCTLR_EL2.WXN.
 * @param fromTable Which bit made it so came from a table descriptor: `[APTable, XNTable]`.
 * @param e2h The EL2&0 regime (HCR_EL2.E2H = 1): the bits are PXN and PXNTable.
 * @returns The fault or undefined.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { permissionFault } from "./faults.ts";
 * assertEquals(permissionFault(3, 0x1000, "exec", false, false, true)?.fsc, 0x0f);
 * assertEquals(permissionFault(3, 0x1000, "read", true, true, true), undefined);
 * ```
 */
export function permissionFault(
  level: number,
  va: number,
  access: AccessKind,
  ro: boolean,
  xn: boolean,
  wxn: boolean,
  fromTable: readonly [boolean, boolean] = [false, false],
  e2h = false,
): MmuFault | undefined {
  if (access === "write" && ro) {
    return mmuFault(
      "permission",
      level,
      va,
      access,
      fromTable[0]
        ? "the mapping is read-only (APTable[1] = 1 in a table descriptor)"
        : "the mapping is read-only (AP[2] = 1)",
    );
  }
  if (access === "exec" && xn) {
    return mmuFault(
      "permission",
      level,
      va,
      access,
      fromTable[1]
        ? `the mapping is execute-never (${e2h ? "PXNTable" : "XNTable"} = 1 in a table descriptor)`
        : e2h
        ? "the mapping is execute-never at EL2 (PXN = 1, or writable at EL0)"
        : "the mapping is execute-never (XN = 1)",
    );
  }
  if (access === "exec" && wxn && !ro) {
    return mmuFault(
      "permission",
      level,
      va,
      access,
      "the mapping is writable and SCTLR_EL2.WXN = 1 makes it execute-never",
    );
  }
  return undefined;
}

/**
 * One line describing what a TLB entry translates `va` to (for `tlb_stale`).
 * Execute permission is shown after WXN: `XN` (the descriptor or XNTable),
 * `XN(WXN)` (writable with SCTLR_EL2.WXN = 1) or `X`.
 *
 * @param e The entry.
 * @param va A VA it covers.
 * @param ro Read-only.
 * @param xn Execute-never (before WXN).
 * @param attrs MAIR attribute byte.
 * @param wxn SCTLR_EL2.WXN the entry is used with.
 * @returns The description.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { describeEntry } from "./faults.ts";
 * const e = { regime: "EL2", base: 0x4000_0000, va: 0x1000, size: 4096, pa: 0x4100_0000, level: 3,
 *   pte: 0x0040000041000743n, speculative: false } as const;
 * assertEquals(describeEntry(e, 0x1008, false, true, 0xff),
 *   "PA 0x41000008 level 3 RW XN attrs 0xff (pte 0x40000041000743 from table 0x40000000)");
 * assertEquals(describeEntry(e, 0x1008, false, false, 0xff, true).slice(0, 32),
 *   "PA 0x41000008 level 3 RW XN(WXN)");
 * ```
 */
export function describeEntry(
  e: TlbEntry,
  va: number,
  ro: boolean,
  xn: boolean,
  attrs: number,
  wxn = false,
): string {
  return `PA ${hex(e.pa + (va - e.va))} level ${e.level} ${ro ? "RO" : "RW"} ${
    execName(ro, xn, wxn)
  } attrs ${hex(attrs)} (pte ${hex(e.pte)} from table ${hex(e.base)})`;
}

function execName(ro: boolean, xn: boolean, wxn: boolean): string {
  return xn ? "XN" : wxn && !ro ? "XN(WXN)" : "X";
}

/**
 * One line describing what a walk gives for `va` (for `tlb_stale`).
 *
 * @param s The walk.
 * @param cfg The regime.
 * @param va The VA.
 * @param via The walk-cache entry the walk started from, if any: named in
 *   place of the table base.
 * @returns The description: the translation, or the fault message.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PhysicalMemory } from "../../core/mod.ts";
 * import { describeWalk } from "./faults.ts";
 * import { decodeRegime } from "./regime.ts";
 * import { walkTables, WalkState } from "./table_walk.ts";
 * const mem = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10_0000 }]);
 * const cfg = decodeRegime(0x30C50831n, 0x80803522n, 0x4000_0000n, 0n, 5n);
 * const s = new WalkState();
 * walkTables(mem, cfg, 0x5000, s);
 * assertEquals(describeWalk(s, cfg, 0x5000).startsWith("Translation fault at level 2"), true);
 * ```
 */
export function describeWalk(
  s: WalkState,
  cfg: RegimeConfig,
  va: number,
  via?: TlbWalkEntry,
): string {
  const from = via === undefined
    ? `from table ${hex(cfg.base)}`
    : `via the level-${via.level} walk-cache entry for table ${hex(via.table)}, walked from table ${
      hex(via.base)
    }`;
  if (s.fault !== WALK_FAULT.NONE) {
    const m = walkFault(s, cfg, va, "read").message;
    return via === undefined ? m : `${m} (${from})`;
  }
  const pte = (BigInt(s.hi) << 32n) | BigInt(s.lo);
  return `PA ${hex(s.outPa + (va - s.blockVa))} level ${s.level} ${s.ro ? "RO" : "RW"} ${
    execName(s.ro, s.xn, cfg.wxn)
  } attrs ${hex(cfg.mairAttrs[s.attrIdx]!)} (pte ${hex(pte)} ${from})`;
}
