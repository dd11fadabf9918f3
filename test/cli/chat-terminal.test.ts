/**
 * `gtalign chat` prints model text, which is hostile: control characters in it (an escape sequence that
 * retitles the window, clears the screen or recolours text) are shown escaped, not sent to the terminal.
 * The backend is the SCRIPTED dinosaur server with an escape sequence put into its answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { terminalSafe } from '../../src/cli/terminal-text.js';
import { dinosaurScript, QUESTION } from '../server/scripted-upstream.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';

const ESCAPES = '\u001b]0;pwned\u0007\u001b[2J';
let upstream: OpenAIStubServer;
beforeAll(async () => {
  const script = dinosaurScript();
  upstream = await startOpenAIStubServer((body) => {
    const reply = script(body);
    return 'content' in reply && typeof reply.content === 'string'
      ? { ...reply, content: reply.content.replace('Dinosaurs first', `${ESCAPES}Dinosaurs first`) }
      : reply;
  });
});
afterAll(async () => {
  await upstream?.close();
});

describe('model text on the terminal', () => {
  it('escapes control characters but keeps line breaks and tabs', () => {
    expect(terminalSafe('a\u001b[31mb\tc\nd\u009be\u007f')).toBe('a\\x1b[31mb\tc\nd\\x9be\\x7f');
  });

  it('gtalign chat shows an answer’s escape sequences instead of running them', async () => {
    const r = await runCliInProcess([
      'chat',
      QUESTION,
      '--backend',
      'openai',
      '--base-url',
      upstream.baseUrl,
      '--model',
      'm',
      '--vendor',
      'vllm',
      '--policy',
      'paper-api',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('\\x1b]0;pwned\\x07\\x1b[2JDinosaurs first');
    expect(r.stdout).not.toContain('\u001b');
  });
});
