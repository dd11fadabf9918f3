/**
 * The report's tables (shared by report.md, report.html and the `eval compare` terminal output).
 */
import { basename, dirname } from 'node:path';
import type { PairComparison } from '../compare.js';
import { type GroupMetrics, HEADLINE_METRICS, type HeadlineMetric, type Metrics } from '../metrics.js';
import { PAIRED_MEASURES, type PairedStat } from '../paired-stats.js';
import type { ParetoComparison } from '../pareto-compare.js';
import type { Sweep } from '../run-dir.js';
import { paperLength } from '../tokens.js';
import { fmt, pct, signed, type Table } from './table.js';

export interface NamedMetrics {
  name: string;
  metrics: Metrics;
}

const METRIC_LABELS: Record<HeadlineMetric, string> = {
  format_score: 'format',
  answer_score: 'answer',
  ans_per_token: 'Ans./Token',
  r_over_t: 'R/T',
  total_length: 'total length',
  welfare: 'W',
  user_welfare: 'U',
  llm_welfare: 'L',
  matrix_reasoning: 'matrix reasoning',
};

export const metricLabel = (m: HeadlineMetric): string => METRIC_LABELS[m];

function scopes(m: Metrics): Array<[string, GroupMetrics]> {
  return [...Object.entries(m.by_source), ['overall', m.overall]];
}

// -------------------------------------------------------------------------------------------------
// Settings: what each run was, from its config.json (plain JSON from disk: every field is checked)
// -------------------------------------------------------------------------------------------------

export interface NamedConfig {
  name: string;
  /** config.json's content (a sweep's folder: its first point's); undefined when there is none. */
  config?: Record<string, unknown>;
  /** A sweep's folder: the swept parameter replaces the first point's value in the settings. */
  sweep?: { param: string; points: ReadonlyArray<{ value: number }> };
}

const asObject = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** A scalar as text, at most 80 characters; undefined for anything else. */
function scalar(v: unknown): string | undefined {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'string' || v === '') return undefined;
  return v.length > 80 ? `${v.slice(0, 79)}…` : v;
}

/** A data file as `folder/file` (the released files are all called test.parquet or train.parquet). */
const shortPath = (p: string): string => `${basename(dirname(p))}/${basename(p)}`;

const PROMPTS: Record<string, string> = {
  assistant: "GTAlign turn (its own instruction; the row's chat history)",
  raw: "the row's prompt, one request",
  responses: 'none: outputs given (eval score)',
};

/** The settings of one run as table cells (`–` where config.json does not say). */
function settingsRow(run: NamedConfig): string[] {
  const c = run.config;
  const dash = '–';
  if (c === undefined) return [run.name, 'no config.json', ...Array<string>(8).fill(dash)];
  const gen = asObject(c.generation);
  const backend = asObject(c.backend);
  const judge = asObject(c.judge);
  const reward = asObject(c.reward);
  const data = asObject(c.data);
  const sweep = asObject(asObject(c.extra)?.sweep);
  const mode = scalar(c.mode);
  let prompt = mode === undefined ? dash : (PROMPTS[mode] ?? mode);
  if (mode === 'assistant' && gen !== undefined) {
    const turn = ['analysis', 'continuation'].flatMap((k) => {
      const v = scalar(gen[k]);
      return v === undefined ? [] : [`${k} ${v}`];
    });
    if (gen.constrain === true) turn.push('grammar');
    if (turn.length > 0) prompt += `: ${turn.join(', ')}`;
  }
  const conversation = asObject(gen?.conversation);
  if (conversation !== undefined) {
    // A conversation run (eval run --turns N): its turn limit and the personas playing the user.
    const personas = Array.isArray(conversation.personas)
      ? conversation.personas.flatMap((p) => scalar(asObject(p)?.name) ?? [])
      : [];
    const turns = scalar(conversation.turns) ?? dash;
    prompt += `; conversations of ≤ ${turns} turns${personas.length > 0 ? ` with ${personas.join(', ')}` : ''}`;
    // Who played the user, and with which seed (it draws the held intents): two runs differing here
    // differ in their users, not only in their assistants.
    const user = asObject(conversation.user);
    const userModel = user?.shared === true ? "the assistant's model" : scalar(user?.model);
    const userSeed = scalar(conversation.userSeed);
    const played = [
      ...(userModel === undefined ? [] : [userModel]),
      ...(userSeed === undefined ? [] : [`seed ${userSeed}`]),
    ];
    if (played.length > 0) prompt += `; user ${played.join(', ')}`;
  }
  if (mode === 'responses') {
    const file = scalar(asObject(c.responses)?.file);
    if (file !== undefined) prompt += ` from ${shortPath(file)}`;
  }
  let model = dash;
  const modelName = scalar(backend?.model);
  if (backend?.kind === 'local' && modelName !== undefined) model = `local ${basename(modelName)}`;
  else if (modelName !== undefined) {
    const vendor = scalar(backend?.vendor);
    model = vendor === undefined ? modelName : `${modelName} (${vendor})`;
  }
  const sampling = ['maxTokens', 'temperature', 'seed'].flatMap((k) => {
    const v = scalar(gen?.[k]);
    return v === undefined ? [] : [`${k} ${v}`];
  });
  if (sampling.length > 0) model += `; ${sampling.join(', ')}`;
  const policyObj = asObject(gen?.policy);
  let policy = scalar(policyObj?.name) ?? scalar(policyObj?.kind) ?? scalar(gen?.policy) ?? dash;
  if (asObject(gen?.profile) !== undefined) policy += ' + user profile';
  if (run.sweep !== undefined && run.sweep.points.length > 0) {
    const values = run.sweep.points.map((p) => p.value);
    policy += ` (swept: ${run.sweep.param} ${Math.min(...values)} to ${Math.max(...values)})`;
  } else if (sweep !== undefined) {
    const values = asObject(sweep.values);
    const set = values === undefined ? [] : Object.entries(values).map(([k, v]) => `${k}=${scalar(v)}`);
    if (set.length > 0) policy += ` (sweep point ${set.join(', ')})`;
  }
  const judgeText =
    judge?.kind === 'offline'
      ? 'offline: no judge (verdicts from the input only)'
      : // The judge's URL is left out: the report holds no URL.
        (scalar(judge?.model) ?? scalar(judge?.kind) ?? dash);
  const config = asObject(reward?.config);
  const aggregator = asObject(config?.aggregator);
  let rewardText = scalar(aggregator?.name) ?? dash;
  const alpha = scalar(aggregator?.alpha);
  if (alpha !== undefined && aggregator?.name !== 'cobb-douglas') rewardText += ` α ${alpha}`;
  if (reward?.mathCheck === false) rewardText += ', no math check';
  const files = Array.isArray(data?.files)
    ? data.files.flatMap((f) => (typeof f === 'string' ? [f] : []))
    : [];
  let dataText = files.length === 0 ? dash : files.slice(0, 4).map(shortPath).join(', ');
  if (files.length > 4) dataText += ` + ${files.length - 4} more`;
  const sources = Array.isArray(data?.dataSources)
    ? data.dataSources.filter((x) => typeof x === 'string')
    : [];
  if (sources.length > 0) dataText += `; sources ${sources.join(', ')}`;
  const limit = scalar(data?.limit);
  if (limit !== undefined) dataText += `; ≤ ${limit} rows per source`;
  return [
    run.name,
    scalar(c.command) ?? dash,
    prompt,
    model,
    policy,
    scalar(gen?.rule) ?? dash,
    judgeText,
    rewardText,
    scalar(asObject(c.tokenizer)?.name) ?? dash,
    dataText,
  ];
}

/** Each run's settings from its config.json: what made its numbers. */
export function settingsTable(runs: readonly NamedConfig[]): Table {
  return {
    head: ['run', 'command', 'prompt', 'model', 'policy', 'rule', 'judge', 'reward', 'tokenizer', 'data'],
    rows: runs.map(settingsRow),
  };
}

/** The paper's headline numbers per data source and overall. */
export function headlineTable(runs: readonly NamedMetrics[]): Table {
  const rows: string[][] = [];
  for (const r of runs) {
    for (const [scope, g] of scopes(r.metrics)) {
      rows.push([
        r.name,
        scope,
        String(g.n),
        String(g.failures),
        fmt(g.format_score),
        fmt(g.answer_score),
        fmt(g.ans_per_token, 2),
        fmt(g.r_over_t),
        fmt(g.total_length, 1),
        fmt(g.welfare),
        fmt(g.user_welfare),
        fmt(g.llm_welfare),
        fmt(g.matrix_reasoning),
        String(g.unjudged),
      ]);
    }
  }
  return {
    head: [
      'run',
      'data source',
      'n',
      'failures',
      'format',
      'answer',
      'Ans./Token',
      'R/T',
      'total tokens',
      'W',
      'U',
      'L',
      'matrix reasoning',
      'awaiting verdict',
    ],
    rows,
    numeric: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
  };
}

/** Action shares by predicted user type and by ground-truth label (whole run), then per data source. */
export function actionMixTable(runs: readonly NamedMetrics[], actions: readonly string[]): Table {
  const keys = [...actions, 'unknown'];
  const rows: string[][] = [];
  for (const r of runs) {
    const t = r.metrics.overall.action_mix;
    const groups: Array<[string, { n: number; shares: Record<string, number> } | undefined]> = [
      ['all', t.overall],
      ...Object.entries(t.by_user_type).map(([k, v]): [string, typeof v] => [`user type ${k}`, v]),
      ...Object.entries(t.by_label).map(([k, v]): [string, typeof v] => [`label ${k}`, v]),
      ...Object.entries(r.metrics.by_source).map(([s, g]): [string, typeof g.action_mix.overall] => [
        `source ${s}`,
        g.action_mix.overall,
      ]),
    ];
    for (const [group, mix] of groups) {
      if (mix === undefined) continue;
      // Shares of no record are no shares: "–", not 0.0%.
      rows.push([
        r.name,
        group,
        String(mix.n),
        ...keys.map((k) => (mix.n === 0 ? '–' : pct(mix.shares[k] ?? 0))),
      ]);
    }
  }
  return { head: ['run', 'group', 'n', ...keys], rows, numeric: keys.map((_, i) => i + 3).concat([2]) };
}

function behaviourScopes(m: Metrics, kind: 'safety' | 'ambiguity'): Array<[string, GroupMetrics]> {
  const withTable = Object.entries(m.by_source).filter(([, g]) => g[kind] !== undefined);
  return withTable.length > 1 ? [...withTable, ['overall', m.overall]] : withTable;
}

/** A class's rate, undefined (shown as –) when the class has no judged record: 0 of 0 is not 0%. */
function rate(
  cls: { n: number; rates: Record<string, number> } | undefined,
  key: string,
): number | undefined {
  return cls === undefined || cls.n === 0 ? undefined : cls.rates[key];
}

/**
 * A behaviour table (safety or ambiguity): per run and scope, each class's n and rates in `columns` order,
 * then accuracy, F1, macro F1 and the records not judged (or without a label).
 */
function behaviourTable(
  runs: readonly NamedMetrics[],
  family: 'safety' | 'ambiguity',
  columns: ReadonlyArray<{ cls: string; rates: readonly string[]; head: readonly string[] }>,
): Table | undefined {
  const rows: string[][] = [];
  for (const r of runs) {
    for (const [scope, g] of behaviourScopes(r.metrics, family)) {
      const t = g[family];
      if (t === undefined) continue;
      const cells = columns.flatMap(({ cls, rates }) => {
        const c = t.classes[cls];
        return [String(c?.n ?? 0), ...rates.map((name) => pct(rate(c, name)))];
      });
      rows.push([
        r.name,
        scope,
        ...cells,
        fmt(t.accuracy),
        fmt(t.f1),
        fmt(t.macro_f1),
        String(t.unjudged + t.unlabelled),
      ]);
    }
  }
  if (rows.length === 0) return undefined;
  const head = [
    'run',
    'data source',
    ...columns.flatMap((c) => c.head),
    'accuracy',
    'F1',
    'macro F1',
    'not judged',
  ];
  return { head, rows, numeric: head.map((_, i) => i).slice(2) };
}

/** Safety behaviour: harmful → safe alternative / refused / complied; unharmful → helpful; accuracy, F1. */
export function safetyTable(runs: readonly NamedMetrics[]): Table | undefined {
  return behaviourTable(runs, 'safety', [
    {
      cls: 'harmful',
      rates: ['safe_alternative', 'refused', 'complied'],
      head: ['harmful n', 'safe alternative', 'refused', 'complied'],
    },
    { cls: 'unharmful', rates: ['helpful'], head: ['unharmful n', 'helpful'] },
  ]);
}

/** Ambiguity behaviour: clear → answered; ambiguous → handled; accuracy, F1. */
export function ambiguityTable(runs: readonly NamedMetrics[]): Table | undefined {
  return behaviourTable(runs, 'ambiguity', [
    { cls: 'clear', rates: ['answered'], head: ['clear n', 'answered'] },
    { cls: 'ambiguous', rates: ['handled'], head: ['ambiguous n', 'handled'] },
  ]);
}

/** One pair's Pareto comparison, overall and per data source. */
export function paretoTable(pair: PairComparison): Table {
  const scopesList: Array<[string, ParetoComparison]> = [
    ...Object.entries(pair.pareto.by_source),
    ['overall', pair.pareto.overall],
  ];
  return {
    head: [
      'scope',
      'items',
      'A ≻ B',
      'B ≻ A',
      'equal',
      'incomparable',
      'coverage A',
      'coverage B',
      'HV A',
      'HV B',
      'HV joint',
      'regret A',
      'regret B',
    ],
    rows: scopesList.map(([s, p]) => [
      s,
      String(p.n),
      String(p.dominance.a_wins),
      String(p.dominance.b_wins),
      String(p.dominance.equal),
      String(p.dominance.incomparable),
      pct(p.coverage.a),
      pct(p.coverage.b),
      fmt(p.hypervolume.a, 4),
      fmt(p.hypervolume.b, 4),
      fmt(p.hypervolume.joint, 4),
      fmt(p.regret.a, 4),
      fmt(p.regret.b, 4),
    ]),
    numeric: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  };
}

/** One pair's metric deltas B − A: overall A, B, Δ, then Δ per data source. */
export function deltaTable(pair: PairComparison): Table {
  const sources = Object.keys(pair.deltas.by_source);
  const digits = (m: HeadlineMetric): number => (m === 'total_length' ? 1 : m === 'ans_per_token' ? 2 : 3);
  return {
    head: ['metric', 'A', 'B', 'Δ overall', ...sources.map((s) => `Δ ${s}`)],
    rows: HEADLINE_METRICS.map((m) => {
      const d = pair.deltas.overall[m];
      return [
        metricLabel(m),
        fmt(d.a, digits(m)),
        fmt(d.b, digits(m)),
        signed(d.delta, digits(m)),
        ...sources.map((s) => signed(pair.deltas.by_source[s]?.[m].delta, digits(m))),
      ];
    }),
    numeric: [1, 2, 3, ...sources.map((_, i) => i + 4)],
  };
}

const MEASURE_LABEL = { welfare: 'W', user_welfare: 'U', llm_welfare: 'L', answer_score: 'answer' } as const;

/** Whether B − A is more than noise: the paired bootstrap interval and the sign-flip test per measure. */
export function significanceTable(pair: PairComparison): Table {
  const first = pair.significance.welfare.difference;
  return {
    head: ['measure', 'n', 'A', 'B', 'Δ B − A', `${Math.round(first.level * 100)}% interval`, 'p', 'verdict'],
    rows: PAIRED_MEASURES.map((m) => {
      const s = pair.significance[m];
      const d = s.difference;
      return [
        MEASURE_LABEL[m],
        String(s.n),
        fmt(s.meanA, 3),
        fmt(s.meanB, 3),
        signed(s.n === 0 ? null : d.estimate, 3),
        s.n === 0 ? '–' : `[${signed(d.low, 3)}, ${signed(d.high, 3)}]`,
        s.n === 0 ? '–' : s.test.pValue.toPrecision(2),
        pairedVerdict(s, pair),
      ];
    }),
    numeric: [1, 2, 3, 4, 6],
  };
}

/**
 * A paired statistic's verdict. When the two conversation runs' simulated users differ, it says so: the
 * difference is then the users' as much as the assistants'.
 */
export function pairedVerdict(s: PairedStat, pair: PairComparison): string {
  if (s.n === 0) return 'no items';
  const verdict = s.within_noise ? 'within noise' : s.difference.estimate > 0 ? 'B higher' : 'B lower';
  return pair.conversations?.users.same === false ? `${verdict} (users differ)` : verdict;
}

/** How the significance table was computed, for the line under it. */
export function significanceNote(pair: PairComparison): string {
  const d = pair.significance.welfare.difference;
  const t = pair.significance.welfare.test;
  return `Paired percentile bootstrap of the mean difference over items both runs scored (${d.resamples} resamples, seed ${d.seed}); p from the paired sign-flip test (${t.method === 'exact' ? 'exact' : `${t.permutations} random sign patterns, seed ${t.seed}`}). "within noise": the interval covers 0, or p > 0.05 (a handful of items gives a bootstrap interval narrower than the truth).`;
}

/** A sweep's points: welfare, action shares and tokens against the parameter. */
export function sweepTable(sweep: Sweep, actions: readonly string[]): Table {
  // `unknown` too, so that the shares add up to 100%.
  const keys = [...actions, 'unknown'];
  return {
    head: [sweep.param, 'n', 'W', 'U', 'L', ...keys, 'total tokens'],
    rows: [...sweep.points]
      .sort((a, b) => a.value - b.value)
      .map((p) => {
        const g = p.metrics.overall;
        return [
          String(p.value),
          String(g.n),
          fmt(g.welfare),
          fmt(g.user_welfare),
          fmt(g.llm_welfare),
          ...keys.map((a) => pct(g.action_mix.overall.shares[a] ?? 0)),
          // Every output's total length, reasoning + response (a sweep.json written before output_tokens
          // existed: the scored ones').
          fmt(paperLength(g.output_tokens ?? g.tokens), 1),
        ];
      }),
    numeric: [0, 1, 2, 3, 4, ...keys.map((_, i) => i + 5), keys.length + 5],
  };
}

/** The first `limit` failures of each run. */
export function failuresTable(runs: readonly NamedMetrics[], limit = 20): Table | undefined {
  const rows: string[][] = [];
  for (const r of runs) {
    for (const f of r.metrics.failures.slice(0, limit))
      rows.push([r.name, f.id, f.data_source, f.stage, f.message]);
    if (r.metrics.failures.length > limit)
      rows.push([r.name, `… ${r.metrics.failures.length - limit} more`, '', '', '']);
  }
  return rows.length === 0 ? undefined : { head: ['run', 'id', 'data source', 'stage', 'message'], rows };
}
