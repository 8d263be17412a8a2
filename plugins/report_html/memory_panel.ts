/**
 * Physical memory: the RAM banks, memblock's reservations (kernel image,
 * device tree, early allocations, the hyp pool) on a log-scaled axis, the
 * carve-out enlarged into the pool's terms and the pools after finalise;
 * and each pool's free blocks by order.
 *
 * @module
 */

import { type BootReport, formatSize, hex, type PoolReport } from "../../core/mod.ts";
import { rangeText } from "./decode.ts";
import { esc, table } from "./html.ts";
import {
  clip,
  CYCLE_FILLS,
  type FillStyle,
  label,
  legend,
  logScale,
  MEMORY_FILLS,
  n,
  spacedIndexes,
  svg,
  titled,
} from "./svg.ts";

const PAGE = 4096;

/** The fill of a memblock.reserved region, by its label. */
function reservedFill(what: string): FillStyle {
  if (what.includes("hyp pool")) return MEMORY_FILLS.pool!;
  if (what.includes("kernel image")) return MEMORY_FILLS.image!;
  if (what === "device tree blob") return MEMORY_FILLS.dtb!;
  return MEMORY_FILLS.early!;
}

interface Box {
  start: number;
  end: number;
  fill: FillStyle;
  text: string;
  hover: string;
  cls: string;
  attrs?: string;
}

function lane(
  boxes: readonly Box[],
  x: (a: number) => number,
  y: number,
  h: number,
): string {
  const out: string[] = [];
  for (const b of boxes) {
    const x0 = x(b.start);
    const w = Math.max(1, x(b.end) - x0);
    out.push(
      titled(
        "rect",
        `class="${b.cls}"${b.attrs ? ` ${b.attrs}` : ""} x="${n(x0)}" y="${n(y)}" width="${
          n(w)
        }" height="${h}" fill="url(#${b.fill.id})" stroke="#333" stroke-width="0.6"`,
        b.hover,
      ),
    );
    // A label inside when it fits (about 6 units a character).
    if (w >= 40 && b.text) {
      out.push(
        `<text x="${n(x0 + 3)}" y="${
          n(y + h / 2 + 4)
        }" class="lbl" paint-order="stroke" stroke="#fff" stroke-width="3">${
          esc(clip(b.text, Math.floor((w - 6) / 6.2)))
        }</text>`,
      );
    }
  }
  return out.join("");
}

/**
 * The physical memory map and the carve-out enlarged.
 *
 * @param r The report.
 * @param width Picture width.
 * @param compact Leave out the legend, the note and the table.
 * @returns HTML.
 */
export function memoryPanel(r: BootReport, width: number, compact = false): string {
  const mem = r.memblock.memory.map((m) => ({
    start: Number(m.base),
    end: Number(m.base) + Number(m.size),
    flags: m.flags,
  }));
  const banks = r.machine.ram.map((b) => ({
    start: Number(b.base),
    end: Number(b.base) + Number(b.size),
  }));
  if (banks.length === 0) return `<p class="note">No RAM.</p>`;
  const res = r.memblock.reserved.map((m) => ({
    start: Number(m.base),
    end: Number(m.base) + Number(m.size),
    what: m.what ?? "reserved",
    flags: m.flags,
  }));
  const lo = Math.min(...banks.map((b) => b.start));
  const hi = Math.max(...banks.map((b) => b.end));
  const bounds = [
    lo,
    hi,
    ...banks.flatMap((b) => [b.start, b.end]),
    ...mem.flatMap((b) => [b.start, b.end]),
    ...res.flatMap((b) => [b.start, b.end]),
  ];
  const scale = logScale(bounds, width - 110, res, 4);
  const x = (a: number) => 110 + scale.x(a);
  const out: string[] = [];
  // Lane 1: RAM banks (what the machine has) and memblock.memory (what the kernel uses).
  const ramBoxes: Box[] = [];
  for (const b of banks) {
    const used = mem.filter((m) => m.start < b.end && m.end > b.start);
    ramBoxes.push({
      start: b.start,
      end: b.end,
      fill: MEMORY_FILLS.ram!,
      text: `RAM ${formatSize(b.end - b.start)}`,
      hover: `RAM bank ${rangeText(b.start, b.end - b.start)}${
        used.length === 0 ? "\nnot in memblock.memory (beyond the linear map)" : ""
      }`,
      cls: "bank",
    });
  }
  const holes: Box[] = [];
  const sortedBanks = [...banks].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sortedBanks.length; i++) {
    const a = sortedBanks[i - 1]!.end;
    const b = sortedBanks[i]!.start;
    if (b > a) {
      holes.push({
        start: a,
        end: b,
        fill: MEMORY_FILLS.hole!,
        text: "",
        hover: `no RAM ${rangeText(a, b - a)}`,
        cls: "hole",
      });
    }
  }
  out.push(label(0, 30, "RAM", "lbl", 'font-weight="600"'));
  out.push(lane([...ramBoxes, ...holes], x, 14, 24));
  out.push(label(0, 66, "memblock.reserved", "lbl", 'font-weight="600"'));
  out.push(`<line class="axis" x1="110" x2="${n(width)}" y1="62" y2="62"/>`);
  out.push(lane(
    res.map((m) => ({
      start: m.start,
      end: m.end,
      fill: reservedFill(m.what),
      text: m.what,
      hover: `${m.what}\n${rangeText(m.start, m.end - m.start)}${
        m.flags ? `\nmemblock flags ${hex(m.flags)}` : ""
      }`,
      cls: "reserved",
    })),
    x,
    50,
    24,
  ));
  // The axis under the lanes.
  const xs = scale.boundaries.map((b) => x(b));
  for (const i of spacedIndexes(xs, 92)) {
    const anchor = i === 0 ? "start" : i === xs.length - 1 ? "end" : "middle";
    out.push(`<line class="axis" x1="${n(xs[i]!)}" x2="${n(xs[i]!)}" y1="76" y2="82"/>`);
    out.push(label(xs[i]!, 93, hex(scale.boundaries[i]!), "tick", `text-anchor="${anchor}"`));
  }
  let h = 100;
  const base = Number(r.reserve.base);
  const size = Number(r.reserve.size);
  if (size > 0) {
    h = carveOut(r, base, size, x, width, out);
  }
  const picture = `<div class="scroll">${svg(width, h, out.join(""), "physical memory map")}</div>`;
  if (compact) return picture;
  const rows = res.map((m) => ({
    cells: [
      `<code>${esc(hex(m.start))}</code>`,
      `<code>${esc(hex(m.end))}</code>`,
      esc(formatSize(m.end - m.start)),
      esc(m.what),
    ],
  }));
  return `${
    legend([
      MEMORY_FILLS.ram!,
      MEMORY_FILLS.hole!,
      MEMORY_FILLS.image!,
      MEMORY_FILLS.dtb!,
      MEMORY_FILLS.early!,
      MEMORY_FILLS.pool!,
    ])
  }
${picture}
<p class="note">Widths on a log scale (log2(bytes) − 11 units per range), so a 1 MiB device tree shows beside gigabytes of RAM; the carve-out is enlarged below it, on its own log scale. Hover for exact values.</p>
${table(["memblock.reserved from", "to", "size", "what"], rows, [2])}`;
}

/** Draws the carve-out, enlarged, under the map; returns the picture's height. */
function carveOut(
  r: BootReport,
  base: number,
  size: number,
  x: (a: number) => number,
  width: number,
  out: string[],
): number {
  const end = base + size;
  const terms = r.reserve.layout
    .filter((t) => t.pages > 0)
    .map((t) => ({
      name: t.name,
      start: Number(t.base),
      end: Number(t.base) + t.pages * PAGE,
      pages: t.pages,
    }))
    .sort((a, b) => a.start - b.start);
  const pools = Object.entries(r.pools).map(([name, p]) => ({
    name,
    p,
    start: Number(p.base),
    end: Number(p.base) + p.pages * PAGE,
  }));
  const inside = (a: number) => Math.min(end, Math.max(base, a));
  const bounds = [
    base,
    end,
    ...terms.flatMap((t) => [inside(t.start), inside(t.end)]),
    ...pools.flatMap((p) => [inside(p.start), inside(p.end)]),
  ];
  const zs = logScale(bounds, width - 110, [...terms, ...pools], 4);
  const zx = (a: number) => 110 + zs.x(a);
  // The enlargement's two guide lines, from the pool on the map.
  out.push(
    `<path d="M${n(x(base))},74 L110,130 M${n(x(end))},74 L${
      n(width)
    },130" stroke="#999" stroke-dasharray="3 3" fill="none"/>`,
  );
  out.push(label(0, 150, "pool terms", "lbl", 'font-weight="600"'));
  const boxes: Box[] = terms.map((t, i) => ({
    start: inside(t.start),
    end: inside(t.end),
    fill: CYCLE_FILLS[i % CYCLE_FILLS.length]!,
    text: `${t.name} · ${t.pages} pages`,
    hover: `${t.name}: ${t.pages} pages\n${rangeText(t.start, t.end - t.start)}`,
    cls: "term",
    attrs: `data-name="${esc(t.name)}" data-pages="${t.pages}"`,
  }));
  const used = terms.reduce((s, t) => s + (t.end - t.start), 0);
  let cursor = base;
  const rest: Box[] = [];
  for (const t of [...terms, { start: end, end }]) {
    if (t.start > cursor) {
      rest.push({
        start: cursor,
        end: t.start,
        fill: MEMORY_FILLS.ram!,
        text: `${(t.start - cursor) / PAGE} pages not in a term`,
        hover: `in the carve-out, not in a term: ${(t.start - cursor) / PAGE} pages\n${
          rangeText(cursor, t.start - cursor)
        }`,
        cls: "term-rest",
      });
    }
    cursor = Math.max(cursor, t.end);
  }
  out.push(lane([...rest, ...boxes], zx, 134, 26));
  out.push(label(0, 194, "pools after finalise", "lbl", 'font-weight="600"'));
  out.push(lane(
    pools.map((p, i) => ({
      start: inside(p.start),
      end: inside(p.end),
      fill: CYCLE_FILLS[(i + 3) % CYCLE_FILLS.length]!,
      text: `${p.name} · ${p.p.pages} pages, ${p.p.free} free`,
      hover:
        `${p.name} (${p.p.allocator}): ${p.p.pages} pages, ${p.p.reserved} reserved at init, ${p.p.free} free\n${
          rangeText(p.start, p.end - p.start)
        }`,
      cls: "pool",
      attrs: `data-name="${esc(p.name)}"`,
    })),
    zx,
    178,
    26,
  ));
  const xs = zs.boundaries.map((b) => zx(b));
  for (const i of spacedIndexes(xs, 92)) {
    const anchor = i === 0 ? "start" : i === xs.length - 1 ? "end" : "middle";
    out.push(label(xs[i]!, 218, hex(zs.boundaries[i]!), "tick", `text-anchor="${anchor}"`));
  }
  const caption = width < 700
    ? `carve-out ${formatSize(size)}: ${size / PAGE} pages, ${used / PAGE} in terms`
    : `carve-out ${rangeText(base, size)}: ${size / PAGE} pages, ${
      used / PAGE
    } in the terms; kvm_hyp_reserve sized it for ${r.reserve.pages.total} pages`;
  out.push(label(width < 700 ? 0 : 110, 236, caption, "small"));
  return 244;
}

/**
 * Each pool's free blocks by order as bars (one bar per order, its height
 * the number of free blocks, its label the count).
 *
 * @param r The report.
 * @param width Width of all the charts together.
 * @param baseline Pools of a baseline run: orders whose count differs are outlined and marked.
 * @returns HTML.
 */
export function poolsPanel(
  r: BootReport,
  width: number,
  baseline?: Readonly<Record<string, PoolReport>>,
): string {
  const pools = Object.entries(r.pools);
  if (pools.length === 0) {
    return `<p class="note">No pool: the boot did not reach __pkvm_init_finalise.</p>`;
  }
  const each = Math.max(240, Math.min(400, width / pools.length - 12));
  const charts = pools.map(([name, p]) => {
    const orders = p.free_by_order;
    const max = Math.max(1, ...orders);
    const bw = (each - 30) / Math.max(1, orders.length);
    const ch = 110;
    const out: string[] = [];
    const other = baseline?.[name]?.free_by_order;
    orders.forEach((count, k) => {
      const hgt = count === 0 ? 0 : Math.max(2, (count / max) * (ch - 30));
      const x = 26 + k * bw;
      const differs = other !== undefined && (other[k] ?? 0) !== count;
      const hover = `${name}, order ${k}: ${count} free block${count === 1 ? "" : "s"} of ${
        2 ** k
      } page${k === 0 ? "" : "s"} = ${count * 2 ** k} pages (${formatSize(count * 2 ** k * PAGE)})${
        differs ? `\nbaseline: ${other![k] ?? 0}` : ""
      }`;
      out.push(
        titled(
          "rect",
          `class="order-bar" data-pool="${esc(name)}" data-order="${k}" data-count="${count}"${
            differs ? ` data-differs="1"` : ""
          } x="${n(x + 1)}" y="${n(ch - 14 - hgt)}" width="${n(Math.max(1, bw - 2))}" height="${
            n(Math.max(hgt, 0.5))
          }" fill="url(#${CYCLE_FILLS[1]!.id})" stroke="${
            differs ? "#d55e00" : "#333"
          }" stroke-width="${differs ? 2.5 : 0.6}"`,
          hover,
        ),
      );
      out.push(
        label(
          x + bw / 2,
          ch - 17 - hgt,
          `${count}${differs ? "≠" : ""}`,
          "small",
          'text-anchor="middle"',
        ),
      );
      out.push(label(x + bw / 2, ch - 2, String(k), "tick", 'text-anchor="middle"'));
    });
    out.push(`<line class="axis" x1="24" x2="${n(each - 2)}" y1="${ch - 14}" y2="${ch - 14}"/>`);
    out.push(label(0, ch - 2, "order", "tick"));
    return `<div><h3>${esc(name)}</h3><div class="note">${p.pages} pages at <code>${
      esc(p.base)
    }</code>, ${p.reserved} reserved at init, ${p.free} free (${esc(p.allocator)})</div>${
      svg(each, ch, out.join(""), `${name} free blocks by order`)
    }</div>`;
  });
  return `<div class="cols">${charts.join("")}</div>
<p class="note">Bar height: free blocks of each order (2^order pages each) on the pool's free lists after the boot${
    baseline ? "; ≠ and an outline mark an order whose count differs from the first variant's" : ""
  }.</p>`;
}
