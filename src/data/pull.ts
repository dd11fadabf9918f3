import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheFolder } from '../config/paths.js';
import { writeAtomic } from '../io/atomic-file.js';
import { formatBytes } from '../io/format-bytes.js';
import { fsFailureReason } from '../io/fs-reason.js';
import { type HttpGetFunction, httpGet } from '../io/http-get.js';
import { DataError } from './errors.js';
import { openParquet } from './parquet.js';
import { checkDatasetRows, openDownloadedParquet } from './pull-check.js';
import { DEFAULT_BASE_URL } from './source-url.js';

export { DEFAULT_BASE_URL, GTALIGN_REPOSITORY } from './source-url.js';

export interface DatasetFile {
  /** Folder name in the cache, the same as ../shared/data/gtalign uses. */
  name: string;
  split: 'test' | 'train';
  /** Path inside the repository. */
  repoPath: string;
  /** Row count of the released file (GTALIGN.md §6); a different count is reported, not fatal. */
  rows: number;
}

const BY_SOURCE = 'data/gamellm_wildbreak_math_medium_abgqa/by_source';

/** The released files. Medium's training split is not in the repository. */
export const DATASET_FILES: readonly DatasetFile[] = [
  { name: 'math-hard', split: 'test', repoPath: `${BY_SOURCE}/math-hard/test.parquet`, rows: 353 },
  { name: 'medium', split: 'test', repoPath: `${BY_SOURCE}/medium/test.parquet`, rows: 248 },
  { name: 'wildguard', split: 'test', repoPath: `${BY_SOURCE}/wildguard/test.parquet`, rows: 300 },
  { name: 'ambig_qa', split: 'test', repoPath: `${BY_SOURCE}/ambig_qa/test.parquet`, rows: 300 },
  { name: 'minerva', split: 'test', repoPath: 'data/minerva_math/test.parquet', rows: 272 },
  { name: 'abg-coqa', split: 'test', repoPath: 'data/abg_coqa/test.parquet', rows: 1055 },
  { name: 'advbench', split: 'test', repoPath: 'data/advbench/test.parquet', rows: 520 },
  { name: 'math-hard', split: 'train', repoPath: `${BY_SOURCE}/math-hard/train.parquet`, rows: 3176 },
  { name: 'wildguard', split: 'train', repoPath: `${BY_SOURCE}/wildguard/train.parquet`, rows: 2700 },
  { name: 'ambig_qa', split: 'train', repoPath: `${BY_SOURCE}/ambig_qa/train.parquet`, rows: 2700 },
];

/**
 * Where `data pull` stores the files: $GTALIGN_DATA_DIR, else the data cache folder by the one rule for
 * gtalign's cache folders ($XDG_CACHE_HOME/gtalign/data, else ~/.cache/gtalign/data).
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.GTALIGN_DATA_DIR;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : cacheFolder('data', env);
}

/** Selects files by `name` (every split) or `name/split`; an unknown name is an error listing the known ones. */
export function selectDatasetFiles(only?: readonly string[]): DatasetFile[] {
  if (!only || only.length === 0) return [...DATASET_FILES];
  const picked = new Set<DatasetFile>();
  for (const want of only) {
    const [name, split] = want.split('/');
    const hits = DATASET_FILES.filter((f) => f.name === name && (split === undefined || f.split === split));
    if (hits.length === 0) {
      const known = DATASET_FILES.map((f) => `${f.name}/${f.split}`).join(', ');
      throw new DataError(`unknown data set '${want}' (known: ${known})`);
    }
    for (const h of hits) picked.add(h);
  }
  return DATASET_FILES.filter((f) => picked.has(f));
}

export function fileUrl(baseUrl: string, file: DatasetFile): string {
  return `${baseUrl.replace(/\/+$/, '')}/${file.repoPath}`;
}

export function filePath(dir: string, file: DatasetFile): string {
  return join(dir, file.name, `${file.split}.parquet`);
}

export interface PullOptions {
  dir: string;
  baseUrl?: string;
  files?: readonly DatasetFile[];
  /** Time allowed until the response headers arrive (connect, TLS, redirects); default 5000 ms. */
  connectTimeoutMs?: number;
  /** Time allowed without receiving body bytes; default 30000 ms. */
  idleTimeoutMs?: number;
  /** Most bytes one file may have; default {@link MAX_DOWNLOAD_BYTES}. */
  maxBytes?: number;
  /** Download again even when a valid file is present. */
  force?: boolean;
  /** How to send the GET (default {@link httpGet}; a test may pass `fetch`). */
  fetch?: HttpGetFunction;
  onFile?: (result: PulledFile) => void;
}

export interface PulledFile {
  file: DatasetFile;
  url: string;
  path: string;
  status: 'downloaded' | 'present';
  bytes: number;
  rows: number;
  /** Set when the row count differs from the released file's. */
  warning?: string;
  /** Set when a cached copy was there and not a valid data set file: what was wrong with it. */
  replaced?: string;
}

/**
 * The most bytes one download may have: the released files are at most 4.2 MB, and a download is held in
 * memory until every row is checked, so a server sending without end (a wrong --base-url) is cut off.
 */
export const MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024;

/** A failed pull: `manual` lists every file still missing with the URL to fetch it from by hand. */
export class PullError extends DataError {
  constructor(
    message: string,
    readonly manual: ReadonlyArray<{ url: string; path: string }>,
  ) {
    super(message);
    this.name = 'PullError';
  }
}

function fetchFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // fetch puts the socket's error in `cause`; node:http (httpGet) throws it as it is.
  const cause = err.cause instanceof Error ? err.cause : err;
  const code = (cause as NodeJS.ErrnoException).code;
  return code ? `${code} (${cause.message})` : cause.message;
}

async function download(
  url: string,
  fetchImpl: HttpGetFunction,
  connectTimeoutMs: number,
  idleTimeoutMs: number,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; contentType: string | null }> {
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), connectTimeoutMs);
  let res: Response;
  try {
    res = await fetchImpl(url, { signal: controller.signal });
  } catch (err) {
    throw new Error(
      controller.signal.aborted ? `no response within ${connectTimeoutMs} ms (offline?)` : fetchFailure(err),
    );
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  }
  const tooLarge = () =>
    new Error(
      `the file is larger than ${formatBytes(maxBytes)}, more than any data set file (is the base URL right?)`,
    );
  if (Number(res.headers.get('content-length') ?? 0) > maxBytes) {
    await res.body.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      timer = setTimeout(() => controller.abort(), idleTimeoutMs);
      const { done, value } = await reader.read();
      clearTimeout(timer);
      if (done) break;
      chunks.push(value);
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge();
      }
    }
  } catch (err) {
    if (total > maxBytes) throw err;
    throw new Error(
      controller.signal.aborted
        ? `the download stalled for ${idleTimeoutMs} ms`
        : `download cut off (${fetchFailure(err)})`,
    );
  } finally {
    clearTimeout(timer);
  }
  return { bytes: Buffer.concat(chunks, total), contentType: res.headers.get('content-type') };
}

/**
 * The cached copy at `path` when it is a valid data set file (see pull-check.ts); undefined when there is
 * none, or `invalid` saying what is wrong with the one there, which is then downloaded again.
 */
async function presentFile(
  path: string,
): Promise<{ rows: number; bytes: number } | { invalid: string } | undefined> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) return undefined;
    size = info.size;
  } catch {
    return undefined;
  }
  try {
    return { rows: await checkDatasetRows(await openParquet(path)), bytes: size };
  } catch (err) {
    return { invalid: (err as Error).message };
  }
}

/**
 * Downloads the released data sets into `dir/<name>/<split>.parquet`. Each file is checked (parquet
 * magic, readable footer, every row a verl record: see pull-check.ts) and renamed into place only when
 * complete and valid, so the cache never holds a partial or foreign file, and a failed download never
 * replaces a good copy. Valid files already present are kept unless `force`; an invalid one is
 * downloaded again (`replaced` says what was wrong with it). The first failure stops the pull at once
 * with a PullError listing the URL and target path of every file still missing.
 */
export async function pullDatasets(options: PullOptions): Promise<PulledFile[]> {
  const baseUrl = options.baseUrl ?? DEFAULT_BASE_URL;
  const files = options.files ?? DATASET_FILES;
  const fetchImpl = options.fetch ?? httpGet;
  const results: PulledFile[] = [];
  const missing = (from: number) =>
    files.slice(from).map((f) => ({ url: fileUrl(baseUrl, f), path: filePath(options.dir, f) }));
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    const url = fileUrl(baseUrl, file);
    const path = filePath(options.dir, file);
    const warning = (rows: number) =>
      rows === file.rows ? undefined : `${rows} rows where the released file has ${file.rows}`;
    const present = options.force ? undefined : await presentFile(path);
    let result: PulledFile;
    if (present !== undefined && !('invalid' in present)) {
      result = { file, url, path, status: 'present', bytes: present.bytes, rows: present.rows };
    } else {
      let rows: number;
      let bytes: Uint8Array;
      try {
        const got = await download(
          url,
          fetchImpl,
          options.connectTimeoutMs ?? 5000,
          options.idleTimeoutMs ?? 30000,
          options.maxBytes ?? MAX_DOWNLOAD_BYTES,
        );
        bytes = got.bytes;
        // Every row is checked before the file goes into the cache: a mirror serving another file keeps
        // its bytes out, and a good copy already there stays.
        rows = await checkDatasetRows(
          await openDownloadedParquet(`${file.name}/${file.split}`, bytes, got.contentType),
        );
      } catch (err) {
        const manual = missing(i);
        const list = manual.map((m) => `  ${m.url}\n    -> ${m.path}`).join('\n');
        throw new PullError(
          `cannot download ${url}: ${(err as Error).message}\nFetch these files by hand (or pass --base-url to a mirror):\n${list}`,
          manual,
        );
      }
      try {
        await writeAtomic(path, bytes);
      } catch (err) {
        // The system's message names the temporary file (or none): say why in words, for the path given.
        throw new DataError(`cannot write ${path}: ${fsFailureReason(err) ?? (err as Error).message}`);
      }
      result = { file, url, path, status: 'downloaded', bytes: bytes.length, rows };
      if (present !== undefined) result.replaced = present.invalid;
    }
    const w = warning(result.rows);
    if (w) result.warning = w;
    results.push(result);
    options.onFile?.(result);
  }
  return results;
}
