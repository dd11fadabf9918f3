import { type ErrorCode, GtalignError } from '../errors.js';
import type { Source } from './source.js';

/**
 * A setting that cannot be used, naming where it came from: `--port must be …`,
 * `GTALIGN_PORT=abc: must be …`, `gtalign.config.json: server.port: must be …`. A bad flag is a usage
 * error (exit 2); a bad file or variable is a setting to fix (exit 1).
 */
export class ConfigError extends GtalignError {
  readonly code: ErrorCode;
  constructor(
    message: string,
    readonly source: Source,
  ) {
    super(message);
    this.name = 'ConfigError';
    this.code = source.kind === 'flag' ? 'usage' : 'input';
  }
}
