/// <reference lib="dom" />
/**
 * The playground: ask a question, watch stage 1 stream in, steer the model's matrix under two policies
 * side by side (computed here, in the page, with the library's own steering and game code), and let the
 * model answer with either policy (stage 2 of the same turn, on the server).
 */
import { SELECTION_RULES, type SelectionRuleName } from '../../game/select.js';
import { cellKeys, DEFAULT_SPEC, type PayoffMatrix } from '../../game/spec.js';
import { BILLINGS, PAYERS, parsePolicy, type SteeringPolicy } from '../../steering/policy.js';
import { PRESET_NAMES, PRESETS } from '../../steering/presets.js';
import { DINOSAUR_MATRIX, DINOSAUR_QUESTION, type SteerView, steer } from '../steer.js';
import { fmt, h, labelled, s, select, showError, sse } from './dom.js';

export interface StudioConfig {
  policy: SteeringPolicy;
  rule: SelectionRuleName;
  profile?: unknown;
  backend: string;
  /** The second backend live studies may use, or null. */
  compare: string | null;
}

interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

const CELL_ORDER = ['DQ_AQ', 'DQ_CQ', 'DQ_DA', 'VQ_AQ', 'VQ_CQ', 'VQ_DA'];

/** A matrix as a table (user type rows × action columns); `chosen` and the frontier are marked. */
export function matrixTable(
  matrix: PayoffMatrix,
  caption: string,
  marks: { chosen?: string; pareto?: readonly string[]; nash?: readonly string[] } = {},
  testId?: string,
): HTMLElement {
  const keys = Object.keys(matrix);
  const rows = [...new Set(keys.map((k) => k.split('_')[0]!))];
  const cols = [...new Set(keys.map((k) => k.split('_').slice(1).join('_')))];
  return h(
    'table',
    { class: 'matrix', 'data-testid': testId },
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'user type \\ action'),
        cols.map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, r),
          cols.map((c) => {
            const key = `${r}_${c}`;
            const p = matrix[key];
            const tags = [
              marks.chosen === key ? 'chosen' : '',
              marks.pareto?.includes(key) ? 'pareto' : '',
              marks.nash?.includes(key) ? 'nash' : '',
            ].filter((t) => t !== '');
            return h(
              'td',
              {
                'data-cell': key,
                'data-user': p?.user,
                'data-llm': p?.LLM,
                class: tags.join(' '),
                title: tags.join(', '),
              },
              p === undefined ? '–' : `U ${fmt(p.user, 2)}, L ${fmt(p.LLM, 2)}`,
              marks.chosen === key ? h('span', { class: 'badge' }, ' ★ chosen') : null,
            );
          }),
        ),
      ),
    ),
  );
}

/** The (U, L) scatter: the steered cells (filled), the model's cells (hollow), the frontier, Nash equilibria, the pick. */
export function scatter(before: PayoffMatrix, view: SteerView, testId: string): SVGElement {
  const W = 420;
  const H = 300;
  const pad = 44;
  const pts = [...Object.values(before), ...Object.values(view.after)];
  const us = pts.map((p) => p.user);
  const ls = pts.map((p) => p.LLM);
  const span = (xs: number[]): [number, number] => {
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    const m = Math.max(0.25, (hi - lo) * 0.12);
    return [lo - m, hi + m];
  };
  const [u0, u1] = span(us);
  const [l0, l1] = span(ls);
  const x = (u: number) => pad + ((u - u0) / (u1 - u0)) * (W - pad - 16);
  const y = (l: number) => H - pad - ((l - l0) / (l1 - l0)) * (H - pad - 16);
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    role: 'img',
    'aria-label': `Payoffs as (U, L) points; chosen ${view.chosen}`,
    'data-testid': testId,
  });
  svg.append(
    s('line', { x1: pad, y1: H - pad, x2: W - 8, y2: H - pad, class: 'axis' }),
    s('line', { x1: pad, y1: 8, x2: pad, y2: H - pad, class: 'axis' }),
    s('text', { x: W / 2, y: H - 8, class: 'axis-label' }, 'U (user)'),
    s('text', { x: 12, y: H / 2, class: 'axis-label', transform: `rotate(-90 12 ${H / 2})` }, 'L (LLM)'),
  );
  for (const t of [u0, (u0 + u1) / 2, u1]) {
    svg.append(s('text', { x: x(t), y: H - pad + 16, class: 'tick' }, fmt(t, 1)));
  }
  for (const t of [l0, (l0 + l1) / 2, l1]) {
    svg.append(s('text', { x: pad - 6, y: y(t) + 4, class: 'tick end' }, fmt(t, 1)));
  }
  const frontier = view.pareto
    .map((k) => view.after[k]!)
    .sort((a, b) => a.user - b.user || b.LLM - a.LLM)
    .map((p) => `${x(p.user)},${y(p.LLM)}`)
    .join(' ');
  svg.append(s('polyline', { points: frontier, class: 'frontier', 'data-frontier': view.pareto.join(' ') }));
  for (const [k, p] of Object.entries(before)) {
    svg.append(s('circle', { cx: x(p.user), cy: y(p.LLM), r: 4, class: 'before', 'data-before': k }));
  }
  for (const k of CELL_ORDER.filter((c) => c in view.after).concat(
    Object.keys(view.after).filter((c) => !CELL_ORDER.includes(c)),
  )) {
    const p = view.after[k]!;
    const cls = ['after', view.pareto.includes(k) ? 'pareto' : '', k === view.chosen ? 'chosen' : '']
      .filter((c) => c !== '')
      .join(' ');
    if (view.pureNash.includes(k)) {
      svg.append(s('circle', { cx: x(p.user), cy: y(p.LLM), r: 10, class: 'nash', 'data-nash': k }));
    }
    svg.append(
      s(
        'circle',
        { cx: x(p.user), cy: y(p.LLM), r: k === view.chosen ? 7 : 5, class: cls, 'data-point': k },
        s('title', {}, `${k}: U ${p.user}, L ${p.LLM}`),
      ),
      s('text', { x: x(p.user) + 8, y: y(p.LLM) - 6, class: 'point-label' }, k),
    );
  }
  const legend = s('g', { transform: `translate(${W - 150}, 14)`, class: 'legend' });
  legend.append(
    s('circle', { cx: 0, cy: 0, r: 5, class: 'after' }),
    s('text', { x: 10, y: 4 }, 'steered'),
    s('circle', { cx: 0, cy: 16, r: 4, class: 'before' }),
    s('text', { x: 10, y: 20 }, "model's"),
    s('circle', { cx: 70, cy: 0, r: 8, class: 'nash' }),
    s('text', { x: 82, y: 4 }, 'Nash'),
    s('line', { x1: 62, y1: 16, x2: 78, y2: 16, class: 'frontier' }),
    s('text', { x: 82, y: 20 }, 'Pareto'),
  );
  svg.append(legend);
  return svg;
}

const num = (id: string, value: number, label: string): HTMLElement =>
  labelled(
    label,
    h('input', { id, name: id, type: 'number', step: 'any', min: 0, value }) as HTMLInputElement,
  );

/** One policy panel: controls, the edits, the steered matrix, the scatter, and "answer with this policy". */
class PolicyPanel {
  readonly root: HTMLElement;
  private readonly out: HTMLElement;
  private readonly error: HTMLElement;
  private readonly answer: HTMLElement;
  private readonly answerButton: HTMLButtonElement;
  private view: SteerView | undefined;
  private policy: SteeringPolicy | undefined;
  /** The matrix the hand-edit fields were last filled from. */
  private handFrom: PayoffMatrix | undefined;

  constructor(
    private readonly n: number,
    initial: SteeringPolicy,
    private readonly rule: SelectionRuleName,
    private readonly host: Playground,
  ) {
    const p = (name: string) => `p${n}-${name}`;
    const presetValue =
      initial.name !== undefined && (PRESET_NAMES as readonly string[]).includes(initial.name)
        ? initial.name
        : 'custom';
    const pricing = (initial.kind === 'pricing' ? initial : PRESETS.api) as Extract<
      SteeringPolicy,
      { kind: 'pricing' }
    >;
    const preset = select(
      p('preset'),
      [['custom', 'custom pricing'], ['by-hand', 'the matrix edited by hand'], ...PRESET_NAMES],
      presetValue,
    );
    // The matrix by hand: two numbers a cell, filled from stage 1's matrix; the policy is the differences.
    const hand = h(
      'fieldset',
      { class: 'controls', id: p('hand'), hidden: true },
      h('legend', {}, 'The matrix, edited by hand'),
      // Payoffs may be negative: no lower bound here, unlike the prices.
      cellKeys(DEFAULT_SPEC).flatMap((key) =>
        (['user', 'LLM'] as const).map((party) =>
          labelled(
            `${key} ${party}`,
            h('input', { id: p(`cell-${key}-${party}`), type: 'number', step: 'any', value: 0 }),
          ),
        ),
      ),
    );
    const controls = h(
      'fieldset',
      { class: 'controls', id: p('pricing') },
      h('legend', {}, 'Pricing'),
      labelled('Billing', select(p('billing'), BILLINGS, pricing.billing)),
      labelled('Who pays per token', select(p('payer'), PAYERS, pricing.payer)),
      num(p('price-in'), pricing.pricePerMillionInput, 'Price per 1M input tokens'),
      num(p('price-out'), pricing.pricePerMillionOutput, 'Price per 1M output tokens'),
      num(p('compute'), pricing.computeCostPerMillion, 'Compute cost per 1M output tokens'),
      num(p('compute-in'), pricing.computeCostPerMillionInput, 'Compute cost per 1M input tokens'),
      num(p('utility'), pricing.utilityPerCurrency, 'Payoff units per unit of money'),
      num(p('time'), pricing.userTimeCostPerTurn, "User's cost per extra turn (payoff units)"),
    );
    const ruleSelect = select(p('rule'), SELECTION_RULES, this.rule);
    this.out = h('div', { class: 'steered', 'aria-live': 'polite' });
    this.error = h('p', { class: 'error', role: 'alert' });
    this.answer = h('div', { class: 'answer', 'data-testid': p('answer'), 'aria-live': 'polite' });
    this.answerButton = h(
      'button',
      { type: 'button', id: p('answer-button'), disabled: true, onclick: () => void this.answerWith() },
      'Answer with this policy',
    ) as HTMLButtonElement;
    this.root = h(
      'section',
      { class: 'panel', 'aria-labelledby': p('title'), 'data-testid': `policy-${n}` },
      h('h3', { id: p('title') }, `Policy ${n}`),
      labelled('Preset', preset),
      controls,
      hand,
      labelled('Selection rule', ruleSelect),
      this.error,
      this.out,
      this.answerButton,
      this.answer,
    );
    preset.addEventListener('change', () => {
      const name = preset.value;
      if (name !== 'custom' && name !== 'by-hand') {
        const chosen = PRESETS[name as keyof typeof PRESETS];
        if (chosen.kind === 'pricing') this.fill(chosen);
      }
      this.update();
    });
    controls.addEventListener('input', () => {
      if (preset.value !== 'custom' && PRESETS[preset.value as keyof typeof PRESETS]?.kind !== 'pricing')
        return;
      preset.value = 'custom';
      this.update();
    });
    controls.addEventListener('change', () => this.update());
    hand.addEventListener('input', () => this.update());
    ruleSelect.addEventListener('change', () => this.update());
  }

  private field(name: string): HTMLInputElement {
    return this.root.querySelector(`#p${this.n}-${name}`) as HTMLInputElement;
  }

  private fill(p: Extract<SteeringPolicy, { kind: 'pricing' }>): void {
    this.field('billing').value = p.billing;
    this.field('payer').value = p.payer;
    this.field('price-in').value = String(p.pricePerMillionInput);
    this.field('price-out').value = String(p.pricePerMillionOutput);
    this.field('compute').value = String(p.computeCostPerMillion);
    this.field('compute-in').value = String(p.computeCostPerMillionInput);
    this.field('utility').value = String(p.utilityPerCurrency);
    this.field('time').value = String(p.userTimeCostPerTurn);
  }

  /**
   * The matrix typed by hand as a fixed edit: per cell, the typed values less stage 1's (steering rounds
   * the result to two decimals, as a turn does, so the steered matrix is what was typed).
   */
  private handPolicy(): SteeringPolicy {
    const matrix = this.host.matrix;
    const fields = this.root.querySelector(`#p${this.n}-hand`) as HTMLFieldSetElement;
    if (matrix === undefined)
      return { kind: 'fixed', name: 'by hand', all: { LLM: 0, user: 0 }, columns: {} };
    if (this.handFrom !== matrix) {
      for (const [key, payoff] of Object.entries(matrix)) {
        this.field(`cell-${key}-user`).value = String(payoff.user);
        this.field(`cell-${key}-LLM`).value = String(payoff.LLM);
      }
      this.handFrom = matrix;
    }
    const cells: Record<string, { LLM: number; user: number }> = {};
    for (const [key, payoff] of Object.entries(matrix)) {
      const typed = (party: 'LLM' | 'user'): number => {
        const input = this.field(`cell-${key}-${party}`);
        const v = Number(input.value.trim());
        if (input.value.trim() === '' || !Number.isFinite(v))
          throw new Error(`${key} ${party}: enter a number`);
        return v - payoff[party];
      };
      cells[key] = { LLM: typed('LLM'), user: typed('user') };
    }
    fields.hidden = false;
    return parsePolicy({ kind: 'fixed', name: 'by hand', cells });
  }

  /** The policy the controls describe (checked by the library's parser, which names a bad field). */
  private readPolicy(): SteeringPolicy {
    const preset = this.field('preset').value;
    const handFields = this.root.querySelector(`#p${this.n}-hand`) as HTMLFieldSetElement;
    handFields.hidden = preset !== 'by-hand';
    if (preset === 'by-hand') {
      (this.root.querySelector(`#p${this.n}-pricing`) as HTMLFieldSetElement).disabled = true;
      return this.handPolicy();
    }
    const fixed = preset === 'custom' ? undefined : PRESETS[preset as keyof typeof PRESETS];
    const pricingControls = this.root.querySelector(`#p${this.n}-pricing`) as HTMLFieldSetElement;
    pricingControls.disabled = fixed !== undefined && fixed.kind !== 'pricing';
    if (fixed !== undefined) return fixed;
    const billing = this.field('billing').value;
    const number = (name: string): number => {
      const text = this.field(name).value.trim();
      const v = Number(text);
      if (text === '' || !Number.isFinite(v))
        throw new Error(`${this.field(name).labels?.[0]?.textContent ?? name}: enter a number`);
      return v;
    };
    const input: Record<string, unknown> = {
      kind: 'pricing',
      name: 'custom',
      billing,
      userTimeCostPerTurn: number('time'),
    };
    for (const id of ['payer', 'price-in', 'price-out']) this.field(id).disabled = billing !== 'per-token';
    for (const id of ['compute', 'compute-in', 'utility']) this.field(id).disabled = billing === 'free';
    if (billing === 'per-token') {
      input.payer = this.field('payer').value;
      input.pricePerMillionInput = number('price-in');
      input.pricePerMillionOutput = number('price-out');
    }
    if (billing !== 'free') {
      input.computeCostPerMillion = number('compute');
      input.computeCostPerMillionInput = number('compute-in');
      input.utilityPerCurrency = number('utility');
    }
    return parsePolicy(input);
  }

  /** Recomputes edits, steered matrix and choice from the current matrix and controls. */
  update(): void {
    const matrix = this.host.matrix;
    this.out.replaceChildren();
    showError(this.error, undefined);
    this.view = undefined;
    try {
      this.policy = this.readPolicy();
      if (matrix === undefined) {
        this.answerButton.disabled = true;
        return;
      }
      const rule = this.field('rule').value as SelectionRuleName;
      const view = steer(matrix, this.policy, {
        rule,
        ...(this.host.profile === undefined ? {} : { profile: this.host.profile as never }),
      });
      this.view = view;
      // Per action for pricing and the presets (the same in every row); per cell for a matrix edited by hand.
      const perCell = this.policy.kind === 'fixed' && this.policy.cells !== undefined;
      const rows: Array<[string, { LLM: number; user: number }]> = perCell
        ? Object.entries(view.edits.cells)
        : [...new Set(Object.keys(view.edits.cells).map((k) => k.split('_').slice(1).join('_')))].map(
            (col) => [col, Object.entries(view.edits.cells).find(([k]) => k.endsWith(`_${col}`))![1]],
          );
      const edits = h(
        'table',
        { class: 'edits', 'data-testid': `edits-${this.n}` },
        h('caption', {}, perCell ? 'Edits per cell' : 'Edits per action (added to every row)'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, perCell ? 'cell' : 'action'),
            h('th', { scope: 'col' }, 'Δ user'),
            h('th', { scope: 'col' }, 'Δ LLM'),
          ),
        ),
        h(
          'tbody',
          {},
          rows.map(([name, d]) =>
            h(
              'tr',
              {},
              h('th', { scope: 'row' }, name),
              h('td', {}, fmt(d.user, 4)),
              h('td', {}, fmt(d.LLM, 4)),
            ),
          ),
        ),
      );
      this.out.append(
        h(
          'p',
          { class: 'choice', 'data-testid': `chosen-${this.n}`, 'data-chosen': view.chosen },
          'Chosen: ',
          h('strong', {}, view.chosen),
          view.chosen === view.before.chosen
            ? ' (as without steering)'
            : ` (was ${view.before.chosen} before steering)`,
        ),
        h('p', { class: 'reason' }, view.selection.reason),
        edits,
        matrixTable(
          view.after,
          'Steered matrix',
          { chosen: view.chosen, pareto: view.pareto, nash: view.pureNash },
          `steered-${this.n}`,
        ),
        scatter(matrix, view, `scatter-${this.n}`),
      );
      this.answerButton.disabled = this.host.stage1Id === undefined;
    } catch (err) {
      this.answerButton.disabled = true;
      showError(this.error, err);
    }
  }

  clearAnswer(): void {
    this.answer.replaceChildren();
  }

  private async answerWith(): Promise<void> {
    const id = this.host.stage1Id;
    if (id === undefined || this.policy === undefined) return;
    this.answerButton.disabled = true;
    const text = h('p', { class: 'response-text' });
    const meta = h('p', { class: 'meta' });
    this.answer.replaceChildren(h('h4', {}, 'Stage 2 (the same turn, continued)'), text, meta);
    try {
      await sse('/api/stage2', { id, policy: this.policy, rule: this.field('rule').value }, (event, data) => {
        if (event === 'text') text.textContent += (data as { text: string }).text;
        else if (event === 'done') {
          const d = data as {
            response: string;
            action: string;
            cell: string;
            matrixAfter: PayoffMatrix;
            notes: string[];
          };
          text.textContent = d.response;
          const same =
            this.view !== undefined && JSON.stringify(d.matrixAfter) === JSON.stringify(this.view.after);
          meta.replaceChildren(
            `Action ${d.action} (cell ${d.cell}). `,
            same
              ? 'The server steered the same matrix as this page.'
              : 'Note: the server’s steered matrix differs from this page’s.',
            ...d.notes.map((n) => h('span', { class: 'note' }, ` ${n}`)),
          );
          meta.setAttribute('data-cell', d.cell);
          this.host.answered(d.response);
        } else if (event === 'error') throw new Error((data as { message: string }).message);
      });
    } catch (err) {
      showError(this.error, err);
    } finally {
      this.answerButton.disabled = this.host.stage1Id === undefined;
    }
  }
}

export class Playground {
  matrix: PayoffMatrix | undefined;
  stage1Id: string | undefined;
  profile: unknown;
  private history: Turn[] = [];
  private answeredId: string | undefined;
  private question = '';
  private readonly panels: PolicyPanel[];
  private readonly stage1: HTMLElement;
  private readonly before: HTMLElement;
  private readonly error: HTMLElement;
  private readonly historyView: HTMLElement;
  readonly root: HTMLElement;

  constructor(config: StudioConfig) {
    this.profile = config.profile;
    this.panels = [
      new PolicyPanel(1, config.policy, config.rule, this),
      new PolicyPanel(2, PRESETS['paper-api'], config.rule, this),
    ];
    this.stage1 = h('pre', { class: 'stage1', 'data-testid': 'stage1', 'aria-live': 'polite' });
    this.before = h('div', { class: 'before' });
    this.error = h('p', { class: 'error', role: 'alert' });
    this.historyView = h('ol', { class: 'history', 'aria-label': 'Conversation so far' });
    const input = h('input', {
      id: 'question',
      name: 'question',
      type: 'text',
      required: true,
      autocomplete: 'off',
      size: 60,
    }) as HTMLInputElement;
    const ask = h('button', { type: 'submit', id: 'ask' }, 'Ask') as HTMLButtonElement;
    const form = h(
      'form',
      {
        class: 'ask',
        onsubmit: (e: Event) => {
          e.preventDefault();
          void this.ask(input.value, ask);
        },
      },
      labelled('Question', input),
      ask,
      h(
        'button',
        {
          type: 'button',
          id: 'example',
          onclick: () => {
            input.value = DINOSAUR_QUESTION;
            this.stage1Id = undefined;
            this.stage1.textContent =
              '(the paper’s worked example: no model call; the matrix is the paper’s)';
            this.setMatrix(DINOSAUR_MATRIX);
          },
        },
        'Load the paper’s example',
      ),
      h(
        'button',
        {
          type: 'button',
          id: 'reset',
          onclick: () => {
            this.history = [];
            this.renderHistory();
          },
        },
        'New conversation',
      ),
    );
    this.root = h(
      'main',
      { id: 'playground' },
      h('h2', {}, 'Playground'),
      h(
        'p',
        { class: 'hint' },
        `Backend: ${config.backend}. Steering and selection run in this page with the library’s own code.`,
      ),
      this.historyView,
      form,
      this.error,
      h('h3', {}, 'Stage 1 (thinking and payoff, as the model writes them)'),
      this.stage1,
      this.before,
      h(
        'div',
        { class: 'panels' },
        this.panels.map((p) => p.root),
      ),
    );
    for (const p of this.panels) p.update();
  }

  setMatrix(matrix: PayoffMatrix): void {
    this.matrix = matrix;
    const view = steer(matrix, { kind: 'none', name: 'none' });
    this.before.replaceChildren(
      matrixTable(
        matrix,
        "The model's matrix (before steering)",
        { chosen: view.chosen, pareto: view.pareto, nash: view.pureNash },
        'matrix-before',
      ),
    );
    for (const p of this.panels) {
      p.clearAnswer();
      p.update();
    }
  }

  private async ask(question: string, button: HTMLButtonElement): Promise<void> {
    if (question.trim() === '') return;
    button.disabled = true;
    showError(this.error, undefined);
    this.stage1.textContent = '';
    this.stage1Id = undefined;
    this.question = question;
    try {
      await sse('/api/stage1', { question, history: this.history }, (event, data) => {
        if (event === 'text') this.stage1.textContent += (data as { text: string }).text;
        else if (event === 'stage1') {
          const d = data as { id: string; matrix: PayoffMatrix; text: string };
          this.stage1.textContent = d.text;
          this.stage1Id = d.id;
          this.setMatrix(d.matrix);
        } else if (event === 'error') throw new Error((data as { message: string }).message);
      });
    } catch (err) {
      showError(this.error, err);
    } finally {
      button.disabled = false;
    }
  }

  /** A stage 2 finished: the question and that answer join the conversation. */
  answered(response: string): void {
    if (this.answeredId === this.stage1Id) return;
    this.answeredId = this.stage1Id;
    this.history = [
      ...this.history,
      { role: 'user', content: this.question },
      { role: 'assistant', content: response },
    ];
    this.renderHistory();
  }

  private renderHistory(): void {
    this.historyView.replaceChildren(
      ...this.history.map((t) => h('li', { class: t.role }, h('strong', {}, `${t.role}: `), t.content)),
    );
  }
}
