/**
 * Rows in the layouts of the trainers whose reward reads dataset columns directly (gtalign_reward's SkyRL,
 * AReaL and NeMo-RL entry points): what `gtalign data export --format skyrl|areal|nemo-rl` writes.
 *
 * - SkyRL (skyrl-gym, checked against NovaSky-AI/SkyRL a956457, skyrl 0.3.0 / skyrl-gym 0.4.0): `prompt`
 *   (chat messages), `env_class` (the registered environment, `gtalign`), `reward_spec` (`method`,
 *   `ground_truth`), `data_source`, `extra_info`; the generator hands the environment every column but
 *   `prompt` and `env_class`.
 * - AReaL (areal-project/AReaL cbff54d, 2.0.0; inclusionAI/AReaL 4aef98d, 1.0.4): `messages` (what
 *   `RLVRWorkflow`'s prompt extraction reads), and the columns the reward function receives as keyword
 *   arguments: `data_source`, `ground_truth`, `extra_info`.
 * - NeMo-RL (NVIDIA-NeMo/RL 7ea279a, 0.6.0, and v0.7.0): `messages` (its `ResponseDataset` keeps a `messages` column as
 *   it is) and `extra_env_info`, the reward's inputs as one JSON string that gtalign_reward's `gtalign`
 *   processor decodes: rows are loaded through HF datasets, whose columns cannot hold `extra_info`'s fields,
 *   which differ from one data source to the next (NeMo-Gym's rows carry theirs the same way).
 */
import { type DatasetRow, withConversationFields } from './row.js';

/** The environment id `register_skyrl_env()` registers by default. */
export const SKYRL_ENV_CLASS = 'gtalign';

export function toSkyrlRecord(row: DatasetRow): Record<string, unknown> {
  return withConversationFields(row, {
    id: row.id,
    data_source: row.data_source,
    prompt: row.prompt,
    env_class: SKYRL_ENV_CLASS,
    reward_spec: { method: 'rule', ground_truth: row.ground_truth },
    extra_info: row.extra_info,
  });
}

export function toNemoRlRecord(row: DatasetRow): Record<string, unknown> {
  const info = {
    id: row.id,
    data_source: row.data_source,
    ground_truth: row.ground_truth,
    extra_info: row.extra_info,
  };
  return withConversationFields(row, {
    id: row.id,
    data_source: row.data_source,
    messages: row.prompt,
    extra_env_info: JSON.stringify(info),
  });
}

export function toArealRecord(row: DatasetRow): Record<string, unknown> {
  return withConversationFields(row, {
    id: row.id,
    data_source: row.data_source,
    messages: row.prompt,
    ground_truth: row.ground_truth,
    extra_info: row.extra_info,
  });
}
