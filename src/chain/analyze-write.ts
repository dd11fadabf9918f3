/**
 * gtalign's own `<analyze>` block (solver mode): the frontier, the rule's choice and the chosen action, in
 * the words of the paper's analyze blocks.
 */
import { paretoFrontier } from '../game/pareto.js';
import type { SelectionResult } from '../game/select.js';
import { cellKeys, DEFAULT_SPEC, type GameSpec, type PayoffMatrix, splitCellKey } from '../game/spec.js';
import { renderNumber } from './payoff-edit.js';
import { DEFAULT_ACTION_DESCRIPTIONS } from './prompt.js';

const pairText = (matrix: PayoffMatrix, key: string): string =>
  `${key} (${renderNumber(matrix[key]!.LLM)}, ${renderNumber(matrix[key]!.user)})`;

function listWords(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** What an action means, from the spec's descriptions ("direct answer", …), or its name. */
function actionMeaning(column: string, descriptions: Readonly<Record<string, string>>): string {
  const d = Object.hasOwn(descriptions, column) ? descriptions[column] : undefined;
  if (d === undefined || d.trim() === '') return `the action ${column}`;
  return d.split(':')[0]!.trim();
}

/**
 * gtalign's own `<analyze>` content (solver mode): the Pareto frontier of the points as (LLM, user), the
 * selection and its reason, and the chosen key, in the words of the paper's analyze blocks. Contains no
 * `<`, so it can never open or close a tag.
 */
export function solverAnalysis(
  matrix: PayoffMatrix,
  selection: SelectionResult,
  spec: GameSpec = DEFAULT_SPEC,
  actionDescriptions: Readonly<Record<string, string>> = DEFAULT_ACTION_DESCRIPTIONS,
): string {
  const frontier = paretoFrontier(matrix, spec);
  const pick = selection.selected[0]!;
  const column = splitCellKey(pick, spec)?.column ?? pick;
  const rule =
    selection.rule === 'sum'
      ? 'the largest LLM + user, then the larger user payoff, then the larger LLM payoff'
      : `the ${selection.rule} rule`;
  const sentences = [
    `The Pareto frontier of the ${cellKeys(spec).length} points (LLM, user) is ${listWords(
      frontier.map((k) => pairText(matrix, k)),
    )}.`,
    `Choosing by ${rule}: ${selection.reason.replace(/</g, '‹')}.`,
    `Chosen cell: ${pick}, so the reply is a ${actionMeaning(column, actionDescriptions)} (${column}).`,
  ];
  return sentences.join(' ');
}
