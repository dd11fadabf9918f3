import { downloadModel, ModelDownloadError, RECOMMENDED_MODEL } from '../assistant/models.js';
import { TINY_MODEL_CONTEXT, writeTinyModel } from '../assistant/tiny-model.js';
import { group } from '../config/setting.js';
import { MODELS_SETTINGS, TINY_SETTINGS } from '../config/settings/models.js';
import { defineCommand, type OutputStream } from './command.js';
import { InputError, UsageError } from './errors.js';
import { writeOut } from './io.js';

const MB = 1024 * 1024;

function mb(bytes: number): string {
  return (bytes / MB).toFixed(1);
}

/** A progress bar redrawn in place on a terminal; a line every 10% (or 50 MB when the size is unknown) otherwise. */
function progressReporter(stderr: OutputStream): {
  update(received: number, total: number | undefined): void;
  done(): void;
} {
  const tty = stderr.isTTY === true;
  const started = performance.now();
  let lastStep = -1;
  let lastDraw = 0;
  return {
    update(received, total) {
      const seconds = Math.max(0.001, (performance.now() - started) / 1000);
      const rate = `${mb(received / seconds)} MB/s`;
      if (tty) {
        const now = performance.now();
        if (now - lastDraw < 100 && received !== total) return;
        lastDraw = now;
        if (total !== undefined && total > 0) {
          const share = Math.min(1, received / total);
          const filled = Math.round(share * 30);
          stderr.write('\r');
          stderr.write(
            `[${'#'.repeat(filled)}${'-'.repeat(30 - filled)}] ${(share * 100).toFixed(0).padStart(3)}%  ${mb(received)}/${mb(total)} MB  ${rate}   `,
          );
        } else {
          stderr.write('\r');
          stderr.write(`${mb(received)} MB  ${rate}   `);
        }
        return;
      }
      const step =
        total !== undefined && total > 0
          ? Math.floor((received / total) * 10)
          : Math.floor(received / (50 * MB));
      if (step === lastStep) return;
      lastStep = step;
      const where =
        total !== undefined && total > 0
          ? `${step * 10}% (${mb(received)} of ${mb(total)} MB)`
          : `${mb(received)} MB`;
      stderr.write(`downloaded ${where}, ${rate}\n`);
    },
    done() {
      if (tty && lastDraw > 0) stderr.write('\n');
    },
  };
}

export const modelsPullCommand = defineCommand({
  name: 'models pull',
  usage:
    'Usage: gtalign models pull [--url URL] [--dir DIR] [--force] [--connect-timeout SECONDS] [--sha256 HEX]',
  about: `Downloads a small instruct model for the local backend (gtalign chat --backend local):
  ${RECOMMENDED_MODEL.name}
  ${RECOMMENDED_MODEL.url}
into the cache folder ($XDG_CACHE_HOME/gtalign/models, else ~/.cache/gtalign/models), where
'gtalign chat' and 'gtalign demo' find it. The file is written to a temporary name and renamed
when complete and checked to be a whole GGUF file, so an interrupted download never leaves a broken
model behind. When the connection breaks (or the pull is killed), the bytes so far are kept beside it
and the same command resumes from them (an HTTP range, when the server gave an ETag or a date that
tells the file has not changed); --force starts over. The file's SHA-256 is computed as it is written
and printed; with --sha256 a file with another is not kept (compare with the digest the model's page
gives, e.g. Hugging Face's "SHA256" under the file's LFS details).`,
  notes: `Exit codes: 0 ok (or already there), 1 the download failed (the message gives the URL to fetch
by hand), 2 bad usage.`,
  settings: [group('Options', MODELS_SETTINGS)] as const,
  positionals: true,
  async run({ values, positionals }, ctx) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const url = values.url ?? RECOMMENDED_MODEL.url;
    const { dir } = values;
    ctx.stderr.write(`downloading ${url}\n`);
    const progress = progressReporter(ctx.stderr);
    try {
      const result = await downloadModel({
        url,
        dir,
        force: values.force,
        ...(values.sha256 === undefined ? {} : { sha256: values.sha256 }),
        connectTimeoutMs: values['connect-timeout'] * 1000,
        onProgress: (received, total) => progress.update(received, total),
      });
      progress.done();
      const digest =
        result.sha256 === undefined
          ? ''
          : `; SHA-256 ${result.sha256}${values.sha256 === undefined ? '' : ', as asked'}`;
      await writeOut(
        ctx.stdout,
        result.existed
          ? `${result.path} is already there (${mb(result.bytes)} MB${digest}); --force downloads it again\n`
          : `saved ${result.path} (${mb(result.bytes)} MB${result.resumedAt === undefined ? '' : `, resuming a kept partial download at byte ${result.resumedAt}`}${digest})${result.replaced === undefined ? '' : `, replacing the file that was there (${result.replaced})`}\n`,
      );
      return 0;
    } catch (err) {
      progress.done();
      if (err instanceof ModelDownloadError) throw new InputError(err.message);
      throw err;
    }
  },
});

export const modelsTinyCommand = defineCommand({
  name: 'models tiny',
  usage: 'Usage: gtalign models tiny [--dir DIR] [--force]',
  about: `Generates a tiny llama GGUF with random weights on this machine (no download) and saves it in the
cache folder ($XDG_CACHE_HOME/gtalign/models, else ~/.cache/gtalign/models), where 'gtalign chat',
'gtalign serve' and 'gtalign demo' find it when no other model is there. Its text is noise: under the
grammar it still writes the four blocks, so every command can be tried offline, and every output made
with it says that the weights are random. Its context is ${TINY_MODEL_CONTEXT} tokens, enough for the shipped data sets.
A real model ('gtalign models pull', or --model FILE.gguf) takes precedence once it is in the folder.`,
  notes: 'Exit codes: 0 ok (or already there), 1 the file could not be written, 2 bad usage.',
  settings: [group('Options', TINY_SETTINGS)] as const,
  positionals: true,
  async run({ values, positionals }, ctx) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const result = await writeTinyModel(values.dir, { force: values.force });
    await writeOut(
      ctx.stdout,
      result.existed
        ? `${result.path} is already there (${mb(result.bytes)} MB, random weights); --force writes it again\n`
        : `saved ${result.path} (${mb(result.bytes)} MB): a tiny model with RANDOM weights, for trying gtalign offline\n`,
    );
    return 0;
  },
});
