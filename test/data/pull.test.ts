import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeParquet, loadParquetWriter } from '../../src/data/parquet-write.js';
import {
  DATASET_FILES,
  DEFAULT_BASE_URL,
  filePath,
  fileUrl,
  PullError,
  pullDatasets,
  selectDatasetFiles,
} from '../../src/data/pull.js';
import { HAVE_DATA, shippedPath } from './helpers.js';

type Handler = (path: string, res: import('node:http').ServerResponse) => unknown;

const servers: Server[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(handler: Handler): Promise<{ base: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    void handler(path, res);
  });
  server.on('connection', (s) => sockets.add(s));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/repo`, requests };
}

/** Serves the released files at their repository paths, as github.com/…/raw/main does. */
function repoHandler(redirect = false): Handler {
  return async (path, res) => {
    if (redirect && !path.startsWith('/content/')) {
      res.writeHead(302, { location: `/content${path}` }).end();
      return;
    }
    const repoPath = path.replace(/^\/(content\/)?repo\//, '');
    const file = DATASET_FILES.find((f) => f.repoPath === repoPath);
    if (!file) {
      res.writeHead(404).end('not found');
      return;
    }
    try {
      const bytes = await readFile(shippedPath(file.name, file.split));
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes);
    } catch {
      res.writeHead(404).end('not found');
    }
  };
}

const tempDir = () => mkdtemp(join(tmpdir(), 'gtalign-pull-'));

async function leftovers(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) out.push(e.name);
  return out;
}

describe('data set manifest', () => {
  it('points at the reference repository and selects by name or name/split', () => {
    expect(DEFAULT_BASE_URL).toBe('https://github.com/ulab-uiuc/GTAlign/raw/main');
    const file = selectDatasetFiles(['minerva'])[0]!;
    expect(fileUrl(DEFAULT_BASE_URL, file)).toBe(
      'https://github.com/ulab-uiuc/GTAlign/raw/main/data/minerva_math/test.parquet',
    );
    expect(filePath('/c', file)).toBe('/c/minerva/test.parquet');
    expect(selectDatasetFiles(['math-hard']).map((f) => f.split)).toEqual(['test', 'train']);
    expect(selectDatasetFiles(['wildguard/train'])).toHaveLength(1);
    expect(() => selectDatasetFiles(['mathh'])).toThrow(/unknown data set 'mathh' \(known: math-hard\/test/);
  });
});

describe.skipIf(!HAVE_DATA)('pull from a loopback server', () => {
  it('downloads, checks and places the files; a second pull keeps them without a request', async () => {
    const { base, requests } = await serve(repoHandler(true));
    const dir = await tempDir();
    const files = selectDatasetFiles(['minerva', 'wildguard/test']);
    const results = await pullDatasets({ dir, baseUrl: base, files });
    expect(results.map((r) => [r.file.name, r.status, r.rows, r.warning])).toEqual([
      ['wildguard', 'downloaded', 300, undefined],
      ['minerva', 'downloaded', 272, undefined],
    ]);
    expect(await readFile(join(dir, 'minerva', 'test.parquet'))).toEqual(
      await readFile(shippedPath('minerva', 'test')),
    );
    expect((await leftovers(dir)).sort()).toEqual(['test.parquet', 'test.parquet']);
    const n = requests.length;
    const again = await pullDatasets({ dir, baseUrl: base, files });
    expect(again.map((r) => r.status)).toEqual(['present', 'present']);
    expect(requests.length).toBe(n);
    const forced = await pullDatasets({ dir, baseUrl: base, files: files.slice(0, 1), force: true });
    expect(forced[0]!.status).toBe('downloaded');
  });
});

describe('pull failures', () => {
  it('cuts off a download larger than any data set file, with or without a Content-Length', async () => {
    const dir = await tempDir();
    const files = selectDatasetFiles(['minerva']);
    const chunk = Buffer.alloc(64 * 1024, 1);
    // Chunked, no length given: 64 chunks (4 MiB) unless the client stops reading first.
    const { base: chunked } = await serve(async (_p, res) => {
      res.writeHead(200);
      for (let i = 0; i < 64 && !res.destroyed; i++)
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r).once('close', r));
      res.end();
    });
    await expect(pullDatasets({ dir, baseUrl: chunked, files, maxBytes: 1024 * 1024 })).rejects.toThrow(
      'the file is larger than 1 MiB, more than any data set file',
    );
    const { base: sized } = await serve((_p, res) => res.writeHead(200).end(Buffer.alloc(2 * 1024 * 1024)));
    await expect(pullDatasets({ dir, baseUrl: sized, files, maxBytes: 1024 * 1024 })).rejects.toThrow(
      'the file is larger than 1 MiB',
    );
    expect(await leftovers(dir)).toEqual([]);
  });
  it('fails fast when nothing listens, listing every URL to fetch by hand', async () => {
    const { base } = await serve(() => undefined);
    await new Promise((r) => servers.pop()!.close(r));
    const dir = await tempDir();
    const files = selectDatasetFiles(['medium', 'minerva']);
    const err = await pullDatasets({ dir, baseUrl: base, files }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PullError);
    const e = err as PullError;
    // Refused at once, not timed out after the 5 s connect timeout: the message says which.
    expect(e.message).toContain(`cannot download ${base}/${files[0]!.repoPath}: ECONNREFUSED`);
    expect(e.manual).toEqual(files.map((f) => ({ url: fileUrl(base, f), path: filePath(dir, f) })));
    for (const m of e.manual) expect(e.message).toContain(`${m.url}\n    -> ${m.path}`);
    expect(await leftovers(dir)).toEqual([]);
  });

  it('gives up after the connect timeout when the server never answers', async () => {
    const { base } = await serve(() => undefined); // accepts, never responds
    const dir = await tempDir();
    const err = await pullDatasets({
      dir,
      baseUrl: base,
      files: selectDatasetFiles(['minerva']),
      connectTimeoutMs: 300,
    }).catch((e: unknown) => e);
    // The message proves the 300 ms timeout fired (not the 5 s default, nor a hang: the test's timeout).
    expect((err as Error).message).toContain('no response within 300 ms');
  });

  it('reports an HTTP error status and writes nothing', async () => {
    const { base } = await serve((_p, res) => res.writeHead(404, 'Not Found').end('nope'));
    const dir = await tempDir();
    const err = await pullDatasets({ dir, baseUrl: base, files: selectDatasetFiles(['minerva']) }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toContain('HTTP 404 Not Found');
    expect(await leftovers(dir)).toEqual([]);
  });

  it('rejects a Git LFS pointer or an HTML page instead of parquet', async () => {
    const pointer = 'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n';
    const { base: lfs } = await serve((_p, res) => res.writeHead(200).end(pointer));
    const dir = await tempDir();
    const files = selectDatasetFiles(['minerva']);
    await expect(pullDatasets({ dir, baseUrl: lfs, files })).rejects.toThrow('Git LFS pointer');
    const { base: html } = await serve((_p, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>'),
    );
    await expect(pullDatasets({ dir, baseUrl: html, files })).rejects.toThrow(
      'not a parquet file (13 bytes, text/html)',
    );
    expect(await leftovers(dir)).toEqual([]);
  });
});

const writer = await loadParquetWriter();

/** A small data set file in the verl layout; `broken` puts a row that is not a verl record at row 1. */
async function verlParquet(broken?: Record<string, unknown>): Promise<Buffer> {
  const row = (i: number) => ({
    prompt: [{ role: 'user', content: `question ${i}` }],
    data_source: 'minerva',
    reward_model: { ground_truth: String(i), style: 'rule' },
    extra_info: { index: i, split: 'test' },
  });
  const records = [row(0), { ...row(1), ...broken }, row(2)];
  return Buffer.from((await encodeParquet(records)).bytes);
}

describe.skipIf(!writer)('pull checks the rows it downloads', () => {
  it('rejects a parquet file whose rows are not data set rows, naming the row and field, and keeps the good copy', async () => {
    const dir = await tempDir();
    const files = selectDatasetFiles(['minerva']);
    const good = await verlParquet();
    await mkdir(join(dir, 'minerva'), { recursive: true });
    await writeFile(filePath(dir, files[0]!), good);
    // A parquet file, but row 1 has no ground truth: another file than the data set.
    const foreign = await verlParquet({ reward_model: { style: 'rule' } });
    const { base } = await serve((_p, res) => res.writeHead(200).end(foreign));
    const err = await pullDatasets({ dir, baseUrl: base, files, force: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PullError);
    expect((err as Error).message).toContain(
      `cannot download ${fileUrl(base, files[0]!)}: not a data set in the verl layout: minerva/test: row 1: field reward_model.ground_truth`,
    );
    expect(await readFile(filePath(dir, files[0]!))).toEqual(good);
    expect(await leftovers(dir)).toEqual(['test.parquet']);
  });

  it('a file it cannot place names the file and says why in words, as the other commands do', async () => {
    const dir = await tempDir();
    const files = selectDatasetFiles(['minerva']);
    // Where the data set's folder goes, a file: the file cannot be placed.
    await writeFile(join(dir, 'minerva'), 'in the way');
    const good = await verlParquet();
    const { base } = await serve((_p, res) => res.writeHead(200).end(good));
    const err = await pullDatasets({ dir, baseUrl: base, files }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      `cannot write ${filePath(dir, files[0]!)}: something that is not a directory is already there (EEXIST)`,
    );
  });

  it('downloads again a cached copy that is not a data set file, and says what was wrong with it', async () => {
    const dir = await tempDir();
    const files = selectDatasetFiles(['minerva']);
    await mkdir(join(dir, 'minerva'), { recursive: true });
    await writeFile(
      filePath(dir, files[0]!),
      await verlParquet({ prompt: [{ role: 'narrator', content: 'x' }] }),
    );
    const good = await verlParquet();
    const { base, requests } = await serve((_p, res) => res.writeHead(200).end(good));
    const [result] = await pullDatasets({ dir, baseUrl: base, files });
    expect(requests).toHaveLength(1);
    expect(result).toMatchObject({ status: 'downloaded', rows: 3 });
    expect(result!.replaced).toMatch(/row 1: field prompt.0.role/);
    expect(await readFile(filePath(dir, files[0]!))).toEqual(good);
  });
});
