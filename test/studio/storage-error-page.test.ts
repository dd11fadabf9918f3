/**
 * A rating the studio cannot store (a full disk): the page that sent it, a rater's browser on another
 * machine, is told that nothing was saved and to try again, without the server's folders and files; the
 * studio's log, for the researcher, names the file and the reason.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { PRESETS } from '../../src/steering/presets.js';
import { startStudioServer } from '../../src/studio/server.js';
import { openStudyStore } from '../../src/studio/study.js';
import { faultyFs } from '../support/faulty-fs.js';

const TOKEN = 'storage-error-token';
const root = await mkdtemp(join(tmpdir(), 'gtalign-studio-full-'));
afterAll(() => rm(root, { recursive: true, force: true }));

it('answers a rating it could not store with a 500 that names no server path, and logs the path', async () => {
  const setup = await openStudyStore(root);
  const study = await setup.create({
    name: 'full disk',
    arms: { A: { run: 'base', dir: '/runs/base' }, B: { run: 'steer', dir: '/runs/steer' } },
    items: [
      { id: 'q1', data_source: 'math-hard', question: 'q1?', replies: { A: 'a', B: 'b' }, W: { A: 1, B: 0 } },
    ],
    seed: 1,
  });
  await setup.close();
  // Opening the store reads the logs; its first write is the rating's append.
  const store = await openStudyStore(root, faultyFs([{ on: 'write', index: 0, kind: 'ENOSPC' }]));
  const logged: string[] = [];
  const server = await startStudioServer({
    runs: [],
    studies: store,
    backend: 'none',
    policy: PRESETS.none,
    rule: 'product',
    token: TOKEN,
    port: 0,
    log: (line) => logged.push(line),
  });
  try {
    const res = await fetch(`${server.url}/api/rate?id=${study.id}&rater=r1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ item: 'q1', satisfaction1: 4, satisfaction2: 2, preference: 1 }),
    });
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toContain('nothing was saved');
    expect(body.error.message).not.toContain(root);
    expect(body.error.message).not.toContain('ENOSPC');
    expect(logged.join('\n')).toContain(join(root, study.id));
    expect(logged.join('\n')).toContain('no space left on the device (ENOSPC)');
    expect(store.ratings(study.id)).toHaveLength(0);
  } finally {
    await server.close();
    await store.close();
  }
});
