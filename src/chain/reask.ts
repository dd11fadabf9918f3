/** The one-line instruction of a re-asked stage 2 (the reference's way of continuing a turn). */

/** The built-in one-line instructions of a re-asked turn, by action (GTALIGN.md §5: the reference re-asks). */
export const REASK_INSTRUCTIONS: Readonly<Record<string, string>> = Object.freeze({
  DA: 'Answer the question directly and concisely.',
  CQ: 'Ask exactly one clarifying question and do not answer yet.',
  AQ: 'Give a brief answer, then ask exactly one follow-up question.',
});

/** The re-ask instruction for an action: built-in, else from the action's description, else by name. */
export function reaskInstruction(
  column: string,
  actionDescriptions: Readonly<Record<string, string>> = {},
): string {
  const custom = Object.hasOwn(actionDescriptions, column) ? actionDescriptions[column] : undefined;
  if (custom !== undefined && custom.trim() !== '') {
    const text = custom.trim();
    return `Reply this way: ${text}${/[.!?]$/.test(text) ? '' : '.'}`;
  }
  const builtIn = Object.hasOwn(REASK_INSTRUCTIONS, column) ? REASK_INSTRUCTIONS[column] : undefined;
  return builtIn ?? `Reply with the action ${column}.`;
}
