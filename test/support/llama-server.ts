/**
 * A real llama.cpp `llama-server`, built from the source node-llama-cpp ships (scripts/build-llama-server.mjs,
 * cached outside the repository), started on a loopback port with a generated GGUF.
 *
 * `findLlamaServer()` says why the tests cannot run: only a missing compiler or CMake is a reason to skip;
 * a missing binary on a machine that could build it is a failure (CI builds it in .ci/run).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/build-llama-server.mjs', import.meta.url));

export type LlamaServerBinary = { kind: 'found'; path: string } | { kind: 'skip'; reason: string };

function available(command: string): boolean {
  const probe = spawnSync(command, ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
}

export function findLlamaServer(): LlamaServerBinary {
  const tools = ['cmake', process.env.CXX ?? 'c++', 'git'].filter((c) => !available(c));
  if (tools.length > 0) {
    return {
      kind: 'skip',
      reason: `llama-server cannot be built here (${tools.join(', ')} missing); the real llama.cpp tests are SKIPPED`,
    };
  }
  const check = spawnSync(process.execPath, [BUILD_SCRIPT, '--check'], { encoding: 'utf8' });
  if (check.status === 0) return { kind: 'found', path: check.stdout.trim() };
  throw new Error(
    `llama-server is not built: run 'node scripts/build-llama-server.mjs' (10–30 minutes; .ci/run does it).\n${check.stderr}`,
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface RunningLlamaServer {
  /** `http://127.0.0.1:PORT` (no `/v1`). */
  origin: string;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts the server and waits until `/health` answers 200. The wait is generous (model load on a busy machine);
 * it bounds a hang, it does not measure anything.
 */
export async function startLlamaServer(
  binary: string,
  modelPath: string,
  options: { contextSize?: number; extraArgs?: string[]; readyTimeoutMs?: number } = {},
): Promise<RunningLlamaServer> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      binary,
      [
        '--model',
        modelPath,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--ctx-size',
        String(options.contextSize ?? 4096),
        '--threads',
        '1',
        '--parallel',
        '1',
        '--jinja',
        ...(options.extraArgs ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-20_000)));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-20_000)));
    const origin = `http://127.0.0.1:${port}`;
    const ready = await waitReady(child, origin, options.readyTimeoutMs ?? 120_000);
    if (ready === 'ready') {
      return { origin, log: () => log, stop: () => stop(child) };
    }
    await stop(child);
    // Another process took the port between our probe and the server's bind: try another.
    if (ready === 'exited' && /bind|address already in use/i.test(log) && attempt < 3) continue;
    throw new Error(`llama-server did not become ready (${ready}):\n${log}`);
  }
}

async function waitReady(
  child: ChildProcess,
  origin: string,
  timeoutMs: number,
): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) return 'exited';
    try {
      const res = await fetch(`${origin}/health`);
      await res.arrayBuffer();
      if (res.status === 200) return 'ready';
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return 'timeout';
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
  });
}
