/**
 * The reward configuration: the weights object (inline in the settings file as "reward", or a file given
 * with --reward-config), and the aggregator flags that override its fields.
 */

import type { RewardConfigInput } from '../../reward/config.js';
import { AGGREGATOR_NAMES } from '../../reward/config-base.js';
import { group, setting } from '../setting.js';
import { lazyJsonObject, number, oneOf } from '../value-types.js';

export const REWARD_CONFIG = setting({
  name: 'reward-config',
  key: 'reward',
  // The schema (zod) loads only when a reward configuration is given.
  type: lazyJsonObject<RewardConfigInput>(
    async () => (await import('../../reward/config.js')).parseRewardConfig,
  ),
  arg: 'FILE',
  help:
    'reward configuration JSON (weights, length bands; see docs);\n' +
    'in the settings file, a "reward" object or the path of such a file',
  defaultText: "the reference's",
});

export const AGGREGATE = setting({
  name: 'aggregate',
  key: 'reward.aggregator.name',
  type: oneOf(AGGREGATOR_NAMES, { unknownWording: true }),
  default: 'cobb-douglas',
  arg: 'NAME',
  help: AGGREGATOR_NAMES.join(' | '),
});

export const ALPHA = setting({
  name: 'alpha',
  key: 'reward.aggregator.alpha',
  type: number({ min: 0, max: 1 }),
  default: 0.5,
  arg: 'X',
  help: 'weight of U in weighted-cobb-douglas',
});

export const REWARD = group('Reward', [AGGREGATE, ALPHA, REWARD_CONFIG]);
