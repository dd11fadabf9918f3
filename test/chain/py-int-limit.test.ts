/**
 * An integer of more than 4,300 digits is no number to Python (json.loads and ast.literal_eval both
 * refuse it), so the reference reads a payoff holding one as no payoff, and scores the sample 0. The
 * reference's own reward (../shared/perf/reference-reward/ref_score.py under Debian's Python 3.11.2, run
 * on 2026-12-07) gave a math-hard sample whose payoff had `"LLM": 9…9` (5,000 nines) score 0, answer 0,
 * format 0, where gtalign gave 0.59; with `9…9.0` (a float: no limit) both gave 0.5915347728.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePayoff, parsePythonJson, parsePythonLiteral } from '../../src/chain/payoff.js';
import { hasLongDigitRun, PY_INT_MAX_STR_DIGITS } from '../../src/chain/py-int-limit.js';
import { runCliInProcess } from '../support/cli-in-process.js';

const CELLS = ['DQ_DA', 'DQ_CQ', 'DQ_AQ', 'VQ_DA', 'VQ_CQ', 'VQ_AQ'];
/** A payoff whose DQ_DA LLM payoff is `llm`, as JSON (`"`) or as a Python literal (`'`). */
function payoff(llm: string, quote = '"'): string {
  const cells = CELLS.map(
    (c, i) => `${quote}${c}${quote}: {${quote}user${quote}: 1, ${quote}LLM${quote}: ${i === 0 ? llm : '2'}}`,
  );
  return `{${cells.join(', ')}}`;
}
const nines = (n: number) => '9'.repeat(n);

describe("Python's limit on the digits of an integer", () => {
  it('refuses a payoff with an integer of 4,301 digits, in JSON and as a Python literal', () => {
    for (const text of [payoff(nines(4301)), payoff(`-${nines(4301)}`), payoff(nines(4301), "'")]) {
      const r = parsePayoff(text);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.stage).toBe('syntax');
        expect(r.errors.map((e) => e.message).join('\n')).toContain('Exceeds the limit (4300 digits)');
      }
    }
  });

  it('reads one of 4,300 digits as before, and the limit nowhere else', () => {
    const at = parsePayoff(payoff(nines(PY_INT_MAX_STR_DIGITS)));
    expect(JSON.stringify(at)).not.toContain('Exceeds the limit');
    // A float has no limit; nor a string of digits; nor zeros only, nor a hexadecimal literal (Python).
    expect(parsePythonJson(`${nines(5000)}.0`)).toEqual({ ok: true, value: Number.POSITIVE_INFINITY });
    const inString = parsePayoff(payoff(`"${nines(5000)}"`));
    expect(JSON.stringify(inString)).not.toContain('Exceeds the limit');
    expect(parsePythonLiteral('0'.repeat(5000))).toEqual({ ok: true, value: 0 });
    expect(parsePythonLiteral(`0x${'f'.repeat(5000)}`).ok).toBe(true);
  });

  it('counts digits as Python does: underscores of a Python literal do not count', () => {
    const grouped = (n: number) => Array.from({ length: n }, () => '1').join('_');
    expect(parsePythonLiteral(grouped(4300)).ok).toBe(true);
    const over = parsePythonLiteral(grouped(4301));
    expect(over.ok).toBe(false);
    if (!over.ok) expect(over.message).toContain('value has 4301 digits');
  });

  it('finds a long digit run in one pass, and only a run longer than the limit', () => {
    expect(hasLongDigitRun(nines(4300))).toBe(false);
    expect(hasLongDigitRun(`x${nines(4301)}`)).toBe(true);
    expect(hasLongDigitRun(`${nines(3000)}.${nines(3000)}`)).toBe(false);
  });

  it('gtalign reward score scores such a sample 0 (unscorable at its payoff), as the reference does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-int-limit-'));
    try {
      const response = `<thinking>t</thinking><payoff>${payoff(nines(5000))}</payoff><analyze>DQ_DA</analyze><response>4</response>`;
      const input = join(dir, 'in.jsonl');
      await writeFile(
        input,
        `${JSON.stringify({ id: 'big', data_source: 'math-hard', response, ground_truth: '4', verdict: 1 })}\n`,
      );
      const r = await runCliInProcess([
        'reward',
        'score',
        '--judge',
        'offline',
        '--workers',
        '0',
        '--input',
        input,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const line = JSON.parse(r.stdout) as {
        scorable: boolean;
        score: number;
        unscorable?: { stage: string };
      };
      expect(line.scorable).toBe(false);
      expect(line.score).toBe(0);
      expect(line.unscorable?.stage).toBe('payoff');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
