/**
 * The page of one boot: `examples/boot.ts --html FILE`, drawn from the same
 * {@link BootReport} `--json` prints.
 *
 * @module
 */

import { type BootReport, formatSize } from "../../core/mod.ts";
import { hypercallPanel, registersPanel, stepsPanel, switchPanel } from "./boot_panels.ts";
import { esc, htmlPage } from "./html.ts";
import { memoryPanel, poolsPanel } from "./memory_panel.ts";
import { patternDefs } from "./svg.ts";
import { treePanel, vaPanel } from "./va_panel.ts";

/** Width of the pictures on a boot page, in CSS pixels (fits a 1280 px window). */
export const PAGE_WIDTH = 1200;

/**
 * One line describing a boot's machine: profile, RAM, CPUs, VA bits.
 *
 * @param r The report.
 * @returns Plain text.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { createMachine, PKVM, profile } from "../../mod.ts";
 * import { machineLine } from "./boot_page.ts";
 * const r = createMachine({ cpus: 1, plugins: profile("v5.13") }).get(PKVM).boot();
 * assertStringIncludes(machineLine(r), "1 CPU");
 * ```
 */
export function machineLine(r: BootReport): string {
  const ram = r.machine.ram.map((b) => `${formatSize(Number(b.size))} at ${b.base}`).join(", ");
  const v = r.variants;
  return `profile ${r.profile} · RAM ${ram} · ${r.machine.cpus} CPU${
    r.machine.cpus === 1 ? "" : "s"
  } · VA_BITS ${r.machine.va_bits} · seed ${r.machine.seed} · ${
    [v.page_allocator, v.kvm_pgtable, `switch ${v.switch_sequence}`, v.tlb].filter(Boolean).join(
      " · ",
    )
  }`;
}

/**
 * The sections of a boot, for the boot page and for each column of a
 * comparison.
 *
 * @param r The report.
 * @param width Picture width.
 * @returns HTML, one `<section>` per panel.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, PKVM, profile } from "../../mod.ts";
 * import { bootSections } from "./boot_page.ts";
 * const r = createMachine({ cpus: 1, plugins: profile("v5.13") }).get(PKVM).boot();
 * assertEquals(bootSections(r, 800).match(/<section /g)?.length, 8);
 * ```
 */
export function bootSections(r: BootReport, width: number): string {
  const sec = (id: string, title: string, body: string) =>
    `<section class="panel" id="${id}"><h2>${esc(title)}</h2>\n${body}\n</section>`;
  return [
    sec("steps", "Boot steps", stepsPanel(r)),
    sec("memory", "Physical memory and the hyp pool", memoryPanel(r, width)),
    sec("va", `Hyp VA space (hyp_va_bits ${r.layout.hyp_va_bits})`, vaPanel(r, width)),
    sec("tree", "Stage-1 table tree (pkvm_pgtable)", treePanel(r, width)),
    sec("pools", "Pool free areas by order", poolsPanel(r, width)),
    sec("switch", "Switch sequence (__pkvm_init_switch_pgd)", switchPanel(r)),
    sec("hypercalls", "Hypercalls per CPU", hypercallPanel(r, width)),
    sec("registers", "EL2 registers of CPU 0, TLB, notes", registersPanel(r)),
  ].join("\n");
}

/**
 * The self-contained HTML page of a boot: physical memory map with the
 * carve-out and the pool's terms, the hyp VA space, the table tree, the
 * pools' free areas by order, the switch sequence with its findings, the
 * hypercall timeline and the registers; every picture an inline SVG whose
 * elements carry their exact values as hover text.
 *
 * @param r The report (`pkvm.boot()`, what `--json` prints).
 * @returns The page.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, PKVM, profile } from "../../mod.ts";
 * import { bootHtml } from "./boot_page.ts";
 * const r = createMachine({ cpus: 2, plugins: profile("v5.13") }).get(PKVM).boot();
 * const page = bootHtml(r);
 * assertEquals(page.match(/class="maplet /g)?.length, r.pgtable.mappings.length);
 * ```
 */
export function bootHtml(r: BootReport): string {
  const status = r.ok
    ? "booted and verified"
    : r.failure
    ? `failed at step ${r.failure.step}`
    : "verification failed";
  return htmlPage(
    {
      title: `hyplab pKVM boot: ${r.profile}, ${status}`,
      subtitle: machineLine(r),
      body: bootSections(r, PAGE_WIDTH),
    },
    patternDefs(),
  );
}
