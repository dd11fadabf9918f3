/**
 * Run folders in tests: their files read back, and the config of a run made through the library (no CLI
 * to build one).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunConfig } from '../../src/eval/store.js';

/** The JSON lines of a run file (results.jsonl, turns.jsonl), blank lines left out. */
export const jsonLines = async (path: string) =>
  (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    // biome-ignore lint/suspicious/noExplicitAny: JSON records read back from the run folder
    .map((l) => JSON.parse(l) as Record<string, any>);

/** The folder's metrics.json. */
export const metricsOf = async (out: string) => JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));

export const fileExists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** A run config for `evaluate` or `evaluateConversations` called directly: an assistant run with a live judge. */
export function libraryRunConfig(name: string): RunConfig {
  return {
    schema: 'gtalign.run/1',
    name,
    command: 'eval run',
    gtalign: 'test',
    createdAt: 'now',
    data: { files: [], dataSources: [], limit: null },
    mode: 'assistant',
    backend: { kind: 'openai', model: 'stub-model' },
    judge: { kind: 'live', model: 'stub-model' },
    reward: { configId: 'x', config: {}, mathCheck: true },
    tokenizer: { name: 'approx', exact: false, description: 'approx' },
  };
}
