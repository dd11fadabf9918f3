/** The settings of `gtalign models pull` and `gtalign models tiny`. */
import { cacheFolder } from '../paths.js';
import { setting } from '../setting.js';
import { boolean, httpUrl, number, path, sha256Hex } from '../value-types.js';

export const MODEL_URL = setting({
  name: 'url',
  key: 'modelsPull.url',
  type: httpUrl(),
  arg: 'URL',
  help: 'download another GGUF file instead',
  defaultText: 'the recommended model',
});

export const MODELS_DIR = setting({
  name: 'dir',
  key: 'modelsPull.dir',
  type: path(),
  default: (env) => cacheFolder('models', env),
  arg: 'DIR',
  help: 'save into DIR',
});

export const MODELS_FORCE = setting({
  name: 'force',
  key: 'modelsPull.force',
  type: boolean(),
  default: false,
  help: 'download again even when the file is there, and drop a kept partial download',
});

export const CONNECT_TIMEOUT = setting({
  name: 'connect-timeout',
  key: 'modelsPull.connectTimeout',
  type: number({ min: 0, above: true }),
  default: 10,
  arg: 'SECONDS',
  help: 'give up when the server does not answer within this time',
});

export const MODEL_SHA256 = setting({
  name: 'sha256',
  key: 'modelsPull.sha256',
  type: sha256Hex(),
  arg: 'HEX',
  help: 'keep the file only when its SHA-256 is HEX (a file already there is checked too)',
});

export const MODELS_SETTINGS = [MODEL_URL, MODELS_DIR, MODELS_FORCE, CONNECT_TIMEOUT, MODEL_SHA256] as const;

/** `gtalign models tiny` writes into the same folder and takes the same --force. */
export const TINY_SETTINGS = [
  { ...MODELS_DIR, key: 'modelsTiny.dir' },
  { ...MODELS_FORCE, key: 'modelsTiny.force', help: 'write the file again even when it is there' },
] as const;
