/**
 * Live studies in process: the study store on a temporary folder (and on the fault-injecting file
 * system), the playground's real turn code, and a SCRIPTED in-process ChatModel (stage 1 gives the paper's
 * matrix; stage 2 answers by the sum pick of the matrix it is shown), so each policy's reply is known.
 *
 * Shown: one stage 1 serves both arms and the stored turn holds what each arm chose and wrote; the next
 * turn's history is the rater's message with the reply they preferred (the first shown on a tie); a new
 * turn waits until the last is rated; a rater's turns are theirs alone; turns survive a restart and a torn
 * last line is cut; a full disk stores nothing and says so; a second turn of the same rater while one is
 * being written is refused; the bounds on messages and conversations.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePayoff } from '../../src/chain/payoff.js';
import { selectCell } from '../../src/game/select.js';
import type { ChatModel, GenerateRequest, GenerateResult, StreamEvent } from '../../src/llm/types.js';
import { steeredMatrix } from '../../src/steering/apply.js';
import { compilePolicy } from '../../src/steering/compile.js';
import { PRESETS } from '../../src/steering/presets.js';
import { analyzeStudy } from '../../src/studio/analysis.js';
import {
  createLiveStudies,
  type LiveStudies,
  MAX_LIVE_MESSAGE,
  MAX_LIVE_TURNS,
  nextPlace,
  parseLiveTurn,
} from '../../src/studio/live-study.js';
import { createPlayground, MAX_KEPT } from '../../src/studio/playground.js';
import { DINOSAUR_MATRIX } from '../../src/studio/steer.js';
import {
  exportRows,
  openStudyStore,
  parseAnswer,
  raterPlan,
  StudyError,
  type StudyFile,
  type StudyStore,
} from '../../src/studio/study.js';
import { faultyFs } from '../support/faulty-fs.js';

const STAGE1 = `<thinking>Probably clear.</thinking>\n<payoff>\n${JSON.stringify(DINOSAUR_MATRIX)}\n</payoff>`;
const REPLIES: Record<string, string> = {
  DA: 'Roughly 230 million years ago.',
  CQ: 'Do you mean true dinosaurs or their relatives?',
  AQ: 'About 230 million years ago. Which group do you mean?',
};

/** The scripted stand-in: stage 1 → the paper's matrix; stage 2 → the reply for the sum pick of the prefix's matrix. */
function scriptedModel(tag = ''): ChatModel & { requests: GenerateRequest[]; gate?: Promise<void> } {
  const requests: GenerateRequest[] = [];
  const model: ChatModel & { requests: GenerateRequest[]; gate?: Promise<void> } = {
    id: 'scripted',
    capabilities: { continuation: true, gbnf: false, regex: false, seed: true, cacheReport: false },
    requests,
    async generate(request: GenerateRequest): Promise<GenerateResult> {
      requests.push(request);
      await model.gate;
      let text = STAGE1;
      if (request.assistantPrefix !== undefined) {
        const p = request.assistantPrefix;
        const parsed = parsePayoff(p.slice(p.indexOf('<payoff>') + 8, p.indexOf('</payoff>')));
        const cell = parsed.ok ? selectCell(parsed.matrix).selected[0]! : 'VQ_CQ';
        text = `\n<analyze>I choose ${cell}.</analyze>\n<response>${tag}${REPLIES[cell.slice(3)]}</response>`;
      }
      const stop = request.stop?.find((s) => text.includes(s));
      if (stop !== undefined) text = text.slice(0, text.indexOf(stop));
      return {
        text,
        finishReason: 'stop',
        ...(stop === undefined ? {} : { stoppedBy: stop }),
        usage: { promptTokens: 10, cachedPromptTokens: 0, completionTokens: 5 },
        durationMs: 1,
      };
    },
    async *stream(request): AsyncIterable<StreamEvent> {
      const result = await model.generate(request);
      if (result.text !== '') yield { type: 'text', text: result.text };
      yield { type: 'done', result };
    },
    async close() {},
  };
  return model;
}

/** What the model was shown of the conversation: the prompt's text (the history is folded into it). */
function shown(request: GenerateRequest): string {
  return request.messages.map((m) => m.content).join('\n');
}

/** The cell the library picks for the paper's matrix under a preset (what the arm must answer with). */
function pickUnder(preset: keyof typeof PRESETS): string {
  return selectCell(steeredMatrix(DINOSAUR_MATRIX, compilePolicy(PRESETS[preset]))).selected[0]!;
}

let root: string;
let store: StudyStore;
let model: ReturnType<typeof scriptedModel>;
let live: LiveStudies;

async function liveStudy(s: StudyStore = store, seed = 7): Promise<StudyFile> {
  return s.create({
    kind: 'live',
    name: 'live test',
    arms: {
      A: { run: 'none', policy: PRESETS.none, rule: 'sum' },
      B: { run: 'paper-api', policy: PRESETS['paper-api'], rule: 'sum' },
    },
    items: [],
    seed,
  });
}

/** Rates a live item as the page would (reply 1 / reply 2 by the rater's plan). */
async function rate(s: StudyStore, study: StudyFile, rater: string, item: string, preference: 1 | 2 | 'tie') {
  const answer = parseAnswer(study, rater, { item, satisfaction1: 4, satisfaction2: 2, preference });
  return s.rate(study.id, answer);
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'gtalign-live-'));
  store = await openStudyStore(join(root, 'studies'));
  model = scriptedModel();
  live = createLiveStudies(
    store,
    createPlayground(async () => model, {}),
  );
});

afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

describe('a live turn', () => {
  it('answers with both policies from one stage 1 and stores what each chose', async () => {
    const study = await liveStudy();
    const item = await live.turn(study.id, 'r1', {
      message: 'When did dinosaurs first appear?',
      newConversation: false,
    });
    const cellA = pickUnder('none');
    const cellB = pickUnder('paper-api');
    expect(cellA).not.toBe(cellB);
    expect(item.live).toMatchObject({ rater: 'r1', conversation: 1, turn: 1, cells: { A: cellA, B: cellB } });
    expect(item.replies).toEqual({ A: REPLIES[cellA.slice(3)], B: REPLIES[cellB.slice(3)] });
    expect(item.actions).toEqual({ A: cellA.slice(3), B: cellB.slice(3) });
    expect(item.W).toEqual({ A: null, B: null });
    expect(item.live!.stage1).toContain('<payoff>');
    expect(item.live!.outputs.B).toContain(`<response>${REPLIES[cellB.slice(3)]}`);
    // One stage-1 call, then one stage 2 per arm continuing that same stage 1.
    const stage1Calls = model.requests.filter((r) => r.assistantPrefix === undefined);
    const stage2Calls = model.requests.filter((r) => r.assistantPrefix !== undefined);
    expect(stage1Calls).toHaveLength(1);
    expect(stage2Calls).toHaveLength(2);
    expect(stage2Calls.every((r) => r.assistantPrefix!.startsWith('<thinking>Probably clear.'))).toBe(true);
    // On disk before it is returned.
    const lines = (await readFile(join(store.dir, study.id, 'items.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).id)).toEqual([item.id]);
    expect(raterPlan(store.get(study.id), 'r1').order).toEqual([{ item: item.id, left: item.live!.left }]);
    expect(raterPlan(store.get(study.id), 'r2').order).toEqual([]);
  });

  it('goes on with the preferred reply; a tie keeps the one shown first; waits for a rating', async () => {
    const study = await liveStudy();
    const first = await live.turn(study.id, 'r1', { message: 'Q1', newConversation: false });
    await expect(live.turn(study.id, 'r1', { message: 'Q2', newConversation: false })).rejects.toMatchObject({
      status: 409,
      message: 'rate the replies of conversation 1, turn 1 first',
    });
    // Another rater is not held up by r1's unrated turn.
    await live.turn(study.id, 'r2', { message: 'Q1 of r2', newConversation: false });
    const left = first.live!.left;
    const right = left === 'A' ? 'B' : 'A';
    await rate(store, study, 'r1', first.id, 2); // reply 2 = the right-hand arm
    const second = await live.turn(study.id, 'r1', { message: 'Q2', newConversation: false });
    expect(second.live).toMatchObject({ conversation: 1, turn: 2 });
    const seen = shown(model.requests.at(-3)!);
    expect(seen).toContain(`User: Q1\n\nAssistant: ${first.replies[right]}\n\n`);
    expect(seen).not.toContain(first.replies[left]);
    expect(seen.endsWith('Q2')).toBe(true);
    await rate(store, study, 'r1', second.id, 'tie');
    await live.turn(study.id, 'r1', { message: 'Q3', newConversation: false });
    const third = shown(model.requests.at(-3)!);
    expect(third).toContain(
      `User: Q1\n\nAssistant: ${first.replies[right]}\n\nUser: Q2\n\nAssistant: ${second.replies[second.live!.left]}\n\n`,
    );
    expect(third.endsWith('Q3')).toBe(true);
  });

  it('a new conversation starts with no history and counts on', async () => {
    const study = await liveStudy();
    const first = await live.turn(study.id, 'r1', { message: 'Q1', newConversation: false });
    await rate(store, study, 'r1', first.id, 1);
    const fresh = await live.turn(study.id, 'r1', { message: 'Other topic', newConversation: true });
    expect(fresh.live).toMatchObject({ conversation: 2, turn: 1 });
    expect(fresh.id).toBe('live:r1:2:1');
    const seen = shown(model.requests.at(-3)!);
    expect(seen).not.toContain('Q1');
    expect(seen.endsWith('Other topic')).toBe(true);
  });

  it('does not depend on the stage 1s the playground keeps (others may push them out meanwhile)', async () => {
    const study = await liveStudy();
    const playground = createPlayground(async () => model, {});
    const here = createLiveStudies(store, playground);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let atArmA!: () => void;
    const armA = new Promise<void>((r) => {
      atArmA = r;
    });
    const generate = model.generate;
    let calls = 0;
    model.generate = async (request) => {
      // The live turn's second call (arm A's stage 2) waits while other users' stage 1s fill the playground.
      if (++calls === 2) {
        atArmA();
        await gate;
      }
      return generate(request);
    };
    const pending = here.turn(study.id, 'r1', { message: 'Q1', newConversation: false });
    await armA;
    for (let i = 0; i <= MAX_KEPT; i++)
      await playground.stage1({ question: `other ${i}`, history: [] }, () => {});
    release();
    const item = await pending;
    expect(item.replies.B).toBe(REPLIES[pickUnder('paper-api').slice(3)]);
  });

  it('arms on two backends each run a whole turn of their own; without the second backend, refused by name', async () => {
    const second = scriptedModel('[second] ');
    const study = await store.create({
      kind: 'live',
      name: 'two backends',
      arms: {
        A: { run: 'none', policy: PRESETS.none, rule: 'sum' },
        B: { run: 'paper-api on second', policy: PRESETS['paper-api'], rule: 'sum', backend: 'compare' },
      },
      items: [],
      seed: 3,
    });
    const both = createLiveStudies(
      store,
      createPlayground(async () => model, {}),
      createPlayground(async () => second, {}),
    );
    const item = await both.turn(study.id, 'r1', { message: 'Q1', newConversation: false });
    expect(item.live!.stage1).toBeUndefined();
    expect(item.replies).toEqual({
      A: REPLIES[pickUnder('none').slice(3)],
      B: `[second] ${REPLIES[pickUnder('paper-api').slice(3)]}`,
    });
    // Each backend wrote its own stage 1 and continued it once.
    for (const m of [model, second]) {
      expect(m.requests.filter((r) => r.assistantPrefix === undefined)).toHaveLength(1);
      expect(m.requests.filter((r) => r.assistantPrefix !== undefined)).toHaveLength(1);
    }
    await rate(store, store.get(study.id), 'r1', item.id, 1);
    const mainOnly = createLiveStudies(
      store,
      createPlayground(async () => model, {}),
    );
    await expect(
      mainOnly.turn(study.id, 'r1', { message: 'Q2', newConversation: false }),
    ).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining('arm B of') as unknown as string,
    });
  });

  it('is refused while the same rater has one being written', async () => {
    const study = await liveStudy();
    let open!: () => void;
    model.gate = new Promise((r) => {
      open = r;
    });
    const pending = live.turn(study.id, 'r1', { message: 'Q1', newConversation: false });
    await expect(
      live.turn(study.id, 'r1', { message: 'Q1 again', newConversation: false }),
    ).rejects.toMatchObject({
      status: 409,
      message: 'a turn of rater r1 is being written: wait for its replies',
    });
    open();
    await pending;
    expect(store.get(study.id).items).toHaveLength(1);
  });

  it('a rater cannot rate another rater’s turn, and a study of two runs takes no live turns', async () => {
    const study = await liveStudy();
    const item = await live.turn(study.id, 'r1', { message: 'Q1', newConversation: false });
    expect(() =>
      parseAnswer(store.get(study.id), 'r2', {
        item: item.id,
        satisfaction1: 3,
        satisfaction2: 3,
        preference: 1,
      }),
    ).toThrow(/is not in this study/);
    const runs = await store.create({
      name: 'runs',
      arms: { A: { run: 'a', dir: '/a' }, B: { run: 'b', dir: '/b' } },
      items: [{ id: 'x', data_source: 's', question: 'q', replies: { A: 'a', B: 'b' }, W: { A: 1, B: 1 } }],
    });
    await expect(live.turn(runs.id, 'r1', { message: 'Q', newConversation: false })).rejects.toMatchObject({
      status: 409,
      message: `${runs.id} is a study of two runs, not a live study`,
    });
  });
});

describe('a backend failure', () => {
  it('stores nothing and the rater may send the message again', async () => {
    const study = await liveStudy();
    const generate = model.generate;
    let calls = 0;
    // Stage 1 works, arm B's stage 2 fails: no half turn is stored.
    model.generate = async (request) => {
      if (++calls === 3) throw new Error('upstream went away');
      return generate(request);
    };
    await expect(live.turn(study.id, 'r1', { message: 'Q1', newConversation: false })).rejects.toThrow(
      'upstream went away',
    );
    expect(store.get(study.id).items).toHaveLength(0);
    model.generate = generate;
    const item = await live.turn(study.id, 'r1', { message: 'Q1', newConversation: false });
    expect(item.id).toBe('live:r1:1:1');
  });
});

describe('live turns on disk', () => {
  it('survive a restart with their ratings; a torn last line is cut off', async () => {
    const study = await liveStudy();
    const first = await live.turn(study.id, 'r1', { message: 'Q1', newConversation: false });
    await rate(store, study, 'r1', first.id, 1);
    const second = await live.turn(study.id, 'r1', { message: 'Q2', newConversation: false });
    await store.close();
    const path = join(store.dir, study.id, 'items.jsonl');
    const whole = await readFile(path, 'utf8');
    await writeFile(path, `${whole}{"id":"live:r1:1:3","torn`);
    store = await openStudyStore(join(root, 'studies'));
    const reopened = store.get(study.id);
    expect(reopened.kind).toBe('live');
    expect(reopened.items.map((i) => i.id)).toEqual([first.id, second.id]);
    expect(await readFile(path, 'utf8')).toBe(whole);
    expect(raterPlan(reopened, 'r1').order.map((o) => o.left)).toEqual([first.live!.left, second.live!.left]);
    // The place of the next turn is read back from disk: r1 must rate turn 2 first.
    expect(() => nextPlace(reopened, store.ratings(study.id), 'r1', false)).toThrow(/conversation 1, turn 2/);
    expect(exportRows(reopened, store.ratings(study.id))).toEqual([
      expect.objectContaining({
        item: first.id,
        data_source: 'live',
        conversation: 1,
        turn: 1,
        action_A: first.actions!.A,
        action_B: first.actions!.B,
        W_A: null,
      }),
    ]);
  });

  it('never give a new turn the id of one removed by hand: the removed turn’s rating stays its own', async () => {
    const study = await liveStudy();
    const first = await live.turn(study.id, 'r1', { message: 'Q1', newConversation: false });
    await rate(store, study, 'r1', first.id, 1);
    const removed = await live.turn(study.id, 'r1', { message: 'Q2', newConversation: false });
    await rate(store, study, 'r1', removed.id, 2);
    await store.close();
    // The owner takes the second turn out of items.jsonl (a test message, say); its rating stays.
    const path = join(store.dir, study.id, 'items.jsonl');
    const [kept] = (await readFile(path, 'utf8')).trim().split('\n');
    await writeFile(path, `${kept}\n`);
    store = await openStudyStore(join(root, 'studies'));
    live = createLiveStudies(
      store,
      createPlayground(async () => model, {}),
    );
    const next = await live.turn(study.id, 'r1', { message: 'Q3', newConversation: false });
    // The same place in the conversation, under an id of its own.
    expect(next.live).toMatchObject({ conversation: 1, turn: 2 });
    expect(next.id).not.toBe(removed.id);
    const reopened = store.get(study.id);
    expect(raterPlan(reopened, 'r1', []).order.map((o) => o.item)).toEqual([first.id, next.id]);
    // The new turn is unrated: the rater must rate it, and that rating is stored.
    expect(() => nextPlace(reopened, store.ratings(study.id), 'r1', false)).toThrow(/conversation 1, turn 2/);
    const { stored, rating } = await rate(store, reopened, 'r1', next.id, 1);
    expect(stored).toBe(true);
    expect(rating.item).toBe(next.id);
    const analysis = analyzeStudy(reopened, store.ratings(study.id));
    expect([analysis.ratings, analysis.ratingsOfRemovedItems]).toEqual([2, 1]);
    // Removed again and again, the place gets a new id each time.
    await store.close();
    await writeFile(path, `${kept}\n`);
    store = await openStudyStore(join(root, 'studies'));
    live = createLiveStudies(
      store,
      createPlayground(async () => model, {}),
    );
    const third = await live.turn(study.id, 'r1', { message: 'Q4', newConversation: false });
    expect(new Set([removed.id, next.id, third.id]).size).toBe(3);
  });

  it('a full disk stores no turn, says where, and the rater may try again after a restart', async () => {
    const dir = join(root, 'full');
    const setup = await openStudyStore(dir);
    const study = await liveStudy(setup);
    await setup.close();
    // Opening the study reads two logs; the first write is the turn's append.
    const fs = faultyFs([{ on: 'write', index: 0, kind: 'ENOSPC' }]);
    const full = await openStudyStore(dir, fs);
    const onFull = createLiveStudies(
      full,
      createPlayground(async () => model, {}),
    );
    const error = await onFull
      .turn(study.id, 'r1', { message: 'Q1', newConversation: false })
      .catch((e) => e);
    expect(error).toBeInstanceOf(StudyError);
    expect(error.status).toBe(500);
    expect(error.message).toMatch(/cannot write .*items\.jsonl: no space left on the device \(ENOSPC\)$/);
    expect(full.get(study.id).items).toHaveLength(0);
    expect(await readFile(join(dir, study.id, 'items.jsonl'), 'utf8').catch(() => '')).toBe('');
    await full.close();
    const again = await openStudyStore(dir);
    const retried = await createLiveStudies(
      again,
      createPlayground(async () => model, {}),
    ).turn(study.id, 'r1', { message: 'Q1', newConversation: false });
    expect(retried.id).toBe('live:r1:1:1');
    await again.close();
  });
});

describe('bounds', () => {
  it('messages are checked and named', () => {
    expect(() => parseLiveTurn(null)).toThrow('send a JSON object');
    expect(() => parseLiveTurn({ message: '  ' })).toThrow('message: a non-empty string');
    expect(() => parseLiveTurn({ message: 'x'.repeat(MAX_LIVE_MESSAGE + 1) })).toThrow(
      `message: at most ${MAX_LIVE_MESSAGE} characters, got ${MAX_LIVE_MESSAGE + 1}`,
    );
    expect(() => parseLiveTurn({ message: 'hi', newConversation: 'yes' })).toThrow(
      'newConversation: true or false',
    );
    expect(parseLiveTurn({ message: 'hi' })).toEqual({ message: 'hi', newConversation: false });
  });

  it(`a conversation ends at ${MAX_LIVE_TURNS} turns; a new one may start`, async () => {
    const study = await liveStudy();
    for (let t = 1; t <= MAX_LIVE_TURNS; t++) {
      const item = await live.turn(study.id, 'r1', { message: `Q${t}`, newConversation: false });
      await rate(store, store.get(study.id), 'r1', item.id, 1);
    }
    await expect(live.turn(study.id, 'r1', { message: 'one more', newConversation: false })).rejects.toThrow(
      `conversation 1 has reached ${MAX_LIVE_TURNS} turns: start a new conversation`,
    );
    const fresh = await live.turn(study.id, 'r1', { message: 'again', newConversation: true });
    expect(fresh.live).toMatchObject({ conversation: 2, turn: 1 });
  });
});
