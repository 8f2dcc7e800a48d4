import { KNOWN_KEYS, type MetaLine, type QaFile, type QaPair, type QaProblem, type Span } from './types';

const QUESTION = /^Q:[ \t]?/;
const ANSWER = /^A:[ \t]?/;
const META = /^@([A-Za-z][\w-]*)[ \t]*(?::[ \t]?(.*))?$/;
const COMMENT = /^#[ \t]?/;

interface Building {
  commented: boolean;
  firstLine: number;
  questionLine: number;
  question: string[];
  questionSpan: Span;
  answerLine?: number;
  answer?: string[];
  answerSpan?: Span;
  lastLine: number;
  pairMeta: Record<string, string>;
}

/** The text's lines (without line ends), dominant line end and whether it ends with one. */
export function splitLines(text: string): { lines: string[]; eol: '\n' | '\r\n'; finalEol: boolean } {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const finalEol = text.endsWith('\n');
  const body = finalEol ? text.slice(0, text.endsWith('\r\n') ? -2 : -1) : text;
  // Split on any line end so that mixed line ends still parse; printing uses the dominant one.
  const lines = text.length === 0 ? [] : body.length === 0 && finalEol ? [''] : body.split(/\r?\n/);
  return { lines, eol, finalEol };
}

/**
 * Parses .qa text. Never throws: whatever the input, it returns every pair it can recognise and
 * a problem for everything else. `print(parse(text)) === text` for any text.
 */
export function parseQa(text: string): QaFile {
  const { lines, eol, finalEol } = splitLines(text);
  const file: QaFile = { lines, eol, finalEol, header: {}, metaLines: [], pairs: [], problems: [] };
  if (text.slice(0, 8192).includes('\u0000')) {
    file.problems.push({ code: 'binary-content', severity: 'error', message: 'This file looks binary (it contains NUL bytes), not a .qa text file.', startLine: 0, startCol: 0, endLine: 0, endCol: lines[0]?.length ?? 0 });
    return file;
  }
  parseRange(lines, 0, lines.length, { sticky: {}, seenContent: false, indexBase: 0 }, file);
  return file;
}

/** Where parsing starts: the metadata in force, whether content was seen, and the index of the first pair. */
interface RangeStart {
  sticky: Record<string, string>;
  seenContent: boolean;
  indexBase: number;
}

/** Parses lines [from, to) into `out`, from a state where no pair is open (the start of the file, or after a blank line). */
function parseRange(lines: string[], from: number, to: number, init: RangeStart, out: Pick<QaFile, 'header' | 'metaLines' | 'pairs' | 'problems'>): void {
  const file = out;
  const sticky: Record<string, string> = { ...init.sticky };
  // Pairs with no metadata of their own share one object for the metadata in force (read-only).
  let shared: Record<string, string> | undefined;
  let pendingPairMeta: Record<string, string> = {};
  let pendingPairMetaLine: number | undefined;
  let seenContent = init.seenContent;
  let cur: Building | undefined;
  const st: { mode: 'none' | 'question' | 'answer' } = { mode: 'none' };

  const problem = (p: Omit<QaProblem, 'severity'> & { severity?: QaProblem['severity'] }) => file.problems.push({ severity: 'error', ...p });

  const finish = () => {
    if (!cur) return;
    const index = init.indexBase + file.pairs.length;
    const question = cur.question.join('\n').trim();
    const answer = cur.answer?.join('\n').trim() ?? '';
    let meta: Record<string, string>;
    if (Object.keys(cur.pairMeta).length) meta = { ...sticky, ...cur.pairMeta };
    else meta = shared ??= { ...sticky };
    const reviewedValue = cur.pairMeta.reviewed;
    const pair: QaPair = {
      index,
      question,
      answer,
      commented: cur.commented,
      chunk: meta.chunk,
      meta,
      reviewed: reviewedValue !== undefined && !/^(false|no|0)$/i.test(reviewedValue.trim()),
      firstLine: cur.firstLine,
      questionLine: cur.questionLine,
      answerLine: cur.answerLine,
      lastLine: cur.lastLine,
      questionSpan: cur.questionSpan,
      answerSpan: cur.answerSpan,
    };
    file.pairs.push(pair);
    // Commented-out pairs are excluded from everything, so their shape is not checked.
    if (!cur.commented) {
      if (cur.answer === undefined) {
        problem({ code: 'question-without-answer', message: 'This question has no answer: add a line starting with "A:" right after it.', pair: index, ...lineSpan(lines, cur.questionLine) });
      } else if (!answer) {
        problem({ code: 'empty-answer', message: 'The answer is empty.', pair: index, ...lineSpan(lines, cur.answerLine!) });
      }
      if (!question) problem({ code: 'empty-question', message: 'The question is empty.', pair: index, ...lineSpan(lines, cur.questionLine) });
    }
    cur = undefined;
    st.mode = 'none';
  };

  const start = (i: number, rest: string, prefixLen: number, commented: boolean) => {
    finish();
    seenContent = true;
    cur = {
      commented,
      firstLine: pendingPairMetaLine ?? i,
      questionLine: i,
      question: [rest],
      questionSpan: { startLine: i, startCol: prefixLen, endLine: i, endCol: lines[i].length },
      lastLine: i,
      pairMeta: pendingPairMeta,
    };
    pendingPairMeta = {};
    pendingPairMetaLine = undefined;
    st.mode = 'question';
  };

  const answerStart = (i: number, rest: string, prefixLen: number) => {
    cur!.answerLine = i;
    cur!.answer = [rest];
    cur!.answerSpan = { startLine: i, startCol: prefixLen, endLine: i, endCol: lines[i].length };
    cur!.lastLine = i;
    st.mode = 'answer';
  };

  const extend = (i: number, text: string) => {
    const c = cur!;
    if (st.mode === 'question') {
      c.question.push(text);
      c.questionSpan.endLine = i;
      c.questionSpan.endCol = lines[i].length;
    } else {
      c.answer!.push(text);
      c.answerSpan!.endLine = i;
      c.answerSpan!.endCol = lines[i].length;
    }
    c.lastLine = i;
  };

  for (let i = from; i < to; i++) {
    const line = lines[i];
    const trimmed = line.trim();

    if (trimmed === '') {
      // A blank line ends the pair (a question cut off here has no answer).
      finish();
      // Pair-level metadata separated from its question by a blank line still applies, but the line is not part of the pair.
      pendingPairMetaLine = undefined;
      continue;
    }

    const comment = COMMENT.exec(line);
    if (comment) {
      const inner = line.slice(comment[0].length);
      const q = QUESTION.exec(inner);
      const a = ANSWER.exec(inner);
      if (q) {
        start(i, inner.slice(q[0].length), comment[0].length + q[0].length, true);
      } else if (a && cur?.commented && st.mode === 'question') {
        answerStart(i, inner.slice(a[0].length), comment[0].length + a[0].length);
      } else if (cur?.commented && st.mode !== 'none') {
        extend(i, inner);
      } else {
        // A plain comment ends an active pair's answer but is otherwise ignored.
        if (cur && st.mode === 'answer') finish();
      }
      continue;
    }

    const meta = META.exec(line);
    if (meta) {
      finish();
      const key = meta[1];
      const value = (meta[2] ?? '').trim();
      const entry: MetaLine = { line: i, key, value };
      file.metaLines.push(entry);
      if (meta[2] === undefined && key !== 'reviewed') {
        problem({ code: 'bad-metadata', severity: 'warning', message: `Metadata "@${key}" has no value: write "@${key}: value".`, ...lineSpan(lines, i) });
      }
      const known = KNOWN_KEYS[key];
      if (!known) {
        problem({ code: 'unknown-key', severity: 'warning', message: `Unknown metadata key "@${key}". Known keys: ${Object.keys(KNOWN_KEYS).map((k) => '@' + k).join(', ')}.`, startLine: i, startCol: 0, endLine: i, endCol: key.length + 1 });
      }
      if (known?.scope === 'pair') {
        pendingPairMeta[key] = meta[2] === undefined ? 'true' : value;
        pendingPairMetaLine ??= i;
      } else {
        sticky[key] = value;
        shared = undefined;
        if (!seenContent && key !== 'chunk') file.header[key] = value;
        if (key === 'chunk') seenContent = true;
      }
      continue;
    }
    if (trimmed.startsWith('@')) {
      finish();
      problem({ code: 'bad-metadata', message: `Malformed metadata line: write "@key: value" (a key of letters, digits, "-" or "_").`, ...lineSpan(lines, i) });
      continue;
    }

    const q = QUESTION.exec(line);
    if (q) {
      start(i, line.slice(q[0].length), q[0].length, false);
      continue;
    }
    const a = ANSWER.exec(line);
    if (a) {
      if (cur && !cur.commented && st.mode === 'question') {
        answerStart(i, line.slice(a[0].length), a[0].length);
      } else {
        finish();
        problem({ code: 'answer-without-question', message: 'This answer has no question: add a line starting with "Q:" right before it.', ...lineSpan(lines, i) });
      }
      continue;
    }

    if (cur && !cur.commented && st.mode !== 'none') {
      extend(i, line);
      continue;
    }
    finish();
    problem({ code: 'stray-text', message: 'Text outside a pair: start a question with "Q:" or an answer with "A:", or comment the line out with "#".', ...lineSpan(lines, i) });
  }
  finish();
}

function lineSpan(lines: string[], line: number): Span {
  return { startLine: line, startCol: 0, endLine: line, endCol: lines[line]?.length ?? 0 };
}

/** Pairs that count: not commented out, with a non-empty question and answer. */
export function activePairs(file: QaFile): QaPair[] {
  return file.pairs.filter((p) => !p.commented && p.question !== '' && p.answer !== '' && p.answerLine !== undefined);
}

/**
 * Parses `text`, an edited version of the text `prev` was parsed from, re-parsing only the lines
 * around the edit: from the blank line before the first changed line to the blank line after the
 * last. Pairs outside that region are the same objects as in `prev`, moved to their new lines
 * (so caches keyed by pair stay valid); `prev` must not be used afterwards. Falls back to a full
 * parse when the edit touches metadata, whose effect reaches past blank lines.
 * The result equals `parseQa(text)`. `split`, when given, must be `splitLines(text)`'s lines and finalEol.
 */
export function reparseQa(prev: QaFile, text: string, split?: { lines: string[]; finalEol: boolean }): QaFile {
  if (prev.problems.some((p) => p.code === 'binary-content') || text.slice(0, 8192).includes('\u0000')) return parseQa(text);
  // An editor that tracks lines hands them in (unchanged lines are then the very same strings,
  // so finding the edit costs next to nothing); otherwise the text is split here.
  const { lines, eol, finalEol } = split ? { ...split, eol: text.includes('\r\n') ? ('\r\n' as const) : ('\n' as const) } : splitLines(text);
  const old = prev.lines;
  const max = Math.min(old.length, lines.length);
  let p = 0;
  while (p < max && old[p] === lines[p]) p++;
  let sfx = 0;
  while (sfx < max - p && old[old.length - 1 - sfx] === lines[lines.length - 1 - sfx]) sfx++;
  const delta = lines.length - old.length;
  // The region starts after the last line before the change where no pair is open (a blank line,
  // or metadata other than a pair's own)...
  let b = p - 1;
  while (b >= 0 && !(old[b].trim() === '' || (old[b].trimStart().startsWith('@') && !isPairMeta(old[b])))) b--;
  if (b < 0) return parseQa(text);
  // ...and ends at the first blank or metadata line after it (or the end of the file).
  let e = lines.length - sfx;
  while (e < lines.length && !(lines[e].trim() === '' || lines[e].trimStart().startsWith('@'))) e++;
  const eOld = e - delta;
  for (let i = b + 1; i < e; i++) if (lines[i].trimStart().startsWith('@')) return parseQa(text);
  for (let i = b + 1; i < eOld; i++) if (old[i].trimStart().startsWith('@')) return parseQa(text);

  // The state at the blank line: metadata in force, and no pair-level metadata waiting for a pair.
  const sticky: Record<string, string> = {};
  let seenContent = false;
  let before = 0;
  while (before < prev.pairs.length && prev.pairs[before].lastLine < b) before++;
  const lastPairStart = before > 0 ? prev.pairs[before - 1].questionLine : -1;
  for (const m of prev.metaLines) {
    if (m.line > b) break;
    if (KNOWN_KEYS[m.key]?.scope === 'pair') {
      if (m.line > lastPairStart) return parseQa(text);
      continue;
    }
    sticky[m.key] = m.value;
    if (m.key === 'chunk') seenContent = true;
  }
  // Before any content, metadata lines after the region could be the file's header: parse it all.
  if (!seenContent && before === 0) return parseQa(text);

  let after = before;
  while (after < prev.pairs.length && prev.pairs[after].firstLine < eOld) after++;
  const region: Pick<QaFile, 'header' | 'metaLines' | 'pairs' | 'problems'> = { header: {}, metaLines: [], pairs: [], problems: [] };
  parseRange(lines, b + 1, e, { sticky, seenContent: true, indexBase: before }, region);

  const pairDelta = region.pairs.length - (after - before);
  const tail = prev.pairs.slice(after);
  if (delta !== 0 || pairDelta !== 0) for (const pair of tail) shiftPair(pair, delta, pairDelta);
  const problems: QaProblem[] = [];
  for (const pr of prev.problems) {
    if (pr.startLine <= b) problems.push(pr);
  }
  problems.push(...region.problems);
  for (const pr of prev.problems) {
    if (pr.startLine >= eOld) {
      pr.startLine += delta;
      pr.endLine += delta;
      if (pr.pair !== undefined) pr.pair += pairDelta;
      problems.push(pr);
    }
  }
  for (const m of prev.metaLines) if (m.line >= eOld) m.line += delta;
  return {
    lines,
    eol,
    finalEol,
    header: prev.header,
    metaLines: prev.metaLines,
    pairs: [...prev.pairs.slice(0, before), ...region.pairs, ...tail],
    problems,
  };
}

function isPairMeta(line: string): boolean {
  const m = META.exec(line);
  return !!m && KNOWN_KEYS[m[1]]?.scope === 'pair';
}

function shiftPair(p: QaPair, lines: number, index: number): void {
  p.index += index;
  p.firstLine += lines;
  p.questionLine += lines;
  if (p.answerLine !== undefined) p.answerLine += lines;
  p.lastLine += lines;
  p.questionSpan.startLine += lines;
  p.questionSpan.endLine += lines;
  if (p.answerSpan) {
    p.answerSpan.startLine += lines;
    p.answerSpan.endLine += lines;
  }
}
