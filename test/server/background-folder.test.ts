/**
 * What processes sharing a response folder leave each other about background runs (background-folder.ts):
 * a run's event file, followed from a sequence number while it grows, and cancel requests; and that these
 * files count towards the folder's bounds and go with their response.
 *
 * Shown: frames appended while a follower reads reach it in order, each once, and it ends at the frame
 * that ends the stream; frames up to `starting_after` are skipped; a file cut short of its last frame is
 * reported as such once the response has ended (with the next free sequence number), a missing file as
 * no events; a follower whose client left stops; a full disk stops the event file with one logged line and
 * no error thrown at the run; a cancel request is seen and cleared; an event file is counted with its
 * response, and evicting or deleting the response removes it.
 */

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackgroundFolder } from '../../src/server/background-folder.js';
import { ResponseFolder } from '../../src/server/response-folder.js';
import { faultyFs } from '../support/faulty-fs.js';

const ID = `resp_${'a'.repeat(32)}`;
const frame = (type: string, n: number, extra = '') =>
  `event: ${type}\ndata: {"type":"${type}","sequence_number":${n}${extra}}\n\n`;

/** A writable stand-in for the HTTP response a follower writes to: what was written, and whether it ended. */
function sink() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (b: Buffer) => {
    text += b.toString('utf8');
  });
  return {
    res: stream as unknown as ServerResponse,
    text: () => text,
    ended: () => stream.writableEnded,
    leave: () => stream.destroy(),
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-bg-folder-unit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a run’s event file', () => {
  it('reaches a follower in order while it is written, from after `starting_after`, to the ending frame', async () => {
    const shared = new BackgroundFolder(await ResponseFolder.open(dir, { maxResponses: 10 }), () => {});
    const log = shared.eventLog(ID)!;
    const frames = [
      frame('response.created', 0),
      frame('response.queued', 1),
      frame('response.in_progress', 2),
      ...Array.from({ length: 40 }, (_, i) => frame('response.output_text.delta', 3 + i, `,"delta":"é${i}"`)),
    ];
    for (const f of frames.slice(0, 3)) log.append(f);
    let status = 'in_progress';
    const out = sink();
    let asked = 0;
    const following = shared.follow(out.res, ID, 1, async () => {
      // Each time the follower finds nothing new, the run writes more: no timing involved.
      asked++;
      const next = frames.slice(3 + (asked - 1) * 10, 3 + asked * 10);
      for (const f of next) log.append(f);
      if (next.length === 0) {
        log.append(frame('response.completed', frames.length));
        status = 'completed';
      }
      return status;
    });
    expect(await following).toEqual({ ended: 'done' });
    expect(out.ended()).toBe(true);
    expect(out.text()).toBe([...frames.slice(2), frame('response.completed', frames.length)].join(''));
    const bytes = await log.close();
    expect(bytes).toBe((await stat(join(dir, `${ID}.events`))).size);
  });

  it('reads frames whatever the pieces the file grows by (multi-byte characters cut included)', async () => {
    // No pause between looks: the file grows when the follower asks, so nothing here waits on time.
    const shared = new BackgroundFolder(await ResponseFolder.open(dir, { maxResponses: 10 }), () => {}, {
      followPollMs: 0,
    });
    const text = fc.string({ unit: 'grapheme', maxLength: 12 }).map((t) => t.replace(/\n/g, ' '));
    await fc.assert(
      fc.asyncProperty(
        fc.array(text, { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: -1, max: 13 }),
        async (deltas, cuts, after) => {
          const id = `resp_${randomBytes(16).toString('hex')}`;
          const frames = [
            ...deltas.map((d, i) => frame('response.output_text.delta', i, `,"delta":${JSON.stringify(d)}`)),
            frame('response.completed', deltas.length),
          ];
          const bytes = Buffer.from(frames.join(''), 'utf8');
          const path = join(dir, `${id}.events`);
          let at = 0;
          let cut = 0;
          const out = sink();
          const outcome = await shared.follow(out.res, id, after, async () => {
            // Each time the follower finds nothing new, the file grows by the next piece (bytes, not characters).
            if (at < bytes.length) {
              const n = cuts[cut++ % cuts.length]!;
              await appendFile(path, bytes.subarray(at, at + n));
              at += n;
            }
            return 'in_progress';
          });
          expect(outcome).toEqual({ ended: 'done' });
          expect(out.text()).toBe(frames.slice(after + 1).join(''));
        },
      ),
      { numRuns: 25, seed: 20261207 },
    );
  });

  it('ends a cancelled run’s stream at its error event', async () => {
    const shared = new BackgroundFolder(await ResponseFolder.open(dir, { maxResponses: 10 }), () => {});
    const ending = frame('error', 1, ',"code":"response_cancelled"');
    await writeFile(join(dir, `${ID}.events`), frame('response.created', 0) + ending);
    const out = sink();
    expect(await shared.follow(out.res, ID, -1, async () => 'in_progress')).toEqual({ ended: 'done' });
    expect(out.text()).toBe(frame('response.created', 0) + ending);
  });

  it('reports a file cut short once the response has ended, and a missing one as no events', async () => {
    const shared = new BackgroundFolder(await ResponseFolder.open(dir, { maxResponses: 10 }), () => {}, {
      endingGraceMs: 0,
    });
    // Two whole frames and half of a third.
    const cut = frame('response.created', 0) + frame('response.in_progress', 1) + frame('x', 2).slice(0, 9);
    await writeFile(join(dir, `${ID}.events`), cut);
    const out = sink();
    expect(await shared.follow(out.res, ID, -1, async () => 'completed')).toEqual({ ended: 'cut', next: 2 });
    expect(out.text()).toBe(frame('response.created', 0) + frame('response.in_progress', 1));
    expect(out.ended()).toBe(false);
    // Gone: cut where it stands.
    expect(await shared.follow(sink().res, ID, -1, async () => undefined)).toEqual({ ended: 'cut', next: 2 });
    const other = `resp_${'b'.repeat(32)}`;
    let polls = 0;
    expect(
      await shared.follow(sink().res, other, -1, async () => (++polls < 3 ? 'queued' : 'completed')),
    ).toEqual({ ended: 'no-events' });
    expect(polls).toBe(3);
  });

  it('stops following when the client leaves', async () => {
    const shared = new BackgroundFolder(await ResponseFolder.open(dir, { maxResponses: 10 }), () => {});
    const out = sink();
    const following = shared.follow(out.res, ID, -1, async () => {
      out.leave();
      return 'in_progress';
    });
    expect(await following).toEqual({ ended: 'left' });
  });

  it('stops writing on a full disk, logs it once, and throws nothing at the run', async () => {
    const fs = faultyFs([{ on: 'bytes', limit: 100 }]);
    const lines: string[] = [];
    const shared = new BackgroundFolder(await ResponseFolder.open(dir, { maxResponses: 10, fs }), (line) =>
      lines.push(line),
    );
    const log = shared.eventLog(ID)!;
    for (let i = 0; i < 20; i++) log.append(frame('response.output_text.delta', i));
    await log.close();
    log.append(frame('late', 20));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${ID}.events`);
    expect(lines[0]).toContain('ENOSPC');
    expect((await readFile(join(dir, `${ID}.events`))).length).toBeLessThanOrEqual(100);
  });
});

describe('cancel requests', () => {
  it('are seen by the process running the response and cleared', async () => {
    const shared = new BackgroundFolder(await ResponseFolder.open(dir, { maxResponses: 10 }), () => {});
    expect(await shared.cancelRequested(ID)).toBe(false);
    await shared.requestCancel(ID);
    expect(await shared.cancelRequested(ID)).toBe(true);
    await shared.clearCancel(ID);
    expect(await shared.cancelRequested(ID)).toBe(false);
    // An id that names no file is never written.
    await shared.requestCancel('../escape');
    expect(await shared.cancelRequested('../escape')).toBe(false);
    expect(existsSync(join(dir, '..', 'escape.cancel'))).toBe(false);
  });
});

describe('the folder’s bounds', () => {
  it('count a run’s event file with its response; eviction and deletion remove it', async () => {
    const folder = await ResponseFolder.open(dir, { maxResponses: 10, maxBytes: 4000 });
    const shared = new BackgroundFolder(folder, () => {});
    const ids = ['1', '2', '3'].map((d) => `resp_${d.repeat(32)}`);
    const entry = { conversation: [], response: '{}' };
    await folder.write(ids[0]!, entry);
    const log = shared.eventLog(ids[0]!)!;
    log.append(`event: x\ndata: ${'y'.repeat(3000)}\n\n`);
    await shared.logged(ids[0]!, await log.close());
    await shared.requestCancel(ids[0]!);
    await folder.write(ids[1]!, entry);
    expect(existsSync(join(dir, `${ids[0]}.events`))).toBe(true);
    // The third response's file crosses the byte bound with the first's events: the first goes, whole.
    await folder.write(ids[2]!, { conversation: [], response: JSON.stringify('z'.repeat(900)) });
    for (const kind of ['json', 'events', 'cancel'])
      expect(existsSync(join(dir, `${ids[0]}.${kind}`)), kind).toBe(false);
    expect(await folder.has(ids[1]!)).toBe(true);
    // A process opening the folder counts the event files it finds.
    const log2 = shared.eventLog(ids[1]!)!;
    log2.append(`event: x\ndata: ${'y'.repeat(3500)}\n\n`);
    await log2.close();
    const reopened = await ResponseFolder.open(dir, { maxResponses: 10, maxBytes: 4000 });
    expect(await reopened.has(ids[1]!)).toBe(false);
    expect(existsSync(join(dir, `${ids[1]}.events`))).toBe(false);
    expect(await reopened.has(ids[2]!)).toBe(true);
    await reopened.delete(ids[2]!);
    expect(existsSync(join(dir, `${ids[2]}.json`))).toBe(false);
  });
});
