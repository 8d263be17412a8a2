/**
 * Pictures: one self-contained HTML page (inline SVG and CSS, no script, no
 * network) for a boot, a comparison and an oracle diff, drawn from the same
 * objects `--json` prints. Every picture's elements carry their exact values
 * as hover text; colours are the Okabe–Ito palette, each with a pattern, so
 * no meaning rests on colour alone; big machines are drawn in aggregate (a
 * run of table pages is one box, a pool's free lists one bar per order).
 *
 * @example A boot's page
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { createMachine, PKVM, profile } from "../../mod.ts";
 * import { bootHtml } from "./mod.ts";
 * const page = bootHtml(createMachine({ cpus: 1, plugins: profile("v5.13") }).get(PKVM).boot());
 * assertStringIncludes(page, "<svg");
 * ```
 *
 * @module
 */

export { bootHtml, bootSections, machineLine, PAGE_WIDTH } from "./boot_page.ts";
export { comparisonHtml, metricsTable } from "./compare_page.ts";
export { type LeafAttr, leafAttr, protClass, protText, rangeText, sysregFields } from "./decode.ts";
export { escapeHtml, htmlPage, type PageParts } from "./html.ts";
export { mappingPath, type OracleDiffEntry, oracleDiffHtml } from "./oracle_page.ts";
export {
  type FillStyle,
  type LogScale,
  logScale,
  OKABE_ITO,
  PROT_FILLS,
  type ProtClass,
  spacedIndexes,
  type Span,
} from "./svg.ts";
export { checkHtmlPath, HtmlPathError, writeHtmlFile } from "./write.ts";
