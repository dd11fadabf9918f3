/**
 * A new user's likely first try: `gtalign reward score` on a file from `gtalign data export`, whose rows
 * hold prompts and no model output. Each line must say that it is a data set row and what to do instead.
 */
import { describe, expect, it } from 'vitest';
import { runCliInProcess } from '../support/cli-in-process.js';

const DATA_ROW = JSON.stringify({
  id: 'math-hard:test:0',
  data_source: 'math-hard',
  prompt: [{ role: 'user', content: 'What is 6 * 7?' }],
  ground_truth: '42',
  extra_info: { single_turn_prompt: 'What is 6 * 7?' },
});

describe('reward score on data set rows', () => {
  it('says a line is a data set row without a response, and how to get outputs scored', async () => {
    const result = await runCliInProcess(['reward', 'score', '--input', '-', '--judge', 'offline'], {
      stdin: `${DATA_ROW}\n`,
    });
    expect(result.code).toBe(3);
    const line = JSON.parse(result.stdout.trim()) as { id: string; error: { message: string } };
    expect(line.id).toBe('math-hard:test:0');
    expect(line.error.message).toContain('response must be a string, got missing');
    expect(line.error.message).toContain('looks like a data set row');
    expect(line.error.message).toContain('gtalign eval run');
    expect(result.stderr).toContain('looks like a data set row');
  });

  it('gives no such hint for an output line that only lacks its response', async () => {
    const line = JSON.stringify({ id: 'a', data_source: 'math-hard', ground_truth: '42' });
    const result = await runCliInProcess(['reward', 'score', '--input', '-', '--judge', 'offline'], {
      stdin: `${line}\n`,
    });
    expect(result.code).toBe(3);
    expect(result.stdout).toContain('response must be a string, got missing');
    expect(result.stdout).not.toContain('data set row');
  });
});
