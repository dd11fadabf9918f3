/**
 * Reads a source until it fails, and keeps the failure for later: a consumer can then finish (and
 * report) everything the source gave before the failure, and rethrow it after.
 */
export interface SourceFailure {
  /** Set when the source threw; the error it threw. */
  failed?: { error: unknown };
}

export async function* untilError<T>(
  source: AsyncIterable<T> | Iterable<T>,
  failure: SourceFailure,
): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (error) {
    failure.failed = { error };
  }
}

/** Rethrows the source's failure, if it had one. */
export function rethrowFailure(failure: SourceFailure): void {
  if (failure.failed !== undefined) throw failure.failed.error;
}
