/**
 * `gtalign serve --upstream-url URL` without --upstream-model asks the upstream's /models for a name. When
 * the upstream cannot be reached, the message must say why (refused, not found), not only "fetch failed".
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runCliInProcess } from '../support/cli-in-process.js';

/** A loopback port that nothing listens on: bound once to learn a free one, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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
});
