/**
 * `node --import THIS_FILE …` appends the URL of every module the process resolves to the file named by
 * $GTALIGN_IMPORT_LOG, one per line: what a start-up test reads to see which modules a command loaded.
 */
import { register } from 'node:module';

const hooks = `
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(process.env.GTALIGN_IMPORT_LOG ?? '/dev/null')}, resolved.url + '\\n');
  return resolved;
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
