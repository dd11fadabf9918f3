/**
 * The report's charts as scenes (see scene.ts): the per-source (U, L) scatter with each run's frontier,
 * action-mix bars, welfare bars and sweep curves. Element data attributes, for tests and viewers:
 * - scatter: `data-point` on every item's dot (with `data-series` = run, `data-id`, `data-x` = U,
 *   `data-y` = L); `data-frontier` = run on each frontier staircase;
 * - bars: `data-bar` (with `data-series`, `data-group`, `data-action` or `data-metric`, `data-value`);
 * - sweep: `data-sweep-point` on each marker (with `data-series`, `data-x`, `data-y`);
 * - a panel without data: `data-empty` on the text that says why (nothing is drawn empty silently).
 *
 * Axes of U, L and W span at least {@link MIN_WELFARE_SPAN} (they live on a scale of about 0–1), so a
 * difference of a thousandth is drawn as one, not stretched over the whole plot. Labels are measured
 * with the PNG's font's metrics (and an SVG sans-serif's) and wrapped to fit their column.
 */
import { frontier, type Point2 } from '../hypervolume.js';
import type { ActionMix } from '../metrics.js';
import { hashSeed } from '../stats.js';
import { textExtent } from './raster.js';
import type { Data, Scene, Shape } from './scene.js';

/** Okabe–Ito colours (distinguishable with the common colour-vision deficiencies). */
export const RUN_COLORS = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#000000',
  '#F0E442',
];
const ACTION_COLORS: Record<string, string> = {
  DA: '#0072B2',
  CQ: '#E69F00',
  AQ: '#009E73',
  unknown: '#BBBBBB',
};
const METRIC_COLORS: Record<string, string> = { W: '#0072B2', U: '#D55E00', L: '#009E73' };

export const runColor = (i: number): string => RUN_COLORS[i % RUN_COLORS.length]!;
export const actionColor = (action: string, i: number): string =>
  ACTION_COLORS[action] ?? RUN_COLORS[(i + 4) % RUN_COLORS.length]!;

const INK = '#222222';
const GRID = '#e4e4e4';
const AXIS = '#888888';
const FONT = 11;

/** A plot area in scene units (for the chart builders of this folder). */
export interface Frame {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Axis {
  min: number;
  max: number;
  ticks: number[];
  step: number;
}

/** Ticks at 1, 2 or 5 × 10^k covering [lo, hi], about `target` of them. */
export function niceAxis(lo: number, hi: number, target = 5): Axis {
  let a = Number.isFinite(lo) ? lo : 0;
  let b = Number.isFinite(hi) ? hi : 1;
  if (a > b) [a, b] = [b, a];
  if (b - a < 1e-12) {
    const pad = Math.abs(a) > 1e-12 ? Math.abs(a) * 0.1 : 0.5;
    a -= pad;
    b += pad;
  }
  const raw = (b - a) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const min = Math.floor(a / step + 1e-9) * step;
  const max = Math.ceil(b / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let t = min; t <= max + step * 1e-6; t += step) ticks.push(Math.round(t / step) * step);
  return { min, max, ticks, step };
}

/** The narrowest span of a U, L or W axis: a tenth of the 0–1 scale those values live on. */
export const MIN_WELFARE_SPAN = 0.1;

/**
 * An axis for U, L or W: the data's range, widened to {@link MIN_WELFARE_SPAN} around its middle when
 * narrower (and kept inside 0–1 when the data is), so that tiny differences look tiny.
 */
export function welfareAxis(lo: number, hi: number, target = 5): Axis {
  let a = lo;
  let b = hi;
  if (Number.isFinite(a) && Number.isFinite(b) && b - a < MIN_WELFARE_SPAN) {
    const mid = (a + b) / 2;
    a = mid - MIN_WELFARE_SPAN / 2;
    b = mid + MIN_WELFARE_SPAN / 2;
    if (a < 0 && lo >= 0) {
      b -= a;
      a = 0;
    }
    if (b > 1 && hi <= 1) {
      a -= b - 1;
      b = 1;
    }
  }
  return niceAxis(a, b, target);
}

/**
 * The width of a label in scene units: DejaVu Sans (the font the PNG is drawn with), or a browser's
 * sans-serif for the SVG (about 0.62 em a character), whichever is wider.
 */
export function textWidth(s: string, size: number): number {
  return Math.max(0.62 * size * [...s].length, textExtent(s, size));
}

/**
 * Breaks `s` into lines no wider than `maxWidth` (see {@link textWidth}): at spaces, and inside a word
 * only when the word alone is too wide. Nothing is cut off.
 */
export function wrapText(s: string, size: number, maxWidth: number): string[] {
  const lines: string[] = [];
  let line = '';
  const pushWord = (word: string): void => {
    const joined = line === '' ? word : `${line} ${word}`;
    if (textWidth(joined, size) <= maxWidth) {
      line = joined;
      return;
    }
    if (line !== '') lines.push(line);
    line = '';
    // A word wider than the column on its own: split it by characters.
    let rest = [...word];
    while (rest.length > 0 && textWidth(rest.join(''), size) > maxWidth) {
      // Widths grow about linearly with the characters: start from the proportional guess.
      let n = Math.min(
        rest.length - 1,
        Math.max(1, Math.floor((maxWidth * rest.length) / textWidth(rest.join(''), size))),
      );
      while (n > 1 && textWidth(rest.slice(0, n).join(''), size) > maxWidth) n--;
      lines.push(rest.slice(0, n).join(''));
      rest = rest.slice(n);
    }
    line = rest.join('');
  };
  for (const word of s.split(' ')) pushWord(word);
  if (line !== '' || lines.length === 0) lines.push(line);
  return lines;
}

/** A chart's width that holds its title (size 13, from x = 12). */
export const titleWidth = (title: string): number => Math.ceil(textWidth(title, 13)) + 24;

/** In place of an empty panel: its frame and a line saying why there is no data. */
export function emptyPanel(shapes: Shape[], f: Frame, why: string): void {
  shapes.push({ kind: 'line', x1: f.x, y1: f.y + f.h, x2: f.x + f.w, y2: f.y + f.h, stroke: AXIS, width: 1 });
  shapes.push({ kind: 'line', x1: f.x, y1: f.y, x2: f.x, y2: f.y + f.h, stroke: AXIS, width: 1 });
  const lines = wrapText(why, FONT, f.w - 20);
  const top = f.y + f.h / 2 - ((lines.length - 1) * 14) / 2;
  lines.forEach((l, i) => {
    shapes.push(
      text(f.x + f.w / 2, top + i * 14, l, { anchor: 'middle', fill: '#555555', data: { empty: why } }),
    );
  });
}

function tickLabel(t: number, step: number): string {
  const digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  const s = t.toFixed(digits);
  return s === `-${(0).toFixed(digits)}` ? (0).toFixed(digits) : s;
}

const sx = (f: Frame, a: Axis, v: number): number => f.x + ((v - a.min) / (a.max - a.min)) * f.w;
const sy = (f: Frame, a: Axis, v: number): number => f.y + f.h - ((v - a.min) / (a.max - a.min)) * f.h;

export function text(
  x: number,
  y: number,
  s: string,
  opts: {
    size?: number;
    anchor?: 'start' | 'middle' | 'end';
    fill?: string;
    vertical?: boolean;
    bold?: boolean;
    data?: Data;
  } = {},
): Shape {
  const shape: Shape = {
    kind: 'text',
    x,
    y,
    text: s,
    size: opts.size ?? FONT,
    fill: opts.fill ?? INK,
    anchor: opts.anchor ?? 'start',
  };
  if (opts.vertical) shape.vertical = true;
  if (opts.bold) shape.bold = true;
  if (opts.data) shape.data = opts.data;
  return shape;
}

/** Grid, tick labels and axis titles. `xTicks: false` leaves the x ticks to the caller (bar charts). */
export function axes(
  shapes: Shape[],
  f: Frame,
  ax: Axis | undefined,
  ay: Axis,
  labels: { x?: string; y?: string },
  format: { x?: (t: number) => string; y?: (t: number) => string } = {},
): void {
  for (const t of ay.ticks) {
    const y = sy(f, ay, t);
    shapes.push({ kind: 'line', x1: f.x, y1: y, x2: f.x + f.w, y2: y, stroke: GRID, width: 1 });
    shapes.push(text(f.x - 6, y + 4, format.y?.(t) ?? tickLabel(t, ay.step), { anchor: 'end', size: 10 }));
  }
  if (ax !== undefined) {
    for (const t of ax.ticks) {
      const x = sx(f, ax, t);
      shapes.push({ kind: 'line', x1: x, y1: f.y, x2: x, y2: f.y + f.h, stroke: GRID, width: 1 });
      shapes.push(
        text(x, f.y + f.h + 15, format.x?.(t) ?? tickLabel(t, ax.step), { anchor: 'middle', size: 10 }),
      );
    }
  }
  shapes.push({ kind: 'line', x1: f.x, y1: f.y + f.h, x2: f.x + f.w, y2: f.y + f.h, stroke: AXIS, width: 1 });
  shapes.push({ kind: 'line', x1: f.x, y1: f.y, x2: f.x, y2: f.y + f.h, stroke: AXIS, width: 1 });
  if (labels.x !== undefined)
    shapes.push(text(f.x + f.w / 2, f.y + f.h + 32, labels.x, { anchor: 'middle' }));
  if (labels.y !== undefined)
    shapes.push(text(f.x - 42, f.y + f.h / 2, labels.y, { anchor: 'middle', vertical: true }));
}

/** Legend swatches in a row from (x, y); wraps at `maxX`. Returns the y below it. */
export function legend(
  shapes: Shape[],
  items: Array<{ label: string; color: string }>,
  x: number,
  y: number,
  maxX: number,
): number {
  let cx = x;
  let cy = y;
  for (const it of items) {
    const w = 16 + textWidth(it.label, 10) + 14;
    if (cx + w > maxX && cx > x) {
      cx = x;
      cy += 16;
    }
    shapes.push({ kind: 'rect', x: cx, y: cy - 9, w: 10, h: 10, fill: it.color });
    shapes.push(text(cx + 14, cy, it.label, { size: 10 }));
    cx += w;
  }
  return cy + 16;
}

/**
 * A file-name-safe id part. A source that is not one already (other characters, or too long for a file
 * name) is cut and keeps a hash of itself: two sources never share a chart file.
 */
const slug = (s: string): string => {
  const safe = s.replace(/[^A-Za-z0-9._-]+/g, '_');
  return safe === s && s.length > 0 && s.length <= 80
    ? s
    : `${safe.slice(0, 60)}-${hashSeed(s).toString(16)}`;
};

export interface ScatterSeries {
  name: string;
  color: string;
  points: Array<Point2 & { id: string }>;
}

/**
 * (U, L) of every item of one data source, one colour per run, with each run's frontier as a staircase.
 * `why`: what to say when no run has a point (e.g. no verdicts yet).
 */
export function scatterChart(source: string, series: readonly ScatterSeries[], why?: string): Scene {
  const title = `${source}: (U, L) per item, frontier per run`;
  const width = Math.max(560, titleWidth(title));
  const shapes: Shape[] = [text(12, 20, title, { size: 13, bold: true })];
  const top = legend(
    shapes,
    series.map((s) => ({ label: `${s.name} (${s.points.length})`, color: s.color })),
    60,
    40,
    width - 10,
  );
  const f: Frame = { x: 60, y: top + 4, w: width - 80, h: 300 };
  const all = series.flatMap((s) => s.points);
  const us = all.map((p) => p.u);
  const ls = all.map((p) => p.l);
  const scene = (): Scene => ({
    id: `scatter-${slug(source)}`,
    kind: 'scatter',
    title: `${source}: (U, L) per item`,
    width,
    height: f.y + f.h + 44,
    data: { source },
    shapes,
  });
  if (all.length === 0) {
    emptyPanel(shapes, f, `No (U, L) points: ${why ?? 'no record of this data source has a score'}.`);
    return scene();
  }
  const ax = welfareAxis(Math.min(...us), Math.max(...us));
  const ay = welfareAxis(Math.min(...ls), Math.max(...ls));
  axes(shapes, f, ax, ay, { x: 'U (user welfare)', y: 'L (LLM welfare)' });
  for (const s of series) {
    for (const p of s.points) {
      shapes.push({
        kind: 'circle',
        cx: sx(f, ax, p.u),
        cy: sy(f, ay, p.l),
        r: 3,
        fill: s.color,
        opacity: 0.55,
        data: { point: '', series: s.name, id: p.id, x: p.u, y: p.l },
        title: `${s.name} ${p.id}: U ${p.u.toFixed(3)}, L ${p.l.toFixed(3)}`,
      });
    }
  }
  for (const [k, s] of series.entries()) {
    const front = frontier(s.points);
    if (front.length === 0) continue;
    // Staircase of the dominated region's boundary: from the left edge at the highest L down to the
    // bottom edge under the highest U.
    const pts: Array<[number, number]> = [[sx(f, ax, ax.min), sy(f, ay, front[0]!.l)]];
    for (let i = 0; i < front.length; i++) {
      const p = front[i]!;
      pts.push([sx(f, ax, p.u), sy(f, ay, p.l)]);
      const next = front[i + 1];
      if (next !== undefined) pts.push([sx(f, ax, p.u), sy(f, ay, next.l)]);
    }
    const last = front[front.length - 1]!;
    pts.push([sx(f, ax, last.u), sy(f, ay, ay.min)]);
    const line: Shape = {
      kind: 'polyline',
      points: pts,
      stroke: s.color,
      width: 2,
      data: { frontier: s.name, size: front.length },
    };
    // Every other run's frontier is dashed, so that frontiers lying on each other stay visible.
    if (k % 2 === 1) line.dash = 6;
    shapes.push(line);
  }
  return scene();
}

export interface MixRow {
  group: string;
  run: string;
  mix: ActionMix;
}

/** Bounds of the label column of the action-mix chart; labels wider than the maximum are wrapped. */
const MIX_LABEL_MIN = 200;
const MIX_LABEL_MAX = 340;
const MIX_LABEL_SIZE = 10;

/**
 * Stacked horizontal bars: the share of each action, one bar per (group, run). The label column is as
 * wide as the widest label (measured, within bounds); a longer label wraps onto more lines.
 */
export function actionMixChart(
  rows: readonly MixRow[],
  actions: readonly string[],
  id = 'action-mix',
): Scene {
  const labels = rows.map((row) => `${row.group} · ${row.run} (n ${row.mix.n})`);
  const widest = Math.max(0, ...labels.map((l) => textWidth(l, MIX_LABEL_SIZE)));
  const labelW = Math.min(MIX_LABEL_MAX, Math.max(MIX_LABEL_MIN, Math.ceil(widest) + 16));
  const lines = labels.map((l) => wrapText(l, MIX_LABEL_SIZE, labelW - 16));
  const width = labelW + 480;
  const shapes: Shape[] = [
    text(12, 20, 'Action mix (share of records with an output)', { size: 13, bold: true }),
  ];
  const keys = [...actions, 'unknown'];
  const top = legend(
    shapes,
    keys.map((a, i) => ({ label: a, color: actionColor(a, i) })),
    labelW,
    40,
    width - 10,
  );
  const barH = 16;
  const gap = 6;
  const lineH = 12;
  // Each row is as tall as its label.
  const rowH = lines.map((l) => Math.max(barH, l.length * lineH) + gap);
  const rowsH = rowH.reduce((a, b) => a + b, 0);
  const f: Frame = {
    x: labelW,
    y: top + 4,
    w: width - labelW - 30,
    h: Math.max(barH + gap, rowsH),
  };
  const ax: Axis = { min: 0, max: 1, ticks: [0, 0.25, 0.5, 0.75, 1], step: 0.25 };
  // No record has an output (every one failed, or was empty): say so, as the other charts do.
  if (rows.length === 0) {
    emptyPanel(shapes, { ...f, h: 60 }, 'No action mix: no record has an output with an action.');
    return { id, kind: 'action-mix', title: 'Action mix', width, height: f.y + 60 + 30, shapes };
  }
  for (const t of ax.ticks) {
    const x = sx(f, ax, t);
    shapes.push({ kind: 'line', x1: x, y1: f.y, x2: x, y2: f.y + f.h, stroke: GRID, width: 1 });
    shapes.push(text(x, f.y + f.h + 15, `${Math.round(t * 100)}%`, { anchor: 'middle', size: 10 }));
  }
  let rowTop = f.y;
  rows.forEach((row, i) => {
    const h = rowH[i]!;
    const y = rowTop + (h - barH) / 2;
    const label = lines[i]!;
    const labelTop = rowTop + (h - label.length * lineH) / 2;
    label.forEach((l, k) => {
      shapes.push(
        text(labelW - 8, labelTop + (k + 1) * lineH - 3, l, { anchor: 'end', size: MIX_LABEL_SIZE }),
      );
    });
    rowTop += h;
    let x = f.x;
    keys.forEach((a, k) => {
      const share = row.mix.shares[a] ?? 0;
      if (share <= 0) return;
      const w = share * f.w;
      shapes.push({
        kind: 'rect',
        x,
        y,
        w,
        h: barH,
        fill: actionColor(a, k),
        data: {
          bar: '',
          series: row.run,
          group: row.group,
          action: a,
          value: share,
          count: row.mix.counts[a] ?? 0,
        },
        title: `${row.group} · ${row.run}: ${a} ${(100 * share).toFixed(1)}% (${row.mix.counts[a] ?? 0})`,
      });
      if (w >= 34)
        shapes.push(
          text(x + w / 2, y + barH - 4, `${Math.round(share * 100)}%`, {
            anchor: 'middle',
            size: 10,
            fill: '#ffffff',
          }),
        );
      x += w;
    });
  });
  shapes.push({ kind: 'line', x1: f.x, y1: f.y, x2: f.x, y2: f.y + f.h, stroke: AXIS, width: 1 });
  return { id, kind: 'action-mix', title: 'Action mix', width, height: f.y + f.h + 30, shapes };
}

export interface BarValue {
  group: string;
  run: string;
  value: number | null;
}

/**
 * Grouped bars, one panel per metric (W, U, L): clusters by data source, one bar per run. When no run has
 * a value, one panel says why (`why`) instead of three empty ones.
 */
/** The top of a grouped-bar chart: its title, a legend of the runs, and the cluster width and chart width. */
/** Widest legend label of a grouped chart, in px. */
const LEGEND_LABEL_MAX = 560;

/** `text` as is when it is at most `maxW` wide at `size`, else cut to fit with "…" at its end. */
function fitText(text: string, size: number, maxW: number): string {
  if (textWidth(text, size) <= maxW) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (textWidth(`${text.slice(0, mid)}…`, size) <= maxW) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}

export function groupedChartHead(
  title: string,
  groups: readonly string[],
  runs: readonly string[],
): { clusterW: number; width: number; shapes: Shape[]; y: number } {
  const clusterW = Math.max(60, runs.length * 16 + 24);
  // The legend's longest run name fits whole (up to a cap, past which it is shortened with "…"): the
  // legend wraps between names, never inside one, so a long name ran past the chart's edge.
  const labels = runs.map((r) => fitText(r, 10, LEGEND_LABEL_MAX));
  const widestItem = Math.max(0, ...labels.map((l) => 16 + textWidth(l, 10) + 14));
  const width = Math.max(titleWidth(title), 70 + groups.length * clusterW + 20, 70 + widestItem + 10);
  const shapes: Shape[] = [text(12, 20, title, { size: 13, bold: true })];
  const y = legend(
    shapes,
    labels.map((label, i) => ({ label, color: runColor(i) })),
    70,
    40,
    width - 10,
  );
  return { clusterW, width, shapes, y };
}

/** One bar of {@link groupedBars}: its value, extra data attributes and tooltip. */
export interface GroupedBar {
  value: number;
  data: Data;
  title: string;
}

/**
 * One cluster per group along the frame, one bar per run in each (coloured by run), heights on `ay`, and
 * each group's name under its cluster. `bar` gives a bar, or null for none.
 */
export function groupedBars(
  shapes: Shape[],
  f: Frame,
  ay: Axis,
  groups: readonly string[],
  runs: readonly string[],
  clusterW: number,
  bar: (group: string, run: string) => GroupedBar | null,
): void {
  groups.forEach((g, gi) => {
    const cx = f.x + gi * clusterW;
    const barW = Math.min(16, (clusterW - 16) / Math.max(1, runs.length));
    const start = cx + (clusterW - barW * runs.length) / 2;
    runs.forEach((r, ri) => {
      const b = bar(g, r);
      if (b === null) return;
      const h = ((b.value - ay.min) / (ay.max - ay.min)) * f.h;
      shapes.push({
        kind: 'rect',
        x: start + ri * barW,
        y: f.y + f.h - h,
        w: barW - 1,
        h,
        fill: runColor(ri),
        data: { bar: '', series: r, ...b.data, group: g, value: b.value },
        title: b.title,
      });
    });
    shapes.push(text(cx + clusterW / 2, f.y + f.h + 14, g, { anchor: 'middle', size: 10 }));
  });
}

export function welfareChart(
  groups: readonly string[],
  runs: readonly string[],
  value: (metric: 'W' | 'U' | 'L', run: string, group: string) => number | null,
  why?: string,
): Scene {
  const head = groupedChartHead('Welfare per data source: W = mean sqrt(U·L), U, L', groups, runs);
  const { clusterW, width, shapes } = head;
  let y = head.y;
  const panelH = 130;
  const metrics = [
    ['W', 'welfare W'],
    ['U', 'user welfare U'],
    ['L', 'LLM welfare L'],
  ] as const;
  let maxV = 0;
  let any = false;
  for (const [m] of metrics) {
    for (const r of runs) {
      for (const g of groups) {
        const v = value(m, r, g);
        if (v !== null) any = true;
        maxV = Math.max(maxV, v ?? 0);
      }
    }
  }
  const scene = (height: number): Scene => ({
    id: 'welfare',
    kind: 'welfare',
    title: 'Welfare per data source',
    width,
    height,
    data: { metric: 'W U L' },
    shapes,
  });
  if (!any) {
    const f: Frame = { x: 70, y: y + 10, w: width - 100, h: panelH };
    emptyPanel(shapes, f, `No welfare: ${why ?? 'no record has a score'}.`);
    return scene(f.y + f.h + 20);
  }
  const ay = niceAxis(0, maxV > 0 ? maxV : 1, 4);
  for (const [m, label] of metrics) {
    const f: Frame = { x: 70, y: y + 10, w: groups.length * clusterW, h: panelH };
    axes(shapes, f, undefined, ay, { y: label });
    groupedBars(shapes, f, ay, groups, runs, clusterW, (g, r) => {
      const v = value(m, r, g);
      return v === null
        ? null
        : { value: v, data: { metric: m }, title: `${g} · ${r}: ${m} ${v.toFixed(3)}` };
    });
    y = f.y + f.h + 26;
  }
  return scene(y + 6);
}

export interface CurveSeries {
  name: string;
  color: string;
  points: Array<[number, number]>;
}

export function linePanel(
  shapes: Shape[],
  f: Frame,
  xs: Axis,
  series: readonly CurveSeries[],
  yLabel: string,
  xLabel: string,
  percent: boolean,
): void {
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const ay = percent
    ? { min: 0, max: 1, ticks: [0, 0.25, 0.5, 0.75, 1], step: 0.25 }
    : niceAxis(ys.length ? Math.min(0, ...ys) : 0, ys.length ? Math.max(...ys) : 1, 4);
  axes(shapes, f, xs, ay, { x: xLabel, y: yLabel }, percent ? { y: (t) => `${Math.round(t * 100)}%` } : {});
  for (const s of series) {
    const pts = s.points.map(([x, y]): [number, number] => [sx(f, xs, x), sy(f, ay, y)]);
    if (pts.length > 1)
      shapes.push({ kind: 'polyline', points: pts, stroke: s.color, width: 2, data: { curve: s.name } });
    s.points.forEach(([x, y], i) => {
      const [px, py] = pts[i]!;
      shapes.push({
        kind: 'circle',
        cx: px,
        cy: py,
        r: 3.5,
        fill: s.color,
        data: { 'sweep-point': '', series: s.name, x, y },
        title: `${s.name} at ${x}: ${y.toFixed(3)}`,
      });
    });
  }
}

export interface SweepCurves {
  param: string;
  welfare: CurveSeries[];
  actions: CurveSeries[];
  tokens: CurveSeries[];
  /** Why a panel has no points (e.g. no verdicts: no welfare), said in the panel instead of drawing it empty. */
  why?: Partial<Record<'welfare' | 'actions' | 'tokens', string>>;
}

/** Welfare, action shares and total tokens against the swept parameter, one panel each. */
/**
 * One panel of a sweep chart below `at.y`: the legend of its series, then their lines over the swept
 * values (or why there is nothing to draw). Returns the y below it.
 */
export function sweepPanel(
  shapes: Shape[],
  at: { y: number; width: number; xs: Axis; param: string },
  series: CurveSeries[],
  label: string,
  percent: boolean,
  why: string,
): number {
  const y = legend(
    shapes,
    series.map((s) => ({ label: s.name, color: s.color })),
    70,
    at.y + 10,
    at.width - 10,
  );
  const f: Frame = { x: 70, y, w: at.width - 100, h: 150 };
  if (series.every((s) => s.points.length === 0)) emptyPanel(shapes, f, `No ${label} to draw: ${why}.`);
  else linePanel(shapes, f, at.xs, series, label, at.param, percent);
  return f.y + f.h + 40;
}

export function sweepChart(run: string, curves: SweepCurves, id: string): Scene {
  const title = `${run}: sweep over ${curves.param}`;
  const width = Math.max(600, titleWidth(title));
  const shapes: Shape[] = [text(12, 20, title, { size: 13, bold: true })];
  const xsAll = [...curves.welfare, ...curves.actions, ...curves.tokens].flatMap((s) =>
    s.points.map((p) => p[0]),
  );
  const xs = niceAxis(xsAll.length ? Math.min(...xsAll) : 0, xsAll.length ? Math.max(...xsAll) : 1);
  let y = 36;
  const panels: Array<[CurveSeries[], string, boolean, 'welfare' | 'actions' | 'tokens']> = [
    [curves.welfare, 'welfare', false, 'welfare'],
    [curves.actions, 'action share', true, 'actions'],
    [curves.tokens, 'mean tokens', false, 'tokens'],
  ];
  for (const [series, label, percent, key] of panels) {
    const why = curves.why?.[key] ?? 'no point has a value';
    y = sweepPanel(shapes, { y, width, xs, param: curves.param }, series, label, percent, why);
  }
  return {
    id,
    kind: 'sweep',
    title: `${run}: sweep over ${curves.param}`,
    width,
    height: y,
    data: { run, param: curves.param },
    shapes,
  };
}

export const metricColor = (m: string): string => METRIC_COLORS[m] ?? INK;
