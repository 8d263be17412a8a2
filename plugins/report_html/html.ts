/**
 * The frame every page shares: escaping, one inline style sheet (screen,
 * 1280 px and print), the page shell, and small table helpers. A page is one
 * self-contained file: no script, no font, no image, no URL outside it.
 *
 * @module
 */

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes text for HTML and SVG, in element content and in quoted
 * attribute values alike.
 *
 * @param text Any text (a section name, a file name, a kernel message).
 * @returns The text with `& < > " '` as character references.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { escapeHtml } from "./html.ts";
 * assertEquals(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
 * ```
 */
export function escapeHtml(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Short alias used by the page builders. */
export const esc: (text: string | number) => string = escapeHtml;

/** What {@link htmlPage} wraps. */
export interface PageParts {
  /** The document title (plain text). */
  title: string;
  /** One line under the title (plain text). */
  subtitle: string;
  /** The body, already HTML. */
  body: string;
}

/**
 * The style sheet: system fonts, a 1240 px column that fits 1280 px
 * screens, tables and panels that do not break across printed pages, and
 * the Okabe–Ito colours behind the `.p-*` classes.
 */
const CSS = `
:root { color-scheme: light; --ink: #1a1a1a; --muted: #5a5a5a; --line: #c8c8c8;
  --bg-alt: #f4f4f4; --diff: #d55e00; --warn: #e69f00; --ok: #009e73; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px 40px; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 17px; margin: 26px 0 6px; border-bottom: 1px solid var(--line); padding-bottom: 3px; }
h3 { font-size: 15px; margin: 14px 0 4px; }
p, ul { margin: 4px 0 8px; }
.sub { color: var(--muted); margin-bottom: 10px; }
.note { color: var(--muted); font-size: 12.5px; }
code, .mono, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 12.5px; }
table { border-collapse: collapse; margin: 4px 0 10px; }
th, td { border: 1px solid var(--line); padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.wide { width: 100%; }
.badge { display: inline-block; padding: 0 6px; border-radius: 3px; border: 1px solid currentColor;
  font-weight: 600; font-size: 12px; }
.ok { color: #00684b; }
.fail { color: #b34700; }
.warn { color: #8a5d00; }
tr.diff, td.diff, li.diff { background: #fde3d3; }
tr.diff > td:first-child::before, li.diff::before { content: "\\2260\\00a0"; font-weight: 700; color: var(--diff); }
.only { font-weight: 600; }
.panel { break-inside: avoid; page-break-inside: avoid; margin-bottom: 6px; }
svg { display: block; max-width: 100%; height: auto; overflow: visible; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--ink); }
svg .axis { stroke: #777; stroke-width: 1; }
svg .tick { font-size: 10px; fill: var(--muted); }
svg .lbl { font-size: 11px; }
svg .small { font-size: 9.5px; }
svg .hl { stroke: var(--diff); stroke-width: 3; }
svg [data-diff-path], svg [data-only] { stroke: var(--diff); stroke-width: 3; }
.finding[data-only] { outline: 2px solid var(--diff); }
.finding[data-only]::after { content: " \\2260 not in the first variant"; font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 4px 0 8px; font-size: 12.5px; }
.legend span { display: inline-flex; align-items: center; gap: 4px; }
.legend svg { display: inline; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(290px, 1fr)); gap: 12px; }
.cols > div { min-width: 0; }
.cols h3 { margin-top: 4px; }
.listing { border: 1px solid var(--line); width: 100%; table-layout: fixed; }
.listing td { border: none; border-bottom: 1px solid #eee; padding: 0 6px; }
.listing td.ln { color: var(--muted); text-align: right; width: 3.5em; user-select: none; }
.listing td.src { white-space: pre-wrap; overflow-wrap: anywhere; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
.listing tr.has-finding td { background: #fff1e0; }
.finding { display: block; margin: 1px 0 3px 0; padding: 1px 6px; border-left: 4px solid var(--warn);
  font-family: system-ui, sans-serif; font-size: 12.5px; white-space: normal; }
.finding.sev-fail { border-left-color: var(--diff); }
.finding b { margin-right: 4px; }
.scroll { overflow-x: auto; }
@media print {
  body { padding: 0; font-size: 11px; }
  main { max-width: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  table, svg, .panel, tr { break-inside: avoid; page-break-inside: avoid; }
  .scroll { overflow: visible; }
  tr.diff, td.diff, li.diff, .listing tr.has-finding td { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  svg { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
`;

/**
 * A whole HTML document: the inline style sheet, a title, a subtitle, the
 * body, and the SVG patterns the pictures fill with.
 *
 * @param parts Title, subtitle, body.
 * @param defs SVG `<defs>` content shared by every picture (patterns).
 * @returns The document.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { htmlPage } from "./html.ts";
 * const page = htmlPage({ title: "a < b", subtitle: "", body: "<p>x</p>" }, "");
 * assertStringIncludes(page, "<title>a &lt; b</title>");
 * ```
 */
export function htmlPage(parts: PageParts, defs: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hyplab">
<title>${esc(parts.title)}</title>
<style>${CSS}</style>
</head>
<body>
<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>${defs}</defs></svg>
<main>
<h1>${esc(parts.title)}</h1>
<div class="sub">${esc(parts.subtitle)}</div>
${parts.body}
</main>
</body>
</html>
`;
}

/**
 * A table from rows of cells already in HTML.
 *
 * @param header Header cells (plain text).
 * @param rows Rows: cells in HTML; a row may carry attributes for its `<tr>`.
 * @param numeric Indexes of right-aligned columns.
 * @param cls Class of the table.
 * @returns The table.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { table } from "./html.ts";
 * assertStringIncludes(table(["a"], [{ cells: ["1"], attrs: 'class="diff"' }]), '<tr class="diff"><td>1</td></tr>');
 * ```
 */
export function table(
  header: readonly string[],
  rows: readonly { cells: readonly string[]; attrs?: string }[],
  numeric: readonly number[] = [],
  cls = "",
): string {
  const th = header.map((h, i) => `<th${numeric.includes(i) ? ' class="num"' : ""}>${esc(h)}</th>`)
    .join("");
  const body = rows.map((r) =>
    `<tr${r.attrs ? ` ${r.attrs}` : ""}>${
      r.cells.map((c, i) => `<td${numeric.includes(i) ? ' class="num"' : ""}>${c}</td>`).join("")
    }</tr>`
  ).join("\n");
  return `<table${
    cls ? ` class="${cls}"` : ""
  }><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}
