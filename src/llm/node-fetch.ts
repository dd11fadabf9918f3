/**
 * A small `fetch` over the keep-alive HTTP/1.1 client of http-client.ts, for callers that want the fetch
 * interface (the vendor probes of detect.ts); the chat transport uses the client directly. On loopback it
 * makes several times the requests per second of Node 20's built-in fetch (undici).
 *
 * It supports what its callers use: method, headers, a string body and an AbortSignal. The answer is a
 * standard `Response` as soon as the headers arrive; its body streams (with backpressure), so the reader
 * decides how much to take. Cancelling the body, or aborting the signal before the body ended, closes the
 * connection; a body read to its end leaves the connection in the pool.
 */
import { createHttpClient, requestTemplate } from './http-client.js';

export interface NodeFetchOptions {
  /** Connections kept per host (default 256). */
  maxSockets?: number;
}

export function createNodeFetch(options: NodeFetchOptions = {}): typeof fetch {
  const client = createHttpClient({ maxSockets: options.maxSockets ?? 256 });
  const nodeFetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const signal = init.signal ?? undefined;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`unsupported protocol in ${url.href}`);
    }
    if (init.body !== undefined && init.body !== null && typeof init.body !== 'string') {
      throw new TypeError('this fetch sends string bodies only');
    }
    const body = (init.body as string | null | undefined) ?? undefined;
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    const template = requestTemplate(url, init.method ?? 'GET', headers);
    if (signal?.aborted) throw signal.reason;
    const onAbort = (): void => exchange.abort(signal?.reason);
    const exchange = client.send(template, body, () => signal?.removeEventListener('abort', onAbort));
    signal?.addEventListener('abort', onAbort, { once: true });
    await exchange.head;
    const head = {
      status: exchange.status,
      statusText: exchange.statusText,
      headers: new Headers(exchange.headers),
    };
    if (!exchange.hasBody) return new Response(null, head);
    const stream = new ReadableStream<Uint8Array>(
      {
        // Read from the socket only as the reader asks (backpressure).
        async pull(controller) {
          const chunk = await exchange.read();
          if (chunk === undefined) controller.close();
          else controller.enqueue(chunk);
        },
        cancel() {
          exchange.cancel();
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(stream, head);
  };
  return nodeFetch as typeof fetch;
}
