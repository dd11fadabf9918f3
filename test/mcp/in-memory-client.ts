/**
 * gtalign's MCP server over the official SDK's in-memory transport, with the SDK's own Client on the
 * other side: for tests of the tools themselves, where the transport is not the point.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { createGtalignMcpServer } from '../../src/mcp/server.js';
import { type OpenAIStubServer, stubModel } from '../support/openai-stub-server.js';

/** A connected client of a server whose model is `upstream`'s; the server's log lines go to `logged`. */
export async function connectInMemory(
  upstream: OpenAIStubServer,
  logged: string[],
  name: string,
): Promise<Client> {
  const model = stubModel(upstream);
  const server = createGtalignMcpServer({
    model: () => Promise.resolve(model),
    defaults: {},
    log: (line) => logged.push(line),
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}
