import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigMismatchError,
  compareConfigs,
  openRunStore,
  type RunConfig,
  RunStoreError,
  RunStoreIoError,
} from '../../src/eval/store.js';
import type { RunRecord } from '../../src/eval/types.js';
import { faultyFs, systemError } from '../support/faulty-fs.js';
import { rec } from './helpers.js';

function config(overrides: Partial<RunConfig> = {}): RunConfig {
  return {
    schema: 'gtalign.run/1',
    name: 'test',
    command: 'eval run',
    gtalign: '0.0.0',
    createdAt: '2025-01-01T00:00:00.000Z',
    data: { files: ['/data/a.parquet'], dataSources: [], limit: 5 },
    mode: 'assistant',
    backend: { kind: 'openai', model: 'm', baseUrl: 'http://127.0.0.1:1/v1', vendor: 'vllm' },
    generation: { policy: { kind: 'none' }, rule: 'sum', maxTokens: 1024 },
    judge: { kind: 'live', url: 'http://127.0.0.1:2/v1', model: 'j' },
    reward: { configId: 'rc1-x', config: {}, mathCheck: true },
    tokenizer: { name: 'approx', exact: false, description: 'approx' },
    runtime: { concurrency: 4 },
    ...overrides,
  };
}

function record(id: string): RunRecord {
  return {
    id,
    data_source: 'math-hard',
    ground_truth: '1',
    response: `<response>${id}</response>`,
    reward: { error: { stage: 'judge', message: 'not judged' } },
  };
}

async function lines(dir: string): Promise<unknown[]> {
  const text = await readFile(join(dir, 'results.jsonl'), 'utf8');
  expect(text === '' || text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the run store', () => {
  it('saves the config, appends one line per record, and frees the folder on close', async () => {
    const store = await openRunStore(dir, config(), { resume: false });
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))).toEqual(config());
    await store.append(record('a'));
    // Acknowledged means on disk: readable before the store is closed.
    expect(await lines(dir)).toEqual([record('a')]);
    await store.append(record('b'));
    await store.close();
    expect(await lines(dir)).toEqual([record('a'), record('b')]);
    await expect(readFile(join(dir, '.lock'))).rejects.toThrow();
  });

  it('commits records that finish together without losing or splitting any', async () => {
    const store = await openRunStore(dir, config(), { resume: false });
    const ids = Array.from({ length: 200 }, (_, i) => `r${i}`);
    await Promise.all(ids.map((id) => store.append(record(id))));
    await store.close();
    const written = (await lines(dir)) as RunRecord[];
    expect(written.map((r) => r.id).sort()).toEqual([...ids].sort());
  });

  it('rejects a second record for the same row', async () => {
    const store = await openRunStore(dir, config(), { resume: false });
    await store.append(record('a'));
    await expect(store.append(record('a'))).rejects.toThrow(/already has a record/);
    await store.close();
    expect(await lines(dir)).toHaveLength(1);
  });

  it("supersedes a conversation's record with a marked line that a resume reads as the id's record", async () => {
    const summary = (U: number | null) => ({
      persona: 'cooperative',
      per_turn: [{ turn: 1, U, L: U, W: U }],
    });
    const failed = { ...record('a~cooperative'), conversation: summary(null) } as RunRecord;
    // Its summary counts turn 1 scored now (the store keeps the record as given).
    const superseding = { ...failed, conversation: summary(0.5) } as RunRecord;
    const first = await openRunStore(dir, config(), { resume: false });
    await first.append(failed);
    await first.append({ ...record('b~cooperative'), conversation: summary(0.2) } as RunRecord);
    await first.close();

    const store = await openRunStore(dir, config(), { resume: true });
    await store.supersede(superseding);
    // Replaced in its place, and the file keeps both lines (append-only).
    expect(store.records.map((r) => (r as unknown as { conversation: unknown }).conversation)).toEqual([
      summary(0.5),
      summary(0.2),
    ]);
    await store.close();
    const written = (await lines(dir)) as RunRecord[];
    expect(written.map((r) => r.id)).toEqual(['a~cooperative', 'b~cooperative', 'a~cooperative']);
    expect(written[2]).toEqual({ ...superseding, supersedes: true });

    const again = await openRunStore(dir, config(), { resume: true });
    expect(again.records).toEqual([{ ...superseding, supersedes: true }, written[1]]);
    // Only a record on disk can be superseded, and only by a record of its kind (run-dir.ts's rule).
    await expect(again.supersede({ ...superseding, id: 'c~cooperative' })).rejects.toThrow(
      /c~cooperative has no record .* to supersede/,
    );
    await expect(again.supersede({ ...record('a~cooperative') })).rejects.toThrow(
      /cannot supersede the record of a~cooperative: .*a single-turn record follows a conversation's record/,
    );
    await again.close();
    expect(((await lines(dir)) as RunRecord[]).map((r) => r.id)).toEqual([
      'a~cooperative',
      'b~cooperative',
      'a~cooperative',
    ]);
  });

  it('supersedes a single-turn record with its output scored again; another output is refused', async () => {
    const first = await openRunStore(dir, config(), { resume: false });
    await first.append(record('a'));
    await first.append(record('b'));
    await first.close();
    const scored: RunRecord = { ...record('a'), reward: rec('a', 'math-hard', { u: 0.5, l: 0.5 }).reward };

    const store = await openRunStore(dir, config(), { resume: true });
    await expect(store.supersede({ ...record('a'), response: 'another output' })).rejects.toThrow(
      /cannot supersede the record of a: .*the same output scored again/,
    );
    await store.supersede(scored);
    expect(store.records).toEqual([{ ...scored, supersedes: true }, record('b')]);
    await store.close();
    const written = (await lines(dir)) as RunRecord[];
    expect(written.map((r) => [r.id, r.supersedes])).toEqual([
      ['a', undefined],
      ['b', undefined],
      ['a', true],
    ]);
    const again = await openRunStore(dir, config(), { resume: true });
    expect(again.records).toEqual([{ ...scored, supersedes: true }, record('b')]);
    expect([...again.done]).toEqual(['a', 'b']);
    await again.close();
  });

  it('refuses to start a new run over an existing one and points to --resume', async () => {
    const first = await openRunStore(dir, config(), { resume: false });
    await first.append(record('a'));
    await first.close();
    await expect(openRunStore(dir, config(), { resume: false })).rejects.toThrow(/--resume/);
  });

  it('resumes: drops a cut-off last line, skips the rows with a record, keeps the saved config', async () => {
    const first = await openRunStore(dir, config(), { resume: false });
    await first.append(record('a'));
    await first.append(record('b'));
    await first.close();
    // A write interrupted by a crash: part of a line, no newline.
    const torn = JSON.stringify(record('c')).slice(0, 40);
    await appendFile(join(dir, 'results.jsonl'), torn);
    const store = await openRunStore(dir, config({ createdAt: 'later', runtime: { concurrency: 64 } }), {
      resume: true,
    });
    expect(store.resumed).toBe(true);
    expect(store.truncatedBytes).toBe(Buffer.byteLength(torn));
    expect([...store.done].sort()).toEqual(['a', 'b']);
    expect(store.config.createdAt).toBe(config().createdAt);
    await store.append(record('c'));
    await store.close();
    expect(((await lines(dir)) as RunRecord[]).map((r) => r.id)).toEqual(['a', 'b', 'c']);
  });

  it('resuming a folder without a run starts one', async () => {
    const store = await openRunStore(join(dir, 'new'), config(), { resume: true });
    expect(store.resumed).toBe(false);
    expect(store.done.size).toBe(0);
    await store.close();
    expect(JSON.parse(await readFile(join(dir, 'new', 'config.json'), 'utf8')).name).toBe('test');
  });

  it('refuses to resume with settings that change results, naming the field', async () => {
    await (await openRunStore(dir, config(), { resume: false })).close();
    const other = config({
      generation: { policy: { kind: 'pricing', name: 'api' }, rule: 'sum', maxTokens: 1024 },
    });
    const err = await openRunStore(dir, other, { resume: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigMismatchError);
    expect((err as ConfigMismatchError).differences.map((d) => d.field)).toEqual([
      'generation.policy.kind',
      'generation.policy.name',
    ]);
    expect((err as Error).message).toContain('generation.policy');
    // The lock of the failed attempt is released.
    await (await openRunStore(dir, config(), { resume: true })).close();
  });

  it('refuses to resume a run another gtalign version started, naming config.json', async () => {
    await (await openRunStore(dir, config(), { resume: false })).close();
    const path = join(dir, 'config.json');
    const saved = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...saved, schema: 'gtalign.run/2' }));
    const err = await openRunStore(dir, config(), { resume: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStoreError);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toMatch(/"schema" is "gtalign\.run\/2".*another gtalign version/);
    expect(await lines(dir)).toEqual([]);
  });

  it('ignores settings that do not change results when comparing', () => {
    const moved = config({
      name: 'renamed',
      gtalign: '9.9.9',
      backend: { kind: 'openai', model: 'm', baseUrl: 'http://elsewhere:8000/v1', vendor: 'vllm' },
      judge: { kind: 'live', url: 'http://judge.elsewhere/v1', model: 'j' },
      runtime: { concurrency: 1 },
    });
    expect(compareConfigs(config(), moved)).toEqual([]);
    expect(
      compareConfigs(config(), config({ data: { files: ['/data/a.parquet'], dataSources: [], limit: 6 } })),
    ).toEqual([{ field: 'data.limit', saved: 5, now: 6 }]);
    expect(compareConfigs(config(), config({ judge: { kind: 'offline' } })).map((d) => d.field)).toEqual([
      'judge.kind',
      'judge.model',
    ]);
  });

  it('names a nested setting that differs down to its value, so a refused resume says which one', () => {
    const saved = config({
      generation: {
        policy: { kind: 'none' },
        rule: 'sum',
        maxTokens: 1024,
        conversation: { seed: 1, maxTurns: 4, personas: [{ name: 'p', followUp: 0.5 }] },
      },
    });
    const now = config({
      generation: {
        policy: { kind: 'none' },
        rule: 'sum',
        maxTokens: 1024,
        conversation: { seed: 7, maxTurns: 4, personas: [{ name: 'p', followUp: 0.9 }] },
      },
    });
    expect(compareConfigs(saved, now)).toEqual([
      { field: 'generation.conversation.personas[0].followUp', saved: 0.5, now: 0.9 },
      { field: 'generation.conversation.seed', saved: 1, now: 7 },
    ]);
    const message = new ConfigMismatchError('RUN', compareConfigs(saved, now)).message;
    expect(message).toContain('generation.conversation.seed: saved 1, now 7');
    expect(message).not.toContain('simulated user');
    // The simulator's fingerprint is no option: the message says what would match it.
    const upgraded = new ConfigMismatchError('RUN', [
      { field: 'generation.conversation.simulator', saved: 'sha256:aaaa', now: 'sha256:bbbb' },
    ]).message;
    expect(upgraded).toContain(
      "the simulated user's own code differs from the one that started this run (another gtalign version)",
    );
    // Lists of another length are shown whole.
    const longer = config({
      generation: {
        policy: { kind: 'none' },
        rule: 'sum',
        maxTokens: 1024,
        conversation: { seed: 1, maxTurns: 4, personas: [{ name: 'p' }, { name: 'q' }] },
      },
    });
    expect(compareConfigs(saved, longer).map((d) => d.field)).toEqual(['generation.conversation.personas']);
  });

  it('reports a damaged line inside results.jsonl with its line number instead of resuming', async () => {
    const first = await openRunStore(dir, config(), { resume: false });
    await first.append(record('a'));
    await first.close();
    await appendFile(join(dir, 'results.jsonl'), '{"id": "b", oops\n');
    await appendFile(join(dir, 'results.jsonl'), `${JSON.stringify(record('c'))}\n`);
    const err = await openRunStore(dir, config(), { resume: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStoreError);
    expect((err as Error).message).toMatch(/results\.jsonl:2: not valid JSON/);
  });

  it('refuses a folder another live process is writing, and takes over the lock of a dead one', async () => {
    await (await openRunStore(dir, config(), { resume: false })).close();
    await writeFile(join(dir, '.lock'), `${process.ppid}\n`);
    await expect(openRunStore(dir, config(), { resume: true })).rejects.toThrow(
      `in use by process ${process.ppid}`,
    );
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await writeFile(join(dir, '.lock'), `${dead}\n`);
    const store = await openRunStore(dir, config(), { resume: true });
    expect(await readFile(join(dir, '.lock'), 'utf8')).toBe(`${process.pid}\n`);
    await store.close();
  });

  it('lets only one of two stores opened at once in this process write the folder', async () => {
    const opened = await Promise.allSettled([
      openRunStore(dir, config(), { resume: true }),
      openRunStore(dir, config(), { resume: true }),
    ]);
    const ok = opened.filter((o) => o.status === 'fulfilled');
    expect(ok).toHaveLength(1);
    const refused = opened.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(RunStoreError);
    expect((refused.reason as Error).message).toMatch(/already open in this process|in use/);
    const store = (ok[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof openRunStore>>>).value;
    // The lock holds the pid from the moment it exists, and no temporary lock file is left behind.
    expect(await readFile(join(dir, '.lock'), 'utf8')).toBe(`${process.pid}\n`);
    expect((await readdir(dir)).filter((f) => f.startsWith('.lock'))).toEqual(['.lock']);
    await store.close();
    // Closed: the folder can be opened again.
    await (await openRunStore(dir, config(), { resume: true })).close();
  });

  it('acknowledges no row of a failed append, cuts the file back to its last line, and refuses later appends', async () => {
    // Writes 0 and 1 are the lock and config.json; 2 is row a; 3 is cut short and 4 finds the disk full.
    const fs = faultyFs([
      { on: 'write', index: 3, kind: 'short' },
      { on: 'write', index: 4, kind: 'ENOSPC' },
    ]);
    const store = await openRunStore(dir, config(), { resume: false, fs });
    await store.append(record('a'));
    const err = await store.append(record('b')).catch((e: unknown) => e);
    expect(fs.fired).toHaveLength(2);
    expect(err).toBeInstanceOf(RunStoreIoError);
    expect((err as RunStoreIoError).systemCode).toBe('ENOSPC');
    expect((err as RunStoreIoError).code).toBe('io');
    expect((err as Error).message).toContain(`cannot write ${join(dir, 'results.jsonl')}: no space left`);
    expect((err as Error).message).toMatch(/1 finished row\(s\) were not saved.*run again with --resume/);
    expect(store.records.map((r) => r.id)).toEqual(['a']);
    expect([...store.done]).toEqual(['a']);
    expect(await readFile(join(dir, 'results.jsonl'), 'utf8')).toBe(`${JSON.stringify(record('a'))}\n`);
    // The disk has room again, but this store writes nothing more: its file's end was in doubt.
    await expect(store.append(record('c'))).rejects.toBe(err);
    await store.close();
    expect(await readFile(join(dir, 'results.jsonl'), 'utf8')).toBe(`${JSON.stringify(record('a'))}\n`);
    expect((await readdir(dir)).filter((f) => f.startsWith('.lock'))).toEqual([]);
    const resumed = await openRunStore(dir, config(), { resume: true });
    expect([...resumed.done]).toEqual(['a']);
    expect(resumed.truncatedBytes).toBe(0);
    await resumed.close();
  });

  it('names the file and leaves no lock or temporary file when the disk is full from the start', async () => {
    for (const limit of [0, 1, 5, 40]) {
      const sub = join(dir, `full-${limit}`);
      const err = await openRunStore(sub, config(), {
        resume: false,
        fs: faultyFs([{ on: 'bytes', limit }]),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunStoreIoError);
      expect((err as Error).message).toMatch(/^cannot (create the lock file|write) \//);
      expect((err as Error).message).toContain(
        'no space left on the device (ENOSPC); free space, then run again with --resume',
      );
      expect(await readdir(sub)).toEqual([]);
    }
  });

  it('removes a lock it could not write whole where the file system has no hard links', async () => {
    // Write 0 is the private file (its link is refused), write 1 the lock itself, on a full disk.
    const faulty = faultyFs([{ on: 'write', index: 1, kind: 'ENOSPC' }]);
    const fs = { ...faulty, link: () => Promise.reject(systemError('EPERM', 'link', dir)) };
    const err = await openRunStore(dir, config(), { resume: false, fs }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStoreIoError);
    expect((err as Error).message).toContain(`cannot create the lock file ${join(dir, '.lock')}`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('releases the lock when closing results.jsonl fails, and says so', async () => {
    // Closes 0 to 2 are the lock's private file, config.json and the folder (synced); 3 is results.jsonl.
    const fs = faultyFs([{ on: 'close', index: 3, kind: 'EIO' }]);
    const store = await openRunStore(dir, config(), { resume: false, fs });
    await store.append(record('a'));
    const err = await store.close().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStoreIoError);
    expect((err as Error).message).toContain(
      `cannot close ${join(dir, 'results.jsonl')}: input/output error`,
    );
    expect((await readdir(dir)).filter((f) => f.startsWith('.lock'))).toEqual([]);
    await (await openRunStore(dir, config(), { resume: true })).close();
  });

  it.skipIf(!existsSync('/proc/self/fd'))(
    'logs rows that fail together to errors.jsonl through one file handle, closed with the store',
    async () => {
      const fds = async () => (await readdir('/proc/self/fd')).length;
      const before = await fds();
      const store = await openRunStore(dir, config(), { resume: false });
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.logError({ id: `r${i}`, stage: 'generate', message: 'connection refused' }),
        ),
      );
      await store.close();
      expect(await fds()).toBe(before);
      const logged = (await readFile(join(dir, 'errors.jsonl'), 'utf8')).trim().split('\n');
      expect(logged.map((l) => (JSON.parse(l) as { id: string }).id).sort()).toEqual(
        Array.from({ length: 20 }, (_, i) => `r${i}`).sort(),
      );
      await expect(store.logError({ id: 'late', stage: 'generate', message: 'x' })).rejects.toThrow(/closed/);
    },
  );
});
