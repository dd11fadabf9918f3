/**
 * The reward server's request bodies, checked by hand with bounded work (see body-check.ts): each sample
 * array's length against the server's limit first, then its elements, stopping at the first few problems.
 */
import {
  checkElements,
  invalidRequest,
  isPlainObject,
  problemList,
  requireArray,
  requireObject,
} from './body-check.js';
import { badRequest, type HttpError } from './errors.js';

/** An OpenRLHF label: the JSON text `gtalign data export --format openrlhf` writes, or that object. */
export type OpenRlhfLabel = string | Record<string, unknown>;

export interface GetRewardRequest {
  query: string[];
  prompts: string[];
  labels: OpenRlhfLabel[];
}

export function tooManySamples(count: number, max: number): HttpError {
  return badRequest(`too many samples: ${count}, the server's limit is ${max}`, null, 'too_many_samples');
}

const isString = (v: unknown): boolean => typeof v === 'string';
const isLabel = (v: unknown): boolean => typeof v === 'string' || isPlainObject(v);

/** `POST /get_reward`: `{query, prompts, labels}`, three arrays of one length (other fields are ignored). */
export function readGetRewardBody(body: unknown, maxSamples: number): GetRewardRequest {
  const obj = requireObject(body);
  const tooMany = (n: number) => tooManySamples(n, maxSamples);
  const query = requireArray(obj, 'query', maxSamples, tooMany);
  const prompts = requireArray(obj, 'prompts', maxSamples, tooMany);
  const labels = requireArray(obj, 'labels', maxSamples, tooMany);
  if (prompts.length !== query.length || labels.length !== query.length) {
    throw badRequest(
      `invalid request: query, prompts and labels must have the same length, got ${query.length}, ${prompts.length} and ${labels.length}`,
    );
  }
  const problems = problemList();
  checkElements(query, 'query', 'a string', isString, problems);
  checkElements(prompts, 'prompts', 'a string', isString, problems);
  checkElements(labels, 'labels', 'a JSON string or an object', isLabel, problems);
  problems.throwIfAny();
  return {
    query: query as string[],
    prompts: prompts as string[],
    labels: labels as OpenRlhfLabel[],
  };
}

/** `POST /v1/reward/score`: `{samples: [...]}`; each sample is checked later as a record of the CLI. */
export function readScoreBody(body: unknown, maxSamples: number): unknown[] {
  const obj = requireObject(body);
  for (const key in obj) {
    if (key !== 'samples') {
      throw invalidRequest([{ path: key, message: 'unknown field; the body is {"samples": [...]}' }]);
    }
  }
  return requireArray(obj, 'samples', maxSamples, (n) => tooManySamples(n, maxSamples));
}

/** The header in which a client says how long it waits for an answer (ms). */
export const DEADLINE_HEADER = 'x-gtalign-deadline-ms';
/** The longest a Node timer waits; a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The client's own deadline (`x-gtalign-deadline-ms`, whole ms), or undefined without the header. A client
 * that gives up sooner than the server's deadline (AReaL's reward call) gets its answer, with the
 * unscored samples failed as over the deadline, before it leaves: leaving would cancel their judge calls.
 */
export function readDeadlineHeader(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^[1-9][0-9]*$/.test(text.trim())) {
    throw badRequest(`header ${DEADLINE_HEADER} must be a whole number of ms above 0, got '${String(text)}'`);
  }
  const ms = Number(text.trim());
  // Past what a timer can wait (about 24.8 days) it bounds nothing.
  return ms <= MAX_TIMER_MS ? ms : undefined;
}
