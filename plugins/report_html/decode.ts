/**
 * Values decoded by name for the hover texts, with the simulator's own
 * definitions: `KVM_PGTABLE_PROT` flags behind a `PAGE_HYP*` name, a leaf
 * descriptor through `decodeHypPte`, a system register through its Arm ARM
 * fields (`SYSREG_DEFS`). The page states facts the report holds; it
 * derives none of its own.
 *
 * @module
 */

import {
  formatSize,
  hex,
  KVM_PGTABLE_PROT,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  SYSREG_DEFS,
} from "../../core/mod.ts";
import { decodeHypPte, hypPteProt, protName } from "../kvm_pgtable/mod.ts";
import type { ProtClass } from "./svg.ts";

const NAMED: Readonly<Record<string, number>> = {
  PAGE_HYP,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  PAGE_HYP_DEVICE,
};

/**
 * Which named protection a report prot (`PAGE_HYP_RO|SHARED_OWNED`) is.
 *
 * @param prot The report's prot text.
 * @returns Its class (`other` for a hex value).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { protClass } from "./decode.ts";
 * assertEquals(protClass("PAGE_HYP_RO|SHARED_OWNED"), "ro");
 * assertEquals(protClass("0x18"), "other");
 * ```
 */
export function protClass(prot: string): ProtClass {
  const base = prot.split("|")[0]!;
  switch (base) {
    case "PAGE_HYP":
      return "rw";
    case "PAGE_HYP_EXEC":
      return "rx";
    case "PAGE_HYP_RO":
      return "ro";
    case "PAGE_HYP_DEVICE":
      return "dev";
    default:
      return "other";
  }
}

/**
 * A report prot spelled out: the `KVM_PGTABLE_PROT` flags behind the macro
 * and the page state kept in the software bits.
 *
 * @param prot The report's prot text.
 * @returns One line.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { protText } from "./decode.ts";
 * assertEquals(protText("PAGE_HYP_EXEC"), "PAGE_HYP_EXEC = KVM_PGTABLE_PROT_R | KVM_PGTABLE_PROT_X");
 * ```
 */
export function protText(prot: string): string {
  const [base, ...state] = prot.split("|");
  const v = NAMED[base!];
  if (v === undefined) return `prot ${prot} (no PAGE_HYP* name)`;
  const flags = (["R", "W", "X", "DEVICE"] as const).filter((f) => (v & KVM_PGTABLE_PROT[f]) !== 0)
    .map((f) => `KVM_PGTABLE_PROT_${f}`);
  const s = state.length
    ? `; page state ${state.join("|")} (enum pkvm_page_state, in the software bits)`
    : "";
  return `${base} = ${flags.join(" | ")}${s}`;
}

/** A leaf descriptor's attributes (output address cleared), decoded. */
export interface LeafAttr {
  /** Class for the fill. */
  cls: ProtClass;
  /** `PAGE_HYP`, `PAGE_HYP_RO|SW0`, `R|X`. */
  prot: string;
  /** `AttrIndx 0 (MAIR_EL2 0xff), AP 1, SH 3, AF 1, XN 1, ...`. */
  fields: string;
}

/**
 * Decodes the attributes of an observed leaf (`attr`: the descriptor with
 * its output address cleared) as `kvm_pgtable_hyp_pte_prot` and the Arm ARM
 * field names read them.
 *
 * @param attr The attributes (hex).
 * @param version Kernel release (device AttrIndx, software bits).
 * @param mair MAIR_EL2, to show the attribute AttrIndx selects.
 * @returns The decoded attributes.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { leafAttr } from "./decode.ts";
 * assertEquals(leafAttr("0x40000000000743", "v6.1").prot, "PAGE_HYP");
 * ```
 */
export function leafAttr(attr: string, version: string, mair?: string): LeafAttr {
  const pte = BigInt(attr);
  // Bit 1 set is a page (level 3); clear, a block (levels 1-2).
  const level = (pte & 2n) !== 0n ? 3 : 2;
  const d = decodeHypPte(pte, level, { version });
  const prot = protName(hypPteProt(pte, { version }));
  const byte = mair === undefined ? undefined : (BigInt(mair) >> BigInt(8 * d.attrIndx)) & 0xffn;
  const fields = [
    `${d.type}`,
    `AttrIndx ${d.attrIndx}${
      byte === undefined ? "" : ` (MAIR_EL2 Attr${d.attrIndx} ${hex(byte)})`
    }`,
    `AP ${d.ap}`,
    `SH ${d.sh}`,
    `AF ${d.af ? 1 : 0}`,
    `XN ${d.xn ? 1 : 0}`,
    `PXN ${(pte >> 53n) & 1n}`,
    `GP ${d.gp ? 1 : 0}`,
    `SW ${d.sw}`,
  ].join(", ");
  return { cls: protClass(prot), prot, fields };
}

/**
 * A system register's value by its named fields (the non-zero ones).
 *
 * @param name Register (`TCR_EL2`).
 * @param value Its value (hex).
 * @param fields The layout to read it by (default: the register's
 *   declaration, the nVHE layout), e.g. an E2H layout.
 * @returns `T0SZ=16 IRGN0=1 ...`, or the value when the register has no fields.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sysregFields } from "./decode.ts";
 * assertEquals(sysregFields("TTBR0_EL2", "0x13e006001"), "CnP=1 BADDR=0x9f003000");
 * assertEquals(sysregFields("CPTR_EL2", "0x300000", { FPEN: [20, 2] }), "FPEN=3");
 * ```
 */
export function sysregFields(
  name: string,
  value: string,
  fields: Readonly<Record<string, readonly [number, number]>> | undefined = SYSREG_DEFS[name]
    ?.fields,
): string {
  let v: bigint;
  try {
    v = BigInt(value);
  } catch {
    return value;
  }
  if (fields === undefined || Object.keys(fields).length === 0) return value;
  const out: string[] = [];
  const entries = Object.entries(fields).sort((a, b) => a[1][0] - b[1][0]);
  for (const [field, [lo, width]] of entries) {
    const f = (v >> BigInt(lo)) & ((1n << BigInt(width)) - 1n);
    if (f === 0n) continue;
    out.push(`${field}=${width > 4 ? hex(f) : f.toString()}`);
  }
  return out.length ? out.join(" ") : "all named fields 0";
}

/**
 * A range in words: `0x… – 0x… (size)`.
 *
 * @param start First address.
 * @param size Bytes.
 * @returns Text.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { rangeText } from "./decode.ts";
 * assertEquals(rangeText(0x1000, 0x2000), "0x1000 – 0x3000 (8 KiB)");
 * ```
 */
export function rangeText(start: number, size: number): string {
  return `${hex(start)} – ${hex(start + size)} (${formatSize(size)})`;
}
