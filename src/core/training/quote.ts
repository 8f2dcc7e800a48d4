/**
 * The one place remote (and local) shell commands are built. Every word that is not a fixed
 * part of a command goes through shQuote: POSIX single quotes, where nothing is special except
 * the closing quote, which becomes '\'' (close, an escaped quote, reopen). The result is one word
 * for any string, whatever it holds: spaces, quotes, $(...), backticks, newlines, non-ASCII.
 */

/** Quotes one word for a POSIX shell. A NUL cannot be passed to a command at all and is refused. */
export function shQuote(word: string): string {
  if (word.includes('\0')) throw new Error('A shell word cannot contain a NUL character.');
  if (word !== '' && /^[A-Za-z0-9_\-+=.,/:@%]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A fixed piece of shell syntax (an operator, a redirection) to place between quoted words. */
export class Raw {
  constructor(readonly text: string) {}
}

/** Marks shell syntax written by Mnemo itself; never pass user or config text through it. */
export function raw(text: string): Raw {
  return new Raw(text);
}

/** Builds a command line: strings are quoted words, raw() pieces are kept as they are. */
export function shCommand(...parts: Array<string | number | Raw>): string {
  return parts.map((p) => (p instanceof Raw ? p.text : typeof p === 'number' ? String(Math.trunc(p)) : shQuote(p))).join(' ');
}
