/**
 * The HTML report in a real headless browser (Debian's chromium driven by playwright-core): it renders,
 * every chart has its points, and the page logs no errors and requests nothing from the network.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/eval/types.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { rec } from './helpers.js';

const CHROMIUM = process.env.GTALIGN_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium)
  console.warn(
    `report-browser: skipped, no Chromium at ${CHROMIUM} (apt-get install chromium, or set GTALIGN_CHROMIUM)`,
  );

function records(shift: number): RunRecord[] {
  const out: RunRecord[] = [];
  for (let i = 0; i < 12; i++) {
    const u = ((i * 37) % 100) / 100;
    const l = ((i * 53 + 11) % 100) / 100;
    out.push(
      rec(`m${i}`, 'math-hard', { u: Math.min(1, u + shift), l }, { cell: i % 3 === 0 ? 'DQ_DA' : 'VQ_CQ' }),
    );
    out.push(
      rec(
        `w${i}`,
        'wildguard',
        { u: l, l: u, judge: i % 2 ? 1 : 0.5 },
        { ground_truth: i % 2 ? 'unharmful' : 'harmful', cell: 'DQ_AQ' },
      ),
    );
  }
  return out;
}

async function writeRun(dir: string, rows: RunRecord[], name = dir): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'results.jsonl'), `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
  await writeFile(join(dir, 'config.json'), JSON.stringify({ name }));
}

describe.skipIf(!haveChromium)('the HTML report in headless Chromium', () => {
  it('renders every chart with its points and no console errors or network requests', async () => {
    const root = await mkdtemp(join(tmpdir(), 'gtalign-report-'));
    const a = join(root, 'run-a');
    const b = join(root, 'run-b');
    await writeRun(a, records(0));
    // A run name with no space to break it at: it wraps instead of widening the page.
    await writeRun(b, records(0.1), `run-b-${'long'.repeat(500)}`);
    const out = join(root, 'report');
    const r = await runCliInProcess(['eval', 'report', a, b, '--out', out]);
    expect(r.code, r.stderr).toBe(0);

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('request', (req) => {
        if (!req.url().startsWith('file:')) requests.push(req.url());
      });
      await page.goto(pathToFileURL(join(out, 'report.html')).href);
      // Both runs' points in the per-source scatters: 24 records each.
      const scatterPoints = await page.locator('svg[data-chart="scatter"] [data-point]').count();
      expect(scatterPoints).toBe(48);
      for (const source of ['math-hard', 'wildguard']) {
        expect(
          await page.locator(`svg[data-chart="scatter"][data-source="${source}"] [data-point]`).count(),
        ).toBe(24);
      }
      expect(await page.locator('svg [data-frontier]').count()).toBeGreaterThan(0);
      expect(await page.locator('svg [data-bar]').count()).toBeGreaterThan(0);
      // Rendered, not just present: the scatter has a real size on the page.
      const box = await page.locator('svg[data-chart="scatter"]').first().boundingBox();
      expect(box!.width).toBeGreaterThan(100);
      expect(box!.height).toBeGreaterThan(100);
      await page.screenshot({ path: join(out, 'screenshot.png'), fullPage: true });
      expect(problems).toEqual([]);
      expect(requests).toEqual([]);

      // On a phone's width every chart fits the screen (scaled), and nothing but the wide tables'
      // own scrolling boxes is wider than it.
      await page.setViewportSize({ width: 390, height: 844 });
      const widths = await page.evaluate(() => ({
        page: document.body.scrollWidth,
        view: window.innerWidth,
        charts: Array.from(
          document.querySelectorAll('figure svg'),
          (svg) => svg.getBoundingClientRect().right,
        ),
      }));
      expect(widths.page).toBeLessThanOrEqual(widths.view);
      for (const right of widths.charts) expect(right).toBeLessThanOrEqual(widths.view);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
