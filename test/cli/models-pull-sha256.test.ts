/**
 * `gtalign models pull` computes the SHA-256 of what it saves and prints it; with --sha256 it keeps only
 * a file with that digest, and checks a file already there against it.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../support/cli-in-process.js';
import { ggufFile } from '../support/gguf-file.js';
import { closeRawHttpServers, startRawHttpServer } from '../support/raw-http-server.js';

const modelOf = (fill: number): Buffer => ggufFile(fill, 1000);
const MODEL = modelOf(3);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const DIGEST = sha256(MODEL);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-pull-sha-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(closeRawHttpServers);

/** Serves `body` whole with its length, counting requests. */
const serving = (body: Buffer) =>
  startRawHttpServer(
    (socket) =>
      socket.write(
        Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`), body]),
      ),
    '/m.gguf',
  );

/** `gtalign models pull` of `url` into `target`, with `flags`. */
const pull = (url: string, target: string, ...flags: string[]) =>
  runCliInProcess(['models', 'pull', '--url', url, '--dir', target, ...flags]);

describe('gtalign models pull and SHA-256', () => {
  it('prints the SHA-256 of the file it saved', async () => {
    const server = await serving(MODEL);
    const r = await pull(server.url, join(dir, 'plain'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`; SHA-256 ${DIGEST})`);
    expect(r.stdout).not.toContain('as asked');
  });

  it('keeps the file when it has the digest asked for (either case)', async () => {
    const server = await serving(MODEL);
    const target = join(dir, 'right');
    const r = await pull(server.url, target, '--sha256', DIGEST.toUpperCase());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`SHA-256 ${DIGEST}, as asked`);
    expect(await readFile(join(target, 'm.gguf'))).toEqual(MODEL);
  });

  it('keeps nothing of a file with another digest, naming both', async () => {
    const other = modelOf(4);
    const server = await serving(other);
    const target = join(dir, 'wrong');
    const r = await pull(server.url, target, '--sha256', DIGEST);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`has the SHA-256 ${sha256(other)}, not the ${DIGEST} asked for`);
    expect(r.stderr).toContain('nothing was kept');
    // No model, no partial download, no lock.
    expect(await readdir(target)).toEqual([]);
  });

  it('checks a file already there: the right one stays, another is downloaded again', async () => {
    const server = await serving(MODEL);
    const target = join(dir, 'there');
    await mkdir(target, { recursive: true });
    await writeFile(join(target, 'm.gguf'), modelOf(5));
    const replaced = await pull(server.url, target, '--sha256', DIGEST);
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(replaced.stdout).toContain(
      `replacing the file that was there (its SHA-256 is ${sha256(modelOf(5))}, not the one asked for)`,
    );
    expect(await readFile(join(target, 'm.gguf'))).toEqual(MODEL);
    const again = await pull(server.url, target, '--sha256', DIGEST);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`is already there (0.0 MB; SHA-256 ${DIGEST}, as asked)`);
    expect(server.connections).toBe(1);
  });

  it('refuses a digest that is not 64 hexadecimal digits', async () => {
    const r = await runCliInProcess([
      'models',
      'pull',
      '--url',
      'http://127.0.0.1:9/m.gguf',
      '--sha256',
      'abc',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--sha256');
    expect(r.stderr).toContain('must be a SHA-256 digest: 64 hexadecimal digits');
  });
});
