/**
 * Content-addressed on-disk cache of judge replies, so re-scoring the same samples costs no judge
 * calls. The key is the sha256 of the canonical request (endpoint + model + messages + sampling params); each
 * entry is one JSON file `<dir>/<key[0..2]>/<key>.json`, written atomically (temp file + rename),
 * so a crash mid-write never leaves a half file under the real name. A file that does not parse or
 * does not belong to its key is reported as corrupt and treated as a miss; the next write replaces it.
 */
import { createHash, type Hash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from './canonical-json.js';

export { canonicalJson } from './canonical-json.js';

export interface JudgeCacheRequest {
  /** The chat completions URL: the same model name on another server may be another model. */
  endpoint?: string;
  model: string;
  messages: readonly { role: string; content: string }[];
  /** Every other request parameter that can change the reply (temperature, max_tokens, …). */
  params: Readonly<Record<string, unknown>>;
}

export function judgeCacheKey(request: JudgeCacheRequest): string {
  return createHash('sha256')
    .update(
      canonicalJson({
        ...(request.endpoint !== undefined ? { endpoint: request.endpoint } : {}),
        model: request.model,
        messages: request.messages,
        params: request.params,
      }),
    )
    .digest('hex');
}

/** Most first messages (rubrics) whose hash state a keyer keeps. */
const MAX_CACHED_FIRST = 32;

/**
 * `judgeCacheKey` for many message lists of one judge: the same keys, faster. Who answers and with which
 * parameters is serialized once; plain `{role, content}` messages are written directly (the canonical
 * form sorts keys: content, then role); anything else goes through `canonicalJson`. The text is hashed
 * piece by piece, never joined into one string (a judge keys thousands of requests a second, each a few
 * KiB), and the hash state after a plain first message (a rubric, the same for thousands of requests) is
 * kept and copied.
 */
export function judgeCacheKeyer(
  request: Omit<JudgeCacheRequest, 'messages'>,
): (messages: readonly { role: string; content: string }[]) => string {
  // Top-level keys in canonical (sorted) order: endpoint, messages, model, params.
  const head =
    request.endpoint !== undefined
      ? `{"endpoint":${JSON.stringify(request.endpoint)},"messages":[`
      : '{"messages":[';
  const tail = `],"model":${JSON.stringify(request.model)},"params":${canonicalJson(request.params)}}`;
  /** Hash states after `head` and a first message, by the message's role and content. */
  const afterFirst = new Map<string, Map<string, Hash>>();

  /** The hash after `head` and the first message, copied from the kept state when there is one. */
  const startWith = (first: { role: string; content: string }): Hash => {
    if (!plainMessage(first)) return createHash('sha256').update(head).update(canonicalJson(first));
    let byContent = afterFirst.get(first.role);
    const kept = byContent?.get(first.content);
    if (kept !== undefined) return kept.copy();
    const hash = createHash('sha256').update(head);
    updateMessage(hash, first);
    if (byContent === undefined) {
      byContent = new Map();
      afterFirst.set(first.role, byContent);
    }
    if (byContent.size < MAX_CACHED_FIRST) {
      byContent.set(first.content, hash.copy());
    }
    return hash;
  };

  return (messages) => {
    if (messages.length === 0) {
      return createHash('sha256')
        .update(head + tail)
        .digest('hex');
    }
    const hash = startWith(messages[0]!);
    for (let i = 1; i < messages.length; i++) {
      const m = messages[i]!;
      hash.update(',');
      if (plainMessage(m)) updateMessage(hash, m);
      else hash.update(canonicalJson(m));
    }
    return hash.update(tail).digest('hex');
  };
}

/** Hashes a plain message's canonical JSON. */
function updateMessage(hash: Hash, m: { role: string; content: string }): void {
  hash.update('{"content":');
  hash.update(JSON.stringify(m.content));
  hash.update(`,"role":${JSON.stringify(m.role)}}`);
}

/** A message whose canonical JSON is just its content and role. */
function plainMessage(m: { role: string; content: string }): boolean {
  const proto: unknown = Object.getPrototypeOf(m);
  return (
    (proto === Object.prototype || proto === null) &&
    typeof m.content === 'string' &&
    typeof m.role === 'string' &&
    Object.keys(m).length === 2
  );
}

export interface JudgeCacheEntry {
  /** The judge's reply text, kept whole so a later, better verdict parser can re-read it. */
  reply: string;
  model: string;
}

export type JudgeCacheLookup =
  | { status: 'hit'; entry: JudgeCacheEntry }
  | { status: 'miss' }
  | { status: 'corrupt'; reason: string };

export interface JudgeCache {
  readonly dir: string;
  get(key: string): Promise<JudgeCacheLookup>;
  set(key: string, entry: JudgeCacheEntry): Promise<void>;
  pathOf(key: string): string;
}

const FORMAT_VERSION = 1;

interface StoredEntry {
  v: number;
  key: string;
  model: string;
  reply: string;
  createdAt: string;
}

export function createJudgeCache(dir: string): JudgeCache {
  const pathOf = (key: string): string => {
    if (!/^[0-9a-f]{64}$/.test(key))
      throw new RangeError(`judge cache: key must be 64 hex digits, got "${key}"`);
    return join(dir, key.slice(0, 2), `${key}.json`);
  };

  return {
    dir,
    pathOf,
    async get(key) {
      let text: string;
      try {
        text = await readFile(pathOf(key), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'miss' };
        return { status: 'corrupt', reason: `unreadable: ${(err as Error).message}` };
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return { status: 'corrupt', reason: 'not valid JSON' };
      }
      const e = parsed as Partial<StoredEntry> | null;
      if (e === null || typeof e !== 'object') return { status: 'corrupt', reason: 'not a JSON object' };
      if (e.v !== FORMAT_VERSION)
        return { status: 'corrupt', reason: `unknown format version ${String(e.v)}` };
      if (e.key !== key) return { status: 'corrupt', reason: 'stored key does not match the file name' };
      if (typeof e.reply !== 'string' || typeof e.model !== 'string') {
        return { status: 'corrupt', reason: 'missing reply or model' };
      }
      return { status: 'hit', entry: { reply: e.reply, model: e.model } };
    },
    async set(key, entry) {
      const path = pathOf(key);
      const stored: StoredEntry = {
        v: FORMAT_VERSION,
        key,
        model: entry.model,
        reply: entry.reply,
        createdAt: new Date().toISOString(),
      };
      await mkdir(join(dir, key.slice(0, 2)), { recursive: true });
      const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await writeFile(tmp, JSON.stringify(stored), 'utf8');
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => undefined);
        throw err;
      }
    },
  };
}
