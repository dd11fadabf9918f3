/**
 * The offline path: `gtalign models tiny` puts the generated random-weight model in the model cache, after which
 * `gtalign chat` works with no --model and no network, and says the weights are random.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TINY_MODEL_FILE } from '../../src/assistant/tiny-model.js';
import { HAVE_DATA, shippedPath } from '../data/helpers.js';
import { runCliInProcess } from '../support/cli-in-process.js';

let dir: string;
const env = () => ({ XDG_CACHE_HOME: join(dir, 'cache'), GTALIGN_MODEL: '' });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-tiny-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('gtalign models tiny', () => {
  it('writes the offline model into the cache, after which chat needs no --model', {
    timeout: 90_000,
  }, async () => {
    const none = await runCliInProcess(['chat', 'What is 2+2?'], { env: env() });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('gtalign models tiny');

    const made = await runCliInProcess(['models', 'tiny'], { env: env() });
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const folder = join(dir, 'cache', 'gtalign', 'models');
    expect(made.stdout).toContain(join(folder, TINY_MODEL_FILE));
    expect(made.stdout).toContain('RANDOM weights');
    // Written under a temporary name and renamed: only the model is left.
    expect(await readdir(folder)).toEqual([TINY_MODEL_FILE]);

    const again = await runCliInProcess(['models', 'tiny'], { env: env() });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already there');

    const chat = await runCliInProcess(
      ['chat', 'What is 2+2?', '--max-chars', '12', '--seed', '3', '--json'],
      {
        env: env(),
      },
    );
    expect(chat.code).toBe(0);
    expect(chat.stderr).toContain('RANDOM weights');
    const result = JSON.parse(chat.stdout) as { randomWeights?: boolean; trace: { stages: unknown[] } };
    expect(result.randomWeights).toBe(true);
    expect(result.trace.stages).toHaveLength(2);

    // Without --max-chars too: the turn keeps a random model's blocks short (these seeds used to fill the
    // token limit inside <analyze> and fail).
    for (const seed of ['13', '14']) {
      const plain = await runCliInProcess(['chat', 'Tell me a joke', '--seed', seed], { env: env() });
      expect(plain.code, plain.stderr).toBe(0);
    }
  });
});

describe('--context-size', () => {
  it('sets the local engine context; a prompt over it names the flag', { timeout: 90_000 }, async () => {
    const made = await runCliInProcess(['models', 'tiny'], { env: env() });
    expect(made.code).toBe(0);
    const long = `Explain this: ${'word '.repeat(400)}`;
    const small = await runCliInProcess(['chat', long, '--context-size', '256', '--max-chars', '12'], {
      env: env(),
    });
    expect(small.code).toBe(1);
    expect(small.stderr).toMatch(/does not fit the context of 256 tokens/);
    expect(small.stderr).toContain('--context-size');
    const server = await runCliInProcess(
      ['chat', 'hi', '--backend', 'openai', '--model', 'm', '--context-size', '256'],
      { env: env() },
    );
    expect(server.code).toBe(2);
    expect(server.stderr).toContain('--context-size goes with --backend local');
  });
});

describe.skipIf(!HAVE_DATA)('eval run on the offline model', () => {
  it('completes on a shipped row and records that the weights are random', { timeout: 120_000 }, async () => {
    expect((await runCliInProcess(['models', 'tiny'], { env: env() })).code).toBe(0);
    const out = join(dir, 'run');
    const r = await runCliInProcess(
      [
        'eval',
        'run',
        shippedPath('medium', 'test'),
        '--limit',
        '1',
        '--judge',
        'offline',
        '--max-chars',
        '12',
        '--out',
        out,
      ],
      { env: env() },
    );
    expect(r.code, r.stderr).toBe(0);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as {
      backend: { kind: string; randomWeights?: boolean };
    };
    expect(config.backend).toMatchObject({ kind: 'local', randomWeights: true });
    expect(r.stderr).toContain(
      "gtalign eval run: this model has RANDOM weights (the offline model of 'gtalign models tiny')",
    );
    // The same model as a local judge: its verdicts mean nothing, and the run says so.
    const model = join(dir, 'cache', 'gtalign', 'models', TINY_MODEL_FILE);
    const scored = await runCliInProcess(
      [
        'reward',
        'score',
        '--input',
        'test/fixtures/reward-parity.jsonl',
        '--judge-backend',
        'local',
        '--judge-model',
        model,
        '--judge-verdict-only',
        '--no-cache',
        '--output',
        join(dir, 'scored.jsonl'),
      ],
      { env: env() },
    );
    expect(scored.stderr).toContain(
      "gtalign reward score: the judge's model has RANDOM weights (the offline model of 'gtalign models tiny'): its verdicts mean nothing",
    );
  });
});
