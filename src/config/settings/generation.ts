/** Generation: token limits, the grammar, sampling. */
import { group, setting } from '../setting.js';
import { boolean, integer, number, positiveInt } from '../value-types.js';

export const MAX_TOKENS = setting({
  name: 'max-tokens',
  key: 'generation.maxTokens',
  type: positiveInt(),
  default: 1024,
  env: ['GTALIGN_MAX_TOKENS'],
  arg: 'N',
  help: 'token limit of each stage',
});

export const MAX_CHARS = setting({
  name: 'max-chars',
  key: 'generation.maxChars',
  type: positiveInt(),
  arg: 'N',
  help: 'grammar bound on each free-text block, in characters',
});

export const NO_GRAMMAR = setting({
  name: 'no-grammar',
  key: 'generation.noGrammar',
  type: boolean(),
  default: false,
  help: 'do not constrain decoding (the output is still validated)',
});

export const TEMPERATURE = setting({
  name: 'temperature',
  key: 'generation.temperature',
  type: number({ min: 0 }),
  arg: 'X',
  help: 'sampling temperature',
});

export const SEED = setting({
  name: 'seed',
  key: 'generation.seed',
  type: integer({ min: 0 }),
  arg: 'N',
  help: 'sampling seed',
});

export const GENERATION = group('Generation', [MAX_TOKENS, MAX_CHARS, NO_GRAMMAR, TEMPERATURE, SEED]);
