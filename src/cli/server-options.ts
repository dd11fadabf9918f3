/** From the server settings (shared by `gtalign serve` and `gtalign reward serve`) to a listening server. */
import type { Env } from '../config/env.js';
import type { LoadedOf } from '../config/load.js';
import type { SERVER_SETTINGS } from '../config/settings/server.js';
import { settingAsGiven } from '../config/source.js';
import { type AccessLog, openAccessLog } from '../server/access-log.js';
import { keysFromEnv } from '../server/auth.js';
import { isLoopback, type RunningServer } from '../server/listen.js';
import type { OutputStream } from './command.js';
import { InputError } from './errors.js';
import { givenSetting, settingConflict } from './setting-conflict.js';

export interface ServerSetup {
  host: string;
  port: number;
  apiKeys: string[];
  maxBodyBytes: number;
  /** `--access-log`: a file, or `-` for stdout. */
  accessLog: string | undefined;
  /** How its errors name the access log: `--access-log`, or `server.accessLog in FILE`. */
  accessLogGiven: string;
}

/** The server settings, checked: a key variable that is empty, or an open interface without keys, is refused. */
export function serverSetup(loaded: LoadedOf<typeof SERVER_SETTINGS>, env: Env): ServerSetup {
  const { values: v, sources } = loaded;
  // `--host H`, or `host H (from $GTALIGN_HOST)` when no flag gave it.
  const given = (name: 'host' | 'api-key-env', key: string, value: string) =>
    sources[name].kind === 'flag'
      ? `--${name} ${value}`
      : `${name} ${value} (from ${settingAsGiven(name, key, sources[name])})`;
  let apiKeys: string[] = [];
  const keyEnv = v['api-key-env'];
  if (keyEnv !== undefined) {
    apiKeys = keysFromEnv(keyEnv, env);
    if (apiKeys.length === 0) {
      throw settingConflict(
        [givenSetting(loaded, 'api-key-env', 'server.apiKeyEnv')],
        () =>
          `${given('api-key-env', 'server.apiKeyEnv', keyEnv)}: the variable is unset or empty; refusing to start without keys`,
      );
    }
  }
  if (apiKeys.length === 0 && !isLoopback(v.host) && !v['no-auth']) {
    throw settingConflict(
      [givenSetting(loaded, 'host', 'server.host')],
      () =>
        `${given('host', 'server.host', v.host)} is reachable from other machines; give keys with --api-key-env NAME, or pass --no-auth`,
    );
  }
  return {
    host: v.host,
    port: v.port,
    apiKeys,
    maxBodyBytes: v['max-body-bytes'],
    accessLog: v['access-log'] === '' ? undefined : v['access-log'],
    accessLogGiven: settingAsGiven('access-log', 'server.accessLog', sources['access-log']),
  };
}

/** The access log `--access-log` names (the command closes it), or undefined; a file that cannot be opened is refused. */
export async function openServerAccessLog(
  server: ServerSetup,
  ctx: { stdout: OutputStream; stderr: OutputStream },
): Promise<AccessLog | undefined> {
  if (server.accessLog === undefined) return undefined;
  try {
    return await openAccessLog(server.accessLog, ctx.stdout, (line) => ctx.stderr.write(`${line}\n`));
  } catch (err) {
    throw new InputError(`${server.accessLogGiven}: ${(err as Error).message}`);
  }
}

/** A port already taken becomes one clear line; anything else passes through. */
export function listenError(err: unknown, server: ServerSetup): unknown {
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return new InputError(`port ${server.port} on ${server.host} is in use; choose another with --port`);
  }
  return err;
}

/** `N API key(s)` or `no API key`, and the access log if any, for the line a server prints at start. */
export function keysNote(server: ServerSetup): string {
  const keys = server.apiKeys.length > 0 ? `${server.apiKeys.length} API key(s)` : 'no API key';
  if (server.accessLog === undefined) return keys;
  return `${keys}, access log ${server.accessLog === '-' ? 'on stdout' : server.accessLog}`;
}

/**
 * Serves until SIGINT or SIGTERM (said on `stderr`), then closes gracefully, the access log last (its
 * lines of the requests answered while closing included); returns the exit code.
 */
export async function serveUntilSignal(
  server: RunningServer,
  name: string,
  stderr: OutputStream,
  accessLog?: AccessLog,
): Promise<number> {
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      stderr.write(`${name}: ${signal}, closing\n`);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  await accessLog?.close();
  return 0;
}
