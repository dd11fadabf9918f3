/**
 * Answering a request whose body the server will not read (too large, no key, wrong content type, no such
 * route) so that every client gets to read the answer.
 *
 * A TCP connection closed while the peer's data is still arriving, or still unread on our side, is reset,
 * and a reset makes the peer's kernel drop what the peer has not read yet: our answer. Node closes the
 * connection right after the response when the request said `Connection: close` or was HTTP/1.0. Clients
 * that send the whole body before they read (Python's http.client and urllib, so the verl adapter) then
 * report "Broken pipe" instead of the status. So the answer is written in full at once, with `Connection:
 * close`, and the response is ended (which lets Node close the connection) only once the rest of the body
 * has been read and thrown away, or after {@link REFUSED_BODY_MAX_BYTES} or {@link REFUSED_BODY_MAX_MS},
 * whichever comes first. Past those bounds the connection is closed anyway: a client that reads while it
 * sends (curl, fetch) has had the answer for a while by then.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpError } from './errors.js';

/** Most bytes of a refused body read and discarded: four times the reward server's default body limit. */
export const REFUSED_BODY_MAX_BYTES = 256 << 20;

/** Longest time a refused body is read and discarded before the connection is closed. */
export const REFUSED_BODY_MAX_MS = 10_000;

/** Whether a request declares a body (a GET without one may keep its connection after an error). */
export function declaresBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** Sends `err` as the response to a request whose body is not (all) read, then drains the body. */
export function sendRefusal(req: IncomingMessage, res: ServerResponse, err: HttpError): void {
  const body = JSON.stringify(err.body());
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...err.headers,
    connection: 'close',
  });
  res.write(body);
  let drained = 0;
  const onData = (chunk: Buffer): void => {
    drained += chunk.length;
    if (drained > REFUSED_BODY_MAX_BYTES) finish();
  };
  const finish = (): void => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', finish);
    res.off('close', finish);
    if (!res.writableEnded && !res.destroyed) res.end();
  };
  const timer = setTimeout(finish, REFUSED_BODY_MAX_MS);
  timer.unref();
  req.on('data', onData);
  req.once('end', finish);
  res.once('close', finish);
  if (req.readableEnded) finish();
  else req.resume();
}
