/**
 * A rater whose studio has stopped (real CLI studio, real headless Chromium): submitting a rating says the
 * studio cannot be reached and that the answer may not be saved, not the browser's bare "Failed to fetch";
 * once the studio is back on the same --study-dir, the same link shows what was saved.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  apiCall,
  haveChromium,
  launchBrowser,
  makeRuns,
  N_ROWS,
  type Studio,
  startStudio,
} from './helpers.js';

let browser: Browser | undefined;
let root: string | undefined;
const started: Studio[] = [];
afterAll(async () => {
  await browser?.close();
  for (const s of started) await s.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe.skipIf(!haveChromium)('a rater whose studio stopped', () => {
  it('is told the studio cannot be reached, and finds the saved answers when it is back', async () => {
    root = await mkdtemp(join(tmpdir(), 'gtalign-rater-offline-'));
    const runs = await makeRuns(root);
    const args = [runs.a, runs.b, '--study-dir', join(root, 'studies')];
    const first = await startStudio(args);
    started.push(first);
    const id = (await apiCall<{ id: string }>(first, '/api/studies', { name: 'off', runA: 0, runB: 1 })).json
      .id;
    const { path } = (await apiCall<{ path: string }>(first, `/api/rater-link?id=${id}&rater=dana`)).json;
    browser = await launchBrowser();
    const page = await browser.newPage();
    const answer = async () => {
      await page.check('input[name=sat1][value="3"]');
      await page.check('input[name=sat2][value="4"]');
      await page.check('input[name=preference][value="2"]');
      await page.click('#submit-rating');
    };
    await page.goto(`${first.base}${path}`);
    await page.waitForSelector('[data-testid=progress]');
    await answer();
    await expect.poll(() => page.textContent('[data-testid=progress]')).toBe(`1 of ${N_ROWS} rated`);

    await first.stop();
    await answer();
    await expect
      .poll(() => page.textContent('form.rating .error'))
      .toMatch(
        /^cannot reach the studio at http:\/\/127\.0\.0\.1:\d+ \(has it stopped\?\); this may not have been saved/,
      );

    // The studio is back (on another port): the same link's path opens the page with the first answer kept.
    const second = await startStudio(args);
    started.push(second);
    await page.goto(`${second.base}${path}`);
    await page.waitForSelector('[data-testid=progress]');
    expect(await page.textContent('[data-testid=progress]')).toBe(`1 of ${N_ROWS} rated`);
  });
});
