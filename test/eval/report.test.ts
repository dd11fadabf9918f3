import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareRuns } from '../../src/eval/compare.js';
import { computeMetrics, NO_JUDGE_REASON } from '../../src/eval/metrics.js';
import { buildReport, type ReportRun, writeReport } from '../../src/eval/report/build.js';
import {
  actionMixChart,
  MIN_WELFARE_SPAN,
  type MixRow,
  niceAxis,
  scatterChart,
  welfareChart,
} from '../../src/eval/report/charts.js';
import { advanceEm } from '../../src/eval/report/font.js';
import { loadPngRenderer, textExtent } from '../../src/eval/report/raster.js';
import { type Scene, type Shape, sceneToSvg } from '../../src/eval/report/scene.js';
import type { Sweep } from '../../src/eval/run-dir.js';
import type { RunRecord } from '../../src/eval/types.js';
import { rec } from './helpers.js';

/** A record of a run without a judge: a four-block output awaiting its verdict. */
const unjudged = (id: string): RunRecord =>
  rec(id, 'ambig_qa', 'error', {
    response: '<thinking>t</thinking><response>Which one?</response>',
    reward: { error: { stage: 'judge', message: 'not judged', reason: NO_JUDGE_REASON } },
  });

import { type DecodedPng, decodePng, pngSize, unbalancedTags } from './png-util.js';

function runRecords(shift: number): RunRecord[] {
  return [
    rec('m1', 'math-hard', { u: 0.6 + shift, l: 0.5 }, { cell: 'DQ_DA' }),
    rec('m2', 'math-hard', { u: 0.2, l: 0.7 - shift }, { cell: 'VQ_CQ' }),
    rec('m3', 'math-hard', shift > 0 ? 'error' : { u: 0.3, l: 0.3 }, { cell: 'DQ_AQ' }),
    rec('w1', 'wildguard', { u: 0.4, l: 0.6, judge: 0.5 }, { ground_truth: 'harmful', cell: 'VQ_AQ' }),
    rec('w2', 'wildguard', { u: 0.7, l: 0.7, judge: 1 }, { ground_truth: 'unharmful', cell: 'DQ_DA' }),
    rec('a1', 'ambig_qa', { u: 0.5, l: 0.5, judge: 1 }, { ground_truth: 'multipleQAs###x', cell: 'VQ_CQ' }),
    rec(
      'a2',
      'ambig_qa',
      { u: 0.5 + shift, l: 0.4, judge: 0 },
      { ground_truth: 'singleAnswer###y', cell: 'DQ_DA' },
    ),
  ];
}

const recordsA = runRecords(0);
const recordsB = runRecords(0.1);
const sweep: Sweep = {
  param: 'userPricePerMillion',
  points: [2, 0, 1].map((value) => ({
    value,
    metrics: computeMetrics(runRecords(value / 10)),
  })),
};
const runs: ReportRun[] = [
  { name: 'base <model>', dir: '/runs/a', records: recordsA, metrics: computeMetrics(recordsA) },
  { name: 'gtalign', dir: '/runs/b', records: recordsB, metrics: computeMetrics(recordsB), sweep },
];
const comparison = compareRuns(runs);
const report = buildReport(runs, { comparison });

/** The inline `<svg>` element whose attributes contain `attr`. */
function svgOf(html: string, attr: string): string {
  const at = html.indexOf(attr);
  expect(at).toBeGreaterThanOrEqual(0);
  const open = html.lastIndexOf('<svg', at);
  return html.slice(open, html.indexOf('</svg>', at) + 6);
}

const count = (s: string, needle: string): number => s.split(needle).length - 1;

describe('report.md', () => {
  it('holds the headline, behaviour, action-mix, comparison and sweep tables', () => {
    const md = report.markdown;
    expect(md).toContain(
      '| run | data source | n | failures | format | answer | Ans./Token | R/T | total tokens | W | U | L | matrix reasoning |',
    );
    expect(md).toMatch(/\| gtalign \| math-hard \| 3 \| 1 \|/);
    expect(md).toContain('- base \\<model> (/runs/a): 7 records: 7 scored, 0 awaiting a verdict, 0 failed');
    expect(md).toContain('**Safety (WildGuard, AdvBench)**');
    expect(md).toMatch(
      /\| base \\<model> \| wildguard \| 1 \| 100\.0% \| 0\.0% \| 0\.0% \| 1 \| 100\.0% \| 1\.000 \|/,
    );
    expect(md).toContain('**Ambiguity (AmbigQA, Abg-CoQA)**');
    expect(md).toContain('| run | group | n | DA | CQ | AQ | unknown |');
    expect(md).toContain('**Pareto comparison: A = base \\<model>, B = gtalign**');
    expect(md).toContain('| metric | A | B | Δ overall |');
    expect(md).toContain('| userPricePerMillion | n | W | U | L | DA | CQ | AQ | unknown | total tokens |');
    // Sweep rows in order of the parameter.
    const rows = md.split('\n').filter((l) => /^\| [012] \| /.test(l));
    expect(rows.map((l) => l.slice(2, 3))).toEqual(['0', '1', '2']);
    expect(md).toContain('![math-hard: (U, L) per item](charts/scatter-math-hard.png)');
  });

  it('shows a class with no judged record as –, not 0%', () => {
    const adv = [
      rec('v1', 'advbench', { u: 0.5, l: 0.5, judge: 0.5 }, { ground_truth: 'harmful' }),
      rec('v2', 'advbench', { u: 0.5, l: 0.5, judge: 0 }, { ground_truth: 'harmful' }),
    ];
    const md = buildReport([{ name: 'adv', records: adv, metrics: computeMetrics(adv) }]).markdown;
    // AdvBench has no unharmful rows: their count is 0 and their helpful rate undefined.
    expect(md).toMatch(/\| adv \| advbench \| 2 \| 50\.0% \| 0\.0% \| 50\.0% \| 0 \| – \| 0\.500 \|/);
  });

  it('says why there is no welfare instead of drawing empty panels (a run without a judge)', () => {
    const offline = [unjudged('u1'), unjudged('u2')];
    const built = buildReport([{ name: 'u', records: offline, metrics: computeMetrics(offline) }]);
    const welfare = sceneToSvg(built.charts.find((c) => c.kind === 'welfare')!);
    expect(welfare).not.toContain('data-bar');
    expect(welfare).toContain('data-empty=');
    expect(welfare).toContain('no record has a verdict yet; all 2 await one');
    const scatter = sceneToSvg(built.charts.find((c) => c.kind === 'scatter')!);
    expect(scatter).toContain('No (U, L) points: no record has a verdict yet');
  });

  it('calls records without a verdict "awaiting a verdict", not failures', () => {
    const offline = [unjudged('u1'), unjudged('u2'), rec('f1', 'ambig_qa', 'error', { response: 'x' })];
    const md = buildReport([
      { name: 'u', dir: '/runs/u', records: offline, metrics: computeMetrics(offline) },
    ]).markdown;
    expect(md).toContain('- u (/runs/u): 3 records: 0 scored, 2 awaiting a verdict, 1 failed');
    expect(md).toContain('u: 2 records await a verdict (the run had no judge: --judge offline)');
    expect(md).toContain('gtalign eval score --responses /runs/u/results.jsonl');
    // The headline counts them apart; the failures table lists only the real failure.
    expect(md).toMatch(/\| u \| overall \| 3 \| 1 \| [^\n]* \| 2 \|\n/);
    const failures = md.slice(md.indexOf('## Failures'), md.indexOf('## Definitions'));
    expect(failures).toContain('| u | f1 |');
    expect(failures).not.toContain('u1');
  });

  it('shows the pairwise numbers of compareRuns', () => {
    const pair = comparison.pairs[0]!;
    expect(pair.shared).toBe(7);
    expect(pair.excluded).toBe(1);
    const line = report.markdown.split('\n').find((l) => l.startsWith('| overall | 6 |'));
    expect(line).toBeDefined();
    const d = pair.pareto.overall.dominance;
    expect(line).toContain(`| 6 | ${d.a_wins} | ${d.b_wins} | ${d.equal} | ${d.incomparable} |`);
  });

  it("makes no link or image of a name's Markdown: its brackets are escaped", () => {
    const rows = [rec('[l](javascript:alert(1))', 'math-hard', { u: 0.5, l: 0.5 })];
    const name = '[x](javascript:alert(1)) ![i](http://e.test/t.png)';
    const md = buildReport([{ name, dir: '/runs/x', records: rows, metrics: computeMetrics(rows) }]).markdown;
    expect(md).toContain('\\[x\\](javascript:alert(1)) !\\[i\\](http://e.test/t.png)');
    expect(md).not.toMatch(/(?<!\\)\]\((javascript|http)/);
    expect(md).toContain('![math-hard: (U, L) per item](charts/scatter-math-hard.png)');
  });

  it('notes in the comparison that two runs were scored with other reward weights', () => {
    const withScoring = (run: ReportRun, configId: string): ReportRun => ({
      ...run,
      config: { reward: { configId, config: {}, mathCheck: true } },
    });
    const pair = [withScoring(runs[0]!, 'rc1-a'), withScoring(runs[1]!, 'rc1-b')];
    const md = buildReport(pair, { comparison: compareRuns(pair) }).markdown;
    expect(md).toMatch(
      /A and B were scored differently \(config\.json: reward weights \(reward\.configId\) "rc1-a" vs "rc1-b"\)/,
    );
  });

  it('starts no heading, list or code fence from a line break in a name, a lone CR included', () => {
    const rows = [rec('r1', 'math-hard', { u: 0.5, l: 0.5 })];
    const name = 'run\r# heading\r\n- item\n```';
    const md = buildReport([{ name, dir: '/runs/x', records: rows, metrics: computeMetrics(rows) }]).markdown;
    expect(md).not.toMatch(/\r/);
    // A line ending is any of \r\n, \r, \n (CommonMark): no line may start with the name's parts.
    const lines = md.split(/\r\n|\r|\n/);
    expect(lines.filter((l) => /^(# heading|- item|```)/.test(l))).toEqual([]);
    expect(md).toContain('# GTAlign evaluation: run # heading - item ```');
  });
});

describe('report.html', () => {
  const html = report.html;

  it('is self-contained: no URL, no script, inline style and SVG', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/https?:/i);
    expect(html).not.toMatch(/<script|<link|<img|url\(/i);
    expect(html).toContain('<style>');
    expect(count(html, '<svg')).toBe(report.charts.length);
  });

  it('is well-formed and escapes run names', () => {
    expect(unbalancedTags(html)).toEqual([]);
    expect(html).toContain('base &lt;model&gt;');
    expect(report.markdown).toContain('base \\<model>');
    expect(html).not.toContain('base <model>');
  });

  it('draws one scatter point per scored record of each source, per run', () => {
    for (const source of ['math-hard', 'wildguard', 'ambig_qa']) {
      const svg = svgOf(html, `data-chart="scatter" data-source="${source}"`);
      const expected = [...recordsA, ...recordsB].filter(
        (r) => r.data_source === source && !('error' in r.reward),
      );
      expect(count(svg, 'data-point=""')).toBe(expected.length);
      expect(count(svg, 'data-series="gtalign"')).toBeGreaterThanOrEqual(
        expected.filter((r) => recordsB.includes(r)).length,
      );
      expect(count(svg, 'data-frontier=')).toBe(2);
    }
    // A point carries its data coordinates.
    expect(html).toContain('data-series="gtalign" data-id="m1" data-x="0.7" data-y="0.5"');
  });

  it('draws action-mix and welfare bars and the sweep curves', () => {
    const mix = svgOf(html, 'data-chart="action-mix"');
    // all + DQ + VQ + clear + ambiguous + unharmful + harmful groups, two runs each; one rect per action present.
    const bars = [
      ...mix.matchAll(
        /data-bar="" data-series="([^"]+)" data-group="all" data-action="(\w+)" data-value="([\d.]+)"/g,
      ),
    ];
    const shares = Object.fromEntries(
      bars.filter((b) => b[1] === 'gtalign').map((b) => [b[2], Number(b[3])]),
    );
    // gtalign's cells: DQ_DA ×3, VQ_CQ ×2, VQ_AQ ×1, and DQ_AQ of m3, whose reward failed but whose
    // action still counts in the mix.
    expect(shares).toEqual({ DA: 3 / 7, CQ: 2 / 7, AQ: 2 / 7 });

    const welfare = svgOf(html, 'data-chart="welfare"');
    // (3 sources + overall) × 2 runs × (W, U, L)
    expect(count(welfare, 'data-bar=""')).toBe(4 * 2 * 3);
    const sw = svgOf(html, 'data-chart="sweep"');
    // 3 points × (W, U, L + DA, CQ, AQ + total, response)
    expect(count(sw, 'data-sweep-point=""')).toBe(3 * 8);
  });
});

// resvg's native binding ships for this platform (linux-x64-gnu): the renderer must load here.
const loaded = await loadPngRenderer();
if (!loaded.ok) throw new Error(loaded.reason);
const renderer = loaded.renderer;
const render = (scene: Scene, scale = 2): DecodedPng => decodePng(renderer.render(scene, scale));

const rgbOf = (hex: string): number[] => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
const near = (a: number[], b: number[], tol: number): boolean =>
  b.every((v, i) => Math.abs(a[i]! - v) <= tol);
/** `fill` at `opacity` over white, as the renderer blends it. */
const overWhite = (fill: string, opacity: number): number[] =>
  rgbOf(fill).map((c) => Math.round(c * opacity + 255 * (1 - opacity)));

/** The pixels where two renders of the same size differ, with their bounding box (in pixels). */
function diff(
  a: DecodedPng,
  b: DecodedPng,
): {
  count: number;
  box: { x0: number; y0: number; x1: number; y1: number };
  pixels: Array<[number, number]>;
} {
  const box = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
  const pixels: Array<[number, number]> = [];
  const pa = a.pixels;
  const pb = b.pixels;
  const n = a.channels;
  for (let i = 0; i < pa.length; i += n) {
    if (pa[i] === pb[i] && pa[i + 1] === pb[i + 1] && pa[i + 2] === pb[i + 2] && pa[i + 3] === pb[i + 3])
      continue;
    const x = (i / n) % a.width;
    const y = Math.floor(i / n / a.width);
    pixels.push([x, y]);
    box.x0 = Math.min(box.x0, x);
    box.y0 = Math.min(box.y0, y);
    box.x1 = Math.max(box.x1, x);
    box.y1 = Math.max(box.y1, y);
  }
  return { count: pixels.length, box, pixels };
}

type TextShape = Extract<Shape, { kind: 'text' }>;
const without = (scene: Scene, drop: (s: Shape) => boolean): Scene => ({
  ...scene,
  shapes: scene.shapes.filter((s) => !drop(s)),
});

/**
 * Where a text's ink can be, in scene units: along the baseline from its anchored start to start +
 * {@link textExtent}, from an em above the baseline to 0.3 em below it (DejaVu Sans: ascent with
 * accents 0.93, descent 0.24); rotated −90° around (x, y) when vertical.
 */
function textBox(t: TextShape): { x0: number; y0: number; x1: number; y1: number } {
  const w = textExtent(t.text, t.size);
  const start = t.anchor === 'start' ? 0 : t.anchor === 'middle' ? -w / 2 : -w;
  const [a0, a1] = [start, start + w]; // along the baseline
  const [b0, b1] = [-t.size, 0.3 * t.size]; // across it, downwards positive
  return t.vertical
    ? { x0: t.x + b0, x1: t.x + b1, y0: t.y - a1, y1: t.y - a0 }
    : { x0: t.x + a0, x1: t.x + a1, y0: t.y + b0, y1: t.y + b1 };
}

describe('charts as PNG (resvg, DejaVu Sans)', () => {
  it("renders every chart as a PNG of the SVG's size times the scale that decodes", () => {
    for (const scene of report.charts) {
      const svg = sceneToSvg(scene, { standalone: true });
      const w = Number(/<svg[^>]* width="(\d+)"/.exec(svg)![1]);
      const h = Number(/<svg[^>]* height="(\d+)"/.exec(svg)![1]);
      for (const scale of scene === report.charts[0] ? [1, 2, 3] : [2]) {
        const png = renderer.render(scene, scale);
        expect(pngSize(png), `${scene.id} at ${scale}`).toEqual({ width: w * scale, height: h * scale });
        const img = decodePng(png);
        expect(img.pixel(0, 0)).toEqual([255, 255, 255, 255]);
      }
    }
  });

  it('renders at scale 2 when none is given', () => {
    const scene = report.charts[0]!;
    expect(pngSize(renderer.render(scene))).toEqual({ width: scene.width * 2, height: scene.height * 2 });
  });

  it('draws rectangles, discs, lines and text where the scene puts them', () => {
    const textShape: Shape = {
      kind: 'text',
      x: 2,
      y: 36,
      text: 'A1',
      size: 10,
      fill: '#000000',
      anchor: 'start',
    };
    const scene: Scene = {
      id: 't',
      kind: 'test',
      title: 't',
      width: 60,
      height: 40,
      shapes: [
        { kind: 'rect', x: 2, y: 2, w: 10, h: 10, fill: '#ff0000' },
        { kind: 'circle', cx: 30, cy: 8, r: 4, fill: '#0000ff' },
        { kind: 'line', x1: 0, y1: 20, x2: 60, y2: 20, stroke: '#00ff00', width: 2 },
        textShape,
      ],
    };
    const img = render(scene);
    expect(img.pixel(10, 10)).toEqual([255, 0, 0, 255]);
    expect(img.pixel(30, 30)).toEqual([255, 255, 255, 255]);
    expect(img.pixel(60, 16)).toEqual([0, 0, 255, 255]);
    expect(img.pixel(100, 40)).toEqual([0, 255, 0, 255]);
    // The text: black pixels in its box, none there without it.
    const dark = (im: DecodedPng): number => {
      let n = 0;
      for (let y = 56; y < 76; y++) for (let x = 0; x < 40; x++) if (near(im.pixel(x, y), [0, 0, 0], 60)) n++;
      return n;
    };
    expect(dark(img)).toBeGreaterThan(20);
    expect(dark(render(without(scene, (s) => s === textShape)))).toBe(0);
  });

  it('draws every text of the charts, in its colour, inside the box the font metrics give', () => {
    const scale = 2;
    const tol = 1; // a scene unit of anti-aliasing and side bearing
    const inBox = (b: ReturnType<typeof textBox>, x: number, y: number): boolean =>
      x / scale >= b.x0 - tol &&
      (x + 1) / scale <= b.x1 + tol &&
      y / scale >= b.y0 - tol &&
      (y + 1) / scale <= b.y1 + tol;
    for (const scene of report.charts) {
      const texts = scene.shapes.filter((s): s is TextShape => s.kind === 'text');
      const boxes = texts.map(textBox);
      const full = render(scene, scale);
      const d = diff(
        full,
        render(
          without(scene, (s) => s.kind === 'text'),
          scale,
        ),
      );
      // Every pixel the texts change lies in some text's box…
      const stray = d.pixels.filter(([x, y]) => !boxes.some((b) => inBox(b, x, y)));
      expect(stray, `${scene.id}: text pixels outside every text box`).toEqual([]);
      // …and every text has pixels of its own colour (fully covered strokes, not only grey edges) in its box.
      texts.forEach((t, i) => {
        const own = d.pixels.filter(
          ([x, y]) => inBox(boxes[i]!, x, y) && near(full.pixel(x, y), rgbOf(t.fill), 24),
        );
        expect(own.length, `${scene.id}: "${t.text}"`).toBeGreaterThan(3);
      });
    }
  });

  it('draws the title and the vertical axis title where they are, over the width they are measured at', () => {
    const scale = 2;
    const scene = report.charts.find((c) => c.id === 'scatter-math-hard')!;
    const full = render(scene, scale);
    const title = scene.shapes.find((s): s is TextShape => s.kind === 'text' && s.bold === true)!;
    const vertical = scene.shapes.find((s): s is TextShape => s.kind === 'text' && s.vertical === true)!;
    expect(title.text).toBe('math-hard: (U, L) per item, frontier per run');
    for (const t of [title, vertical]) {
      const d = diff(
        full,
        render(
          without(scene, (s) => s === t),
          scale,
        ),
      );
      const b = textBox(t);
      const what = `"${t.text}"`;
      expect(d.count, what).toBeGreaterThan(50);
      expect(d.box.x0 / scale, what).toBeGreaterThanOrEqual(b.x0 - 1);
      expect((d.box.x1 + 1) / scale, what).toBeLessThanOrEqual(b.x1 + 1);
      expect(d.box.y0 / scale, what).toBeGreaterThanOrEqual(b.y0 - 1);
      expect((d.box.y1 + 1) / scale, what).toBeLessThanOrEqual(b.y1 + 1);
      // The ink spans the advance width of its weight, less the side bearings of its first and last
      // glyph: the measure is this font's, not a loose bound.
      const along = t.vertical ? d.box.y1 - d.box.y0 + 1 : d.box.x1 - d.box.x0 + 1;
      const advance = t.size * advanceEm(t.text, t.bold ? 'bold' : 'regular');
      expect(along / scale, what).toBeGreaterThan(advance - 0.25 * t.size);
    }
  });

  it("shows each point's colour where the scene's circle is", () => {
    const points = (dx: number) =>
      [0.1, 0.3, 0.5, 0.7, 0.9].map((u, i) => ({ id: `p${i}`, u: u + dx, l: 0.9 - u + (i % 2) * 0.05 }));
    const scene = scatterChart('s', [
      { name: 'a', color: '#0072B2', points: points(0) },
      { name: 'b', color: '#D55E00', points: points(0.05) },
    ]);
    const scale = 2;
    const img = render(scene, scale);
    // The frontier staircases pass over their points: compare renders without them.
    const noFrontier = render(
      without(scene, (s) => s.kind === 'polyline'),
      scale,
    );
    const bare = render(
      without(scene, (s) => s.kind === 'circle' || s.kind === 'polyline'),
      scale,
    );
    const circles = scene.shapes.filter((s) => s.kind === 'circle');
    expect(circles.length).toBe(10);
    for (const c of circles) {
      const want = overWhite(c.fill, c.opacity ?? 1);
      const cx = Math.floor(c.cx * scale);
      const cy = Math.floor(c.cy * scale);
      const reach = Math.floor(c.r * scale * 0.7);
      let found = 0;
      let changed = 0;
      for (let y = cy - reach; y <= cy + reach; y++) {
        for (let x = cx - reach; x <= cx + reach; x++) {
          if (near(img.pixel(x, y), want, 6)) found++;
          if (!near(noFrontier.pixel(x, y), bare.pixel(x, y), 0)) changed++;
        }
      }
      const what = `${c.data?.series} ${c.data?.id}`;
      expect(found, what).toBeGreaterThan(4);
      expect(changed, what).toBe((2 * reach + 1) ** 2);
    }
  });

  it("measures text with DejaVu Sans's own advance widths, the wider of regular and bold, at every scale", () => {
    // From the fonts' hmtx tables (2048 units per em).
    expect(advanceEm('x') * 2048).toBeCloseTo(1212, 6);
    expect(advanceEm('x', 'bold') * 2048).toBeCloseTo(1321, 6);
    expect(advanceEm('mx ') * 2048).toBeCloseTo(1995 + 1212 + 651, 6);
    // Symbols the charts print have glyphs of their own (not .notdef's 1229), in and beyond the BMP.
    expect(advanceEm('≻') * 2048).toBeCloseTo(1716, 6);
    expect(advanceEm('\u{E000}') * 2048).toBeCloseTo(1229, 6);
    expect(advanceEm('😀') * 2048).toBeCloseTo(2135, 6);
    const s = 'label unharmful · base (n 300)';
    expect(textExtent(s, 11)).toBeCloseTo(11 * advanceEm(s, 'bold'), 9);
  });

  it('writes standalone SVG files with the namespace, inline SVG without', () => {
    const scene = scatterChart('s', [{ name: 'r', color: '#000000', points: [{ id: 'x', u: 1, l: 2 }] }]);
    expect(sceneToSvg(scene, { standalone: true })).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(sceneToSvg(scene)).not.toContain('xmlns');
  });
});

describe('writeReport', () => {
  it('writes every chart as SVG and PNG, and report.md links the PNGs', async () => {
    const out = await mkdtemp(join(tmpdir(), 'gtalign-write-report-'));
    const warnings: string[] = [];
    const files = await writeReport(out, report, { scale: 1, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    const charts = (await readdir(join(out, 'charts'))).sort();
    expect(charts).toEqual(report.charts.flatMap((c) => [`${c.id}.png`, `${c.id}.svg`]).sort());
    expect(files).toHaveLength(2 + 2 * report.charts.length);
    const scene = report.charts[0]!;
    const png = await readFile(join(out, 'charts', `${scene.id}.png`));
    expect(pngSize(png)).toEqual({ width: scene.width, height: scene.height });
    expect(await readFile(join(out, 'report.md'), 'utf8')).toContain(`(charts/${scene.id}.png)`);
  });

  it('a write that fails part-way leaves the earlier report whole, and no temporary file', async () => {
    const out = await mkdtemp(join(tmpdir(), 'gtalign-write-report-'));
    await writeReport(out, report, { scale: 1, png: false });
    const before = await readFile(join(out, 'report.html'), 'utf8');
    // The last chart cannot be replaced (a directory holds its name), as a full disk would stop it.
    const last = report.charts.at(-1)!;
    await rm(join(out, 'charts', `${last.id}.svg`));
    await mkdir(join(out, 'charts', `${last.id}.svg`, 'x'), { recursive: true });
    const changed = { ...report, html: `${report.html}<!-- new -->` };
    const error = await writeReport(out, changed, { scale: 1, png: false }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: expect.stringMatching(/^E(ISDIR|NOTEMPTY|EXIST)$/) });
    // The pages are written last: the earlier report.html stands, linking charts that are all whole.
    expect(await readFile(join(out, 'report.html'), 'utf8')).toBe(before);
    const left = [...(await readdir(out)), ...(await readdir(join(out, 'charts')))];
    expect(left.filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('writes SVG charts only, links them and says why when resvg cannot load', async () => {
    const out = await mkdtemp(join(tmpdir(), 'gtalign-write-report-'));
    const warnings: string[] = [];
    const files = await writeReport(out, report, {
      warn: (m) => warnings.push(m),
      loadResvg: () =>
        Promise.reject(
          new Error("Cannot find module '@resvg/resvg-js-linux-x64-gnu'\nRequire stack:\n- js-binding.js"),
        ),
    });
    expect(warnings).toEqual([
      "PNG charts not written (cannot load @resvg/resvg-js: Cannot find module '@resvg/resvg-js-linux-x64-gnu'); the charts are SVG only and report.md links them",
    ]);
    const charts = (await readdir(join(out, 'charts'))).sort();
    expect(charts).toEqual(report.charts.map((c) => `${c.id}.svg`).sort());
    expect(files.filter((f) => f.endsWith('.png'))).toEqual([]);
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).not.toMatch(/\.png\)/);
    for (const c of report.charts) expect(md).toContain(`(charts/${c.id}.svg)`);
    // report.md is otherwise the one built.
    expect(md.replaceAll('.svg)', '.png)')).toBe(report.markdown);
  });

  it('does not load resvg without PNG output', async () => {
    const out = await mkdtemp(join(tmpdir(), 'gtalign-write-report-'));
    let loads = 0;
    const svgOnly = buildReport(runs, { comparison, chartFormat: 'svg' });
    await writeReport(out, svgOnly, {
      png: false,
      loadResvg: () => {
        loads++;
        return Promise.reject(new Error('not wanted'));
      },
      warn: (m) => {
        throw new Error(`unexpected warning: ${m}`);
      },
    });
    expect(loads).toBe(0);
    expect((await readdir(join(out, 'charts'))).every((f) => f.endsWith('.svg'))).toBe(true);
    expect(await readFile(join(out, 'report.md'), 'utf8')).toBe(svgOnly.markdown);
  });

  it('writes charts whose labels hold characters XML does not allow (a NUL in a row id), as PNG and SVG', async () => {
    const out = await mkdtemp(join(tmpdir(), 'gtalign-write-report-'));
    const rows = [
      rec('nul\u0000id\u0007', 'math-hard', { u: 0.5, l: 0.5 }),
      rec('b', 'math-hard', { u: 0.4, l: 0.6 }),
    ];
    const hostile = buildReport([
      { name: 'run\u0000\u001b', dir: '/runs/x', records: rows, metrics: computeMetrics(rows) },
    ]);
    await writeReport(out, hostile, { scale: 1 });
    const svg = await readFile(join(out, 'charts', 'scatter-math-hard.svg'), 'utf8');
    expect(svg).toContain('data-id="nul\ufffdid\ufffd"');
    expect([...svg].filter((c) => c < ' ' && c !== '\n')).toEqual([]);
    expect(await readdir(join(out, 'charts'))).toContain('scatter-math-hard.png');
  });

  it('gives each data source its own chart file, however it is named (long, or alike but for punctuation)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'gtalign-write-report-'));
    const sources = ['x'.repeat(300), 'a<b', 'a>b', 'math-hard'];
    const rows = sources.map((s, i) => rec(`r${i}`, 'math-hard', { u: 0.5, l: 0.5 }, { data_source: s }));
    const named = buildReport([
      { name: 'run', dir: '/runs/x', records: rows, metrics: computeMetrics(rows) },
    ]);
    const ids = named.charts.filter((c) => c.kind === 'scatter').map((c) => c.id);
    expect(new Set(ids).size).toBe(4);
    expect(ids).toContain('scatter-math-hard');
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9._-]{1,100}$/);
    await writeReport(out, named, { scale: 1 });
    expect((await readdir(join(out, 'charts'))).filter((f) => f.startsWith('scatter-'))).toHaveLength(8);
  });
});

describe('niceAxis', () => {
  it('covers the range with 1-2-5 steps', () => {
    expect(niceAxis(0.03, 0.97)).toMatchObject({ min: 0, max: 1, step: 0.2 });
    expect(niceAxis(0, 0).ticks.length).toBeGreaterThan(1);
    expect(niceAxis(120, 840, 4)).toMatchObject({ min: 0, max: 1000, step: 200 });
  });
});

/** A run's config.json as `eval run` writes it (the fields the settings table reads). */
const CONFIG = {
  schema: 'gtalign.run/1',
  name: 'gtalign',
  command: 'eval run',
  mode: 'assistant',
  backend: {
    kind: 'openai',
    model: 'qwen2.5-3b-instruct',
    baseUrl: 'http://127.0.0.1:8000/v1',
    vendor: 'vllm',
  },
  generation: {
    policy: { kind: 'pricing', name: 'subscription' },
    profile: null,
    rule: 'nash',
    analysis: 'model',
    continuation: 'auto',
    constrain: true,
    maxTokens: 1024,
    temperature: 0.7,
    seed: null,
  },
  judge: { kind: 'live', url: 'http://127.0.0.1:9000/v1', model: 'qwen3-32b' },
  reward: { configId: 'abc', config: { aggregator: { name: 'cobb-douglas' } }, mathCheck: true },
  tokenizer: { name: 'cl100k_base', exact: true, description: 'js-tiktoken' },
  data: { files: ['/data/gtalign/math-hard/test.parquet'], dataSources: [], limit: 50 },
};

describe('settings', () => {
  it("names each run's model, prompt, policy, rule, judge and reward from its config.json", () => {
    const built = buildReport([
      {
        ...runs[0]!,
        config: {
          ...CONFIG,
          name: 'base',
          mode: 'raw',
          generation: { maxTokens: 512 },
          judge: { kind: 'offline' },
        },
      },
      { ...runs[1]!, config: CONFIG },
    ]);
    const md = built.markdown;
    expect(md).toContain('## Settings');
    expect(md).toContain(
      '| run | command | prompt | model | policy | rule | judge | reward | tokenizer | data |',
    );
    expect(md).toContain(
      "| base \\<model> | eval run | the row's prompt, one request | qwen2.5-3b-instruct (vllm); maxTokens 512 | – | – | offline: no judge (verdicts from the input only) | cobb-douglas | cl100k_base | math-hard/test.parquet; ≤ 50 rows per source |",
    );
    expect(md).toContain(
      "| gtalign | eval run | GTAlign turn (its own instruction; the row's chat history): analysis model, continuation auto, grammar | qwen2.5-3b-instruct (vllm); maxTokens 1024, temperature 0.7 | subscription | nash | qwen3-32b | cobb-douglas |",
    );
    // The judge's and the backend's URLs stay out: the report holds no URL.
    expect(built.html).not.toMatch(/https?:/);
  });

  it('names who played the user of a conversation run, and the seed that drew the held intents', () => {
    const conversationConfig = (conversation: Record<string, unknown>) => ({
      ...CONFIG,
      generation: {
        ...CONFIG.generation,
        conversation: { turns: 4, personas: [{ name: 'cooperative' }, { name: 'terse' }], ...conversation },
      },
    });
    const built = buildReport([
      {
        ...runs[0]!,
        config: conversationConfig({
          user: { kind: 'openai', model: 'user-llm', shared: false },
          userSeed: 7,
        }),
      },
      {
        ...runs[1]!,
        config: conversationConfig({ user: { kind: 'openai', model: 'x', shared: true }, userSeed: 0 }),
      },
    ]);
    expect(built.markdown).toContain(
      'conversations of ≤ 4 turns with cooperative, terse; user user-llm, seed 7 |',
    );
    expect(built.markdown).toContain(
      "conversations of ≤ 4 turns with cooperative, terse; user the assistant's model, seed 0 |",
    );
    expect(built.html).not.toMatch(/https?:/);
  });
});

describe('sweeps', () => {
  const offline = [0, 1, 2, 3].map((i) => ({
    ...rec(`q${i}`, 'ambig_qa', 'error', { response: '<response>Which one?</response>', cell: 'VQ_CQ' }),
    reward: { error: { stage: 'judge' as const, message: 'not judged', reason: NO_JUDGE_REASON } },
  }));
  const offlineSweep: Sweep = {
    param: 'computeCostPerMillion',
    points: [0, 6, 12].map((value) => ({ value, run: `c=${value}`, metrics: computeMetrics(offline) })),
  };
  const built = buildReport([
    { name: 'sweep', dir: '/runs/sweep', records: [], metrics: computeMetrics([]), sweep: offlineSweep },
  ]);

  it("counts the records of the sweep's points", () => {
    expect(built.markdown).toContain(
      '- sweep (/runs/sweep): sweep over computeCostPerMillion, 3 points with 12 records: 0 scored, 12 awaiting a verdict, 0 failed',
    );
    expect(built.markdown).toMatch(/\| 6 \| 4 \| – \| – \| – \|/);
  });

  it('says why the welfare panel has no curve instead of drawing it empty', () => {
    const svg = sceneToSvg(built.charts.find((c) => c.kind === 'sweep')!);
    expect(svg).toContain('No welfare to draw: no record has a verdict yet; all 12 await one');
    // The panels with data are drawn: every point's CQ share and lengths.
    expect(count(svg, 'data-sweep-point=""')).toBe(3 * (3 + 2));
    expect(built.markdown).toContain('sweep: W, U and L are – at every point: no record has a verdict yet');
  });
});

/** Every text of a scene as the PNG's fonts measure it: its left and right edge in scene units. */
function textSpans(scene: Scene): Array<{ text: string; left: number; right: number }> {
  return scene.shapes.flatMap((sh) => {
    if (sh.kind !== 'text' || sh.vertical) return [];
    const w = textExtent(sh.text, sh.size);
    const left = sh.anchor === 'start' ? sh.x : sh.anchor === 'middle' ? sh.x - w / 2 : sh.x - w;
    return [{ text: sh.text, left, right: left + w }];
  });
}

describe('chart layout', () => {
  const mix = (n: number) => ({
    n,
    counts: { DA: n, CQ: 0, AQ: 0, unknown: 0 },
    shares: { DA: 1, CQ: 0, AQ: 0, unknown: 0 },
  });
  const long = 'gtalign-qwen2.5-3b-instruct-ppo-150-steps judge-qwen3-32b subscription policy';
  const rows: MixRow[] = [
    { group: 'all', run: 'base', mix: mix(300) },
    { group: 'label unharmful', run: long, mix: mix(300) },
    { group: 'user type VQ', run: 'x'.repeat(120), mix: mix(7) },
  ];

  it('fits a long run name in the welfare legend, whole, or cut with … past the cap', () => {
    const long = 'Qwen2.5-3B-Instruct PPO step 150, paper-subscription policy, temperature 0.7';
    const huge = 'y'.repeat(400);
    const scene = welfareChart(['math-hard'], [long, 'base', huge], () => 0.5);
    for (const t of textSpans(scene)) expect(t.right, t.text).toBeLessThanOrEqual(scene.width);
    const texts = scene.shapes.flatMap((sh) => (sh.kind === 'text' ? [sh.text] : []));
    expect(texts).toContain(long);
    expect(texts.some((t) => t.startsWith('yyyy') && t.endsWith('…'))).toBe(true);
  });

  it('says there is no action mix when no record has an output, and shows no 0.0% shares of nothing', () => {
    const scene = actionMixChart([], ['DA', 'CQ', 'AQ']);
    expect(sceneToSvg(scene)).toContain('No action mix: no record has an output with an action.');
    const failed = [rec('e1', 'math-hard', 'error'), rec('e2', 'math-hard', 'error')].map((r) => ({
      ...r,
      output: '',
    }));
    const md = buildReport([
      { name: 'failed', dir: '/runs/f', records: failed, metrics: computeMetrics(failed) },
    ]).markdown;
    expect(md).toMatch(/\| failed \| all \| 0 \| – \| – \| – \| – \|/);
  });

  it('fits every action-mix label on the canvas, whole (DejaVu Sans metrics; the PNG test checks the ink)', () => {
    const scene = actionMixChart(rows, ['DA', 'CQ', 'AQ']);
    for (const t of textSpans(scene)) {
      expect(t.left, t.text).toBeGreaterThanOrEqual(0);
      expect(t.right, t.text).toBeLessThanOrEqual(scene.width);
    }
    // The rendered labels: no text pixel on the canvas's left or right edge column.
    const img = render(
      without(scene, (s) => s.kind !== 'text'),
      1,
    );
    for (let y = 0; y < img.height; y++) {
      expect(img.pixel(0, y)).toEqual([255, 255, 255, 255]);
      expect(img.pixel(img.width - 1, y)).toEqual([255, 255, 255, 255]);
    }
    // Nothing is cut: the label lines put together give each label back.
    const labels = scene.shapes
      .filter((sh) => sh.kind === 'text' && sh.anchor === 'end')
      .map((sh) => (sh.kind === 'text' ? sh.text : ''));
    const joined = labels.join('\n');
    expect(labels.join(' ')).toContain(`label unharmful · ${long} (n 300)`);
    expect(joined.replace(/\n/g, '')).toContain(`${'x'.repeat(120)} (n 7)`);
  });

  it('keeps every text of the report’s charts inside the canvas', () => {
    for (const scene of report.charts) {
      for (const t of textSpans(scene)) {
        expect(t.left, `${scene.id}: ${t.text}`).toBeGreaterThanOrEqual(0);
        expect(t.right, `${scene.id}: ${t.text}`).toBeLessThanOrEqual(scene.width);
      }
    }
  });

  it('draws the (U, L) axes over at least a span of 0.1, so that tiny differences look tiny', () => {
    const points = [0.8184, 0.8188, 0.8196].map((u, i) => ({ id: `p${i}`, u, l: 0.5 + u / 1000 }));
    const scene = scatterChart('math-hard', [{ name: 'r', color: '#000000', points }]);
    const xs = scene.shapes.flatMap((sh) => (sh.kind === 'circle' ? [sh.cx] : []));
    const ys = scene.shapes.flatMap((sh) => (sh.kind === 'circle' ? [sh.cy] : []));
    // 480 units of plot for at least 0.1 of U: 0.0012 apart is under 6 units.
    expect(Math.max(...xs) - Math.min(...xs)).toBeLessThanOrEqual((480 * 0.0012) / MIN_WELFARE_SPAN + 1e-9);
    expect(Math.max(...ys) - Math.min(...ys)).toBeLessThanOrEqual((300 * 0.0012) / MIN_WELFARE_SPAN);
    // A wide range keeps its own axis.
    const wide = scatterChart('w', [
      {
        name: 'r',
        color: '#000000',
        points: [
          { id: 'a', u: 0.1, l: 0.2 },
          { id: 'b', u: 0.9, l: 0.8 },
        ],
      },
    ]);
    const wx = wide.shapes.flatMap((sh) => (sh.kind === 'circle' ? [sh.cx] : []));
    expect(Math.max(...wx) - Math.min(...wx)).toBeGreaterThan(300);
  });
});
