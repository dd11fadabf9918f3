/**
 * Whether two runs were scored alike. A comparison of two runs is meant to show what their generation
 * (model, policy, prompt) changed; when the judge, the reward's weights or the tokenizer differ too, their
 * U, L, W, answer scores or token counts are not on one scale, and the differences are the scoring's as
 * much as the runs'. Compared from config.json: `judge.kind` and `judge.model`, `reward.configId` (a digest
 * of the weights and the aggregator), `reward.mathCheck` and `tokenizer.name`. A setting a run does not
 * record (no config.json) is not compared.
 */
import { canonicalJson } from '../reward/canonical-json.js';

/** One side: a run's name and its config.json (undefined: the folder has none). */
export interface ScoringSide {
  name: string;
  config?: Record<string, unknown> | undefined;
}

const SETTINGS: ReadonlyArray<{ path: string; label: string }> = [
  { path: 'judge.kind', label: 'judge' },
  { path: 'judge.model', label: 'judge model' },
  { path: 'reward.configId', label: 'reward weights (reward.configId)' },
  { path: 'reward.mathCheck', label: 'math check' },
  { path: 'tokenizer.name', label: 'tokenizer' },
];

function at(config: Record<string, unknown> | undefined, path: string): unknown {
  let v: unknown = config;
  for (const key of path.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/**
 * The notes of a pair scored differently (none when every setting both runs record is the same), e.g.
 * `A and B were scored differently: judge model "qwen" vs "llama"; …`.
 */
export function scoringNotes(a: ScoringSide, b: ScoringSide): string[] {
  const differences: string[] = [];
  for (const { path, label } of SETTINGS) {
    const va = at(a.config, path);
    const vb = at(b.config, path);
    if (va === undefined || vb === undefined || canonicalJson(va) === canonicalJson(vb)) continue;
    differences.push(`${label} ${JSON.stringify(va)} vs ${JSON.stringify(vb)}`);
  }
  if (differences.length === 0) return [];
  return [
    `A and B were scored differently (config.json: ${differences.join('; ')}): their U, L, W, answer scores or token counts are not on one scale, and the differences below are the scoring's as much as the runs'`,
  ];
}
