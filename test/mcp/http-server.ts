/** The MCP server over streamable HTTP on a loopback port, its model the given upstream's, for the tests. */
import { type RunningMcpServer, startMcpHttpServer } from '../../src/mcp/http.js';
import { createGtalignMcpServer } from '../../src/mcp/server.js';
import { type OpenAIStubServer, stubModel } from '../support/openai-stub-server.js';

export function startMcpOverHttp(upstream: OpenAIStubServer, token: string): Promise<RunningMcpServer> {
  const model = stubModel(upstream);
  return startMcpHttpServer({
    createServer: () =>
      createGtalignMcpServer({ model: () => Promise.resolve(model), defaults: {}, log: () => {} }),
    token,
    port: 0,
    log: () => {},
  });
}
