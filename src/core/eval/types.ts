/**
 * Evaluation: the shapes shared by the core, the CLI and the extension (Evaluations view, diffs,
 * verdict decorations, ablation table).
 *
 * Storage (JSON, one answer set per file, `AnswerSet`):
 *   runs/<run-id>/eval/<set-id>.json   answers of a run's fine-tuned model
 *   eval/results/<set-id>.json         answers of the base model and of API baselines
 * `<set-id>` is a slug of what answered and on which questions (see `answerSetId`), so the same
 * evaluation repeated replaces its file. A user's overrule is stored inside the set
 * (`verdict.by === 'user'`, the automatic verdict kept in `verdict.auto`) and survives re-grading
 * and re-answering as long as the answer's text is unchanged.
 */

/** One question of an eval set (a pair of a `.qa` file; the A line is the reference answer). */
export interface EvalQuestion {
  /** Stable: the first 12 hex digits of sha256 of the question text with whitespace collapsed. */
  id: string;
  question: string;
  /** The reference answer; absent when the pair has no A line (answered, never graded). */
  reference?: string;
  /** From `@tags: forward, numeric` above the pair (lower case, sorted, no duplicates). */
  tags: string[];
  /** From `@keys: 8 seconds | Arbiter's Drop` above the pair: the facts a right answer contains (see match.ts keyFacts). */
  keys?: string[];
  /** 0-based line of the `Q:` in the eval set file. */
  line: number;
}

export interface EvalSet {
  /** The file it was read from (absolute). */
  path: string;
  /** sha256 of the file's bytes. */
  sha256: string;
  questions: EvalQuestion[];
  /** Parse problems (errors only) and questions left out (duplicates): 0-based lines. */
  problems: Array<{ line: number; message: string }>;
}

/** Who decided a verdict. 'none': nobody could (no reference, judge off-format, no answer). */
export type Grader = 'judge' | 'exact' | 'contains' | 'user' | 'none';

/** How a set is graded automatically: the judge when one is configured, else a matcher. */
export type GradingMode = 'judge' | 'exact' | 'contains';

/** Why an answer is flagged for a person to look at. */
export type AnswerFlag = 'no-reference' | 'empty-answer' | 'error' | 'judge-off-format' | 'judge-failed';

export interface JudgeVerdict {
  /** null when the judge never answered in the required format (after retries). */
  correct: boolean | null;
  /** The judge's one-line reason, or why there is no verdict. */
  reason: string;
  /** The judge's last raw reply (for off-format replies). */
  raw?: string;
  /** Requests made (1 + retries). */
  attempts: number;
}

/** Deterministic matchers, computed whenever there is a reference (cheap, always shown). */
export interface MatchResult {
  /** Normalised answer equals or contains the normalised reference. */
  exact: boolean;
  /** Every key term of the reference appears in the answer. */
  contains: boolean;
  /** The reference's key terms (numbers, capitalised and content words), normalised. */
  terms: string[];
  /** Key terms not found in the answer. */
  missing: string[];
  /** The terms are the pair's `@keys:` facts (not guessed from the reference). */
  keys?: boolean;
  /** Guessed terms: how many must be found (every number and yes/no, two thirds of the words); absent = all. */
  needed?: number;
}

export interface Verdict {
  /** What counts: true / false, or null = ungraded (never counted as correct). */
  correct: boolean | null;
  by: Grader;
  reason?: string;
  /** The judge's verdict, when a judge graded this answer. */
  judge?: JudgeVerdict;
  match?: MatchResult;
  /** The automatic verdict the user overruled (present only when `overruled`). */
  auto?: { correct: boolean | null; by: Grader; reason?: string };
  overruled?: boolean;
  flags?: AnswerFlag[];
}

export interface AnswerRecord {
  questionId: string;
  question: string;
  reference?: string;
  tags: string[];
  /** The pair's `@keys:` facts, when the eval set names them (graded by them instead of the guessed key terms). */
  keys?: string[];
  /** The question near-duplicates a training question (see leakage.ts): scores are also given without it. */
  leak?: LeakInfo;
  /** The model's answer ('' when it gave none or failed). */
  answer: string;
  /** Why there is no answer (timeout, HTTP error, generation failure). */
  error?: string;
  latencyMs?: number;
  verdict: Verdict;
}

/** An eval question that near-duplicates a training question (leakage.ts). */
export interface LeakInfo {
  /** Jaccard similarity of the two questions' shingles (1 = the same words). */
  similarity: number;
  /** The most similar training question. */
  trainQuestion: string;
}

export type AnswerSetKind = 'base' | 'run' | 'api';

/** What an API model gets besides the question: nothing, the whole document, or the top chunks. */
export type ContextMode = 'none' | 'document' | 'chunks';

export interface AnswerSetMeta {
  /** The file name without `.json`; see `answerSetId`. */
  id: string;
  /** Shown in views: "base SmolLM2-135M-Instruct", "run lr1e-4-bs1", "gpt-4o-mini + document". */
  label: string;
  kind: AnswerSetKind;
  runId?: string;
  /** The model that answered (HF id or path for base/run, the API model name for api). */
  model: string;
  /** For runs: the adapter or merged model folder used (relative to the run folder). */
  adapter?: string;
  baseUrl?: string;
  context?: ContextMode;
  /** For context 'chunks': how many chunks went into the prompt. */
  topK?: number;
  /** The eval set's path: project-relative when inside the project, else absolute. */
  questionsPath: string;
  questionsSha256: string;
  /** ISO time the answers were made. */
  created: string;
  /** ISO time of the last grading. */
  graded?: string;
  grading: GradingMode;
  judge?: { model: string; baseUrl: string; promptSha256: string };
  /** The training questions the answers were checked against for leakage (project-relative file); absent = not checked. */
  leakSource?: string;
  /** 'forgetting': the general-knowledge set shipped with Mnemo (forgetting.ts), not the project's eval set. */
  purpose?: 'forgetting';
  /** Generation settings of the answering model (max new tokens, batch size, device...). */
  settings?: Record<string, string | number | boolean | null>;
}

export interface AnswerSet {
  version: 1;
  meta: AnswerSetMeta;
  answers: AnswerRecord[];
}

export interface Score {
  correct: number;
  graded: number;
  total: number;
  ungraded: number;
  /** correct / graded (0 when nothing is graded). */
  rate: number;
  /** Wilson 95% interval of the rate (0..1; [0, 1] when nothing is graded). */
  low: number;
  high: number;
}

export interface ScoreReport {
  overall: Score;
  /** Questions flagged as near-duplicates of training questions (AnswerRecord.leak). */
  leaked: number;
  /** The overall score without the leaked questions (present when some are leaked). */
  withoutLeaks?: Score;
  /** Per tag, in tag order; questions without tags count under 'untagged'. */
  byTag: Record<string, Score>;
}

/** One saved answer set, as listed for views. */
export interface AnswerSetEntry {
  /** Absolute path of the JSON file. */
  path: string;
  meta: AnswerSetMeta;
  score: ScoreReport;
}

/** How the judge's verdicts compare with the user's overrules. */
export interface JudgeAgreement {
  /** Answers the user overruled that the judge had graded. */
  compared: number;
  /** Of those, where the user's verdict equals the judge's. */
  agreed: number;
  /** agreed / compared, or null when nothing to compare. */
  rate: number | null;
  disagreements: Array<{ questionId: string; question: string; judge: boolean | null; user: boolean | null; reason?: string }>;
}

/** How a question moved between two answer sets (a = before, b = after). */
export type Change = 'fixed' | 'broken' | 'both-correct' | 'both-wrong' | 'ungraded' | 'only-a' | 'only-b';

export interface ComparisonRow {
  questionId: string;
  question: string;
  reference?: string;
  tags: string[];
  a?: AnswerRecord;
  b?: AnswerRecord;
  change: Change;
  /** The answer text differs (normalised). */
  answerChanged: boolean;
}

export interface Comparison {
  a: AnswerSetMeta;
  b: AnswerSetMeta;
  /** In the order of set a, then questions only in b. */
  rows: ComparisonRow[];
  counts: Record<Change, number>;
  scoreA: ScoreReport;
  scoreB: ScoreReport;
}

export interface AblationRow {
  path: string;
  meta: AnswerSetMeta;
  score: ScoreReport;
  /** Settings of the run (its config.json/run.json, flattened: "lora_r", "dataset.train.rows", ...), or of the baseline. */
  settings: Record<string, string | number | boolean | null>;
}

/** One run's forgetting check, as the ablation table shows it (see forgetting.ts). */
export interface ForgettingRow {
  runId: string;
  label: string;
  /** The run's forgetting answer set. */
  path: string;
  /** The base model's set it is compared with (absent when the base model has not answered the set). */
  basePath?: string;
  before?: Score;
  after: Score;
  /** Percentage points lost (before - after); absent without the base model's answers. */
  drop?: number;
  regressions: Array<{ questionId: string; question: string; reference?: string; baseAnswer: string; runAnswer: string }>;
}

export interface AblationTable {
  /** Answer sets of the project's eval questions (the forgetting sets are in `forgetting`). */
  rows: AblationRow[];
  /** The forgetting check of each run that has one: general knowledge before and after. */
  forgetting: ForgettingRow[];
  /** Setting keys whose values differ between rows (the columns worth showing). */
  differing: string[];
  /** Every tag seen, sorted. */
  tags: string[];
}

/** Progress of answering or grading. */
export interface EvalProgress {
  phase: 'loading' | 'answering' | 'grading';
  done: number;
  total: number;
  message?: string;
}
