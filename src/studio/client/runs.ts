/// <reference lib="dom" />
/** The run viewer: metrics with intervals per run, the item browser with filters, one item in full. */
import type { PayoffMatrix } from '../../game/spec.js';
import type { ItemRow } from '../runs.js';
import { api, fmt, fmtCI, h, type IntervalJson, labelled, select } from './dom.js';
import { matrixTable } from './playground.js';
import { compareForm, runChartsSection } from './viewer.js';

interface GroupMetricsJson {
  n: number;
  format_score: number | null;
  answer_score: number | null;
  welfare: number | null;
  user_welfare: number | null;
  llm_welfare: number | null;
  matrix_reasoning: number | null;
}

export interface RunSummary {
  index: number;
  name: string;
  dir: string;
  records: number;
  metricsFrom: string;
  metrics: { overall: GroupMetricsJson; by_source: Record<string, GroupMetricsJson> };
  intervals: Record<string, { n: number; W: IntervalJson; U: IntervalJson; L: IntervalJson }>;
  /** The paper's GTAlign W per data source it reports, and where it falls against this run's interval. */
  paper: Record<string, { W: number; placement: string | null }>;
  sweep: { param: string; points: number } | null;
  warnings: string[];
  conversations: ConversationMetricsJson | null;
}

interface ConversationGroupJson {
  n: number;
  turns: number | null;
  answered: number | null;
  turns_to_answer: number | null;
  correct: number | null;
  correct_n: number;
  discounted: { n: number; gamma: number | null; W: number | null };
  ends: Record<string, number>;
}

interface ConversationMetricsJson {
  groups: Record<string, ConversationGroupJson>;
  overall: ConversationGroupJson;
}

/** A conversation run's metrics, as `eval report` gives them: one row per group (SOURCE/PERSONA, all/PERSONA). */
function conversationTable(run: RunSummary, c: ConversationMetricsJson): HTMLElement {
  const groups: Array<[string, ConversationGroupJson]> = [
    ['overall', c.overall],
    ...Object.entries(c.groups),
  ];
  return h(
    'table',
    { class: 'metrics', 'data-testid': `conversations-${run.index}` },
    h('caption', {}, `Conversations of ${run.name}`),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        [
          'group',
          'conversations',
          'turns',
          'answered',
          'turns to answer',
          'correct (n)',
          'W discounted (γ)',
          'ended',
        ].map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    h(
      'tbody',
      {},
      groups.map(([name, g]) =>
        h(
          'tr',
          { 'data-group': name },
          h('th', { scope: 'row' }, name),
          h('td', { 'data-col': 'n' }, g.n),
          h('td', { 'data-col': 'turns' }, fmt(g.turns)),
          h('td', { 'data-col': 'answered' }, fmt(g.answered)),
          h('td', { 'data-col': 'turns_to_answer' }, fmt(g.turns_to_answer)),
          h('td', { 'data-col': 'correct' }, `${fmt(g.correct)} (${g.correct_n})`),
          h(
            'td',
            { 'data-col': 'discounted' },
            `${fmt(g.discounted.W)} (${g.discounted.gamma === null ? '–' : g.discounted.gamma})`,
          ),
          h(
            'td',
            { 'data-col': 'ends' },
            Object.entries(g.ends)
              .map(([end, n]) => `${end} ${n}`)
              .join(' · '),
          ),
        ),
      ),
    ),
  );
}

export async function runsPage(): Promise<HTMLElement> {
  const runs = await api<RunSummary[]>('/api/runs');
  const main = h('main', { id: 'runs' }, h('h2', {}, 'Runs'));
  if (runs.length === 0)
    main.append(h('p', {}, 'No run folders were given: start with gtalign studio RUN_DIR…'));
  if (runs.length > 1) main.append(compareForm(runs));
  for (const run of runs) {
    if (run.records === 0 && run.sweep !== null) {
      // A sweep's top folder: no records of its own, its points' metrics in sweep.json.
      main.append(
        h(
          'section',
          { class: 'run', 'data-testid': `run-${run.index}` },
          h(
            'h3',
            {},
            run.name,
            ' ',
            h('a', { href: `#/runs/${run.index}` }, `sweep curves over ${run.sweep.param}`),
          ),
          h(
            'p',
            { class: 'hint' },
            `${run.dir} · a sweep over ${run.sweep.param}, ${run.sweep.points} points`,
          ),
          run.warnings.map((w) => h('p', { class: 'warning' }, w)),
        ),
      );
      continue;
    }
    const groups = ['overall', ...Object.keys(run.metrics.by_source)];
    main.append(
      h(
        'section',
        { class: 'run', 'data-testid': `run-${run.index}` },
        h(
          'h3',
          {},
          run.name,
          ' ',
          h('a', { href: `#/runs/${run.index}` }, `charts and ${run.records} items`),
          run.sweep === null ? '' : ` (and a sweep over ${run.sweep.param})`,
        ),
        h(
          'p',
          { class: 'hint' },
          `${run.dir} · metrics from ${run.metricsFrom} · intervals: 95% bootstrap, 2000 resamples, seed 1`,
        ),
        run.warnings.map((w) => h('p', { class: 'warning' }, w)),
        h(
          'table',
          { class: 'metrics' },
          h('caption', {}, `Metrics of ${run.name}`),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              [
                'group',
                'n',
                'format',
                'answer',
                'W [95% CI]',
                'U [95% CI]',
                'L [95% CI]',
                'matrix reasoning',
                'paper: GTAlign W',
              ].map((t) => h('th', { scope: 'col' }, t)),
            ),
          ),
          h(
            'tbody',
            {},
            groups.map((g) => {
              const m = g === 'overall' ? run.metrics.overall : run.metrics.by_source[g]!;
              const ci = run.intervals[g];
              return h(
                'tr',
                { 'data-group': g },
                h('th', { scope: 'row' }, g),
                h('td', {}, m.n),
                h('td', {}, fmt(m.format_score)),
                h('td', {}, fmt(m.answer_score)),
                h('td', { 'data-metric': 'W' }, ci === undefined ? fmt(m.welfare) : fmtCI(ci.W)),
                h('td', {}, ci === undefined ? fmt(m.user_welfare) : fmtCI(ci.U)),
                h('td', {}, ci === undefined ? fmt(m.llm_welfare) : fmtCI(ci.L)),
                h('td', {}, fmt(m.matrix_reasoning)),
                h('td', { 'data-metric': 'paper-W' }, paperCell(run.paper[g])),
              );
            }),
          ),
        ),
        run.conversations === null ? '' : conversationTable(run, run.conversations),
      ),
    );
  }
  return main;
}

/** The paper's W for a data source and where it falls against the run's interval: "0.500 (within)". */
function paperCell(paper: RunSummary['paper'][string] | undefined): string {
  if (paper === undefined) return '–';
  const figure = paper.W.toFixed(3);
  return paper.placement === null ? figure : `${figure} (${paper.placement})`;
}

export async function itemsPage(run: number): Promise<HTMLElement> {
  const [data, charts] = await Promise.all([
    api<{ name: string; items: ItemRow[] }>(`/api/run?run=${run}`),
    runChartsSection(run),
  ]);
  if (data.items.length === 0) {
    return h(
      'main',
      { id: 'items' },
      h('h2', {}, data.name),
      h('p', {}, h('a', { href: '#/runs' }, '← all runs')),
      h(
        'p',
        { class: 'hint', 'data-testid': 'item-count' },
        'No records in this folder (a sweep’s top folder holds none: its points are run folders of their own).',
      ),
      charts,
    );
  }
  const distinct = (f: (r: ItemRow) => string | null) =>
    ['all', ...new Set(data.items.map((r) => f(r) ?? 'unknown'))].sort((a, b) =>
      a === 'all' ? -1 : b === 'all' ? 1 : a.localeCompare(b),
    );
  const source = select(
    'filter-source',
    distinct((r) => r.data_source),
    'all',
  );
  const action = select(
    'filter-action',
    distinct((r) => r.action),
    'all',
  );
  const userType = select(
    'filter-user',
    distinct((r) => r.user_type),
    'all',
  );
  const min = h('input', {
    id: 'filter-min',
    type: 'number',
    step: 'any',
    min: 0,
    max: 1,
    placeholder: '0',
  }) as HTMLInputElement;
  const max = h('input', {
    id: 'filter-max',
    type: 'number',
    step: 'any',
    min: 0,
    max: 1,
    placeholder: '1',
  }) as HTMLInputElement;
  const count = h('p', { 'data-testid': 'item-count', 'aria-live': 'polite' });
  const body = h('tbody', {});
  let shown = '';
  const render = () => {
    // Re-render only on a real change: a 'change' on leaving a field must not replace the rows (and the
    // link the keyboard focus is moving to).
    const state = [source.value, action.value, userType.value, min.value, max.value].join('\u0000');
    if (state === shown) return;
    shown = state;
    const lo = min.value === '' ? Number.NEGATIVE_INFINITY : Number(min.value);
    const hi = max.value === '' ? Number.POSITIVE_INFINITY : Number(max.value);
    const rows = data.items.filter(
      (r) =>
        (source.value === 'all' || r.data_source === source.value) &&
        (action.value === 'all' || (r.action ?? 'unknown') === action.value) &&
        (userType.value === 'all' || (r.user_type ?? 'unknown') === userType.value) &&
        (min.value === '' && max.value === '' ? true : r.W !== null && r.W >= lo && r.W <= hi),
    );
    count.textContent = `${rows.length} of ${data.items.length} items`;
    body.replaceChildren(
      ...rows.map((r) =>
        h(
          'tr',
          { 'data-item': r.id },
          h('td', {}, h('a', { href: `#/runs/${run}/item/${encodeURIComponent(r.id)}` }, r.id)),
          h('td', {}, r.data_source),
          h('td', {}, r.action ?? '–'),
          h('td', {}, r.user_type ?? '–'),
          h('td', {}, r.failed ? 'failed' : fmt(r.W)),
          h('td', {}, fmt(r.U)),
          h('td', {}, fmt(r.L)),
        ),
      ),
    );
  };
  const filters = h(
    'form',
    { class: 'filters', onsubmit: (e: Event) => e.preventDefault(), 'aria-label': 'Filters' },
    labelled('Data source', source),
    labelled('Action', action),
    labelled('User type', userType),
    labelled('W at least', min),
    labelled('W at most', max),
  );
  filters.addEventListener('input', render);
  filters.addEventListener('change', render);
  render();
  return h(
    'main',
    { id: 'items' },
    h('h2', {}, `Run ${data.name}`),
    h('p', {}, h('a', { href: '#/runs' }, '← all runs')),
    charts,
    h('h3', {}, 'Items'),
    filters,
    count,
    h(
      'table',
      { class: 'items' },
      h('caption', {}, 'Items (W = √(U·L))'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['id', 'data source', 'action', 'user type', 'W', 'U', 'L'].map((t) =>
            h('th', { scope: 'col' }, t),
          ),
        ),
      ),
      body,
    ),
  );
}

interface ItemViewJson {
  conversation: {
    persona: string;
    turns: number;
    end: string;
    answered_at: number | null;
    correct: number | null;
    discounted: { gamma: number; W: number } | null;
  } | null;
  run: string;
  row: ItemRow;
  question: string | null;
  history: { role: string; content: string }[];
  ground_truth: string;
  label?: string;
  blocks: Record<string, string>;
  matrixBefore: PayoffMatrix | null;
  matrixAfter: PayoffMatrix | null;
  policy: string | null;
  reward: Record<string, unknown>;
  thread: Array<
    | {
        role: 'assistant';
        turn: number;
        response: string;
        cell: string | null;
        W: number | null;
        next: string;
        end: string | null;
      }
    | { role: 'user'; turn: number; mode: string; text: string }
  >;
}

function threadSection(v: ItemViewJson): HTMLElement | null {
  if (v.thread.length === 0) return null;
  const c = v.conversation;
  return h(
    'section',
    { 'data-testid': 'thread' },
    h(
      'h3',
      {},
      `Conversation thread (${v.thread.filter((t) => t.role === 'assistant').length} assistant turns)`,
    ),
    c === null
      ? ''
      : h(
          'p',
          { 'data-testid': 'conversation-summary' },
          `with ${c.persona}: ${c.turns} assistant turns, ended: ${c.end}; first answer at turn ` +
            `${c.answered_at ?? '–'}; correct: ${fmt(c.correct)}; W discounted` +
            `${c.discounted === null ? ': – (a turn was not scored)' : ` (γ ${c.discounted.gamma}): ${fmt(c.discounted.W)}`}`,
        ),
    h(
      'ol',
      { class: 'thread' },
      v.thread.map((t) =>
        t.role === 'user'
          ? h(
              'li',
              { class: 'user', 'data-role': 'user', 'data-turn': t.turn },
              h('strong', {}, `Simulated user (${t.mode}): `),
              t.text,
            )
          : h(
              'li',
              {
                class: 'assistant',
                'data-role': 'assistant',
                'data-turn': t.turn,
                'data-cell': t.cell ?? '',
              },
              h(
                'strong',
                {},
                `Assistant, turn ${t.turn} (${t.cell ?? 'no cell'}, W ${fmt(t.W)}; next: ${t.next}${t.end === null ? '' : `, ${t.end}`}): `,
              ),
              t.response,
            ),
      ),
    ),
  );
}

export async function itemPage(run: number, id: string): Promise<HTMLElement> {
  const v = await api<ItemViewJson>(`/api/item?run=${run}&id=${encodeURIComponent(id)}`);
  const reward = v.reward as {
    error?: { message: string };
    components?: Record<string, number>;
    verdict?: number | null;
    verdict_source?: string;
    score?: number;
    user_reward?: number;
    llm_reward?: number;
    answer_reward?: number;
  };
  const block = (name: string) =>
    h(
      'section',
      { class: 'block', 'data-block': name },
      h('h4', {}, `<${name}>`),
      h('pre', {}, v.blocks[name] ?? '(absent)'),
    );
  return h(
    'main',
    { id: 'item' },
    h('h2', {}, `Item ${v.row.id}`),
    h('p', {}, h('a', { href: `#/runs/${run}` }, `← items of ${v.run}`)),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'data source'),
      h('dd', {}, v.row.data_source),
      h('dt', {}, 'ground truth'),
      h('dd', {}, v.ground_truth),
      v.label === undefined ? null : [h('dt', {}, 'label'), h('dd', {}, v.label)],
      h('dt', {}, 'cell'),
      h('dd', { 'data-testid': 'item-cell' }, v.row.cell ?? '–'),
      h('dt', {}, 'policy'),
      h('dd', {}, v.policy ?? '–'),
    ),
    h('h3', {}, 'Question'),
    v.history.map((t) => h('p', { class: `history ${t.role}` }, `${t.role}: ${t.content}`)),
    h(
      'p',
      { class: 'question', 'data-testid': 'item-question' },
      v.question ?? '(the question is not recorded in this run)',
    ),
    threadSection(v),
    h('h3', {}, v.thread.length > 0 ? 'The four blocks of the final turn' : 'The four blocks'),
    ['thinking', 'payoff', 'analyze', 'response'].map(block),
    h(
      'div',
      { class: 'panels' },
      v.matrixBefore === null
        ? h('p', {}, 'No payoff matrix.')
        : matrixTable(v.matrixBefore, 'Matrix before steering', {}, 'item-before'),
      v.matrixAfter === null
        ? h('p', {}, 'No steered matrix recorded (not an assistant-mode run, or no steering).')
        : matrixTable(
            v.matrixAfter,
            'Matrix after steering',
            { chosen: v.row.cell ?? undefined },
            'item-after',
          ),
    ),
    h('h3', {}, 'Reward'),
    reward.error !== undefined
      ? h('p', { class: 'error' }, `Not scored: ${reward.error.message}`)
      : h(
          'table',
          { class: 'reward', 'data-testid': 'reward' },
          h('caption', {}, 'Reward and every component'),
          h(
            'tbody',
            {},
            [
              ['score', reward.score],
              ['W = √(U·L)', v.row.W],
              ['U (user)', reward.user_reward],
              ['L (LLM)', reward.llm_reward],
              ['answer', reward.answer_reward],
            ].map(([k, x]) =>
              h('tr', {}, h('th', { scope: 'row' }, String(k)), h('td', {}, fmt(x as number, 4))),
            ),
            Object.entries(reward.components ?? {}).map(([k, x]) =>
              h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, fmt(x, 4))),
            ),
            h(
              'tr',
              {},
              h('th', { scope: 'row' }, 'verdict'),
              h(
                'td',
                { 'data-testid': 'verdict' },
                `${reward.verdict ?? '–'} (${reward.verdict_source ?? 'unknown source'})`,
              ),
            ),
          ),
        ),
  );
}
