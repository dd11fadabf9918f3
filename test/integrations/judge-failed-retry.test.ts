/**
 * Under `--on-judge-error fail` a judge that failed after the server's own retries is a 502 `judge_failed`:
 * final, like the same failure under `skip`. The Python client raises it at once instead of sending the
 * request again, which would pay for every judge attempt again. A 504 past the deadline is still sent
 * again (its judge call goes on, so the resend joins it).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { startRewardServer } from '../../src/server/reward.js';
import { failingJudge } from '../support/failing-judge.js';
import { CASES, lastJson, PRELUDE, PYTHON, runPython } from './python-support.js';

const sample = CASES.find((c) => c.expected.score > 0)!;

describe.skipIf(PYTHON === undefined)('a judge failure under --on-judge-error fail', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  for (const mode of ['sync', 'async']) {
    it(`${mode}: raises the 502 judge_failed without asking the judge again`, async () => {
      const { judge, counted } = failingJudge();
      server = await startRewardServer({ judge, mathCheck: false, onJudgeError: 'fail', log: () => {} });
      const call =
        mode === 'sync'
          ? 'gr.compute_score_sync(c["data_source"], c["response"], c["ground_truth"], extra(c, False), url=URL, retries=3)'
          : 'asyncio.run(gr.compute_score(c["data_source"], c["response"], c["ground_truth"], extra(c, False), url=URL, retries=3))';
      const r = await runPython(
        `${PRELUDE}
import gtalign_reward as gr
c = [x for x in cases if x["id"] == ${JSON.stringify(sample.id)}][0]
print(json.dumps(failed_with(lambda: ${call})))
`,
        server.url,
      );
      expect(r.err).toBe('');
      expect(lastJson<string>(r)).toMatch(/^GtalignRewardError: gtalign reward: HTTP 502 .*content refused/);
      expect(counted.calls).toBe(1);
    });
  }
});
