/** What every gtalign server takes: where it listens, its keys, its body limit. */
import { DEFAULT_HOST } from '../../server/listen.js';
import { group, setting } from '../setting.js';
import { boolean, integer, path, positiveInt, text } from '../value-types.js';

export const HOST = setting({
  name: 'host',
  key: 'server.host',
  type: text(),
  default: DEFAULT_HOST,
  env: ['GTALIGN_HOST'],
  arg: 'H',
  help: 'interface to bind (127.0.0.1: this machine only)',
});

export const PORT = setting({
  name: 'port',
  key: 'server.port',
  type: integer({ min: 0, max: 65535 }),
  default: 8080,
  env: ['GTALIGN_PORT'],
  arg: 'N',
  help: 'port (0 = any free port, printed at start)',
});

export const API_KEY_ENV = setting({
  name: 'api-key-env',
  key: 'server.apiKeyEnv',
  type: text(),
  arg: 'NAME',
  help:
    'environment variable holding the accepted API key(s), comma-separated;\n' +
    'clients send "Authorization: Bearer KEY" (/healthz needs none)',
});

export const NO_AUTH = setting({
  name: 'no-auth',
  key: 'server.noAuth',
  type: boolean(),
  default: false,
  help: 'allow a non-loopback --host without keys',
});

export const MAX_BODY_BYTES = setting({
  name: 'max-body-bytes',
  key: 'server.maxBodyBytes',
  type: positiveInt(),
  default: 1 << 20,
  arg: 'N',
  help: 'largest request body',
});

export const ACCESS_LOG = setting({
  name: 'access-log',
  key: 'server.accessLog',
  type: path(),
  arg: 'PATH',
  help:
    'append one JSON line per request to this file ("-": stdout): status, time,\n' +
    "route, key fingerprint, and a turn's action, policy and tokens",
});

export const SERVER_SETTINGS = [HOST, PORT, API_KEY_ENV, NO_AUTH, MAX_BODY_BYTES, ACCESS_LOG] as const;
export const SERVER = group('Server', SERVER_SETTINGS);
