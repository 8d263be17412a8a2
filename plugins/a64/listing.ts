/**
 * Human output: the source listing with each finding under its line, and
 * the mutation report as a table. Colours only when asked (a TTY).
 *
 * @module
 */

import type { CheckResult, Finding } from "../../core/mod.ts";
import type { MutationReport } from "./mutation.ts";
import type { FileCheckResult } from "./routines.ts";
import { printable } from "./errors.ts";
import { BARRIER_RULES } from "./rules.ts";

/** Options of {@link formatListing} and {@link formatMutations}. */
export interface ListingOptions {
  /**
   * ANSI colours.
   * @default false
   */
  color?: boolean;
}

const paint = (on: boolean, code: string, s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

function expandTabs(line: string): string {
  let out = "";
  for (const c of line) out += c === "\t" ? " ".repeat(8 - (out.length % 8)) : c;
  return out;
}

function label(f: Finding, color: boolean): string {
  return f.severity === "fail" ? paint(color, "1;31", "FAIL") : paint(color, "1;33", "WARN");
}

/**
 * The listing with findings under the offending lines, then the verdict.
 *
 * @param source The sequence text.
 * @param result Its check result.
 * @param options Colours.
 * @returns Multi-line text.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { check, formatListing } from "./mod.ts";
 * const src = "msr sctlr_el2, x0\nret x2";
 * const out = formatListing(src, check(src));
 * assertStringIncludes(out, "FAIL R1 (SCTLR-CSE)");
 * ```
 */
export function formatListing(
  source: string,
  result: CheckResult,
  options: ListingOptions = {},
): string {
  const color = options.color ?? false;
  const lines = source.replace(/\n$/, "").split("\n");
  const width = String(lines.length).length;
  const byLine = new Map<number, Finding[]>();
  for (const f of result.findings) byLine.set(f.line, [...(byLine.get(f.line) ?? []), f]);
  const out: string[] = [];
  lines.forEach((raw, i) => {
    const n = i + 1;
    // Control bytes (an escape in a comment) are shown, not sent to the terminal.
    const text = printable(expandTabs(raw.replace(/\r$/, "")));
    const fs = byLine.get(n) ?? [];
    const num = String(n).padStart(width);
    out.push(`${fs.length ? paint(color, "1", num) : paint(color, "2", num)} | ${text}`);
    for (const f of fs) {
      const col = f.column ?? 1;
      const caret = printable(expandTabs(raw.slice(0, col - 1))).length;
      const name = BARRIER_RULES[f.rule]?.name ?? "";
      out.push(
        `${" ".repeat(width)} | ${" ".repeat(caret)}^ ${label(f, color)} ${f.rule}${
          name ? ` (${name})` : ""
        }: ${f.message}`,
      );
    }
  });
  const fails = result.findings.filter((f) => f.severity === "fail").length;
  const warns = result.findings.length - fails;
  const v = result.verdict === "pass"
    ? paint(color, "1;32", "PASS")
    : result.verdict === "warn"
    ? paint(color, "1;33", "WARN")
    : paint(color, "1;31", "FAIL");
  out.push("", `verdict: ${v} (${fails} failing, ${warns} warning)`);
  return out.join("\n");
}

/**
 * The mutation report: one line per mutant, caught or missed, with rules.
 *
 * @param report The mutation report.
 * @param options Colours.
 * @returns Multi-line text.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { formatMutations, mutate } from "./mod.ts";
 * const out = formatMutations(mutate("tlbi alle2\ndsb nsh\nisb\nret x2"));
 * assertStringIncludes(out, "caught  drop isb  [R4]");
 * assertStringIncludes(out, "MISSED  drop tlbi alle2");
 * ```
 */
export function formatMutations(report: MutationReport, options: ListingOptions = {}): string {
  const color = options.color ?? false;
  const out = [
    `mutation: ${report.mutants.length} mutant(s), ${report.caught} caught, ${
      report.mutants.length - report.caught
    } missed`,
  ];
  const w = Math.max(0, ...report.mutants.map((m) => String(m.line).length));
  for (const m of report.mutants) {
    const tag = m.caught ? paint(color, "32", "caught") : paint(color, "1;31", "MISSED");
    out.push(
      `  line ${String(m.line).padStart(w)}  ${tag}  ${m.description}${
        m.rules.length ? `  [${m.rules.join(", ")}]` : ""
      }`,
    );
  }
  return out.join("\n");
}

/**
 * The routines of a file: each one's verdict, whether it turns the EL2 MMU
 * on or off or switches tables, how it is entered (the MMU state and who
 * calls it), and its findings by rule and line.
 *
 * @param result A whole-file check.
 * @param options Colours.
 * @returns Multi-line text.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { check, formatRoutines } from "./mod.ts";
 * const out = formatRoutines(check("SYM_FUNC_START(f)\n\tmsr sctlr_el2, x0\n\tret\nSYM_FUNC_END(f)"));
 * assertStringIncludes(out, "FAIL  f (line 1)");
 * ```
 */
export function formatRoutines(result: FileCheckResult, options: ListingOptions = {}): string {
  const color = options.color ?? false;
  const tag = (v: string) =>
    v === "pass"
      ? paint(color, "1;32", "PASS")
      : v === "warn"
      ? paint(color, "1;33", "WARN")
      : paint(color, "1;31", "FAIL");
  const out = ["routines (verdict, entry state, findings):"];
  for (const r of result.routines) {
    out.push(
      `  ${tag(r.verdict)}  ${r.name} (line ${r.line})${
        r.switches ? ": turns the EL2 MMU on/off or switches TTBR0_EL2" : ""
      }`,
    );
    const seen = new Map<string, number>();
    for (const e of r.entries) {
      const k = `MMU ${e.mmu} at entry${e.from === "assumed" ? " (assumed)" : ""}: ${e.how}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    for (const [k, n] of seen) out.push(`        ${k}${n > 1 ? ` (${n} states)` : ""}`);
    if (r.note) out.push(`        ${r.note}`);
    if (r.findings.length > 0) {
      out.push(
        `        ${
          r.findings.map((f) => `${f.severity === "fail" ? "" : "warn "}${f.rule} line ${f.line}`)
            .join(", ")
        }`,
      );
    }
  }
  return out.join("\n");
}
