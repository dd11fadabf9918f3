import { describedAs, group } from '../config/setting.js';
import { DATA_BASE_URL, DATA_DIR, ONLY, PULL_FORCE, PULL_TIMEOUT } from '../config/settings/data.js';
import { JSON_OUTPUT } from '../config/settings/output.js';
import { DataError } from '../data/errors.js';
import { DATASET_FILES, type PulledFile, pullDatasets, selectDatasetFiles } from '../data/pull.js';
import { defineCommand } from './command.js';
import { InputError } from './errors.js';
import { writeOut } from './io.js';

const SETTINGS = [
  group('Options', [
    DATA_DIR,
    DATA_BASE_URL,
    ONLY,
    PULL_FORCE,
    PULL_TIMEOUT,
    describedAs(JSON_OUTPUT, 'print the results as one JSON object'),
  ]),
] as const;

function line(r: PulledFile): string {
  const kb = (r.bytes / 1024).toFixed(0);
  const what = r.status === 'downloaded' ? 'downloaded' : 'present   ';
  const replaced = r.replaced ? `  (replaced a cached copy that was not valid: ${r.replaced})` : '';
  return `${what} ${r.file.name}/${r.file.split}: ${r.rows} rows, ${kb} KiB -> ${r.path}${r.warning ? `  (warning: ${r.warning})` : ''}${replaced}`;
}

export const dataPullCommand = defineCommand({
  name: 'data pull',
  usage: 'Usage: gtalign data pull [--dir DIR] [--base-url URL] [--only NAME[/SPLIT],...] [--force]',
  about: `Downloads the GTAlign data sets (verl parquet) from the reference project's public repository into a
cache folder, as DIR/<name>/<split>.parquet. Each file is checked (parquet, every row a verl record)
and renamed into place only when complete and valid, so a bad download never replaces a good copy;
valid files already there are kept, invalid ones downloaded again. Offline, it stops within the connect timeout and prints
the URLs to fetch by hand.

Data sets: ${[...new Set(DATASET_FILES.map((f) => f.name))].join(', ')}
  (test splits of all; train splits of math-hard, wildguard, ambig_qa).`,
  notes: 'Exit codes: 0 all files present, 1 a download failed (the message lists the URLs), 2 bad usage.',
  settings: SETTINGS,
  async run({ values }, ctx) {
    const { dir, only } = values;
    try {
      const files = selectDatasetFiles(only ?? []);
      const results = await pullDatasets({
        dir,
        baseUrl: values['base-url'],
        files,
        connectTimeoutMs: values.timeout,
        force: values.force,
        ...(values.json ? {} : { onFile: (r: PulledFile) => ctx.stdout.write(`${line(r)}\n`) }),
      });
      if (values.json) {
        const out = results.map((r) => ({
          name: r.file.name,
          split: r.file.split,
          status: r.status,
          rows: r.rows,
          bytes: r.bytes,
          path: r.path,
          url: r.url,
          ...(r.warning ? { warning: r.warning } : {}),
          ...(r.replaced ? { replaced: r.replaced } : {}),
        }));
        await writeOut(ctx.stdout, `${JSON.stringify({ dir, files: out })}\n`);
      } else {
        await writeOut(ctx.stdout, `data in ${dir}\n`);
      }
      return 0;
    } catch (err) {
      if (err instanceof DataError) throw new InputError(err.message);
      throw err;
    }
  },
});
