/**
 * Progress of a slow tool call, for a client that asked for it (`_meta.progressToken`): MCP's
 * `notifications/progress`. A client that sets `resetTimeoutOnProgress` keeps waiting as long as they come,
 * so a turn on a slow local model outlives the SDK's 60 s default request timeout.
 */
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';

/** Tells the caller that `done` of `total` steps are done, and what the last one was. */
export type ToolProgress = (done: number, total: number, message: string) => void;

/** The progress reporter of a call, or undefined when its client did not ask for progress. */
export function toolProgress(
  extra: Pick<RequestHandlerExtra<ServerRequest, ServerNotification>, '_meta' | 'sendNotification'>,
): ToolProgress | undefined {
  const token = extra._meta?.progressToken;
  if (token === undefined) return undefined;
  return (progress, total, message) => {
    // A client that left cannot be told; the call itself reports the outcome.
    extra
      .sendNotification({
        method: 'notifications/progress',
        params: { progressToken: token, progress, total, message },
      })
      .catch(() => {});
  };
}
