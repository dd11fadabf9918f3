/**
 * `gtalign mcp` on stdio with the embedded local backend (the generated tiny model: random weights, its
 * text means nothing): stdout carries the protocol only, even with node-llama-cpp's info logging on
 * (NODE_LLAMA_CPP_LOG_LEVEL=info, as a user debugging a model sets it), which used to write a hundred log
 * lines into the protocol stream. The real CLI is spawned; its stdout is read line by line, as a client does.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeTinyModel } from '../../src/assistant/tiny-model.js';
import { cliArgs, REPO_ROOT } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-mcp-local-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('writes nothing but JSON-RPC to stdout while the local model logs', { timeout: 180_000 }, async () => {
  const { path } = await writeTinyModel(dir);
  const child = spawn(process.execPath, cliArgs(['mcp', '--backend', 'local', '--model', path]), {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_LLAMA_CPP_LOG_LEVEL: 'info' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const send = (message: unknown) => child.stdin.write(`${JSON.stringify(message)}\n`);
  send({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'test', version: '1' } },
  });
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  send({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'decide', arguments: { question: 'When did dinosaurs first appear?' } },
  });
  // The call's answer (a result or a tool error: the tiny model's matrix may not parse) ends the exchange.
  await expect.poll(() => /"id":1[,}]/.test(stdout), { timeout: 170_000 }).toBe(true);
  child.stdin.end();
  expect(await exit).toBe(0);
  const lines = stdout.split('\n').filter((l) => l !== '');
  for (const line of lines) expect((JSON.parse(line) as { jsonrpc?: string }).jsonrpc, line).toBe('2.0');
  expect(lines).toHaveLength(2);
  // The log went where logs go.
  expect(stderr).toContain('[node-llama-cpp]');
});
