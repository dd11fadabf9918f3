/**
 * `gtalign studio [RUN_DIR…]`: the local web app (src/studio): the playground on the configured backend,
 * the run viewer over the folders given, and user studies kept in `--study-dir`. Binds 127.0.0.1 with a
 * random access token in the printed URL; elsewhere only with keys (or --no-auth), as `gtalign serve`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { group } from '../config/setting.js';
import { BACKEND } from '../config/settings/backend.js';
import { GENERATION } from '../config/settings/generation.js';
import { PROMPT_SETTINGS } from '../config/settings/prompt.js';
import { ACCESS_LOG, API_KEY_ENV, HOST, MAX_BODY_BYTES, NO_AUTH } from '../config/settings/server.js';
import { STEERING } from '../config/settings/steering.js';
import { COMPARE_BASE_URL, COMPARE_MODEL, STUDIO_PORT, STUDY_DIR } from '../config/settings/studio.js';
import { failureReason } from '../studio/append-log.js';
import { FolderLockedError, lockStudiesFolder } from '../studio/folder-lock.js';
import { createPlayground } from '../studio/playground.js';
import { studioRaterSecret } from '../studio/rater-token.js';
import { loadRuns } from '../studio/runs.js';
import { startStudioServer } from '../studio/server.js';
import { openStudyStore } from '../studio/study.js';
import {
  asInputError,
  backendChoice,
  lazyBackend,
  loadSteering,
  turnFlags,
  turnOptionsOf,
} from './backend-options.js';
import { defineCommand } from './command.js';
import { InputError } from './errors.js';
import { networkUrls } from './network-urls.js';
import {
  keysNote,
  listenError,
  openServerAccessLog,
  serverSetup,
  serveUntilSignal,
} from './server-options.js';
import { givenSetting, settingConflict } from './setting-conflict.js';

const SETTINGS = [
  BACKEND,
  STEERING,
  PROMPT_SETTINGS,
  GENERATION,
  group('Server', [HOST, STUDIO_PORT, API_KEY_ENV, NO_AUTH, MAX_BODY_BYTES, ACCESS_LOG, STUDY_DIR]),
  group('Second backend (live studies)', [COMPARE_BASE_URL, COMPARE_MODEL]),
] as const;

export const studioCommand = defineCommand({
  name: 'studio',
  usage: 'Usage: gtalign studio [RUN_DIR…] [--port N] [--study-dir DIR] [backend options]',
  about: `A local web app on http://127.0.0.1:PORT/?token=… (a random token, printed at start):
  Playground  ask a question; stage 1 streams in; the matrix as a table and a (U, L) scatter with
              the Pareto frontier, the pure Nash equilibria and the chosen cell; pricing controls
              recompute edits, steered matrix and choice in the page (the library's own code);
              "Answer with this policy" continues the same turn on the backend (two policies side by side).
  Runs        the run folders given: the report's charts, metrics with bootstrap intervals, items with
              filters, one item in full (question, four blocks, matrices before and after, reward
              components, verdict, the conversation thread of a --turns run); a sweep folder as curves.
  Compare     two runs item by item: Pareto comparison, metric deltas, paired intervals and tests, and
              the items where one run dominates the other.
  Studies     blind pairwise ratings of two runs, or live: a rater's own messages answered by two
              steering policies from one stage 1 (or by two servers, with --compare-base-url), the
              conversation going on with the preferred reply;
              raters get a link; turns and ratings are appended to --study-dir/<study>/ and synced
              before they are acknowledged; CSV and JSONL export; an analysis page (satisfaction per
              arm, win rate, relative change, correlation with W, inter-rater agreement, intervals).
The page is self-contained (no CDN). The backend is created at the first question.`,
  notes: 'Exit codes: 0 stopped by SIGINT/SIGTERM, 1 a run folder, policy or listen problem, 2 bad usage.',
  settings: SETTINGS,
  positionals: true,
  async run(loaded, ctx) {
    const { values, positionals } = loaded;
    const server = serverSetup(
      { ...loaded, values: { ...values, port: values.port } } as Parameters<typeof serverSetup>[0],
      ctx.env,
    );
    const turn = turnFlags(loaded);
    const choice = backendChoice(loaded, turn.seed);
    let steering: Awaited<ReturnType<typeof loadSteering>>;
    let runs: Awaited<ReturnType<typeof loadRuns>>;
    try {
      steering = await loadSteering(turn);
      runs = await loadRuns(positionals);
    } catch (err) {
      throw asInputError(err);
    }
    const { spec: _spec, policy, ...defaults } = turnOptionsOf(turn, steering);
    const backend = lazyBackend(choice, ctx, 'gtalign studio');
    const model = backend.model;
    // A second server for live studies that compare two models (e.g. a base and a trained checkpoint).
    const compareUrl = values['compare-base-url'];
    const compareName = values['compare-model'];
    if ((compareUrl === undefined) !== (compareName === undefined)) {
      const given =
        compareUrl === undefined
          ? givenSetting(loaded, 'compare-model', 'studio.compareModel', true)
          : givenSetting(loaded, 'compare-base-url', 'studio.compareBaseUrl', true);
      const missing = compareUrl === undefined ? '--compare-base-url URL' : '--compare-model NAME';
      throw settingConflict(
        [given],
        (g) => `${g} needs ${missing} (the second server and its model go together)`,
      );
    }
    const compare =
      compareUrl === undefined || compareName === undefined
        ? undefined
        : {
            label: `${compareName} at ${compareUrl}`,
            backend: lazyBackend(
              { kind: 'openai', baseUrl: compareUrl, model: compareName, vendor: 'auto' },
              ctx,
              'gtalign studio (second backend)',
            ),
          };
    // The lock first: opening the studies repairs their logs, which another studio may be writing.
    const studyDir = resolve(values['study-dir']);
    let unlock = async (): Promise<void> => undefined;
    try {
      await mkdir(studyDir, { recursive: true });
      unlock = await lockStudiesFolder(studyDir);
    } catch (err) {
      if (err instanceof FolderLockedError) throw new InputError(err.message);
      // A read-only copy of the studies, say: served without the lock.
      ctx.stderr.write(
        `gtalign studio: warning: cannot lock the studies folder ${studyDir} (${failureReason(err)}); run no other studio on it\n`,
      );
    }
    let studies: Awaited<ReturnType<typeof openStudyStore>>;
    try {
      studies = await openStudyStore(studyDir, undefined, (m) =>
        ctx.stderr.write(`gtalign studio: warning: ${m}\n`),
      );
    } catch (err) {
      await unlock();
      throw err;
    }
    const token = randomBytes(24).toString('hex');
    // Raters' links are made with a secret kept beside the studies, so they outlive this process.
    let raterSecret: string | undefined;
    try {
      raterSecret = await studioRaterSecret(studies.dir);
    } catch (err) {
      ctx.stderr.write(
        `gtalign studio: warning: cannot keep the raters' secret in ${studies.dir} (${(err as Error).message}); rater links made now stop working when the studio stops\n`,
      );
    }
    let accessLog: Awaited<ReturnType<typeof openServerAccessLog>> | undefined;
    try {
      accessLog = await openServerAccessLog(server, ctx);
      const running = await startStudioServer({
        runs,
        studies,
        playground: createPlayground(model, defaults),
        ...(compare === undefined
          ? {}
          : {
              compare: {
                playground: createPlayground(compare.backend.model, defaults),
                label: compare.label,
              },
            }),
        backend:
          choice.kind === 'local'
            ? `local engine (${choice.model ?? 'default model'})`
            : `${choice.model} at ${choice.baseUrl}`,
        policy,
        rule: defaults.rule,
        ...(steering.profile === undefined ? {} : { profile: steering.profile }),
        token,
        ...(raterSecret === undefined ? {} : { raterSecret }),
        apiKeys: server.apiKeys,
        host: server.host,
        port: server.port,
        maxBodyBytes: server.maxBodyBytes,
        ...(accessLog === undefined ? {} : { accessLog }),
      }).catch((err: unknown) => {
        throw listenError(err, server);
      });
      ctx.stderr.write(
        `gtalign studio: ${runs.length} run(s), studies in ${studies.dir}, ${keysNote(server)}\n` +
          `gtalign studio: open ${running.url}/?token=${token}\n`,
      );
      // Rater links name the address the page was opened at: on every interface, say which others reach.
      for (const url of networkUrls(running.host, running.port))
        ctx.stderr.write(
          `gtalign studio: from the network, open ${url}/?token=${token} (rater links made there work on other machines)\n`,
        );
      return await serveUntilSignal(running, 'gtalign studio', ctx.stderr, accessLog);
    } finally {
      await accessLog?.close();
      await studies.close();
      await unlock();
      await backend.close();
      await compare?.backend.close();
    }
  },
});
