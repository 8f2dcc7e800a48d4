/**
 * Eval sets: a `.qa` file of hand-written questions, the A lines being the reference answers,
 * read with the one .qa parser. `@tags: forward, numeric` above a pair tags it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MnemoError } from '../errors';
import { parseQa } from '../qa';
import type { EvalQuestion, EvalSet } from './types';

/** A question's stable id: the same text (whitespace aside) always gets the same id. */
export function questionId(question: string): string {
  return createHash('sha256').update(question.replace(/\s+/g, ' ').trim()).digest('hex').slice(0, 12);
}

/** Tags from a `@tags:` value: comma- or space-separated, lower case, sorted, no duplicates. */
export function parseTags(value: string | undefined): string[] {
  if (!value) return [];
  return [...new Set(value.split(/[,\s]+/).map((t) => t.trim().toLowerCase()).filter(Boolean))].sort();
}

/**
 * Key facts from a `@keys:` value: `|`-separated facts (each may hold `/`-separated alternatives),
 * trimmed, empty ones dropped; undefined when there is none.
 */
export function parseKeys(value: string | undefined): string[] | undefined {
  if (!value) return undefined;
  const keys = value.split('|').map((k) => k.trim().replace(/\s+/g, ' ')).filter((k) => k.split('/').some((a) => a.trim()));
  return keys.length ? keys : undefined;
}

/** Reads an eval set from .qa text. Never throws: what it cannot use is listed in `problems`. */
export function parseEvalSet(text: string, path: string): EvalSet {
  const file = parseQa(text);
  const sha256 = createHash('sha256').update(text).digest('hex');
  const problems: EvalSet['problems'] = [];
  for (const p of file.problems) {
    // A question without an answer is allowed here: it is answered and flagged, not graded.
    if (p.severity !== 'error' || p.code === 'question-without-answer' || p.code === 'empty-answer') continue;
    problems.push({ line: p.startLine, message: p.message });
  }
  const questions: EvalQuestion[] = [];
  const seen = new Map<string, number>();
  for (const pair of file.pairs) {
    if (pair.commented || !pair.question) continue;
    const id = questionId(pair.question);
    const first = seen.get(id);
    if (first !== undefined) {
      problems.push({ line: pair.questionLine, message: `This question is asked twice (first on line ${first + 1}); only the first is used.` });
      continue;
    }
    seen.set(id, pair.questionLine);
    const keys = parseKeys(pair.meta.keys);
    questions.push({ id, question: pair.question, reference: pair.answer || undefined, tags: parseTags(pair.meta.tags), ...(keys ? { keys } : {}), line: pair.questionLine });
  }
  problems.sort((a, b) => a.line - b.line);
  return { path, sha256, questions, problems };
}

/** Reads an eval set file; a missing or unreadable file, or one with no question, is a MnemoError. */
export function loadEvalSet(path: string): EvalSet {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MnemoError(
      code === 'ENOENT' ? `The eval set ${path} does not exist.` : `The eval set ${path} could not be read (${code ?? String(err)}).`,
      'Write your questions in eval/questions.qa ("Q:" lines, reference answers as "A:" lines), or pass another .qa file.',
      path,
    );
  }
  if (bytes.subarray(0, 8192).includes(0)) throw new MnemoError(`The eval set ${path} looks binary, not a .qa text file.`, 'Pass a .qa file of "Q:" and "A:" lines.', path);
  const set = parseEvalSet(bytes.toString('utf8'), path);
  if (!set.questions.length) {
    throw new MnemoError(`The eval set ${path} has no question.`, 'Add questions as "Q:" lines, each followed by its reference answer on an "A:" line.', path);
  }
  return set;
}
