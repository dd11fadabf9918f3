import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECOMMENDED_MODEL, resolveModelPath } from '../../src/assistant/models.js';
import { TINY_MODEL_FILE } from '../../src/assistant/tiny-model.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-find-model-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes `name` into `folder` with the given modification time (seconds since the epoch). */
async function file(folder: string, name: string, mtime: number): Promise<void> {
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, name), 'GGUF');
  await utimes(join(folder, name), mtime, mtime);
}

const modelIn = async (folder: string) => (await resolveModelPath({ env: {}, dir: folder })).path;

describe('the model a local chat uses from the cache folder', () => {
  it('takes a real model over the offline one written after it (gtalign models tiny)', async () => {
    const folder = join(dir, 'pulled-then-tiny');
    await file(folder, 'other-instruct.gguf', 1_000);
    await file(folder, TINY_MODEL_FILE, 2_000);
    expect(await modelIn(folder)).toBe(join(folder, 'other-instruct.gguf'));
  });

  it('takes the recommended model first, then the newest other, and the offline model when alone', async () => {
    const folder = join(dir, 'several');
    await file(folder, TINY_MODEL_FILE, 1_000);
    expect(await modelIn(folder)).toBe(join(folder, TINY_MODEL_FILE));
    await file(folder, 'a.gguf', 2_000);
    await file(folder, 'b.gguf', 3_000);
    expect(await modelIn(folder)).toBe(join(folder, 'b.gguf'));
    await file(folder, RECOMMENDED_MODEL.file, 500);
    expect(await modelIn(folder)).toBe(join(folder, RECOMMENDED_MODEL.file));
  });
});
