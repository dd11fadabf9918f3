/**
 * A string with each lone surrogate (JSON allows `"\ud800"`) replaced by U+FFFD: what a URL, XML or UTF-8
 * can carry. `String.prototype.toWellFormed` (Node 20, ES2024; not in the ES2023 lib this project
 * compiles with).
 */
export const toWellFormed = (s: string): string =>
  (s as unknown as { toWellFormed(): string }).toWellFormed();

/** Whether a string has no lone surrogate, so that UTF-8 can carry it unchanged (`String.prototype.isWellFormed`). */
export const isWellFormed = (s: string): boolean =>
  (s as unknown as { isWellFormed(): boolean }).isWellFormed();
