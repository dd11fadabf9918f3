import { describe, expect, it } from 'vitest';
import { TurnError } from '../src/assistant/errors.js';
import { ModelDownloadError, ModelNotFoundError } from '../src/assistant/models.js';
import { InputError, UsageError } from '../src/cli/errors.js';
import { DataError } from '../src/data/errors.js';
import { describeError, exitStatusOf, GtalignError } from '../src/errors.js';
import { RunStoreError, RunStoreIoError } from '../src/eval/store-error.js';
import { MatrixError } from '../src/game/matrix.js';
import { GameTooLargeError } from '../src/game/nash.js';
import { LineTooLongError } from '../src/io/lines.js';
import { ResponseTooLargeError } from '../src/llm/http.js';
import { ChatModelError } from '../src/llm/types.js';
import { SteeringError } from '../src/steering/errors.js';

describe('one base error', () => {
  it('gives every error a user can act on a code, and the CLI one exit status per code', () => {
    const cases: Array<[GtalignError, string, number]> = [
      [new UsageError('--x is required'), 'usage', 2],
      [new InputError('bad line'), 'input', 1],
      [new TurnError('options', 'cannot continue'), 'usage', 2],
      [new TurnError('payoff', 'no matrix'), 'model', 1],
      [new ModelNotFoundError('/cache'), 'input', 1],
      [new ModelDownloadError('offline', 'https://x', '/cache/m.gguf'), 'backend', 1],
      [new RunStoreError('locked'), 'input', 1],
      [new RunStoreIoError('/run/results.jsonl', 'ENOSPC', 'disk full'), 'io', 1],
      [new MatrixError([{ path: 'DQ_DA', message: 'missing' } as never]), 'input', 1],
      [new GameTooLargeError(20, 20, 1e9, 1e6), 'limit', 1],
      [new LineTooLongError('in.jsonl', 3, 1024), 'limit', 1],
      [new ChatModelError('HTTP 500', { backend: 'openai', status: 500 }), 'backend', 1],
      [new DataError('f.jsonl:3: field prompt: required'), 'input', 1],
      [new ResponseTooLargeError('body over 16 MiB', 16 << 20), 'limit', 1],
      [new SteeringError('policy', [{ path: 'x', message: 'bad' } as never]), 'input', 1],
    ];
    for (const [err, code, status] of cases) {
      expect(err, err.name).toBeInstanceOf(GtalignError);
      expect(err.code, err.name).toBe(code);
      expect(exitStatusOf(err), err.name).toBe(status);
    }
    // A bug is not a GtalignError: the CLI reports it as an internal error.
    expect(exitStatusOf(new TypeError('x is undefined'))).toBe(70);
  });

  it('says whether trying again can help: a server failure may pass, a refused request will not', () => {
    expect(new ChatModelError('HTTP 503', { backend: 'openai', status: 503 }).retryable).toBe(true);
    expect(new ChatModelError('connection refused', { backend: 'openai' }).retryable).toBe(true);
    expect(new ChatModelError('HTTP 400', { backend: 'openai', status: 400 }).retryable).toBe(false);
    expect(new InputError('bad').retryable).toBe(false);
  });

  it('adds the fix to the message only when the message does not already say it', () => {
    class Demo extends GtalignError {
      readonly code = 'input';
    }
    expect(describeError(new Demo('no model', { fix: 'pass --model' }))).toBe(
      'no model\n  fix: pass --model',
    );
    expect(describeError(new Demo('no model: pass --model', { fix: 'pass --model' }))).toBe(
      'no model: pass --model',
    );
  });
});
