/// <reference lib="dom" />
/** User studies: create one from two runs, the rater's blind pairwise page, the analysis page. */
import {
  api,
  download,
  fmt,
  fmtCI,
  h,
  type IntervalJson,
  labelled,
  select,
  showError,
  token,
} from './dom.js';
import type { RunSummary } from './runs.js';

interface StudySummary {
  id: string;
  name: string;
  createdAt: string;
  items: number;
  ratings: number;
  raters: number;
  arms: { A: { run: string }; B: { run: string } };
}

/** The rater link: the page's address with the token and the rater's route. */
export function raterLink(study: string, rater: string): string {
  return `${location.origin}/?token=${encodeURIComponent(token())}#/study/${study}/rate/${encodeURIComponent(rater)}`;
}

export async function studiesPage(): Promise<HTMLElement> {
  const [studies, runs] = await Promise.all([
    api<StudySummary[]>('/api/studies'),
    api<RunSummary[]>('/api/runs'),
  ]);
  const error = h('p', { class: 'error', role: 'alert' });
  const runOptions = runs.map((r) => [String(r.index), r.name] as [string, string]);
  const name = h('input', {
    id: 'study-name',
    type: 'text',
    required: true,
    value: 'pairwise study',
  }) as HTMLInputElement;
  const armA = select('study-a', runOptions, runOptions[0]?.[0] ?? '');
  const armB = select('study-b', runOptions, runOptions[1]?.[0] ?? runOptions[0]?.[0] ?? '');
  const seed = h('input', {
    id: 'study-seed',
    type: 'number',
    step: 1,
    min: 0,
    placeholder: 'random',
  }) as HTMLInputElement;
  const create = h(
    'form',
    {
      class: 'create',
      'aria-labelledby': 'create-title',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        showError(error, undefined);
        try {
          const made = await api<{ id: string }>('/api/studies', {
            name: name.value,
            runA: Number(armA.value),
            runB: Number(armB.value),
            ...(seed.value === '' ? {} : { seed: Number(seed.value) }),
          });
          location.hash = `#/study/${made.id}`;
        } catch (err) {
          showError(error, err);
        }
      },
    },
    h('h3', { id: 'create-title' }, 'New study'),
    h(
      'p',
      { class: 'hint' },
      'Two runs over the same rows: raters see each row’s two replies, blind and in a random order.',
    ),
    labelled('Name', name),
    labelled('Arm A (baseline run)', armA),
    labelled('Arm B (compared run)', armB),
    labelled('Seed (optional)', seed),
    h('button', { type: 'submit', id: 'create-study' }, 'Create study'),
    error,
  );
  return h(
    'main',
    { id: 'studies' },
    h('h2', {}, 'User studies'),
    studies.length === 0
      ? h('p', {}, 'No study yet.')
      : h(
          'ul',
          { class: 'studies' },
          studies.map((s) =>
            h(
              'li',
              { 'data-study': s.id },
              h('a', { href: `#/study/${s.id}` }, s.name),
              ` — ${s.arms.A.run} vs ${s.arms.B.run}, ${s.items} items, ${s.ratings} ratings by ${s.raters} raters`,
            ),
          ),
        ),
    runs.length < 1 ? h('p', {}, 'Give run folders to gtalign studio to create a study.') : create,
  );
}

export async function studyPage(id: string): Promise<HTMLElement> {
  const s = await api<StudySummary>(`/api/study?id=${encodeURIComponent(id)}`);
  const rater = h('input', {
    id: 'rater-id',
    type: 'text',
    required: true,
    pattern: '[A-Za-z0-9_.\\-]{1,64}',
  }) as HTMLInputElement;
  const link = h('p', { class: 'link', 'data-testid': 'rater-link' });
  const error = h('p', { class: 'error', role: 'alert' });
  return h(
    'main',
    { id: 'study' },
    h('h2', {}, s.name),
    h(
      'p',
      {},
      `${s.items} items · ${s.ratings} ratings by ${s.raters} raters · arm A ${s.arms.A.run}, arm B ${s.arms.B.run}`,
    ),
    h(
      'p',
      {},
      h('a', { href: `#/study/${id}/analysis` }, 'Analysis'),
      ' · ',
      h('a', { href: '#/studies' }, 'all studies'),
    ),
    h(
      'form',
      {
        onsubmit: (e: Event) => {
          e.preventDefault();
          const url = raterLink(id, rater.value);
          link.replaceChildren('Send this link to the rater: ', h('a', { href: url }, url));
        },
      },
      labelled('Rater id', rater),
      h('button', { type: 'submit', id: 'make-link' }, 'Make the rater’s link'),
    ),
    link,
    h(
      'p',
      {},
      h(
        'button',
        {
          type: 'button',
          onclick: () =>
            void download(`/api/export?id=${id}&format=csv`, `${id}.csv`).catch((e) => showError(error, e)),
        },
        'Export CSV',
      ),
      ' ',
      h(
        'button',
        {
          type: 'button',
          onclick: () =>
            void download(`/api/export?id=${id}&format=jsonl`, `${id}.jsonl`).catch((e) =>
              showError(error, e),
            ),
        },
        'Export JSONL',
      ),
    ),
    error,
  );
}

interface PlanItem {
  item: string;
  question: string | null;
  reply1: string;
  reply2: string;
}

export async function ratePage(id: string, rater: string): Promise<HTMLElement> {
  const plan = await api<{ name: string; items: PlanItem[]; done: string[] }>(
    `/api/rater?id=${encodeURIComponent(id)}&rater=${encodeURIComponent(rater)}`,
  );
  const done = new Set(plan.done);
  const main = h('main', { id: 'rate' }, h('h2', {}, plan.name));
  const body = h('div', {});
  main.append(
    h(
      'p',
      { class: 'hint' },
      'Rate how satisfied you would be with each reply (1 = not at all, 5 = fully), then say which you prefer. You can stop at any time and come back with the same link.',
    ),
    body,
  );
  const show = () => {
    const next = plan.items.find((i) => !done.has(i.item));
    const progress = h(
      'p',
      { class: 'progress', 'data-testid': 'progress' },
      `${done.size} of ${plan.items.length} rated`,
    );
    if (next === undefined) {
      body.replaceChildren(
        progress,
        h('p', { 'data-testid': 'finished' }, 'All items are rated. Thank you!'),
      );
      return;
    }
    const error = h('p', { class: 'error', role: 'alert' });
    const scale = (n: 1 | 2) =>
      h(
        'fieldset',
        { class: 'scale' },
        h('legend', {}, `Satisfaction with reply ${n}`),
        [1, 2, 3, 4, 5].map((v) =>
          h('label', {}, h('input', { type: 'radio', name: `sat${n}`, value: v, required: true }), ` ${v}`),
        ),
      );
    const form = h(
      'form',
      {
        class: 'rating',
        'data-item': next.item,
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const data = new FormData(form as HTMLFormElement);
          const pref = data.get('preference');
          const button = form.querySelector('button[type=submit]') as HTMLButtonElement;
          button.disabled = true;
          try {
            await api(`/api/rate?id=${encodeURIComponent(id)}&rater=${encodeURIComponent(rater)}`, {
              item: next.item,
              satisfaction1: Number(data.get('sat1')),
              satisfaction2: Number(data.get('sat2')),
              preference: pref === 'tie' ? 'tie' : Number(pref),
              comment: String(data.get('comment') ?? ''),
            });
            done.add(next.item);
            show();
            (body.querySelector('input[name=sat1]') as HTMLInputElement | null)?.focus();
          } catch (err) {
            button.disabled = false;
            showError(error, err);
          }
        },
      },
      h('h3', {}, 'Question'),
      h('p', { class: 'question' }, next.question ?? '(question not recorded)'),
      h(
        'div',
        { class: 'panels' },
        h(
          'section',
          { class: 'reply', 'aria-label': 'Reply 1' },
          h('h4', {}, 'Reply 1'),
          h('p', { 'data-testid': 'reply1' }, next.reply1),
          scale(1),
        ),
        h(
          'section',
          { class: 'reply', 'aria-label': 'Reply 2' },
          h('h4', {}, 'Reply 2'),
          h('p', { 'data-testid': 'reply2' }, next.reply2),
          scale(2),
        ),
      ),
      h(
        'fieldset',
        { class: 'preference' },
        h('legend', {}, 'Which reply do you prefer?'),
        h(
          'label',
          {},
          h('input', { type: 'radio', name: 'preference', value: 1, required: true }),
          ' Reply 1',
        ),
        h('label', {}, h('input', { type: 'radio', name: 'preference', value: 2 }), ' Reply 2'),
        h('label', {}, h('input', { type: 'radio', name: 'preference', value: 'tie' }), ' No preference'),
      ),
      labelled(
        'Comment (optional)',
        h('textarea', { id: 'comment', name: 'comment', rows: 2, maxlength: 2000 }),
      ),
      h('button', { type: 'submit', id: 'submit-rating' }, 'Submit and next'),
      error,
    );
    body.replaceChildren(progress, form);
  };
  show();
  return main;
}

interface AnalysisJson {
  ratings: number;
  raters: number;
  items: number;
  itemsRated: number;
  satisfaction: { A: IntervalJson; B: IntervalJson };
  difference: IntervalJson;
  relativeChange: IntervalJson;
  test: { statistic: number | null; pValue: number; method: string; n: number };
  preference: { A: number; B: number; tie: number; winRateB: IntervalJson };
  correlation: { pairs: number; pearson: IntervalJson; spearman: IntervalJson };
  agreement: { sharedItems: number; satisfactionAlpha: number | null; preferenceAlpha: number | null };
  seed: number;
  arms: { A: string; B: string };
}

export async function analysisPage(id: string): Promise<HTMLElement> {
  const a = await api<AnalysisJson>(`/api/analysis?id=${encodeURIComponent(id)}`);
  const row = (label: string, stat: string, value: string, raw?: number | null) =>
    h(
      'tr',
      { 'data-stat': stat, 'data-value': raw ?? '' },
      h('th', { scope: 'row' }, label),
      h('td', {}, value),
    );
  const pct = (i: IntervalJson) =>
    i.estimate === null
      ? '–'
      : `${fmt(i.estimate * 100, 1)}% [${fmt((i.low ?? Number.NaN) * 100, 1)}%, ${fmt((i.high ?? Number.NaN) * 100, 1)}%]`;
  return h(
    'main',
    { id: 'analysis' },
    h('h2', {}, 'Study analysis'),
    h('p', {}, h('a', { href: `#/study/${id}` }, '← study')),
    h(
      'p',
      {},
      `${a.ratings} ratings by ${a.raters} raters over ${a.itemsRated} of ${a.items} items. Arm A: ${a.arms.A}; arm B: ${a.arms.B}. 95% intervals: bootstrap (2000 resamples, seed ${a.seed}) for means, Fisher z for correlations.`,
    ),
    h(
      'table',
      { class: 'analysis' },
      h('caption', {}, 'Figures'),
      h(
        'tbody',
        {},
        row('Satisfaction, arm A', 'sat-A', fmtCI(a.satisfaction.A), a.satisfaction.A.estimate),
        row('Satisfaction, arm B', 'sat-B', fmtCI(a.satisfaction.B), a.satisfaction.B.estimate),
        row('Difference B − A (paired)', 'diff', fmtCI(a.difference), a.difference.estimate),
        row('Relative change B vs A', 'relative', pct(a.relativeChange), a.relativeChange.estimate),
        row(
          'Sign-flip permutation test',
          'p',
          `p = ${fmt(a.test.pValue, 4)} (${a.test.method}, n = ${a.test.n})`,
          a.test.pValue,
        ),
        row(
          'Preferences A / B / tie',
          'prefs',
          `${a.preference.A} / ${a.preference.B} / ${a.preference.tie}`,
        ),
        row('Win rate of B (tie = ½)', 'winrate', pct(a.preference.winRateB), a.preference.winRateB.estimate),
        row(
          `Pearson r of rating and W (n = ${a.correlation.pairs})`,
          'pearson',
          fmtCI(a.correlation.pearson),
          a.correlation.pearson.estimate,
        ),
        row(
          `Spearman ρ of rating and W (n = ${a.correlation.pairs})`,
          'spearman',
          fmtCI(a.correlation.spearman),
          a.correlation.spearman.estimate,
        ),
        row(
          `Krippendorff α, satisfaction (${a.agreement.sharedItems} items with ≥ 2 raters)`,
          'alpha-sat',
          fmt(a.agreement.satisfactionAlpha),
          a.agreement.satisfactionAlpha,
        ),
        row(
          'Krippendorff α, preference (nominal)',
          'alpha-pref',
          fmt(a.agreement.preferenceAlpha),
          a.agreement.preferenceAlpha,
        ),
      ),
    ),
  );
}
