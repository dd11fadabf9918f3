/**
 * The one base of gtalign's errors. Every error a user can act on says what kind of problem it is
 * (`code`), whether trying the same thing again can help (`retryable`), and where it can, what to fix
 * (`fix`). The CLI turns codes into exit statuses in one place ({@link exitStatusOf}); servers and
 * trainers' adapters read `retryable`. Anything that is not a GtalignError is a bug.
 */

export type ErrorCode =
  /** A command line or call the tool cannot run as given (bad flag, missing option). */
  | 'usage'
  /** Input the user must fix: a file, line, field, request body or setting. */
  | 'input'
  /** A file operation failed: a full disk, permissions, an I/O error. */
  | 'io'
  /** A model server, judge or download failed or answered unusably. */
  | 'backend'
  /** The model's output could not be used (no payoff matrix, no response block). */
  | 'model'
  /** A bound was reached: a line, a body, a game too large to solve. */
  | 'limit';

export interface GtalignErrorOptions {
  cause?: unknown;
  /** What the user should do, when the message does not already say it. */
  fix?: string;
}

export abstract class GtalignError extends Error {
  abstract readonly code: ErrorCode;
  readonly fix: string | undefined;

  constructor(message: string, options: GtalignErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.fix = options.fix;
  }

  /** Whether the same call may succeed later (a server's 5xx, a timeout); false for what the user must fix. */
  get retryable(): boolean {
    return false;
  }
}

/** Exit statuses of the CLI: 2 for usage, 1 for every other problem the user can act on, 70 for a bug. */
export function exitStatusOf(err: unknown): number {
  if (!(err instanceof GtalignError)) return 70;
  return err.code === 'usage' ? 2 : 1;
}

/** The error as one block of text for a terminal: its message, and what to fix when that is separate. */
export function describeError(err: GtalignError): string {
  return err.fix === undefined || err.message.includes(err.fix)
    ? err.message
    : `${err.message}\n  fix: ${err.fix}`;
}
