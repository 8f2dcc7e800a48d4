/** Scores: correct / graded with a Wilson 95% interval, overall and per tag; judge agreement. */
import type { AnswerRecord, AnswerSet, JudgeAgreement, Score, ScoreReport } from './types';

/** The tag questions without tags are counted under. */
export const UNTAGGED = 'untagged';

/**
 * Wilson score interval for k successes in n trials (z = 1.96: 95%). Unlike the normal
 * approximation it stays inside [0, 1] and is sensible for small n and for 0 or n successes.
 * n = 0 gives [0, 1]: nothing is known.
 */
export function wilson(k: number, n: number, z = 1.96): { low: number; high: number } {
  if (n <= 0) return { low: 0, high: 1 };
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { low: Math.max(0, center - half), high: Math.min(1, center + half) };
}

/** The score of some answers: only graded answers (verdict true or false) count in the rate. */
export function scoreAnswers(answers: AnswerRecord[]): Score {
  let correct = 0;
  let graded = 0;
  for (const a of answers) {
    if (a.verdict.correct === null) continue;
    graded++;
    if (a.verdict.correct) correct++;
  }
  const { low, high } = wilson(correct, graded);
  return { correct, graded, total: answers.length, ungraded: answers.length - graded, rate: graded ? correct / graded : 0, low, high };
}

export function scoreAnswerSet(set: Pick<AnswerSet, 'answers'>): ScoreReport {
  const groups = new Map<string, AnswerRecord[]>();
  for (const a of set.answers) {
    for (const tag of a.tags.length ? a.tags : [UNTAGGED]) {
      let g = groups.get(tag);
      if (!g) groups.set(tag, (g = []));
      g.push(a);
    }
  }
  const byTag: Record<string, Score> = {};
  for (const tag of [...groups.keys()].sort()) byTag[tag] = scoreAnswers(groups.get(tag)!);
  const leaked = set.answers.filter((a) => a.leak).length;
  return { overall: scoreAnswers(set.answers), leaked, ...(leaked ? { withoutLeaks: scoreAnswers(set.answers.filter((a) => !a.leak)) } : {}), byTag };
}

/** "8/11 (73%, 95% CI 43–90%)", with "· 2 ungraded" when some are. */
export function formatScore(s: Score): string {
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const base = s.graded ? `${s.correct}/${s.graded} (${pct(s.rate)}, 95% CI ${pct(s.low)}–${pct(s.high)})` : `0/0 (nothing graded)`;
  return s.ungraded ? `${base} · ${s.ungraded} ungraded` : base;
}

/**
 * How often the judge agreed with the user, over the answers the judge graded and the user then
 * set a verdict on. Setting the same verdict as the judge's is a confirmation and counts as
 * agreement; answers graded by a matcher are not counted.
 */
export function judgeAgreement(set: Pick<AnswerSet, 'answers'>): JudgeAgreement {
  let compared = 0;
  let agreed = 0;
  const disagreements: JudgeAgreement['disagreements'] = [];
  for (const a of set.answers) {
    const v = a.verdict;
    if (!v.overruled || !v.auto || v.auto.by !== 'judge') continue;
    compared++;
    if (v.auto.correct === v.correct) agreed++;
    else disagreements.push({ questionId: a.questionId, question: a.question, judge: v.auto.correct, user: v.correct, reason: v.auto.reason });
  }
  return { compared, agreed, rate: compared ? agreed / compared : null, disagreements };
}
