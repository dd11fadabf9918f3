import { describedAs, group, withDefault } from '../config/setting.js';
import { JUDGE_CONCURRENCY, JUDGE_SETTINGS } from '../config/settings/judge.js';
import { REWARD } from '../config/settings/reward.js';
import { CLIP_VERDICTS, REWARD_SERVE_SETTINGS } from '../config/settings/scoring.js';
import { ACCESS_LOG, API_KEY_ENV, HOST, MAX_BODY_BYTES, NO_AUTH, PORT } from '../config/settings/server.js';
import { LOOKAHEAD_USER } from '../config/settings/sim.js';
import { startRewardServer } from '../server/reward.js';
import { defineCommand } from './command.js';
import { judgeConcurrencyOf, judgeSetup, rewardConfigOf } from './judge-options.js';
import { checkLookaheadFlags, LOOKAHEAD, type LookaheadSetup, lookaheadSetup } from './lookahead-options.js';
import {
  keysNote,
  listenError,
  openServerAccessLog,
  serverSetup,
  serveUntilSignal,
} from './server-options.js';

const SETTINGS = [
  REWARD,
  group('Judge', [
    ...JUDGE_SETTINGS,
    describedAs(JUDGE_CONCURRENCY, 'judge HTTP calls in flight, over all requests'),
  ]),
  // The same switch as reward score's (one key, judge.clipVerdicts), listed once in the registry.
  group('Scoring', [...REWARD_SERVE_SETTINGS, CLIP_VERDICTS]),
  group('Server', [
    HOST,
    withDefault(PORT, 5000),
    API_KEY_ENV,
    NO_AUTH,
    withDefault(MAX_BODY_BYTES, 64 << 20),
    ACCESS_LOG,
  ]),
  LOOKAHEAD,
  LOOKAHEAD_USER,
] as const;

export const rewardServeCommand = defineCommand({
  name: 'reward serve',
  usage: 'Usage: gtalign reward serve (--judge offline | --judge-url URL --judge-model NAME) [options]',
  about: `Serves the GTAlign mutual-welfare reward to RL trainers, with the same numbers as 'gtalign reward score'.

Endpoints:
  POST /get_reward         OpenRLHF's remote reward protocol (OpenRLHF 0.11: --reward.remote_url
                           http://HOST:PORT/get_reward; older versions: --remote_rm_url):
                           {"query": [...], "prompts": [...], "labels": [...]} →
                           {"rewards": [...], "scores": [...], "extra_logs": {...}, "errors": [...]}.
                           The scored output is query[i] after its prompt prompts[i] (end-of-text tokens
                           at its end, and pad tokens before the prompt, are cut); labels[i] is the JSON label 'gtalign data export --format
                           openrlhf' writes: data_source, ground_truth, extra_info, id, and optionally
                           verdict (what --judge offline uses).
  POST /v1/reward/score    {"samples": [input records of gtalign reward score]} →
                           {"results": [its output lines, in order], "summary": {...}}
  GET  /healthz, /metrics  (Prometheus: samples, failures by stage, verdict sources, judge calls)

Training throughput: verl's reward loop and OpenRLHF 0.11 send one sample per request; the samples of
concurrent requests are scored together in batches (--coalesce-batch, --coalesce-wait-ms), so a judge
sees full batches. Every request is answered within --deadline, or within the X-Gtalign-Deadline-Ms
header of a client that waits less (the Python adapters send 90% of their timeout); a sample not scored
by then fails with "deadline": true and its judge call goes on, so that sending it again joins it.

A failed sample is never a 0. With --on-judge-error skip (default) its reward is null, its entry in
extra_logs["gtalign/failed"] is 1 and "errors" says why; with --on-judge-error fail the request fails:
400 for a bad sample, 422 for one that cannot be scored, 504 at the deadline (OpenRLHF then retries the
request, which joins the judge call in flight), 502 when the judge failed after its retries. On
/get_reward a judge's failure is a null reward in both modes: OpenRLHF sends a request again on any error
status, 5 times, each paying for the judge's retries again; a null it does not retry and cannot turn into
a tensor, so its step stops. Serve OpenRLHF with --on-judge-error fail (a null at the deadline would stop
it without the retry).

Look-ahead (--lookahead K, the flags of 'gtalign reward score --lookahead'): every sample is scored by K
simulated future turns (the policy at --policy-url, the simulated user as --persona), R = (1-λ)·W_0 +
λ·γ^T·W_T (several --persona: one rollout each, R their mean; --lookahead-pricing steers the policy's
turns), with the same numbers as 'reward score --lookahead'. Rollouts run --lookahead-concurrency at a
time over all requests, identical samples share one, and finished ones are remembered (and kept in
--lookahead-cache DIR), so a repeated batch costs no call. Each result's components.lookahead holds
turns, policy_calls, user_calls and cached; /get_reward logs them as gtalign/lookahead_*, the summary of
/v1/reward/score sums them, /metrics counts every policy and user call. A failed rollout fails its
sample (stage lookahead; 502 lookahead_failed under --on-judge-error fail, a null reward on
/get_reward), never a 0. A sample's chat
prompt for the policy: a record's prompt or extra_info.prompt (OpenRLHF: the label's extra_info.prompt).`,
  notes: 'Exit codes: 0 stopped by SIGINT/SIGTERM, 1 a problem at start (config file, port), 2 bad usage.',
  settings: SETTINGS,
  async run(loaded, ctx) {
    const { values } = loaded;
    const server = serverSetup(loaded, ctx.env);
    checkLookaheadFlags(loaded);
    const judgeConcurrency = values['judge-concurrency'];
    // Without --concurrency it also sets the samples in flight per request, so offline too it means something.
    const concurrency =
      values.concurrency === undefined
        ? { value: judgeConcurrency }
        : judgeConcurrencyOf(loaded, 'judge-concurrency');
    const setup = await judgeSetup(loaded, concurrency, ctx.env, (m) =>
      ctx.stderr.write(`gtalign reward serve: ${m}\n`),
    );
    const config = rewardConfigOf(loaded);
    let lookahead: LookaheadSetup | undefined;
    let running: Awaited<ReturnType<typeof startRewardServer>>;
    let accessLog: Awaited<ReturnType<typeof openServerAccessLog>> | undefined;
    try {
      accessLog = await openServerAccessLog(server, ctx);
      // The same scoring options as the server's own, so the look-ahead's W_0 is the plain reward.
      if (values.lookahead > 0) {
        lookahead = await lookaheadSetup(values, ctx.env, {
          judge: setup.judge,
          config,
          mathCheck: setup.mathCheck,
          clipVerdicts: values['clip-verdicts'],
          onJudgeError: setup.onJudgeError,
        });
      }
      running = await startRewardServer({
        ...(lookahead === undefined ? {} : { lookahead: lookahead.scorer }),
        judge: setup.judge,
        concurrency: values.concurrency ?? judgeConcurrency * 2,
        onJudgeError: setup.onJudgeError,
        config,
        mathCheck: setup.mathCheck,
        clipVerdicts: values['clip-verdicts'],
        apiKeys: server.apiKeys,
        limits: { maxSamples: values['max-samples'], maxBodyBytes: server.maxBodyBytes },
        endTokens: values['end-token'],
        coalesce:
          values['coalesce-batch'] === 0
            ? false
            : { maxBatch: values['coalesce-batch'], maxWaitMs: values['coalesce-wait-ms'] },
        deadlineMs: values.deadline * 1000,
        ...(accessLog === undefined ? {} : { accessLog }),
        host: server.host,
        port: server.port,
      });
    } catch (err) {
      await lookahead?.close();
      await setup.close();
      await accessLog?.close();
      throw listenError(err, server);
    }
    const judge =
      setup.description.kind === 'offline'
        ? 'offline verdicts'
        : setup.description.kind === 'local'
          ? `local judge ${setup.description.model}`
          : `judge ${setup.description.model} at ${setup.description.url}`;
    ctx.stderr.write(
      `gtalign reward serve: listening on ${running.url} (${judge}, on judge error ${setup.onJudgeError}, ` +
        `${keysNote(server)}${lookahead === undefined ? '' : `; ${lookahead.description}`})\n`,
    );
    try {
      return await serveUntilSignal(running, 'gtalign reward serve', ctx.stderr, accessLog);
    } finally {
      await lookahead?.close();
      await setup.close();
    }
  },
});
