/**
 * A small `fetch` over node:http(s) with keep-alive connection pools, the default of the chat transport.
 * On loopback it makes several times the requests per second of Node 20's built-in fetch (undici), which
 * is what bounds a judge at hundreds of calls in flight (see bench/reward.ts).
 *
 * It supports what the transport uses: method, headers, a string body and an AbortSignal. The answer is
 * a standard `Response` as soon as the headers arrive; its body streams (with backpressure), so the
 * reader decides how much to take: the transport reads a JSON body up to a limit and SSE events one by
 * one. Cancelling the body, or aborting the signal before the body ended, closes the connection; a body
 * read to its end leaves the connection in the pool.
 */
import http from 'node:http';
import https from 'node:https';

export interface NodeFetchOptions {
  /** Connections kept per host (default 256). */
  maxSockets?: number;
}

// Statuses whose Response must have no body.
const NULL_BODY = new Set([101, 204, 205, 304]);

function responseHeaders(raw: http.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(raw)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

export function createNodeFetch(options: NodeFetchOptions = {}): typeof fetch {
  const maxSockets = options.maxSockets ?? 256;
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets }),
    'https:': new https.Agent({ keepAlive: true, maxSockets }),
  };
  const nodeFetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const signal = init.signal ?? undefined;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return Promise.reject(new TypeError(`unsupported protocol in ${url.href}`));
    }
    if (init.body !== undefined && init.body !== null && typeof init.body !== 'string') {
      return Promise.reject(new TypeError('this fetch sends string bodies only'));
    }
    const body = (init.body as string | null | undefined) ?? undefined;
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const secure = url.protocol === 'https:';
      const onAbort = (): void => {
        fail(signal?.reason);
        request.destroy();
      };
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      // Until the response is handed out, a failure rejects; from then on it errors the body.
      let fail = (err: unknown): void => {
        done();
        reject(err);
      };
      const request = (secure ? https : http).request(
        url,
        { method: init.method ?? 'GET', headers, agent: secure ? agents['https:'] : agents['http:'] },
        (res) => {
          const status = res.statusCode ?? 500;
          const head = { status, statusText: res.statusMessage ?? '', headers: responseHeaders(res.headers) };
          if (NULL_BODY.has(status)) {
            res.resume();
            res.once('end', done);
            resolve(new Response(null, head));
            return;
          }
          let settled = false;
          const stream = new ReadableStream<Uint8Array>({
            start(controller) {
              fail = (err) => {
                if (settled) return;
                settled = true;
                done();
                controller.error(err);
              };
              res.on('data', (chunk: Buffer) => {
                if (settled) return;
                controller.enqueue(chunk);
                // Backpressure: stop reading the socket until the reader asks for more.
                if ((controller.desiredSize ?? 0) <= 0) res.pause();
              });
              res.once('end', () => {
                if (settled) return;
                settled = true;
                done();
                controller.close();
              });
              res.once('error', (err) => fail(err));
              // A connection cut mid-body ends neither with 'end' nor always with 'error'.
              res.once('close', () => {
                if (!res.complete) fail(new Error(`the connection to ${url.host} closed mid-body`));
              });
            },
            pull() {
              res.resume();
            },
            cancel() {
              settled = true;
              done();
              request.destroy();
            },
          });
          resolve(new Response(stream, head));
        },
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      request.on('error', (err) => {
        fail(err);
      });
      request.end(body);
    });
  };
  return nodeFetch as typeof fetch;
}
