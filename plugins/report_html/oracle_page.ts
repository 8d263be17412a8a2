/**
 * The page of an oracle diff: `examples/oracle.ts diff FILE... --html
 * PAGE`, one section per observation. The real kernel and hyplab side by
 * side: the pool (reserve figures), each EL2 register with its differing
 * fields by name, the table shape, and every EL2 mapping on one log-scaled
 * VA axis; every disagreement highlighted and named by its diff path.
 *
 * @module
 */

import { formatSize, type MappingReport } from "../../core/mod.ts";
import {
  type Difference,
  type HexMapping,
  type Observation,
  OBSERVED_SYSREGS,
  type OracleDiff,
  type Prediction,
  registerFields,
} from "../oracle/mod.ts";
import { leafAttr, sysregFields } from "./decode.ts";
import { esc, htmlPage, table } from "./html.ts";
import { memoryPanel } from "./memory_panel.ts";
import { legend, MEMORY_FILLS, OUTCOME_FILLS, patternDefs, PROT_FILLS } from "./svg.ts";
import { treePanel, type VaItem, vaSpaceSvg } from "./va_panel.ts";

/** One observation's diff, with what the page draws from. */
export interface OracleDiffEntry {
  /** The observation's file. */
  file: string;
  /** The observation (what the real kernel did, and its inputs). */
  observation: Observation;
  /** hyplab's prediction, absent when hyplab cannot model the observation. */
  prediction?: Prediction;
  /** `diffObserved(observation.observed, prediction.observed)`. */
  diff: OracleDiff;
}

const WIDTH = 1200;

/**
 * The diff path of a mapping, as `diffObserved` names it.
 *
 * @param va The mapping's first VA (hex).
 * @returns `el2.mappings[0x…]`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mappingPath } from "./oracle_page.ts";
 * assertEquals(mappingPath("0x400000003000"), "el2.mappings[0x400000003000]");
 * ```
 */
export function mappingPath(va: string): string {
  return `el2.mappings[0x${BigInt(va).toString(16)}]`;
}

function diffAttr(paths: ReadonlySet<string>, path: string): string {
  return paths.has(path) ? ` data-diff-path="${esc(path)}"` : "";
}

function fieldsText(d: Difference | undefined): string {
  return (d?.fields ?? []).map((f) =>
    `${f.field}${f.bits === "-" ? "" : ` [${f.bits}]`}: real ${f.observed}, hyplab ${f.predicted}`
  ).join("; ");
}

function side(v: string | undefined): string {
  return v === undefined ? `<span class="note">absent</span>` : `<code>${esc(v)}</code>`;
}

/** Items of one side's mappings, labelled with hyplab's names for the ranges. */
function items(
  maps: readonly HexMapping[],
  profile: string,
  mair: string,
  names: readonly MappingReport[],
  paths: ReadonlySet<string>,
  only: ReadonlySet<string>,
): VaItem[] {
  return maps.map((m) => {
    const va = Number(m.va);
    const size = Number(m.size);
    const a = leafAttr(m.attr, profile, mair);
    const what = [
      ...new Set(
        names.filter((x) => Number(x.va) < va + size && Number(x.va) + Number(x.size) > va)
          .map((x) => x.what ?? ""),
      ),
    ].filter(Boolean).join(", ");
    const path = mappingPath(m.va);
    const differs = paths.has(path);
    const item: VaItem = {
      va,
      size,
      pa: Number(m.pa),
      cls: a.cls,
      label: what,
      detail: `${a.prot}: attr ${m.attr}\n${a.fields}${
        what ? `\nhyplab names this range: ${what}` : ""
      }`,
    };
    if (differs) {
      item.attrs = `data-diff-path="${esc(path)}"`;
      item.mark = only.has(path) ? "only here" : "≠";
    }
    return item;
  });
}

function section(e: OracleDiffEntry, index: number): string {
  const o = e.observation;
  const obs = o.observed;
  const pred = e.prediction?.observed;
  const d = e.diff;
  const byPath = new Map(d.differences.map((x) => [x.path, x]));
  const paths = new Set(byPath.keys());
  const ram = o.inputs.machine.ram.reduce((s, r) => s + Number(r.size), 0);
  const head = `<h2 id="obs-${index}">${esc(e.file)}</h2>
<p>${esc(o.inputs.profile)} on ${esc(o.inputs.machine.cpu)}, ${
    esc(formatSize(ram))
  }, ${o.inputs.machine.cpus} CPUs · kernel ${esc(o.provenance.kernel_release)} (${
    esc(o.provenance.kernel_package)
  }) · recorded ${esc(o.provenance.recorded)}</p>
<p>${
    d.agree
      ? `<span class="badge ok">agree</span> all ${d.compared} compared fields agree`
      : `<span class="badge fail">differ</span> ${d.differences.length} difference${
        d.differences.length === 1 ? "" : "s"
      } of ${d.compared} compared fields`
  }${
    d.notRecorded.length === 0
      ? ""
      : ` · not in this recording, so not compared: ${esc(d.notRecorded.join(", "))}`
  }</p>`;
  const diffRows = d.differences.map((x) => ({
    cells: [`<code>${esc(x.path)}</code>`, side(x.observed), side(x.predicted), esc(fieldsText(x))],
    attrs: `class="diff"${diffAttr(paths, x.path)}`,
  }));
  const diffs = d.agree
    ? ""
    : `<h3>Differences</h3>${table(["path", "real kernel", "hyplab", "fields"], diffRows)}`;
  if (pred === undefined) {
    return `<section class="panel oracle" data-file="${esc(e.file)}">${head}${diffs}</section>`;
  }
  const row = (
    path: string,
    name: string,
    a: string | number | undefined,
    b: string | number | undefined,
  ) => ({
    cells: [
      esc(name),
      a === undefined ? `<span class="note">not recorded</span>` : side(String(a)),
      side(b === undefined ? undefined : String(b)),
      esc(fieldsText(byPath.get(path))),
    ],
    attrs: paths.has(path) ? `class="diff"${diffAttr(paths, path)}` : "",
  });
  const reserve = table(["reserve", "real kernel", "hyplab", "differs in"], [
    row("reserve.base", "base (hyp_mem_base)", obs.reserve.base, pred.reserve.base),
    row("reserve.size", "size (hyp_mem_size)", obs.reserve.size, pred.reserve.size),
    row(
      "reserve.request.size",
      "memblock request: size",
      obs.reserve.request.size,
      pred.reserve.request.size,
    ),
    row(
      "reserve.request.align",
      "memblock request: align",
      obs.reserve.request.align,
      pred.reserve.request.align,
    ),
    row("mode", "mode", obs.mode, pred.mode),
  ]);
  const regs = table(
    ["register (CPU 0)", "real kernel", "hyplab", "differing fields", "real kernel's fields"],
    OBSERVED_SYSREGS.map((name) => {
      const path = `sysregs.${name}`;
      const value = obs.sysregs[name];
      const r = row(path, name, value, pred.sysregs[name]);
      // The E2H layouts (TCR_EL2, CPTR_EL2, CNTHCTL_EL2) under hVHE.
      const fields = registerFields(name, ((BigInt(obs.sysregs.HCR_EL2) >> 34n) & 1n) === 1n);
      return {
        ...r,
        cells: [
          ...r.cells,
          value === undefined
            ? ""
            : `<span class="mono">${esc(sysregFields(name, value, fields))}</span>`,
        ],
      };
    }),
  );
  const shape = table(["EL2 stage-1", "real kernel", "hyplab", ""], [
    row("el2.va_bits", "va_bits", obs.el2.va_bits, pred.el2.va_bits),
    row("el2.start_level", "start level", obs.el2.start_level, pred.el2.start_level),
    row("el2.table_pages", "table pages", obs.el2.table_pages, pred.el2.table_pages),
    row("el2.mappings", "mappings", obs.el2.mappings.length, pred.el2.mappings.length),
  ]);
  const report = e.prediction!.report;
  const names = report.pgtable.mappings;
  const realKeys = new Set(obs.el2.mappings.map((m) => mappingPath(m.va)));
  const predKeys = new Set(pred.el2.mappings.map((m) => mappingPath(m.va)));
  const onlyReal = new Set([...realKeys].filter((k) => !predKeys.has(k)));
  const onlyPred = new Set([...predKeys].filter((k) => !realKeys.has(k)));
  const picture = vaSpaceSvg(
    [
      {
        name: "real kernel",
        items: items(
          obs.el2.mappings,
          o.inputs.profile,
          obs.sysregs.MAIR_EL2,
          names,
          paths,
          onlyReal,
        ),
      },
      {
        name: "hyplab",
        items: items(
          pred.el2.mappings,
          o.inputs.profile,
          pred.sysregs.MAIR_EL2,
          names,
          paths,
          onlyPred,
        ),
      },
    ],
    obs.el2.va_bits,
    WIDTH,
  );
  const byVa = new Map<string, { va: bigint; a?: HexMapping; b?: HexMapping }>();
  for (const m of obs.el2.mappings) byVa.set(mappingPath(m.va), { va: BigInt(m.va), a: m });
  for (const m of pred.el2.mappings) {
    const k = mappingPath(m.va);
    byVa.set(k, { ...byVa.get(k), va: BigInt(m.va), b: m });
  }
  const mapText = (m: HexMapping | undefined, mair: string) => {
    if (m === undefined) return `<span class="note">absent</span>`;
    const a = leafAttr(m.attr, o.inputs.profile, mair);
    return `<code>${esc(m.pa)}</code> ${esc(formatSize(Number(m.size)))} <code>${
      esc(a.prot)
    }</code>`;
  };
  const mapRows = [...byVa.entries()]
    .sort((x, y) => (x[1].va < y[1].va ? -1 : x[1].va > y[1].va ? 1 : 0))
    .map(([path, { a, b }]) => ({
      cells: [
        `<code>${esc((a ?? b)!.va)}</code>`,
        mapText(a, obs.sysregs.MAIR_EL2),
        mapText(b, pred.sysregs.MAIR_EL2),
        esc(fieldsText(byPath.get(path))),
      ],
      attrs: paths.has(path) ? `class="diff"${diffAttr(paths, path)}` : "",
    }));
  return `<section class="panel oracle" data-file="${esc(e.file)}">${head}${diffs}
<h3>The pool</h3>${reserve}
<h3>EL2 registers</h3>${regs}
<h3>EL2 stage-1 tables</h3>${shape}
${legend(Object.values(PROT_FILLS))}
<div class="scroll">${picture}</div>
<p class="note">Both rows on one log-scaled axis (each maplet and each hole log2(bytes) − 11 units wide). ≠ marks a mapping both have that differs; "only here" one the other side lacks. Section names are hyplab's for the range. Hover for the attributes decoded.</p>
${table(["VA", "real kernel: PA, size, prot", "hyplab: PA, size, prot", "differs in"], mapRows)}
<h3>hyplab's boot from the observation's inputs</h3>
${legend(Object.values(MEMORY_FILLS))}
${memoryPanel(report, WIDTH, true)}
${legend([OUTCOME_FILLS.pages!, OUTCOME_FILLS.blocks!, OUTCOME_FILLS.tables!])}
${treePanel(report, WIDTH, true)}
</section>`;
}

/**
 * The self-contained HTML page of an oracle diff: a section per
 * observation, the real kernel beside hyplab, every disagreement
 * (`data-diff-path` = the diff's path) highlighted and named.
 *
 * @param entries One per observation file, in the order given.
 * @returns The page.
 * @example
 * ```ts ignore
 * import { diffObserved, parseObservation, predict } from "../oracle/mod.ts";
 * import { oracleDiffHtml } from "./oracle_page.ts";
 * const observation = parseObservation(await Deno.readTextFile("obs.json"), "obs.json");
 * const prediction = await predict(observation);
 * const diff = diffObserved(observation.observed, prediction.observed);
 * const page = oracleDiffHtml([{ file: "obs.json", observation, prediction, diff }]);
 * ```
 */
export function oracleDiffHtml(entries: readonly OracleDiffEntry[]): string {
  const differing = entries.filter((e) => !e.diff.agree).length;
  const toc = entries.length > 1
    ? `<ul>${
      entries.map((e, i) =>
        `<li${e.diff.agree ? "" : ' class="diff"'}><a href="#obs-${i}">${esc(e.file)}</a>: ${
          e.diff.agree ? "agree" : `${e.diff.differences.length} differences`
        }</li>`
      ).join("")
    }</ul>`
    : "";
  return htmlPage(
    {
      title: `hyplab oracle diff: ${
        differing === 0 ? "every observation agrees" : `${differing} of ${entries.length} differ`
      }`,
      subtitle: `${entries.length} observation${
        entries.length === 1 ? "" : "s"
      } of a real kernel booting in pKVM protected mode under QEMU, beside hyplab's prediction from the same inputs`,
      body: `${toc}${entries.map(section).join("\n")}`,
    },
    patternDefs(),
  );
}
