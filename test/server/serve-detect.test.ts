/**
 * `gtalign serve` with no --vendor in front of a SCRIPTED SGLang-style upstream (test/support/vendor-server.ts:
 * a real loopback HTTP server that answers SGLang's `/get_server_info` and replays the paper's dinosaur
 * example as chosen outputs; it is not SGLang): its start-up log says what was detected and why, and the
 * turns it serves use SGLang's continuation fields.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliArgs, REPO_ROOT } from '../support/cli.js';
import { startVendorServer, type VendorServer } from '../support/vendor-server.js';
import { dinosaurScript, QUESTION, RESPONSES } from './scripted-upstream.js';

let upstream: VendorServer;
beforeAll(async () => {
  upstream = await startVendorServer('sglang', dinosaurScript());
});
afterAll(async () => {
  await upstream.close();
});

describe('gtalign serve with no --vendor', () => {
  it('logs the detected server kind at start and continues turns the SGLang way', {
    timeout: 60_000,
  }, async () => {
    const child = spawn(
      process.execPath,
      cliArgs(['serve', '--upstream-url', upstream.baseUrl, '--upstream-model', 'stub-model', '--port', '0']),
      { cwd: REPO_ROOT, env: { ...process.env, GTALIGN_VENDOR: undefined } },
    );
    let stderr = '';
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
          const m = /listening on (http:\/\/[\d.:]+)/.exec(stderr);
          if (m && stderr.includes('backend:')) resolve(m[1]!);
        });
        void exit.then((code) => reject(new Error(`exited with ${code} before listening: ${stderr}`)));
      });
      expect(stderr).toContain(
        `gtalign serve: backend: detected sglang at ${upstream.baseUrl} (GET /get_server_info answered with internal_states and model_path)`,
      );
      expect(upstream.probes.length).toBe(6);
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: QUESTION }] }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
      expect(body.choices[0]!.message.content).toBe(RESPONSES.CQ);
      expect(upstream.upstream.requests[1]!.body).toMatchObject({
        continue_final_message: true,
        add_generation_prompt: false,
        chat_template_kwargs: { enable_thinking: false },
        regex: expect.any(String),
      });
      // Probed once at start, not per request.
      expect(upstream.probes.length).toBe(6);
    } finally {
      child.kill('SIGTERM');
      await exit;
    }
  });
});
