/**
 * Live studies: a rater talks with the studio's backend, and each turn is answered by both arms of the
 * study (two steering policies) from one shared stage 1, so the two replies differ only by the policy.
 * The rater sees them blind, rates both and states a preference; the conversation goes on with the
 * preferred reply (on a tie, the one shown first). Each turn is stored durably as an item of the study
 * before the replies are shown, and the ratings go through the same path as any study's.
 *
 * Bounds: a message of at most {@link MAX_LIVE_MESSAGE} characters, {@link MAX_LIVE_TURNS} turns a
 * conversation, {@link MAX_LIVE_ITEMS} turns a study, one turn being written per rater at a time; a new turn
 * waits until the rater has rated every earlier one.
 */
import type { TurnResult } from '../assistant/turn.js';
import type { ConversationTurn } from '../chain/prompt.js';
import type { Playground } from './playground.js';
import {
  type Arm,
  liveLeft,
  type PolicyArm,
  type Rating,
  StudyError,
  type StudyFile,
  type StudyItem,
  type StudyStore,
} from './study.js';

export const MAX_LIVE_MESSAGE = 8000;
export const MAX_LIVE_TURNS = 20;
export const MAX_LIVE_ITEMS = 10_000;

export interface LiveTurnRequest {
  message: string;
  /** Start a new conversation instead of continuing the latest one. */
  newConversation: boolean;
}

/** Checks a live turn's body (untrusted JSON). */
export function parseLiveTurn(body: unknown): LiveTurnRequest {
  if (typeof body !== 'object' || body === null) throw new StudyError('send a JSON object');
  const { message, newConversation } = body as Record<string, unknown>;
  if (typeof message !== 'string' || message.trim() === '')
    throw new StudyError('message: a non-empty string');
  if (message.length > MAX_LIVE_MESSAGE)
    throw new StudyError(`message: at most ${MAX_LIVE_MESSAGE} characters, got ${message.length}`);
  if (newConversation !== undefined && typeof newConversation !== 'boolean')
    throw new StudyError('newConversation: true or false');
  return { message, newConversation: newConversation === true };
}

/** The arm whose reply continues the conversation: the preferred one, on a tie the one shown first. */
export function keptArm(item: StudyItem, rating: Pick<Rating, 'preference'>): Arm {
  return rating.preference === 'tie' ? item.live!.left : rating.preference;
}

export interface LivePlace {
  conversation: number;
  turn: number;
  /** The conversation so far: each earlier turn's message and its kept reply. */
  history: ConversationTurn[];
}

/** Where a rater's next turn goes, from their turns and ratings so far; refuses while one is unrated. */
export function nextPlace(
  study: StudyFile,
  ratings: readonly Rating[],
  rater: string,
  newConversation: boolean,
): LivePlace {
  const mine = study.items.filter((i) => i.live?.rater === rater);
  const rated = new Map(ratings.filter((r) => r.rater === rater).map((r) => [r.item, r]));
  const unrated = mine.find((i) => !rated.has(i.id));
  if (unrated !== undefined)
    throw new StudyError(
      `rate the replies of conversation ${unrated.live!.conversation}, turn ${unrated.live!.turn} first`,
      409,
    );
  const last = mine.at(-1)?.live;
  if (last === undefined || newConversation)
    return { conversation: (last?.conversation ?? 0) + 1, turn: 1, history: [] };
  if (last.turn >= MAX_LIVE_TURNS)
    throw new StudyError(
      `conversation ${last.conversation} has reached ${MAX_LIVE_TURNS} turns: start a new conversation`,
      409,
    );
  const history: ConversationTurn[] = [];
  for (const item of mine) {
    if (item.live!.conversation !== last.conversation) continue;
    history.push(
      { role: 'user', content: item.question ?? '' },
      { role: 'assistant', content: item.replies[keptArm(item, rated.get(item.id)!)] },
    );
  }
  return { conversation: last.conversation, turn: last.turn + 1, history };
}

/** Refuses (409) a study that is not a live study. */
export function requireLive(study: StudyFile): void {
  if (study.kind !== 'live')
    throw new StudyError(`${study.id} is a study of two runs, not a live study`, 409);
}

export function liveItemId(rater: string, conversation: number, turn: number): string {
  return `live:${rater}:${conversation}:${turn}`;
}

/**
 * The id of a rater's new turn: {@link liveItemId}, or that id with `~2`, `~3`, … when a turn or a rating
 * already has it. A turn taken out of items.jsonl by hand leaves its ratings in ratings.jsonl, and the
 * rater's next turn takes its place in the conversation: under the same id it would inherit them (shown
 * as rated, its own rating refused as a repeat, the old one counted for its replies).
 */
export function newLiveItemId(
  study: StudyFile,
  ratings: readonly Rating[],
  rater: string,
  conversation: number,
  turn: number,
): string {
  const base = liveItemId(rater, conversation, turn);
  const taken = (id: string) => study.items.some((i) => i.id === id) || ratings.some((r) => r.item === id);
  if (!taken(base)) return base;
  for (let n = 2; ; n++) if (!taken(`${base}~${n}`)) return `${base}~${n}`;
}

export interface LiveStudies {
  /** Answers the rater's message with both arms and stores the turn; resolves once it is on disk. */
  turn(id: string, rater: string, request: LiveTurnRequest, signal?: AbortSignal): Promise<StudyItem>;
}

/**
 * `compare`: the studio's second backend, for arms that answer from it. Arms on one backend share their
 * stage 1; arms on two backends each run a whole turn of their own.
 */
export function createLiveStudies(
  store: StudyStore,
  playground: Playground,
  compare?: Playground,
): LiveStudies {
  const writing = new Set<string>();
  const checkRoom = (study: StudyFile): void => {
    if (study.items.length >= MAX_LIVE_ITEMS)
      throw new StudyError(`${study.id} holds ${MAX_LIVE_ITEMS} turns, the most a live study takes`, 409);
  };
  return {
    async turn(id, rater, request, signal) {
      const study = store.get(id);
      requireLive(study);
      const busy = `${id}\u0000${rater}`;
      if (writing.has(busy))
        throw new StudyError(`a turn of rater ${rater} is being written: wait for its replies`, 409);
      writing.add(busy);
      try {
        checkRoom(study);
        const place = nextPlace(study, store.ratings(id), rater, request.newConversation);
        const arms = study.arms as Record<Arm, PolicyArm>;
        const backendOf = (arm: Arm): Playground => {
          if (arms[arm].backend !== 'compare') return playground;
          if (compare === undefined)
            throw new StudyError(
              `arm ${arm} of ${id} answers from the second backend: start the studio with --compare-base-url and --compare-model`,
              409,
            );
          return compare;
        };
        const input = { question: request.message, history: place.history };
        let stage1: string | undefined;
        let a: TurnResult;
        let b: TurnResult;
        if (backendOf('A') === backendOf('B')) {
          const shared = await backendOf('A').answerWith(input, [arms.A, arms.B], signal);
          stage1 = shared.stage1.text;
          [a, b] = shared.results as [TurnResult, TurnResult];
        } else {
          [a] = (await backendOf('A').answerWith(input, [arms.A], signal)).results as [TurnResult];
          [b] = (await backendOf('B').answerWith(input, [arms.B], signal)).results as [TurnResult];
        }
        const itemId = newLiveItemId(study, store.ratings(id), rater, place.conversation, place.turn);
        const item: StudyItem = {
          id: itemId,
          data_source: 'live',
          question: request.message,
          replies: { A: a.response, B: b.response },
          W: { A: null, B: null },
          actions: { A: a.action, B: b.action },
          live: {
            rater,
            conversation: place.conversation,
            turn: place.turn,
            left: liveLeft(study, rater, itemId),
            ...(stage1 === undefined ? {} : { stage1 }),
            cells: { A: a.cell, B: b.cell },
            outputs: { A: a.output, B: b.output },
            at: new Date().toISOString(),
          },
        };
        return await store.addItem(id, item, (current) => {
          checkRoom(current);
          if (newLiveItemId(current, store.ratings(id), rater, place.conversation, place.turn) !== itemId)
            throw new StudyError(`${itemId} is already stored`, 409);
        });
      } finally {
        writing.delete(busy);
      }
    },
  };
}
