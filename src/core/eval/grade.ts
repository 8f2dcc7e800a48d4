/**
 * Grading an answer set: matchers always (cheap, shown next to every verdict), the judge when one
 * is configured. The user's overrules stay: the automatic verdict under them is refreshed.
 */
import type { ChatClient } from '../generation/client';
import { judgeAnswer, type JudgePrompt } from './judge';
import { matchAnswer } from './match';
import { applyOverrule } from './store';
import type { AnswerRecord, AnswerSet, EvalProgress, GradingMode, MatchResult, Verdict } from './types';

export interface JudgeConfig {
  client: ChatClient;
  baseUrl: string;
  model: string;
  prompt: JudgePrompt;
  /** mnemo.json `context`. */
  context: string;
  retries?: number;
  timeoutMs?: number;
}

export interface GradeOptions {
  /** The matcher used when there is no judge (default 'contains'). */
  matcher?: 'contains' | 'exact';
  judge?: JudgeConfig;
  /** Judge requests in flight at once (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (p: EvalProgress) => void;
}

/** Runs `work` over items with at most `limit` at once, in order of start. */
export async function pool<T>(items: T[], limit: number, work: (item: T, i: number) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      if (signal?.aborted) return;
      const i = next++;
      await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/** Why the key-terms grade said what it said: the terms found, missing, and how many were needed. */
function containsReason(m: MatchResult, correct: boolean): string {
  const what = m.keys ? 'key facts' : 'key terms';
  if (!m.terms.length) return correct ? 'no key terms; the answer contains the reference word for word' : 'no key terms, and the answer does not contain the reference word for word';
  if (!m.missing.length) return `all ${what} found (${m.terms.join(', ')})`;
  const found = m.terms.length - m.missing.length;
  const of = m.needed !== undefined && m.needed < m.terms.length ? `${found} of ${m.terms.length} ${what} found (${m.needed} needed, every number and yes/no among them)` : `missing ${what}`;
  return `${of}; missing: ${m.missing.join(', ')}`;
}

/** The automatic verdict of one answer, without asking a judge (matchers, and the cases no grader can take). */
export function matcherVerdict(a: Pick<AnswerRecord, 'answer' | 'reference' | 'question' | 'error' | 'keys'>, matcher: 'contains' | 'exact'): Verdict {
  if (!a.reference) return { correct: null, by: 'none', reason: 'no reference answer: answered, not graded', flags: ['no-reference'] };
  const match = matchAnswer(a.answer, a.reference, a.question, a.keys);
  if (a.error) return { correct: null, by: 'none', reason: `no answer: ${a.error}`, match, flags: ['error'] };
  if (!a.answer.trim()) return { correct: false, by: matcher, reason: 'empty answer', match, flags: ['empty-answer'] };
  const correct = matcher === 'exact' ? match.exact : match.contains;
  const reason = matcher === 'exact'
    ? (correct ? 'the answer contains the reference word for word' : 'the answer does not contain the reference word for word')
    : containsReason(match, correct);
  return { correct, by: matcher, reason, match };
}

/** The grading mode a set gets with these options. */
export function gradingMode(opts: Pick<GradeOptions, 'matcher' | 'judge'>): GradingMode {
  return opts.judge ? 'judge' : (opts.matcher ?? 'contains');
}

/**
 * Grades every answer of a set in place and returns it: matchers always, the judge (when given)
 * for answers that have a reference and a non-empty answer. Overrules are kept.
 */
export async function gradeAnswerSet(set: AnswerSet, opts: GradeOptions = {}): Promise<AnswerSet> {
  const matcher = opts.matcher ?? 'contains';
  const judge = opts.judge;
  let done = 0;
  const total = set.answers.length;
  opts.onProgress?.({ phase: 'grading', done, total });
  await pool(
    set.answers,
    judge ? (opts.concurrency ?? 4) : total,
    async (a) => {
      let auto = matcherVerdict(a, matcher);
      if (judge && auto.flags === undefined) {
        const j = await judgeAnswer(
          { client: judge.client, model: judge.model, prompt: judge.prompt, context: judge.context, retries: judge.retries, timeoutMs: judge.timeoutMs, signal: opts.signal },
          { question: a.question, reference: a.reference!, answer: a.answer },
        );
        auto = j.correct === null
          ? { correct: null, by: 'none', reason: j.reason, judge: j, match: auto.match, flags: [j.raw !== undefined ? 'judge-off-format' : 'judge-failed'] }
          : { correct: j.correct, by: 'judge', reason: j.reason, judge: j, match: auto.match };
      } else if (judge && auto.flags?.includes('empty-answer')) {
        auto = { ...auto, by: 'judge', reason: 'empty answer (not sent to the judge)' };
      }
      a.verdict = a.verdict?.overruled ? applyOverrule(auto, a.verdict.correct) : auto;
      done++;
      opts.onProgress?.({ phase: 'grading', done, total });
    },
    opts.signal,
  );
  set.meta.grading = gradingMode(opts);
  set.meta.judge = judge ? { model: judge.model, baseUrl: judge.baseUrl, promptSha256: judge.prompt.sha256 } : undefined;
  set.meta.graded = new Date().toISOString();
  if (!set.meta.judge) delete set.meta.judge;
  return set;
}
