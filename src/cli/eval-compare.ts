import { describedAs, group } from '../config/setting.js';
import { COMPARE_OUT, TOKENIZER } from '../config/settings/eval.js';
import { JSON_OUTPUT } from '../config/settings/output.js';
import { compareRuns, type RunsComparison } from '../eval/compare.js';
import {
  conversationDeltaTable,
  conversationSignificanceNote,
  conversationSignificanceTable,
  turnIndexTable,
} from '../eval/report/conversation-tables.js';
import { tableToText } from '../eval/report/table.js';
import { deltaTable, paretoTable, significanceNote, significanceTable } from '../eval/report/tables.js';
import { writeFileAtomic } from '../io/checked-write.js';
import { defineCommand } from './command.js';
import { InputError, UsageError } from './errors.js';
import { counterFor, loadRuns } from './eval-report.js';
import { writeOut } from './io.js';
import { terminalSafe } from './terminal-text.js';

const SETTINGS = [
  group('Options', [
    describedAs(JSON_OUTPUT, 'print the comparison as JSON instead of tables'),
    COMPARE_OUT,
    describedAs(TOKENIZER, 'for records without token counts'),
  ]),
] as const;

function text(cmp: RunsComparison): string {
  const parts: string[] = [];
  for (const p of cmp.pairs) {
    parts.push(
      `A = ${p.a}, B = ${p.b}: ${p.shared} shared items (${p.only_a} only in A, ${p.only_b} only in B), ${p.excluded} left out of the Pareto comparison (no score in either run: a failure, or awaiting a verdict)${p.source_mismatch ? `, ${p.source_mismatch} with different data sources` : ''}\n`,
    );
    // Whether the scoring and the users were the same qualifies every table of the pair: said before them.
    for (const note of p.scoring_notes ?? []) parts.push(`note: ${note}\n`);
    const userNotes = p.conversations?.users.notes ?? [];
    for (const note of userNotes) parts.push(`note: ${note}\n`);
    parts.push('\nPareto comparison of (U, L)\n');
    parts.push(tableToText(paretoTable(p)));
    parts.push('\nMetric deltas B − A (shared items)\n');
    parts.push(tableToText(deltaTable(p)));
    parts.push('\nIs the difference more than noise? (shared scored items)\n');
    parts.push(tableToText(significanceTable(p)));
    parts.push(`${significanceNote(p)}\n\n`);
    const c = p.conversations;
    if (c !== undefined) {
      parts.push(`Conversations side by side B − A (${c.shared} shared conversations)\n`);
      parts.push(tableToText(conversationDeltaTable(p)!));
      parts.push('\nBy turn index (actions taken; mean U, L, W of the scored turns)\n');
      parts.push(
        tableToText(
          turnIndexTable([
            { name: `A = ${p.a}`, conversations: c.metrics.a },
            { name: `B = ${p.b}`, conversations: c.metrics.b },
          ]),
        ),
      );
      parts.push(
        '\nAre the conversations different beyond noise? (shared conversations with the value in both)\n',
      );
      parts.push(tableToText(conversationSignificanceTable(p)!));
      parts.push(`${conversationSignificanceNote(p)}\n`);
      for (const note of c.notes) if (!userNotes.includes(note)) parts.push(`note: ${note}\n`);
      parts.push('\n');
    }
  }
  const t = cmp.tokenizer;
  parts.push(`tokens: ${t.description}${t.note ? ` (${t.note})` : ''}\n`);
  return parts.join('');
}

export const evalCompareCommand = defineCommand({
  name: 'eval compare',
  usage: 'Usage: gtalign eval compare RUN_A RUN_B [RUN...] [--json] [--out FILE] [--tokenizer NAME]',
  about: `Compares runs item by item, for each pair (A = the earlier argument) over the item ids both hold:
  Pareto comparison of the items' (U, L) points, overall and per data source: paired dominance counts
  (A ≻ B, B ≻ A, equal, incomparable), coverage of the joint frontier, hypervolume above the reference
  point (the minimum of both coordinates over both runs; the exact union area), average regret;
  metric deltas B − A (format, answer, Ans./Token, R/T, total tokens, W, U, L, matrix reasoning)
  computed on the shared items;
  whether the difference is more than noise, for W, U, L and the answer score: the paired bootstrap
  interval of the mean difference B − A and the paired sign-flip test's p, with the item count and seed.
Runs scored differently (config.json: another judge or judge model, reward weights, math check or
tokenizer) get a note saying how: their differences are the scoring's as much as the runs'.
Conversation runs (eval run --turns N) are compared on their final answers as above, and conversation by
conversation: their conversation metrics side by side (turns, answered, turns to answer, final-answer
correctness, assistant and user tokens, U_γ, L_γ, W_γ; overall and per SOURCE/PERSONA group), actions and
welfare by turn index, and the paired interval and test of each per-conversation measure. Their
simulated users are compared too (config.json: seed, personas' definitions, the user's model, turn limit,
the user's token limit and temperature, the simulator's fingerprint; the records: each user's held
intent): when they differ, a note says how, and every verdict says "users differ" (the pairs are then
not the same users, and the difference is theirs as much as the assistants'); a setting a run does not
record is noted as unknown. A conversation run and a single-turn run cannot be paired (their items
differ): that is an error.`,
  notes: 'Exit codes: 0 compared, 1 unreadable run folder or no shared items, 2 bad usage.',
  settings: SETTINGS,
  positionals: true,
  async run({ values, positionals }, ctx) {
    if (positionals.length < 2) throw new UsageError('give at least two run folders');
    const { tokenizer } = values;
    const runs = await loadRuns(positionals, ctx.stderr);
    const counter = await counterFor(runs, tokenizer, ctx.stderr);
    const cmp = compareRuns(runs, { tokenCounter: counter });
    const mixed = cmp.pairs.find((p) => p.kind_mismatch !== undefined);
    if (mixed !== undefined)
      throw new InputError(terminalSafe(`cannot compare ${mixed.a} with ${mixed.b}: ${mixed.kind_mismatch}`));
    const json = `${JSON.stringify(cmp, null, 2)}\n`;
    if (values.out !== undefined) await writeFileAtomic(values.out, json);
    // Run names and data sources come from the run folders: shown to the terminal, never obeyed by it.
    await writeOut(ctx.stdout, values.json ? json : terminalSafe(text(cmp)));
    const empty = cmp.pairs.filter((p) => p.shared === 0);
    if (empty.length > 0) {
      throw new InputError(
        terminalSafe(
          `no shared item ids between ${empty.map((p) => `${p.a} and ${p.b}`).join('; ')} (runs over different data?)`,
        ),
      );
    }
    return 0;
  },
});
