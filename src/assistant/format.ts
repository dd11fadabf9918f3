/** Plain-text tables of a turn's trace, for the CLI's `--trace` and the demo. */

import { renderNumber } from '../chain/payoff-edit.js';
import { formatPayoffPair } from '../game/format.js';
import { cellKeys, DEFAULT_SPEC, type GameSpec, type PayoffMatrix } from '../game/spec.js';
import { num, signed } from '../steering/format.js';
import { textTable } from '../text-table.js';
import type { SteeringTrace, TurnResult, TurnTrace } from './turn.js';

const table = (head: readonly string[], rows: readonly (readonly string[])[]): string[] =>
  textTable(head, rows).split('\n');

const pair = (m: PayoffMatrix, key: string) => formatPayoffPair(m[key]!, renderNumber);

/** The matrices before and after, the edits, and the choice. */
export function formatSteering(steering: SteeringTrace, spec: GameSpec = DEFAULT_SPEC): string {
  const pick = steering.selection.selected[0]!;
  const rows = cellKeys(spec).map((key) => {
    const d = steering.diff.find((c) => c.key === key);
    const delta = d === undefined ? '' : formatPayoffPair(d.delta, signed);
    const sum = steering.matrixAfter[key]!.LLM + steering.matrixAfter[key]!.user;
    return [
      `${key}${key === pick ? ' <' : ''}`,
      pair(steering.matrixBefore, key),
      delta,
      pair(steering.matrixAfter, key),
      num(sum),
    ];
  });
  const out = [
    `Policy: ${steering.policy}`,
    ...table(['cell', 'model wrote', 'edit', 'steered', 'U+L'], rows),
    'Edits:',
  ];
  // Explanations read "DA: …"; the edits of most policies depend on the action only, so each line shows once.
  const seen = new Set<string>();
  for (const key of cellKeys(spec)) {
    const why = steering.edits.explanation[key];
    if (why === undefined) continue;
    for (const party of ['LLM', 'user'] as const) {
      const text = why[party];
      const colon = text.indexOf(': ');
      const line =
        colon > 0
          ? `  ${text.slice(0, colon)} ${party}: ${text.slice(colon + 2)}`
          : `  ${key} ${party}: ${text}`;
      if (!seen.has(line)) out.push(line);
      seen.add(line);
    }
  }
  out.push(`Selected (${steering.selection.rule}): ${pick}: ${steering.selection.reason}`);
  return out.join('\n');
}

/** Tokens and time per stage. */
export function formatStages(trace: TurnTrace): string {
  const rows = trace.stages.map((s) => [
    s.name,
    String(s.promptTokens),
    String(s.cachedPromptTokens),
    String(s.promptTokens - s.cachedPromptTokens),
    String(s.completionTokens),
    s.constraint ?? '-',
    `${Math.round(s.durationMs)} ms`,
  ]);
  return table(['stage', 'prompt', 'cached', 'evaluated', 'generated', 'grammar', 'time'], rows).join('\n');
}

/** What happened after steering: the model's own choice, the action, stages, and notes. */
export function formatOutcome(result: TurnResult): string {
  const t = result.trace;
  const out: string[] = [];
  if (t.analysisMode === 'model') {
    out.push(
      `Model's analysis chose: ${t.modelChoice ?? '(no cell named)'}${t.modelChoice !== undefined && t.modelChoice !== t.selection.selected[0] ? ' (differs from the selection)' : ''}`,
    );
  }
  out.push(
    `Action: ${result.action} (cell ${result.cell}); analysis by ${t.analysisMode === 'model' ? 'the model' : 'gtalign'}, stage 2 ${t.continuation === 'continue' ? 'continued the same assistant turn' : 're-asked the question'}`,
  );
  out.push(formatStages(t));
  for (const note of t.notes) out.push(`Note: ${note}`);
  if (t.formatProblems.length > 0) out.push(`Format problems: ${t.formatProblems.join('; ')}`);
  return out.join('\n');
}

/** The whole trace: steering, then the outcome. */
export function formatTrace(result: TurnResult, spec: GameSpec = DEFAULT_SPEC): string {
  return `${formatSteering(result.trace, spec)}\n${formatOutcome(result)}`;
}
