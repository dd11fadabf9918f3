/**
 * `npm run demo` on a fresh clone: no model, no network. It must fall back to a generated tiny model, say that
 * its text is random, and still show the whole pipeline under the pricing policies.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDemo } from '../../src/cli/demo.js';

let dir: string;
const saved = {
  XDG_CACHE_HOME: process.env.XDG_CACHE_HOME,
  GTALIGN_MODEL: process.env.GTALIGN_MODEL,
  TMPDIR: process.env.TMPDIR,
};
/** The temporary folder the demo makes its model in: the test's own, so another test's demo run cannot count. */
let temp: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-demotest-'));
  // No pulled model and no GTALIGN_MODEL, whatever the machine running the tests has.
  process.env.XDG_CACHE_HOME = join(dir, 'empty-cache');
  process.env.GTALIGN_MODEL = '';
  temp = join(dir, 'tmp');
  await mkdir(temp);
  process.env.TMPDIR = temp;
});

afterEach(async () => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  await rm(dir, { recursive: true, force: true });
});

describe('the demo without a model', () => {
  it('runs the pipeline on a generated tiny model and says the text is random', {
    timeout: 60_000,
  }, async () => {
    let out = '';
    await runDemo({ policies: ['subscription', 'api'], write: (t) => (out += t) });
    expect(out).toContain(`No local model found ($GTALIGN_MODEL is not set and ${join(dir, 'empty-cache')}`);
    expect(out).toContain("Run 'gtalign models pull'");
    expect(out).toContain('RANDOM weights');
    expect(out).toMatch(/=== policy subscription: [^\n]+\n[\s\S]*=== policy api: /);
    // Both turns ran to the end: steering tables, the choice, the KV-cache reuse of stage 2, a response.
    expect(out.match(/^Selected \(sum\): /gm)).toHaveLength(2);
    expect(
      out.match(/^Stage 2 evaluated \d+ of its \d+ prompt tokens; the other \d+ came from/gm),
    ).toHaveLength(2);
    expect(out.match(/^Response: ".*" \(random text\)$/gm)).toHaveLength(2);
    expect(out).toMatch(/Summary: subscription → [DV]Q_(DA|CQ|AQ), api → [DV]Q_(DA|CQ|AQ)\./);
    // Random payoffs seldom move under the edits: the paper's own matrix shows the steering.
    expect(out).toContain(
      "On the paper's worked example (GTALIGN.md §5: its matrix, no edits → VQ_CQ), the same policies pick: subscription → DQ_DA, api → DQ_DA.",
    );
    // The generated model is removed afterwards (it was made in the test's own temporary folder).
    expect(await readdir(temp)).toEqual([]);
  });
});
