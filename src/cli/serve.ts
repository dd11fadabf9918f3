import type { LoadedOf } from '../config/load.js';
import { group } from '../config/setting.js';
import { BACKEND } from '../config/settings/backend.js';
import { GENERATION } from '../config/settings/generation.js';
import { PROMPT_SETTINGS } from '../config/settings/prompt.js';
import {
  MAX_BACKGROUND,
  MAX_MESSAGES,
  MAX_TURNS,
  REASONING,
  STORED_RESPONSES,
  STORED_RESPONSES_DIR,
  UPSTREAM,
} from '../config/settings/serve.js';
import { SERVER_SETTINGS } from '../config/settings/server.js';
import { STEERING } from '../config/settings/steering.js';
import { rank } from '../config/source.js';
import type { ChatModel } from '../llm/types.js';
import { ConversationFolder } from '../server/conversation-folder.js';
import { startProxyServer } from '../server/proxy.js';
import { ResponseFolder } from '../server/response-folder.js';
import {
  asInputError,
  type BackendChoice,
  backendChoice,
  backendLine,
  checkEngineFlags,
  createBackend,
  loadSteering,
  openaiBackendAsGiven,
  turnFlags,
  turnOptionsOf,
} from './backend-options.js';
import { defineCommand } from './command.js';
import { InputError, UsageError } from './errors.js';
import {
  keysNote,
  listenError,
  openServerAccessLog,
  serverSetup,
  serveUntilSignal,
} from './server-options.js';
import { givenSetting, settingConflict } from './setting-conflict.js';
import { discoverUpstreamModel } from './upstream-model.js';

const SETTINGS = [
  UPSTREAM,
  BACKEND,
  STEERING,
  PROMPT_SETTINGS,
  GENERATION,
  group('Server', [
    ...SERVER_SETTINGS,
    REASONING,
    MAX_MESSAGES,
    STORED_RESPONSES,
    STORED_RESPONSES_DIR,
    MAX_BACKGROUND,
    MAX_TURNS,
  ]),
] as const;

/** Turns at once on the embedded engine unless --max-turns says otherwise (one runs, the others wait). */
const LOCAL_MAX_TURNS = 8;

type Settings = LoadedOf<[...typeof UPSTREAM.settings, ...typeof BACKEND.settings]>;

/**
 * The upstream: `--upstream-url URL` is `--backend openai --base-url URL`. Given together as flags they
 * are a mistake; from different sources, the later one wins.
 */
async function upstreamChoice(loaded: Settings, seed: number | undefined): Promise<BackendChoice> {
  const { values: v, sources } = loaded;
  const upstream = v['upstream-url'] === undefined ? undefined : sources['upstream-url'];
  if (upstream?.kind === 'flag') {
    if (sources['base-url'].kind === 'flag')
      throw new UsageError('--upstream-url and --base-url are the same flag');
    if (sources.backend.kind === 'flag' && v.backend !== 'openai') {
      throw new UsageError('--upstream-url goes with the openai backend');
    }
  }
  // The upstream URL chooses the server unless a later source chose the backend.
  const byUpstream = upstream !== undefined && rank(upstream) >= rank(sources.backend);
  if (!byUpstream && v.backend !== 'openai') {
    if (sources['upstream-model'].kind === 'flag') {
      // An upstream URL left aside was outranked by the backend: name what chose the engine.
      if (upstream === undefined) throw new UsageError('--upstream-model goes with --upstream-url');
      throw settingConflict(
        [givenSetting(loaded, 'backend', 'backend.kind', true)],
        (b) => `--upstream-model goes with --upstream-url, not ${b}`,
      );
    }
    return backendChoice(loaded, seed);
  }
  checkEngineFlags(
    loaded,
    byUpstream
      ? givenSetting(loaded, 'upstream-url', 'serve.upstreamUrl', true)
      : givenSetting(loaded, 'backend', 'backend.kind', true),
  );
  const baseUrl =
    upstream !== undefined && rank(upstream) >= rank(sources['base-url'])
      ? v['upstream-url']
      : sources['base-url'].kind === 'default'
        ? undefined
        : v['base-url'];
  if (baseUrl === undefined) {
    const what = openaiBackendAsGiven(sources.backend);
    throw settingConflict(
      [givenSetting(loaded, 'backend', 'backend.kind')],
      () => `${what} needs the upstream: --upstream-url URL`,
    );
  }
  // $GTALIGN_MODEL names a local file, never the upstream's model.
  const model =
    v['upstream-model'] ??
    (sources.model.kind === 'env' ? undefined : v.model) ??
    (await discoverUpstreamModel(baseUrl, v['api-key']));
  const values = { ...v, backend: 'openai' as const, 'base-url': baseUrl, model };
  return backendChoice({ values, sources: { ...sources, model: { kind: 'flag' } } }, seed);
}

export const serveCommand = defineCommand({
  name: 'serve',
  usage: `Usage: gtalign serve --upstream-url URL [--upstream-model NAME] [options]
       gtalign serve [--backend local --model FILE.gguf] [options]`,
  about: `An OpenAI-compatible chat endpoint that runs every request as a GTAlign turn: existing OpenAI-client
code gets GTAlign behaviour by changing its base URL to http://HOST:PORT/v1.

Endpoints:
  POST /v1/chat/completions  JSON or SSE (stream: true). The reply is the <response> text; a top-level
                             "gtalign" object (in the last chunk when streaming) holds action, cell,
                             matrix_before, matrix_after, policy and the tokens of each stage.
  POST /v1/responses         the Responses API over the same turn (JSON or SSE); a finished response is
                             kept for previous_response_id (unless store: false)
  GET, DELETE /v1/responses/ID  a kept response as it was sent, or forget it
  /v1/conversations[/ID[/items[/ITEM]]]  conversation objects (the Conversations API); a response with
                             "conversation" reads it first and adds its exchange to it
  GET  /v1/models, /healthz, /metrics (Prometheus)

Per request (body field "gtalign", or headers for clients that cannot add fields):
  "gtalign": {"policy": NAME|{...}}     x-gtalign-policy: NAME or a JSON object
  "gtalign": {"analysis": "solver"}     x-gtalign-analysis: model|solver
  "gtalign": {"reasoning": MODE}        x-gtalign-reasoning: none|full|separate (see --reasoning)
A request never names a policy file; presets and inline objects only.`,
  notes: `Limits: a request's max_tokens may lower the per-stage token limit, never raise it.
Exit codes: 0 stopped by SIGINT/SIGTERM, 1 a model, policy or upstream problem at start, 2 bad usage.`,
  settings: SETTINGS,
  async run(loaded, ctx) {
    const { values } = loaded;
    const server = serverSetup(loaded, ctx.env);
    const turn = turnFlags(loaded);
    let model: ChatModel | undefined;
    let accessLog: Awaited<ReturnType<typeof openServerAccessLog>> | undefined;
    try {
      accessLog = await openServerAccessLog(server, ctx);
      const steering = await loadSteering(turn);
      const choice = await upstreamChoice(loaded, turn.seed);
      const backend = await createBackend(choice, ctx.env, { timeoutMs: values['upstream-timeout'] });
      model = backend.model;
      // The proxy plays the default game: it takes no game spec.
      const { spec: _spec, ...turnOptions } = turnOptionsOf(turn, steering);
      const dir = values['stored-responses-dir'];
      let responseFolder: ResponseFolder | undefined;
      let conversationFolder: ConversationFolder | undefined;
      if (dir !== undefined) {
        const log = (line: string) => ctx.stderr.write(`${line}\n`);
        try {
          responseFolder = await ResponseFolder.open(dir, { maxResponses: values['stored-responses'], log });
          conversationFolder = await ConversationFolder.open(dir, { log });
        } catch (err) {
          throw new InputError(`--stored-responses-dir ${dir}: cannot use it: ${(err as Error).message}`);
        }
      }
      const running = await startProxyServer({
        model,
        ...(values['served-model-name'] === undefined ? {} : { modelName: values['served-model-name'] }),
        ...turnOptions,
        reasoning: values.reasoning,
        apiKeys: server.apiKeys,
        limits: {
          maxMessages: values['max-messages'],
          maxBodyBytes: server.maxBodyBytes,
          maxStoredResponses: values['stored-responses'],
          maxBackgroundResponses: values['max-background'],
          // The embedded engine runs one turn at a time: a few may wait, more get a quick 429.
          ...(values['max-turns'] !== undefined
            ? { maxActiveTurns: values['max-turns'] }
            : choice.kind === 'local'
              ? { maxActiveTurns: LOCAL_MAX_TURNS }
              : {}),
        },
        ...(responseFolder === undefined ? {} : { responseFolder }),
        ...(conversationFolder === undefined ? {} : { conversationFolder }),
        upstreamTimeoutMs: values['upstream-timeout'],
        ...(accessLog === undefined ? {} : { accessLog }),
        host: server.host,
        port: server.port,
      });
      ctx.stderr.write(
        `gtalign serve: listening on ${running.url}/v1 (model ${model.id}, policy ${steering.policy.name ?? steering.policy.kind}, ` +
          `analysis ${turn.analysis}, ${keysNote(server)})\n` +
          `gtalign serve: ${backendLine(backend.description)}\n`,
      );
      return await serveUntilSignal(running, 'gtalign serve', ctx.stderr, accessLog);
    } catch (err) {
      throw asInputError(listenError(err, server));
    } finally {
      await accessLog?.close();
      await model?.close();
    }
  },
});
