/**
 * Some servers echo a continued assistant prefix at the start of the content. When the content starts with
 * the prefix exactly, the echo is cut, so the caller gets only what is new.
 */

/** The content without an echoed `prefix`. */
export function stripEcho(prefix: string | undefined, content: string): string {
  return prefix !== undefined && content.startsWith(prefix) ? content.slice(prefix.length) : content;
}

/**
 * The same for streamed content: text is held back while it is still a prefix of `prefix`, then released
 * (minus the echo when it matched all of it).
 */
export function echoStripper(prefix: string | undefined): { push(piece: string): string; end(): string } {
  let pending = '';
  let passing = prefix === undefined || prefix === '';
  const full = prefix ?? '';
  return {
    push(piece) {
      if (passing) return piece;
      pending += piece;
      if (pending.length >= full.length) {
        passing = true;
        const out = pending.startsWith(full) ? pending.slice(full.length) : pending;
        pending = '';
        return out;
      }
      if (full.startsWith(pending)) return '';
      passing = true;
      const out = pending;
      pending = '';
      return out;
    },
    end() {
      const out = pending;
      pending = '';
      passing = true;
      return out;
    },
  };
}
