/**
 * Constraints that make a judge answer with nothing but its verdict: `\boxed{v}`, `<abg>v</abg>` or
 * `<po>v</po>` with v on the kind's scale. For judges that cannot be trusted to follow the rubric's format
 * (a small local model); a judge that reasons before its verdict should run without them.
 */
import type { Constraint } from '../llm/types.js';
import type { VerdictKind } from './rubrics.js';
import { VERDICT_CONTAINERS, VERDICT_SCALES } from './verdict.js';

const OPEN = { boxed: '\\boxed{', abg: '<abg>', po: '<po>' } as const;
const CLOSE = { boxed: '}', abg: '</abg>', po: '</po>' } as const;

const gbnfString = (s: string): string => JSON.stringify(s);
const regexText = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A GBNF constraint (with its check) whose only outputs are the verdicts of `kind`. */
export function verdictConstraint(kind: VerdictKind): { kind: 'gbnf'; grammar: string; check: RegExp } {
  const container = VERDICT_CONTAINERS[kind];
  const values = VERDICT_SCALES[kind].map(String);
  const open = OPEN[container];
  const close = CLOSE[container];
  return {
    kind: 'gbnf',
    grammar: `root ::= ${gbnfString(open)} (${values.map(gbnfString).join(' | ')}) ${gbnfString(close)}`,
    check: new RegExp(`^${regexText(open)}(?:${values.map(regexText).join('|')})${regexText(close)}$`),
  };
}

/** {@link verdictConstraint} for every verdict kind, as `createJudge`'s `constraints` option takes them. */
export function verdictConstraints(): Record<VerdictKind, Constraint> {
  return {
    math: verdictConstraint('math'),
    writing: verdictConstraint('writing'),
    safety: verdictConstraint('safety'),
    ambiguity: verdictConstraint('ambiguity'),
    matrix: verdictConstraint('matrix'),
  };
}
