/**
 * A GET with the shape of `fetch` (a web `Response` whose body streams), on node:http and node:https: what
 * `models pull` and `data pull` download files with.
 *
 * Not the global `fetch`: Node 20's (undici 6.x; undici 7.30.3 alike) drops the last bytes of a
 * Content-Length body when the server closes the connection right after sending it and the reader is
 * slower than the network, as a download written to a disk is. Measured on loopback (2026-12-08): 39 of 40
 * reads of a 3 MB body, 2 ms between reads, failed with UND_ERR_SOCKET, some of them 38 KB short of the
 * end; node:http read all 40 whole. That is what made the models-pull full-disk test flaky.
 *
 * Not llm/node-fetch.ts either (the project's own client, for the vendor probes' many small requests): a
 * download is one long request, where node:http's maturity counts more than its cost per request.
 *
 * Redirects are followed (at most 20, as fetch does), dropping credentials on a change of origin. No
 * `accept-encoding` is sent, so a server answers with the file's own bytes and Content-Length counts them.
 * A body cut short errors the stream (never a silently short file); the signal aborts the request or the
 * body being read.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';

/** Redirects followed before giving up (fetch's limit). */
const MAX_REDIRECTS = 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Statuses whose response has no body by definition (a `Response` refuses one). */
const NULL_BODY = new Set([204, 205, 304]);
/** Request headers not carried to another origin by a redirect. */
const CREDENTIALS = ['authorization', 'cookie', 'proxy-authorization'];

export interface HttpGetInit {
  signal?: AbortSignal;
  headers?: Readonly<Record<string, string>>;
}

/** What the downloads call: `httpGet`, or a test's `fetch` (both fit). */
export type HttpGetFunction = (url: string, init: HttpGetInit) => Promise<Response>;

/** The error a body cut short or a closed connection gives: names what happened and after how many bytes. */
export class HttpBodyError extends Error {
  readonly code = 'ECONNRESET';
}

/** Sends a GET to `url`, following redirects; resolves once the final response's head is in. */
export async function httpGet(url: string | URL, init: HttpGetInit = {}): Promise<Response> {
  let current = new URL(url);
  let headers: Record<string, string> = { ...init.headers };
  for (let hop = 0; ; hop++) {
    const res = await requestOnce(current, headers, init.signal);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (REDIRECTS.has(status) && location !== undefined) {
      res.resume();
      if (hop === MAX_REDIRECTS)
        throw new Error(`more than ${MAX_REDIRECTS} redirects, the last to ${location}`);
      const next = new URL(location, current);
      if (next.origin !== current.origin) {
        headers = { ...headers };
        for (const name of Object.keys(headers)) {
          if (CREDENTIALS.includes(name.toLowerCase())) delete headers[name];
        }
      }
      current = next;
      continue;
    }
    return toResponse(res, current, init.signal);
  }
}

function requestOnce(
  url: URL,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<IncomingMessage> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new TypeError(`cannot download from a ${url.protocol} URL (http or https only)`));
  }
  if (signal?.aborted === true) return Promise.reject(signal.reason);
  const get = url.protocol === 'https:' ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(url, { headers, signal });
    req.once('response', resolve);
    req.once('error', reject);
  });
}

function toResponse(res: IncomingMessage, url: URL, signal: AbortSignal | undefined): Response {
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 599) {
    res.destroy();
    throw new Error(`${url.host} answered with the status ${status}, which is not an HTTP status`);
  }
  const init = { status, statusText: res.statusMessage ?? '', headers: headersOf(res) };
  if (NULL_BODY.has(status)) {
    res.resume();
    return new Response(null, init);
  }
  // The body is read only when asked for (backpressure down to the socket), one piece a read.
  const pieces = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let received = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await pieces.next();
          if (next.done === true) {
            controller.close();
            return;
          }
          received += next.value.length;
          controller.enqueue(next.value);
        } catch (err) {
          controller.error(bodyError(err, received, res.headers['content-length']));
        }
      },
      cancel() {
        res.destroy();
      },
    },
    { highWaterMark: 0 },
  );
  // The signal aborts the body too, not only the request: node:http stops watching it once the head is in.
  const onAbort = () => res.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  res.once('close', () => signal?.removeEventListener('abort', onAbort));
  return new Response(body, init);
}

function headersOf(res: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

/** node:http's error for a body cut short says only "aborted": this one says after how many bytes. */
function bodyError(err: unknown, received: number, expected: string | undefined): unknown {
  const cutShort =
    err instanceof Error && err.message === 'aborted' && (err as { code?: unknown }).code === 'ECONNRESET';
  if (!cutShort) return err;
  const of = expected === undefined ? '' : ` of ${expected}`;
  return new HttpBodyError(`the connection closed after ${received}${of} bytes of the body`);
}
