/**
 * The requests of the MCP HTTP transport that are still waiting for their answer, per transport, so that a
 * server that ends a session (too many sessions, or its own shutdown) can answer them first. Closing a
 * transport with a call in flight ends the call's event stream with no answer, and the official client
 * then waits for a reply that never comes until its own timeout (60 s by default): answered instead, the
 * call fails at once with a message saying why.
 */
import type { ServerResponse } from 'node:http';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

/** JSON-RPC's "server error" code, which the MCP SDK also uses for a closed connection. */
const SERVER_ERROR = -32000;

export class OwedAnswers {
  private readonly owed = new Map<StreamableHTTPServerTransport, Set<string | number>>();

  /** Records the requests of one POST, until its response ends (answered, or the client left). */
  track(
    transport: StreamableHTTPServerTransport,
    ids: readonly (string | number)[],
    res: ServerResponse,
  ): void {
    if (ids.length === 0) return;
    let set = this.owed.get(transport);
    if (set === undefined) {
      set = new Set();
      this.owed.set(transport, set);
    }
    for (const id of ids) set.add(id);
    res.once('close', () => {
      for (const id of ids) set.delete(id);
      if (set.size === 0 && this.owed.get(transport) === set) this.owed.delete(transport);
    });
  }

  /**
   * Stops each owed request of `transport` (its handler's signal aborts, which stops its model request)
   * and answers it with a JSON-RPC error carrying `message`.
   */
  async answer(transport: StreamableHTTPServerTransport, message: string): Promise<void> {
    const ids = [...(this.owed.get(transport) ?? [])];
    this.owed.delete(transport);
    for (const requestId of ids) {
      // Cancelled first: the SDK then drops the handler's own result instead of sending a second answer.
      transport.onmessage?.({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId, reason: message },
      });
      // A request answered meanwhile has no stream left to write to; nothing is owed then.
      await transport
        .send({ jsonrpc: '2.0', id: requestId, error: { code: SERVER_ERROR, message } })
        .catch(() => {});
    }
  }

  /** Answers every owed request of every transport. */
  async answerAll(message: string): Promise<void> {
    await Promise.all([...this.owed.keys()].map((t) => this.answer(t, message)));
  }
}
