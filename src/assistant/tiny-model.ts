/**
 * The offline model: a tiny llama GGUF with random weights, generated on this machine (nothing to
 * download). Its text is noise, but under gtalign's grammar it still writes the four blocks, so every path
 * of the toolkit runs without a network. The file carries a `gtalign.random_weights` flag so that whatever
 * loads it can say the weights are random.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../io/atomic-file.js';
import { bool, encodeGguf, tinyLlamaGguf } from '../llm/gguf-writer.js';

export const TINY_MODEL_FILE = 'gtalign-tiny-random.gguf';
/** GGUF metadata key that marks a model whose weights are random. */
export const RANDOM_WEIGHTS_KEY = 'gtalign.random_weights';
/** Long enough for the shipped data sets' prompts with the byte-level tokenizer (the longest ~5k tokens). */
export const TINY_MODEL_CONTEXT = 16_384;

export interface TinyModelResult {
  path: string;
  bytes: number;
  /** True when the file was there already and `force` was not set. */
  existed: boolean;
}

/** Writes the offline model into `dir` (atomically: a killed write leaves no file behind). */
export async function writeTinyModel(
  dir: string,
  options: { force?: boolean } = {},
): Promise<TinyModelResult> {
  const path = join(dir, TINY_MODEL_FILE);
  if (options.force !== true) {
    const existing = await stat(path).catch(() => undefined);
    if (existing?.isFile()) return { path, bytes: existing.size, existed: true };
  }
  const file = tinyLlamaGguf({
    seed: 1,
    contextLength: TINY_MODEL_CONTEXT,
    name: 'gtalign tiny random llama',
  });
  const bytes = encodeGguf({ ...file, metadata: [...file.metadata, [RANDOM_WEIGHTS_KEY, bool(true)]] });
  await writeAtomic(path, bytes);
  return { path, bytes: bytes.length, existed: false };
}
