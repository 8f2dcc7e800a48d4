/**
 * Recall while training: the questions a run answers at every eval (recall.jsonl, staged into the
 * run folder when it starts) and the grading of its answers (`recall` events) with the core's one
 * grading rule, the same the evaluation stage uses (core/eval gradeAnswer).
 *
 * recall.jsonl, one question a line (read by train.py / recall.py):
 *   {"id": "q-…", "set": "eval" | "test", "question": "...", "reference": "...", "tags": [...], "keys": [...] | null}
 * - set "eval": the project's eval questions (mnemo.json eval.questions, default eval/questions.qa)
 *   that have a reference answer, with their ids (core/eval questionId) and tags;
 * - set "test": every user -> assistant turn of data/test.jsonl (the dataset's held-out pairs),
 *   id "t-<index>", tag "held-out".
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../errors';
import { gradeAnswer } from '../eval/match';
import { loadEvalSet } from '../eval/questions';
import type { Project } from '../project';
import type { RecallCount, RecallEvent, RecallSetName } from './protocol';

// The one wording of recall figures lives beside the protocol (no Node imports: the chart webview uses it too).
export { describeRecall, formatKept, formatRecall, recallPercent } from './protocol';

export interface RecallQuestion {
  id: string;
  set: RecallSetName;
  question: string;
  reference: string;
  tags: string[];
  /** The pair's explicit key facts (an eval set's `@keys:` line), or null for the heuristic key terms. */
  keys: string[] | null;
}

/** The tag of every held-out pair (set "test"). */
export const HELD_OUT_TAG = 'held-out';

/** The tags the chart knows by name (and colour), in the order it lists them; any other tag is drawn too. */
export const RECALL_TAGS = ['forward', 'reversed', 'paraphrase', 'numeric', HELD_OUT_TAG] as const;

export interface RecallSet {
  questions: RecallQuestion[];
  /** Questions per set. */
  counts: Record<RecallSetName, number>;
  /** What was left out and why (no eval set, questions without a reference, an unreadable test file). */
  notes: string[];
}

/** The held-out pairs of a dataset file: each user turn followed by an assistant turn is one question. */
export function heldOutQuestions(text: string): { questions: RecallQuestion[]; badLines: number } {
  const questions: RecallQuestion[] = [];
  let badLines = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let messages: unknown;
    try {
      messages = (JSON.parse(line) as { messages?: unknown }).messages;
    } catch {
      badLines++;
      continue;
    }
    if (!Array.isArray(messages)) {
      badLines++;
      continue;
    }
    for (let i = 0; i + 1 < messages.length; i++) {
      const q = messages[i] as { role?: unknown; content?: unknown };
      const a = messages[i + 1] as { role?: unknown; content?: unknown };
      if (q?.role !== 'user' || a?.role !== 'assistant' || typeof q.content !== 'string' || typeof a.content !== 'string' || !q.content.trim() || !a.content.trim()) continue;
      questions.push({ id: `t-${questions.length}`, set: 'test', question: q.content.trim(), reference: a.content.trim(), tags: [HELD_OUT_TAG], keys: null });
      i++;
    }
  }
  return { questions, badLines };
}

/** The recall questions of a project: its eval set (if any), then the held-out pairs of `testFile` (if it exists). */
export function buildRecallSet(project: Project, testFile = join(project.dataDir, 'test.jsonl')): RecallSet {
  const questions: RecallQuestion[] = [];
  const notes: string[] = [];
  const evalPath = join(project.root, project.config.eval.questions);
  const counts: Record<RecallSetName, number> = { eval: 0, test: 0 };
  if (existsSync(evalPath)) {
    try {
      const set = loadEvalSet(evalPath);
      let unanswered = 0;
      for (const q of set.questions) {
        if (!q.reference) {
          unanswered++;
          continue;
        }
        questions.push({ id: q.id, set: 'eval', question: q.question, reference: q.reference, tags: q.tags, keys: q.keys?.length ? q.keys : null });
        counts.eval++;
      }
      if (unanswered) notes.push(`${unanswered} question${unanswered > 1 ? 's' : ''} of ${project.config.eval.questions} without a reference answer ${unanswered > 1 ? 'are' : 'is'} not asked while training.`);
    } catch (err) {
      notes.push(`The eval set could not be used for recall: ${describeError(err)}`);
    }
  } else {
    notes.push(`No eval set (${project.config.eval.questions}): recall is measured on the held-out pairs only.`);
  }
  if (existsSync(testFile)) {
    const held = heldOutQuestions(readFileSync(testFile, 'utf8'));
    questions.push(...held.questions);
    counts.test = held.questions.length;
    if (held.badLines) notes.push(`${held.badLines} line${held.badLines > 1 ? 's' : ''} of the test split could not be read and ${held.badLines > 1 ? 'were' : 'was'} left out of recall.`);
  }
  if (!questions.length) notes.push('No recall is measured: there is no eval set with reference answers and no held-out pair.');
  return { questions, counts, notes };
}

/** recall.jsonl's text. */
export function recallJsonl(questions: readonly RecallQuestion[]): string {
  return questions.map((q) => JSON.stringify({ id: q.id, set: q.set, question: q.question, reference: q.reference, tags: q.tags, keys: q.keys })).join('\n') + (questions.length ? '\n' : '');
}

export function writeRecallFile(path: string, questions: readonly RecallQuestion[]): void {
  writeFileSync(path, recallJsonl(questions));
}

/** Reads a run's recall.jsonl; undefined when it is missing. Unreadable lines are skipped (counted in `bad`). */
export function readRecallFile(path: string): { questions: Map<string, RecallQuestion>; bad: number } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const questions = new Map<string, RecallQuestion>();
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const q = JSON.parse(line) as Partial<RecallQuestion>;
      if (typeof q.id !== 'string' || typeof q.question !== 'string' || typeof q.reference !== 'string' || (q.set !== 'eval' && q.set !== 'test')) throw new Error('not a recall question');
      const keys = Array.isArray(q.keys) ? q.keys.filter((k): k is string => typeof k === 'string') : [];
      questions.set(q.id, { id: q.id, set: q.set, question: q.question, reference: q.reference, tags: Array.isArray(q.tags) ? q.tags.filter((t): t is string => typeof t === 'string') : [], keys: keys.length ? keys : null });
    } catch {
      bad++;
    }
  }
  return { questions, bad };
}

/** One recall measurement as the views show it. */
export interface RecallPoint {
  step: number;
  epoch: number | null;
  set: RecallSetName;
  correct: number;
  total: number;
  byTag: Record<string, RecallCount>;
  /** True when the answers were graded here with the core's rule; false when the script's counts are shown as sent. */
  regraded: boolean;
  /** Answers whose verdict here differs from the script's (the two graders should agree: the golden table). */
  disagreements: number;
  /** Answers whose question is not in recall.jsonl (not counted), and malformed entries the parser left out. */
  unknown: number;
}

/**
 * Grades a recall event's answers with the core's rule, against the run's recall.jsonl. Without
 * the questions (an older run, a script of one's own) or without answers, the script's own counts
 * are used as they are.
 */
export function gradeRecall(ev: RecallEvent, questions: ReadonlyMap<string, RecallQuestion> | undefined, epoch: number | null = typeof ev.epoch === 'number' ? ev.epoch : null): RecallPoint {
  const base = { step: ev.step, epoch, set: ev.set };
  if (!questions || !ev.answers || !ev.answers.length) {
    return { ...base, correct: ev.correct, total: ev.total, byTag: { ...(ev.by_tag ?? {}) }, regraded: false, disagreements: 0, unknown: ev.dropped ?? 0 };
  }
  const byTag: Record<string, RecallCount> = {};
  let correct = 0;
  let total = 0;
  let unknown = ev.dropped ?? 0;
  let disagreements = 0;
  for (const a of ev.answers) {
    const q = questions.get(a.id);
    if (!q) {
      unknown++;
      continue;
    }
    const right = gradeAnswer(a.answer, q.reference, q.question, q.keys ?? undefined);
    if (typeof a.correct === 'boolean' && a.correct !== right) disagreements++;
    total++;
    if (right) correct++;
    for (const tag of q.tags) {
      const c = (byTag[tag] ??= { correct: 0, total: 0 });
      c.total++;
      if (right) c.correct++;
    }
  }
  return { ...base, correct, total, byTag, regraded: true, disagreements, unknown };
}

/** The latest recall of each set in a run's events, graded (what the Runs view and the status bar show). */
export function latestRecall(events: readonly { event: string }[], questions: ReadonlyMap<string, RecallQuestion> | undefined): Partial<Record<RecallSetName, RecallPoint>> {
  const out: Partial<Record<RecallSetName, RecallPoint>> = {};
  for (const e of events) if (e.event === 'recall') out[(e as RecallEvent).set] = gradeRecall(e as RecallEvent, questions);
  return out;
}
