/**
 * The studio's one page: HTML with its CSS and its script inline (no CDN, no other request), and a
 * Content-Security-Policy that allows exactly that script (by hash) and requests to this server only.
 *
 * The script is `client/main.ts` bundled by esbuild for the browser: with the library's own game,
 * steering and payoff-edit code inside, so the page steers exactly as a turn does. In the published
 * package it is prebuilt (`npm run build` writes dist/studio/app.js with scripts/build-studio.mjs); run
 * from the source (tsx), it is bundled at start with the esbuild that tsx brings.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface StudioPage {
  html: string;
  csp: string;
}

const CSS = `
:root { font-family: system-ui, sans-serif; color: #1b1f24; background: #fbfbfc; --accent: #b3261e; --line: #c9ced6; }
/* A run's ids and a model's words can be long strings without spaces: they wrap instead of widening the page. */
body { margin: 0 auto; max-width: 1240px; padding: 0 16px 40px; overflow-wrap: anywhere; }
header { display: flex; align-items: baseline; gap: 24px; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.3rem; margin: 12px 0; }
nav a { margin-right: 16px; }
nav a[aria-current=page] { font-weight: 700; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible { outline: 3px solid #1a5fb4; outline-offset: 2px; }
.field { display: inline-flex; flex-direction: column; margin: 4px 12px 4px 0; font-size: .9rem; }
.field label { font-weight: 600; margin-bottom: 2px; }
input[type=number] { width: 8em; }
/* A long option (a data source id) sizes a select: it may not be wider than the screen. */
select { max-width: calc(100vw - 40px); }
button { padding: 6px 12px; margin: 4px 8px 4px 0; cursor: pointer; }
.error { color: var(--accent); font-weight: 600; }
.hint { color: #555; font-size: .9rem; }
pre { white-space: pre-wrap; background: #f1f3f6; padding: 8px; border-radius: 4px; max-height: 260px; overflow: auto; }
table { border-collapse: collapse; margin: 8px 0; font-size: .9rem; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; }
td.chosen { background: #fde7e5; font-weight: 700; }
td.pareto { box-shadow: inset 0 -3px 0 #2b8a3e; }
.badge { color: var(--accent); }
.panels { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
.panel { flex: 1 1 560px; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; background: #fff; }
fieldset { border: 1px solid var(--line); border-radius: 4px; margin: 6px 0; }
fieldset:disabled { opacity: .55; }
svg .axis { stroke: #444; }
svg .axis-label, svg .tick, svg .point-label, svg .legend text { font-size: 11px; fill: #333; }
svg .tick { text-anchor: middle; } svg .tick.end { text-anchor: end; }
svg .frontier { fill: none; stroke: #2b8a3e; stroke-width: 2; }
svg .before { fill: none; stroke: #8a8f98; stroke-dasharray: 2 2; }
svg .after { fill: #1a5fb4; }
svg .after.chosen { fill: var(--accent); }
svg .nash { fill: none; stroke: #e5a50a; stroke-width: 2.5; }
.reply { flex: 1 1 420px; border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: #fff; }
.scale label, .preference label { margin-right: 12px; }
.history li.assistant { color: #1a5fb4; }
ol.thread li { margin: 6px 0; white-space: pre-wrap; } ol.thread li.user { color: #5a3e00; }
.question { font-size: 1.05rem; }
.warning { color: #8a5a00; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.charts figure { margin: 0; border: 1px solid var(--line); border-radius: 4px; background: #fff; padding: 4px; max-width: 100%; overflow-x: auto; }
.charts figcaption { font-size: .85rem; color: #555; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
form.compare { border: 1px solid var(--line); border-radius: 6px; padding: 4px 12px 8px; background: #fff; margin: 8px 0; }
`;

async function bundle(): Promise<string> {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const prebuilt = `${here}app.js`;
  if (existsSync(prebuilt)) return readFile(prebuilt, 'utf8');
  const entry = `${here}client/main.ts`;
  if (!existsSync(entry)) {
    throw new Error(
      `the studio's page script is missing: neither ${prebuilt} nor ${entry} exists (run npm run build)`,
    );
  }
  const esbuild = await import('esbuild');
  const out = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    legalComments: 'none',
  });
  return out.outputFiles[0]!.text;
}

let cached: Promise<StudioPage> | undefined;

/** The page (built once per process). */
export function studioPage(): Promise<StudioPage> {
  cached ??= bundle().then((js) => {
    // The script sits inside <script>: no "</script" may appear in it.
    const script = js.replace(/<\/script/gi, '<\\/script');
    const hash = createHash('sha256').update(script, 'utf8').digest('base64');
    const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gtalign studio</title>
<style>${CSS}</style>
</head>
<body>
<p>Loading gtalign studio…</p>
<script type="module">${script}</script>
</body>
</html>
`;
    const csp = [
      "default-src 'none'",
      `script-src 'sha256-${hash}'`,
      "style-src 'unsafe-inline'",
      "connect-src 'self'",
      'img-src data: blob:',
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
    return { html, csp };
  });
  return cached;
}
