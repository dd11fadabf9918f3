/**
 * `gtalign models pull` never leaves in the cache a file that would be taken for a whole model: not on a
 * full disk, not when the server's answer is cut short without saying how long it was, not after a kill;
 * and a file cut short that is already there is downloaded again instead of being reported as there.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveModelPath } from '../../src/assistant/models.js';
import { cliArgs, runCli } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { ggufFile } from '../support/gguf-file.js';
import { closeRawHttpServers, startRawHttpServer } from '../support/raw-http-server.js';
import { waitFor } from '../support/wait-for.js';

/** A whole GGUF file of about 300 kB. */
const MODEL = ggufFile(3);
const head = (length: number) => Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${length}\r\n\r\n`);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-pull-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(closeRawHttpServers);

/**
 * A server that sends the whole model with its length and closes the connection right after, as a
 * server may: Node 20's fetch lost the body's last bytes to that close when the reader was slow (a full
 * disk's short writes), which made the full-disk test below fail once in about seven suite runs; the
 * pull reads with node:http now (src/io/http-get.ts).
 */
const wholeModel = () =>
  startRawHttpServer((socket) => socket.end(Buffer.concat([head(MODEL.length), MODEL])), '/m.gguf');

describe('gtalign models pull keeps only whole models', () => {
  it('on a full disk, fails naming it and keeps nothing, even when the last write was short', async () => {
    const server = await wholeModel();
    const target = join(dir, 'full');
    // The disk fills up within the last bytes: the write that crosses it writes what fits, without an error.
    const preload = pathToFileURL(fileURLToPath(new URL('../support/full-disk.mjs', import.meta.url)));
    const r = await runCli(['models', 'pull', '--url', server.url, '--dir', target], {
      env: {
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${preload.href}`,
        GTALIGN_TEST_FULL_DISK: JSON.stringify({ file: '.m.gguf', free: MODEL.length - 10 }),
      },
    });
    expect(r.stderr).toContain('no space left on device');
    expect(r.code).toBe(1);
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses an answer cut short that gave no length, keeping nothing', async () => {
    // No content-length: the body ends when the connection closes, here half-way through the tensor data.
    const server = await startRawHttpServer((socket) => {
      socket.end(
        Buffer.concat([
          Buffer.from('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n'),
          MODEL.subarray(0, 150_000),
        ]),
      );
    }, '/m.gguf');
    const target = join(dir, 'no-length');
    const r = await runCliInProcess(['models', 'pull', '--url', server.url, '--dir', target]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `did not send a whole GGUF file: it is cut short: the file has 150000 bytes, its tensors need ${MODEL.length}`,
    );
    expect(await readdir(target)).toEqual([]);
  });

  it('downloads again a model file that is there but cut short', async () => {
    const server = await wholeModel();
    const target = join(dir, 'by-hand');
    await mkdir(target, { recursive: true });
    // What an interrupted download by hand (the error messages suggest one) leaves.
    await writeFile(join(target, 'm.gguf'), MODEL.subarray(0, 100_000));
    const r = await runCliInProcess(['models', 'pull', '--url', server.url, '--dir', target]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('replacing the file that was there (it is cut short');
    expect(await readFile(join(target, 'm.gguf'))).toEqual(MODEL);
  });

  it('a pull killed mid-download leaves no file behind once a later pull succeeds', async () => {
    // Half the model, then nothing: the pull waits for the rest until it is killed.
    const stalled = await startRawHttpServer((socket) => {
      socket.write(Buffer.concat([head(MODEL.length), MODEL.subarray(0, 150_000)]));
    }, '/m.gguf');
    const target = join(dir, 'killed');
    const child = spawn(
      process.execPath,
      cliArgs(['models', 'pull', '--url', stalled.url, '--dir', target]),
      {
        stdio: 'ignore',
      },
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const started = () => {
      try {
        return readdirSync(target).includes('.m.gguf.partial');
      } catch {
        return false; // the folder is not there yet
      }
    };
    await waitFor(started);
    child.kill('SIGKILL');
    await exited;
    expect(await readdir(target)).toContain('.m.gguf.partial'); // what the killed pull wrote

    const server = await wholeModel();
    const r = await runCliInProcess(['models', 'pull', '--url', server.url, '--dir', target]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readdir(target)).toEqual(['m.gguf']);
    expect(await readFile(join(target, 'm.gguf'))).toEqual(MODEL);
  });

  it('saves a URL without the .gguf extension under a name chat finds in the cache', async () => {
    const server = await startRawHttpServer(
      (socket) => socket.end(Buffer.concat([head(MODEL.length), MODEL])),
      '/download?id=3',
    );
    const cache = join(dir, 'xdg');
    const env = { XDG_CACHE_HOME: cache, GTALIGN_MODEL: '' };
    const r = await runCliInProcess(['models', 'pull', '--url', server.url], { env });
    expect(r.code, r.stderr).toBe(0);
    const folder = join(cache, 'gtalign', 'models');
    expect(await readdir(folder)).toEqual(['download.gguf']);
    expect((await resolveModelPath({ env })).path).toBe(join(folder, 'download.gguf'));
  });
});
