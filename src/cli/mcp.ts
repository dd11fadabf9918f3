/**
 * `gtalign mcp`: the MCP server (src/mcp) over stdio or streamable HTTP. The backend for `decide` and
 * `respond` comes from the same settings as `gtalign chat` and is created on their first call, so the
 * solver, steering and reward tools work with no model at all. The MCP SDK is loaded only here, when the
 * command runs.
 */
import { givenAsFlag } from '../config/load.js';
import { group } from '../config/setting.js';
import { BACKEND } from '../config/settings/backend.js';
import { GENERATION } from '../config/settings/generation.js';
import { MCP_SETTINGS } from '../config/settings/mcp.js';
import { PROMPT_SETTINGS } from '../config/settings/prompt.js';
import { STEERING } from '../config/settings/steering.js';
import {
  asInputError,
  backendChoice,
  lazyBackend,
  loadSteering,
  turnFlags,
  turnOptionsOf,
} from './backend-options.js';
import { defineCommand } from './command.js';
import { InputError } from './errors.js';
import { serveUntilSignal } from './server-options.js';
import { givenSetting, settingConflict } from './setting-conflict.js';

const SETTINGS = [BACKEND, STEERING, PROMPT_SETTINGS, GENERATION, group('MCP', MCP_SETTINGS)] as const;

export const mcpCommand = defineCommand({
  name: 'mcp',
  usage: 'Usage: gtalign mcp [--transport stdio|http] [options]',
  about: `Serves the Model Context Protocol. Tools: analyze_game (a matrix -> frontier, equilibria,
choice), steer (a matrix and a policy -> edits, steered matrix, choice), decide (a question ->
user type, action and matrix from the backend, no answer written), respond (a whole GTAlign
turn), score_reward (an output and ground truth -> the welfare reward with components).
Resources: gtalign://presets, gtalign://policy-schema.

stdio: a client starts this command (e.g. "command": "npx", "args": ["gtalign", "mcp"]).
http: streamable HTTP at http://127.0.0.1:PORT/mcp; clients send "Authorization: Bearer TOKEN"
(or ?token=TOKEN). The token is $GTALIGN_MCP_TOKEN, else a random one printed at start.
decide and respond use the backend settings below, as gtalign chat does; the backend is
created at their first call.`,
  notes: 'Exit codes: 0 ok, 1 a policy or setting problem, 2 bad usage.',
  settings: SETTINGS,
  async run(loaded, ctx) {
    const { values } = loaded;
    // On stdio no port is opened: a --port there would be ignored while the client tries it.
    if (values.transport === 'stdio' && givenAsFlag(loaded, 'port'))
      throw settingConflict(
        [givenSetting(loaded, 'transport', 'mcp.transport', true)],
        (t) => `--port goes with --transport http, not ${t} (stdio opens no port)`,
      );
    const turn = turnFlags(loaded);
    const choice = backendChoice(loaded, turn.seed);
    let steering: Awaited<ReturnType<typeof loadSteering>>;
    try {
      steering = await loadSteering(turn);
    } catch (err) {
      throw asInputError(err);
    }
    const defaults = turnOptionsOf(turn, steering);
    const mcp = await import('../mcp/index.js');

    const backend = lazyBackend(choice, ctx, 'gtalign mcp');
    const model = backend.model;
    const createServer = () => mcp.createGtalignMcpServer({ model, defaults });

    try {
      if (values.transport === 'stdio') {
        ctx.stderr.write('gtalign mcp: serving on stdio\n');
        await mcp.serveStdio(createServer());
        return 0;
      }
      const token = values.token ?? mcp.randomToken();
      let running: Awaited<ReturnType<typeof mcp.startMcpHttpServer>>;
      try {
        running = await mcp.startMcpHttpServer({ createServer, token, port: values.port });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new InputError(`port ${values.port} on 127.0.0.1 is in use; choose another with --port`);
        }
        throw err;
      }
      const shown = values.token === undefined ? `${running.endpoint}?token=${token}` : running.endpoint;
      ctx.stderr.write(
        `gtalign mcp: listening on ${shown}\n` +
          (values.token === undefined
            ? `gtalign mcp: send "Authorization: Bearer ${token}" (a random token; set GTALIGN_MCP_TOKEN to choose one)\n`
            : 'gtalign mcp: the token is $GTALIGN_MCP_TOKEN\n'),
      );
      return await serveUntilSignal(running, 'gtalign mcp', ctx.stderr);
    } finally {
      await backend.close();
    }
  },
});
