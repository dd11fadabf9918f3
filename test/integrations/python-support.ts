/**
 * Running the Python adapters from tests: the interpreter (python3 on PATH, else Debian's), a child
 * process with the adapter module importable by name (as after `pip install integrations/python`), and
 * the parity fixture with the reference's numbers.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatasetRow } from '../../src/data/row.js';
import type { RunningServer } from '../../src/server/listen.js';
import { startRewardServer } from '../../src/server/reward.js';
import { REPO_ROOT } from '../support/cli.js';

function findPython(): string | undefined {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(candidate, ['-c', 'import sys; assert sys.version_info >= (3, 8)'], {
      encoding: 'utf8',
    });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

export const PYTHON = findPython();

export interface PythonRun {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs a script with `integrations/python` on the path; `server` is the prelude's `URL`. The adapters'
 * own default (GTALIGN_REWARD_URL) points at a dead port unless `env` sets it, so that every test says
 * where its adapter's URL comes from. A server that is down fails a call after its `retries` at once
 * (GTALIGN_REWARD_RETRY_SECONDS 0) unless `env` sets a time budget. `onErr` sees stderr as it comes.
 */
export function runPython(
  script: string,
  server: string,
  env: Record<string, string> = {},
  onErr: (text: string) => void = () => {},
): Promise<PythonRun> {
  // A file, not -c: multiprocessing's spawn start method re-imports the main module by its path.
  const dir = mkdtempSync(join(tmpdir(), 'gtalign-py-'));
  const file = join(dir, 'main.py');
  writeFileSync(file, script);
  return new Promise<PythonRun>((resolve, reject) => {
    const child = spawn(PYTHON ?? 'python3', [file], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        PYTHONDONTWRITEBYTECODE: '1',
        PYTHONPATH: `${REPO_ROOT}/integrations/python`,
        GTALIGN_TEST_SERVER: server,
        GTALIGN_REWARD_URL: 'http://127.0.0.1:9',
        GTALIGN_REWARD_RETRY_SECONDS: '0',
        ...env,
      },
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      onErr(err);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** The last line of stdout as JSON (scripts print their result last). */
export function lastJson<T>(run: PythonRun): T {
  const lines = run.out.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1] ?? '') as T;
  } catch {
    throw new Error(`no JSON result from python (exit ${run.code}):\n${run.out}\n${run.err}`);
  }
}

export interface ParityCase {
  id: string;
  data_source: string;
  response: string;
  ground_truth: string;
  verdict: number;
  extra_info?: Record<string, unknown>;
  expected: { score: number; user_reward: number; llm_reward: number; answer_reward: number };
}

export const FIXTURE = 'test/fixtures/reward-parity.jsonl';

export const CASES: ParityCase[] = readFileSync(`${REPO_ROOT}/${FIXTURE}`, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as ParityCase);

/**
 * Python prelude: `cases` (the fixture), `extra(c)` (extra_info with the verdict that `--judge offline`
 * reads), `label(c)` (the OpenRLHF label `gtalign data export --format openrlhf` writes) and `URL`.
 */
export const PRELUDE = `
import asyncio, functools, importlib, importlib.util, inspect, json, math, os, pickle, sys
URL = os.environ["GTALIGN_TEST_SERVER"]
cases = [json.loads(l) for l in open(${JSON.stringify(FIXTURE)}) if l.strip()]
def extra(c, verdict=True):
    e = dict(c.get("extra_info") or {})
    if verdict:
        e["verdict"] = c["verdict"]
    return e
def label(c, verdict=True):
    out = {"id": c["id"], "data_source": c["data_source"], "ground_truth": c["ground_truth"], "extra_info": c.get("extra_info") or {}}
    if verdict:
        out["verdict"] = c["verdict"]
    return json.dumps(out)
def failed_with(fn):
    try:
        fn()
        return "no error"
    except Exception as e:
        return type(e).__name__ + ": " + str(e)
`;

/** Asserts every value against the fixture's expected field, to 1e-9. */
export function expectParity(
  values: ReadonlyArray<number | null>,
  field: keyof ParityCase['expected'],
  check: (ok: boolean, message: string) => void,
): void {
  check(values.length === CASES.length, `${values.length} values for ${CASES.length} cases`);
  for (const [i, c] of CASES.entries()) {
    const v = values[i];
    check(
      typeof v === 'number' && Math.abs(v - c.expected[field]) <= 1e-9,
      `case ${c.id} ${field}: got ${v}, expected ${c.expected[field]}`,
    );
  }
}

/** A live offline reward server for a test file (the parity labels replay the reference, which clips its one off-scale verdict). */
export async function startOfflineServer(
  extra: Partial<Parameters<typeof startRewardServer>[0]> = {},
): Promise<RunningServer> {
  return startRewardServer({ clipVerdicts: true, log: () => {}, ...extra });
}

/** A loopback port with nothing listening (bound, then closed). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/**
 * The parity cases as data set rows, each with the chat messages `prompt` gives it (default: one user
 * message); the verdict rides in extra_info, where `--judge offline` reads it.
 */
export function parityRows(
  prompt: (c: ParityCase) => DatasetRow['prompt'] = (c) => [{ role: 'user', content: `Question ${c.id}` }],
): DatasetRow[] {
  return CASES.map((c, i) => ({
    id: c.id,
    data_source: c.data_source,
    prompt: prompt(c),
    ground_truth: c.ground_truth,
    extra_info: { ...(c.extra_info ?? {}), verdict: c.verdict },
    source: { file: 'parity', row: i },
  }));
}

/**
 * Python: `write(path, text)` puts a STAND-IN package's file (dedented) under a temporary folder, which is
 * first on the path of this process and of the processes it starts.
 */
export const STAND_IN_FOLDER = `
import tempfile, textwrap
root = tempfile.mkdtemp()
def write(path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    open(full, "w").write(textwrap.dedent(text))
sys.path.insert(0, root)
os.environ["PYTHONPATH"] = root + os.pathsep + os.environ.get("PYTHONPATH", "")
`;
