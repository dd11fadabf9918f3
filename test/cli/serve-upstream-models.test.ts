/**
 * `gtalign serve --upstream-url URL` without --upstream-model asks the upstream's /models for a name. When
 * the upstream cannot be reached, the message must say why (refused, not found), not only "fetch failed";
 * and an upstream on a port the Fetch standard blocks (6000, 10080, …), which the chat calls reach, must
 * be reachable here too.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { discoverUpstreamModel } from '../../src/cli/upstream-model.js';
import { runCliInProcess } from '../support/cli-in-process.js';

/** A loopback port that nothing listens on: bound once to learn a free one, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// Ports of the Fetch standard's "bad port" list that a local server may well use; the first free one is taken.
const FETCH_BLOCKED_PORTS = [6000, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080, 6566, 4190, 3659];

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** An upstream listing one model at /v1/models, on the first free port of FETCH_BLOCKED_PORTS. */
async function modelsServerOnBlockedPort(): Promise<number> {
  for (const port of FETCH_BLOCKED_PORTS) {
    const candidate = createHttpServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/v1/models')
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'blocked-port-model' }] }));
      else res.writeHead(404).end('{}');
    });
    const bound = await new Promise<boolean>((resolve) => {
      candidate.once('error', () => resolve(false));
      candidate.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      server = candidate;
      return port;
    }
  }
  throw new Error(`none of the ports ${FETCH_BLOCKED_PORTS.join(', ')} is free on 127.0.0.1`);
}

describe('gtalign serve: finding the upstream model', () => {
  it('names the network error when the upstream refuses the connection', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1`;
    const result = await runCliInProcess(['serve', '--upstream-url', url, '--port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot list the upstream's models at ${url}/models`);
    expect(result.stderr).toContain('ECONNREFUSED');
    expect(result.stderr).toContain('give --upstream-model NAME');
  });

  it('reads the model of an upstream on a port the Fetch standard blocks', async () => {
    const port = await modelsServerOnBlockedPort();
    await expect(discoverUpstreamModel(`http://127.0.0.1:${port}/v1`, undefined)).resolves.toBe(
      'blocked-port-model',
    );
  });
});
