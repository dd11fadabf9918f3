/**
 * Vitest global setup: bundles the CLI from src/ once per run (esbuild, a second or two), so the tests that
 * start `gtalign` as a process run plain JavaScript instead of having tsx compile the whole CLI again in
 * every child. The bundle is rebuilt when watch mode reruns the tests, so it is always the current source.
 *
 * It lives in the run's temporary folder (test/support/temp-root.ts removes it) and keeps the layout the
 * built package relies on: the worker threads' modules (`offline-worker.js`, `analysis-worker.js`) beside
 * the code that starts them, the studio's page script as `app.js`, and packages loaded from the
 * repository's node_modules (linked next to the bundle), never bundled, so native and lazily loaded
 * packages behave as they do for a user.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { TestProject } from 'vitest/node';
import { cliEntry, REPO_ROOT } from './cli.js';

async function bundleCli(): Promise<void> {
  const dir = join(cliEntry(), '..');
  mkdirSync(dir, { recursive: true });
  await Promise.all([
    build({
      entryPoints: {
        main: join(REPO_ROOT, 'src/cli/main.ts'),
        'offline-worker': join(REPO_ROOT, 'src/reward/offline-worker.ts'),
        'analysis-worker': join(REPO_ROOT, 'src/studio/analysis-worker.ts'),
      },
      outdir: dir,
      bundle: true,
      // Commands load on demand (src/cli/commands.ts): chunks keep each command's modules and packages
      // out of the start-up of the others.
      splitting: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // For NODE_OPTIONS=--enable-source-maps, when a stack trace should name the src/ files.
      sourcemap: 'linked',
      sourcesContent: false,
      logLevel: 'warning',
    }),
    build({
      entryPoints: [join(REPO_ROOT, 'src/studio/client/main.ts')],
      outfile: join(dir, 'app.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      legalComments: 'none',
      logLevel: 'warning',
    }),
  ]);
}

export default async function setup(project: TestProject): Promise<void> {
  const modules = join(cliEntry(), '..', 'node_modules');
  mkdirSync(join(modules, '..'), { recursive: true });
  // A link, not a copy: the bundle resolves packages (and font files) as the repository does.
  symlinkSync(join(REPO_ROOT, 'node_modules'), modules, 'dir');
  await bundleCli();
  project.onTestsRerun(bundleCli);
}
