/**
 * Shared by the studio tests: small run folders written with the eval store's own writer, the studio
 * started as a real CLI process (`gtalign studio …` from test/support/cli.ts), and headless Chromium.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { openRunStore, type RunConfig } from '../../src/eval/store.js';
import type { RunRecord } from '../../src/eval/types.js';
import { output, reward } from '../eval/helpers.js';
import { cliArgs, REPO_ROOT } from '../support/cli.js';

export const CHROMIUM = process.env.GTALIGN_CHROMIUM ?? '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);
/** Where page screenshots go, for a person to look at; none are taken unless it is set (they cost ~5 s). */
const SCREENSHOTS = process.env.GTALIGN_SCREENSHOT_DIR;

/** Saves the visible part of the page as NAME.png under $GTALIGN_SCREENSHOT_DIR, when it is set. */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS === undefined || SCREENSHOTS === '') return;
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export const SOURCES = ['math-hard', 'ambig_qa'] as const;
export const N_ROWS = 8;

/** Row i: its id, source, question. */
export function row(i: number) {
  const source = SOURCES[i % 2]!;
  return { id: `${source}:test:${i}`, source, question: `Question number ${i}: what is ${i} + ${i}?` };
}

export type Arm = 'A' | 'B' | 'C';

/**
 * Arm A's, B's and C's (U, L) for row i: deterministic, different per arm. B dominates A on most rows
 * and never loses to it; C is far ahead of every arm on the even rows and far behind on the odd ones.
 */
export function point(arm: Arm, i: number): { u: number; l: number } {
  if (arm === 'C') return i % 2 === 0 ? { u: 0.95, l: 0.95 } : { u: 0.1, l: 0.1 };
  const u = arm === 'A' ? 0.3 + ((i * 37) % 50) / 100 : 0.35 + ((i * 53) % 55) / 100;
  const l = arm === 'A' ? 0.4 + ((i * 11) % 40) / 100 : 0.45 + ((i * 29) % 45) / 100;
  return { u: Math.min(1, u), l: Math.min(1, l) };
}

/** The cell arm's record of row i chose. */
export function cellOf(arm: Arm, i: number): string {
  if (arm === 'A') return i % 3 === 0 ? 'VQ_CQ' : 'DQ_DA';
  if (i % 4 === 0) return 'DQ_AQ';
  return arm === 'C' ? 'VQ_AQ' : 'DQ_DA';
}

const MATRIX: Record<string, [number, number]> = {
  DQ_AQ: [2.5, 1.0],
  DQ_CQ: [2.7, 1.3],
  DQ_DA: [2.8, 1.6],
  VQ_AQ: [2.3, 1.4],
  VQ_CQ: [2.9, 1.7],
  VQ_DA: [2.4, 1.9],
};

function config(name: string, dataFile: string): RunConfig {
  return {
    schema: 'gtalign.run/1',
    name,
    command: 'eval run',
    gtalign: 'test',
    createdAt: '2025-01-01T00:00:00.000Z',
    data: { files: [dataFile], dataSources: [], limit: null },
    mode: 'assistant',
    backend: { kind: 'openai', model: 'stub' },
    judge: { kind: 'offline' },
    reward: { configId: 'test', config: {}, mathCheck: false },
    tokenizer: { name: 'approx', exact: false, description: 'test' },
  };
}

/**
 * Writes a data file and two runs (arms A and B; and C when `withC`) over its rows with the eval store;
 * returns their folders.
 */
export async function makeRuns(
  root: string,
  withC = false,
): Promise<{ a: string; b: string; c: string; data: string }> {
  await mkdir(root, { recursive: true });
  const data = join(root, 'rows.jsonl');
  const rows = Array.from({ length: N_ROWS }, (_, i) => row(i));
  await writeFile(
    data,
    rows
      .map((r) =>
        JSON.stringify({
          id: r.id,
          data_source: r.source,
          prompt: [{ role: 'user', content: r.question }],
          ground_truth: r.source === 'ambig_qa' ? 'singleAnswer###x' : String(2 * Number(r.id.split(':')[2])),
          extra_info: { single_turn_prompt: r.question },
        }),
      )
      .join('\n')
      .concat('\n'),
  );
  const dirs = { a: join(root, 'run-a'), b: join(root, 'run-b'), c: join(root, 'run-c') };
  for (const arm of withC ? (['A', 'B', 'C'] as const) : (['A', 'B'] as const)) {
    const dir = arm === 'A' ? dirs.a : arm === 'B' ? dirs.b : dirs.c;
    const store = await openRunStore(dir, config(`arm-${arm}`, data), {
      resume: false,
    });
    for (let i = 0; i < N_ROWS; i++) {
      const r = row(i);
      const cell = cellOf(arm, i);
      const record: RunRecord = {
        id: r.id,
        data_source: r.source,
        ground_truth: r.source === 'ambig_qa' ? 'singleAnswer###x' : String(2 * i),
        response: output(MATRIX, `I choose ${cell}.`, `Reply ${arm} to row ${i}: the answer is ${2 * i}.`),
        cell,
        action: cell.slice(3),
        tokens: { reasoning: 80, response: 20, total: 100 },
        reward: reward(r.source, point(arm, i)),
        ...(arm === 'B'
          ? {
              trace: {
                policy: 'paper-api',
                matrixBefore: { DQ_DA: { LLM: 1.6, user: 2.8 } },
                matrixAfter: { DQ_DA: { LLM: 2.6, user: 2.3 } },
              },
            }
          : {}),
      };
      await store.append(record);
    }
    await store.close();
  }
  return { ...dirs, data };
}

export interface Studio {
  child: ChildProcess;
  /** http://127.0.0.1:PORT */
  base: string;
  token: string;
  /** The printed URL with the token. */
  url: string;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `gtalign studio` (built from the current source) and waits for the URL it prints. */
export function startStudio(args: string[]): Promise<Studio> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgs(['studio', '--port', '0', ...args]), {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stdout!.resume();
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /open (http:\/\/[^\s/]+)\/\?token=([0-9a-f]+)/.exec(err);
      if (m !== null) {
        resolve({
          child,
          base: m[1]!,
          token: m[2]!,
          url: `${m[1]}/?token=${m[2]}`,
          stderr: () => err,
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`studio exited (${code}) before listening: ${err}`)));
  });
}

/** A JSON API call with the token. */
export async function apiCall<T>(
  studio: Studio,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: T }> {
  const res = await fetch(`${studio.base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${studio.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: (text === '' ? undefined : JSON.parse(text)) as T };
}
