/**
 * The hyp VA space (maplets on a log-scaled axis, coloured by protection,
 * labelled with their sections) and the stage-1 table tree (table pages per
 * level, in runs, with the maplets each run serves).
 *
 * @module
 */

import { type BootReport, formatSize, hex, type MappingReport } from "../../core/mod.ts";
import { protClass, protText, rangeText } from "./decode.ts";
import { esc, table } from "./html.ts";
import {
  clip,
  label,
  legend,
  logScale,
  n,
  OUTCOME_FILLS,
  PROT_FILLS,
  type ProtClass,
  spacedIndexes,
  svg,
  titled,
} from "./svg.ts";

/** One maplet to draw. */
export interface VaItem {
  /** First VA. */
  va: number;
  /** Bytes. */
  size: number;
  /** First PA. */
  pa: number;
  /** Fill class. */
  cls: ProtClass;
  /** Section label (`__hyp_text`), may be empty. */
  label: string;
  /** Hover text besides VA, PA and size (the prot decoded). */
  detail: string;
  /** More attributes of the maplet's element (`data-diff-path="..."`), escaped by the caller. */
  attrs?: string;
  /** A mark drawn under a highlighted maplet (`≠`, `only here`). */
  mark?: string;
}

/** A row of maplets (one table). */
export interface VaRow {
  /** Row title (`real kernel`, `hyplab`); empty for a single row. */
  name: string;
  /** Maplets, sorted by VA. */
  items: VaItem[];
}

/**
 * Maplets of a boot report as items to draw.
 *
 * @param maps The report's mappings.
 * @returns The items.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { vaItems } from "./va_panel.ts";
 * const [m] = vaItems([{ va: "0x1000", pa: "0x2000", size: "0x1000", prot: "PAGE_HYP_EXEC", what: "idmap" }]);
 * assertEquals([m!.cls, m!.label], ["rx", "idmap"]);
 * ```
 */
export function vaItems(maps: readonly MappingReport[]): VaItem[] {
  return maps.map((m) => ({
    va: Number(m.va),
    size: Number(m.size),
    pa: Number(m.pa),
    cls: protClass(m.prot),
    label: m.what ?? "",
    detail: protText(m.prot),
  }));
}

const LABEL_BAND = 96;
const BAR = 24;

/**
 * The VA space as one SVG: a row per table, each maplet a `rect.maplet`
 * with its exact values as hover text, labels above, maplet numbers below,
 * and a shared log-scaled axis (every maplet and every hole between them is
 * `log2(bytes) − 11` units wide, a maplet at least 3).
 *
 * @param rows The rows.
 * @param vaBits Size of the VA space (`hyp_va_bits`).
 * @param width Width in user units (pixels at 100 %).
 * @returns SVG text.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { vaItems, vaSpaceSvg } from "./va_panel.ts";
 * const items = vaItems([{ va: "0x1000", pa: "0x1000", size: "0x1000", prot: "PAGE_HYP" }]);
 * const s = vaSpaceSvg([{ name: "", items }], 48, 600);
 * assertEquals(s.match(/class="maplet /g)?.length, 1);
 * ```
 */
export function vaSpaceSvg(rows: readonly VaRow[], vaBits: number, width: number): string {
  const all = rows.flatMap((r) => r.items);
  const top = 2 ** vaBits;
  const bounds = [0, top, ...all.flatMap((m) => [m.va, Math.min(top, m.va + m.size)])];
  const scale = logScale(bounds, width, all.map((m) => ({ start: m.va, end: m.va + m.size })), 3);
  const out: string[] = [];
  let y = 0;
  const rowH = LABEL_BAND + BAR + 30;
  for (const row of rows) {
    if (row.name) {
      out.push(
        label(0, y + 12, `${row.name} (${row.items.length} maplets)`, "lbl", 'font-weight="600"'),
      );
    }
    const barY = y + LABEL_BAND;
    out.push(
      `<line class="axis" x1="0" x2="${n(width)}" y1="${n(barY + BAR / 2)}" y2="${
        n(barY + BAR / 2)
      }"/>`,
    );
    // Holes first, so maplets draw over their edges.
    let prev = 0;
    const holes: [number, number][] = [];
    for (const m of row.items) {
      if (m.va > prev) holes.push([prev, m.va]);
      prev = Math.max(prev, m.va + m.size);
    }
    if (prev < top) holes.push([prev, top]);
    for (const [a, b] of holes) {
      const x0 = scale.x(a);
      out.push(
        titled(
          "rect",
          `class="hole" x="${n(x0)}" y="${n(barY)}" width="${
            n(scale.x(b) - x0)
          }" height="${BAR}" fill="transparent"`,
          `unmapped ${rangeText(a, b - a)}`,
        ),
      );
    }
    const centres: number[] = [];
    row.items.forEach((m, i) => {
      const x0 = scale.x(m.va);
      const w = Math.max(1, scale.x(m.va + m.size) - x0);
      centres.push(x0 + w / 2);
      const hover = [
        `#${i + 1} ${m.label || "(no label)"}`,
        `VA ${rangeText(m.va, m.size)}`,
        `PA ${hex(m.pa)} – ${hex(m.pa + m.size)}`,
        m.detail,
        ...(m.mark ? [`highlighted: ${m.mark}`] : []),
      ].join("\n");
      out.push(
        titled(
          "rect",
          `class="maplet p-${m.cls}" data-va="${hex(m.va)}" data-size="${
            hex(m.size)
          }" data-index="${i}"${row.name ? ` data-row="${esc(row.name)}"` : ""}${
            m.attrs ? ` ${m.attrs}` : ""
          } x="${n(x0)}" y="${n(barY)}" width="${n(w)}" height="${BAR}" fill="url(#${
            PROT_FILLS[m.cls].id
          })" stroke="#333" stroke-width="0.6"`,
          hover,
        ),
      );
    });
    for (const i of spacedIndexes(centres, 12)) {
      const m = row.items[i]!;
      // 22 characters at 40° stay inside the label band.
      const text = clip(m.label || `#${i + 1}`, 22);
      // Up and to the right; near the right edge, up and to the left.
      out.push(
        centres[i]! > width - 7 * text.length
          ? label(centres[i]! - 3, barY - 4, text, "lbl", 'text-anchor="end"', 40)
          : label(centres[i]! + 3, barY - 4, text, "lbl", "", -40),
      );
    }
    for (const i of spacedIndexes(centres, 14)) {
      out.push(
        label(centres[i]!, barY + BAR + 12, String(i + 1), "small", 'text-anchor="middle"'),
      );
    }
    row.items.forEach((m, i) => {
      if (!m.mark) return;
      out.push(
        label(
          centres[i]!,
          barY + BAR + 24,
          m.mark,
          "lbl",
          'text-anchor="middle" font-weight="700" fill="#b34700"',
        ),
      );
    });
    y += rowH;
  }
  // The axis: the boundaries that fit, as addresses.
  const ticks = scale.boundaries;
  const xs = ticks.map((b) => scale.x(b));
  for (const i of spacedIndexes(xs, 92)) {
    const x = xs[i]!;
    const anchor = i === 0 ? "start" : i === ticks.length - 1 ? "end" : "middle";
    out.push(`<line class="axis" x1="${n(x)}" x2="${n(x)}" y1="${n(y - 4)}" y2="${n(y + 2)}"/>`);
    out.push(label(x, y + 13, hex(ticks[i]!), "tick", `text-anchor="${anchor}"`));
  }
  return svg(width, y + 18, out.join(""), "hyp VA space, maplets on a log-scaled axis");
}

/** Options of {@link vaPanel}. */
export interface VaPanelOptions {
  /** Leave out the legend, the note and the maplet table (a comparison's columns). */
  compact?: boolean;
  /** Marks a maplet: extra attributes for its element and the mark drawn under it. */
  mark?: (m: MappingReport, index: number) => { attrs: string; mark: string } | undefined;
}

/**
 * The VA panel of a boot: legend, picture and the maplet table.
 *
 * @param r The report.
 * @param width Picture width.
 * @param options Compact form, marks.
 * @returns HTML.
 */
export function vaPanel(r: BootReport, width: number, options: VaPanelOptions = {}): string {
  const maps = r.pgtable.mappings;
  if (maps.length === 0) {
    return `<p class="note">No hyp stage-1 table: the boot stopped before __pkvm_init built one.</p>`;
  }
  const items = vaItems(maps).map((it, i) => {
    const m = options.mark?.(maps[i]!, i);
    return m === undefined ? it : { ...it, attrs: m.attrs, mark: m.mark };
  });
  const picture = svg0(vaSpaceSvg([{ name: "", items }], r.layout.hyp_va_bits, width));
  if (options.compact) return picture;
  const rows = maps.map((m, i) => ({
    cells: [
      String(i + 1),
      `<code>${esc(m.va)}</code>`,
      `<code>${esc(m.pa)}</code>`,
      esc(formatSize(Number(m.size))),
      `<code>${esc(m.prot)}</code>`,
      esc(m.what ?? ""),
    ],
  }));
  return `${legend(Object.values(PROT_FILLS))}
${picture}
<p class="note">Widths on a log scale: each maplet and each hole between maplets is drawn log2(bytes) − 11 units wide (a maplet at least 3), so a 4 KiB stack page stays visible beside a 2^47-byte hole. Hover for exact values.</p>
${table(["#", "VA", "PA", "size", "prot", "what"], rows, [0, 3])}`;
}

function svg0(s: string): string {
  return `<div class="scroll">${s}</div>`;
}

/**
 * The table tree: one row per level, each run of table pages a box (with
 * its page count and leaves), linked to the run above it that holds its
 * table descriptor; then the per-level counts.
 *
 * @param r The report.
 * @param width Picture width.
 * @param compact Leave out the legend, the note and the counts.
 * @returns HTML.
 */
export function treePanel(r: BootReport, width: number, compact = false): string {
  const tree = r.pgtable.tree;
  if (tree.runs.length === 0) return `<p class="note">No table tree.</p>`;
  const maps = r.pgtable.mappings;
  const levels = tree.levels.map((l) => l.level);
  const rowH = 64;
  const boxH = 34;
  const pos = new Map<number, { x: number; w: number; y: number }>();
  const out: string[] = [];
  levels.forEach((level, li) => {
    const runs = tree.runs.map((run, i) => ({ run, i })).filter((x) => x.run.level === level);
    const y = li * rowH + 4;
    out.push(label(0, y + boxH / 2 + 4, `L${level}`, "lbl", 'font-weight="600"'));
    const avail = width - 30;
    const w = Math.min(150, Math.max(3, avail / Math.max(1, runs.length) - 4));
    const used = runs.length * (w + 4);
    const x0 = 30 + Math.max(0, (avail - used) / 2);
    runs.forEach(({ i }, k) => {
      pos.set(i, { x: x0 + k * (w + 4), w, y });
    });
  });
  // Links first: from each run to the run one level up whose range holds it.
  tree.runs.forEach((run, i) => {
    if (run.level === tree.start_level) return;
    const va = Number(run.va);
    const p = tree.runs.findIndex((q) =>
      q.level === run.level - 1 && Number(q.va) <= va && va < Number(q.va) + Number(q.span)
    );
    const a = pos.get(p);
    const b = pos.get(i)!;
    if (a === undefined) return;
    out.push(
      `<line class="link" x1="${n(a.x + a.w / 2)}" y1="${n(a.y + boxH)}" x2="${
        n(b.x + b.w / 2)
      }" y2="${n(b.y)}" stroke="#888" stroke-width="0.8"/>`,
    );
  });
  tree.runs.forEach((run, i) => {
    const p = pos.get(i)!;
    const fill = run.pages > 0
      ? OUTCOME_FILLS.pages!
      : run.blocks > 0
      ? OUTCOME_FILLS.blocks!
      : OUTCOME_FILLS.tables!;
    const served = run.maplets.map((k) => `#${k + 1} ${maps[k]?.what ?? maps[k]?.va ?? ""}`);
    const hover = [
      `level ${run.level}: ${run.tables} table page${run.tables === 1 ? "" : "s"}`,
      `VA ${rangeText(Number(run.va), Number(run.span))}`,
      `leaves: ${run.pages} page, ${run.blocks} block`,
      `serves ${run.maplets.length} maplet${run.maplets.length === 1 ? "" : "s"}: ${
        served.slice(0, 12).join("; ")
      }${served.length > 12 ? "; …" : ""}`,
    ].join("\n");
    out.push(
      titled(
        "rect",
        `class="run" data-level="${run.level}" data-tables="${run.tables}" x="${n(p.x)}" y="${
          n(p.y)
        }" width="${
          n(p.w)
        }" height="${boxH}" fill="url(#${fill.id})" stroke="#333" stroke-width="0.7"`,
        hover,
      ),
    );
    if (p.w >= 44) {
      const first = maps[run.maplets[0] ?? -1]?.what ?? "";
      out.push(
        label(p.x + 3, p.y + 13, `×${run.tables}`, "lbl", 'font-weight="600"'),
        label(
          p.x + 3,
          p.y + 27,
          clip(
            run.maplets.length === 1 ? first : `${run.maplets.length} maplets`,
            Math.floor(p.w / 6),
          ),
          "small",
        ),
      );
    }
  });
  const h = levels.length * rowH;
  const picture = `<div class="scroll">${
    svg(width, h, out.join(""), "hyp stage-1 table tree")
  }</div>`;
  if (compact) return picture;
  const counts = tree.levels.map((l) => ({
    cells: [`L${l.level}`, String(l.tables), String(l.blocks), String(l.pages)],
  }));
  return `${legend([OUTCOME_FILLS.pages!, OUTCOME_FILLS.blocks!, OUTCOME_FILLS.tables!])}
${picture}
<p class="note">Each box is a run of table pages at one level, next to each other in VA and leading to the same maplets (×N: pages in the run); a line joins it to the run above that holds its table descriptors. ${
    esc(String(r.pgtable.table_pages))
  } table pages in all, pgd ${esc(r.pgtable.pgd)}.</p>
${table(["level", "table pages", "block leaves", "page leaves"], counts, [1, 2, 3])}`;
}
