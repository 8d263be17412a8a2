/**
 * The field-by-field comparison of a real kernel's observed EL2 state with
 * hyplab's prediction: the pool, each EL2 register the recording has (the
 * differing fields by their Arm ARM names, in the E2H layout where
 * HCR_EL2.E2H selects it), the table page count, every maplet (which one,
 * and which attribute bits differ, decoded) and, when the recording has
 * them, the host stage-2's geometry and owner annotations and each CPU's
 * `kvm_hyp_vector`. What an older recording lacks is not compared, and the
 * comparison says so.
 *
 * @module
 */

import { hex, SYSREG_DEFS } from "../../core/mod.ts";
import type {
  HexAnnotation,
  HexMapping,
  Observation,
  ObservedHostStage2,
  ObservedSysregs,
} from "./observation.ts";
import { OBSERVED_SYSREGS } from "./observation.ts";

/** One field that differs inside a register or a descriptor. */
export interface FieldDifference {
  /** Field name (`PS`, `AttrIndx`, `bit 37`). */
  field: string;
  /** Bits it occupies, `hi:lo` or `n`. */
  bits: string;
  /** The real kernel's value. */
  observed: string;
  /** hyplab's value. */
  predicted: string;
}

/** One disagreement. */
export interface Difference {
  /**
   * Where: `mode`, `reserve.base`, `sysregs.TCR_EL2`, `el2.table_pages`,
   * `el2.mappings[0x400000000000]`, ...
   */
  path: string;
  /** The real kernel's value (absent: hyplab has something the kernel has not). */
  observed?: string;
  /** hyplab's value (absent: the kernel has something hyplab has not). */
  predicted?: string;
  /** For registers and descriptors: the fields that differ. */
  fields?: FieldDifference[];
}

/** The comparison. */
export interface OracleDiff {
  /** Every compared field agrees. */
  agree: boolean;
  /** The disagreements, in report order. */
  differences: Difference[];
  /** Fields compared (registers count once each, maplets once each). */
  compared: number;
  /**
   * What hyplab predicts but this recording does not have (an older
   * observer's): `VBAR_EL2`, `host_s2`, `kvm_hyp_vector`, ... Not compared.
   */
  notRecorded: string[];
}

/** Named fields of a register or descriptor: name → `[lsb, width]`. */
export type Fields = Readonly<Record<string, readonly [number, number]>>;

/** Stage-1 leaf descriptor fields (attr: the descriptor with its output address cleared). */
const LEAF_FIELDS: Fields = {
  valid: [0, 1],
  type: [1, 1],
  AttrIndx: [2, 3],
  NS: [5, 1],
  AP: [6, 2],
  SH: [8, 2],
  AF: [10, 1],
  nG: [11, 1],
  GP: [50, 1],
  DBM: [51, 1],
  Contiguous: [52, 1],
  PXN: [53, 1],
  "XN/UXN": [54, 1],
  SW: [55, 4],
};

/**
 * TCR_EL2 with HCR_EL2.E2H = 1: TCR_EL1's layout (Arm ARM D19, TCR_EL1),
 * the one hVHE writes.
 */
const TCR_E2H_FIELDS: Fields = {
  T0SZ: [0, 6],
  EPD0: [7, 1],
  IRGN0: [8, 2],
  ORGN0: [10, 2],
  SH0: [12, 2],
  TG0: [14, 2],
  T1SZ: [16, 6],
  A1: [22, 1],
  EPD1: [23, 1],
  IRGN1: [24, 2],
  ORGN1: [26, 2],
  SH1: [28, 2],
  TG1: [30, 2],
  IPS: [32, 3],
  AS: [36, 1],
  TBI0: [37, 1],
  TBI1: [38, 1],
  HA: [39, 1],
  HD: [40, 1],
  HPD0: [41, 1],
  HPD1: [42, 1],
  TBID0: [51, 1],
  TBID1: [52, 1],
  NFD0: [53, 1],
  NFD1: [54, 1],
  E0PD0: [55, 1],
  E0PD1: [56, 1],
  TCMA0: [57, 1],
  TCMA1: [58, 1],
  DS: [59, 1],
};

/**
 * CPTR_EL2 with HCR_EL2.E2H = 1: CPACR_EL1's layout (Arm ARM D19, CPTR_EL2,
 * "When HCR_EL2.E2H is 1"), the one hVHE's `___kvm_hyp_init` writes.
 */
const CPTR_E2H_FIELDS: Fields = {
  ZEN: [16, 2],
  FPEN: [20, 2],
  SMEN: [24, 2],
  TTA: [28, 1],
  E0POE: [29, 1],
  TAM: [30, 1],
  TCPAC: [31, 1],
};

/**
 * CNTHCTL_EL2 with HCR_EL2.E2H = 1: the EL0 controls in CNTKCTL_EL1's
 * places and the EL1 ones moved up by 10 (Arm ARM D19, CNTHCTL_EL2).
 */
const CNTHCTL_E2H_FIELDS: Fields = {
  EL0PCTEN: [0, 1],
  EL0VCTEN: [1, 1],
  EVNTEN: [2, 1],
  EVNTDIR: [3, 1],
  EVNTI: [4, 4],
  EL0VTEN: [8, 1],
  EL0PTEN: [9, 1],
  EL1PCTEN: [10, 1],
  EL1PTEN: [11, 1],
  ECV: [12, 1],
  EL1TVT: [13, 1],
  EL1TVCT: [14, 1],
  EL1NVPCT: [15, 1],
  EL1NVVCT: [16, 1],
  EVNTIS: [17, 1],
};

const E2H_FIELDS: Readonly<Record<string, Fields>> = {
  TCR_EL2: TCR_E2H_FIELDS,
  CPTR_EL2: CPTR_E2H_FIELDS,
  CNTHCTL_EL2: CNTHCTL_E2H_FIELDS,
};

/**
 * The fields a register's value is named by: its E2H layout where
 * HCR_EL2.E2H = 1 gives it one (TCR_EL2, CPTR_EL2, CNTHCTL_EL2), else its
 * declaration's (the nVHE layout).
 *
 * @param name Register name.
 * @param e2h HCR_EL2.E2H of the CPU it was read on.
 * @returns Field layout (empty for a register without named fields).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { registerFields } from "./diff.ts";
 * assertEquals(registerFields("CPTR_EL2", true).FPEN, [20, 2]);
 * assertEquals(registerFields("CPTR_EL2", false).TFP, [10, 1]);
 * ```
 */
export function registerFields(name: string, e2h = false): Fields {
  if (e2h && E2H_FIELDS[name] !== undefined) return E2H_FIELDS[name];
  return (SYSREG_DEFS[name]?.fields ?? {}) as Fields;
}

const e2hOf = (regs: ObservedSysregs): boolean => ((BigInt(regs.HCR_EL2) >> 34n) & 1n) === 1n;

function bitsText(lo: number, width: number): string {
  return width === 1 ? `${lo}` : `${lo + width - 1}:${lo}`;
}

/**
 * The fields in which two values differ: each named field that covers a
 * differing bit, then each remaining bit on its own.
 *
 * @param a The real kernel's value.
 * @param b hyplab's value.
 * @param fields Field layout.
 * @returns The differing fields, lowest first.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { differingFields } from "./diff.ts";
 * assertEquals(differingFields(0x8085_3510n, 0x8084_3510n, { PS: [16, 3] }), [
 *   { field: "PS", bits: "18:16", observed: "5", predicted: "4" },
 * ]);
 * ```
 */
export function differingFields(a: bigint, b: bigint, fields: Fields): FieldDifference[] {
  let x = a ^ b;
  const out: FieldDifference[] = [];
  const named = Object.entries(fields).sort((p, q) => p[1][0] - q[1][0]);
  for (const [name, [lo, width]] of named) {
    const mask = ((1n << BigInt(width)) - 1n) << BigInt(lo);
    if ((x & mask) === 0n) continue;
    x &= ~mask;
    const get = (v: bigint) => (v & mask) >> BigInt(lo);
    out.push({
      field: name,
      bits: bitsText(lo, width),
      observed: width > 4 ? hex(get(a)) : `${get(a)}`,
      predicted: width > 4 ? hex(get(b)) : `${get(b)}`,
    });
  }
  for (let i = 0; i < 64 && x !== 0n; i++) {
    const bit = 1n << BigInt(i);
    if ((x & bit) === 0n) continue;
    x &= ~bit;
    out.push({
      field: `bit ${i}`,
      bits: `${i}`,
      observed: `${(a >> BigInt(i)) & 1n}`,
      predicted: `${(b >> BigInt(i)) & 1n}`,
    });
  }
  return out.sort((p, q) => Number.parseInt(p.bits) - Number.parseInt(q.bits));
}

/**
 * Compares a real kernel's observed state with hyplab's prediction.
 *
 * @param observed The observation's `observed` section.
 * @param predicted hyplab's, in the same shape.
 * @returns Every difference.
 * @example
 * ```ts ignore
 * import { diffObserved, parseObservation, predict } from "./mod.ts";
 * const obs = parseObservation(await Deno.readTextFile("obs.json"), "obs.json");
 * const d = diffObserved(obs.observed, (await predict(obs)).observed);
 * console.log(d.agree);
 * ```
 */
export function diffObserved(
  observed: Observation["observed"],
  predicted: Observation["observed"],
): OracleDiff {
  const out: Difference[] = [];
  let compared = 0;
  const scalar = (path: string, a: string | number, b: string | number) => {
    compared++;
    if (String(a) !== String(b)) out.push({ path, observed: String(a), predicted: String(b) });
  };
  scalar("mode", observed.mode, predicted.mode);
  scalar("reserve.base", observed.reserve.base, predicted.reserve.base);
  scalar("reserve.size", observed.reserve.size, predicted.reserve.size);
  scalar("reserve.request.size", observed.reserve.request.size, predicted.reserve.request.size);
  scalar("reserve.request.align", observed.reserve.request.align, predicted.reserve.request.align);
  const notRecorded: string[] = [];
  // A register an older recording lacks is not compared (and named as such).
  const names = OBSERVED_SYSREGS.filter((n) => {
    if (observed.sysregs[n] !== undefined) return true;
    if (predicted.sysregs[n] !== undefined) notRecorded.push(n);
    return false;
  });
  for (const name of names) {
    compared++;
    const a = observed.sysregs[name]!;
    const b = predicted.sysregs[name];
    if (b !== undefined && BigInt(a) === BigInt(b)) continue;
    out.push(registerDifference(`sysregs.${name}`, name, a, b, e2hOf(observed.sysregs)));
  }
  compared += diffPerCpu(observed, predicted, names, out);
  scalar("el2.va_bits", observed.el2.va_bits, predicted.el2.va_bits);
  scalar("el2.start_level", observed.el2.start_level, predicted.el2.start_level);
  scalar("el2.table_pages", observed.el2.table_pages, predicted.el2.table_pages);
  compared += diffMappings(observed.el2.mappings, predicted.el2.mappings, out);
  // A recording without the host stage-2 (an older oracle) compares none of it.
  const s2 = observed.host_s2;
  if (s2 === undefined && predicted.host_s2 !== undefined) notRecorded.push("host_s2");
  if (s2 !== undefined) {
    const p = predicted.host_s2;
    if (p === undefined) {
      compared++;
      out.push({ path: "host_s2", observed: describeS2(s2) });
    } else {
      scalar("host_s2.ia_bits", s2.ia_bits, p.ia_bits);
      scalar("host_s2.start_level", s2.start_level, p.start_level);
      scalar("host_s2.pgd", s2.pgd, p.pgd);
      scalar("host_s2.pgd_pages", s2.pgd_pages, p.pgd_pages);
      compared += diffAnnotations(s2.annotations, p.annotations, out);
    }
  }
  const vectors = observed.kvm_hyp_vector;
  if (vectors === undefined && predicted.kvm_hyp_vector !== undefined) {
    notRecorded.push("kvm_hyp_vector");
  }
  if (vectors !== undefined) {
    const p = predicted.kvm_hyp_vector ?? [];
    for (let cpu = 0; cpu < Math.max(vectors.length, p.length); cpu++) {
      const a = vectors[cpu];
      const b = p[cpu];
      compared++;
      if (a !== undefined && b !== undefined && BigInt(a) === BigInt(b)) continue;
      out.push({
        path: `kvm_hyp_vector[${cpu}]`,
        ...(a === undefined ? {} : { observed: a }),
        ...(b === undefined ? {} : { predicted: b }),
      });
    }
  }
  return { agree: out.length === 0, differences: out, compared, notRecorded };
}

/** A register that differs, or that hyplab does not predict. */
function registerDifference(
  path: string,
  name: string,
  a: string,
  b: string | undefined,
  e2h: boolean,
): Difference {
  if (b === undefined) return { path, observed: a };
  return {
    path,
    observed: a,
    predicted: b,
    fields: differingFields(BigInt(a), BigInt(b), registerFields(name, e2h)),
  };
}

function describeS2(s: ObservedHostStage2): string {
  return `${s.ia_bits}-bit IPA from level ${s.start_level}, pgd ${s.pgd} (${s.pgd_pages} pages), ${s.annotations.length} annotation runs`;
}

/** An owner annotation's fields: 7.x's (type 63:60, owner 3:1), and 6.x's owner in 9:2. */
const ANNOTATION_FIELDS_7: Fields = { owner: [1, 3], meta: [4, 56], type: [60, 4] };
const ANNOTATION_FIELDS_6: Fields = { owner: [2, 8] };

/** Annotation runs by IPA: each only on one side, or differing in size or descriptor. */
function diffAnnotations(
  observed: readonly HexAnnotation[],
  predicted: readonly HexAnnotation[],
  out: Difference[],
): number {
  const byIpa = new Map<bigint, [HexAnnotation | undefined, HexAnnotation | undefined]>();
  for (const a of observed) byIpa.set(BigInt(a.ipa), [a, undefined]);
  for (const b of predicted) byIpa.set(BigInt(b.ipa), [byIpa.get(BigInt(b.ipa))?.[0], b]);
  const keys = [...byIpa.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const text = (a: HexAnnotation) => `size ${a.size} desc ${a.desc}`;
  for (const k of keys) {
    const [a, b] = byIpa.get(k)!;
    const path = `host_s2.annotations[0x${k.toString(16)}]`;
    if (a === undefined) {
      out.push({ path, predicted: text(b!) });
      continue;
    }
    if (b === undefined) {
      out.push({ path, observed: text(a) });
      continue;
    }
    if (BigInt(a.size) === BigInt(b.size) && BigInt(a.desc) === BigInt(b.desc)) continue;
    // A type in bits 63:60 is 7.x's encoding; otherwise 6.x's owner id in 9:2.
    const typed = BigInt(a.desc) >> 60n !== 0n || BigInt(b.desc) >> 60n !== 0n;
    const fields = differingFields(
      BigInt(a.desc),
      BigInt(b.desc),
      typed ? ANNOTATION_FIELDS_7 : ANNOTATION_FIELDS_6,
    );
    if (BigInt(a.size) !== BigInt(b.size)) {
      fields.unshift({ field: "size", bits: "-", observed: a.size, predicted: b.size });
    }
    out.push({ path, observed: text(a), predicted: text(b), fields });
  }
  return keys.length;
}

/**
 * CPUs 1.. register by register (CPU 0 is `sysregs`); a side without
 * `sysregs_per_cpu` has every CPU equal to its CPU 0. Only the registers
 * the recording has are compared.
 */
function diffPerCpu(
  observed: Observation["observed"],
  predicted: Observation["observed"],
  names: readonly (keyof ObservedSysregs)[],
  out: Difference[],
): number {
  const a = observed.sysregs_per_cpu;
  const b = predicted.sysregs_per_cpu;
  if (a === undefined && b === undefined) return 0;
  const nr = Math.max(a?.length ?? 0, b?.length ?? 0);
  let compared = 0;
  for (let cpu = 1; cpu < nr; cpu++) {
    const regsA = a?.[cpu] ?? observed.sysregs;
    const regsB = b?.[cpu] ?? predicted.sysregs;
    for (const name of names) {
      compared++;
      const x = regsA[name]!;
      const y = regsB[name];
      if (y !== undefined && BigInt(x) === BigInt(y)) continue;
      out.push(registerDifference(`sysregs_per_cpu[${cpu}].${name}`, name, x, y, e2hOf(regsA)));
    }
  }
  return compared;
}

function mappingText(m: HexMapping): string {
  return `-> ${m.pa} size ${m.size} attr ${m.attr}`;
}

/** Maplets by VA: each only on one side, or differing in PA, size or attribute bits. */
function diffMappings(
  observed: readonly HexMapping[],
  predicted: readonly HexMapping[],
  out: Difference[],
): number {
  const byVa = new Map<string, [HexMapping | undefined, HexMapping | undefined]>();
  for (const m of observed) byVa.set(BigInt(m.va).toString(16), [m, undefined]);
  for (const m of predicted) {
    const k = BigInt(m.va).toString(16);
    byVa.set(k, [byVa.get(k)?.[0], m]);
  }
  const keys = [...byVa.keys()].sort((x, y) => {
    const a = BigInt(`0x${x}`);
    const b = BigInt(`0x${y}`);
    return a < b ? -1 : a > b ? 1 : 0;
  });
  for (const k of keys) {
    const [a, b] = byVa.get(k)!;
    const path = `el2.mappings[0x${k}]`;
    if (a === undefined) {
      out.push({ path, predicted: mappingText(b!) });
      continue;
    }
    if (b === undefined) {
      out.push({ path, observed: mappingText(a) });
      continue;
    }
    if (
      BigInt(a.pa) === BigInt(b.pa) && BigInt(a.size) === BigInt(b.size) &&
      BigInt(a.attr) === BigInt(b.attr)
    ) continue;
    const fields = differingFields(BigInt(a.attr), BigInt(b.attr), LEAF_FIELDS);
    if (BigInt(a.pa) !== BigInt(b.pa)) {
      fields.unshift({ field: "pa", bits: "-", observed: a.pa, predicted: b.pa });
    }
    if (BigInt(a.size) !== BigInt(b.size)) {
      fields.unshift({ field: "size", bits: "-", observed: a.size, predicted: b.size });
    }
    out.push({ path, observed: mappingText(a), predicted: mappingText(b), fields });
  }
  return keys.length;
}

/**
 * The comparison as text: one line per difference, the fields indented
 * below it, or one line saying everything agrees; either way the first line
 * names what the recording does not have (and so was not compared).
 *
 * @param d The comparison.
 * @param title What was compared (kernel, machine).
 * @returns Text, newline-terminated.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { formatOracleDiff } from "./diff.ts";
 * const t = formatOracleDiff({ agree: false, compared: 9, notRecorded: ["VBAR_EL2"], differences: [
 *   { path: "sysregs.TCR_EL2", observed: "0x80853510", predicted: "0x80843510",
 *     fields: [{ field: "PS", bits: "18:16", observed: "5", predicted: "4" }] },
 * ] }, "v6.1 on neoverse-n1");
 * assertStringIncludes(t, "PS (bits 18:16): real 5, hyplab 4");
 * assertStringIncludes(t, "(of 9 compared fields; VBAR_EL2 not in this recording)");
 * ```
 */
export function formatOracleDiff(d: OracleDiff, title: string): string {
  const missing = d.notRecorded.length === 0
    ? ""
    : `; ${d.notRecorded.join(", ")} not in this recording`;
  if (d.agree) return `${title}: all ${d.compared} compared fields agree${missing}\n`;
  const lines = [
    `${title}: ${d.differences.length} difference${
      d.differences.length === 1 ? "" : "s"
    } (of ${d.compared} compared fields${missing})`,
  ];
  for (const x of d.differences) {
    const sides = x.observed !== undefined && x.predicted !== undefined
      ? `real ${x.observed}, hyplab ${x.predicted}`
      : x.observed !== undefined
      ? `only in the real kernel: ${x.observed}`
      : `only in hyplab: ${x.predicted}`;
    lines.push(`  ${x.path}: ${sides}`);
    for (const f of x.fields ?? []) {
      const bits = f.bits === "-"
        ? ""
        : f.bits.includes(":")
        ? ` (bits ${f.bits})`
        : ` (bit ${f.bits})`;
      lines.push(`      ${f.field}${bits}: real ${f.observed}, hyplab ${f.predicted}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
