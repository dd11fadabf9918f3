/// <reference lib="dom" />
/**
 * The run viewer's charts, sweep tables and two-run comparison. The charts are the report's own SVG
 * (drawn on the server by `gtalign eval report`'s code), the tables the report's tables; the page only
 * places them.
 */
import type { OverviewJson } from '../viewer.js';
import { api, fmt, h, labelled, select } from './dom.js';

export interface ChartJson {
  id: string;
  kind: string;
  title: string;
  svg: string;
}

export interface TableJson {
  head: string[];
  rows: string[][];
  numeric?: number[];
}

interface SweepJson {
  param: string;
  points: number;
  table: TableJson;
}

interface ComparedItem {
  id: string;
  data_source: string;
  a: { u: number; l: number };
  b: { u: number; l: number };
  winner: 'A' | 'B' | 'equal' | 'incomparable';
}

interface ComparisonJson {
  a: { index: number; name: string };
  b: { index: number; name: string };
  pair: {
    shared: number;
    only_a: number;
    only_b: number;
    excluded: number;
    source_mismatch: number;
    pareto: { overall: { dominance: Record<string, number> } };
  };
  tables: { pareto: TableJson; deltas: TableJson; significance: TableJson };
  significanceNote: string;
  items: ComparedItem[];
  charts: ChartJson[];
}

/** The report's SVG markup as a node (the markup comes from this studio's server, escaped by the report). */
function svgNode(markup: string): DocumentFragment {
  const t = document.createElement('template');
  t.innerHTML = markup;
  return t.content;
}

export function chartsSection(charts: readonly ChartJson[], label: string): HTMLElement {
  return h(
    'section',
    { class: 'charts', 'data-testid': 'charts', 'aria-label': label },
    charts.map((c) => h('figure', { 'data-chart-id': c.id, 'data-kind': c.kind }, svgNode(c.svg))),
  );
}

/** A report table: `data-table` on it, `data-row` (first cell) on each row, `data-col` (header) on each cell. */
export function reportTable(name: string, table: TableJson, caption: string): HTMLElement {
  const numeric = new Set(table.numeric ?? []);
  return h(
    'table',
    { class: 'report', 'data-table': name },
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        table.head.map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    h(
      'tbody',
      {},
      table.rows.map((row) =>
        h(
          'tr',
          { 'data-row': row[0] ?? '' },
          row.map((cell, i) =>
            i === 0
              ? h('th', { scope: 'row' }, cell)
              : h('td', { 'data-col': table.head[i] ?? '', class: numeric.has(i) ? 'num' : null }, cell),
          ),
        ),
      ),
    ),
  );
}

/** The charts of one run (and its sweep's curves and table), for the top of its run view. */
export async function runChartsSection(run: number): Promise<HTMLElement> {
  const data = await api<{ name: string; charts: ChartJson[]; sweep: SweepJson | null }>(
    `/api/charts?run=${run}`,
  );
  const out = h('div', { class: 'run-charts' });
  if (data.sweep !== null) {
    out.append(
      h(
        'section',
        { 'data-testid': 'sweep' },
        h('h3', {}, `Sweep over ${data.sweep.param} (${data.sweep.points} points)`),
        reportTable('sweep', data.sweep.table, `${data.name}: sweep over ${data.sweep.param}`),
      ),
    );
  }
  out.append(
    h('h3', {}, 'Charts'),
    h(
      'p',
      { class: 'hint' },
      'The charts of gtalign eval report for this run: (U, L) per item and data source with the frontier, action mix, welfare',
      data.sweep === null ? '.' : ', and the sweep curves.',
    ),
    chartsSection(data.charts, `Charts of ${data.name}`),
  );
  return out;
}

/** Choosing two runs to compare (a form; Enter or the button opens the comparison). */
export function compareForm(runs: readonly { index: number; name: string; records: number }[]): HTMLElement {
  const withRecords = runs.filter((r) => r.records > 0);
  const options = withRecords.map((r): [string, string] => [String(r.index), r.name]);
  const a = select('compare-a', options, options[0]?.[0] ?? '');
  const b = select('compare-b', options, options[1]?.[0] ?? options[0]?.[0] ?? '');
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h(
    'form',
    {
      class: 'compare',
      'aria-label': 'Compare two runs',
      onsubmit: (e: Event) => {
        e.preventDefault();
        if (a.value === b.value) {
          error.textContent = 'Choose two different runs.';
          return;
        }
        error.textContent = '';
        location.hash = `#/compare/${a.value}/${b.value}`;
      },
    },
    h('h3', {}, 'Compare two runs item by item'),
    labelled('Run A', a),
    labelled('Run B', b),
    h('button', { type: 'submit', id: 'compare-go' }, 'Compare'),
    error,
  );
  if (withRecords.length < 2) {
    return h('p', { class: 'hint' }, 'Comparing needs two run folders with records.');
  }
  return form;
}

const WINNER_TEXT = { A: 'A ≻ B', B: 'B ≻ A', equal: 'equal', incomparable: 'incomparable' } as const;

export async function comparePage(a: number, b: number): Promise<HTMLElement> {
  const c = await api<ComparisonJson>(`/api/compare?a=${a}&b=${b}`);
  const p = c.pair;
  const decided = c.items.filter((it) => it.winner === 'A' || it.winner === 'B');
  const show = select(
    'compare-show',
    [
      ['both', 'A ≻ B and B ≻ A'],
      ['A', 'A ≻ B only'],
      ['B', 'B ≻ A only'],
    ],
    'both',
  );
  const count = h('p', { 'data-testid': 'dominance-count', 'aria-live': 'polite' });
  const body = h('tbody', {});
  const link = (run: number, id: string, text: string) =>
    h('a', { href: `#/runs/${run}/item/${encodeURIComponent(id)}` }, text);
  const render = () => {
    const rows = decided.filter((it) => show.value === 'both' || it.winner === show.value);
    count.textContent = `${rows.length} items where one run's (U, L) dominates the other's (of ${c.items.length} scored in both)`;
    body.replaceChildren(
      ...rows.map((it) =>
        h(
          'tr',
          { 'data-item': it.id, 'data-winner': it.winner },
          h('td', {}, it.id),
          h('td', {}, it.data_source),
          h('td', {}, WINNER_TEXT[it.winner]),
          h('td', { class: 'num' }, fmt(it.a.u)),
          h('td', { class: 'num' }, fmt(it.a.l)),
          h('td', { class: 'num' }, fmt(it.b.u)),
          h('td', { class: 'num' }, fmt(it.b.l)),
          h(
            'td',
            {},
            link(c.a.index, it.id, `A: ${c.a.name}`),
            ' · ',
            link(c.b.index, it.id, `B: ${c.b.name}`),
          ),
        ),
      ),
    );
  };
  show.addEventListener('change', render);
  render();
  return h(
    'main',
    { id: 'compare' },
    h('h2', {}, `A = ${c.a.name} vs B = ${c.b.name}`),
    h('p', {}, h('a', { href: '#/runs' }, '← all runs')),
    h(
      'p',
      { 'data-testid': 'compare-summary' },
      `${p.shared} shared items (${p.only_a} only in A, ${p.only_b} only in B); ${p.excluded} left out of the Pareto comparison (no score in either run)`,
      p.source_mismatch > 0 ? `; ${p.source_mismatch} with different data sources` : '',
      '.',
    ),
    reportTable('pareto', c.tables.pareto, `Pareto comparison: A = ${c.a.name}, B = ${c.b.name}`),
    reportTable('deltas', c.tables.deltas, 'Metric deltas B − A on shared items'),
    reportTable('significance', c.tables.significance, 'Is the difference more than noise?'),
    h('p', { class: 'hint' }, c.significanceNote),
    h('h3', {}, 'Items where one run dominates'),
    h('form', { class: 'filters', onsubmit: (e: Event) => e.preventDefault() }, labelled('Show', show)),
    count,
    h(
      'table',
      { class: 'items', 'data-testid': 'dominance-items' },
      h('caption', {}, 'Items where A ≻ B or B ≻ A on (U, L); each links to both outputs'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['id', 'data source', 'verdict', 'U of A', 'L of A', 'U of B', 'L of B', 'open'].map((t) =>
            h('th', { scope: 'col' }, t),
          ),
        ),
      ),
      body,
    ),
    h('h3', {}, 'Charts of both runs'),
    chartsSection(c.charts, `Charts of ${c.a.name} and ${c.b.name}`),
  );
}

/** Choosing several runs to see together (checkboxes; the button opens the overview). */
export function overviewForm(runs: readonly { index: number; name: string; records: number }[]): HTMLElement {
  const withRecords = runs.filter((r) => r.records > 0);
  if (withRecords.length < 3)
    return h('p', { class: 'hint' }, 'Several runs together need three run folders with records.');
  const boxes = withRecords.map((r) =>
    h('input', { type: 'checkbox', id: `overview-${r.index}`, value: String(r.index), checked: true }),
  );
  const error = h('p', { class: 'error', role: 'alert' });
  return h(
    'form',
    {
      class: 'compare',
      'aria-label': 'Several runs together',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const chosen = boxes
          .filter((b) => (b as HTMLInputElement).checked)
          .map((b) => (b as HTMLInputElement).value);
        if (chosen.length < 2 || chosen.length > 8) {
          error.textContent = 'Choose 2 to 8 runs.';
          return;
        }
        error.textContent = '';
        location.hash = `#/overview/${chosen.join(',')}`;
      },
    },
    h('h3', {}, 'Several runs together'),
    withRecords.map((r, i) => labelled(r.name, boxes[i]!)),
    h('button', { type: 'submit', id: 'overview-go' }, 'Show together'),
    error,
  );
}

/** Several runs: their overall metrics side by side, which are on the runs' frontier, the report's charts. */
export async function overviewPage(indexes: string): Promise<HTMLElement> {
  const o = await api<OverviewJson>(`/api/overview?runs=${encodeURIComponent(indexes)}`);
  return h(
    'main',
    { id: 'overview' },
    h('h2', {}, `${o.runs.length} runs together`),
    h('p', {}, h('a', { href: '#/compare' }, '← compare')),
    h(
      'table',
      { class: 'metrics', 'data-testid': 'overview' },
      h(
        'caption',
        {},
        "Overall metrics; a run is on the runs' frontier when no other run's mean U and L are both at least as high, one higher",
      ),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['run', 'n', 'W', 'U', 'L', 'format', 'answer', 'frontier'].map((t) =>
            h('th', { scope: 'col' }, t),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        o.runs.map((r) =>
          h(
            'tr',
            { 'data-run': r.index },
            h('th', { scope: 'row' }, h('a', { href: `#/runs/${r.index}` }, r.name)),
            h('td', { 'data-col': 'n' }, r.n),
            h('td', { 'data-col': 'W' }, fmt(r.W)),
            h('td', { 'data-col': 'U' }, fmt(r.U)),
            h('td', { 'data-col': 'L' }, fmt(r.L)),
            h('td', {}, fmt(r.format)),
            h('td', {}, fmt(r.answer)),
            h(
              'td',
              { 'data-col': 'frontier' },
              r.dominatedBy.length === 0 ? 'on the frontier' : `dominated by ${r.dominatedBy.join(', ')}`,
            ),
          ),
        ),
      ),
    ),
    h('h3', {}, 'Charts of these runs'),
    chartsSection(o.charts, `Charts of ${o.runs.map((r) => r.name).join(', ')}`),
  );
}
