/**
 * Model files for the local backend: where they live, which one to use, and downloading the recommended one.
 *
 * The cache folder is `$XDG_CACHE_HOME/gtalign/models`, or `~/.cache/gtalign/models`. The model for a local
 * chat is, in order: an explicit path, the `GTALIGN_MODEL` environment variable, the recommended model in the
 * cache folder, the newest other `.gguf` file there, the offline model of `gtalign models tiny` there.
 */

import { createHash } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { cacheFolder } from '../config/paths.js';
import { GtalignError } from '../errors.js';
import { syncDir, writeAll } from '../io/checked-write.js';
import { hashFileInto } from '../io/file-hash.js';
import { nodeFileOps } from '../io/file-ops.js';
import { type HttpGetFunction, httpGet } from '../io/http-get.js';
import { takePidLock } from '../io/pid-lock.js';
import { ggufFileProblem } from '../llm/gguf-check.js';
import {
  contentRangeOf,
  dropPartial,
  partialPaths,
  readPartial,
  validatorOf,
  writePartialInfo,
} from './partial-download.js';
import { TINY_MODEL_FILE } from './tiny-model.js';

/** The model `gtalign models pull` fetches by default. */
export const RECOMMENDED_MODEL = Object.freeze({
  name: 'Qwen2.5-0.5B-Instruct, Q4_K_M GGUF (Apache-2.0, about 490 MB)',
  url: 'https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf',
  file: 'qwen2.5-0.5b-instruct-q4_k_m.gguf',
});

type Env = Readonly<Record<string, string | undefined>>;

/** The cache folder of models, by the one rule for gtalign's cache folders (config/paths.ts). */
export function defaultModelsDir(env: Env = process.env): string {
  return cacheFolder('models', env);
}

/**
 * The pulled model in `dir`: the recommended file, else the newest other `.gguf` but the offline model,
 * else the offline model (random weights: a real model written before it still takes precedence);
 * undefined when there is none.
 */
export async function findPulledModel(dir: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  const ggufs = names.filter((n) => n.toLowerCase().endsWith('.gguf'));
  if (ggufs.includes(RECOMMENDED_MODEL.file)) return join(dir, RECOMMENDED_MODEL.file);
  const real = ggufs.filter((n) => n !== TINY_MODEL_FILE);
  let best: { path: string; mtime: number } | undefined;
  for (const name of real) {
    const path = join(dir, name);
    try {
      const s = await stat(path);
      if (s.isFile() && (best === undefined || s.mtimeMs > best.mtime)) best = { path, mtime: s.mtimeMs };
    } catch {
      // vanished between readdir and stat
    }
  }
  if (best !== undefined) return best.path;
  return ggufs.includes(TINY_MODEL_FILE) ? join(dir, TINY_MODEL_FILE) : undefined;
}

/** No model was given and none is in the cache folder. The message says how to get one. */
export class ModelNotFoundError extends GtalignError {
  readonly code = 'input';
  constructor(readonly dir: string) {
    super(
      `no local model: pass --model PATH (a GGUF file), set GTALIGN_MODEL, or run 'gtalign models pull' to download ${RECOMMENDED_MODEL.name} into ${dir}` +
        ` (offline: 'gtalign models tiny' writes a tiny model with random weights there, for trying the commands)`,
    );
    this.name = 'ModelNotFoundError';
  }
}

export type ModelSource = 'option' | 'env' | 'cache';

/** The GGUF file a local chat uses (see the module comment); throws {@link ModelNotFoundError}. */
export async function resolveModelPath(
  options: { model?: string; env?: Env; dir?: string } = {},
): Promise<{ path: string; source: ModelSource }> {
  if (options.model !== undefined && options.model !== '') return { path: options.model, source: 'option' };
  const env = options.env ?? process.env;
  const fromEnv = env.GTALIGN_MODEL;
  if (fromEnv !== undefined && fromEnv !== '') return { path: fromEnv, source: 'env' };
  const dir = options.dir ?? defaultModelsDir(env);
  const pulled = await findPulledModel(dir);
  if (pulled === undefined) throw new ModelNotFoundError(dir);
  return { path: pulled, source: 'cache' };
}

export class ModelDownloadError extends GtalignError {
  readonly code = 'backend';
  constructor(
    message: string,
    readonly url: string,
    readonly destination: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ModelDownloadError';
  }
}

export interface DownloadOptions {
  url?: string;
  /** Folder to save into (default the cache folder). */
  dir?: string;
  /** File name (default: the last path segment of the URL). */
  file?: string;
  /** Give up when the server has not answered (headers) within this time (default 10 s). */
  connectTimeoutMs?: number;
  /** Give up when no data arrives for this long during the transfer (default 60 s). */
  idleTimeoutMs?: number;
  /** Download again even when the file is there, and drop a kept partial download. */
  force?: boolean;
  /**
   * The SHA-256 the file must have (64 hexadecimal digits, lower case): a download with another is not
   * kept, and a file already there with another is downloaded again.
   */
  sha256?: string;
  onProgress?: (received: number, total: number | undefined) => void;
  /** How to send the GET (default {@link httpGet}; a test may pass `fetch`). */
  fetch?: HttpGetFunction;
  signal?: AbortSignal;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** True when the file was already there and nothing was downloaded. */
  existed: boolean;
  /** The byte a kept partial download was resumed at (an HTTP range asked for the rest). */
  resumedAt?: number;
  /** Why the file that was there was downloaded again (it was not a whole GGUF file, or not the SHA-256 asked for). */
  replaced?: string;
  /**
   * The file's SHA-256 (lower-case hex): of every download (computed as it is written), and of a file
   * already there when `sha256` asked for a check.
   */
  sha256?: string;
}

function fileNameOf(url: string): string {
  let name = '';
  try {
    name = decodeURIComponent(basename(new URL(url).pathname));
  } catch {
    name = '';
  }
  // Keep the name a plain file name: no separators, no leading dots.
  name = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  if (name === '') return 'model.gguf';
  // The cache folder is searched for `.gguf` files: a URL without the extension still gives one.
  return name.toLowerCase().endsWith('.gguf') ? name : `${name}.gguf`;
}

function causeText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause !== undefined && cause !== null) {
    if (typeof cause.code === 'string') return `${err.message}: ${cause.code}`;
    if (typeof cause.message === 'string') return `${err.message}: ${cause.message}`;
  }
  return err.message;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await hashFileInto(hash, path);
  return hash.digest('hex');
}

/**
 * Downloads a GGUF file into the cache folder atomically: it is written to a temporary file in the same
 * folder (every write checked, synced) and renamed into place only when it is a whole GGUF file: as long
 * as the server said, and holding all the tensor data its header lists. A file already there counts only
 * when it is whole too. Fails fast (the connect timeout) when offline, with a message that gives the URL
 * to fetch by hand.
 */
export async function downloadModel(options: DownloadOptions = {}): Promise<DownloadResult> {
  const url = options.url ?? RECOMMENDED_MODEL.url;
  const dir = options.dir ?? defaultModelsDir();
  const file = options.file ?? fileNameOf(url);
  const destination = join(dir, file);
  const byHand = `download it by hand from ${url} and save it as ${destination}`;
  const fail = (message: string, cause?: unknown): ModelDownloadError =>
    new ModelDownloadError(`${message}; ${byHand}`, url, destination, { cause });

  let replaces: string | undefined;
  if (!options.force) {
    const s = await stat(destination).catch(() => undefined);
    if (s?.isFile() === true) {
      // A file saved by hand may be cut short: that one is downloaded again, not reported as there.
      replaces = await ggufFileProblem(destination).catch((err: unknown) => causeText(err));
      if (replaces === undefined && options.sha256 !== undefined) {
        const digest = await sha256OfFile(destination).catch((err: unknown) => causeText(err));
        if (digest === options.sha256)
          return { path: destination, bytes: s.size, existed: true, sha256: digest };
        replaces = /^[0-9a-f]{64}$/.test(digest) ? `its SHA-256 is ${digest}, not the one asked for` : digest;
      }
      if (replaces === undefined) return { path: destination, bytes: s.size, existed: true };
    }
  }
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw fail(`cannot create the folder ${dir} (${causeText(err)})`, err);
  }

  const fetchImpl = options.fetch ?? httpGet;
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let timedOut: 'connect' | 'idle' | undefined;
  const connectMs = options.connectTimeoutMs ?? 10_000;
  const idleMs = options.idleTimeoutMs ?? 60_000;
  let timer = setTimeout(() => {
    timedOut = 'connect';
    controller.abort();
  }, connectMs);
  const rearm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = 'idle';
      controller.abort();
    }, idleMs);
  };
  const paths = partialPaths(destination);
  let release: (() => Promise<void>) | undefined;
  try {
    release = await takePidLock(paths.lock, {
      busy: (pid) => fail(`another 'gtalign models pull' (pid ${pid}) is downloading ${destination}`),
    });
  } catch (err) {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    if (err instanceof ModelDownloadError) throw err;
    throw fail(`cannot create the lock file ${paths.lock} (${causeText(err)})`, err);
  }
  let part: FileHandle | undefined;
  /** Bytes in the partial file; kept for a later pull once the server gave a validator. */
  let written = 0;
  let resumable = false;
  /** A failure of this machine (a full disk), not of the transfer: nothing worth resuming. */
  let local = false;
  try {
    if (options.force) await dropPartial(paths);
    const previous = await readPartial(paths, url);
    let res: Response | undefined;
    let start = 0;
    let total: number | undefined;
    if (previous !== undefined && previous.bytes === previous.info.total) {
      // Complete, but the pull ended before the rename: only the checks below are left.
      ({
        bytes: start,
        info: { total },
      } = previous);
      written = start;
    } else {
      const range: Record<string, string> =
        previous === undefined
          ? {}
          : { range: `bytes=${previous.bytes}-`, 'if-range': previous.info.validator };
      try {
        res = await fetchImpl(url, { signal: controller.signal, headers: range });
      } catch (err) {
        if (timedOut === 'connect') {
          throw fail(`no answer from ${new URL(url).host} within ${connectMs / 1000} s (offline?)`, err);
        }
        throw fail(`cannot reach ${url} (${causeText(err)}; offline?)`, err);
      }
      if (res.status === 206 && previous !== undefined) {
        const got = contentRangeOf(res.headers.get('content-range'));
        if (got === undefined || got.start !== previous.bytes || got.total !== previous.info.total) {
          await dropPartial(paths);
          throw fail(
            `${url} answered the request to resume at byte ${previous.bytes} with Content-Range ${JSON.stringify(res.headers.get('content-range'))}; run the command again to download it whole`,
          );
        }
        ({ start, total } = got);
      } else if (!res.ok || res.status === 206 || res.body === null) {
        if (previous !== undefined) await dropPartial(paths);
        throw fail(`${url} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
      } else {
        // A whole answer: the server ignored the range, or the file changed since the partial was written.
        const lengthHeader = res.headers.get('content-length');
        total = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
      }
      rearm();
      const validator = validatorOf(res.headers);
      try {
        if (start === 0) await dropPartial(paths);
        part = await open(paths.data, start === 0 ? 'w' : 'a');
        written = start;
        if (validator !== undefined && total !== undefined) {
          await writePartialInfo(paths, { url, validator, total });
          resumable = true;
        }
      } catch (err) {
        local = true;
        throw err;
      }
    }
    options.onProgress?.(written, total);
    // The digest covers the bytes a resumed download kept as well as those written now.
    const hash = createHash('sha256');
    await hashFileInto(hash, paths.data, written);
    const reader = res?.body?.getReader();
    try {
      for (;;) {
        if (reader === undefined || part === undefined) break;
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (err) {
          // A fetch given in the options (undici) may fail the read when the server closes the connection
          // right after the last byte: all the bytes it announced are here, and the file's check judges them.
          if (total !== undefined && written === total) break;
          if (timedOut === 'idle') throw fail(`the download stalled for ${idleMs / 1000} s`, err);
          throw fail(`the download broke off after ${written} bytes (${causeText(err)})`, err);
        }
        if (chunk.done) break;
        rearm();
        try {
          // A full disk writes short without an error: writeAll goes on until it fails.
          await writeAll(part, chunk.value);
        } catch (err) {
          local = true;
          throw err;
        }
        hash.update(chunk.value);
        written += chunk.value.byteLength;
        options.onProgress?.(written, total);
      }
    } finally {
      reader?.releaseLock();
    }
    local = true;
    if (part !== undefined) {
      await part.sync();
      await part.close();
      part = undefined;
    }
    if (total !== undefined && written !== total) {
      local = false;
      throw fail(`the download ended after ${written} of ${total} bytes`);
    }
    // Without a length (or with a wrong one) only the file itself tells whether it is whole.
    const problem = await ggufFileProblem(paths.data);
    if (problem !== undefined) throw fail(`${url} did not send a whole GGUF file: ${problem}`);
    const sha256 = hash.digest('hex');
    if (options.sha256 !== undefined && sha256 !== options.sha256) {
      // Not the file asked for, or damaged on the way: nothing of it is worth resuming from.
      resumable = false;
      throw fail(
        `the file ${url} sent has the SHA-256 ${sha256}, not the ${options.sha256} asked for (it is another file, or was damaged on the way); nothing was kept`,
      );
    }
    await rename(paths.data, destination);
    await unlink(paths.info).catch(() => undefined);
    await syncDir(nodeFileOps, dir);
    return {
      path: destination,
      bytes: written,
      existed: false,
      sha256,
      ...(start > 0 ? { resumedAt: start } : {}),
      ...(replaces === undefined ? {} : { replaced: replaces }),
    };
  } catch (err) {
    await part?.close().catch(() => undefined);
    const keep = resumable && !local && written > 0;
    if (!keep) await dropPartial(paths);
    const kept = keep
      ? `; the ${written} bytes so far are kept in ${paths.data}: run the same command again to resume`
      : '';
    if (err instanceof ModelDownloadError) {
      if (kept === '') throw err;
      const message = err.message.replace(`; ${byHand}`, `${kept}, or ${byHand}`);
      throw new ModelDownloadError(message, url, destination, { cause: err.cause });
    }
    throw fail(`the download failed (${causeText(err)})${kept}`, err);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await release();
  }
}
