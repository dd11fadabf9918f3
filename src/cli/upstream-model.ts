/**
 * `gtalign serve --upstream-url URL` without `--upstream-model`: the first model the upstream lists at
 * `/models`. Asked with the project's own HTTP client (node-fetch.ts), as the chat calls and the vendor probes
 * are: the global fetch refuses the ports the Fetch standard blocks (6000, 6665–6669, 10080, …), where an
 * upstream the chat transport reaches would fail here alone.
 */
import { describeNetworkError } from '../llm/http.js';
import { createNodeFetch } from '../llm/node-fetch.js';
import { chatCompletionsUrl } from '../llm/openai.js';
import { InputError } from './errors.js';

export async function discoverUpstreamModel(baseUrl: string, apiKey: string | undefined): Promise<string> {
  const url = chatCompletionsUrl(baseUrl).replace(/\/chat\/completions(\?|$)/, '/models$1');
  const fetchModels = createNodeFetch({ maxSockets: 1 });
  let body: unknown;
  try {
    const res = await fetchModels(url, {
      headers: apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    // describeNetworkError: a bare "fetch failed" would hide the cause (refused, not found, …).
    throw new InputError(
      `cannot list the upstream's models at ${url} (${describeNetworkError(err)}); give --upstream-model NAME`,
    );
  }
  const id = (body as { data?: Array<{ id?: unknown }> } | undefined)?.data?.[0]?.id;
  if (typeof id !== 'string' || id === '') {
    throw new InputError(`the upstream at ${url} lists no model; give --upstream-model NAME`);
  }
  return id;
}
