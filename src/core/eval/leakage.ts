/**
 * Leakage: eval questions that near-duplicate a training question. A model that trained on (almost)
 * the same question is not recalling the document when it answers it, so such questions are flagged
 * and scores are given with and without them.
 *
 * "Near-duplicate" is the dataset split's own measure (src/core/dataset/groups.ts): the same words
 * (case and punctuation aside), or a Jaccard similarity of the questions' content-word shingles
 * (src/core/qa/similarity.ts, the context's keywords left out) of at least
 * SPLIT_NEAR_DUPLICATE_THRESHOLD: what the split keeps on one side is what counts as leaked here.
 *
 * The training questions are the user turns of the training rows: a run's own copy
 * (runs/<id>/train.jsonl) for a run, else the project's data/train.jsonl.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { SPLIT_NEAR_DUPLICATE_THRESHOLD } from '../dataset/groups';
import type { Project } from '../project';
import { exactKey, jaccard, shingles } from '../qa/similarity';
import type { EvalQuestion, LeakInfo } from './types';

export interface TrainingQuestions {
  /** Where they were read from (project-relative, "/"-separated). */
  source: string;
  questions: string[];
}

/** The user turns of a training file (chat rows, one JSON object a line); unreadable lines are skipped. */
export function readTrainingQuestions(file: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const row = JSON.parse(line) as { messages?: Array<{ role?: string; content?: unknown }> };
      for (const m of row.messages ?? []) if (m.role === 'user' && typeof m.content === 'string') out.push(m.content);
    } catch {
      // A damaged line holds no question we can compare with.
    }
  }
  return out;
}

/**
 * The questions the model trained on: the run's train.jsonl when a run is given and has one, else
 * the project's data/train.jsonl; undefined when neither exists (no dataset built yet).
 */
export function trainingQuestions(project: Project, runId?: string): TrainingQuestions | undefined {
  const candidates = [...(runId ? [join(project.runsDir, runId, 'train.jsonl')] : []), join(project.dataDir, 'train.jsonl')];
  const file = candidates.find((f) => existsSync(f));
  if (!file) return undefined;
  return { source: relative(project.root, file).split('\\').join('/'), questions: readTrainingQuestions(file) };
}

/**
 * For each eval question, its most similar training question when that one is a near-duplicate
 * (see the file comment). Keyed by question id.
 */
export function findLeaks(
  questions: ReadonlyArray<Pick<EvalQuestion, 'id' | 'question'>>,
  training: readonly string[],
  options: { keywords?: readonly string[]; threshold?: number } = {},
): Map<string, LeakInfo> {
  const threshold = options.threshold ?? SPLIT_NEAR_DUPLICATE_THRESHOLD;
  const ignore = new Set((options.keywords ?? []).flatMap((k) => exactKey(k).split(' ')).filter(Boolean));
  const byKey = new Map<string, string>();
  const train: Array<{ text: string; set: Set<number> }> = [];
  for (const t of training) {
    const key = exactKey(t);
    if (byKey.has(key)) continue;
    byKey.set(key, t);
    train.push({ text: t, set: shingles(t, ignore) });
  }
  const out = new Map<string, LeakInfo>();
  for (const q of questions) {
    const same = byKey.get(exactKey(q.question));
    if (same !== undefined) {
      out.set(q.id, { similarity: 1, trainQuestion: same });
      continue;
    }
    const set = shingles(q.question, ignore);
    let best: { text: string; sim: number } | undefined;
    for (const t of train) {
      // Two questions with no content word left are alike only when they are the same words (above).
      if (set.size === 0 || t.set.size === 0) continue;
      const sim = jaccard(set, t.set);
      if (sim >= threshold && (!best || sim > best.sim)) best = { text: t.text, sim };
    }
    if (best) out.set(q.id, { similarity: Math.round(best.sim * 1000) / 1000, trainQuestion: best.text });
  }
  return out;
}

/** Leaks of an eval set's questions against what the project (or a run) trains on. */
export function projectLeaks(project: Project, questions: ReadonlyArray<Pick<EvalQuestion, 'id' | 'question'>>, runId?: string): { source?: string; leaks: Map<string, LeakInfo> } {
  const training = trainingQuestions(project, runId);
  if (!training) return { leaks: new Map() };
  return { source: training.source, leaks: findLeaks(questions, training.questions, { keywords: project.config.keywords }) };
}
