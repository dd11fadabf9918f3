/**
 * A study with raters on other machines: the studio on every interface (`--host 0.0.0.0`) prints the
 * addresses the network reaches it at, since a rater link names the address its page was opened at, and
 * the page warns when that address (0.0.0.0) names no machine. Real CLI studio, real headless Chromium.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { networkUrls } from '../../src/cli/network-urls.js';
import { apiCall, haveChromium, launchBrowser, makeRuns, type Studio, startStudio } from './helpers.js';

describe('networkUrls', () => {
  const interfaces = {
    lo: [
      { address: '127.0.0.1', family: 'IPv4', internal: true },
      { address: '::1', family: 'IPv6', internal: true },
    ],
    eth0: [
      { address: '192.168.1.20', family: 'IPv4', internal: false },
      { address: 'fd00::2', family: 'IPv6', internal: false },
      { address: 'fe80::1', family: 'IPv6', internal: false },
    ],
  } as unknown as Parameters<typeof networkUrls>[2];

  it('lists the non-loopback addresses a wildcard host covers, and nothing for any other host', () => {
    expect(networkUrls('0.0.0.0', 8790, interfaces)).toEqual(['http://192.168.1.20:8790']);
    expect(networkUrls('::', 8790, interfaces)).toEqual([
      'http://192.168.1.20:8790',
      'http://[fd00::2]:8790',
    ]);
    for (const host of ['127.0.0.1', '::1', '192.168.1.20'])
      expect(networkUrls(host, 8790, interfaces)).toEqual([]);
  });
});

const networkV4 = Object.values(networkInterfaces())
  .flat()
  .filter((i) => i !== undefined && !i.internal && i.family === 'IPv4')
  .map((i) => i!.address);

describe.skipIf(!haveChromium)('a studio on every interface', () => {
  let browser: Browser | undefined;
  let root: string | undefined;
  let studio: Studio | undefined;
  afterAll(async () => {
    await browser?.close();
    await studio?.stop();
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('prints the network’s addresses; a rater link made at 0.0.0.0 is flagged, one made at a network address works', async () => {
    root = await mkdtemp(join(tmpdir(), 'gtalign-network-link-'));
    const runs = await makeRuns(join(root, 'runs'));
    process.env.GTALIGN_TEST_STUDIO_KEY = 'network-link-test-key-0123456789';
    studio = await startStudio([
      runs.a,
      runs.b,
      '--host',
      '0.0.0.0',
      '--api-key-env',
      'GTALIGN_TEST_STUDIO_KEY',
      '--study-dir',
      join(root, 'studies'),
    ]);
    const port = new URL(studio.base).port;
    // The URL printed first names no machine; the lines after it name the ones the network reaches.
    expect(studio.base).toBe(`http://0.0.0.0:${port}`);
    // Written just after the line startStudio waits for.
    if (networkV4.length > 0)
      await expect.poll(() => studio!.stderr()).toContain(`from the network, open http://${networkV4[0]}`);
    for (const address of networkV4)
      expect(studio.stderr()).toContain(
        `gtalign studio: from the network, open http://${address}:${port}/?token=${studio.token} (rater links made there work on other machines)`,
      );
    const id = (await apiCall<{ id: string }>(studio, '/api/studies', { name: 'net', runA: 0, runB: 1 })).json
      .id;

    browser = await launchBrowser();
    const linkFrom = async (origin: string): Promise<{ page: Page; href: string }> => {
      const page = await browser!.newPage();
      await page.goto(`${origin}/?token=${studio!.token}#/study/${id}`);
      await page.waitForSelector(`body[data-ready="#/study/${id}"]`);
      await page.fill('#rater-id', 'alice');
      await page.press('#rater-id', 'Enter');
      await page.waitForSelector('[data-testid=rater-link] a');
      return { page, href: (await page.locator('[data-testid=rater-link] a').getAttribute('href'))! };
    };
    const wildcard = await linkFrom(studio.base);
    expect(wildcard.href.startsWith(`http://0.0.0.0:${port}/?study=${id}&rater=alice&token=`)).toBe(true);
    expect(await wildcard.page.textContent('[data-testid=link-host-warning]')).toContain(
      'it names 0.0.0.0, which no other machine can reach',
    );
    // Opened at an address of this machine that is not the wildcard (the network's, else loopback):
    // the link names it, with no warning, and opens the rater's page.
    const reachable = await linkFrom(`http://${networkV4[0] ?? '127.0.0.1'}:${port}`);
    expect(reachable.href.startsWith(`http://${networkV4[0] ?? '127.0.0.1'}:${port}/?study=`)).toBe(true);
    expect(await reachable.page.locator('[data-testid=link-host-warning]').count()).toBe(0);
    const rater = await browser.newPage();
    await rater.goto(reachable.href);
    await rater.waitForSelector('form.rating');
  });
});
