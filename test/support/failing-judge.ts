/** A judge that fails every verdict at once (a refusal, after its retries), counting the calls. */
import type { Judge, JudgeVerdict } from '../../src/reward/judge.js';
import { newJudgeStats } from '../../src/reward/judge.js';

export function failingJudge(): { judge: Judge; counted: { calls: number } } {
  const counted = { calls: 0 };
  const judge: Judge = {
    verdict: () => {
      counted.calls++;
      return Promise.resolve<JudgeVerdict>({
        ok: false,
        error: 'HTTP 400 from the judge: content refused',
        reason: 'http_status',
        attempts: 1,
      });
    },
    ask: () => Promise.reject(new Error('not used')),
    requestKey: () => 'k',
    stats: () => ({ ...newJudgeStats(), httpCalls: counted.calls }),
    cache: undefined,
  };
  return { judge, counted };
}
