/** The model backend: the embedded engine with a GGUF file, or an OpenAI-compatible server. */
import type { OpenAIVendor } from '../../llm/openai.js';
import { group, setting } from '../setting.js';
import { boolean, httpUrl, integer, oneOf, positiveInt, text } from '../value-types.js';

export const VENDORS: readonly OpenAIVendor[] = ['vllm', 'sglang', 'llamacpp', 'ollama', 'openai'];

/** `auto` probes the server once (see src/llm/detect.ts); a named vendor skips the probe. */
export const VENDOR_CHOICES: readonly (OpenAIVendor | 'auto')[] = ['auto', ...VENDORS];

export const BACKEND_KIND = setting({
  name: 'backend',
  key: 'backend.kind',
  type: oneOf(['local', 'openai']),
  default: 'local',
  env: ['GTALIGN_BACKEND'],
  arg: 'local|openai',
  help: 'local GGUF model in-process, or an OpenAI-compatible server',
});

export const MODEL = setting({
  name: 'model',
  key: 'backend.model',
  type: text(),
  env: ['GTALIGN_MODEL'],
  // A server's model is named by its own flag or key; serve's --upstream-url also means a server.
  envWhen: (valueAt) => valueAt('backend.kind') !== 'openai' && valueAt('serve.upstreamUrl') === undefined,
  arg: 'PATH|NAME',
  help:
    "local: a GGUF file (else the one 'gtalign models pull' put in the cache folder);\n" +
    "openai: the served model's name (required; not taken from $GTALIGN_MODEL)",
});

export const BASE_URL = setting({
  name: 'base-url',
  key: 'backend.baseUrl',
  type: httpUrl(),
  default: 'https://api.openai.com/v1',
  env: ['GTALIGN_BASE_URL'],
  arg: 'URL',
  help: 'openai: server URL, e.g. http://localhost:8000/v1',
});

export const VENDOR = setting({
  name: 'vendor',
  key: 'backend.vendor',
  type: oneOf(VENDOR_CHOICES),
  default: 'auto',
  env: ['GTALIGN_VENDOR'],
  arg: 'NAME',
  help:
    `openai: server kind, decides continuation and grammar support:\n${VENDOR_CHOICES.join(', ')}` +
    ' (auto: probe the server once; openai: no continuation)',
});

export const KEEP_THINKING = setting({
  name: 'keep-thinking',
  key: 'backend.keepThinking',
  type: boolean(),
  default: false,
  help:
    'openai: when continuing a turn on vllm, sglang or llamacpp, do not send\n' +
    'chat_template_kwargs {"enable_thinking": false}',
});

export const THREADS = setting({
  name: 'threads',
  key: 'backend.threads',
  type: positiveInt(),
  default: 1,
  arg: 'N',
  help: 'local: CPU threads',
});

export const GPU = setting({
  name: 'gpu',
  key: 'backend.gpu',
  type: boolean(),
  default: false,
  help: 'local: let node-llama-cpp use a GPU it has a binary for',
});

export const CONTEXT_SIZE = setting({
  name: 'context-size',
  key: 'backend.contextSize',
  // node-llama-cpp raises a smaller context to 256 tokens without a word: refused here instead.
  type: integer({ min: 256 }),
  arg: 'N',
  help: 'local: context size in tokens (at least 256)',
  defaultText: "the model's trained context, as far as free memory allows",
});

export const API_KEY = setting({
  name: 'api-key',
  key: 'backend.apiKey',
  type: text(),
  env: ['GTALIGN_API_KEY', 'OPENAI_API_KEY'],
  flag: false,
  secret: true,
  help: 'openai: the API key sent to the server (none: no Authorization header)',
});

export const BACKEND = group('Backend', [
  BACKEND_KIND,
  MODEL,
  BASE_URL,
  VENDOR,
  KEEP_THINKING,
  THREADS,
  GPU,
  CONTEXT_SIZE,
  API_KEY,
]);
