/**
 * Stored responses in a folder (`gtalign serve --stored-responses-dir`): they outlive the process, stay
 * within their bounds, are shared by processes using the folder, and neither a damaged file nor a full
 * disk costs an answer or leaves half a file.
 */
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationTurn } from '../../src/chain/prompt.js';
import { openAtomic } from '../../src/io/atomic-file.js';
import { ResponseFolder } from '../../src/server/response-folder.js';
import { ResponseKeeper } from '../../src/server/response-keeper.js';
import { ResponseStore } from '../../src/server/response-store.js';
import { faultyFs } from '../support/faulty-fs.js';

const idOf = (n: number): string => `resp_${n.toString(16).padStart(32, '0')}`;
const turns = (text: string): ConversationTurn[] => [
  { role: 'user', content: `question ${text}` },
  { role: 'assistant', content: `answer ${text}` },
];

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-responses-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const files = async (): Promise<string[]> => (await readdir(dir)).sort();

describe('ResponseFolder', () => {
  it('reads back what an earlier opening wrote, and keeps at most maxResponses files, the oldest going first', async () => {
    const first = await ResponseFolder.open(dir, { maxResponses: 3 });
    for (let i = 1; i <= 3; i++)
      await first.write(idOf(i), { conversation: turns(`${i}`), response: `{"n":${i}}` });
    // A new process: it finds the three files.
    const second = await ResponseFolder.open(dir, { maxResponses: 3 });
    expect(second.size).toBe(3);
    expect(await second.read(idOf(2))).toEqual({ conversation: turns('2'), response: '{"n":2}' });
    await second.write(idOf(4), { conversation: turns('4'), response: undefined });
    expect(await files()).toEqual([2, 3, 4].map((i) => `${idOf(i)}.json`));
    expect(await second.read(idOf(1))).toBeUndefined();
    expect(await second.read(idOf(4))).toEqual({ conversation: turns('4'), response: undefined });
    // A smaller bound at the next start evicts the oldest at once.
    await ResponseFolder.open(dir, { maxResponses: 1 });
    expect(await files()).toEqual([`${idOf(4)}.json`]);
  });

  it('removes at start the temporary file of a write a crash cut short, not one still being written', async () => {
    // Two writes left open, as a process killed mid-write leaves them (the other still running).
    const crashed = await openAtomic(join(dir, `${idOf(1)}.json`));
    await crashed.write('{"v":1,');
    const running = await openAtomic(join(dir, `${idOf(2)}.json`));
    await running.write('{"v":1,');
    const temps = await files();
    const crashedTemp = temps.find((f) => f.includes(idOf(1)))!;
    const runningTemp = temps.find((f) => f.includes(idOf(2)))!;
    expect(temps).toHaveLength(2);
    // A day old: older than any write takes.
    const old = Date.now() / 1000 - 24 * 3600;
    await utimes(join(dir, crashedTemp), old, old);
    await writeFile(join(dir, 'notes.tmp'), "not gtalign's");
    await utimes(join(dir, 'notes.tmp'), old, old);
    await ResponseFolder.open(dir, { maxResponses: 10 });
    expect(await files()).toEqual(['notes.tmp', runningTemp].sort());
    await running.abort();
  });

  it('keeps its files within maxBytes, and never writes one larger than that', async () => {
    const folder = await ResponseFolder.open(dir, { maxResponses: 100, maxBytes: 400 });
    await folder.write(idOf(1), { conversation: turns('x'.repeat(100)), response: undefined });
    await folder.write(idOf(2), { conversation: turns('y'.repeat(100)), response: undefined });
    await folder.write(idOf(3), { conversation: turns('z'.repeat(100)), response: undefined });
    expect((await files()).length).toBe(1); // each file is ~300 bytes
    await folder.write(idOf(4), { conversation: turns('w'.repeat(1000)), response: undefined });
    expect(await folder.read(idOf(4))).toBeUndefined();
    expect(await files()).toEqual([`${idOf(3)}.json`]);
  });

  it('maps only its own id form to a file name', async () => {
    const folder = await ResponseFolder.open(join(dir, 'inner'), { maxResponses: 10 });
    await writeFile(join(dir, 'secret.json'), JSON.stringify({ v: 1 }));
    for (const id of ['../secret', 'resp_../../secret', `${idOf(1)}/x`, 'RESP_0', '']) {
      expect(await folder.read(id)).toBeUndefined();
      expect(await folder.delete(id)).toBe(false);
      await folder.write(id, { conversation: turns('a'), response: undefined });
    }
    expect(await readdir(join(dir, 'inner'))).toEqual([]);
  });

  it('reads a damaged or foreign file as missing and says which file in the log', async () => {
    const lines: string[] = [];
    const folder = await ResponseFolder.open(dir, { maxResponses: 10, log: (l) => lines.push(l) });
    const bad: Record<number, string> = {
      1: '{"v":1,"id":"resp_', // cut short by hand
      2: JSON.stringify({ v: 1, id: idOf(99), conversation: [], response: null }),
      3: JSON.stringify({
        v: 1,
        id: idOf(3),
        conversation: [{ role: 'system', content: 'x' }],
        response: null,
      }),
      4: JSON.stringify({ v: 1, id: idOf(4), conversation: [], response: { not: 'a string' } }),
      5: JSON.stringify({ v: 1, id: idOf(5), conversation: [], response: 'edited by hand' }),
      6: JSON.stringify({ v: 1, id: idOf(6), conversation: [], response: 'null', status: 'queued' }),
    };
    for (const [n, text] of Object.entries(bad)) await writeFile(join(dir, `${idOf(Number(n))}.json`), text);
    for (const n of [1, 2, 3, 4, 5, 6]) expect(await folder.read(idOf(n))).toBeUndefined();
    expect(lines).toHaveLength(6);
    expect(lines[0]).toContain(`${idOf(1)}.json is not a stored response (not JSON`);
    expect(lines[1]).toMatch(/holds the id/);
    expect(lines[2]).toMatch(/conversation\[0\] has no role user or assistant/);
    expect(lines[3]).toMatch(/response is not a JSON string/);
    expect(lines[4]).toMatch(/response is not a JSON object/);
    expect(lines[5]).toMatch(/response is not a JSON object/);
  });
});

describe('ResponseKeeper over a folder', () => {
  it('on a full disk, keeps the response in memory, logs why, and leaves no file behind', async () => {
    const lines: string[] = [];
    const fs = faultyFs([{ on: 'bytes', limit: 50 }]);
    const folder = await ResponseFolder.open(dir, { maxResponses: 10, fs });
    const keeper = new ResponseKeeper(new ResponseStore(10), folder, (l) => lines.push(l));
    await keeper.put(idOf(1), turns('1'), '{"id":1}');
    expect(lines).toEqual([
      expect.stringContaining(`${idOf(1)} could not be written to ${dir} (kept in memory only): ENOSPC`),
    ]);
    expect(await files()).toEqual([]);
    expect(await keeper.response(idOf(1))).toBe('{"id":1}');
  });

  it('shares responses between processes: one writes, another continues, a deletion reaches both', async () => {
    const a = new ResponseKeeper(
      new ResponseStore(10),
      await ResponseFolder.open(dir, { maxResponses: 10 }),
      () => {},
    );
    const b = new ResponseKeeper(
      new ResponseStore(10),
      await ResponseFolder.open(dir, { maxResponses: 10 }),
      () => {},
    );
    await a.put(idOf(1), turns('1'), '{"id":1}');
    expect(await b.conversation(idOf(1))).toEqual(turns('1'));
    expect(await b.response(idOf(1))).toBe('{"id":1}');
    expect(JSON.parse(await readFile(join(dir, `${idOf(1)}.json`), 'utf8'))).toMatchObject({
      v: 1,
      id: idOf(1),
    });
    // b deletes it; a still had it in memory, and forgets it because its file is gone.
    expect(await b.delete(idOf(1))).toBe(true);
    expect(await a.response(idOf(1))).toBeUndefined();
    expect(await a.conversation(idOf(1))).toBeUndefined();
    expect(await a.delete(idOf(1))).toBe(false);
  });

  it('a background response that cannot be continued is answered by every process, never remembered', async () => {
    const open = async () =>
      new ResponseKeeper(
        new ResponseStore(10),
        await ResponseFolder.open(dir, { maxResponses: 10 }),
        () => {},
        60_000,
      );
    const a = await open();
    const b = await open();
    const now = Math.floor(Date.now() / 1000);
    await a.putBlocked(idOf(1), JSON.stringify({ id: idOf(1), status: 'queued', created_at: now }), 'queued');
    expect(await b.blocked(idOf(1))).toBe('queued');
    expect(JSON.parse((await b.response(idOf(1)))!)).toMatchObject({ status: 'queued' });
    // Nothing to continue, and nothing remembered: the answer, written later, replaces it for b too.
    expect(await b.conversation(idOf(1))).toBeUndefined();
    await a.put(idOf(1), turns('1'), JSON.stringify({ id: idOf(1), status: 'completed' }));
    expect(await b.blocked(idOf(1))).toBeUndefined();
    expect(await b.conversation(idOf(1))).toEqual(turns('1'));
    expect(JSON.parse((await b.response(idOf(1)))!)).toMatchObject({ status: 'completed' });
  });

  it('a queued record older than any run can last is answered as failed (its process ended mid-run)', async () => {
    const keeper = new ResponseKeeper(
      new ResponseStore(10),
      await ResponseFolder.open(dir, { maxResponses: 10 }),
      () => {},
      60_000,
    );
    const old = Math.floor(Date.now() / 1000) - 61;
    await keeper.putBlocked(
      idOf(2),
      JSON.stringify({ id: idOf(2), status: 'queued', created_at: old }),
      'queued',
    );
    expect(await keeper.blocked(idOf(2))).toBe('failed');
    expect(JSON.parse((await keeper.response(idOf(2)))!)).toMatchObject({
      status: 'failed',
      error: { message: 'the process running this background response ended before it finished' },
    });
    // Its process took it up before it ended: the same.
    await keeper.putBlocked(
      idOf(4),
      JSON.stringify({ id: idOf(4), status: 'in_progress', created_at: old }),
      'in_progress',
    );
    expect(await keeper.blocked(idOf(4))).toBe('failed');
    const recent = Math.floor(Date.now() / 1000);
    await keeper.putBlocked(
      idOf(3),
      JSON.stringify({ id: idOf(3), status: 'queued', created_at: recent }),
      'queued',
    );
    expect(await keeper.blocked(idOf(3))).toBe('queued');
  });
});
