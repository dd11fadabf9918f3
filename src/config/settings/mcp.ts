/** `gtalign mcp`'s own settings: the transport, and for HTTP the port and the token. */
import { group, setting } from '../setting.js';
import { integer, oneOf, text } from '../value-types.js';

export const MCP_TRANSPORT = setting({
  name: 'transport',
  key: 'mcp.transport',
  type: oneOf(['stdio', 'http']),
  default: 'stdio',
  env: ['GTALIGN_MCP_TRANSPORT'],
  arg: 'stdio|http',
  help: 'stdio (a client starts the server) or http (streamable HTTP on 127.0.0.1 with a token)',
});

export const MCP_PORT = setting({
  name: 'port',
  key: 'mcp.port',
  type: integer({ min: 0, max: 65535 }),
  default: 8765,
  env: ['GTALIGN_MCP_PORT'],
  arg: 'N',
  help: 'HTTP port on 127.0.0.1 (0 = any free port, printed at start)',
});

export const MCP_TOKEN = setting({
  name: 'token',
  key: 'mcp.token',
  type: text(),
  env: ['GTALIGN_MCP_TOKEN'],
  flag: false,
  secret: true,
  help: 'the HTTP bearer token (default: a random one, printed at start in the URL)',
});

export const MCP_SETTINGS = [MCP_TRANSPORT, MCP_PORT, MCP_TOKEN] as const;
export const MCP = group('MCP', MCP_SETTINGS);
