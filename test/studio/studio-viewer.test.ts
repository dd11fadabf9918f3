/**
 * The run viewer's charts, two-run comparison and sweep curves in real headless Chromium, the studio
 * started as the real CLI process over run folders written with the eval store's own writer and a
 * sweep folder written with `writeSweep` (no model: nothing here generates).
 *
 * Shown: a run's view carries the report's charts (the SVG `gtalign eval report` draws: a (U, L) scatter
 * per data source whose points are exactly the run's scored records, a frontier, action-mix and welfare
 * bars); comparing two runs, chosen by keyboard, shows the Pareto table whose dominance counts (overall
 * and per source) and significance verdicts equal `compareRunPair` computed here on the same records,
 * and lists exactly the items where A ≻ B or B ≻ A, each linking to its item view; a sweep folder shows
 * its table and its curves at the swept values with the points' welfare; no console errors, no request
 * outside the studio. Screenshots go to $GTALIGN_SCREENSHOT_DIR when it is set.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareRunPair } from '../../src/eval/compare.js';
import { computeConversationMetrics } from '../../src/eval/conversation-metrics.js';
import type { TurnRecord } from '../../src/eval/conversation-store.js';
import { computeMetrics, isFailedReward, type Metrics } from '../../src/eval/metrics.js';
import { readRunDir } from '../../src/eval/run-dir.js';
import { writeSweep } from '../../src/eval/sweep.js';
import type { RunRecord } from '../../src/eval/types.js';
import { reward } from '../eval/helpers.js';
import {
  haveChromium,
  launchBrowser,
  makeRuns,
  N_ROWS,
  point,
  row,
  type Studio,
  screenshot,
  startStudio,
} from './helpers.js';

let studio: Studio;
let browser: Browser;
let root: string;
let records: { a: RunRecord[]; b: RunRecord[]; c: RunRecord[] };
const SWEEP_VALUES = [0, 0.5, 1];
let sweepMetrics: Metrics[];
let convRecords: RunRecord[];
const problems: string[] = [];

async function open(hash: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(studio.base)) problems.push(`request elsewhere: ${url}`);
  });
  await page.goto(`${studio.url}${hash}`);
  await page.waitForSelector(`body[data-ready="${hash}"]`);
  return page;
}

async function shot(page: Page, name: string, selector?: string): Promise<void> {
  if (!process.env.GTALIGN_SCREENSHOT_DIR) return;
  if (selector !== undefined) await page.locator(selector).first().scrollIntoViewIfNeeded();
  else await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, name);
}

describe.skipIf(!haveChromium)('gtalign studio run viewer: charts, comparison, sweeps', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'gtalign-studio-viewer-'));
    const runs = await makeRuns(root, true);
    records = {
      a: (await readRunDir(runs.a)).records,
      b: (await readRunDir(runs.b)).records,
      c: (await readRunDir(runs.c)).records,
    };
    // A conversation thread for row 0 of arm C (turns.jsonl as a conversation run writes it).
    const conv = row(0).id;
    const turns: TurnRecord[] = [
      {
        conversation: conv,
        turn: 1,
        role: 'assistant',
        output: '<response>Which sum do you mean?</response>',
        response: 'Which sum do you mean?',
        cell: 'VQ_CQ',
        action: 'CQ',
        tokens: { reasoning: 10, response: 5, total: 15 },
        reward: reward('math-hard', { u: 0.4, l: 0.9 }),
        next: 'answer',
        durationMs: 1,
      },
      {
        conversation: conv,
        turn: 1,
        role: 'user',
        mode: 'answer',
        text: 'The plain sum, 0 + 0.',
        tokens: 6,
        usage: { promptTokens: 20, completionTokens: 6 },
        durationMs: 1,
      },
      {
        conversation: conv,
        turn: 2,
        role: 'assistant',
        output: '<response>It is 0.</response>',
        response: 'It is 0.',
        cell: 'DQ_DA',
        action: 'DA',
        tokens: { reasoning: 10, response: 4, total: 14 },
        reward: reward('math-hard', { u: 0.81, l: 0.64 }),
        next: 'end',
        end: 'answered',
        durationMs: 1,
      },
    ];
    await writeFile(join(runs.c, 'turns.jsonl'), turns.map((t) => `${JSON.stringify(t)}\n`).join(''));
    // A sweep of three points: the metrics of arm A, B and C at 0, 0.5 and 1.
    sweepMetrics = [records.a, records.b, records.c].map((rs) => computeMetrics(rs));
    const sweepDir = join(root, 'sweep');
    await mkdir(sweepDir, { recursive: true });
    await writeSweep(sweepDir, {
      param: 'user_price',
      params: [],
      policy: 'api',
      points: SWEEP_VALUES.map((value, k) => ({
        value,
        values: { user_price: value },
        run: `user_price=${value}`,
        metrics: sweepMetrics[k]!,
      })),
    });
    // A conversation run (index 4): arm C's records with the summaries `eval run --turns` writes, two
    // personas, and the thread above for row 0.
    const convDir = join(root, 'run-d');
    await cp(runs.c, convDir, { recursive: true });
    convRecords = records.c.map((r, i) => ({
      ...r,
      conversation: {
        row: r.id,
        persona: i % 2 === 0 ? 'cooperative' : 'impatient',
        intent: { kind: 'row' },
        turns: 1 + (i % 3),
        end: i % 2 === 0 ? 'answered' : 'user-stopped',
        actions: Array.from({ length: 1 + (i % 3) }, (_, t) => (t === i % 3 ? 'DA' : 'CQ')),
        answered_at: i % 2 === 0 ? 1 + (i % 3) : null,
        correct: i % 2 === 0 ? 1 : null,
        assistant_tokens: 10,
        user_tokens: 3,
        per_turn: Array.from({ length: 1 + (i % 3) }, (_, t) => ({
          turn: t + 1,
          action: 'DA',
          U: 0.5,
          L: 0.5,
          W: 0.5,
        })),
        discounted: { gamma: 0.9, U: 0.5 + i / 100, L: 0.5, W: 0.5 + i / 100 },
        messages: [],
      },
    })) as RunRecord[];
    await writeFile(
      join(convDir, 'results.jsonl'),
      convRecords.map((r) => `${JSON.stringify(r)}\n`).join(''),
    );
    await rm(join(convDir, 'metrics.json'), { force: true });
    studio = await startStudio([
      runs.a,
      runs.b,
      runs.c,
      sweepDir,
      convDir,
      '--study-dir',
      join(root, 'studies'),
      '--access-log',
      join(root, 'access.log'),
    ]);
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await studio?.stop();
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('a run view shows the report’s charts: the scatter points are the run’s scored records', async () => {
    const page = await open('#/runs/0');
    const kinds = await page
      .locator('[data-testid=charts] svg[data-chart]')
      .evaluateAll((svgs) => svgs.map((s) => s.getAttribute('data-chart')));
    expect(kinds.filter((k) => k === 'scatter')).toHaveLength(2); // one per data source
    expect(kinds).toContain('action-mix');
    expect(kinds).toContain('welfare');
    const points = await page
      .locator('[data-testid=charts] svg[data-chart=scatter] [data-point]')
      .evaluateAll((els) =>
        els.map((e) => ({
          id: e.getAttribute('data-id')!,
          series: e.getAttribute('data-series'),
          x: Number(e.getAttribute('data-x')),
          y: Number(e.getAttribute('data-y')),
        })),
      );
    expect(points).toHaveLength(N_ROWS);
    for (const p of points) {
      const i = Number(p.id.split(':')[2]);
      expect(p.series).toBe('arm-A');
      expect([p.x, p.y]).toEqual([point('A', i).u, point('A', i).l]);
    }
    expect(await page.locator('svg[data-chart=scatter] [data-frontier]').count()).toBe(2);
    // Welfare bars: the overall W bar is the run's mean W.
    const wBar = Number(
      await page.getAttribute(
        'svg[data-chart=welfare] [data-bar][data-metric=W][data-group=overall]',
        'data-value',
      ),
    );
    expect(wBar).toBeCloseTo(computeMetrics(records.a).overall.welfare!, 12);
    // The item browser is still below the charts.
    await expect
      .poll(() => page.textContent('[data-testid=item-count]'))
      .toBe(`${N_ROWS} of ${N_ROWS} items`);
    await shot(page, '09-run-charts');
    await page.close();
  });

  it('two runs compared: dominance counts and verdicts equal compareRunPair; the items either run wins', async () => {
    const page = await open('#/runs');
    // Keyboard: choose A = arm-A (0), B = arm-C (2), then Enter on the button.
    await page.focus('#compare-a');
    await page.selectOption('#compare-a', '0');
    await page.selectOption('#compare-b', '2');
    await page.focus('#compare-go');
    await page.keyboard.press('Enter');
    await page.waitForSelector('body[data-ready="#/compare/0/2"]');
    const expected = compareRunPair(
      { name: 'arm-A', records: records.a },
      { name: 'arm-C', records: records.c },
    );
    const cell = (scope: string, col: string) =>
      page.textContent(`[data-table=pareto] tr[data-row="${scope}"] td[data-col="${col}"]`);
    for (const [scope, p] of [
      ['overall', expected.pareto.overall],
      ...Object.entries(expected.pareto.by_source),
    ] as const) {
      expect(await cell(scope, 'A ≻ B')).toBe(String(p.dominance.a_wins));
      expect(await cell(scope, 'B ≻ A')).toBe(String(p.dominance.b_wins));
      expect(await cell(scope, 'equal')).toBe(String(p.dominance.equal));
      expect(await cell(scope, 'incomparable')).toBe(String(p.dominance.incomparable));
      expect(await cell(scope, 'items')).toBe(String(p.n));
    }
    // C wins the even rows, A the odd ones.
    expect(expected.pareto.overall.dominance).toEqual({
      a_wins: N_ROWS / 2,
      b_wins: N_ROWS / 2,
      equal: 0,
      incomparable: 0,
    });
    // The significance table's verdicts.
    const verdict = await page.textContent('[data-table=significance] tr[data-row=W] td[data-col=verdict]');
    const w = expected.significance.welfare;
    expect(verdict).toBe(
      w.within_noise ? 'within noise' : w.difference.estimate! > 0 ? 'B higher' : 'B lower',
    );
    expect(await page.textContent('[data-table=significance] tr[data-row=W] td[data-col=n]')).toBe(
      String(w.n),
    );
    // The items list: exactly the rows each side wins.
    const listed = async (winner: 'A' | 'B') =>
      (
        await page
          .locator(`[data-testid=dominance-items] tr[data-winner=${winner}]`)
          .evaluateAll((trs) => trs.map((t) => t.getAttribute('data-item')!))
      ).sort();
    const ids = (pred: (i: number) => boolean) =>
      Array.from({ length: N_ROWS }, (_, i) => i)
        .filter(pred)
        .map((i) => row(i).id)
        .sort();
    expect(await listed('A')).toEqual(ids((i) => i % 2 === 1));
    expect(await listed('B')).toEqual(ids((i) => i % 2 === 0));
    expect(await listed('A')).toHaveLength(expected.pareto.overall.dominance.a_wins);
    // Both runs' scatter with their frontiers.
    const series = await page
      .locator('[data-testid=charts] svg[data-chart=scatter] [data-frontier]')
      .evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('data-frontier')))].sort());
    expect(series).toEqual(['arm-A', 'arm-C']);
    await shot(page, '10-compare');
    // The filter: only the items where B ≻ A.
    await page.selectOption('#compare-show', 'B');
    await expect
      .poll(() => page.locator('[data-testid=dominance-items] tr[data-item]').count())
      .toBe(expected.pareto.overall.dominance.b_wins);
    expect(await page.locator('[data-testid=dominance-items] tr[data-winner=A]').count()).toBe(0);
    await shot(page, '11-compare-items', '[data-testid=dominance-items]');
    // An item's link (B's output) opens its item view, by keyboard.
    const first = (await page.getAttribute('[data-testid=dominance-items] tr[data-item]', 'data-item'))!;
    await page.focus('[data-testid=dominance-items] tr[data-item] a >> nth=1');
    await page.keyboard.press('Enter');
    await page.waitForSelector(`body[data-ready="#/runs/2/item/${encodeURIComponent(first)}"]`);
    const i = Number(first.split(':')[2]);
    expect(await page.textContent('[data-testid=item-question]')).toBe(row(i).question);
    expect(await page.textContent('[data-block=response] pre')).toContain(`Reply C to row ${i}`);
    await page.close();
  });

  it('several runs together: their overall metrics, the runs’ frontier, one scatter with every run', async () => {
    const page = await open('#/compare');
    // Every run with records is offered, checked; leave the conversation run (4) out.
    expect(await page.locator('form[aria-label="Several runs together"] input[type=checkbox]').count()).toBe(
      4,
    );
    await page.uncheck('#overview-4');
    await page.click('#overview-go');
    await page.waitForSelector('body[data-ready="#/overview/0,1,2"]');
    const runs = [
      { index: 0, name: 'arm-A', m: computeMetrics(records.a).overall },
      { index: 1, name: 'arm-B', m: computeMetrics(records.b).overall },
      { index: 2, name: 'arm-C', m: computeMetrics(records.c).overall },
    ];
    const text = (run: number, col: string) =>
      page.textContent(`[data-testid=overview] tr[data-run="${run}"] td[data-col="${col}"]`);
    for (const r of runs) {
      expect(await text(r.index, 'W')).toBe(String(Number(r.m.welfare!.toFixed(3))));
      // Dominated: another run's mean U and L both at least as high, one of them higher.
      const over = runs.filter(
        (o) =>
          o !== r &&
          o.m.user_welfare! >= r.m.user_welfare! &&
          o.m.llm_welfare! >= r.m.llm_welfare! &&
          (o.m.user_welfare! > r.m.user_welfare! || o.m.llm_welfare! > r.m.llm_welfare!),
      );
      expect(await text(r.index, 'frontier')).toBe(
        over.length === 0 ? 'on the frontier' : `dominated by ${over.map((o) => o.name).join(', ')}`,
      );
    }
    const series = await page
      .locator('svg[data-chart=scatter] [data-point]')
      .evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('data-series')))].sort());
    expect(series).toEqual(['arm-A', 'arm-B', 'arm-C']);
    await shot(page, '15-several-runs', '[data-testid=overview]');
    // Fewer than two runs is refused before the page asks the server.
    const again = await open('#/compare');
    for (const i of [1, 2, 4]) await again.uncheck(`#overview-${i}`);
    await again.click('#overview-go');
    expect(await again.textContent('form[aria-label="Several runs together"] [role=alert]')).toBe(
      'Choose 2 to 8 runs.',
    );
    await again.close();
    await page.close();
  });

  it('a sweep folder shows its table and its curves', async () => {
    const page = await open('#/runs');
    expect(await page.textContent('[data-testid=run-3]')).toContain('sweep over user_price, 3 points');
    await page.click('[data-testid=run-3] a');
    await page.waitForSelector('body[data-ready="#/runs/3"]');
    const rows = await page
      .locator('[data-table=sweep] tbody tr')
      .evaluateAll((trs) => trs.map((t) => t.getAttribute('data-row')));
    expect(rows).toEqual(SWEEP_VALUES.map(String));
    const wCurve = await page
      .locator('svg[data-chart=sweep] [data-sweep-point][data-series=W]')
      .evaluateAll((els) =>
        els.map((e) => [Number(e.getAttribute('data-x')), Number(e.getAttribute('data-y'))]),
      );
    expect(wCurve.map(([x]) => x)).toEqual(SWEEP_VALUES);
    wCurve.forEach(([, y], k) => {
      expect(y).toBeCloseTo(sweepMetrics[k]!.overall.welfare!, 12);
    });
    expect(await page.locator('svg[data-chart=sweep] [data-curve=W]').count()).toBe(1);
    // Every point's mean W in the table too (3 decimals, as the report prints it).
    const tableW = await page
      .locator('[data-table=sweep] tbody td[data-col=W]')
      .evaluateAll((tds) => tds.map((t) => t.textContent));
    expect(tableW).toEqual(sweepMetrics.map((m) => m.overall.welfare!.toFixed(3)));
    expect(
      records.c.every((r) => !isFailedReward(r.reward)),
      'every record of the sweep’s arms is scored',
    ).toBe(true);
    await shot(page, '12-sweep');
    await page.close();
  });

  it('a conversation run shows eval report’s conversation metrics, and its item the conversation’s summary', async () => {
    const page = await open('#/runs');
    const expected = computeConversationMetrics(convRecords);
    const cell = (group: string, col: string) =>
      page.textContent(`[data-testid=conversations-4] tr[data-group="${group}"] td[data-col="${col}"]`);
    for (const [group, g] of [['overall', expected.overall], ...Object.entries(expected.groups)] as const) {
      expect(await cell(group, 'n')).toBe(String(g.n));
      expect(await cell(group, 'turns')).toBe(String(Number(g.turns!.toFixed(3))));
      expect(await cell(group, 'discounted')).toBe(`${Number(g.discounted.W!.toFixed(3))} (0.9)`);
    }
    expect(Object.keys(expected.groups)).toContain('all/impatient');
    // Single-turn runs have no such table.
    expect(await page.locator('[data-testid=conversations-0]').count()).toBe(0);
    await shot(page, '14-conversation-metrics', '[data-testid=conversations-4]');
    const id = convRecords[0]!.id;
    const item = await open(`#/runs/4/item/${encodeURIComponent(id)}`);
    expect(await item.textContent('[data-testid=conversation-summary]')).toBe(
      'with cooperative: 1 assistant turns, ended: answered; first answer at turn 1; correct: 1; W discounted (γ 0.9): 0.5',
    );
    await item.close();
    await page.close();
  });

  it('a conversation run’s item shows its thread, turn by turn', async () => {
    const id = row(0).id;
    const page = await open(`#/runs/2/item/${encodeURIComponent(id)}`);
    const turns = await page
      .locator('[data-testid=thread] li')
      .evaluateAll((lis) =>
        lis.map((li) => [li.getAttribute('data-role'), li.getAttribute('data-turn'), li.textContent]),
      );
    expect(turns.map(([role, turn]) => `${role}/${turn}`)).toEqual(['assistant/1', 'user/1', 'assistant/2']);
    expect(turns[0]![2]).toContain('Which sum do you mean?');
    expect(turns[0]![2]).toContain('VQ_CQ');
    expect(turns[1]![2]).toContain('The plain sum, 0 + 0.');
    expect(turns[2]![2]).toContain(`W ${Number(Math.sqrt(0.81 * 0.64).toFixed(3))}`);
    expect(turns[2]![2]).toContain('next: end, answered');
    // A single-turn run's item has no thread.
    const other = await open(`#/runs/0/item/${encodeURIComponent(id)}`);
    expect(await other.locator('[data-testid=thread]').count()).toBe(0);
    await other.close();
    await shot(page, '13-conversation-thread');
    await page.close();
  });

  it('logged no console errors and made no request outside the studio', () => {
    expect(problems).toEqual([]);
  });

  it('--access-log: a line for each API call the pages made, with the token’s fingerprint, never the token', async () => {
    const path = join(root, 'access.log');
    const fingerprint = `sha256:${createHash('sha256').update(studio.token).digest('hex').slice(0, 12)}`;
    const read = async () =>
      (await readFile(path, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { route: string; status: number; key: string | null });
    await expect
      .poll(async () => (await read()).filter((l) => l.route === '/api/compare' && l.status === 200).length)
      .toBeGreaterThan(0);
    const api = (await read()).filter((l) => l.route.startsWith('/api/'));
    expect(api.length).toBeGreaterThan(5);
    expect(api.every((l) => l.key === fingerprint)).toBe(true);
    expect(await readFile(path, 'utf8')).not.toContain(studio.token);
  });
});
