/** `gtalign serve`'s own settings: the upstream server and the proxy's limits. */
import { group, setting } from '../setting.js';
import { httpUrl, integer, modelName, oneOf, path, positiveInt, text } from '../value-types.js';

export const UPSTREAM_URL = setting({
  name: 'upstream-url',
  key: 'serve.upstreamUrl',
  type: httpUrl(),
  arg: 'URL',
  help: 'an OpenAI-compatible server, e.g. http://localhost:8000/v1\n(same as --backend openai --base-url URL)',
});

export const UPSTREAM_MODEL = setting({
  name: 'upstream-model',
  key: 'serve.upstreamModel',
  type: modelName(),
  arg: 'NAME',
  help: 'its model name',
  defaultText: 'the first one its /v1/models lists',
});

export const UPSTREAM_TIMEOUT = setting({
  name: 'upstream-timeout',
  key: 'serve.upstreamTimeout',
  type: positiveInt(),
  default: 300_000,
  arg: 'MS',
  help: 'longest time one turn may take, both stages (waiting for the engine included); then 504, or 503 server_busy if it never got the engine',
});

export const SERVED_MODEL_NAME = setting({
  name: 'served-model-name',
  key: 'serve.modelName',
  type: text(),
  arg: 'NAME',
  help: 'name in /v1/models and responses',
  defaultText: 'gtalign:<backend id>',
});

export const MAX_MESSAGES = setting({
  name: 'max-messages',
  key: 'serve.maxMessages',
  type: positiveInt(),
  default: 256,
  arg: 'N',
  help: 'most messages in one request',
});

export const STORED_RESPONSES = setting({
  name: 'stored-responses',
  key: 'serve.storedResponses',
  type: integer({ min: 0, max: 1_000_000 }),
  default: 1000,
  arg: 'N',
  help: 'responses kept in memory for previous_response_id on\n/v1/responses (0: none)',
});

export const MAX_BACKGROUND = setting({
  name: 'max-background',
  key: 'serve.maxBackground',
  type: integer({ min: 0, max: 100_000 }),
  default: 64,
  arg: 'N',
  help: 'background responses (background: true) running at once;\none more is a 429 (0: none)',
});

export const MAX_TURNS = setting({
  name: 'max-turns',
  key: 'serve.maxTurns',
  type: integer({ min: 1, max: 100_000 }),
  arg: 'N',
  help:
    'turns in progress at once, waiting ones included; one more is a 429\n' +
    '(a background response waits for one instead)\n' +
    '(default: 8 with --backend local, which runs one turn at a time; else no limit)',
});

export const STORED_RESPONSES_DIR = setting({
  name: 'stored-responses-dir',
  key: 'serve.storedResponsesDir',
  type: path(),
  arg: 'DIR',
  help:
    'also keep stored responses (one file each, at most --stored-responses),\n' +
    'and keep conversation objects, in this folder: they outlive the process\n' +
    'and every process using the folder sees them (and polls, streams and\n' +
    'cancels the background responses any of them runs)',
});

export const REASONING = setting({
  name: 'reasoning',
  key: 'serve.reasoning',
  type: oneOf(['none', 'full', 'separate'] as const),
  default: 'none',
  arg: 'MODE',
  help:
    "what a reply carries of the model's reasoning when the request does not say:\n" +
    'none (the response alone), full (the whole four-block chain as the content),\n' +
    'separate (the response, and the thinking and analysis in reasoning_content,\n' +
    'streamed as they are written; on /v1/responses a reasoning item)',
});

export const UPSTREAM = group('Upstream', [
  UPSTREAM_URL,
  UPSTREAM_MODEL,
  UPSTREAM_TIMEOUT,
  SERVED_MODEL_NAME,
]);
