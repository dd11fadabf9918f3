/**
 * The part of a model download kept across attempts, so that `gtalign models pull` run again after a
 * broken connection or a kill asks the server for the rest only (an HTTP range), not for 490 MB again.
 *
 * Beside the target NAME: `.NAME.partial` (the bytes so far; never a name a model is looked up by) and
 * `.NAME.partial.json` (the URL, the server's validator of that version of the file and its length). A
 * range is asked for only with the validator (`If-Range`), so a file that changed on the server comes
 * whole instead of being spliced onto old bytes; without a validator nothing is kept to resume.
 */
import { readFile, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeAtomic } from '../io/atomic-file.js';

export interface PartialPaths {
  data: string;
  info: string;
  /** Held while a pull writes the partial file (one pull of a file at a time). */
  lock: string;
}

export interface PartialInfo {
  url: string;
  /** A strong ETag or a Last-Modified date, as the server sent it. */
  validator: string;
  /** The whole file's length in bytes. */
  total: number;
}

export function partialPaths(destination: string): PartialPaths {
  const base = join(dirname(destination), `.${basename(destination)}`);
  return { data: `${base}.partial`, info: `${base}.partial.json`, lock: `${base}.pull.lock` };
}

/** What a resumable answer carries to resume with later: a strong ETag, else Last-Modified. */
export function validatorOf(headers: Headers): string | undefined {
  const etag = headers.get('etag');
  // A weak ETag may not be used in If-Range (RFC 9110 §13.1.5).
  if (etag !== null && etag !== '' && !etag.startsWith('W/')) return etag;
  const modified = headers.get('last-modified');
  return modified === null || modified === '' ? undefined : modified;
}

/** `Content-Range: bytes START-END/TOTAL`; undefined for any other form (`*`, an unknown total). */
export function contentRangeOf(header: string | null): { start: number; total: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header?.trim() ?? '');
  if (m === null) return undefined;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (!Number.isSafeInteger(total) || start > end || end >= total) return undefined;
  return { start, total };
}

function isPartialInfo(value: unknown): value is PartialInfo {
  const v = value as Partial<PartialInfo> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.url === 'string' &&
    typeof v.validator === 'string' &&
    typeof v.total === 'number' &&
    Number.isSafeInteger(v.total) &&
    v.total > 0
  );
}

/** The partial download of `url` kept at `paths`, or undefined when there is none to resume (or another URL's). */
export async function readPartial(
  paths: PartialPaths,
  url: string,
): Promise<{ bytes: number; info: PartialInfo } | undefined> {
  let info: unknown;
  try {
    info = JSON.parse(await readFile(paths.info, 'utf8'));
  } catch {
    return undefined;
  }
  if (!isPartialInfo(info) || info.url !== url) return undefined;
  const size = await stat(paths.data).then(
    (s) => (s.isFile() ? s.size : undefined),
    () => undefined,
  );
  if (size === undefined || size === 0 || size > info.total) return undefined;
  return { bytes: size, info };
}

export async function writePartialInfo(paths: PartialPaths, info: PartialInfo): Promise<void> {
  await writeAtomic(paths.info, `${JSON.stringify(info)}\n`);
}

/** Removes the partial download (both files); what is not there is fine. */
export async function dropPartial(paths: PartialPaths): Promise<void> {
  await unlink(paths.info).catch(() => undefined);
  await unlink(paths.data).catch(() => undefined);
}
