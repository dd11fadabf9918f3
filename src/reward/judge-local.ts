/**
 * A judge on a GGUF file run by the embedded engine: what `--judge-backend local --judge-model FILE.gguf`
 * asks for, in one call. The judge owns the model it loads: `close()` frees it.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createLocalModel, type LocalModelOptions } from '../llm/local.js';
import { ChatModelError } from '../llm/types.js';
import { createJudge, type Judge, type JudgeSettings } from './judge.js';
import { verdictConstraints } from './verdict-grammar.js';

export interface LocalJudgeOptions extends JudgeSettings, Omit<LocalModelOptions, 'modelPath'> {
  /** Path of the judge's GGUF file. */
  modelPath: string;
  /**
   * Constrain every reply to the bare verdict (`verdictConstraints()`), for a model too small to follow
   * the rubric's format; a judge that reasons before its verdict should run without (default false).
   * `constraints`, when given, wins.
   */
  verdictOnly?: boolean | undefined;
}

export interface LocalJudge extends Judge {
  /** Frees the model. */
  close(): Promise<void>;
  /** The model's weights are random (the offline model of `gtalign models tiny`): its verdicts mean nothing. */
  readonly randomWeights?: true;
}

/**
 * Loads the model and returns a judge on it. Calls run one at a time (the engine has one sequence), so
 * `concurrency` defaults to 1. The cache knows the model by its absolute path, size and modification
 * time, so replacing the file's weights never serves the old model's verdicts.
 */
export async function createLocalJudge(options: LocalJudgeOptions): Promise<LocalJudge> {
  const { modelPath, threads, gpu, contextSize, seed, verdictOnly, ...settings } = options;
  const path = resolve(modelPath);
  let identity: string;
  try {
    const file = await stat(path);
    identity = `local:${path}:${file.size}:${Math.floor(file.mtimeMs)}`;
  } catch (error) {
    throw new ChatModelError(`model file not found: ${path}`, {
      backend: 'local',
      reason: 'refused',
      cause: error,
    });
  }
  const model = await createLocalModel({
    modelPath: path,
    ...(threads === undefined ? {} : { threads }),
    ...(gpu === undefined ? {} : { gpu }),
    ...(contextSize === undefined ? {} : { contextSize }),
    ...(seed === undefined ? {} : { seed }),
  });
  try {
    const judge = createJudge({
      ...settings,
      model,
      cacheId: identity,
      concurrency: settings.concurrency ?? 1,
      constraints: settings.constraints ?? (verdictOnly ? verdictConstraints() : undefined),
    });
    return {
      ...judge,
      cache: judge.cache,
      close: () => model.close(),
      ...(model.randomWeights === true ? { randomWeights: true as const } : {}),
    };
  } catch (error) {
    await model.close();
    throw error;
  }
}
