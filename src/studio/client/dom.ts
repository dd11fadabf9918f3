/// <reference lib="dom" />
/**
 * The studio page's small toolkit: element building, the API client (the access token from the page's
 * URL as a bearer key), Server-Sent Events over fetch, and number formatting.
 */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** Creates an element: `on*` attributes become listeners, `true` booleans bare attributes, null/false none. */
export function h(tag: string, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s(
  tag: string,
  attrs: Record<string, string | number> = {},
  ...children: (Node | string)[]
): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  el.append(...children);
  return el;
}

const TOKEN_KEY = 'gtalign-studio-token';

/** The access token: from `?token=` in the page's URL (kept for the tab's later pages). */
export function token(): string {
  const fromUrl = new URLSearchParams(location.search).get('token');
  if (fromUrl !== null) sessionStorage.setItem(TOKEN_KEY, fromUrl);
  return fromUrl ?? sessionStorage.getItem(TOKEN_KEY) ?? '';
}

function errorText(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } };
    if (parsed.error?.message !== undefined) return parsed.error.message;
  } catch {
    // not JSON
  }
  return `HTTP ${status}: ${body.slice(0, 300)}`;
}

/**
 * `fetch` whose network failure names the studio: the browser's own words ("Failed to fetch") do not say
 * that the studio stopped or the connection dropped, nor that nothing was saved.
 */
async function reach(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, init);
  } catch {
    throw new Error(
      `cannot reach the studio at ${location.origin} (has it stopped?); ${init.method === 'POST' ? 'this may not have been saved: reload the page once the studio is back, it shows what was' : 'reload the page once it is back'}`,
    );
  }
}

export async function api<T>(path: string, body?: unknown): Promise<T> {
  const res = await reach(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token()}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(errorText(res.status, text));
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** Downloads text from the API as a file. */
export async function download(path: string, filename: string): Promise<void> {
  const res = await reach(path, { headers: { authorization: `Bearer ${token()}` } });
  if (!res.ok) throw new Error(errorText(res.status, await res.text()));
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** POSTs JSON and reads the reply as Server-Sent Events, calling `onEvent` for each. */
export async function sse(
  path: string,
  body: unknown,
  onEvent: (event: string, data: unknown) => void,
): Promise<void> {
  const res = await reach(path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok || res.body === null) throw new Error(errorText(res.status, await res.text()));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) onEvent(event, JSON.parse(data.join('\n')));
    }
  }
}

/** A number for tables: up to `digits` decimals, `–` for null/NaN. */
export function fmt(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  return String(Number(x.toFixed(digits)));
}

export interface IntervalJson {
  estimate: number | null;
  low: number | null;
  high: number | null;
  n: number;
}

/** `0.512 [0.47, 0.55]` */
export function fmtCI(i: IntervalJson | undefined, digits = 3): string {
  if (i === undefined || i.estimate === null) return '–';
  return `${fmt(i.estimate, digits)} [${fmt(i.low, digits)}, ${fmt(i.high, digits)}]`;
}

/** A labelled control: `<label for=id>text</label>` followed by the control. */
export function labelled(text: string, control: HTMLElement): HTMLElement {
  return h('div', { class: 'field' }, h('label', { for: control.id }, text), control);
}

export function select(
  id: string,
  options: readonly (string | [string, string])[],
  value: string,
): HTMLSelectElement {
  const el = h('select', { id, name: id }) as HTMLSelectElement;
  for (const o of options) {
    const [v, text] = typeof o === 'string' ? [o, o] : o;
    el.append(h('option', { value: v, selected: v === value }, text));
  }
  el.value = value;
  return el;
}

/** Shows an error in the page (an alert region), or clears it with `undefined`. */
export function showError(region: HTMLElement, err: unknown): void {
  region.textContent = err === undefined ? '' : err instanceof Error ? err.message : String(err);
}
