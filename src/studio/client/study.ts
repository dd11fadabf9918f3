/// <reference lib="dom" />
/** User studies: create one from two runs, the rater's blind pairwise page, the analysis page. */

import { SELECTION_RULES } from '../../game/select.js';
import { PRESET_NAMES } from '../../steering/preset-names.js';
import { api, download, fmt, fmtCI, h, type IntervalJson, labelled, select, showError } from './dom.js';
import type { StudioConfig } from './playground.js';
import type { RunSummary } from './runs.js';

interface StudySummary {
  id: string;
  kind: 'runs' | 'live';
  name: string;
  createdAt: string;
  items: number;
  ratings: number;
  raters: number;
  arms: { A: { run: string }; B: { run: string } };
}

/** Hosts a page may be opened at that name no machine (the studio listening on every interface). */
const ANY_ADDRESS = new Set(['0.0.0.0', '[::]']);

/**
 * The rater's link: the page's address with the rater's own token, which opens that rater's rating of
 * this study and nothing else (the server makes it; the owner's token never leaves this page).
 */
export async function raterLink(study: string, rater: string): Promise<string> {
  const made = await api<{ path: string }>(
    `/api/rater-link?id=${encodeURIComponent(study)}&rater=${encodeURIComponent(rater)}`,
  );
  return `${location.origin}${made.path}`;
}

export async function studiesPage(): Promise<HTMLElement> {
  const [studies, runs, config] = await Promise.all([
    api<StudySummary[]>('/api/studies'),
    api<RunSummary[]>('/api/runs'),
    api<StudioConfig>('/api/config'),
  ]);
  const runOptions = runs.map((r) => [String(r.index), r.name] as [string, string]);
  const armA = select('study-a', runOptions, runOptions[0]?.[0] ?? '');
  const armB = select('study-b', runOptions, runOptions[1]?.[0] ?? runOptions[0]?.[0] ?? '');
  const create = creationForm({
    prefix: 'study',
    title: 'New study',
    hint: 'Two runs over the same rows: raters see each row’s two replies, blind and in a random order.',
    defaultName: 'pairwise study',
    controls: [
      ['Arm A (baseline run)', armA],
      ['Arm B (compared run)', armB],
    ],
    submit: ['create-study', 'Create study'],
    body: () => ({ runA: Number(armA.value), runB: Number(armB.value) }),
  });
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
              s.kind === 'live'
                ? ` — live: policy ${s.arms.A.run} vs ${s.arms.B.run}, ${s.items} turns, ${s.ratings} ratings by ${s.raters} rater${s.raters === 1 ? '' : 's'}`
                : ` — ${s.arms.A.run} vs ${s.arms.B.run}, ${s.items} items, ${s.ratings} ratings by ${s.raters} rater${s.raters === 1 ? '' : 's'}`,
            ),
          ),
        ),
    runs.length < 1
      ? h('p', {}, 'Give run folders to gtalign studio to create a study of two runs.')
      : create,
    config.backend.startsWith('none')
      ? h('p', {}, 'Start gtalign studio with a backend to run live studies.')
      : liveForm(config),
  );
}

/**
 * A form that creates a study: a name, the kind's own controls, an optional seed; on success the page goes
 * to the new study.
 */
function creationForm(options: {
  prefix: string;
  title: string;
  hint: string;
  defaultName: string;
  controls: [string, HTMLElement][];
  submit: [id: string, text: string];
  body: () => Record<string, unknown>;
}): HTMLElement {
  const { prefix } = options;
  const error = h('p', { class: 'error', role: 'alert' });
  const name = h('input', {
    id: `${prefix}-name`,
    type: 'text',
    required: true,
    value: options.defaultName,
  }) as HTMLInputElement;
  const seed = h('input', {
    id: `${prefix}-seed`,
    type: 'number',
    step: 1,
    min: 0,
    placeholder: 'random',
  }) as HTMLInputElement;
  return h(
    'form',
    {
      class: 'create',
      'aria-labelledby': `${prefix}-title`,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        showError(error, undefined);
        try {
          const made = await api<{ id: string }>('/api/studies', {
            name: name.value,
            ...options.body(),
            ...(seed.value === '' ? {} : { seed: Number(seed.value) }),
          });
          location.hash = `#/study/${made.id}`;
        } catch (err) {
          showError(error, err);
        }
      },
    },
    h('h3', { id: `${prefix}-title` }, options.title),
    h('p', { class: 'hint' }, options.hint),
    labelled('Name', name),
    options.controls.map(([label, control]) => labelled(label, control)),
    labelled('Seed (optional)', seed),
    h('button', { type: 'submit', id: options.submit[0] }, options.submit[1]),
    error,
  );
}

/** Creates a live study: two steering policies answer each rater's own messages. */
function liveForm(config: StudioConfig): HTMLElement {
  const policyA = select('live-a', PRESET_NAMES, 'none');
  const policyB = select('live-b', PRESET_NAMES, PRESET_NAMES.includes('paper-api') ? 'paper-api' : 'none');
  const rule = select('live-rule', SELECTION_RULES, config.rule);
  // With a second backend, each arm answers from either (e.g. a base model against a trained one).
  const backends: [string, string][] = [['main', config.backend]];
  if (config.compare !== null) backends.push(['compare', config.compare]);
  const backendA = select('live-a-backend', backends, 'main');
  const backendB = select('live-b-backend', backends, 'main');
  const backendControls: [string, HTMLElement][] =
    config.compare === null
      ? []
      : [
          ['Arm A backend', backendA],
          ['Arm B backend', backendB],
        ];
  return creationForm({
    prefix: 'live',
    title: 'New live study',
    hint: 'Raters write their own messages; each is answered under both arms (from one stage 1 when both arms use the same backend), shown blind, and the conversation goes on with the reply the rater prefers.',
    defaultName: 'live study',
    controls: [
      ['Arm A policy (baseline)', policyA],
      ['Arm B policy (compared)', policyB],
      ...backendControls,
      ['Selection rule', rule],
    ],
    submit: ['create-live-study', 'Create live study'],
    body: () => ({
      kind: 'live',
      policyA: policyA.value,
      policyB: policyB.value,
      backendA: backendA.value,
      backendB: backendB.value,
      rule: rule.value,
    }),
  });
}

interface LiveTurnJson {
  item: string;
  rater: string;
  conversation: number;
  turn: number;
  at: string;
  question: string | null;
  replies: { A: string; B: string };
  actions?: { A: string | null; B: string | null };
  rating: { satisfaction: { A: number; B: number }; preference: 'A' | 'B' | 'tie'; comment: string } | null;
}

/** A live study's latest turns for its owner, not blind: each reply under its arm, with the rating. */
function liveTurnsTable(s: StudySummary, turns: LiveTurnJson[]): HTMLElement {
  const reply = (t: LiveTurnJson, arm: 'A' | 'B') =>
    h(
      'td',
      {},
      t.replies[arm],
      ' ',
      h(
        'span',
        { class: 'hint' },
        `(${t.actions?.[arm] ?? '?'}${t.rating === null ? '' : `, ${t.rating.satisfaction[arm]}/5`})`,
      ),
    );
  return h(
    'table',
    { class: 'items', 'data-testid': 'live-turns' },
    h('caption', {}, `Latest turns (${turns.length} of ${s.items}), newest first`),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Rater', 'Turn', 'Message', `Arm A: ${s.arms.A.run}`, `Arm B: ${s.arms.B.run}`, 'Preferred'].map(
          (t) => h('th', { scope: 'col' }, t),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      turns.map((t) =>
        h(
          'tr',
          { 'data-item': t.item },
          h('td', {}, t.rater),
          h('td', {}, `${t.conversation}.${t.turn}`),
          h('td', {}, t.question ?? ''),
          reply(t, 'A'),
          reply(t, 'B'),
          h(
            'td',
            { 'data-preference': t.rating?.preference ?? '' },
            t.rating === null ? 'not rated yet' : t.rating.preference,
          ),
        ),
      ),
    ),
  );
}

export async function studyPage(id: string): Promise<HTMLElement> {
  const s = await api<StudySummary>(`/api/study?id=${encodeURIComponent(id)}`);
  const turns =
    s.kind === 'live' ? await api<LiveTurnJson[]>(`/api/live-turns?id=${encodeURIComponent(id)}`) : [];
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
      s.kind === 'live'
        ? `Live study · ${s.items} turns · ${s.ratings} ratings by ${s.raters} rater${s.raters === 1 ? '' : 's'} · arm A policy ${s.arms.A.run}, arm B policy ${s.arms.B.run}`
        : `${s.items} items · ${s.ratings} ratings by ${s.raters} rater${s.raters === 1 ? '' : 's'} · arm A ${s.arms.A.run}, arm B ${s.arms.B.run}`,
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
          raterLink(id, rater.value).then(
            (url) =>
              link.replaceChildren(
                'Send this link to the rater: ',
                h('a', { href: url }, url),
                ...(ANY_ADDRESS.has(location.hostname)
                  ? [
                      h(
                        'span',
                        { class: 'warning', 'data-testid': 'link-host-warning' },
                        ` — it names ${location.hostname}, which no other machine can reach: open this page at the address the studio printed for the network, and make the link there.`,
                      ),
                    ]
                  : []),
              ),
            (err: unknown) => showError(error, err),
          );
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
            void download(`/api/export?id=${encodeURIComponent(id)}&format=csv`, `${id}.csv`).catch((e) =>
              showError(error, e),
            ),
        },
        'Export CSV',
      ),
      ' ',
      h(
        'button',
        {
          type: 'button',
          onclick: () =>
            void download(`/api/export?id=${encodeURIComponent(id)}&format=jsonl`, `${id}.jsonl`).catch((e) =>
              showError(error, e),
            ),
        },
        'Export JSONL',
      ),
    ),
    error,
    s.kind === 'live' ? liveTurnsTable(s, turns) : null,
  );
}

interface PlanItem {
  item: string;
  question: string | null;
  reply1: string;
  reply2: string;
  /** The server's digest of the replies in this order, sent back with the answer. */
  shown?: string;
  /** A live study's turn: where it is, and which reply (1 or 2) continued the conversation once rated. */
  conversation?: number;
  turn?: number;
  kept?: 1 | 2 | null;
}

interface RaterPlanJson {
  kind: 'runs' | 'live';
  name: string;
  items: PlanItem[];
  done: string[];
}

const rateUrl = (id: string, rater: string, path: string): string =>
  `${path}?id=${encodeURIComponent(id)}&rater=${encodeURIComponent(rater)}`;

/** What the server kept for a pair: this answer, or (`stored` false) one given before in another tab. */
interface RateReply {
  stored: boolean;
  kept: { preference: 1 | 2 | 'tie' };
}

/** Said when a pair had been rated already: the first answer stands, and the page follows it. */
const ALREADY_RATED =
  'This pair had already been rated (in another tab or window): the answer given first is kept, and this page now follows it.';

/**
 * The form that rates one pair: satisfaction 1–5 for each reply, a preference, a comment. `onRated` gets
 * the preference the server kept, which is another tab's when that one answered first.
 */
function ratingForm(
  id: string,
  rater: string,
  next: PlanItem,
  onRated: (kept: 1 | 2 | 'tie', stored: boolean) => void,
): HTMLElement {
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
        const raw = data.get('preference');
        const preference = raw === 'tie' ? 'tie' : (Number(raw) as 1 | 2);
        const button = form.querySelector('button[type=submit]') as HTMLButtonElement;
        button.disabled = true;
        try {
          const reply = await api<RateReply>(rateUrl(id, rater, '/api/rate'), {
            item: next.item,
            satisfaction1: Number(data.get('sat1')),
            satisfaction2: Number(data.get('sat2')),
            preference,
            comment: String(data.get('comment') ?? ''),
            ...(next.shown === undefined ? {} : { shown: next.shown }),
          });
          onRated(reply.kept.preference, reply.stored);
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
      h('label', {}, h('input', { type: 'radio', name: 'preference', value: 1, required: true }), ' Reply 1'),
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
  return form;
}

const focusFirstScale = (within: HTMLElement): void =>
  (within.querySelector('input[name=sat1]') as HTMLInputElement | null)?.focus();

export async function ratePage(id: string, rater: string): Promise<HTMLElement> {
  const plan = await api<RaterPlanJson>(rateUrl(id, rater, '/api/rater'));
  if (plan.kind === 'live') return livePage(id, rater, plan);
  const done = new Set(plan.done);
  const main = h('main', { id: 'rate' }, h('h2', {}, plan.name));
  const body = h('div', {});
  const notice = h('p', { class: 'hint', role: 'status', 'data-testid': 'rating-notice' });
  main.append(
    h(
      'p',
      { class: 'hint' },
      'Rate how satisfied you would be with each reply (1 = not at all, 5 = fully), then say which you prefer. You can stop at any time and come back with the same link.',
    ),
    notice,
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
    body.replaceChildren(
      progress,
      ratingForm(id, rater, next, (_kept, stored) => {
        notice.textContent = stored ? '' : ALREADY_RATED;
        done.add(next.item);
        show();
        focusFirstScale(body);
      }),
    );
  };
  show();
  return main;
}

/**
 * A live study's rater page: the conversation so far (each message with the reply that continued it), a
 * box for the next message, and the two blind replies to rate once they are written.
 */
function livePage(id: string, rater: string, plan: RaterPlanJson): HTMLElement {
  const items = [...plan.items];
  const thread = h('ol', { class: 'history', 'aria-label': 'Conversation so far', 'data-testid': 'thread' });
  const body = h('div', {});
  const status = h('p', { class: 'hint', role: 'status', 'data-testid': 'live-status' });
  const error = h('p', { class: 'error', role: 'alert' });
  let newConversation = false;
  const renderThread = () => {
    const last = items.at(-1);
    const shown =
      newConversation || last === undefined ? [] : items.filter((i) => i.conversation === last.conversation);
    thread.replaceChildren(
      ...shown.flatMap((i) => [
        h('li', { class: 'user' }, h('strong', {}, 'you: '), i.question ?? ''),
        ...(i.kept === null || i.kept === undefined
          ? []
          : [
              h(
                'li',
                { class: 'assistant' },
                h('strong', {}, 'assistant: '),
                i.kept === 1 ? i.reply1 : i.reply2,
              ),
            ]),
      ]),
    );
  };
  const ask = () => {
    const message = h('textarea', {
      id: 'live-message',
      name: 'message',
      rows: 3,
      cols: 80,
      maxlength: 8000,
      required: true,
    }) as HTMLTextAreaElement;
    const send = h('button', { type: 'submit', id: 'live-send' }, 'Send') as HTMLButtonElement;
    const form = h(
      'form',
      {
        class: 'live-ask',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          if (message.value.trim() === '') return;
          send.disabled = true;
          showError(error, undefined);
          status.textContent = 'Both replies are being written…';
          try {
            const item = await api<PlanItem>(rateUrl(id, rater, '/api/live-turn'), {
              message: message.value,
              newConversation,
            });
            newConversation = false;
            items.push(item);
            status.textContent = '';
            show();
          } catch (err) {
            status.textContent = '';
            send.disabled = false;
            showError(error, err);
          }
        },
      },
      labelled('Your message', message),
      send,
      ' ',
      h(
        'button',
        {
          type: 'button',
          id: 'live-new',
          onclick: () => {
            newConversation = true;
            renderThread();
            message.focus();
          },
        },
        'New conversation',
      ),
    );
    return form;
  };
  const show = () => {
    renderThread();
    const next = items.find((i) => i.kept === null || i.kept === undefined);
    const progress = h(
      'p',
      { class: 'progress', 'data-testid': 'progress' },
      ((n) => `${n} ${n === 1 ? 'turn' : 'turns'} rated`)(items.length - (next === undefined ? 0 : 1)),
    );
    if (next === undefined) {
      body.replaceChildren(progress, ask());
      return;
    }
    body.replaceChildren(
      progress,
      ratingForm(id, rater, next, (preference, stored) => {
        status.textContent = stored ? '' : ALREADY_RATED;
        // The conversation goes on with the kept answer's preferred reply (on a tie, reply 1), as the
        // server keeps it: another tab's answer when that one came first.
        next.kept = preference === 'tie' ? 1 : preference;
        show();
        (body.querySelector('#live-message') as HTMLTextAreaElement | null)?.focus();
      }),
    );
    focusFirstScale(body);
  };
  show();
  return h(
    'main',
    { id: 'rate', 'data-kind': 'live' },
    h('h2', {}, plan.name),
    h(
      'p',
      { class: 'hint' },
      'Write to the assistant as you would. Each message gets two replies: rate how satisfied you are with each (1 = not at all, 5 = fully) and say which you prefer; the conversation goes on with the one you prefer. You can stop at any time and come back with the same link.',
    ),
    thread,
    body,
    status,
    error,
  );
}

interface AnalysisJson {
  ratings: number;
  ratingsOfRemovedItems: number;
  raters: number;
  items: number;
  itemsRated: number;
  satisfaction: { A: IntervalJson; B: IntervalJson };
  difference: IntervalJson;
  relativeChange: IntervalJson;
  test: { statistic: number | null; pValue: number; method: string; n: number };
  preference: { A: number; B: number; tie: number; winRateB: IntervalJson };
  correlation: { pairs: number; pearson: IntervalJson; spearman: IntervalJson; kendall: IntervalJson };
  agreement: { sharedItems: number; satisfactionAlpha: number | null; preferenceAlpha: number | null };
  byAction: { arm: 'A' | 'B'; action: string; n: number; satisfaction: IntervalJson }[];
  seed: number;
  kind: 'runs' | 'live';
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
      `${a.ratings} rating${a.ratings === 1 ? '' : 's'} by ${a.raters} rater${a.raters === 1 ? '' : 's'} over ${a.itemsRated} of ${a.items} items. Arm A: ${a.arms.A}; arm B: ${a.arms.B}. 95% intervals: bootstrap (2000 resamples, seed ${a.seed}) for means, Fisher z for correlations.`,
    ),
    a.ratingsOfRemovedItems === 0
      ? null
      : h(
          'p',
          { class: 'warning', 'data-testid': 'removed-items-note' },
          `${a.ratingsOfRemovedItems} rating${a.ratingsOfRemovedItems === 1 ? '' : 's'} of items no longer in the study (taken out of its study.json) ${a.ratingsOfRemovedItems === 1 ? 'is' : 'are'} not counted here; the export keeps ${a.ratingsOfRemovedItems === 1 ? 'it' : 'them'}.`,
        ),
    a.kind === 'live'
      ? h(
          'p',
          { class: 'hint', 'data-testid': 'live-note' },
          'A live study’s replies answer raters’ own messages, which have no reference answer, so they have no welfare W: the correlations with W are empty. The export holds each reply’s action.',
        )
      : null,
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
          `Kendall τ-b of rating and W (n = ${a.correlation.pairs})`,
          'kendall',
          fmtCI(a.correlation.kendall),
          a.correlation.kendall.estimate,
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
    a.byAction.length === 0
      ? null
      : h(
          'table',
          { class: 'analysis', 'data-testid': 'by-action' },
          h('caption', {}, 'Satisfaction by the reply’s action'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Arm', 'Action', 'Ratings', 'Mean satisfaction'].map((t) => h('th', { scope: 'col' }, t)),
            ),
          ),
          h(
            'tbody',
            {},
            a.byAction.map((g) =>
              h(
                'tr',
                { 'data-arm': g.arm, 'data-action': g.action, 'data-value': g.satisfaction.estimate ?? '' },
                h('td', {}, `${g.arm} (${a.arms[g.arm]})`),
                h('td', {}, g.action),
                h('td', {}, String(g.n)),
                h('td', {}, fmtCI(g.satisfaction)),
              ),
            ),
          ),
        ),
  );
}
