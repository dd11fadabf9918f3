/**
 * `gtalign demo`: the demo of `npm run demo` (src/cli/demo.ts) as a command, for a user who installed the
 * package and has no clone to run the npm script in.
 */
import { defineCommand } from './command.js';
import { UsageError } from './errors.js';

export const demoCommand = defineCommand({
  name: 'demo',
  usage: 'Usage: gtalign demo',
  about: `Answers one question the GTAlign way on the local engine under four pricing policies, with the trace
tables: what 'npm run demo' runs in a clone of the repository. Uses $GTALIGN_MODEL or the model
'gtalign models pull' downloaded; without one it generates a tiny model with RANDOM weights for the run
(and removes it afterwards), so it needs no download.`,
  notes: 'Exit codes: 0 ok, 1 the demo failed, 2 bad usage, 130 interrupted (ctrl-c).',
  settings: [] as const,
  positionals: true,
  async run({ positionals }, ctx) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const { runDemoInterruptibly } = await import('./demo.js');
    return runDemoInterruptibly({ env: ctx.env, write: (text) => ctx.stdout.write(text) }, (text) =>
      ctx.stderr.write(text),
    );
  },
});
