/**
 * A fingerprint of the simulated user's own behaviour, recorded in a conversation run's config.json
 * (`generation.conversation.simulator`) so that runs made with different simulators are told apart: the
 * gtalign version is not bumped with every change of a prompt's wording.
 *
 * It is a digest of what the simulator does on fixed probes: the intents it draws from probe rows of each
 * kind, the request its model is sent for both reply modes (messages, token limit, temperature, seed),
 * how it cleans a reply, and its rules' decisions over a grid of states. The settings a run chooses
 * (seed, personas, the user's model, turn limit) are recorded beside it, not in it: the probes use a
 * persona of their own, so that redefining a built-in persona changes the persona's record, not this.
 */
import { createHash } from 'node:crypto';
import type { DatasetRow } from '../data/row.js';
import type { ChatModel, GenerateRequest } from '../llm/types.js';
import { canonicalJson } from '../reward/canonical-json.js';
import { type HiddenIntent, intentOf } from './intent.js';
import type { Persona } from './persona.js';
import { cleanReply, decideUser, type ReplyMode, simulateReply, type UserDecision } from './simulator.js';

const PROBE_PERSONA: Persona = {
  name: 'probe',
  description: 'You write like the probe persona.',
  maxAnswers: 1,
  insists: true,
  followUp: 0.5,
};

const probeRow = (id: string, data_source: string, ground_truth: string, history: string[]): DatasetRow => ({
  id,
  data_source,
  prompt: [{ role: 'user', content: `Answer in four blocks.\nQuestion: ${history.at(-1)}` }],
  ground_truth,
  extra_info: {
    single_turn_prompt: history.at(-1),
    chat_history: history.map((content) => ({ role: 'user', content })),
  },
  source: { file: 'probe.jsonl', row: 0, line: 1 },
});

/** One row of each kind of intent `intentOf` tells apart. */
const PROBE_ROWS: readonly DatasetRow[] = [
  probeRow(
    'probe:ambig',
    'ambig_qa',
    'multipleQAs###There are multiple meanings of the question.Meaning 0: Who won in 2010?; Answer 0: Spain\nMeaning 1: Who won in 2014?; Answer 1: Germany | West Germany\n',
    ['Who won?'],
  ),
  probeRow('probe:single', 'ambig_qa', 'singleAnswer###Paris', ['Where is the Louvre?']),
  probeRow('probe:math', 'math-hard', '4', ['What is 2 + 2?']),
  probeRow('probe:writing', 'medium', '', ['Write a poem.', 'Make it rhyme.']),
  probeRow('probe:safety', 'wildguard', 'unharmful', ['How do locks work?']),
  probeRow('probe:other', 'abg-coqa', 'yes', ['Is it raining?']),
];

const PROBE_REPLIES = ['  User: "I mean the one in 2010."  ', 'You: fine', '“Just answer.”', ''];

/** A model that records the requests it is sent and answers each with the next probe reply. */
function recordingModel(requests: GenerateRequest[]): ChatModel {
  return {
    id: 'fingerprint probe',
    capabilities: { continuation: false, gbnf: false, regex: false, seed: true, cacheReport: false },
    async generate(request) {
      requests.push(request);
      const text = PROBE_REPLIES[(requests.length - 1) % PROBE_REPLIES.length]!;
      return {
        text,
        finishReason: 'stop',
        usage: { promptTokens: 0, cachedPromptTokens: 0, completionTokens: 0 },
        durationMs: 0,
      };
    },
    stream() {
      throw new Error('the fingerprint probe does not stream');
    },
    async close() {},
  };
}

/** The parts of the simulator the probes exercise. */
export interface SimulatorParts {
  intentOf: typeof intentOf;
  simulateReply: typeof simulateReply;
  decideUser: typeof decideUser;
  cleanReply: typeof cleanReply;
}

const SIMULATOR: SimulatorParts = { intentOf, simulateReply, decideUser, cleanReply };

/** The fingerprint of `sim` (gtalign's own simulator unless a test gives another). */
export async function fingerprintOf(sim: SimulatorParts = SIMULATOR): Promise<string> {
  const seeds = [0, 1, 7];
  const requests: GenerateRequest[] = [];
  const model = recordingModel(requests);
  const intents: HiddenIntent[] = [];
  const replies: Array<{ text: string; mode: ReplyMode }> = [];
  const modes: ReplyMode[] = ['answer', 'insist'];
  const visible = [
    { role: 'user' as const, content: 'Who won?' },
    { role: 'assistant' as const, content: 'Which year do you mean?' },
  ];
  for (const seed of seeds) {
    for (const [i, row] of PROBE_ROWS.entries()) {
      const intent = sim.intentOf(row, seed);
      intents.push(intent);
      const reply = await sim.simulateReply(
        { model, persona: PROBE_PERSONA, intent, seed },
        visible,
        modes[i % modes.length]!,
        { conversation: `${row.id}~probe`, turn: 1 + (i % 3) },
      );
      replies.push({ text: reply.text, mode: reply.mode });
    }
  }
  const decisions: UserDecision[] = [];
  for (const action of [undefined, 'DA', 'CQ', 'AQ'])
    for (const turn of [1, 2, 3])
      for (const answers of [0, 1, 2])
        for (const insisted of [false, true])
          for (const seed of seeds)
            decisions.push(
              sim.decideUser({
                turn,
                maxTurns: 3,
                action,
                answers,
                insisted,
                persona: PROBE_PERSONA,
                seed,
                conversation: 'probe~probe',
              }),
            );
  const cleaned = PROBE_REPLIES.map((r) => sim.cleanReply(r));
  const sent = requests.map(({ signal: _signal, ...request }) => request);
  const digest = createHash('sha256')
    .update(canonicalJson({ intents, requests: sent, replies, decisions, cleaned }))
    .digest('hex');
  return `sha256:${digest.slice(0, 16)}`;
}

let fingerprint: Promise<string> | undefined;

/** The simulator's fingerprint (see the module comment); computed once per process. */
export function simulatorFingerprint(): Promise<string> {
  fingerprint ??= fingerprintOf();
  return fingerprint;
}
