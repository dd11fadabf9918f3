/**
 * `gtalign models pull` run again after a broken connection or a kill asks for the rest of the file (an HTTP
 * range with If-Range), and never splices the bytes of a file that changed on the server onto old ones.
 */

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliArgs } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { ggufFile } from '../support/gguf-file.js';
import { waitFor } from '../support/wait-for.js';

const modelOf = ggufFile;
const MODEL = modelOf(3);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const HALF = 150_000;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-pull-resume-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A file server with ranges: `first` answers the first request (to break it off), later requests get
 * `current()` whole, or its rest when the range's If-Range names its ETag.
 */
async function rangeServer(
  current: () => { body: Buffer; etag: string },
  first: (res: ServerResponse, socket: Socket) => void,
) {
  const requests: IncomingHttpHeaders[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    requests.push(req.headers);
    if (requests.length === 1) {
      first(res, req.socket);
      return;
    }
    const { body, etag } = current();
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range !== null && req.headers['if-range'] === etag) {
      const start = Number(range[1]);
      res.writeHead(206, {
        etag,
        'content-length': String(body.length - start),
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
      });
      res.end(body.subarray(start));
      return;
    }
    res.writeHead(200, { etag, 'content-length': String(body.length) }).end(body);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/m.gguf`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Sends the head and the first half of `body`, then drops the connection. */
const breakOff =
  (body: Buffer, etag: string) =>
  (res: ServerResponse, socket: Socket): void => {
    res.writeHead(200, { etag, 'content-length': String(body.length) });
    res.write(body.subarray(0, HALF), () => socket.destroy());
  };

describe('gtalign models pull resumes', () => {
  it('after a broken connection: keeps the bytes, says so, and asks only for the rest', async () => {
    const server = await rangeServer(() => ({ body: MODEL, etag: '"v1"' }), breakOff(MODEL, '"v1"'));
    try {
      const target = join(dir, 'broken');
      const pull = ['models', 'pull', '--url', server.url, '--dir', target];
      const broken = await runCliInProcess(pull);
      expect(broken.code).toBe(1);
      expect(broken.stderr).toContain('run the same command again to resume');
      expect(await readdir(target)).not.toContain('m.gguf');

      // The digest asked for covers the kept bytes too, not only those downloaded after the resume.
      const resumed = await runCliInProcess([...pull, '--sha256', sha256(MODEL)]);
      expect(resumed.stderr).not.toContain('failed');
      expect(resumed.code).toBe(0);
      const kept = Number(/bytes=(\d+)-/.exec(server.requests[1]?.range ?? '')?.[1]);
      expect(kept).toBeGreaterThan(0);
      expect(server.requests[1]?.['if-range']).toBe('"v1"');
      expect(resumed.stdout).toContain(`resuming a kept partial download at byte ${kept}`);
      expect(resumed.stdout).toContain(`SHA-256 ${sha256(MODEL)}, as asked`);
      expect(await readFile(join(target, 'm.gguf'))).toEqual(MODEL);
      expect(await readdir(target)).toEqual(['m.gguf']);
    } finally {
      await server.close();
    }
  });

  it('downloads the whole file again when it changed on the server meanwhile', async () => {
    let version = { body: MODEL, etag: '"v1"' };
    const server = await rangeServer(() => version, breakOff(MODEL, '"v1"'));
    try {
      const target = join(dir, 'changed');
      const pull = ['models', 'pull', '--url', server.url, '--dir', target];
      expect((await runCliInProcess(pull)).code).toBe(1);
      const updated = modelOf(5);
      version = { body: updated, etag: '"v2"' };
      const again = await runCliInProcess(pull);
      expect(again.code).toBe(0);
      expect(again.stdout).not.toContain('resuming');
      expect(await readFile(join(target, 'm.gguf'))).toEqual(updated);
    } finally {
      await server.close();
    }
  });

  it('after a kill (and refuses a second pull of the same file meanwhile)', async () => {
    // The first answer stops half-way and stays open: the pull waits for the rest until it is killed.
    const server = await rangeServer(
      () => ({ body: MODEL, etag: '"v1"' }),
      (res) => {
        res.writeHead(200, { etag: '"v1"', 'content-length': String(MODEL.length) });
        res.write(MODEL.subarray(0, HALF));
      },
    );
    try {
      const target = join(dir, 'killed');
      const pull = ['models', 'pull', '--url', server.url, '--dir', target];
      const child = spawn(process.execPath, cliArgs(pull), { stdio: 'ignore' });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      const partial = join(target, '.m.gguf.partial');
      const arrived = () => {
        try {
          return (
            readdirSync(target).includes('.m.gguf.partial.json') && readFileSync(partial).length === HALF
          );
        } catch {
          return false; // not there yet
        }
      };
      await waitFor(arrived);
      // One pull of a file at a time: a second one would write the same partial file.
      const second = await runCliInProcess(pull);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`another 'gtalign models pull' (pid ${child.pid}) is downloading`);
      child.kill('SIGKILL');
      await exited;

      const resumed = await runCliInProcess(pull);
      expect(resumed.code).toBe(0);
      expect(server.requests[1]?.range).toBe(`bytes=${HALF}-`);
      expect(await readFile(join(target, 'm.gguf'))).toEqual(MODEL);
      expect(await readdir(target)).toEqual(['m.gguf']);
    } finally {
      await server.close();
    }
  });
});
