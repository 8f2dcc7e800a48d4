/**
 * The forgetting check (issue 18 item 4): a general-knowledge question set shipped with Mnemo,
 * asked of the base model and of a run's fine-tuned model; a question the base model answers right
 * and the run answers wrong is a regression (the fine-tuning made the model forget it).
 *
 * The questions are short, with short references, and every one was answered right by the base
 * model SmolLM2-135M-Instruct (greedy, 48 new tokens, no system prompt; graded by the key-terms
 * grade and read by hand): candidates it got wrong or muddled were left out. `@keys:` lines let
 * a right answer in other words pass ("gravitational force", "Einstein"). With another base
 * model some may start wrong; they then count as "both wrong", never as regressions.
 *
 *   forgettingEvalSet()                   the set, parsed with the one .qa parser
 *   forgettingReport(base, run)           regressions per question, score before and after
 *   checkForgetting(project, runId, opts) answers with the base model (reused when saved) and the run
 */
import { createHash } from 'node:crypto';
import { compareAnswerSets } from './compare';
import { parseEvalSet } from './questions';
import { scoreAnswerSet } from './score';
import type { AnswerSet, Comparison, ComparisonRow, EvalSet, Score } from './types';

/** Where forgetting sets say their questions came from (stored in answer sets; not a file of the project). */
export const FORGETTING_QUESTIONS_PATH = 'mnemo/general-knowledge.qa';

/** New tokens per answer: the references are a word or two. */
export const FORGETTING_MAX_NEW_TOKENS = 48;

/** The general-knowledge set, as .qa text. */
export const GENERAL_KNOWLEDGE_QA = `# General knowledge: Mnemo's forgetting check (asked of the base model and of a run)

@tags: geography
Q: What is the capital of France?
A: Paris

@tags: geography
Q: What is the capital of Japan?
A: Tokyo

@tags: geography
Q: What is the capital of Germany?
A: Berlin

@tags: geography
Q: What is the capital of the United Kingdom?
A: London

@tags: geography
Q: What is the capital of Russia?
A: Moscow

@tags: geography
Q: What is the capital of China?
A: Beijing

@tags: geography
Q: What is the capital of Egypt?
A: Cairo

@tags: geography
Q: What is the capital of Greece?
A: Athens

@tags: geography
Q: What is the capital of Canada?
A: Ottawa

@tags: geography
Q: What is the capital of Australia?
A: Canberra

@tags: geography
Q: What is the capital of Sweden?
A: Stockholm

@tags: geography
Q: What is the capital of Kenya?
A: Nairobi

@tags: geography
@keys: Pacific
Q: What is the largest ocean on Earth?
A: The Pacific Ocean

@tags: geography
Q: What language is spoken in Brazil?
A: Portuguese

@tags: geography
Q: What is the main language spoken in Mexico?
A: Spanish

@tags: geography
Q: What language is spoken in Japan?
A: Japanese

@tags: geography
Q: What language is spoken in Italy?
A: Italian

@tags: science
Q: Which planet is known as the Red Planet?
A: Mars

@tags: science
Q: What is the chemical symbol for gold?
A: Au

@tags: science
Q: What is the chemical symbol for silver?
A: Ag

@tags: science
Q: What is the chemical symbol for iron?
A: Fe

@tags: science
Q: What is the chemical formula of water?
A: H2O

@tags: science
@keys: carbon dioxide / CO2
Q: What gas do plants absorb from the air?
A: Carbon dioxide

@tags: science
Q: What gas do humans need to breathe?
A: Oxygen

@tags: science
@keys: 100
Q: At what temperature in Celsius does water boil?
A: 100 degrees

@tags: science
Q: Which organ pumps blood through the body?
A: The heart

@tags: science
Q: What is the largest mammal?
A: The blue whale

@tags: science
@keys: gravity / gravitational / gravitation
Q: What force keeps us on the ground?
A: Gravity

@tags: math
Q: What is 2 plus 2?
A: 4

@tags: math
Q: What is 5 times 5?
A: 25

@tags: math
Q: What is half of 10?
A: 5

@tags: math
Q: How many sides does a triangle have?
A: 3

@tags: math
Q: How many sides does a pentagon have?
A: 5

@tags: math
Q: How many sides does a hexagon have?
A: 6

@tags: math
Q: How many sides does an octagon have?
A: 8

@tags: everyday
Q: How many days are in a week?
A: 7

@tags: everyday
Q: How many hours are in a day?
A: 24

@tags: everyday
Q: How many days are in a year?
A: 365

@tags: everyday
Q: What color is the sky on a clear day?
A: Blue

@tags: everyday
Q: What is the opposite of hot?
A: Cold

@tags: everyday
Q: What is the opposite of big?
A: Small

@tags: everyday
Q: What is the opposite of day?
A: Night

@tags: everyday
Q: What is the opposite of wet?
A: Dry

@tags: everyday
Q: What is the opposite of fast?
A: Slow

@tags: everyday
Q: What is the opposite of happy?
A: Sad

@tags: everyday
Q: What is the main ingredient of bread?
A: Flour

@tags: everyday
Q: What is the currency of the United States?
A: The dollar

@tags: everyday
Q: What is the currency of Japan?
A: The yen

@tags: everyday
Q: What is the currency of most countries in the European Union?
A: The euro

@tags: everyday
Q: Which musical instrument has 88 keys?
A: The piano

@tags: culture
@keys: Einstein
Q: Who developed the theory of relativity?
A: Albert Einstein

@tags: culture
Q: What is the name of the famous clock tower in London?
A: Big Ben

@tags: culture
@keys: Rowling
Q: Who wrote the Harry Potter books?
A: J. K. Rowling

@tags: culture
@keys: Shakespeare
Q: Who wrote the play Hamlet?
A: William Shakespeare

@tags: culture
Q: What is the name of the ship that sank in 1912 after hitting an iceberg?
A: The Titanic
`;

/** The general-knowledge set as an eval set (path: FORGETTING_QUESTIONS_PATH). */
export function forgettingEvalSet(): EvalSet {
  const set = parseEvalSet(GENERAL_KNOWLEDGE_QA, FORGETTING_QUESTIONS_PATH);
  return { ...set, sha256: createHash('sha256').update(GENERAL_KNOWLEDGE_QA).digest('hex') };
}

export interface ForgettingReport {
  base: AnswerSet;
  run: AnswerSet;
  comparison: Comparison;
  /** Questions the base model answered right and the run wrong, in the set's order. */
  regressions: ComparisonRow[];
  /** Questions the base model got wrong and the run right. */
  gains: ComparisonRow[];
  before: Score;
  after: Score;
  /** Percentage points lost (before - after; negative = gained). */
  drop: number;
}

/** Regressions and scores of a run's forgetting set against the base model's. */
export function forgettingReport(base: AnswerSet, run: AnswerSet): ForgettingReport {
  const comparison = compareAnswerSets(base, run);
  const before = scoreAnswerSet(base).overall;
  const after = scoreAnswerSet(run).overall;
  return {
    base,
    run,
    comparison,
    regressions: comparison.rows.filter((r) => r.change === 'broken'),
    gains: comparison.rows.filter((r) => r.change === 'fixed'),
    before,
    after,
    drop: Math.round((before.rate - after.rate) * 1000) / 10,
  };
}

/** "-2 questions (55/55 → 53/55, -3.6 points)". */
export function formatForgetting(r: Pick<ForgettingReport, 'regressions' | 'before' | 'after' | 'drop'>): string {
  const n = r.regressions.length;
  return `${n ? `${n} regression${n === 1 ? '' : 's'}` : 'no regression'} (${r.before.correct}/${r.before.graded} → ${r.after.correct}/${r.after.graded}, ${r.drop > 0 ? '-' : r.drop < 0 ? '+' : '±'}${Math.abs(r.drop)} points)`;
}
