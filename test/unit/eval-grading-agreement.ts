/**
 * How often the key-terms grade agrees with verdicts read by hand, on the public eval set:
 * test/fixtures/grading-agreement.json (answers of SmolLM2-135M-Instruct, with and without the
 * rule book in context, and recorded generator replies to related questions; 120 rows, each
 * verdict read by a person). Prints the agreement of the rule without and with the eval set's
 * `@keys:` lines (examples/cairnrun/eval/questions.qa); the last line is one JSON object.
 *
 *   node --import tsx test/unit/eval-grading-agreement.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gradeAnswer, parseEvalSet, questionId } from '../../src/core/eval';

const ROOT = join(__dirname, '..', '..');
const rows = (JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'grading-agreement.json'), 'utf8')) as { rows: Array<{ question: string; reference: string; answer: string; verdict: boolean; source: string }> }).rows;
const keys = new Map(parseEvalSet(readFileSync(join(ROOT, 'examples', 'cairnrun', 'eval', 'questions.qa'), 'utf8'), 'questions.qa').questions.map((q) => [q.id, q.keys]));

function agreement(withKeys: boolean) {
  let agreed = 0;
  const confusion = { bothRight: 0, bothWrong: 0, gradePassedWrong: 0, gradeFailedRight: 0 };
  const disagreements: string[] = [];
  for (const r of rows) {
    const g = gradeAnswer(r.answer, r.reference, r.question, withKeys ? keys.get(questionId(r.question)) : undefined);
    if (g === r.verdict) agreed++;
    else disagreements.push(`${r.verdict ? 'right, graded wrong' : 'wrong, graded right'}: ${r.question.slice(0, 60)}… -> ${r.answer.replace(/\s+/g, ' ').slice(0, 80)}`);
    if (g && r.verdict) confusion.bothRight++;
    else if (!g && !r.verdict) confusion.bothWrong++;
    else if (g) confusion.gradePassedWrong++;
    else confusion.gradeFailedRight++;
  }
  return { agreed, total: rows.length, rate: Math.round((agreed / rows.length) * 1000) / 1000, ...confusion, disagreements };
}

if (require.main === module) {
  const plain = agreement(false);
  const keyed = agreement(true);
  for (const [name, a] of [['heuristic key terms', plain], ['with the eval set\'s @keys', keyed]] as const) {
    console.log(`${name}: agrees with the hand verdicts on ${a.agreed}/${a.total} (${Math.round(a.rate * 100)}%); graded right but wrong ${a.gradePassedWrong}, graded wrong but right ${a.gradeFailedRight}`);
    for (const d of a.disagreements) console.log(`  - ${d}`);
  }
  console.log(JSON.stringify({ rows: rows.length, handRight: rows.filter((r) => r.verdict).length, heuristic: { agreed: plain.agreed, rate: plain.rate, falsePass: plain.gradePassedWrong, falseFail: plain.gradeFailedRight }, withKeys: { agreed: keyed.agreed, rate: keyed.rate, falsePass: keyed.gradePassedWrong, falseFail: keyed.gradeFailedRight } }));
}
