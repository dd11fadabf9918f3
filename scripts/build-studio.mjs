// Bundles the studio's page script (dist/studio/client/main.js, compiled by tsc) for the browser into
// dist/studio/app.js, which `gtalign studio` inlines into its page. Run by `npm run build` after tsc.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = `${root}dist/studio/client/main.js`;
if (!existsSync(entry)) {
  console.error(`build-studio: ${entry} is missing; run tsc first`);
  process.exit(1);
}
await build({
  entryPoints: [entry],
  outfile: `${root}dist/studio/app.js`,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
