/** Steering: the pricing policy that edits the payoff matrix, and how the cell is chosen. */
import type { AnalysisMode, ContinuationMode } from '../../assistant/turn.js';
import { SELECTION_RULES } from '../../game/select.js';
import { PRESET_NAMES } from '../../steering/preset-names.js';
import { group, setting } from '../setting.js';
import { nameOrPath, oneOf, path } from '../value-types.js';

export const ANALYSES: readonly AnalysisMode[] = ['model', 'solver'];
export const CONTINUATIONS: readonly ContinuationMode[] = ['continue', 'reask', 'auto'];

export const POLICY = setting({
  name: 'policy',
  key: 'steering.policy',
  type: nameOrPath(PRESET_NAMES),
  default: 'none',
  env: ['GTALIGN_POLICY'],
  arg: 'NAME|FILE',
  help: `pricing policy: a preset (${PRESET_NAMES.join(', ')})\nor a JSON file`,
});

export const PROFILE = setting({
  name: 'profile',
  key: 'steering.profile',
  type: path(),
  arg: 'FILE',
  help: 'action-profile overrides (JSON) for pricing policies',
});

export const RULE = setting({
  name: 'rule',
  key: 'steering.rule',
  type: oneOf(SELECTION_RULES, { unknownWording: true }),
  default: 'sum',
  arg: 'NAME',
  help: `selection rule: ${SELECTION_RULES.join(', ')}`,
});

export const ANALYSIS = setting({
  name: 'analysis',
  key: 'steering.analysis',
  type: oneOf(ANALYSES),
  default: 'model',
  arg: 'model|solver',
  help: "who writes <analyze>: the model or gtalign's solver",
});

export const CONTINUATION = setting({
  name: 'continuation',
  key: 'steering.continuation',
  type: oneOf(CONTINUATIONS),
  default: 'auto',
  arg: 'MODE',
  help:
    'continue (extend the same assistant turn), reask (a new request with a\n' +
    'one-line instruction, as the reference does), auto (continue when the\n' +
    'backend can)',
});

export const STEERING = group('Steering', [POLICY, PROFILE, RULE, ANALYSIS, CONTINUATION]);
