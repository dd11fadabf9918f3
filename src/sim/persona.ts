/**
 * Personas of the simulated user: how it writes (a short description the simulator's prompt carries) and
 * how it behaves (deterministic rules the conversation loop applies, so runs are reproducible):
 *
 * - `maxAnswers`: clarifying questions it answers (null: every one);
 * - `insists`: once out of answers, it refuses the next question once and asks for the answer; a question
 *   after that ends the conversation (the user leaves);
 * - `followUp`: the chance it answers the follow-up question of an answer-plus-question (AQ) turn; drawn
 *   with the run's seed, per conversation and turn.
 *
 * A persona file (JSON) adds more: `{"personas": [{"name", "description", "maxAnswers"?, "insists"?,
 * "followUp"?}]}`; a name of the built-ins is replaced.
 */

import { z } from 'zod';
import { GtalignError } from '../errors.js';
import { readUtf8File } from '../io/utf8.js';
import { describeZodError } from '../issues.js';

export interface Persona {
  name: string;
  /** How this user writes, in a sentence or two; sent to the model that plays the user. */
  description: string;
  /** Clarifying questions answered before it stops answering (null: no limit). */
  maxAnswers: number | null;
  /** Out of answers, it insists on an answer once before it leaves. */
  insists: boolean;
  /** The chance it answers the follow-up question of an AQ turn, in [0, 1]. */
  followUp: number;
}

/** The built-in personas (descriptions written for gtalign). */
export const BUILTIN_PERSONAS: Readonly<Record<string, Persona>> = Object.freeze({
  cooperative: {
    name: 'cooperative',
    description:
      'You are cooperative and clear. You answer exactly what you are asked, plainly, in one or two sentences, and you give the details that matter.',
    maxAnswers: null,
    insists: false,
    followUp: 0.5,
  },
  terse: {
    name: 'terse',
    description:
      'You are terse. You reply in as few words as possible, often a fragment of a sentence, and never add anything that was not asked.',
    maxAnswers: null,
    insists: false,
    followUp: 0.2,
  },
  verbose: {
    name: 'verbose',
    description:
      'You are talkative. You answer the question with plenty of context and background, in several sentences, sometimes adding side remarks.',
    maxAnswers: null,
    insists: false,
    followUp: 0.8,
  },
  impatient: {
    name: 'impatient',
    description:
      'You are in a hurry. You will answer one question, briefly, but you want the answer now, not more questions.',
    maxAnswers: 1,
    insists: true,
    followUp: 0,
  },
  confused: {
    name: 'confused',
    description:
      'You are unsure what you need. Your answers are vague and hesitant: you hint at what you mean without stating it precisely.',
    maxAnswers: null,
    insists: false,
    followUp: 0.5,
  },
});

export const DEFAULT_PERSONA = 'cooperative';

/** A persona file that cannot be read, or a persona name that is not known. */
export class PersonaError extends GtalignError {
  readonly code = 'input';
  constructor(message: string) {
    super(message);
    this.name = 'PersonaError';
  }
}

const personaSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)'),
  description: z.string().min(1).max(2000),
  maxAnswers: z.number().int().min(0).nullable().optional(),
  insists: z.boolean().optional(),
  followUp: z.number().min(0).max(1).optional(),
});

const fileSchema = z.strictObject({ personas: z.array(personaSchema).min(1).max(100) });

/** Reads a persona file's personas (defaults: no answer limit, does not insist, follow-up 0.5). */
export function parsePersonas(value: unknown, source: string): Persona[] {
  const parsed = fileSchema.safeParse(value);
  if (!parsed.success) {
    throw new PersonaError(`${source}: not a persona file: ${describeZodError(parsed.error, 'file', 3)}`);
  }
  return parsed.data.personas.map((p) => ({
    name: p.name,
    description: p.description,
    maxAnswers: p.maxAnswers ?? null,
    insists: p.insists ?? false,
    followUp: p.followUp ?? 0.5,
  }));
}

export async function loadPersonaFile(path: string): Promise<Persona[]> {
  let text: string;
  try {
    text = await readUtf8File(path);
  } catch (err) {
    throw new PersonaError(`cannot read the persona file ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new PersonaError(`${path} is not JSON: ${(err as Error).message}`);
  }
  return parsePersonas(value, path);
}

/** The personas `names` picks from the built-ins and `extra` (later names replace earlier ones). */
export function resolvePersonas(names: readonly string[], extra: readonly Persona[] = []): Persona[] {
  const known = new Map<string, Persona>(Object.entries(BUILTIN_PERSONAS));
  for (const p of extra) known.set(p.name, p);
  const wanted = names.length === 0 ? [DEFAULT_PERSONA] : [...new Set(names)];
  return wanted.map((name) => {
    const p = known.get(name);
    if (p === undefined) {
      throw new PersonaError(`unknown persona "${name}"; known: ${[...known.keys()].join(', ')}`);
    }
    return p;
  });
}
