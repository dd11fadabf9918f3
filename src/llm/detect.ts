/**
 * Which kind of OpenAI-compatible server sits behind a base URL, from what each kind uniquely exposes
 * next to its `/v1` API (`<origin>` is the base URL without its trailing `/v1`):
 *
 * - llama.cpp: `GET <origin>/props` answers a JSON object with `default_generation_settings`,
 *   `build_info` or `chat_template`;
 * - SGLang: `GET <origin>/get_server_info` (newer: `/server_info`) answers its server arguments
 *   (`model_path`, `tp_size`, `internal_states`, …);
 * - Ollama: `GET <origin>/api/version` answers `{"version": "…"}`;
 * - vLLM: `GET <origin>/metrics` has lines starting `vllm:` (Prometheus names), and `GET <origin>/version`
 *   answers `{"version": "…"}`.
 *
 * Every probe runs at once under one overall timeout (default 2 s), sends the API key when there is one,
 * reads at most a small bounded body, and never throws: a server that answers none of them (or a base URL
 * on api.openai.com, which is not probed) is the generic `openai` kind, which cannot continue an assistant
 * turn. The verdict says why (naming a probe refused with HTTP 401 or 403: a key is missing or wrong), and
 * lists what each probe saw. `detectVendorOnce` probes each base URL once
 * per process (the promise is kept), so the chat backend and a judge on the same server share one probe.
 */
import { chatCompletionsUrl } from './chat-completions.js';
import type { OpenAIVendor } from './dialect.js';
import { createNodeFetch } from './node-fetch.js';

/** What one probe request saw. */
export interface ProbeRecord {
  /** The request, e.g. `GET /props`. */
  probe: string;
  /** The HTTP status, when the server answered. */
  status?: number;
  /** Whether the answer is the mark of a server kind. */
  matched: boolean;
  /** What was seen, in a few words (`answered with build_info`, `HTTP 404`, `ECONNREFUSED`, `timed out`). */
  note: string;
}

export interface Detection {
  vendor: OpenAIVendor;
  /** Why, in one clause, e.g. `GET /props answered with build_info`. */
  reason: string;
  /** The base URL probed (as given). */
  baseUrl: string;
  probes: ProbeRecord[];
}

export interface DetectOptions {
  /** The OpenAI-compatible base URL, e.g. `http://127.0.0.1:8000/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …` when given. */
  apiKey?: string | undefined;
  headers?: Readonly<Record<string, string>> | undefined;
  /** Overall time for all probes, in ms (default 2000). */
  timeoutMs?: number | undefined;
  /** Largest body read per probe, in bytes (default 64 KiB; `/metrics` up to 4 times that). */
  maxBodyBytes?: number | undefined;
  /** Replaces the HTTP client (tests). */
  fetch?: typeof fetch | undefined;
  signal?: AbortSignal | undefined;
}

export const DEFAULT_DETECT_TIMEOUT_MS = 2_000;
const DEFAULT_MAX_BODY = 64 << 10;

/** The base URL without its `/v1` (and without `/chat/completions`): where the native endpoints live. */
export function serverOrigin(baseUrl: string): string {
  const url = new URL(chatCompletionsUrl(baseUrl));
  const path = url.pathname.replace(/\/chat\/completions$/, '').replace(/\/v1$/, '');
  return `${url.origin}${path}`;
}

let defaultFetch: typeof fetch | undefined;

/** The first `maxBytes` of a body as text (the rest is not read; the body is cancelled). */
async function readHead(
  res: Response,
  maxBytes: number,
  enough?: (text: string) => boolean,
): Promise<string> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let size = 0;
  let ended = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      const room = maxBytes - size;
      const piece = value.length > room ? value.subarray(0, room) : value;
      size += piece.length;
      text += decoder.decode(piece, { stream: true });
      if (size >= maxBytes || enough?.(text)) break;
    }
  } finally {
    if (!ended) await reader.cancel().catch(() => undefined);
  }
  return text;
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function failureNote(err: unknown, timedOut: boolean): string {
  if (timedOut) return 'timed out';
  const e = err as { code?: unknown; cause?: { code?: unknown }; message?: unknown };
  const code =
    typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  return code ?? (typeof e?.message === 'string' ? e.message : String(err));
}

type Reader = (res: Response, max: number) => Promise<{ matched: boolean; note: string }>;

const VERSION_READER: Reader = async (res, max) => {
  const body = jsonObject(await readHead(res, max));
  const version = body?.version;
  return typeof version === 'string' && version !== ''
    ? { matched: true, note: `answered {"version": ${JSON.stringify(version.slice(0, 40))}}` }
    : { matched: false, note: 'answered, but not {"version": …}' };
};

const PROPS_KEYS = ['default_generation_settings', 'build_info', 'chat_template'];
const SGLANG_KEYS = ['internal_states', 'model_path', 'tp_size', 'server_args'];

function keysReader(keys: readonly string[], what: string): Reader {
  return async (res, max) => {
    const body = jsonObject(await readHead(res, max));
    const found = body === undefined ? [] : keys.filter((k) => k in body);
    return found.length > 0
      ? { matched: true, note: `answered with ${found.slice(0, 2).join(' and ')}` }
      : { matched: false, note: `answered, but not with ${what}` };
  };
}

const VLLM_METRIC = /^(?:# (?:HELP|TYPE) )?vllm:/m;

const METRICS_READER: Reader = async (res, max) => {
  const text = await readHead(res, max * 4, (t) => VLLM_METRIC.test(t));
  return VLLM_METRIC.test(text)
    ? { matched: true, note: 'has vllm: metrics' }
    : { matched: false, note: 'answered, but with no vllm: metrics' };
};

interface Probe {
  path: string;
  read: Reader;
}

const PROBES: readonly Probe[] = [
  { path: '/props', read: keysReader(PROPS_KEYS, 'llama.cpp properties') },
  { path: '/get_server_info', read: keysReader(SGLANG_KEYS, 'SGLang server arguments') },
  { path: '/server_info', read: keysReader(SGLANG_KEYS, 'SGLang server arguments') },
  { path: '/api/version', read: VERSION_READER },
  { path: '/version', read: VERSION_READER },
  { path: '/metrics', read: METRICS_READER },
];

/** Probes the server (see the module comment); never throws. */
export async function detectVendor(options: DetectOptions): Promise<Detection> {
  const { baseUrl } = options;
  let origin: string;
  try {
    origin = serverOrigin(baseUrl);
  } catch (err) {
    return {
      vendor: 'openai',
      reason: `the base URL is not usable (${(err as Error).message}), so no probe was made`,
      baseUrl,
      probes: [],
    };
  }
  if (new URL(origin).hostname === 'api.openai.com') {
    return {
      vendor: 'openai',
      reason: 'api.openai.com is the hosted OpenAI API (not probed)',
      baseUrl,
      probes: [],
    };
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_DETECT_TIMEOUT_MS;
  const max = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  if (options.fetch === undefined && defaultFetch === undefined)
    defaultFetch = createNodeFetch({ maxSockets: 8 });
  const fetchImpl = options.fetch ?? (defaultFetch as typeof fetch);
  const headers: Record<string, string> = { accept: 'application/json, text/plain', ...options.headers };
  if (options.apiKey !== undefined && options.apiKey !== '')
    headers.authorization = `Bearer ${options.apiKey}`;
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  const signal =
    options.signal === undefined ? timeout.signal : AbortSignal.any([timeout.signal, options.signal]);

  const run = async (probe: Probe): Promise<ProbeRecord> => {
    const name = `GET ${probe.path}`;
    try {
      const res = await fetchImpl(`${origin}${probe.path}`, { method: 'GET', headers, signal });
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        return { probe: name, status: res.status, matched: false, note: `HTTP ${res.status}` };
      }
      const seen = await probe.read(res, max);
      return { probe: name, status: res.status, ...seen };
    } catch (err) {
      return { probe: name, matched: false, note: failureNote(err, timeout.signal.aborted) };
    }
  };
  let probes: ProbeRecord[];
  try {
    probes = await Promise.all(PROBES.map(run));
  } finally {
    clearTimeout(timer);
  }
  const hit = (name: string) => probes.find((p) => p.probe === `GET ${name}` && p.matched);
  const verdict = (vendor: OpenAIVendor, record: ProbeRecord, also = ''): Detection => ({
    vendor,
    reason: `${record.probe} ${record.note}${also}`,
    baseUrl,
    probes,
  });
  const props = hit('/props');
  if (props !== undefined) return verdict('llamacpp', props);
  const sglang = hit('/get_server_info') ?? hit('/server_info');
  if (sglang !== undefined) return verdict('sglang', sglang);
  const ollama = hit('/api/version');
  if (ollama !== undefined) return verdict('ollama', ollama);
  const metrics = hit('/metrics');
  if (metrics !== undefined) {
    const version = hit('/version');
    return verdict('vllm', metrics, version === undefined ? '' : `; ${version.probe} ${version.note}`);
  }
  const version = hit('/version');
  // llama-server with --api-key (and proxies in front of any server) refuses its native endpoints too.
  const refused = probes.find((p) => p.status === 401 || p.status === 403);
  const keyNote =
    refused === undefined
      ? ''
      : ` (${refused.probe} answered HTTP ${refused.status}: the server wants an API key, and ${
          headers.authorization === undefined ? 'none was sent' : 'refused the one sent'
        })`;
  const why =
    version !== undefined
      ? `${version.probe} ${version.note}, but GET /metrics has no vllm: lines (as vLLM started with --disable-log-stats: then pass --vendor vllm)${keyNote}`
      : probes.every((p) => p.status === undefined)
        ? `no probe was answered (${probes[0]?.note ?? 'no probe'})`
        : `no probe answered as vLLM, SGLang, llama.cpp or Ollama do${keyNote}`;
  return {
    vendor: 'openai',
    reason: `${why}: taken as a generic OpenAI-compatible server (no continuation); pass --vendor to choose`,
    baseUrl,
    probes,
  };
}

/**
 * `detectVendor` once per base URL (and API key) within `seen`: later calls get the same promise. The
 * caller's map sets the scope (the process, one command run).
 */
export function detectVendorWithin(
  seen: Map<string, Promise<Detection>>,
  options: DetectOptions,
): Promise<Detection> {
  let key: string;
  try {
    key = `${chatCompletionsUrl(options.baseUrl)} ${options.apiKey ?? ''}`;
  } catch {
    return detectVendor(options);
  }
  let found = seen.get(key);
  if (found === undefined) {
    found = detectVendor(options);
    seen.set(key, found);
  }
  return found;
}

const detections = new Map<string, Promise<Detection>>();

/** `detectVendor`, once per process per base URL (and API key): later calls get the same promise. */
export function detectVendorOnce(options: DetectOptions): Promise<Detection> {
  return detectVendorWithin(detections, options);
}

/** One line for a trace or a log: `detected llamacpp at URL (GET /props answered with build_info)`. */
export function describeDetection(detection: Detection): string {
  return `detected ${detection.vendor} at ${detection.baseUrl} (${detection.reason})`;
}
