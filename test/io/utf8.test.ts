import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPromptTemplate } from '../../src/assistant/prompt-source.js';
import { readJsonFile } from '../../src/config/file.js';
import { fileUtf8Problem, utf8Problem } from '../../src/io/utf8.js';
import { seededRandom } from '../../src/random.js';
import { loadPersonaFile } from '../../src/sim/persona.js';
import { loadPolicyFile } from '../../src/steering/load.js';

const fatal = new TextDecoder('utf-8', { fatal: true });
const bytes = (...parts: Array<string | number[]>): Uint8Array =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

describe('utf8Problem', () => {
  it('accepts UTF-8 (a BOM, astral characters, the largest code point) and names the first bad byte', () => {
    expect(utf8Problem(bytes('\ufeff{"a":"café 中文 𝈶"}', [0xf4, 0x8f, 0xbf, 0xbf]))).toBeUndefined();
    const cases: Array<[number[], string]> = [
      [[0xe9], 'byte 3 of the line (0xE9)'], // Latin-1 é after "ab"
      [[0x80], 'byte 3 of the line (0x80)'], // a continuation byte with no lead
      [[0xc0, 0x80], 'byte 3 of the line (0xC0)'], // overlong NUL
      [[0xe0, 0x80, 0x80], 'byte 3 of the line (0xE0)'], // overlong three-byte form
      [[0xed, 0xa0, 0x80], 'byte 3 of the line (0xED)'], // a UTF-16 surrogate
      [[0xf4, 0x90, 0x80, 0x80], 'byte 3 of the line (0xF4)'], // past U+10FFFF
      [[0xf5, 0x80, 0x80, 0x80], 'byte 3 of the line (0xF5)'],
      [[0xe2, 0x82, 0x41], 'byte 3 of the line (0xE2)'], // a sequence cut by an ASCII byte
      [[0xc3, 0xa9, 0xe9], 'byte 5 of the line (0xE9)'], // é in UTF-8, then in Latin-1
    ];
    for (const [bad, where] of cases) {
      const problem = utf8Problem(bytes('ab', bad, 'cd'));
      expect(problem, where).toContain(`not valid UTF-8: ${where} does not start a valid character`);
    }
    expect(utf8Problem(bytes('ab', [0xe2, 0x82]))).toContain(
      'the line ends inside the character that starts at byte 3 (0xE2)',
    );
    expect(utf8Problem(bytes([0xff]), 'the body')).toContain('byte 1 of the body (0xFF)');
  });

  it('agrees with a fatal decoder on 3,000 random byte strings, and the bytes before the one it names decode', () => {
    const random = seededRandom(7);
    const pool = [
      0x41, 0x0a, 0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xa0, 0x90, 0x8f,
    ];
    for (let n = 0; n < 3000; n++) {
      const b = new Uint8Array(1 + Math.floor(random() * 12));
      for (let i = 0; i < b.length; i++) b[i] = pool[Math.floor(random() * pool.length)]!;
      let valid = true;
      try {
        fatal.decode(b);
      } catch {
        valid = false;
      }
      const problem = utf8Problem(b);
      expect(problem === undefined, Buffer.from(b).toString('hex')).toBe(valid);
      const at = /byte (\d+)/.exec(problem ?? '')?.[1];
      // Everything before the named byte is UTF-8: no earlier byte was bad.
      if (at !== undefined) expect(() => fatal.decode(b.subarray(0, Number(at) - 1))).not.toThrow();
    }
  });
});

describe('fileUtf8Problem', () => {
  it('names the line of the first bad byte and the byte within that line', () => {
    expect(fileUtf8Problem(bytes('a\nb\n'))).toBeUndefined();
    expect(
      fileUtf8Problem(bytes('{"a":1}\n{"b":"ok"}\r\n{"c":"caf', [0xe9], '"}\n{"d":"', [0xe9], '"}')),
    ).toEqual({
      line: 3,
      problem: expect.stringContaining('byte 10 of the line (0xE9)'),
    });
    expect(fileUtf8Problem(bytes('x\n', [0xe2, 0x82]))).toEqual({
      line: 2,
      problem: expect.stringContaining('ends inside the character that starts at byte 1'),
    });
  });
});

describe('files read whole (a config, a policy, a persona file, a prompt template)', () => {
  it('each is refused by file, line and byte when it is not UTF-8, not read with U+FFFD', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-utf8-files-'));
    const latin = async (name: string, json: unknown) => {
      const path = join(dir, name);
      // Pretty-printed, so the bad byte is on a line of its own; é is the one Latin-1 byte 0xE9.
      const text = JSON.stringify(json, null, 1);
      await writeFile(path, Buffer.from(text, 'latin1'));
      lines.set(path, text.split('\n').findIndex((l) => l.includes('é')) + 1);
      return path;
    };
    const lines = new Map<string, number>();
    const checks: Array<[string, () => Promise<unknown>]> = [
      ['config', async () => readJsonFile(await latin('gtalign.json', { model: 'café' }), 'gtalign.json')],
      ['policy', async () => loadPolicyFile(await latin('policy.json', { name: 'café' }))],
      ['persona', async () => loadPersonaFile(await latin('personas.json', [{ name: 'café' }]))],
      ['template', async () => loadPromptTemplate(await latin('template.json', { system: 'café' }))],
    ];
    for (const [what, read] of checks) {
      const error = await read().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      const line = [...lines.values()].at(-1);
      expect(error?.message, what).toMatch(
        new RegExp(`line ${line}: not valid UTF-8: byte \\d+ of the line \\(0xE9\\)`),
      );
    }
  });
});
