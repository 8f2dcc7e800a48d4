/**
 * Where answer sets live and how they are read, written and overruled.
 *   runs/<run-id>/eval/<set-id>.json   a run's fine-tuned model
 *   eval/results/<set-id>.json         the base model and API baselines
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, extname, isAbsolute, join, relative, sep } from 'node:path';
import { MnemoError } from '../errors';
import type { Project } from '../project';
import { RUN_FILES } from '../training/protocol';
import { scoreAnswerSet } from './score';
import type { AnswerRecord, AnswerSet, AnswerSetEntry, AnswerSetMeta, Verdict } from './types';

/** Folder of base-model and API results inside a project. */
export const RESULTS_DIR = join('eval', 'results');

export function resultsDir(project: Project): string {
  return join(project.root, RESULTS_DIR);
}

export function runEvalDir(project: Project, runId: string): string {
  return join(project.runsDir, runId, RUN_FILES.eval);
}

/** A file-name-safe slug: lower case letters, digits, '.', '-'. */
export function slugPart(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 80) || 'x';
}

function modelSlug(model: string): string {
  // A local folder is named by its last segment; an HF id keeps its namespace.
  const local = isAbsolute(model) || model.startsWith('.') || model.split(/[\\/]/).length > 2;
  return slugPart(local ? basename(model.replace(/[\\/]+$/, '')) : model);
}

/**
 * The set id (file name without .json): what answered, on which questions. The same evaluation
 * run again gets the same id and replaces its file (overrules are carried over).
 */
export function answerSetId(meta: Pick<AnswerSetMeta, 'kind' | 'model' | 'context' | 'topK' | 'questionsPath'>): string {
  const questions = slugPart(basename(meta.questionsPath, extname(meta.questionsPath)));
  // A local model reading the document in its prompt is the ceiling, not a memorization score.
  const doc = meta.context === 'document' ? '-document' : '';
  if (meta.kind === 'run') return `${questions}${doc}`;
  if (meta.kind === 'base') return `base-${modelSlug(meta.model)}${doc}-${questions}`;
  const ctx = meta.context ?? 'none';
  return `api-${modelSlug(meta.model)}-${ctx}${ctx === 'chunks' && meta.topK ? `${meta.topK}` : ''}-${questions}`;
}

/** Where a set is (or will be) saved. */
export function answerSetPath(project: Project, meta: Pick<AnswerSetMeta, 'id' | 'kind' | 'runId'>): string {
  if (meta.kind === 'run') {
    if (!meta.runId) throw new MnemoError('An answer set of a run needs the run id.', 'This is a bug in Mnemo: please report it.');
    return join(runEvalDir(project, meta.runId), `${meta.id}.json`);
  }
  return join(resultsDir(project), `${meta.id}.json`);
}

/** A path as stored in a set: project-relative (with '/') when inside the project, else absolute. */
export function storedPath(project: Project, path: string): string {
  const rel = relative(project.root, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : path;
}

function writeAtomic(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Writes the set to its place (see `answerSetPath`); returns the path. */
export function saveAnswerSet(project: Project, set: AnswerSet): string {
  const path = answerSetPath(project, set.meta);
  writeAnswerSet(path, set);
  return path;
}

export function writeAnswerSet(path: string, set: AnswerSet): void {
  writeAtomic(path, JSON.stringify(set, null, 2) + '\n');
}

/** Reads and checks an answer set file. */
export function readAnswerSet(path: string): AnswerSet {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MnemoError(
      code === 'ENOENT' ? `The answer set ${path} does not exist.` : `The answer set ${path} is not valid JSON (${code ?? (err as Error).message}).`,
      'Run the evaluation again to rewrite it.',
      path,
    );
  }
  const set = value as Partial<AnswerSet>;
  if (!set || typeof set !== 'object' || set.version !== 1 || !set.meta || typeof set.meta.id !== 'string' || !Array.isArray(set.answers)) {
    throw new MnemoError(`${path} is not a Mnemo answer set (version 1 with "meta" and "answers").`, 'Run the evaluation again to rewrite it.', path);
  }
  for (const a of set.answers) {
    if (!a || typeof a.questionId !== 'string' || typeof a.answer !== 'string' || !a.verdict || !Array.isArray(a.tags)) {
      throw new MnemoError(`${path} has an answer without questionId, answer, tags or verdict.`, 'Run the evaluation again to rewrite it.', path);
    }
  }
  return set as AnswerSet;
}

/** Every saved answer set of the project: eval/results/ by file name, then runs by id; unreadable files go to `onProblem`. */
export function listAnswerSets(project: Project, onProblem?: (path: string, message: string) => void): AnswerSetEntry[] {
  const files: string[] = [];
  const jsonIn = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.json')) files.push(join(dir, f));
  };
  jsonIn(resultsDir(project));
  if (existsSync(project.runsDir)) {
    for (const run of readdirSync(project.runsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) jsonIn(runEvalDir(project, run));
  }
  const out: AnswerSetEntry[] = [];
  for (const path of files) {
    try {
      const set = readAnswerSet(path);
      out.push({ path, meta: set.meta, score: scoreAnswerSet(set) });
    } catch (err) {
      onProblem?.(path, err instanceof Error ? err.message : String(err));
    }
  }
  return out;
}

function findAnswer(set: AnswerSet, path: string, questionId: string): AnswerRecord {
  const a = set.answers.find((x) => x.questionId === questionId);
  if (!a) throw new MnemoError(`The answer set ${path} has no question with id ${questionId}.`, 'Re-open the answer set: it may have been re-run with other questions.', path);
  return a;
}

/** Sets the user's verdict on one answer, keeping the automatic one in `verdict.auto`. */
export function applyOverrule(verdict: Verdict, correct: boolean | null): Verdict {
  const auto = verdict.overruled ? verdict.auto! : { correct: verdict.correct, by: verdict.by, ...(verdict.reason !== undefined ? { reason: verdict.reason } : {}) };
  return { ...verdict, correct, by: 'user', reason: 'set by the user', auto, overruled: true };
}

/** Back to the automatic verdict. */
export function removeOverrule(verdict: Verdict): Verdict {
  if (!verdict.overruled || !verdict.auto) return verdict;
  const { auto, overruled: _o, ...rest } = verdict;
  return { ...rest, correct: auto.correct, by: auto.by, reason: auto.reason };
}

/**
 * The user's verdict on one answer of a saved set (true: correct, false: wrong, null: not
 * gradable). Written at once; returns the updated set.
 */
export function overrule(path: string, questionId: string, correct: boolean | null): AnswerSet {
  const set = readAnswerSet(path);
  const a = findAnswer(set, path, questionId);
  a.verdict = applyOverrule(a.verdict, correct);
  writeAnswerSet(path, set);
  return set;
}

/** Removes the user's verdict on one answer of a saved set; returns the updated set. */
export function clearOverrule(path: string, questionId: string): AnswerSet {
  const set = readAnswerSet(path);
  const a = findAnswer(set, path, questionId);
  a.verdict = removeOverrule(a.verdict);
  writeAnswerSet(path, set);
  return set;
}

/**
 * Carries the user's overrules from an earlier version of a set into a new one, for answers
 * whose question and answer text are unchanged (a new answer deserves a new look).
 */
export function carryOverrules(previous: AnswerSet | undefined, next: AnswerSet): number {
  if (!previous) return 0;
  const prev = new Map(previous.answers.map((a) => [a.questionId, a]));
  let carried = 0;
  for (const a of next.answers) {
    const p = prev.get(a.questionId);
    if (!p?.verdict.overruled || p.answer !== a.answer) continue;
    a.verdict = applyOverrule(a.verdict, p.verdict.correct);
    carried++;
  }
  return carried;
}
