/**
 * The whole conversation loop on the local engine with the generated tiny model (random weights: its
 * text means nothing, and that is the label it carries) as both the assistant and the simulated user.
 * It shows the loop runs offline without a GPU, not that anything it says is right.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyModel } from '../../src/assistant/tiny-model.js';
import { runCliInProcess } from '../support/cli-in-process.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-sim-tiny-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('eval run --turns 2 on the offline random-weights model', () => {
  it('completes a conversation with the tiny model playing both sides', { timeout: 180_000 }, async () => {
    const { path } = await writeTinyModel(dir);
    const data = join(dir, 'rows.jsonl');
    const question = 'Who won the cup?';
    await writeFile(
      data,
      `${JSON.stringify({
        id: 'tiny-1',
        data_source: 'ambig_qa',
        prompt: [{ role: 'user', content: `Question: ${question}` }],
        ground_truth:
          'multipleQAs###Meaning 0: Who won the cup in 2010?; Answer 0: Spain\nMeaning 1: Who won the cup in 2014?; Answer 1: Germany\n',
        extra_info: { single_turn_prompt: question },
      })}\n`,
    );
    const out = join(dir, 'run');
    const r = await runCliInProcess(
      [
        'eval',
        'run',
        '--data',
        data,
        '--out',
        out,
        '--backend',
        'local',
        '--model',
        path,
        '--prompt',
        'gtalign',
        '--max-chars',
        '12',
        '--max-tokens',
        '96',
        '--seed',
        '1',
        '--judge',
        'offline',
        '--tokenizer',
        'approx',
        '--no-progress',
        '--turns',
        '2',
        '--user-backend',
        'local',
        '--user-max-tokens',
        '16',
        '--persona',
        'cooperative,terse',
      ],
      { env: { XDG_CACHE_HOME: join(dir, 'cache'), GTALIGN_MODEL: '' } },
    );
    expect([0, 1]).toContain(r.code); // 1 only when a turn awaits a judge verdict (--judge offline)
    expect(r.stderr).not.toContain('internal error');
    const records = (await readFile(join(out, 'results.jsonl'), 'utf8')).split('\n').filter((l) => l !== '');
    expect(records.map((l) => JSON.parse(l).id).sort()).toEqual(['tiny-1~cooperative', 'tiny-1~terse']);
    for (const l of records) {
      const c = JSON.parse(l).conversation;
      expect(c.turns).toBeGreaterThanOrEqual(1);
      expect(c.turns).toBeLessThanOrEqual(2);
    }
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.generation.conversation).toMatchObject({ turns: 2, user: { kind: 'local', shared: true } });
  });
});
