/**
 * The run viewer's charts, sweeps and two-run comparison, from the same code as `gtalign eval report`:
 * the report's chart scenes (`reportCharts`: per-source (U, L) scatter with each run's frontier, action
 * mix, welfare bars, sweep curves) drawn server-side as SVG with `sceneToSvg`, the report's tables (sweep,
 * Pareto comparison, metric deltas, significance) as rows for the page, and `compareRunPair` for two runs.
 * Nothing here draws or computes anew; it only puts the report's pieces into JSON for the page.
 */
import { compareRunPair, type PairComparison } from '../eval/compare.js';
import { dominates } from '../eval/hypervolume.js';
import { recordPoint } from '../eval/metrics.js';
import { type ReportRun, reportCharts } from '../eval/report/build.js';
import { type Scene, sceneToSvg } from '../eval/report/scene.js';
import type { Table } from '../eval/report/table.js';
import {
  deltaTable,
  paretoTable,
  significanceNote,
  significanceTable,
  sweepTable,
} from '../eval/report/tables.js';
import { DEFAULT_SPEC } from '../game/spec.js';
import type { LoadedRun } from './runs.js';

export interface ChartJson {
  id: string;
  /** `scatter`, `action-mix`, `welfare` or `sweep` (the SVG's `data-chart`). */
  kind: string;
  title: string;
  /** The report's SVG of the chart (inline markup, no URL). */
  svg: string;
}

export interface SweepJson {
  param: string;
  points: number;
  table: Table;
}

export interface RunChartsJson {
  name: string;
  charts: ChartJson[];
  sweep: SweepJson | null;
}

/** One shared item both runs scored, with which side's (U, L) point dominates. */
export interface ComparedItem {
  id: string;
  data_source: string;
  a: { u: number; l: number };
  b: { u: number; l: number };
  /** `A` = A ≻ B, `B` = B ≻ A. */
  winner: 'A' | 'B' | 'equal' | 'incomparable';
}

export interface ComparisonJson {
  a: { index: number; name: string };
  b: { index: number; name: string };
  pair: PairComparison;
  tables: { pareto: Table; deltas: Table; significance: Table };
  significanceNote: string;
  items: ComparedItem[];
  charts: ChartJson[];
}

function reportRun(run: LoadedRun): ReportRun {
  return {
    name: run.name,
    dir: run.dir,
    records: run.records,
    metrics: run.metrics,
    ...(run.sweep === undefined ? {} : { sweep: run.sweep }),
  };
}

function chartJson(scene: Scene): ChartJson {
  return { id: scene.id, kind: scene.kind, title: scene.title, svg: sceneToSvg(scene) };
}

/** One run's charts as `gtalign eval report` draws them for that run alone, and its sweep's table. */
export function runCharts(run: LoadedRun): RunChartsJson {
  const sweep =
    run.sweep === undefined || run.sweep.points.length === 0
      ? null
      : {
          param: run.sweep.param,
          points: run.sweep.points.length,
          table: sweepTable(run.sweep, [...DEFAULT_SPEC.columns]),
        };
  return { name: run.name, charts: reportCharts([reportRun(run)]).map(chartJson), sweep };
}

/** Two runs compared item by item: the report's comparison of the pair, and the items either side wins. */
export function compareTwo(a: LoadedRun, b: LoadedRun): ComparisonJson {
  const { metrics: _metrics, ...pair } = compareRunPair(a, b);
  const items: ComparedItem[] = [];
  for (const ra of a.records) {
    const rb = b.byId.get(ra.id);
    if (rb === undefined) continue;
    const pa = recordPoint(ra);
    const pb = recordPoint(rb);
    if (pa === undefined || pb === undefined) continue;
    const winner = dominates(pa, pb)
      ? 'A'
      : dominates(pb, pa)
        ? 'B'
        : pa.u === pb.u && pa.l === pb.l
          ? 'equal'
          : 'incomparable';
    items.push({ id: ra.id, data_source: ra.data_source, a: pa, b: pb, winner });
  }
  // The report's charts of both runs together: scatter per source (both frontiers), welfare, action mix.
  const charts = reportCharts([reportRun(a), reportRun(b)])
    .filter((c) => c.kind !== 'sweep')
    .map(chartJson);
  return {
    a: { index: a.index, name: a.name },
    b: { index: b.index, name: b.name },
    pair,
    tables: { pareto: paretoTable(pair), deltas: deltaTable(pair), significance: significanceTable(pair) },
    // Conversation runs whose simulated users differ (or are unknown) are said so under the verdicts.
    significanceNote: [
      significanceNote(pair),
      ...(pair.conversations?.users.notes ?? []).map((n) => `Note: ${n}.`),
    ].join(' '),
    items,
    charts,
  };
}

/** Several runs side by side: their overall metrics, which runs' mean (U, L) no other run dominates. */
export interface OverviewJson {
  runs: Array<{
    index: number;
    name: string;
    n: number;
    W: number | null;
    U: number | null;
    L: number | null;
    format: number | null;
    answer: number | null;
    /** Names of the runs whose mean (U, L) dominates this one's (none: on the runs' frontier). */
    dominatedBy: string[];
  }>;
  charts: ChartJson[];
}

/** The report's charts of several runs together, and their overall metrics with the runs' frontier. */
export function overview(runs: readonly LoadedRun[]): OverviewJson {
  const rows = runs.map((r) => {
    const m = r.metrics.overall;
    return {
      index: r.index,
      name: r.name,
      n: m.n,
      W: m.welfare,
      U: m.user_welfare,
      L: m.llm_welfare,
      format: m.format_score,
      answer: m.answer_score,
      dominatedBy: [] as string[],
    };
  });
  for (const row of rows) {
    if (row.U === null || row.L === null) continue;
    for (const other of rows) {
      if (other === row || other.U === null || other.L === null) continue;
      if (dominates({ u: other.U, l: other.L }, { u: row.U, l: row.L })) row.dominatedBy.push(other.name);
    }
  }
  const charts = reportCharts(runs.map(reportRun))
    .filter((c) => c.kind !== 'sweep')
    .map(chartJson);
  return { runs: rows, charts };
}
