/**
 * `gtalign chat QUESTION` (the real CLI process) interrupted by ctrl-c (SIGINT) while its model request is
 * open: the request is stopped, the process says so and exits 130. The backend is a SCRIPTED loopback
 * server that holds every request open (it counts the ones it holds).
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliArgs, REPO_ROOT } from '../support/cli.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';

let upstream: OpenAIStubServer;
beforeAll(async () => {
  upstream = await startOpenAIStubServer(() => ({ hang: true }));
});
afterAll(async () => {
  await upstream?.close();
});

describe('gtalign chat QUESTION and ctrl-c', () => {
  it('stops the model request, says so, and exits 130', async () => {
    const args = [
      'chat',
      'When did dinosaurs first appear?',
      '--backend',
      'openai',
      '--base-url',
      upstream.baseUrl,
    ];
    const child = spawn(process.execPath, cliArgs([...args, '--model', 'm', '--vendor', 'vllm']), {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await expect.poll(() => upstream.inFlight).toBe(1);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('gtalign chat: interrupted; the turn was stopped');
    await expect.poll(() => upstream.inFlight).toBe(0);
  });
});
