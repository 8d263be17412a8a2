/**
 * What the pictures share: the colour-vision-safe palette (Okabe–Ito) with a
 * pattern per colour, so no meaning rests on colour alone; the log-scaled
 * address axis; and small SVG element builders that escape their text.
 *
 * @module
 */

import { esc } from "./html.ts";

/** The eight Okabe–Ito colours (Okabe & Ito, "Color Universal Design", 2008). */
export const OKABE_ITO = {
  black: "#000000",
  orange: "#e69f00",
  skyBlue: "#56b4e9",
  bluishGreen: "#009e73",
  yellow: "#f0e442",
  blue: "#0072b2",
  vermillion: "#d55e00",
  reddishPurple: "#cc79a7",
} as const;

/** A fill: a colour and a pattern drawn over it, with the words a legend shows. */
export interface FillStyle {
  /** Pattern id (`url(#id)`). */
  id: string;
  /** Base colour. */
  colour: string;
  /** Overlay: `solid`, `hatch` (diagonal), `dots`, `cross`, `hlines`, `vlines`. */
  pattern: "solid" | "hatch" | "dots" | "cross" | "hlines" | "vlines";
  /** Legend text. */
  label: string;
}

/** Hyp stage-1 protections: one colour and one pattern each. */
export const PROT_FILLS: Readonly<Record<ProtClass, FillStyle>> = {
  rw: { id: "f-rw", colour: OKABE_ITO.blue, pattern: "solid", label: "PAGE_HYP (R W)" },
  rx: { id: "f-rx", colour: OKABE_ITO.vermillion, pattern: "hatch", label: "PAGE_HYP_EXEC (R X)" },
  ro: { id: "f-ro", colour: OKABE_ITO.bluishGreen, pattern: "dots", label: "PAGE_HYP_RO (R)" },
  dev: {
    id: "f-dev",
    colour: OKABE_ITO.reddishPurple,
    pattern: "cross",
    label: "PAGE_HYP_DEVICE (R W device)",
  },
  other: { id: "f-other", colour: "#8c8c8c", pattern: "hlines", label: "other prot" },
};

/** Which of the named protections a prot is. */
export type ProtClass = "rw" | "rx" | "ro" | "dev" | "other";

/** Fills of the physical memory map and the pool. */
export const MEMORY_FILLS: Readonly<Record<string, FillStyle>> = {
  ram: { id: "f-ram", colour: "#e9e9e9", pattern: "solid", label: "RAM (memblock.memory)" },
  hole: { id: "f-hole", colour: "#ffffff", pattern: "hlines", label: "no RAM" },
  image: { id: "f-image", colour: OKABE_ITO.blue, pattern: "solid", label: "kernel image" },
  dtb: { id: "f-dtb", colour: OKABE_ITO.yellow, pattern: "dots", label: "device tree blob" },
  early: {
    id: "f-early",
    colour: OKABE_ITO.skyBlue,
    pattern: "hatch",
    label: "early allocations",
  },
  pool: {
    id: "f-pool",
    colour: OKABE_ITO.vermillion,
    pattern: "cross",
    label: "hyp pool (kvm_hyp_reserve)",
  },
};

/** Fills the pool's terms and pools cycle through (labels carry the names). */
export const CYCLE_FILLS: readonly FillStyle[] = [
  { id: "f-c0", colour: OKABE_ITO.orange, pattern: "solid", label: "" },
  { id: "f-c1", colour: OKABE_ITO.skyBlue, pattern: "hatch", label: "" },
  { id: "f-c2", colour: OKABE_ITO.bluishGreen, pattern: "dots", label: "" },
  { id: "f-c3", colour: OKABE_ITO.reddishPurple, pattern: "cross", label: "" },
  { id: "f-c4", colour: OKABE_ITO.yellow, pattern: "vlines", label: "" },
  { id: "f-c5", colour: OKABE_ITO.blue, pattern: "hlines", label: "" },
];

/** Outcome fills (hypercall results, table-tree leaves). */
export const OUTCOME_FILLS: Readonly<Record<string, FillStyle>> = {
  ok: {
    id: "f-ok",
    colour: OKABE_ITO.bluishGreen,
    pattern: "solid",
    label: "returned 0 or a value",
  },
  err: { id: "f-err", colour: OKABE_ITO.vermillion, pattern: "cross", label: "error" },
  pages: { id: "f-pages", colour: OKABE_ITO.skyBlue, pattern: "dots", label: "page leaves" },
  blocks: { id: "f-blocks", colour: OKABE_ITO.orange, pattern: "hatch", label: "block leaves" },
  tables: { id: "f-tables", colour: "#f2f2f2", pattern: "solid", label: "table entries only" },
};

function overlay(p: FillStyle["pattern"]): string {
  const s = 'stroke="#fff" stroke-opacity="0.75"';
  switch (p) {
    case "solid":
      return "";
    case "hatch":
      return `<path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2" ${s} stroke-width="1.6"/>`;
    case "dots":
      return `<circle cx="3" cy="3" r="1.3" fill="#fff" fill-opacity="0.8"/>`;
    case "cross":
      return `<path d="M0,0 l6,6 M6,0 l-6,6" ${s} stroke-width="1.1"/>`;
    case "hlines":
      return `<path d="M0,3 h6" stroke="#555" stroke-opacity="0.6" stroke-width="1"/>`;
    case "vlines":
      return `<path d="M3,0 v6" ${s} stroke-width="1.4"/>`;
  }
}

/**
 * The `<pattern>` elements of every fill, for the page's shared `<defs>`.
 *
 * @returns SVG text.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { patternDefs } from "./svg.ts";
 * assertStringIncludes(patternDefs(), 'id="f-rx"');
 * ```
 */
export function patternDefs(): string {
  const all = [
    ...Object.values(PROT_FILLS),
    ...Object.values(MEMORY_FILLS),
    ...CYCLE_FILLS,
    ...Object.values(OUTCOME_FILLS),
  ];
  return all.map((f) =>
    `<pattern id="${f.id}" width="6" height="6" patternUnits="userSpaceOnUse">` +
    `<rect width="6" height="6" fill="${f.colour}"/>${overlay(f.pattern)}</pattern>`
  ).join("");
}

/**
 * A legend: a swatch and the words for each fill.
 *
 * @param fills The fills.
 * @returns HTML.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { legend, PROT_FILLS } from "./svg.ts";
 * assertStringIncludes(legend([PROT_FILLS.rx]), "PAGE_HYP_EXEC");
 * ```
 */
export function legend(fills: readonly FillStyle[]): string {
  return `<div class="legend">${
    fills.map((f) =>
      `<span><svg width="22" height="12" aria-hidden="true"><rect width="22" height="12" fill="url(#${f.id})" stroke="#555"/></svg>${
        esc(f.label)
      }</span>`
    ).join("")
  }</div>`;
}

/** A number rounded for SVG coordinates (one decimal keeps pages small). */
export function n(v: number): string {
  return String(Math.round(v * 10) / 10);
}

/**
 * An SVG element with a hover text (`<title>`), escaped.
 *
 * @param tag Element name (`rect`).
 * @param attrs Attributes, already `name="value"` text (values escaped by the caller).
 * @param title Hover text (plain).
 * @returns SVG text.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { titled } from "./svg.ts";
 * assertEquals(titled("rect", 'x="1"', "a<b"), '<rect x="1"><title>a&lt;b</title></rect>');
 * ```
 */
export function titled(tag: string, attrs: string, title: string): string {
  return `<${tag} ${attrs}><title>${esc(title)}</title></${tag}>`;
}

/**
 * Text at a point, escaped; `rotate` turns it about its anchor.
 *
 * @param x X.
 * @param y Y (baseline).
 * @param text Plain text.
 * @param cls Class (`lbl`, `tick`, `small`).
 * @param extra More attributes (`text-anchor="middle"`).
 * @param rotate Degrees.
 * @returns SVG text.
 */
export function label(
  x: number,
  y: number,
  text: string,
  cls = "lbl",
  extra = "",
  rotate = 0,
): string {
  const pos = rotate === 0
    ? `x="${n(x)}" y="${n(y)}"`
    : `transform="translate(${n(x)},${n(y)}) rotate(${rotate})"`;
  return `<text ${pos} class="${cls}"${extra ? ` ${extra}` : ""}>${esc(text)}</text>`;
}

/**
 * An `<svg>` of a given size that scales down with the page.
 *
 * @param width User units wide.
 * @param height User units high.
 * @param body Content.
 * @param aria What it shows (for screen readers).
 * @returns SVG text.
 */
export function svg(width: number, height: number, body: string, aria: string): string {
  return `<svg viewBox="0 0 ${n(width)} ${n(height)}" width="${n(width)}" height="${
    n(height)
  }" role="img" aria-label="${esc(aria)}">${body}</svg>`;
}

/** A half-open range `[start, end)` of addresses. */
export interface Span {
  /** First address. */
  start: number;
  /** One past the last. */
  end: number;
}

/** A log-scaled address axis: where an address lands, in user units. */
export interface LogScale {
  /** Position of an address (exact at boundaries, linear between them). */
  x(addr: number): number;
  /** The sorted, distinct boundaries. */
  readonly boundaries: readonly number[];
  /** Total width. */
  readonly width: number;
}

/**
 * A log-scaled axis over an address space cut at `boundaries`: each piece
 * between two neighbouring boundaries is `max(1, log2(bytes) − 11)` units
 * wide (a 4 KiB page is 1, 2^48 bytes 37), and a piece inside one of `items`
 * at least `minItem` units, so a one-page maplet stays visible beside a
 * 256 TiB hole. Addresses between boundaries are placed linearly within
 * their piece.
 *
 * @param boundaries Addresses to cut at (any order, duplicates allowed; at least two distinct).
 * @param width Total width in user units.
 * @param items Ranges that must stay visible.
 * @param minItem Least width of a piece inside an item, in log units.
 * @returns The scale.
 * @throws {RangeError} Fewer than two distinct boundaries, or a width ≤ 0.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { logScale } from "./svg.ts";
 * // 4 KiB is 1 unit, 1 MiB 9 units: 10 units over 100 pixels.
 * const s = logScale([0, 4096, 4096 + 2 ** 20], 100);
 * assertEquals([s.x(0), s.x(4096), s.x(4096 + 2 ** 20)], [0, 10, 100]);
 * ```
 */
export function logScale(
  boundaries: readonly number[],
  width: number,
  items: readonly Span[] = [],
  minItem = 2,
): LogScale {
  const b = [...new Set(boundaries)].sort((x, y) => x - y);
  if (b.length < 2 || !(width > 0)) {
    throw new RangeError("Cannot lay out an axis: it needs two distinct boundaries and a width");
  }
  const sorted = [...items].sort((p, q) => p.start - q.start);
  const weights: number[] = [];
  let k = 0;
  for (let i = 0; i + 1 < b.length; i++) {
    const lo = b[i]!;
    const hi = b[i + 1]!;
    let w = Math.max(1, Math.log2(hi - lo) - 11);
    // Items are sorted by start: skip those that end before this piece.
    while (k < sorted.length && sorted[k]!.end <= lo) k++;
    for (let j = k; j < sorted.length && sorted[j]!.start < hi; j++) {
      if (sorted[j]!.end > lo) {
        w = Math.max(w, minItem);
        break;
      }
    }
    weights.push(w);
  }
  const total = weights.reduce((s, w) => s + w, 0);
  const at: number[] = [0];
  for (const w of weights) at.push(at[at.length - 1]! + (w * width) / total);
  at[at.length - 1] = width;
  const x = (addr: number): number => {
    if (addr <= b[0]!) return 0;
    if (addr >= b[b.length - 1]!) return width;
    let lo = 0;
    let hi = b.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (b[mid]! <= addr) lo = mid;
      else hi = mid;
    }
    const f = (addr - b[lo]!) / (b[hi]! - b[lo]!);
    return at[lo]! + f * (at[hi]! - at[lo]!);
  };
  return { x, boundaries: b, width };
}

/**
 * Tick labels that do not overlap: the boundaries at least `minGap` units
 * after the previous label kept (the first and last always kept).
 *
 * @param xs Positions, ascending.
 * @param minGap Least distance.
 * @returns Indexes kept.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { spacedIndexes } from "./svg.ts";
 * assertEquals(spacedIndexes([0, 5, 30, 33, 100], 20), [0, 2, 4]);
 * ```
 */
export function spacedIndexes(xs: readonly number[], minGap: number): number[] {
  const out: number[] = [];
  let last = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    const isLast = i === xs.length - 1;
    if (xs[i]! - last >= minGap) {
      out.push(i);
      last = xs[i]!;
    } else if (isLast && out.length > 1) {
      // The end of the axis wins over the label just before it.
      out[out.length - 1] = i;
      last = xs[i]!;
    }
  }
  return out;
}

/**
 * Shortens a label to `max` characters with an ellipsis.
 *
 * @param text Text.
 * @param max Most characters.
 * @returns The text or its start and `…`.
 */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(1, max - 1))}…`;
}
