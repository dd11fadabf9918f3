/**
 * `gtalign studio` in real headless Chromium (Debian's chromium driven by playwright-core), started as the
 * real CLI process. The playground's model is a SCRIPTED STAND-IN: a loopback OpenAI-compatible stub
 * server (test/support/openai-stub-server.ts, `--backend openai --vendor vllm`) that replays fixed
 * stage-1 and stage-2 texts; it shows the mechanics (streaming, steering, continuing the turn), not a
 * model's quality. The runs are written with the eval store's own writer.
 *
 * Shown: the playground renders the paper's example matrix, and moving the price control changes the
 * steered matrix and the chosen cell exactly as the library computes for the same policy; a question
 * streams stage 1 and two policies continue that one stage 1; the run viewer filters and opens an item;
 * a study is created, two raters complete it (one stops halfway and resumes), the export holds every
 * rating exactly once, and the analysis equals figures computed here independently; no console errors,
 * no request leaves the studio's origin; controls are labelled and work by keyboard. Screenshots of each
 * page at 1280×800 go to $GTALIGN_SCREENSHOT_DIR when it is set.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePayoff } from '../../src/chain/payoff.js';
import { PAPER_FIGURES } from '../../src/eval/paper-figures.js';
import { analyzeGame } from '../../src/game/analyze.js';
import { DINOSAUR_MATRIX } from '../../src/game/paper-example.js';
import { selectCell } from '../../src/game/select.js';
import type { PayoffMatrix } from '../../src/game/spec.js';
import { steeredMatrix as librarySteered } from '../../src/steering/apply.js';
import { compilePolicy } from '../../src/steering/compile.js';
import { parsePolicy } from '../../src/steering/policy.js';
import { kendallByPairs } from '../support/kendall-by-pairs.js';
import {
  type OpenAIStubServer,
  type StubRequestBody,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';
import {
  cellOf,
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

if (!haveChromium)
  console.warn('studio-browser: skipped, no Chromium (apt-get install chromium, or set GTALIGN_CHROMIUM)');

/** The paper's worked example (GTALIGN.md §5), in the paper's key order. */
const DINO = DINOSAUR_MATRIX;
const STAGE1 = `<thinking>Probably clear; "first" could mean true dinosaurs or relatives.</thinking>\n<payoff>\n${JSON.stringify(DINO)}\n</payoff>`;
const REPLIES: Record<string, string> = {
  DA: 'About 230 million years ago, in the Late Triassic.',
  CQ: 'Do you mean the first true dinosaurs, or their earliest relatives?',
  AQ: 'About 230 million years ago. Want to know which came first?',
};

/** The scripted stand-in: stage 1 → the paper's matrix; stage 2 → the reply for the sum pick of the prefix's matrix. */
function scripted(body: StubRequestBody) {
  const messages = body.messages as { role: string; content: string }[];
  const last = messages.at(-1)!;
  const stops = (body.stop as string[] | undefined) ?? [];
  if (last.role === 'assistant') {
    const p = last.content;
    const parsed = parsePayoff(p.slice(p.indexOf('<payoff>') + 8, p.indexOf('</payoff>')));
    const cell = parsed.ok ? selectCell(parsed.matrix).selected[0]! : 'VQ_CQ';
    return {
      content: `\n<analyze>I choose ${cell}.</analyze>\n<response>${REPLIES[cell.slice(3)]}`,
      chunkSize: 6,
    };
  }
  if (stops.includes('</payoff>')) return { content: STAGE1, chunkSize: 8 };
  return { content: REPLIES.CQ! };
}

/** The library's own computation of a turn's steering step (as runTurn does it). */
function libraryView(matrix: PayoffMatrix, policyInput: unknown, rule: 'sum' | 'product') {
  const edits = compilePolicy(parsePolicy(policyInput));
  const after = librarySteered(matrix, edits);
  const analysis = analyzeGame(after);
  return {
    after,
    chosen: selectCell(after, rule).selected[0]!,
    pareto: analysis.pareto,
    nash: analysis.pure_nash,
  };
}

let stub: OpenAIStubServer;
let studio: Studio;
let browser: Browser;
let root: string;
const problems: string[] = [];

async function open(hash = ''): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(studio.base) && !url.startsWith('blob:')) problems.push(`request elsewhere: ${url}`);
  });
  await page.goto(`${studio.url}${hash}`);
  await page.waitForSelector(`body[data-ready="${hash}"]`);
  return page;
}

/** Opens a rater's link (a full URL) and waits for their page. */
async function gotoRater(link: string): Promise<Page> {
  const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  p.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await p.goto(link);
  await p.waitForSelector('[data-testid=progress]');
  return p;
}

/** A study's export (as the page downloads it), and its JSONL rows. */
async function exported(id: string, format: 'csv' | 'jsonl'): Promise<string> {
  const res = await fetch(`${studio.base}/api/export?id=${id}&format=${format}`, {
    headers: { authorization: `Bearer ${studio.token}` },
  });
  return res.text();
}
const jsonlRows = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const shot = screenshot;

async function steeredMatrix(page: Page, n: number): Promise<PayoffMatrix> {
  const cells = await page
    .locator(`[data-testid=steered-${n}] td[data-cell]`)
    .evaluateAll((tds) =>
      tds.map(
        (td) =>
          [
            td.getAttribute('data-cell'),
            Number(td.getAttribute('data-llm')),
            Number(td.getAttribute('data-user')),
          ] as const,
      ),
    );
  return Object.fromEntries(cells.map(([k, LLM, user]) => [k, { LLM, user }]));
}

describe.skipIf(!haveChromium)('gtalign studio in headless Chromium', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'gtalign-studio-'));
    const runs = await makeRuns(root);
    stub = await startOpenAIStubServer(scripted);
    studio = await startStudio([
      runs.a,
      runs.b,
      '--study-dir',
      join(root, 'studies'),
      '--backend',
      'openai',
      '--base-url',
      stub.baseUrl,
      '--vendor',
      'vllm',
      '--model',
      'stub-model',
      '--no-grammar',
      // A second backend for live studies: the same stub under another model name.
      '--compare-base-url',
      stub.baseUrl,
      '--compare-model',
      'second-model',
    ]);
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await studio?.stop();
    await stub?.close();
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('refuses the page and the API without the token', async () => {
    expect((await fetch(`${studio.base}/`)).status).toBe(401);
    expect((await fetch(`${studio.base}/?token=wrong`)).status).toBe(401);
    expect((await fetch(`${studio.base}/api/runs`)).status).toBe(401);
    const page = await fetch(studio.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
  });

  it('playground: the paper’s example, and the price control steers exactly as the library', async () => {
    const page = await open('#/playground');
    // Keyboard: the example button by focus and Enter.
    await page.focus('#example');
    await page.keyboard.press('Enter');
    const before = await page
      .locator('[data-testid=matrix-before] td[data-cell]')
      .evaluateAll((tds) =>
        Object.fromEntries(
          tds.map((td) => [
            td.getAttribute('data-cell'),
            { LLM: Number(td.getAttribute('data-llm')), user: Number(td.getAttribute('data-user')) },
          ]),
        ),
      );
    expect(before).toEqual(DINO);
    expect(await page.locator('[data-testid=matrix-before] td.chosen').getAttribute('data-cell')).toBe(
      'VQ_CQ',
    );

    // Policy 2 starts as the paper's API edit: the pick moves to DQ_DA with the paper's numbers.
    expect(await page.getAttribute('[data-testid=chosen-2]', 'data-chosen')).toBe('DQ_DA');
    expect(await steeredMatrix(page, 2)).toEqual({
      DQ_AQ: { LLM: 1.5, user: 2.0 },
      DQ_CQ: { LLM: 1.3, user: 2.2 },
      DQ_DA: { LLM: 2.6, user: 2.3 },
      VQ_AQ: { LLM: 1.9, user: 1.8 },
      VQ_CQ: { LLM: 1.7, user: 2.4 },
      VQ_DA: { LLM: 2.9, user: 1.9 },
    });

    // Policy 1: per-token pricing under the product rule; move the output price.
    await page.selectOption('#p1-preset', 'custom');
    await page.selectOption('#p1-billing', 'per-token');
    await page.selectOption('#p1-payer', 'user');
    await page.selectOption('#p1-rule', 'product');
    const base = {
      billing: 'per-token',
      payer: 'user',
      pricePerMillionInput: 3,
      computeCostPerMillion: 6,
      computeCostPerMillionInput: 1.2,
      utilityPerCurrency: 50,
    };
    for (const [id, v] of [
      ['price-in', 3],
      ['compute', 6],
      ['compute-in', 1.2],
      ['utility', 50],
      ['time', 0],
    ] as const) {
      await page.fill(`#p1-${id}`, String(v));
    }
    const seen: string[] = [];
    for (const price of [0, 15, 40]) {
      await page.fill('#p1-price-out', String(price));
      const expected = libraryView(DINO, { ...base, pricePerMillionOutput: price }, 'product');
      await expect
        .poll(() => page.getAttribute('[data-testid=chosen-1]', 'data-chosen'))
        .toBe(expected.chosen);
      expect(await steeredMatrix(page, 1)).toEqual(expected.after);
      const frontier = (await page.getAttribute(
        '[data-testid=scatter-1] [data-frontier]',
        'data-frontier',
      ))!.split(' ');
      expect(frontier).toEqual(expected.pareto);
      const nash = await page
        .locator('[data-testid=scatter-1] [data-nash]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-nash')));
      expect(nash.sort()).toEqual([...expected.nash].sort());
      expect(await page.locator('[data-testid=scatter-1] circle.chosen').getAttribute('data-point')).toBe(
        expected.chosen,
      );
      seen.push(expected.chosen);
      if (price === 0) await shot(page, '01-playground-example');
    }
    // The price moved the pick (VQ_CQ at 0, DQ_DA once the user pays for output tokens).
    expect(seen[0]).toBe('VQ_CQ');
    expect(seen[1]).toBe('DQ_DA');
    // Keyboard: arrow keys on the price field change it, and the page follows.
    await page.focus('#p1-price-out');
    await page.fill('#p1-price-out', '1');
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => page.inputValue('#p1-price-out')).toBe('0');
    await expect.poll(() => page.getAttribute('[data-testid=chosen-1]', 'data-chosen')).toBe('VQ_CQ');
    // A policy the library refuses is named in the page, not thrown.
    await page.selectOption('#p1-billing', 'subscription');
    await page.selectOption('#p1-billing', 'per-token');
    await page.fill('#p1-utility', '');
    await expect
      .poll(() => page.locator('[data-testid=policy-1] [role=alert]').textContent())
      .toContain('enter a number');
    await page.close();
  });

  it('playground: a question streams stage 1, and two policies continue the same turn', async () => {
    const page = await open('#/playground');
    const requestsBefore = stub.requests.length;
    await page.fill('#question', 'When did dinosaurs first appear?');
    await page.press('#question', 'Enter');
    await page.waitForSelector('[data-testid=matrix-before]');
    await expect.poll(() => page.textContent('[data-testid=stage1]')).toContain('<payoff>');
    // Policy 1: none (the model's own pick, VQ_CQ); policy 2: the paper's API edit (DQ_DA).
    await page.selectOption('#p1-preset', 'none');
    await page.selectOption('#p1-rule', 'sum');
    expect(await page.getAttribute('[data-testid=chosen-1]', 'data-chosen')).toBe('VQ_CQ');
    await page.click('#p1-answer-button');
    await page.click('#p2-answer-button');
    await page.waitForSelector('[data-testid=p1-answer] [data-cell]');
    await page.waitForSelector('[data-testid=p2-answer] [data-cell]');
    expect(await page.getAttribute('[data-testid=p1-answer] [data-cell]', 'data-cell')).toBe('VQ_CQ');
    expect(await page.textContent('[data-testid=p1-answer]')).toContain(REPLIES.CQ);
    expect(await page.getAttribute('[data-testid=p2-answer] [data-cell]', 'data-cell')).toBe('DQ_DA');
    expect(await page.textContent('[data-testid=p2-answer]')).toContain(REPLIES.DA);
    expect(await page.textContent('[data-testid=p2-answer]')).toContain(
      'The server steered the same matrix as this page.',
    );
    const made = stub.requests.slice(requestsBefore).map((r) => r.body as StubRequestBody);
    // One stage 1 for both answers; each stage 2 continues the assistant turn from the steered matrix.
    const stage1 = made.filter((b) => ((b.stop as string[] | undefined) ?? []).includes('</payoff>'));
    const stage2 = made.filter((b) => (b.messages as { role: string }[]).at(-1)!.role === 'assistant');
    expect(stage1).toHaveLength(1);
    expect(stage2).toHaveLength(2);
    const prefixes = stage2.map((b) => (b.messages as { content: string }[]).at(-1)!.content);
    expect(prefixes.some((p) => p.includes('"LLM": 2.6') || p.includes('"LLM":2.6'))).toBe(true);
    expect(prefixes.every((p) => p.startsWith('<thinking>Probably clear'))).toBe(true);
    await shot(page, '02-playground-answers');
    // By hand: policy 1 raises DQ_AQ to 5 and 5 in the matrix stage 1 gave; the model is shown that matrix
    // (the scripted stage 2 answers by the sum pick of the matrix it is shown) and answers with AQ.
    await page.selectOption('#p1-preset', 'by-hand');
    expect(await page.inputValue('#p1-cell-DQ_AQ-user')).toBe(String(DINO.DQ_AQ!.user));
    await page.fill('#p1-cell-DQ_AQ-user', '5');
    await page.fill('#p1-cell-DQ_AQ-LLM', '5');
    await expect.poll(() => page.getAttribute('[data-testid=chosen-1]', 'data-chosen')).toBe('DQ_AQ');
    // The edits are shown per cell: DQ_AQ's only.
    expect(await page.textContent('[data-testid=edits-1] caption')).toBe('Edits per cell');
    const edited = await page
      .locator('[data-testid=edits-1] tbody tr')
      .evaluateAll((rows) =>
        rows.map((r) => r.textContent).filter((t) => t !== null && !/^\w+_\w+00$/.test(t)),
      );
    expect(edited).toContain(`DQ_AQ${5 - DINO.DQ_AQ!.user}${5 - DINO.DQ_AQ!.LLM}`);
    await page.click('#p1-answer-button');
    await expect
      .poll(() => page.getAttribute('[data-testid=p1-answer] [data-cell]', 'data-cell'))
      .toBe('DQ_AQ');
    expect(await page.textContent('[data-testid=p1-answer]')).toContain(REPLIES.AQ);
    expect(await page.textContent('[data-testid=p1-answer]')).toContain(
      'The server steered the same matrix as this page.',
    );
    await shot(page, '02b-playground-by-hand');
    await page.close();
  });

  it('run viewer: metrics, filters, one item', async () => {
    const page = await open('#/runs');
    expect(await page.locator('section.run').count()).toBe(2);
    expect(await page.textContent('[data-testid=run-0] tr[data-group=overall] td[data-metric=W]')).toMatch(
      /\[/,
    );
    // The paper's W per data source, placed against the interval the row shows.
    const metricRows = await page.locator('[data-testid=run-0] table.metrics tbody tr').evaluateAll((rows) =>
      rows.map((r) => ({
        group: r.getAttribute('data-group') ?? '',
        W: r.querySelector('[data-metric=W]')?.textContent ?? '',
        paper: r.querySelector('[data-metric=paper-W]')?.textContent ?? '',
      })),
    );
    expect(metricRows.map((r) => r.group)).toContain('math-hard');
    for (const row of metricRows) {
      const figure = PAPER_FIGURES[row.group]?.welfare;
      if (figure === undefined) {
        expect(row.paper).toBe('–');
        continue;
      }
      const [low, high] = row.W.match(/\[(.+), (.+)\]/)!
        .slice(1)
        .map(Number) as [number, number];
      const where = low > figure ? 'run above' : high < figure ? 'run below' : 'within';
      expect(row.paper).toBe(`${figure.toFixed(3)} (${where})`);
    }
    await shot(page, '03-runs');
    await page.click('[data-testid=run-0] a');
    await page.waitForSelector('body[data-ready="#/runs/0"]');
    await expect
      .poll(() => page.textContent('[data-testid=item-count]'))
      .toBe(`${N_ROWS} of ${N_ROWS} items`);
    await page.selectOption('#filter-source', 'math-hard');
    await expect
      .poll(() => page.textContent('[data-testid=item-count]'))
      .toBe(`${N_ROWS / 2} of ${N_ROWS} items`);
    // Arm A: cell VQ_CQ when i % 3 == 0, else DQ_DA. Math rows are the even ones.
    const even = Array.from({ length: N_ROWS }, (_, i) => i).filter((i) => i % 2 === 0);
    await page.selectOption('#filter-action', 'DA');
    const daMath = even.filter((i) => i % 3 !== 0);
    await expect
      .poll(() => page.textContent('[data-testid=item-count]'))
      .toBe(`${daMath.length} of ${N_ROWS} items`);
    // Score range on W = √(U·L).
    const w = (i: number) => Math.sqrt(point('A', i).u * point('A', i).l);
    const ws = daMath.map(w).sort((x, y) => x - y);
    const threshold = Number(((ws[0]! + ws.at(-1)!) / 2).toFixed(3));
    await page.fill('#filter-min', String(threshold));
    const kept = daMath.filter((i) => w(i) >= threshold);
    expect(kept.length).toBeLessThan(daMath.length);
    await expect
      .poll(() => page.textContent('[data-testid=item-count]'))
      .toBe(`${kept.length} of ${N_ROWS} items`);
    expect(kept.length).toBeGreaterThan(0);
    const ids = await page
      .locator('tr[data-item]')
      .evaluateAll((trs) => trs.map((t) => t.getAttribute('data-item')));
    expect(ids.sort()).toEqual(kept.map((i) => row(i).id).sort());
    await shot(page, '04-run-items');
    // Keyboard: open the first item with Enter.
    await page.focus('tr[data-item] a');
    await page.keyboard.press('Enter');
    const first = kept.map((i) => row(i)).find((r) => r.id === ids[0])!;
    await page.waitForSelector('[data-testid=item-question]');
    expect(await page.textContent('[data-testid=item-question]')).toBe(first.question);
    expect(await page.textContent('[data-block=response] pre')).toContain('Reply A to row');
    expect(await page.locator('[data-testid=item-before] td[data-cell]').count()).toBe(6);
    expect(await page.textContent('[data-testid=reward]')).toContain('payoff_quality');
    expect(await page.textContent('[data-testid=verdict]')).toContain('input');
    await shot(page, '05-run-item');
    await page.close();
  });

  it('user study: two raters (one resumes), export once each, analysis equals independent figures', async () => {
    const page = await open('#/studies');
    await page.fill('#study-name', 'A vs B');
    await page.selectOption('#study-a', '0');
    await page.selectOption('#study-b', '1');
    await page.fill('#study-seed', '42');
    await shot(page, '06-studies');
    await page.focus('#create-study');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/study\/a-vs-b-[0-9a-f]+$/);
    const id = /#\/study\/(.+)$/.exec(page.url())![1]!;
    await page.waitForSelector(`body[data-ready="#/study/${id}"]`);

    const links: Record<string, string> = {};
    for (const rater of ['alice', 'bob']) {
      await page.fill('#rater-id', rater);
      await page.press('#rater-id', 'Enter');
      await expect
        .poll(() => page.locator('[data-testid=rater-link] a').getAttribute('href'))
        .toContain(`/rate/${rater}`);
      links[rater] = (await page.locator('[data-testid=rater-link] a').getAttribute('href'))!;
    }

    /** What a rater enters for a pair: satisfaction from the reply's row and arm (read from the reply text). */
    const entered: { rater: string; item: string; A: number; B: number; pref: 'A' | 'B' | 'tie' }[] = [];
    const satOf = (rater: string, arm: 'A' | 'B', i: number) => {
      const p = point(arm, i);
      const base = 1 + Math.min(4, Math.floor(Math.sqrt(p.u * p.l) * 5));
      return Math.max(1, Math.min(5, base - (rater === 'bob' && i % 3 === 0 ? 1 : 0)));
    };
    const rate = async (p: Page, rater: string, useKeyboard: boolean) => {
      const item = (await p.getAttribute('form.rating', 'data-item'))!;
      const i = Number(item.split(':')[2]);
      const r1 = (await p.textContent('[data-testid=reply1]'))!;
      const arm1 = r1.startsWith('Reply A') ? 'A' : 'B';
      const arm2 = arm1 === 'A' ? 'B' : 'A';
      const s1 = satOf(rater, arm1, i);
      const s2 = satOf(rater, arm2, i);
      const pref = s1 === s2 ? 'tie' : s1 > s2 ? '1' : '2';
      if (useKeyboard) {
        // Radio groups by arrow keys from their first button, then Enter on the submit button.
        await p.focus('input[name=sat1][value="1"]');
        for (let k = 1; k < s1; k++) await p.keyboard.press('ArrowRight');
        await p.keyboard.press('Space');
        await p.focus('input[name=sat2][value="1"]');
        for (let k = 1; k < s2; k++) await p.keyboard.press('ArrowRight');
        await p.keyboard.press('Space');
        await p.focus(`input[name=preference][value="${pref}"]`);
        await p.keyboard.press('Space');
        await p.focus('#submit-rating');
        await p.keyboard.press('Enter');
      } else {
        await p.check(`input[name=sat1][value="${s1}"]`);
        await p.check(`input[name=sat2][value="${s2}"]`);
        await p.check(`input[name=preference][value="${pref}"]`);
        await p.fill('#comment', `${rater}, "item" ${i}, with a comma`);
        await p.click('#submit-rating');
      }
      await p.waitForFunction(
        (prev) => document.querySelector('form.rating')?.getAttribute('data-item') !== prev,
        item,
      );
      const satisfaction = { [arm1]: s1, [arm2]: s2 } as { A: number; B: number };
      entered.push({
        rater,
        item,
        ...satisfaction,
        pref: pref === 'tie' ? 'tie' : pref === '1' ? arm1 : arm2,
      });
    };

    // alice rates everything, the first three by keyboard only. Her page is her rating alone: the link
    // carries her own token, not the owner's, and the page has none of the owner's navigation.
    expect(links.alice).not.toContain(studio.token);
    const alice = await gotoRater(links.alice!);
    expect(await alice.locator('nav').count()).toBe(0);
    const aliceOrder: string[] = [];
    for (let k = 0; k < N_ROWS; k++) {
      aliceOrder.push((await alice.getAttribute('form.rating', 'data-item'))!);
      if (k === 1) await shot(alice, '07-rate');
      await rate(alice, 'alice', k < 3);
    }
    await alice.waitForSelector('[data-testid=finished]');
    await alice.close();

    // bob stops after half, comes back with the same link, and finishes.
    let bob = await gotoRater(links.bob!);
    const bobOrder: string[] = [];
    for (let k = 0; k < N_ROWS / 2; k++) {
      bobOrder.push((await bob.getAttribute('form.rating', 'data-item'))!);
      await rate(bob, 'bob', false);
    }
    await bob.close();
    bob = await gotoRater(links.bob!);
    expect(await bob.textContent('[data-testid=progress]')).toBe(`${N_ROWS / 2} of ${N_ROWS} rated`);
    for (let k = N_ROWS / 2; k < N_ROWS; k++) {
      bobOrder.push((await bob.getAttribute('form.rating', 'data-item'))!);
      await rate(bob, 'bob', false);
    }
    await bob.waitForSelector('[data-testid=finished]');
    await bob.close();
    // Each rater saw every item once, in an order of their own (seeded per rater).
    expect([...aliceOrder].sort()).toEqual(Array.from({ length: N_ROWS }, (_, i) => row(i).id).sort());
    expect([...bobOrder].sort()).toEqual([...aliceOrder].sort());
    expect(bobOrder).not.toEqual(aliceOrder);

    // The export: every rating exactly once, as entered.
    const csv = await exported(id, 'csv');
    const rows = jsonlRows(await exported(id, 'jsonl'));
    expect(rows).toHaveLength(2 * N_ROWS);
    expect(new Set(rows.map((r) => `${r.rater}/${r.item}`)).size).toBe(2 * N_ROWS);
    for (const e of entered) {
      const r = rows.find((x) => x.rater === e.rater && x.item === e.item)!;
      expect([r.satisfaction_A, r.satisfaction_B, r.preference]).toEqual([e.A, e.B, e.pref]);
      // Each reply's action, from its run's record; the question and both replies as the rater saw them.
      const i = Number(e.item.split(':')[2]);
      expect([r.action_A, r.action_B]).toEqual([cellOf('A', i).slice(3), cellOf('B', i).slice(3)]);
      expect(r.question).toBe(row(i).question);
      expect([r.reply_A, r.reply_B]).toEqual([
        `Reply A to row ${i}: the answer is ${2 * i}.`,
        `Reply B to row ${i}: the answer is ${2 * i}.`,
      ]);
    }
    expect(csv.split('\r\n')[0]).toBe(
      'study,rater,item,data_source,conversation,turn,left,satisfaction_A,satisfaction_B,preference,W_A,W_B,action_A,action_B,question,reply_A,reply_B,comment,at',
    );
    expect(csv.trim().split('\r\n')).toHaveLength(1 + 2 * N_ROWS);
    expect(csv).toContain('"bob, ""item"" 0, with a comma"');

    // The analysis page against figures computed here.
    const ap = await open(`#/study/${id}/analysis`);
    const value = async (stat: string) =>
      Number(await ap.getAttribute(`tr[data-stat=${stat}]`, 'data-value'));
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const a = entered.map((e) => e.A);
    const b = entered.map((e) => e.B);
    expect(await value('sat-A')).toBeCloseTo(mean(a), 12);
    expect(await value('sat-B')).toBeCloseTo(mean(b), 12);
    expect(await value('diff')).toBeCloseTo(mean(b) - mean(a), 12);
    expect(await value('relative')).toBeCloseTo(mean(b) / mean(a) - 1, 12);
    const wins = entered.map((e) => (e.pref === 'B' ? 1 : e.pref === 'tie' ? 0.5 : 0));
    expect(await value('winrate')).toBeCloseTo(mean(wins), 12);
    // Correlation of every rating with its reply's W.
    const ws: number[] = [];
    const sats: number[] = [];
    for (const e of entered) {
      const i = Number(e.item.split(':')[2]);
      for (const arm of ['A', 'B'] as const) {
        const p = point(arm, i);
        ws.push(Math.sqrt(p.u * p.l));
        sats.push(e[arm]);
      }
    }
    const pearsonR = (x: number[], y: number[]) => {
      const mx = mean(x);
      const my = mean(y);
      const sxy = x.reduce((s, v, k) => s + (v - mx) * (y[k]! - my), 0);
      const sxx = x.reduce((s, v) => s + (v - mx) ** 2, 0);
      const syy = y.reduce((s, v) => s + (v - my) ** 2, 0);
      return sxy / Math.sqrt(sxx * syy);
    };
    const rank = (x: number[]) =>
      x.map((v) => {
        const less = x.filter((u) => u < v).length;
        const same = x.filter((u) => u === v).length;
        return less + (same + 1) / 2;
      });
    expect(await value('pearson')).toBeCloseTo(pearsonR(ws, sats), 10);
    expect(await value('spearman')).toBeCloseTo(pearsonR(rank(ws), rank(sats)), 10);
    expect(await value('kendall')).toBeCloseTo(kendallByPairs(ws, sats), 10);
    // Satisfaction by the action of the reply rated (each record's action), per arm.
    const groups = new Map<string, number[]>();
    for (const e of entered) {
      const i = Number(e.item.split(':')[2]);
      for (const arm of ['A', 'B'] as const) {
        const key = `${arm} ${cellOf(arm, i).slice(3)}`;
        groups.set(key, [...(groups.get(key) ?? []), e[arm]]);
      }
    }
    const shown = await ap
      .locator('[data-testid=by-action] tbody tr')
      .evaluateAll((rows) =>
        rows.map(
          (r) =>
            [
              `${r.getAttribute('data-arm')} ${r.getAttribute('data-action')}`,
              Number(r.getAttribute('data-value')),
            ] as const,
        ),
      );
    expect(shown.map(([k]) => k)).toEqual([...groups.keys()].sort());
    for (const [k, v] of shown) expect(v).toBeCloseTo(mean(groups.get(k)!), 12);
    await shot(ap, '08-analysis');
    await ap.close();
  }, 120_000);

  it('live study: a rater’s own messages answered by two policies from one stage 1, rated blind; the conversation goes on with the preferred reply; resumes', async () => {
    const page = await open('#/studies');
    await page.fill('#live-name', 'live none vs paper-api');
    await page.selectOption('#live-a', 'none');
    await page.selectOption('#live-b', 'paper-api');
    await page.selectOption('#live-rule', 'sum');
    await page.click('#create-live-study');
    await page.waitForURL(/#\/study\/live-none-vs-paper-api-[0-9a-f]+$/);
    const id = /#\/study\/(.+)$/.exec(page.url())![1]!;
    await page.waitForSelector(`body[data-ready="#/study/${id}"]`);
    expect(await page.textContent('main#study')).toContain('arm A policy none, arm B policy paper-api');
    await page.fill('#rater-id', 'carol');
    await page.press('#rater-id', 'Enter');
    await expect
      .poll(() => page.locator('[data-testid=rater-link] a').getAttribute('href'))
      .toContain('/rate/carol');
    const link = (await page.locator('[data-testid=rater-link] a').getAttribute('href'))!;
    await page.close();

    // Arm A (no edits) answers the paper's example with CQ, arm B (paper-api) with DA: the reply's text tells the arm.
    const armOf = (text: string) =>
      text === REPLIES.CQ ? 'A' : text === REPLIES.DA ? 'B' : `unexpected: ${text}`;
    const entered: { A: number; B: number; pref: 'A' | 'B' | 'tie'; kept: string }[] = [];
    const rateShown = async (p: Page, s1: number, s2: number, pref: '1' | '2' | 'tie') => {
      await p.waitForSelector('form.rating');
      const r1 = (await p.textContent('[data-testid=reply1]'))!;
      const r2 = (await p.textContent('[data-testid=reply2]'))!;
      const arm1 = armOf(r1);
      const arm2 = armOf(r2);
      expect([arm1, arm2].sort()).toEqual(['A', 'B']);
      await p.check(`input[name=sat1][value="${s1}"]`);
      await p.check(`input[name=sat2][value="${s2}"]`);
      await p.check(`input[name=preference][value="${pref}"]`);
      await p.click('#submit-rating');
      await p.waitForSelector('#live-message');
      entered.push({
        ...({ [arm1]: s1, [arm2]: s2 } as { A: number; B: number }),
        pref: pref === 'tie' ? 'tie' : ((pref === '1' ? arm1 : arm2) as 'A' | 'B'),
        kept: pref === '2' ? r2 : r1,
      });
    };

    const requestsBefore = stub.requests.length;
    const carol = await gotoRater(link);
    expect(await carol.getAttribute('main#rate', 'data-kind')).toBe('live');
    await carol.fill('#live-message', 'When did dinosaurs first appear?');
    await carol.click('#live-send');
    await rateShown(carol, 2, 5, '2');
    // One stage 1 and a stage 2 per arm for the turn.
    const turn1 = stub.requests.slice(requestsBefore).map((r) => r.body as StubRequestBody);
    expect(turn1.filter((b) => ((b.stop as string[] | undefined) ?? []).includes('</payoff>'))).toHaveLength(
      1,
    );
    expect(turn1.filter((b) => (b.messages as { role: string }[]).at(-1)!.role === 'assistant')).toHaveLength(
      2,
    );
    // The thread shows the message and the reply the rater preferred.
    expect(await carol.textContent('[data-testid=thread]')).toBe(
      `you: When did dinosaurs first appear?assistant: ${entered[0]!.kept}`,
    );
    await shot(carol, '08-live-study');

    const beforeTurn2 = stub.requests.length;
    await carol.fill('#live-message', 'And the first mammals?');
    await carol.click('#live-send');
    await carol.waitForSelector('form.rating');
    const stage1Of2 = stub.requests
      .slice(beforeTurn2)
      .map((r) => r.body as StubRequestBody)
      .find((b) => ((b.stop as string[] | undefined) ?? []).includes('</payoff>'))!;
    const prompt = (stage1Of2.messages as { content: string }[]).map((m) => m.content).join('\n');
    expect(prompt).toContain(`Assistant: ${entered[0]!.kept}`);
    const other = entered[0]!.kept === REPLIES.CQ ? REPLIES.DA! : REPLIES.CQ!;
    expect(prompt).not.toContain(other);
    await carol.close();

    // Coming back with the same link: the unrated turn waits, the thread is there.
    const again = await gotoRater(link);
    await again.waitForSelector('form.rating');
    expect(await again.textContent('form.rating .question')).toBe('And the first mammals?');
    expect(await again.textContent('[data-testid=thread]')).toContain(`assistant: ${entered[0]!.kept}`);
    await rateShown(again, 4, 4, 'tie');
    // A new conversation starts empty.
    await again.click('#live-new');
    expect(await again.textContent('[data-testid=thread]')).toBe('');
    await again.close();

    // Export and analysis.
    const rows = jsonlRows(await exported(id, 'jsonl'));
    expect(rows.map((r) => [r.rater, r.conversation, r.turn, r.action_A, r.action_B, r.data_source])).toEqual(
      [
        ['carol', 1, 1, 'CQ', 'DA', 'live'],
        ['carol', 1, 2, 'CQ', 'DA', 'live'],
      ],
    );
    expect(rows.map((r) => [r.satisfaction_A, r.satisfaction_B, r.preference])).toEqual(
      entered.map((e) => [e.A, e.B, e.pref]),
    );
    expect(rows.map((r) => [r.question, r.reply_A, r.reply_B])).toEqual([
      ['When did dinosaurs first appear?', REPLIES.CQ, REPLIES.DA],
      ['And the first mammals?', REPLIES.CQ, REPLIES.DA],
    ]);
    // The owner's study page lists the turns, newest first, each reply under its arm, with the preference.
    const owner = await open(`#/study/${id}`);
    const listed = await owner
      .locator('[data-testid=live-turns] tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [
          tr.getAttribute('data-item'),
          tr.querySelectorAll('td')[3]!.textContent,
          tr.querySelector('td[data-preference]')!.getAttribute('data-preference'),
        ]),
      );
    expect(listed).toEqual([
      ['live:carol:1:2', `${REPLIES.CQ} (CQ, ${entered[1]!.A}/5)`, entered[1]!.pref],
      ['live:carol:1:1', `${REPLIES.CQ} (CQ, ${entered[0]!.A}/5)`, entered[0]!.pref],
    ]);
    await shot(owner, '09-live-study-owner');
    await owner.close();
    const ap = await open(`#/study/${id}/analysis`);
    const value = async (stat: string) =>
      Number(await ap.getAttribute(`tr[data-stat=${stat}]`, 'data-value'));
    const mean = (xs: number[]) => xs.reduce((sum, x) => sum + x, 0) / xs.length;
    expect(await value('sat-A')).toBeCloseTo(mean(entered.map((e) => e.A)), 12);
    expect(await value('sat-B')).toBeCloseTo(mean(entered.map((e) => e.B)), 12);
    expect(await ap.textContent('[data-testid=live-note]')).toContain('no welfare W');
    // By action: arm A always asked (CQ), arm B always answered (DA).
    const byAction = await ap
      .locator('[data-testid=by-action] tbody tr')
      .evaluateAll((rows) =>
        rows.map((r) => [
          r.getAttribute('data-arm'),
          r.getAttribute('data-action'),
          Number(r.getAttribute('data-value')),
        ]),
      );
    expect(byAction).toEqual([
      ['A', 'CQ', mean(entered.map((e) => e.A))],
      ['B', 'DA', mean(entered.map((e) => e.B))],
    ]);
    await ap.close();
  });

  it('live study on two backends: each arm answers from its own server (a whole turn each)', async () => {
    const page = await open('#/studies');
    // The form offers the second backend.
    expect(await page.locator('#live-b-backend option').allTextContents()).toEqual([
      `stub-model at ${stub.baseUrl}`,
      `second-model at ${stub.baseUrl}`,
    ]);
    await page.fill('#live-name', 'base vs second');
    await page.selectOption('#live-a', 'none');
    await page.selectOption('#live-b', 'none');
    await page.selectOption('#live-b-backend', 'compare');
    await page.click('#create-live-study');
    await page.waitForURL(/#\/study\/base-vs-second-[0-9a-f]+$/);
    const id = /#\/study\/(.+)$/.exec(page.url())![1]!;
    await page.waitForSelector(`body[data-ready="#/study/${id}"]`);
    expect(await page.textContent('main#study')).toContain(
      `arm B policy none on second-model at ${stub.baseUrl}`,
    );
    await page.close();
    const before = stub.requests.length;
    const res = await fetch(`${studio.base}/api/live-turn?id=${id}&rater=dana`, {
      method: 'POST',
      headers: { authorization: `Bearer ${studio.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'When did dinosaurs first appear?' }),
    });
    expect(res.status).toBe(200);
    const made = stub.requests.slice(before).map((r) => r.body as StubRequestBody);
    const stage1 = made.filter((b) => ((b.stop as string[] | undefined) ?? []).includes('</payoff>'));
    expect(stage1.map((b) => b.model).sort()).toEqual(['second-model', 'stub-model']);
  });

  it('logged no console errors and made no request outside the studio', () => {
    expect(problems).toEqual([]);
  });
});
