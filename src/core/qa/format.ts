/**
 * Formatting of .qa files: `Q: `/`A: ` and `@key: value` spacing, no trailing whitespace, exactly
 * one blank line between pairs, no blank lines at either end, and a final line end. Line ends
 * (LF or CRLF) are kept. Formatting never changes what the file means: the pairs parse the same.
 */
import { applyLineEdits, type LineEdit } from './print';
import type { QaFile } from './types';

export interface FormatResult {
  /** Line edits, in order, non-overlapping. */
  edits: LineEdit[];
  /** True when the file lacks a final line end and should get one. */
  addFinalEol: boolean;
}

const MARKER = /^(#[ \t]*)?([QA]):[ \t]*(.*)$/;
const META = /^@([A-Za-z][\w-]*)[ \t]*:[ \t]*(.*)$/;

export function formatEdits(file: QaFile): FormatResult {
  const edits: LineEdit[] = [];
  if (file.problems.some((p) => p.code === 'binary-content')) return { edits, addFinalEol: false };
  const markerLines = new Set<number>();
  const lastLines = new Set<number>();
  for (const p of file.pairs) {
    markerLines.add(p.questionLine);
    if (p.answerLine !== undefined) markerLines.add(p.answerLine);
    lastLines.add(p.lastLine);
  }
  const metaLines = new Set(file.metaLines.map((m) => m.line));
  const { lines } = file;
  let lastContent = lines.length - 1;
  while (lastContent >= 0 && lines[lastContent].trim() === '') lastContent--;

  let emittedBlank = true; // The start of the file counts as a blank: no leading blank lines.
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') {
      if (emittedBlank || i > lastContent) edits.push({ startLine: i, endLine: i, lines: [] });
      else {
        if (line !== '') edits.push({ startLine: i, endLine: i, lines: [''] });
        emittedBlank = true;
      }
      continue;
    }
    let next = line.trimEnd();
    if (markerLines.has(i)) {
      const m = MARKER.exec(next);
      if (m) next = `${m[1] !== undefined ? '# ' : ''}${m[2]}:${m[3] ? ' ' + m[3] : ''}`;
    } else if (metaLines.has(i)) {
      const m = META.exec(next);
      if (m) next = `@${m[1]}:${m[2] ? ' ' + m[2] : ''}`;
    }
    const out: string[] = [];
    // A pair (or anything else) right after the end of a pair gets one blank line before it.
    if (!emittedBlank && lastLines.has(i - 1)) out.push('');
    out.push(next);
    if (out.length > 1 || next !== line) edits.push({ startLine: i, endLine: i, lines: out });
    emittedBlank = false;
  }
  return { edits, addFinalEol: lastContent >= 0 && !file.finalEol };
}

/** The formatted text of a parsed file. */
export function formatQa(file: QaFile): string {
  const { edits, addFinalEol } = formatEdits(file);
  const text = applyLineEdits(file, edits);
  return addFinalEol ? text + file.eol : text;
}
