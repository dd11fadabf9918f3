/**
 * Model text as a terminal may be given it: control characters other than line breaks and tabs (ESC
 * starts the sequences that move the cursor, recolour, retitle the window or rewrite what is shown) are
 * written as visible escapes (`\x1b`). Model output is hostile text; the terminal should show it, not obey it.
 */
// C0 controls except tab and line feed, DEL, and the C1 controls (a lone CSI, U+009B, acts like ESC [).
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function terminalSafe(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
