/**
 * The text-heavy panels of a boot: the steps, the switch sequence listing
 * with each finding at its line, the hypercall timeline per CPU, the EL2
 * registers with their fields, the TLB and the verification.
 *
 * @module
 */

import {
  type BootReport,
  type FindingReport,
  type HypercallRecord,
  verifyFailures,
} from "../../core/mod.ts";
import { sysregFields } from "./decode.ts";
import { esc, table } from "./html.ts";
import { clip, label, legend, n, OUTCOME_FILLS, spacedIndexes, svg, titled } from "./svg.ts";

/**
 * The boot's steps and outcome.
 *
 * @param r The report.
 * @returns HTML.
 */
export function stepsPanel(r: BootReport): string {
  const rows = r.steps.map((s) => ({
    cells: [
      String(s.step),
      esc(s.name),
      `<span class="badge ${s.status === "ok" ? "ok" : s.status === "fail" ? "fail" : "warn"}">${
        esc(s.status)
      }</span>`,
      esc(s.detail),
    ],
    attrs: s.status === "fail" ? 'class="diff"' : "",
  }));
  const failure = r.failure
    ? `<p class="fail"><b>boot failed</b> at step ${r.failure.step} (${esc(r.failure.name)}): ${
      esc(r.failure.reason)
    }</p>`
    : "";
  const v = r.verify;
  const why = verifyFailures(v);
  const verify = `<p>verification <span class="badge ${v.ok ? "ok" : "fail"}">${
    v.ok ? "ok" : "FAIL"
  }</span> ${v.checked_pages} page translations checked, ${v.probed_old_vas} old host VAs probed, ${v.stale_translations} stale TLB hits</p>${
    why.length ? `<ul>${why.map((w) => `<li class="fail">${esc(w)}</li>`).join("")}</ul>` : ""
  }`;
  return `${failure}${table(["step", "name", "status", "detail"], rows, [0])}${verify}`;
}

/** Findings by line; those whose line is outside the listing under 0. */
function findingsByLine(
  findings: readonly FindingReport[],
  lines: number,
): Map<number, FindingReport[]> {
  const by = new Map<number, FindingReport[]>();
  for (const f of findings) {
    const at = f.line >= 1 && f.line <= lines ? f.line : 0;
    by.set(at, [...(by.get(at) ?? []), f]);
  }
  return by;
}

function findingHtml(f: FindingReport, attrs = ""): string {
  const mark = f.severity === "fail" ? "✖" : "⚠";
  return `<span class="finding sev-${f.severity}" data-finding="${
    esc(f.rule)
  }" data-line="${f.line}" data-severity="${f.severity}"${attrs ? ` ${attrs}` : ""}><b>${mark} ${
    esc(f.rule)
  } ${esc(f.severity)}</b>${esc(f.message)}</span>`;
}

/**
 * The switch sequence listing: every line numbered, each finding under the
 * line it names.
 *
 * @param r The report.
 * @param only Findings to mark as present only in this run (a comparison).
 * @returns HTML.
 */
export function switchPanel(r: BootReport, only: readonly FindingReport[] = []): string {
  const sw = r.switch;
  const lines = sw.source.replace(/\n$/, "").split("\n");
  const by = findingsByLine(sw.findings, lines.length);
  const isOnly = (f: FindingReport) =>
    only.some((o) => o.rule === f.rule && o.severity === f.severity && o.line === f.line);
  const rows = lines.map((text, i) => {
    const at = by.get(i + 1) ?? [];
    const fs = at.map((f) => findingHtml(f, isOnly(f) ? 'data-only="1"' : "")).join("");
    return `<tr data-line="${i + 1}"${at.length ? ' class="has-finding"' : ""}><td class="ln">${
      i + 1
    }</td><td class="src">${esc(text)}${fs}</td></tr>`;
  });
  const loose = by.get(0) ?? [];
  const verdict = `<span class="badge ${
    sw.verdict === "pass" ? "ok" : sw.verdict === "warn" ? "warn" : "fail"
  }">${esc(sw.verdict)}</span>`;
  return `<p>Sequence <b>${esc(sw.sequence)}</b> (${
    esc(sw.abi)
  } ABI): ${verdict} — ${sw.findings.length} finding${
    sw.findings.length === 1 ? "" : "s"
  }, ${sw.executed} instructions executed, ended at <code>${esc(sw.pc)}</code>.</p>
${loose.length ? `<p>${loose.map((f) => findingHtml(f)).join("")}</p>` : ""}
<table class="listing"><tbody>
${rows.join("\n")}
</tbody></table>`;
}

/** Whether a hypercall's result reads as an error (a negative errno or NOT_SUPPORTED). */
function failed(h: HypercallRecord): boolean {
  return h.result !== "0" && !h.result.startsWith("0x");
}

/**
 * The hypercall timeline: one lane per CPU, calls in the order they were
 * issued, each a box filled by its outcome (stub calls half height); then
 * the calls summed by name.
 *
 * @param r The report.
 * @param width Picture width.
 * @param compact Leave out the legend, the note and the table.
 * @returns HTML.
 */
export function hypercallPanel(r: BootReport, width: number, compact = false): string {
  const calls = r.hypercalls;
  if (calls.length === 0) return `<p class="note">No hypercall was issued.</p>`;
  const cpus = [...new Set(calls.map((c) => c.cpu))].sort((a, b) => a - b);
  const laneH = cpus.length > 32 ? 10 : 22;
  const left = 56;
  const band = calls.length <= 160 ? 120 : 0;
  // The lanes stop short of the right edge: the last names lean into the margin.
  const right = band > 0 ? 64 : 0;
  const step = (width - left - right) / calls.length;
  const out: string[] = [];
  cpus.forEach((cpu, i) => {
    const y = band + i * laneH;
    if (laneH >= 16 || i % 8 === 0) out.push(label(0, y + laneH - 6, `CPU ${cpu}`, "lbl"));
    out.push(
      `<line class="axis" x1="${left}" x2="${n(width - right)}" y1="${n(y + laneH / 2)}" y2="${
        n(y + laneH / 2)
      }" stroke-opacity="0.4"/>`,
    );
  });
  const xs: number[] = [];
  calls.forEach((c, i) => {
    const lane = cpus.indexOf(c.cpu);
    const x = left + i * step;
    xs.push(x + step / 2);
    const bad = failed(c);
    const fill = bad ? OUTCOME_FILLS.err! : OUTCOME_FILLS.ok!;
    const h = c.kind === "stub" ? (laneH - 4) / 2 : laneH - 4;
    const y = band + lane * laneH + (laneH - h) / 2;
    const hover = [
      `#${i + 1} CPU ${c.cpu}: ${c.name} (${
        c.kind === "hvc" ? "KVM host hypercall" : "hyp-stub call"
      } ${c.id})`,
      `args ${c.args.join(", ") || "none"}`,
      `x0 ${c.x0}, x1 ${c.x1} → ${c.result}`,
      ...(c.note ? [c.note] : []),
    ].join("\n");
    out.push(
      titled(
        "rect",
        `class="hvc" data-index="${i}" data-cpu="${c.cpu}" data-name="${
          esc(c.name)
        }" data-result="${esc(c.result)}" x="${n(x + 0.5)}" y="${n(y)}" width="${
          n(Math.max(1, step - 1))
        }" height="${n(h)}" fill="url(#${fill.id})" stroke="#333" stroke-width="${
          step > 3 ? 0.5 : 0
        }"`,
        hover,
      ),
    );
    if (bad && step >= 8) {
      out.push(
        label(x + step / 2, y + h / 2 + 4, "✗", "small", 'text-anchor="middle" font-weight="700"'),
      );
    }
  });
  if (band > 0) {
    for (const i of spacedIndexes(xs, 11)) {
      out.push(label(xs[i]! - 2, band - 4, clip(calls[i]!.name, 22), "small", "", -55));
    }
  }
  const h = band + cpus.length * laneH + 6;
  const picture = `<div class="scroll">${
    svg(width, h, out.join(""), "hypercall timeline per CPU")
  }</div>`;
  if (compact) return picture;
  const groups = new Map<
    string,
    { c: HypercallRecord; n: number; cpus: Set<number>; results: Map<string, number> }
  >();
  for (const c of calls) {
    const k = `${c.kind} ${c.id} ${c.name}`;
    const g = groups.get(k) ?? { c, n: 0, cpus: new Set(), results: new Map() };
    g.n++;
    g.cpus.add(c.cpu);
    g.results.set(c.result, (g.results.get(c.result) ?? 0) + 1);
    groups.set(k, g);
  }
  const rows = [...groups.values()].map((g) => ({
    cells: [
      `<code>${esc(g.c.name)}</code>`,
      esc(g.c.kind),
      String(g.c.id),
      String(g.n),
      esc(cpuList([...g.cpus])),
      esc([...g.results].map(([res, k]) => (k === g.n ? res : `${res} ×${k}`)).join(", ")),
    ],
    attrs: [...g.results.keys()].some((res) => res !== "0" && !res.startsWith("0x"))
      ? 'class="diff"'
      : "",
  }));
  const stub =
    `<span><svg width="22" height="12" aria-hidden="true"><rect y="3" width="22" height="6" fill="url(#${
      OUTCOME_FILLS.ok!.id
    })" stroke="#555"/></svg>hyp-stub call (half height)</span>`;
  return `${
    legend([OUTCOME_FILLS.ok!, {
      ...OUTCOME_FILLS.err!,
      label: "error (✗): a negative errno or NOT_SUPPORTED",
    }]).replace("</div>", `${stub}</div>`)
  }
${picture}
<p class="note">Left to right in the order the host issued them; hover for the arguments and x0/x1 on return.</p>
${table(["hypercall", "kind", "id", "calls", "CPUs", "results"], rows, [2, 3])}`;
}

/** `0-3, 5` from CPU numbers. */
function cpuList(cpus: number[]): string {
  const s = [...cpus].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    out.push(j === i ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return out.join(", ");
}

/**
 * The boot CPU's EL2 registers, each with its non-zero fields by name, the
 * TLB counters and the report's notes.
 *
 * @param r The report.
 * @returns HTML.
 */
export function registersPanel(r: BootReport): string {
  const rows = Object.entries(r.sysregs).map(([name, value]) => ({
    cells: [
      `<code>${esc(name)}</code>`,
      `<code>${esc(value)}</code>`,
      `<span class="mono">${esc(sysregFields(name, value))}</span>`,
    ],
  }));
  const t = r.tlb;
  const notes = r.notes.length
    ? `<h3>Notes</h3><ul>${r.notes.map((x) => `<li>${esc(x)}</li>`).join("")}</ul>`
    : "";
  return `${table(["register", "value", "fields"], rows)}
<p>TLB (${
    esc(t.policy)
  }): ${t.hits} hits, ${t.misses} misses, ${t.fills} fills, ${t.invalidated} invalidated, ${t.stale} stale. Host EL2 table <code>${
    esc(r.host_pgtable.pgd)
  }</code>: ${r.host_pgtable.table_pages} table pages${
    r.host_pgtable.freed ? ", freed at step 6" : ""
  }.</p>${notes}`;
}
