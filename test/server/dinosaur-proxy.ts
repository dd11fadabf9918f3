/**
 * The setup of the server tests that talk to `gtalign serve` through the official `openai` client: the
 * scripted dinosaur upstream (scripted-upstream.ts, a loopback server that replays the paper's example,
 * not a model) and a proxy in front of it, started once per test file and reset before each test.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { type ProxyApp, startProxyServer } from '../../src/server/proxy.js';
import { type OpenAIStubServer, startOpenAIStubServer, stubModel } from '../support/openai-stub-server.js';
import { dinosaurScript } from './scripted-upstream.js';

export interface DinosaurProxy {
  upstream: OpenAIStubServer;
  proxy: RunningServer & { app: ProxyApp };
  /** The official client, with the proxy's key and no retries. */
  client: OpenAI;
}

/** Registers the file's hooks; the returned object's fields are set once `beforeAll` has run. */
export function useDinosaurProxy(key: string): DinosaurProxy {
  const setup = {} as DinosaurProxy;
  beforeAll(async () => {
    setup.upstream = await startOpenAIStubServer(dinosaurScript());
    setup.proxy = await startProxyServer({
      model: stubModel(setup.upstream),
      modelName: 'gtalign-dino',
      apiKeys: [key],
      log: () => {},
    });
    setup.client = new OpenAI({ baseURL: `${setup.proxy.url}/v1`, apiKey: key, maxRetries: 0 });
  });
  afterAll(async () => {
    await setup.proxy?.close();
    await setup.upstream?.close();
  });
  beforeEach(() => {
    setup.upstream.setHandler(dinosaurScript());
    setup.upstream.requests.length = 0;
  });
  return setup;
}

/** Params with gtalign's own body field (the client passes unknown fields through). */
export function withGtalign<T extends object>(params: T, gtalign: Record<string, unknown>): T {
  return { ...params, gtalign } as T;
}
