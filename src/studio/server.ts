/**
 * The studio's HTTP server on the shared server plumbing (src/server/http.ts, listen.ts, auth.ts): the page
 * at `/` (given the access token as `?token=`), a JSON API under `/api/` (the token, or a configured API
 * key, as a bearer key), Server-Sent Events for the two stages of a playground turn, `/healthz`.
 * Bodies are bounded (`maxBodyBytes`), requests time out while being received, and the page may talk to
 * this server only (its Content-Security-Policy).
 */
import type { ServerResponse } from 'node:http';
import { TurnError } from '../assistant/errors.js';
import { computeConversationMetrics, isConversationRun } from '../eval/conversation-metrics.js';
import { paperWelfare } from '../eval/paper-figures.js';
import { type GroupIntervals, intervals, welfareOf } from '../eval/record-intervals.js';
import { SELECTION_RULES, type SelectionRuleName } from '../game/select.js';
import { ChatModelError } from '../llm/types.js';
import type { AccessLog } from '../server/access-log.js';
import { bearerToken, createKeyChecker } from '../server/auth.js';
import { badRequest, HttpError, unauthorized } from '../server/errors.js';
import { createHandler, type RequestContext, type Route, readJsonBody, sendJson } from '../server/http.js';
import { listen, type RunningServer } from '../server/listen.js';
import { createMetricsRegistry } from '../server/metrics.js';
import { SteeringError } from '../steering/errors.js';
import type { SteeringPolicy } from '../steering/policy.js';
import { resolvePolicy } from '../steering/presets.js';
import type { ProfileInput } from '../steering/profile.js';
import { studioPage } from './assets.js';
import { createLiveStudies, keptArm, parseLiveTurn, requireLive } from './live-study.js';
import { type Playground, UnknownStage1Error } from './playground.js';
import { isRaterToken, newRaterSecret, raterToken } from './rater-token.js';
import { itemRow, itemView, type LoadedRun, replyText } from './runs.js';
import {
  type Arm,
  exportCsv,
  exportJsonl,
  type PolicyArm,
  parseAnswer,
  RATER_ID,
  raterPlan,
  StudyError,
  type StudyItem,
  type StudyStore,
  sidesDigest,
} from './study.js';
import { AnalysisError, createStudyAnalyses } from './study-analyses.js';
import { type ComparisonJson, compareTwo, overview, type RunChartsJson, runCharts } from './viewer.js';

/** Turns of a live study its page lists at most (the latest). */
const MAX_LISTED_TURNS = 200;

/** Runs one overview shows at most (the charts' colours and legends stay readable). */
const MAX_OVERVIEW_RUNS = 8;

export interface StudioOptions {
  runs: LoadedRun[];
  studies: StudyStore;
  /** The playground's turns; absent: the playground steers loaded matrices only. */
  playground?: Playground;
  /** A second backend a live study's arm may answer from (`--compare-base-url`), and what the page calls it. */
  compare?: { playground: Playground; label: string };
  /** What the page shows as the backend. */
  backend: string;
  policy: SteeringPolicy;
  rule: SelectionRuleName;
  profile?: ProfileInput;
  /** The access token of the printed URL: the owner's, which opens everything. */
  token: string;
  /**
   * The secret raters' tokens are made with (rater-token.ts); keep it to keep rater links working across
   * restarts. Default: a new one for this server.
   */
  raterSecret?: string;
  /** More accepted bearer keys (`--api-key-env`). */
  apiKeys?: readonly string[];
  host?: string;
  port?: number;
  maxBodyBytes?: number;
  log?: (line: string) => void;
  /** One JSON line per request (access-log.ts). */
  accessLog?: AccessLog;
  /** For tests only: holds each study analysis in its worker (see analysis-worker.ts). */
  analysisGate?: Int32Array;
  /** For tests only: the analysis worker's module, in place of analysis-worker.ts. */
  analysisWorker?: URL;
}

function query(ctx: RequestContext): URLSearchParams {
  return new URL(ctx.req.url ?? '/', 'http://localhost').searchParams;
}

function param(ctx: RequestContext, name: string): string {
  const v = query(ctx).get(name);
  if (v === null || v === '') throw badRequest(`the query parameter ${name} is required`, name);
  return v;
}

/**
 * A study's failure as the HTTP answer. A storage failure names the server's files and its reason: that
 * goes to the studio's log, for the researcher; the page (a rater's, on another machine) is told only
 * that nothing was stored and to try again.
 */
function studyError(err: unknown, log: (line: string) => void): never {
  if (err instanceof StudyError) {
    if (err.status === 404) throw new HttpError(404, err.message, 'not_found_error', 'not_found');
    if (err.status === 409) throw new HttpError(409, err.message, 'invalid_request_error', 'conflict');
    if (err.status === 500) {
      log(`studio: ${err.message}`);
      throw new HttpError(
        500,
        'the studio could not store this: nothing was saved; try again later (the studio log says why)',
        'server_error',
        'storage',
      );
    }
    // The study's checks name the field first ("item: required …"): that is the error's param.
    throw badRequest(err.message, /^([A-Za-z][A-Za-z0-9]*): /.exec(err.message)?.[1]);
  }
  throw err;
}

/**
 * A Content-Disposition naming a download: a plain ASCII name, and the exact one (RFC 6266) for an id
 * edited by hand into any text (a header takes no other characters, and a `"` would end the name).
 */
function attachment(filename: string): string {
  const plain = filename.replace(/[^A-Za-z0-9._-]/g, '_');
  const exact = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
  return `attachment; filename="${plain}"; filename*=UTF-8''${exact}`;
}

function startEvents(res: ServerResponse): (event: string, data: unknown) => void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  return (event, data) => {
    if (!res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
}

function errorMessage(err: unknown): string {
  if (err instanceof TurnError || err instanceof ChatModelError || err instanceof SteeringError)
    return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** An item as a rater sees it: replies 1 and 2, never which arm wrote them. */
function blindItem(item: StudyItem, left: Arm) {
  return {
    item: item.id,
    question: item.question,
    reply1: item.replies[left],
    reply2: item.replies[left === 'A' ? 'B' : 'A'],
    // Sent back with the answer: the server refuses it if the sides changed meanwhile.
    shown: sidesDigest(item, left),
    ...(item.live === undefined ? {} : { conversation: item.live.conversation, turn: item.live.turn }),
  };
}

export async function startStudioServer(options: StudioOptions): Promise<RunningServer> {
  const { runs, studies } = options;
  const maxBody = options.maxBodyBytes ?? 1 << 20;
  const keys = createKeyChecker([options.token, ...(options.apiKeys ?? [])]);
  const raterSecret = options.raterSecret ?? newRaterSecret();
  /**
   * The rating routes take the owner's key, or the rater's own token for this study and rater (a rater's
   * link carries only that, see rater-token.ts). Checked before a body is read.
   */
  const allowRater = (ctx: RequestContext, id: string, rater: string): void => {
    const authorization = ctx.req.headers.authorization;
    if (keys.check(authorization)) return;
    if (isRaterToken(raterSecret, id, rater, bearerToken(authorization))) return;
    throw unauthorized(
      authorization === undefined
        ? 'missing API key: send it as "Authorization: Bearer KEY"'
        : "invalid API key (a rater's token opens only that rater's rating of that study)",
    );
  };
  const page = await studioPage();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const runAt = (ctx: RequestContext): LoadedRun => {
    const i = Number(param(ctx, 'run'));
    const run = Number.isInteger(i) ? runs[i] : undefined;
    if (run === undefined) throw new HttpError(404, `no run ${i}`, 'not_found_error', 'not_found');
    return run;
  };
  // Charts and comparisons are computed once per run (pair) and kept: the runs do not change.
  const chartsOf = new Map<number, RunChartsJson>();
  const intervalsOf = new Map<number, Record<string, GroupIntervals>>();
  const runIntervals = (r: LoadedRun): Record<string, GroupIntervals> => {
    let found = intervalsOf.get(r.index);
    if (found === undefined) {
      found = intervals(r.records);
      intervalsOf.set(r.index, found);
    }
    return found;
  };
  const comparisons = new Map<string, ComparisonJson>();
  const analyses = createStudyAnalyses(studies, {
    ...(options.analysisGate === undefined ? {} : { gate: options.analysisGate }),
    ...(options.analysisWorker === undefined ? {} : { worker: options.analysisWorker }),
  });
  const live =
    options.playground === undefined
      ? undefined
      : createLiveStudies(studies, options.playground, options.compare?.playground);
  const studySummary = (id: string) => {
    const s = studies.get(id);
    const ratings = studies.ratings(id);
    return {
      id: s.id,
      kind: s.kind ?? 'runs',
      name: s.name,
      createdAt: s.createdAt,
      items: s.items.length,
      ratings: ratings.length,
      raters: new Set(ratings.map((r) => r.rater)).size,
      arms: s.arms,
    };
  };

  const routes: Route[] = [
    {
      method: 'GET',
      path: '/',
      auth: false,
      handle(ctx) {
        const q = query(ctx);
        const given = q.get('token');
        // The owner's token, or a rater's for the study and rater the link names (the page then shows
        // that rater's rating only).
        const study = q.get('study');
        const rater = q.get('rater');
        const allowed =
          given !== null &&
          (keys.check(`Bearer ${given}`) ||
            (study !== null && rater !== null && isRaterToken(raterSecret, study, rater, given)));
        if (!allowed) {
          ctx.res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' });
          ctx.res.end(
            'gtalign studio: open the URL printed at start (it carries the access token, ?token=…)\n',
          );
          return;
        }
        ctx.res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': page.csp,
          'cache-control': 'no-store',
          'referrer-policy': 'no-referrer',
          'x-content-type-options': 'nosniff',
        });
        ctx.res.end(page.html);
      },
    },
    {
      method: 'GET',
      path: '/healthz',
      auth: false,
      handle: ({ res }) => sendJson(res, 200, { status: 'ok' }),
    },
    {
      method: 'GET',
      path: '/api/config',
      handle: ({ res }) =>
        sendJson(res, 200, {
          policy: options.policy,
          rule: options.rule,
          ...(options.profile === undefined ? {} : { profile: options.profile }),
          backend: options.playground === undefined ? 'none (matrices only)' : options.backend,
          compare: options.compare?.label ?? null,
        }),
    },
    {
      method: 'POST',
      path: '/api/stage1',
      async handle(ctx) {
        const body = (await readJsonBody(ctx, maxBody)) as { question?: unknown; history?: unknown };
        if (options.playground === undefined) throw badRequest('the studio runs without a backend');
        if (typeof body?.question !== 'string' || body.question.trim() === '')
          throw badRequest('question: a non-empty string', 'question');
        const history = Array.isArray(body.history) ? body.history : [];
        if (
          history.length > 200 ||
          !history.every(
            (t) =>
              typeof t === 'object' &&
              t !== null &&
              ((t as { role?: unknown }).role === 'user' || (t as { role?: unknown }).role === 'assistant') &&
              typeof (t as { content?: unknown }).content === 'string',
          )
        )
          throw badRequest('history: at most 200 {role: "user"|"assistant", content} turns', 'history');
        const send = startEvents(ctx.res);
        try {
          const result = await options.playground.stage1(
            {
              question: body.question,
              history: history as { role: 'user' | 'assistant'; content: string }[],
            },
            (text) => send('text', { text }),
            ctx.signal,
          );
          send('stage1', result);
        } catch (err) {
          if (!ctx.signal.aborted) send('error', { message: errorMessage(err) });
        }
        ctx.res.end();
      },
    },
    {
      method: 'POST',
      path: '/api/stage2',
      async handle(ctx) {
        const body = (await readJsonBody(ctx, maxBody)) as { id?: unknown; policy?: unknown; rule?: unknown };
        if (options.playground === undefined) throw badRequest('the studio runs without a backend');
        if (typeof body?.id !== 'string') throw badRequest('id: the stage-1 id', 'id');
        if (!options.playground.has(body.id))
          throw new HttpError(
            404,
            `no stage 1 with id ${body.id} (restarted, or too old)`,
            'not_found_error',
            'not_found',
          );
        let policy: SteeringPolicy;
        try {
          policy = resolvePolicy(body.policy);
        } catch (err) {
          throw badRequest(`policy: ${errorMessage(err)}`, 'policy');
        }
        const rule = body.rule ?? options.rule;
        if (typeof rule !== 'string' || !(SELECTION_RULES as readonly string[]).includes(rule))
          throw badRequest(`rule: one of ${SELECTION_RULES.join(', ')}`, 'rule');
        const send = startEvents(ctx.res);
        try {
          const result = await options.playground.stage2(
            { id: body.id, policy, rule: rule as SelectionRuleName },
            (text) => send('text', { text }),
            ctx.signal,
          );
          send('done', {
            response: result.response,
            action: result.action,
            cell: result.cell,
            matrixAfter: result.trace.matrixAfter,
            selected: result.trace.selection.selected,
            notes: result.trace.notes,
            output: result.output,
          });
        } catch (err) {
          if (err instanceof UnknownStage1Error) send('error', { message: err.message });
          else if (!ctx.signal.aborted) send('error', { message: errorMessage(err) });
        }
        ctx.res.end();
      },
    },
    {
      method: 'GET',
      path: '/api/runs',
      handle: ({ res }) =>
        sendJson(
          res,
          200,
          runs.map((r) => ({
            index: r.index,
            name: r.name,
            dir: r.dir,
            records: r.records.length,
            metricsFrom: r.metricsFrom,
            metrics: r.metrics,
            intervals: runIntervals(r),
            // The paper's W per data source it reports, where this single-turn run scored records.
            paper: isConversationRun(r.records) ? {} : paperWelfare(runIntervals(r)),
            // A conversation run's metrics (eval report's), computed from its records' summaries.
            conversations: isConversationRun(r.records) ? computeConversationMetrics(r.records) : null,
            sweep: r.sweep === undefined ? null : { param: r.sweep.param, points: r.sweep.points.length },
            warnings: r.warnings,
          })),
        ),
    },
    {
      method: 'GET',
      path: '/api/run',
      handle(ctx) {
        const run = runAt(ctx);
        sendJson(ctx.res, 200, { name: run.name, items: run.records.map(itemRow) });
      },
    },
    {
      method: 'GET',
      path: '/api/charts',
      handle(ctx) {
        const run = runAt(ctx);
        let charts = chartsOf.get(run.index);
        if (charts === undefined) {
          charts = runCharts(run);
          chartsOf.set(run.index, charts);
        }
        sendJson(ctx.res, 200, charts);
      },
    },
    {
      method: 'GET',
      path: '/api/compare',
      handle(ctx) {
        const pick = (name: string): LoadedRun => {
          const i = Number(param(ctx, name));
          const run = Number.isInteger(i) ? runs[i] : undefined;
          if (run === undefined) throw new HttpError(404, `no run ${i}`, 'not_found_error', 'not_found');
          return run;
        };
        const a = pick('a');
        const b = pick('b');
        if (a === b) throw badRequest('choose two different runs');
        const key = `${a.index}/${b.index}`;
        let cmp = comparisons.get(key);
        if (cmp === undefined) {
          cmp = compareTwo(a, b);
          comparisons.set(key, cmp);
        }
        sendJson(ctx.res, 200, cmp);
      },
    },
    {
      method: 'GET',
      path: '/api/overview',
      handle(ctx) {
        const picked = param(ctx, 'runs')
          .split(',')
          .map((x) => {
            const i = Number(x);
            const run = Number.isInteger(i) ? runs[i] : undefined;
            if (run === undefined || run.records.length === 0)
              throw new HttpError(
                404,
                `no run with records at ${JSON.stringify(x)}`,
                'not_found_error',
                'not_found',
              );
            return run;
          });
        if (new Set(picked).size !== picked.length || picked.length < 2 || picked.length > MAX_OVERVIEW_RUNS)
          throw badRequest(`choose 2 to ${MAX_OVERVIEW_RUNS} different runs`, 'runs');
        sendJson(ctx.res, 200, overview(picked));
      },
    },
    {
      method: 'GET',
      path: '/api/item',
      handle(ctx) {
        const run = runAt(ctx);
        const id = param(ctx, 'id');
        const record = run.byId.get(id);
        if (record === undefined)
          throw new HttpError(404, `no item ${id} in ${run.name}`, 'not_found_error', 'not_found');
        sendJson(ctx.res, 200, itemView(run, record));
      },
    },
    {
      method: 'GET',
      path: '/api/studies',
      handle: ({ res }) =>
        sendJson(
          res,
          200,
          studies.list().map((s) => studySummary(s.id)),
        ),
    },
    {
      method: 'POST',
      path: '/api/studies',
      async handle(ctx) {
        const body = (await readJsonBody(ctx, maxBody)) as Record<string, unknown>;
        const name =
          typeof body?.name === 'string' && body.name.trim() !== ''
            ? body.name.trim().slice(0, 200)
            : undefined;
        if (name === undefined) throw badRequest('name: a non-empty string', 'name');
        const seed = body.seed;
        if (seed !== undefined && !(Number.isSafeInteger(seed) && (seed as number) >= 0))
          throw badRequest('seed: a non-negative integer', 'seed');
        if (body.kind === 'live') {
          if (options.playground === undefined)
            throw badRequest('a live study needs a backend: start the studio with one', 'kind');
          const rule = body.rule ?? options.rule;
          if (typeof rule !== 'string' || !(SELECTION_RULES as readonly string[]).includes(rule))
            throw badRequest(`rule: one of ${SELECTION_RULES.join(', ')}`, 'rule');
          const arm = (which: 'A' | 'B'): PolicyArm => {
            const field = `policy${which}` as const;
            let policy: SteeringPolicy;
            try {
              policy = resolvePolicy(body[field]);
            } catch (err) {
              throw badRequest(`${field}: ${errorMessage(err)}`, field);
            }
            const label =
              typeof body[field] === 'string' ? (body[field] as string) : (policy.name ?? 'custom');
            const backend = body[`backend${which}`] ?? 'main';
            if (backend !== 'main' && backend !== 'compare')
              throw badRequest(`backend${which}: "main" or "compare"`, `backend${which}`);
            if (backend === 'main') return { run: label, policy, rule: rule as SelectionRuleName };
            if (options.compare === undefined)
              throw badRequest(
                `backend${which}: the studio has no second backend (start it with --compare-base-url and --compare-model)`,
                `backend${which}`,
              );
            return {
              run: `${label} on ${options.compare.label}`,
              policy,
              rule: rule as SelectionRuleName,
              backend: 'compare',
            };
          };
          const arms = { A: arm('A'), B: arm('B') };
          try {
            const study = await studies.create({
              kind: 'live',
              name,
              arms,
              items: [],
              ...(seed === undefined ? {} : { seed: seed as number }),
            });
            sendJson(ctx.res, 201, studySummary(study.id));
          } catch (err) {
            studyError(err, log);
          }
          return;
        }
        if (body.kind !== undefined && body.kind !== 'runs')
          throw badRequest('kind: "runs" or "live"', 'kind');
        // Indexes as JSON integers only: Number("") is 0 and Number("0x1") is 1.
        const runOf = (v: unknown) => (Number.isSafeInteger(v) ? runs[v as number] : undefined);
        const a = runOf(body.runA);
        const b = runOf(body.runB);
        if (a === undefined || b === undefined) throw badRequest('runA, runB: indexes of the loaded runs');
        if (a === b) throw badRequest('choose two different runs');
        const items: StudyItem[] = [];
        for (const ra of a.records) {
          const rb = b.byId.get(ra.id);
          if (rb === undefined) continue;
          const replies = { A: replyText(ra), B: replyText(rb) };
          if (replies.A === '' || replies.B === '') continue;
          items.push({
            id: ra.id,
            data_source: ra.data_source,
            question: a.questions.get(ra.id)?.question ?? b.questions.get(ra.id)?.question ?? null,
            replies,
            W: { A: welfareOf(ra), B: welfareOf(rb) },
            actions: { A: itemRow(ra).action, B: itemRow(rb).action },
          });
        }
        try {
          const study = await studies.create({
            name,
            arms: { A: { run: a.name, dir: a.dir }, B: { run: b.name, dir: b.dir } },
            items,
            ...(seed === undefined ? {} : { seed: seed as number }),
          });
          sendJson(ctx.res, 201, studySummary(study.id));
        } catch (err) {
          studyError(err, log);
        }
      },
    },
    {
      method: 'GET',
      path: '/api/study',
      handle(ctx) {
        try {
          sendJson(ctx.res, 200, studySummary(param(ctx, 'id')));
        } catch (err) {
          studyError(err, log);
        }
      },
    },
    {
      method: 'GET',
      path: '/api/live-turns',
      handle(ctx) {
        const id = param(ctx, 'id');
        try {
          const study = studies.get(id);
          requireLive(study);
          const ratings = new Map(studies.ratings(id).map((r) => [r.item, r]));
          // The study owner's view, not blind: the latest turns first, each with its rating when there is one.
          sendJson(
            ctx.res,
            200,
            study.items
              .slice(-MAX_LISTED_TURNS)
              .reverse()
              .map((item) => ({
                item: item.id,
                rater: item.live!.rater,
                conversation: item.live!.conversation,
                turn: item.live!.turn,
                at: item.live!.at,
                question: item.question,
                replies: item.replies,
                actions: item.actions,
                rating: ratings.get(item.id) ?? null,
              })),
          );
        } catch (err) {
          studyError(err, log);
        }
      },
    },
    {
      method: 'GET',
      path: '/api/rater-link',
      handle(ctx) {
        const id = param(ctx, 'id');
        const rater = param(ctx, 'rater');
        if (!RATER_ID.test(rater)) throw badRequest('rater: 1–64 letters, digits, "_", "." or "-"', 'rater');
        try {
          studies.get(id);
        } catch (err) {
          studyError(err, log);
        }
        const token = raterToken(raterSecret, id, rater);
        const search = new URLSearchParams({ study: id, rater, token });
        // The page's path and query; the hash names the rating view for pages that route by it.
        sendJson(ctx.res, 200, {
          token,
          path: `/?${search}#/study/${encodeURIComponent(id)}/rate/${encodeURIComponent(rater)}`,
        });
      },
    },
    {
      method: 'GET',
      path: '/api/rater',
      auth: false,
      handle(ctx) {
        const id = param(ctx, 'id');
        const rater = param(ctx, 'rater');
        allowRater(ctx, id, rater);
        if (!RATER_ID.test(rater)) throw badRequest('rater: 1–64 letters, digits, "_", "." or "-"', 'rater');
        try {
          const study = studies.get(id);
          const items = new Map(study.items.map((i) => [i.id, i]));
          // Ratings of items taken out of the study (by hand) are not this plan's progress.
          const done = studies
            .ratings(id)
            .filter((r) => r.rater === rater && items.has(r.item))
            .map((r) => r.item);
          const plan = raterPlan(study, rater, done);
          const rated = new Map(
            studies
              .ratings(id)
              .filter((r) => r.rater === rater)
              .map((r) => [r.item, r]),
          );
          // Blind: the rater sees replies 1 and 2, never which arm wrote them.
          sendJson(ctx.res, 200, {
            kind: study.kind ?? 'runs',
            name: study.name,
            done: plan.done,
            items: plan.order.map(({ item, left }) => {
              const it = items.get(item)!;
              const rating = rated.get(item);
              return {
                ...blindItem(it, left),
                // Which reply continued a live conversation (1 or 2), once rated.
                ...(it.live === undefined
                  ? {}
                  : { kept: rating === undefined ? null : keptArm(it, rating) === left ? 1 : 2 }),
              };
            }),
          });
        } catch (err) {
          studyError(err, log);
        }
      },
    },
    {
      method: 'POST',
      path: '/api/live-turn',
      auth: false,
      async handle(ctx) {
        const id = param(ctx, 'id');
        const rater = param(ctx, 'rater');
        allowRater(ctx, id, rater);
        if (!RATER_ID.test(rater)) throw badRequest('rater: 1–64 letters, digits, "_", "." or "-"', 'rater');
        const body = await readJsonBody(ctx, maxBody);
        if (live === undefined) throw badRequest('the studio runs without a backend');
        try {
          const item = await live.turn(id, rater, parseLiveTurn(body), ctx.signal);
          sendJson(ctx.res, 200, { ...blindItem(item, item.live!.left), kept: null });
        } catch (err) {
          if (err instanceof StudyError) studyError(err, log);
          throw new HttpError(502, `the backend failed: ${errorMessage(err)}`, 'server_error', 'backend');
        }
      },
    },
    {
      method: 'POST',
      path: '/api/rate',
      auth: false,
      async handle(ctx) {
        const id = param(ctx, 'id');
        const rater = param(ctx, 'rater');
        allowRater(ctx, id, rater);
        const body = await readJsonBody(ctx, maxBody);
        try {
          const answer = parseAnswer(studies.get(id), rater, body);
          const { stored, rating } = await studies.rate(id, answer);
          const done = studies.ratings(id).filter((r) => r.rater === rater).length;
          // The answer kept, as the rater saw it (replies 1 and 2): when this one came second (another tab,
          // a resent request) it was not stored, and the page says which answer stands.
          const right: Arm = rating.left === 'A' ? 'B' : 'A';
          const kept = {
            satisfaction1: rating.satisfaction[rating.left],
            satisfaction2: rating.satisfaction[right],
            preference: rating.preference === 'tie' ? 'tie' : rating.preference === rating.left ? 1 : 2,
          };
          sendJson(ctx.res, 200, { stored, done, kept });
        } catch (err) {
          studyError(err, log);
        }
      },
    },
    {
      method: 'GET',
      path: '/api/analysis',
      async handle(ctx) {
        const id = param(ctx, 'id');
        try {
          // In a worker thread: raters' requests are answered meanwhile.
          const analysis = await analyses.analyze(id);
          const study = studies.get(id);
          sendJson(ctx.res, 200, {
            ...analysis,
            kind: study.kind ?? 'runs',
            arms: { A: study.arms.A.run, B: study.arms.B.run },
          });
        } catch (err) {
          if (err instanceof AnalysisError) {
            log(`studio: ${err.message}`);
            throw new HttpError(500, err.message, 'server_error', 'analysis');
          }
          studyError(err, log);
        }
      },
    },
    {
      method: 'GET',
      path: '/api/export',
      handle(ctx) {
        const id = param(ctx, 'id');
        const format = query(ctx).get('format') ?? 'csv';
        if (format !== 'csv' && format !== 'jsonl') throw badRequest('format: csv or jsonl', 'format');
        try {
          const study = studies.get(id);
          const ratings = studies.ratings(id);
          const text = format === 'csv' ? exportCsv(study, ratings) : exportJsonl(study, ratings);
          ctx.res.writeHead(200, {
            'content-type':
              format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
            'content-disposition': attachment(`${id}.${format}`),
            'cache-control': 'no-store',
          });
          ctx.res.end(text);
        } catch (err) {
          studyError(err, log);
        }
      },
    },
  ];
  const handler = createHandler({
    routes,
    keys,
    metrics: createMetricsRegistry(),
    log,
    accessLog: options.accessLog,
  });
  const running = await listen(handler, {
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  return {
    ...running,
    async close(graceMs) {
      // An analysis in progress is stopped, not waited for: its request is told the studio is stopping.
      await analyses.close();
      await running.close(graceMs);
    },
  };
}
