/**
 * A lean HTTP/1.1 client over node:net and node:tls, with keep-alive connection pools: what the chat
 * transport sends its requests with. A judge at hundreds of calls in flight spends its CPU in the HTTP
 * layer, and node:http (a ClientRequest, an IncomingMessage and their listeners per request) under a fetch
 * `Response` (a ReadableStream and Headers per request) cost several times what one exchange needs
 * (bench/reward.ts).
 *
 * - A request is one write (head and string body together), with Nagle off. Its head is prepared once per
 *   URL and method ({@link requestTemplate}), its header names and values checked as node:http checks them.
 * - A response is parsed straight off the socket's bytes: the status line and headers (at most 16 KiB, as
 *   node:http allows), informational (1xx) answers skipped, then a body framed by Content-Length, by the
 *   chunked transfer coding, or by the end of the connection.
 * - The body is pulled piece by piece (`read`) with backpressure: the socket pauses while 64 KiB wait
 *   unread. A connection that breaks before the body's end errors the read: a body is never silently short.
 * - `cancel`, or `abort` before the body's end, closes the connection. A connection whose response was
 *   received to its end, and that both sides keep alive, goes back to its pool; an idle one does not keep
 *   the process alive.
 * - A new connection not made (TCP, and TLS for https) within `connectTimeoutMs` (default 10 s) fails
 *   with `ETIMEDOUT`, naming the host.
 * - A server closes a kept-alive connection after a while idle (5 s for llama.cpp's and Node's servers),
 *   and a request written as it does so is lost. So a connection idle for {@link IDLE_REUSE_MS} (or for
 *   less than the server's `Keep-Alive: timeout=N`) is not reused, and an idempotent request (GET, HEAD…)
 *   that a reused connection closed on before any byte of the answer is sent once more, on a new one.
 */
import net from 'node:net';
import tls from 'node:tls';

/** Most bytes of a response's status line and headers (node:http's default). */
export const MAX_RESPONSE_HEAD_BYTES = 16 << 10;
/** Unread body bytes at which the socket is paused. */
const HIGH_WATER = 64 << 10;
/** Longest chunk-size line of a chunked body (hex digits and extensions). */
const MAX_CHUNK_LINE = 4096;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What node:http refuses in a header value: controls other than tab, DEL, and characters past Latin-1. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Methods that send no body unless given one (no `content-length: 0`), as node:http does. */
const BODILESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);
/** The headers of an exchange whose response head is not in yet. */
const NO_FIELDS: ReadonlyMap<string, string> = new Map();
/** Longest idle time after which a kept-alive connection is still reused (undici's default too). */
export const IDLE_REUSE_MS = 4000;
/** Methods whose request may be sent again when it provably got no answer (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Headers this client writes itself. */
const OWN_HEADERS = new Set(['content-length', 'transfer-encoding']);

/** An error of the connection or of the answer's HTTP framing, with a `code` as node:http would give. */
export class HttpProtocolError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'HttpProtocolError';
  }
}

/** A URL, method and headers turned once into what every request to them writes. */
export interface RequestTemplate {
  readonly method: string;
  /** `host:port` as a message names it. */
  readonly authority: string;
  readonly secure: boolean;
  /** The host to connect to (an IPv6 address without brackets). */
  readonly host: string;
  readonly port: number;
  /** The request line and headers, each ending with CRLF, without the blank line. */
  readonly head: string;
  readonly poolKey: string;
}

/**
 * Checks and prepares a request's head. Throws a TypeError naming what is wrong: a URL that is not http(s),
 * a method or header name that is not an HTTP token, a header value with a line break or other control.
 */
export function requestTemplate(
  url: string | URL,
  method: string,
  headers: Readonly<Record<string, string>>,
): RequestTemplate {
  const u = typeof url === 'string' ? new URL(url) : url;
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TypeError(`unsupported protocol in ${u.href}`);
  }
  if (!TOKEN.test(method)) throw new TypeError(`invalid HTTP method ${JSON.stringify(method)}`);
  const secure = u.protocol === 'https:';
  const port = u.port === '' ? (secure ? 443 : 80) : Number(u.port);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  let head = `${method} ${u.pathname}${u.search} HTTP/1.1\r\n`;
  let hostGiven = false;
  let lines = '';
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (!TOKEN.test(name)) throw new TypeError(`invalid HTTP header name ${JSON.stringify(rawName)}`);
    if (BAD_VALUE.test(value)) {
      throw new TypeError(`invalid character in the value of the HTTP header ${JSON.stringify(rawName)}`);
    }
    if (OWN_HEADERS.has(name)) continue;
    if (name === 'host') hostGiven = true;
    lines += `${rawName}: ${value}\r\n`;
  }
  // The Host header first, as node:http writes it (the port only when not the protocol's default).
  if (!hostGiven) head += `host: ${u.host}\r\n`;
  head += lines;
  // Credentials in the URL become Basic authorization, as node:http sends them.
  if ((u.username !== '' || u.password !== '') && !('authorization' in lowerKeys(headers))) {
    const credentials = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
    head += `authorization: Basic ${Buffer.from(credentials).toString('base64')}\r\n`;
  }
  return {
    method,
    authority: u.host,
    secure,
    host,
    port,
    head,
    poolKey: `${u.protocol}//${u.host}`,
  };
}

function lowerKeys(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

export interface HttpClientOptions {
  /** Connections kept per host, busy and idle together (default no limit). */
  maxSockets?: number;
  /**
   * Longest wait for a new connection to be made, TLS handshake included, in ms (default
   * {@link DEFAULT_CONNECT_TIMEOUT_MS}). An unreachable host otherwise takes the system's TCP timeout
   * (two minutes on Linux) for each attempt.
   */
  connectTimeoutMs?: number;
}

/** undici's default too. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface HttpClient {
  /** Sends a request; its answer arrives on the returned exchange. A string body is sent as UTF-8. */
  send(template: RequestTemplate, body?: string | Uint8Array, onSettled?: () => void): HttpExchange;
  /** Closes the idle connections. */
  closeIdle(): void;
}

/** Where an exchange is (in this order: `phase < Phase.Received` means more bytes are expected). */
const Phase = {
  Waiting: 0,
  Head: 1,
  Length: 2,
  ChunkSize: 3,
  ChunkData: 4,
  ChunkDataEnd: 5,
  Trailers: 6,
  UntilClose: 7,
  /** The whole response was received (some of it may still wait in the queue). */
  Received: 8,
  /** Failed, aborted or cancelled: no more bytes will come. */
  Over: 9,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/**
 * One request and its response. `head` resolves once the status and headers are in (or rejects); then
 * `read` gives the body. A class, not closures: a judge makes thousands of requests a second.
 */
export class HttpExchange {
  status = 0;
  statusText = '';
  /**
   * Response headers by name in lower case; a repeated header's values joined by `, `. A Map: header
   * names cut from the bytes are new strings each time, which an object would have to intern to use as
   * keys (a third of reading a response's head).
   */
  private fields: ReadonlyMap<string, string> = NO_FIELDS;
  private fieldRecord: Record<string, string> | undefined;
  readonly head: Promise<void>;
  private resolveHead!: () => void;
  private rejectHead!: (err: unknown) => void;
  conn: Connection | undefined;
  private phase: Phase = Phase.Waiting;
  private headText = '';
  private line = '';
  private remaining = 0;
  private reusable = true;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private waiter: { resolve: (b: Buffer | undefined) => void; reject: (err: unknown) => void } | undefined;
  private failure: unknown;
  private failed = false;
  private settled = false;
  /** Whether any byte of the answer came. */
  private answered = false;
  /** An idempotent request not yet sent again (see the module comment). */
  replayable: boolean;

  constructor(
    readonly template: RequestTemplate,
    /** The request's bytes until they are written (then let go: the answer may take long). */
    public payload: Buffer | undefined,
    private readonly onSettled: (() => void) | undefined,
  ) {
    this.head = new Promise<void>((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    // A rejection nobody awaits (the caller left after an abort) must not be an unhandled one.
    this.head.catch(noop);
    this.replayable = IDEMPOTENT.has(template.method);
  }

  /** False for an answer that has no body by its framing (to a HEAD request, a 204 or a 304). */
  hasBody = true;
  /** The pool whose queue holds this exchange while it waits for a connection. */
  queuedIn: Pool | undefined;

  /** Response headers, names in lower case; a repeated header's values joined by `, ` (made when asked for). */
  get headers(): Record<string, string> {
    this.fieldRecord ??= Object.fromEntries(this.fields);
    return this.fieldRecord;
  }

  /** A response header (name in lower case), or null. */
  header(name: string): string | null {
    return this.fields.get(name) ?? null;
  }

  /** The next piece of the body, or undefined at its end; rejects when the body cannot be had whole. */
  read(): Promise<Buffer | undefined> {
    const next = this.queue.shift();
    if (next !== undefined) {
      this.queued -= next.length;
      if (this.queued < HIGH_WATER && this.conn !== undefined) this.conn.socket.resume();
      return Promise.resolve(next);
    }
    if (this.failed) return Promise.reject(this.failure);
    if (this.phase === Phase.Received || this.phase === Phase.Over) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Ends the exchange with `reason` unless the whole response is already in: the connection closes. */
  abort(reason: unknown): void {
    if (this.phase === Phase.Received || this.phase === Phase.Over) return;
    this.fail(reason);
  }

  /** Where the request is until its answer's headers are in, in words (for a timeout's message). */
  progress(): string {
    if (this.phase === Phase.Waiting) return 'waiting for a free connection (all maxSockets busy)';
    if (this.phase !== Phase.Head) return 'reading the response';
    if (this.conn?.connecting) return `connecting to ${this.template.authority}`;
    return this.answered ? 'reading the response headers' : 'waiting for the response headers';
  }

  /** The reader wants no more: closes the connection unless the response was received whole. */
  cancel(): void {
    this.queue.length = 0;
    this.queued = 0;
    if (this.phase === Phase.Received || this.phase === Phase.Over) return;
    this.phase = Phase.Over;
    this.waiter?.resolve(undefined);
    this.waiter = undefined;
    this.detach(false);
  }

  /** A pooled connection took the request. */
  started(conn: Connection): void {
    this.conn = conn;
    this.phase = Phase.Head;
  }

  fail(err: unknown): void {
    if (this.phase === Phase.Over) return;
    const beforeHead = this.phase === Phase.Head || this.phase === Phase.Waiting;
    if (this.phase === Phase.Waiting) this.queuedIn?.forget(this);
    this.phase = Phase.Over;
    this.failed = true;
    this.failure = err;
    this.queue.length = 0;
    this.queued = 0;
    if (beforeHead) this.rejectHead(err);
    else if (this.waiter !== undefined) {
      this.waiter.reject(err);
      this.waiter = undefined;
    }
    this.detach(false);
  }

  /** The peer closed the connection (cleanly or not) while this exchange had it. */
  closed(error: unknown): void {
    const conn = this.conn;
    if (this.phase === Phase.Head && !this.answered && this.replayable && conn?.reused) {
      // The server had let the kept-alive connection go: the request did not reach it. Once more, anew.
      this.replayable = false;
      this.conn = undefined;
      this.phase = Phase.Waiting;
      conn.pool.send(this, true);
      return;
    }
    if (this.phase === Phase.UntilClose && error === undefined) {
      this.received();
      this.detach(false);
      return;
    }
    if (error !== undefined) {
      this.fail(error);
      return;
    }
    const { authority } = this.template;
    this.fail(
      this.phase === Phase.Head
        ? new HttpProtocolError(`the connection to ${authority} closed before the response`, 'ECONNRESET')
        : new HttpProtocolError(`the connection to ${authority} closed mid-body`, 'ECONNRESET'),
    );
  }

  /** Bytes from the socket. */
  data(buf: Buffer): void {
    this.answered = true;
    let at = 0;
    const n = buf.length;
    while (at < n && this.phase < Phase.Received) {
      switch (this.phase) {
        case Phase.Head:
          at = this.readHead(buf, at);
          break;
        case Phase.Length:
        case Phase.ChunkData: {
          const take = Math.min(this.remaining, n - at);
          this.push(at === 0 && take === n ? buf : buf.subarray(at, at + take));
          at += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            if (this.phase === Phase.Length) this.received();
            else this.phase = Phase.ChunkDataEnd;
          }
          break;
        }
        case Phase.ChunkSize:
        case Phase.ChunkDataEnd:
        case Phase.Trailers:
          at = this.readLine(buf, at);
          break;
        default:
          this.push(at === 0 ? buf : buf.subarray(at));
          at = n;
      }
    }
    // Bytes past the response's end: the connection is out of step and cannot be used again.
    if (this.phase === Phase.Received && this.conn !== undefined) this.detach(this.reusable && at >= n);
  }

  private readHead(buf: Buffer, at: number): number {
    const before = this.headText.length;
    const room = MAX_RESPONSE_HEAD_BYTES + 4 - before;
    this.headText += buf.toString('latin1', at, Math.min(buf.length, at + room));
    // The head ends with a blank line: CRLF CRLF, or bare LFs from a lenient server, whichever comes first.
    const crlf = this.headText.indexOf('\r\n\r\n');
    const lf = this.headText.indexOf('\n\n');
    const lfFirst = lf >= 0 && (crlf < 0 || lf < crlf);
    const end = lfFirst ? lf : crlf;
    const sep = lfFirst ? 2 : 4;
    if (end < 0 || end > MAX_RESPONSE_HEAD_BYTES) {
      if (this.headText.length > MAX_RESPONSE_HEAD_BYTES) {
        this.fail(
          new HttpProtocolError(
            `the response headers from ${this.template.authority} exceed ${MAX_RESPONSE_HEAD_BYTES} bytes`,
            'HPE_HEADER_OVERFLOW',
          ),
        );
      }
      return buf.length;
    }
    const consumed = at + end + sep - before;
    const text = this.headText.slice(0, end);
    this.headText = '';
    this.parseHead(text);
    return consumed;
  }

  private parseHead(text: string): void {
    // Lines end with CRLF, or a bare LF from a lenient server (a CR not before an LF stays in the line).
    let start = 0;
    const nextLine = (): string => {
      const nl = text.indexOf('\n', start);
      const end = nl < 0 ? text.length : nl;
      const cut = nl >= 0 && end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
      const line = text.slice(start, cut);
      start = end + 1;
      return line;
    };
    const statusLine = nextLine();
    const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(statusLine);
    if (m === null) {
      this.fail(
        new HttpProtocolError(
          `${this.template.authority} answered with a malformed status line: ${JSON.stringify(statusLine.slice(0, 80))}`,
          'HPE_INVALID_CONSTANT',
        ),
      );
      return;
    }
    const status = Number(m[2]);
    const headers = new Map<string, string>();
    let last: string | undefined;
    while (start <= text.length) {
      const line = nextLine();
      const first = line.charCodeAt(0);
      if ((first === 32 || first === 9) && last !== undefined) {
        // Obsolete line folding: the line continues the previous header's value.
        headers.set(last, `${headers.get(last)} ${line.trim()}`);
        continue;
      }
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon).toLowerCase() : '';
      const value = line.slice(colon + 1).trim();
      if (!TOKEN.test(name) || BAD_VALUE.test(value)) {
        this.fail(
          new HttpProtocolError(
            `${this.template.authority} sent a malformed response header: ${JSON.stringify(line.slice(0, 80))}`,
            'HPE_INVALID_HEADER_TOKEN',
          ),
        );
        return;
      }
      const had = headers.get(name);
      headers.set(name, had === undefined ? value : `${had}, ${value}`);
      last = name;
    }
    if (status < 200) {
      if (status === 101) {
        this.fail(new HttpProtocolError(`${this.template.authority} switched protocols`, 'HPE_UPGRADE'));
      }
      // An informational answer (100 Continue, 103 Early Hints): the real one follows.
      return;
    }
    this.status = status;
    this.statusText = m[3] ?? '';
    this.fields = headers;
    this.fieldRecord = undefined;
    const connection = headers.get('connection')?.toLowerCase() ?? '';
    this.reusable =
      m[1] === '1' ? !/(?:^|,)\s*close\s*(?:,|$)/.test(connection) : /keep-alive/.test(connection);
    const te = headers.get('transfer-encoding');
    const cl = headers.get('content-length');
    if (this.template.method === 'HEAD' || status === 204 || status === 304) {
      this.hasBody = false;
      this.phase = Phase.Received;
    } else if (te !== undefined) {
      // Chunked last means chunked; any other coding is read to the end of the connection.
      if (/(?:^|,)\s*chunked\s*$/i.test(te)) this.phase = Phase.ChunkSize;
      else {
        this.phase = Phase.UntilClose;
        this.reusable = false;
      }
      // Both framings given: the message is suspect, the connection not reused.
      if (cl !== undefined) this.reusable = false;
    } else if (cl !== undefined) {
      const values = cl.split(',').map((v) => v.trim());
      const length = Number(values[0]);
      if (!values.every((v) => /^\d+$/.test(v) && v === values[0]) || !Number.isSafeInteger(length)) {
        this.fail(
          new HttpProtocolError(
            `${this.template.authority} sent an invalid Content-Length: ${JSON.stringify(cl.slice(0, 40))}`,
            'HPE_INVALID_CONTENT_LENGTH',
          ),
        );
        return;
      }
      this.remaining = length;
      this.phase = length === 0 ? Phase.Received : Phase.Length;
    } else {
      this.phase = Phase.UntilClose;
      this.reusable = false;
    }
    this.resolveHead();
  }

  /** One line of the chunked framing (size line, the CRLF after a chunk, a trailer line). */
  private readLine(buf: Buffer, at: number): number {
    const nl = buf.indexOf(10, at);
    const end = nl < 0 ? buf.length : nl;
    this.line += buf.toString('latin1', at, end);
    if (this.line.length > (this.phase === Phase.Trailers ? MAX_RESPONSE_HEAD_BYTES : MAX_CHUNK_LINE)) {
      this.badChunk();
      return buf.length;
    }
    if (nl < 0) return buf.length;
    const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
    this.line = '';
    if (this.phase === Phase.ChunkSize) {
      const size = line.split(';', 1)[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(size)) {
        this.badChunk();
        return buf.length;
      }
      this.remaining = Number.parseInt(size, 16);
      this.phase = this.remaining === 0 ? Phase.Trailers : Phase.ChunkData;
    } else if (this.phase === Phase.ChunkDataEnd) {
      if (line !== '') {
        this.badChunk();
        return buf.length;
      }
      this.phase = Phase.ChunkSize;
    } else if (line === '') {
      this.received();
    }
    return nl + 1;
  }

  private badChunk(): void {
    this.fail(
      new HttpProtocolError(
        `${this.template.authority} sent a malformed chunked body`,
        'HPE_INVALID_CHUNK_SIZE',
      ),
    );
  }

  private push(chunk: Buffer): void {
    if (this.waiter !== undefined) {
      this.waiter.resolve(chunk);
      this.waiter = undefined;
      return;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.queued >= HIGH_WATER) this.conn?.socket.pause();
  }

  /** The whole response is in (the caller hands the connection back). */
  private received(): void {
    this.phase = Phase.Received;
    if (this.waiter !== undefined) {
      this.waiter.resolve(undefined);
      this.waiter = undefined;
    }
  }

  /** Hands the connection back (to its pool, or closed) and reports the exchange settled, once. */
  private detach(reuse: boolean): void {
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined) conn.release(this, reuse);
    if (!this.settled) {
      this.settled = true;
      this.onSettled?.();
    }
  }
}

function noop(): void {}

/** One connection of a pool: at most one exchange at a time. */
class Connection {
  readonly socket: net.Socket;
  exchange: HttpExchange | undefined;
  private broken = false;
  /** Exchanges started on it so far. */
  private served = 0;
  /** When it went back to its pool, and how long it may then wait to be reused. */
  private idleSince = 0;
  private idleLimitMs = IDLE_REUSE_MS;
  /** Until the connection is made (TCP, and TLS for https): fails it when that takes too long. */
  private connectTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly pool: Pool,
    template: RequestTemplate,
  ) {
    const { host, port, authority } = template;
    this.socket = template.secure
      ? tls.connect({
          host,
          port,
          ...(net.isIP(host) === 0 ? { servername: host } : {}),
          ALPNProtocols: ['http/1.1'],
        })
      : net.connect({ host, port });
    const connectMs = pool.connectTimeoutMs;
    if (Number.isFinite(connectMs)) {
      this.connectTimer = setTimeout(() => {
        this.socket.destroy(
          new HttpProtocolError(`no connection to ${authority} within ${connectMs} ms`, 'ETIMEDOUT'),
        );
      }, connectMs);
      this.connectTimer.unref();
      this.socket.once(template.secure ? 'secureConnect' : 'connect', () => this.connected());
    }
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 1000);
    this.socket.on('data', (buf: Buffer) => {
      if (this.exchange !== undefined) this.exchange.data(buf);
      // Bytes nobody asked for: the connection is out of step.
      else this.socket.destroy();
    });
    this.socket.on('error', (err) => this.gone(err));
    this.socket.on('end', () => this.gone(undefined));
    this.socket.on('close', () => this.gone(undefined));
  }

  /** Whether the connection is still being made (TCP, and the TLS handshake for https). */
  get connecting(): boolean {
    return this.connectTimer !== undefined || this.socket.connecting;
  }

  private connected(): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  /** Whether an idle connection can take a request. */
  get usable(): boolean {
    return !this.broken && !this.socket.destroyed && this.socket.writable;
  }

  /** Whether the current exchange is not the connection's first. */
  get reused(): boolean {
    return this.served > 1;
  }

  /** Whether it has been idle too long to be reused (the server may be closing it). */
  stale(now: number): boolean {
    return now - this.idleSince >= this.idleLimitMs;
  }

  start(exchange: HttpExchange): void {
    this.exchange = exchange;
    this.served++;
    exchange.started(this);
    this.socket.ref();
    const payload = exchange.payload!;
    // Kept only for an exchange that may be sent again (a small idempotent request).
    if (!exchange.replayable) exchange.payload = undefined;
    this.socket.write(payload);
  }

  release(exchange: HttpExchange, reuse: boolean): void {
    if (this.exchange !== exchange) return;
    this.exchange = undefined;
    if (reuse && this.usable) {
      // `Keep-Alive: timeout=N`: the server closes it after N s idle; leave it a margin of half a second.
      const announced = /(?:^|,)\s*timeout=(\d+)/i.exec(exchange.header('keep-alive') ?? '');
      if (announced !== null) this.idleLimitMs = Math.min(IDLE_REUSE_MS, Number(announced[1]) * 1000 - 500);
      this.idleSince = performance.now();
      this.socket.resume();
      this.socket.unref();
      this.pool.idle(this);
    } else {
      this.broken = true;
      this.socket.destroy();
    }
  }

  /** The socket ended, failed or closed (several of these come for one connection). */
  private gone(error: unknown): void {
    this.connected();
    this.broken = true;
    const exchange = this.exchange;
    this.exchange = undefined;
    if (exchange !== undefined) exchange.closed(error);
    if (!this.socket.destroyed) this.socket.destroy();
    this.pool.closed(this);
  }
}

/** The connections to one origin. */
class Pool {
  private readonly free: Connection[] = [];
  private readonly waiting: HttpExchange[] = [];
  private open = 0;
  private readonly live = new Set<Connection>();

  constructor(
    private readonly maxSockets: number,
    readonly connectTimeoutMs: number,
  ) {}

  /** Starts `exchange` on a free connection, a new one, or queues it; `fresh`: never on a kept-alive one. */
  send(exchange: HttpExchange, fresh = false): void {
    const now = performance.now();
    for (;;) {
      const conn = fresh ? undefined : this.free.pop();
      if (conn === undefined) break;
      if (conn.usable && !conn.stale(now)) {
        conn.start(exchange);
        return;
      }
      // Closed from here: its 'close' takes it off the counts.
      if (conn.usable) conn.socket.destroy();
    }
    if (this.open < this.maxSockets) {
      this.open++;
      const conn = new Connection(this, exchange.template);
      this.live.add(conn);
      conn.start(exchange);
      return;
    }
    exchange.queuedIn = this;
    this.waiting.push(exchange);
  }

  /** An exchange that waited for a connection and was aborted. */
  forget(exchange: HttpExchange): void {
    const i = this.waiting.indexOf(exchange);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  idle(conn: Connection): void {
    const next = this.waiting.shift();
    if (next !== undefined) {
      next.queuedIn = undefined;
      conn.start(next);
      return;
    }
    this.free.push(conn);
  }

  closed(conn: Connection): void {
    if (!this.live.delete(conn)) return;
    this.open--;
    const i = this.free.indexOf(conn);
    if (i >= 0) this.free.splice(i, 1);
    const next = this.waiting.shift();
    if (next !== undefined) {
      next.queuedIn = undefined;
      this.send(next);
    }
  }

  closeIdle(): void {
    for (const conn of this.free.splice(0)) conn.socket.destroy();
  }
}

/**
 * The request's bytes: the head (Latin-1, as node:http writes headers) and the body (a string encoded as
 * UTF-8) in one buffer, outside the JS heap (joining them as a string would copy KiBs there for each request).
 */
function payloadOf(template: RequestTemplate, body: string | Uint8Array | undefined): Buffer {
  const size = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  let head = template.head;
  if (body !== undefined) head += `content-length: ${size}\r\n`;
  else if (!BODILESS.has(template.method)) head += 'content-length: 0\r\n';
  head += '\r\n';
  const bytes = Buffer.allocUnsafe(head.length + size);
  bytes.write(head, 0, 'latin1');
  if (typeof body === 'string') bytes.write(body, head.length, 'utf8');
  else if (body !== undefined) bytes.set(body, head.length);
  return bytes;
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const maxSockets = options.maxSockets ?? Number.POSITIVE_INFINITY;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const pools = new Map<string, Pool>();
  return {
    send(template, body, onSettled) {
      const exchange = new HttpExchange(template, payloadOf(template, body), onSettled);
      let pool = pools.get(template.poolKey);
      if (pool === undefined) {
        pool = new Pool(maxSockets, connectTimeoutMs);
        pools.set(template.poolKey, pool);
      }
      pool.send(exchange);
      return exchange;
    },
    closeIdle() {
      for (const pool of pools.values()) pool.closeIdle();
    },
  };
}
