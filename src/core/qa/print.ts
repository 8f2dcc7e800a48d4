import type { QaFile, QaPair } from './types';

/** Prints a parsed file back to text: exactly the text it was parsed from (line ends normalised to the dominant one). */
export function printQa(file: QaFile): string {
  if (file.lines.length === 0) return '';
  return file.lines.join(file.eol) + (file.finalEol ? file.eol : '');
}

export interface NewPair {
  question: string;
  answer: string;
  meta?: Record<string, string>;
}

export interface NewBlock {
  chunk?: string;
  pairs: NewPair[];
}

/** The lines of one pair: `Q:` and `A:` with multi-line text continued on following lines. */
export function pairLines(pair: NewPair): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(pair.meta ?? {})) out.push(value === 'true' && key === 'reviewed' ? '@reviewed' : `@${key}: ${value}`);
  const q = oneParagraph(pair.question).split('\n');
  const a = oneParagraph(pair.answer).split('\n');
  out.push(`Q: ${q[0]}`, ...q.slice(1), `A: ${a[0]}`, ...a.slice(1));
  return out;
}

/** Text inside a pair cannot hold blank lines (a blank line ends the pair) or lines that look like markers. */
function oneParagraph(text: string): string {
  return text
    .trim()
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '')
    .map((l) => (/^(Q:|A:|@|#)/.test(l.trimStart()) ? ' ' + l.trimStart() : l))
    .join('\n');
}

/** Writes a whole .qa file: header metadata, then blocks of pairs, each under its `@chunk`. */
export function serializeQa(header: Record<string, string>, blocks: NewBlock[], comments: string[] = []): string {
  const out: string[] = [];
  for (const c of comments) out.push(`# ${c}`);
  for (const [k, v] of Object.entries(header)) out.push(`@${k}: ${v}`);
  for (const block of blocks) {
    out.push('');
    if (block.chunk !== undefined) out.push(`@chunk: ${block.chunk}`);
    block.pairs.forEach((p, i) => {
      if (i > 0) out.push('');
      out.push(...pairLines(p));
    });
  }
  return out.join('\n') + '\n';
}

/** A replacement of whole lines [startLine, endLine] (inclusive) by `lines`; an empty list deletes them. */
export interface LineEdit {
  startLine: number;
  endLine: number;
  lines: string[];
}

/** Applies line edits (non-overlapping) to a file's text and returns the new text. */
export function applyLineEdits(file: QaFile, edits: LineEdit[]): string {
  const lines = [...file.lines];
  for (const e of [...edits].sort((a, b) => b.startLine - a.startLine)) lines.splice(e.startLine, e.endLine - e.startLine + 1, ...e.lines);
  if (lines.length === 0) return '';
  return lines.join(file.eol) + (file.finalEol || file.lines.length === 0 ? file.eol : '');
}

/** Deletes a pair and one blank line that separated it from its neighbours. */
export function deletePairEdit(file: QaFile, pair: QaPair): LineEdit {
  let end = pair.lastLine;
  let start = pair.firstLine;
  if (file.lines[end + 1]?.trim() === '') end += 1;
  else if (start > 0 && file.lines[start - 1]?.trim() === '') start -= 1;
  return { startLine: start, endLine: end, lines: [] };
}

/** Comments a pair out (or back in): '#' in front of each of its lines. */
export function toggleCommentEdit(file: QaFile, pair: QaPair): LineEdit {
  const lines = file.lines.slice(pair.firstLine, pair.lastLine + 1);
  const out = pair.commented
    ? lines.map((l) => l.replace(/^#[ \t]?/, ''))
    : lines.map((l) => `# ${l}`);
  return { startLine: pair.firstLine, endLine: pair.lastLine, lines: out };
}

/** Replaces a pair's question and/or answer, keeping its metadata and commented state. */
export function replacePairEdit(file: QaFile, pair: QaPair, change: { question?: string; answer?: string }): LineEdit {
  const metaLines = file.lines.slice(pair.firstLine, pair.questionLine);
  const body = pairLines({ question: change.question ?? pair.question, answer: change.answer ?? pair.answer });
  const lines = [...metaLines, ...(pair.commented ? body.map((l) => `# ${l}`) : body)];
  return { startLine: pair.firstLine, endLine: pair.lastLine, lines };
}

/** Marks a pair reviewed (adds `@reviewed` above it), or removes the mark. */
export function setReviewedEdit(file: QaFile, pair: QaPair, reviewed: boolean): LineEdit {
  const metaLines = file.lines.slice(pair.firstLine, pair.questionLine).filter((l) => !/^@reviewed\b/.test(l));
  const rest = file.lines.slice(pair.questionLine, pair.lastLine + 1);
  return { startLine: pair.firstLine, endLine: pair.lastLine, lines: [...metaLines, ...(reviewed ? ['@reviewed'] : []), ...rest] };
}

/** A position in a document: 0-based line and UTF-16 column. */
export interface TextPosition {
  line: number;
  character: number;
}

/**
 * A line edit as a text replacement on the document the file was parsed from (what an editor
 * applies): the range to replace and the new text, line ends as in the file.
 */
export function lineEditToTextEdit(file: QaFile, e: LineEdit): { start: TextPosition; end: TextPosition; newText: string } {
  const { lines } = file;
  const at = (line: number, character: number) => ({ line, character });
  if (e.lines.length === 0) {
    if (e.endLine + 1 < lines.length || file.finalEol) return { start: at(e.startLine, 0), end: at(e.endLine + 1, 0), newText: '' };
    // The last line of a file without a final line end: take the line end before it instead.
    if (e.startLine > 0) return { start: at(e.startLine - 1, lines[e.startLine - 1].length), end: at(e.endLine, lines[e.endLine].length), newText: '' };
    return { start: at(0, 0), end: at(e.endLine, lines[e.endLine].length), newText: '' };
  }
  return { start: at(e.startLine, 0), end: at(e.endLine, lines[e.endLine].length), newText: e.lines.join(file.eol) };
}
