#!/usr/bin/env node
/** The `gtalign` executable: runs the command line in this process and sets its exit status. */
import { main } from './dispatch.js';

// A reader that goes away (`| head -1`) ends a command quietly instead of with a stack trace. Commands
// that handle their own output errors (reward score) add a listener of their own and this one steps aside.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (stream.listenerCount('error') === 1) process.exit(process.exitCode ?? 0);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `gtalign: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 70;
  },
);
