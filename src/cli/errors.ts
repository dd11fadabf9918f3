import { type ErrorCode, GtalignError } from '../errors.js';

/** An error the CLI reports as one clear line and a non-zero exit, without a stack trace. */
export class UsageError extends GtalignError {
  get code(): ErrorCode {
    return this.exitCode === 2 ? 'usage' : 'input';
  }
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Bad input data (a file, a line, a field): exit code 1. */
export class InputError extends GtalignError {
  readonly code = 'input';
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}
