/** The .qa format (DESIGN.md): the one model shared by the extension, language server and CLI. */

export type Severity = 'error' | 'warning' | 'information' | 'hint';

/** A span of text, 0-based lines and UTF-16 columns; end is exclusive. */
export interface Span {
  startLine: number;
  startCol: number;
  endLine: number;
  endCol: number;
}

export interface QaPair {
  /** Position among all pairs of the file (commented-out ones included). */
  index: number;
  question: string;
  answer: string;
  /** True when the pair is commented out with '#': it stays in the file but is excluded. */
  commented: boolean;
  /** The `@chunk` in force for this pair, if any. */
  chunk?: string;
  /** Every metadata value in force for this pair: file-level keys, `@chunk`, and its own pair-level keys. Shared between pairs: never modify it. */
  meta: Record<string, string>;
  /** True when the pair carries `@reviewed: true` (or just `@reviewed`). */
  reviewed: boolean;
  /** First line of the pair, including pair-level metadata lines directly above its question. */
  firstLine: number;
  /** Line of the `Q:` (or `# Q:`). */
  questionLine: number;
  /** Line of the `A:` (or `# A:`), when there is one. */
  answerLine?: number;
  /** Last line of the pair (inclusive). */
  lastLine: number;
  questionSpan: Span;
  answerSpan?: Span;
}

export interface QaProblem extends Span {
  code: QaProblemCode;
  message: string;
  severity: Severity;
  /** Index of the pair concerned, when there is one. */
  pair?: number;
  /** Other places the problem refers to (e.g. the original of a duplicate): a project-relative path and a 0-based line. */
  related?: { path: string; line: number; message: string }[];
}

export type QaProblemCode =
  | 'eval-leak'
  | 'question-without-answer'
  | 'answer-without-question'
  | 'empty-question'
  | 'empty-answer'
  | 'stray-text'
  | 'bad-metadata'
  | 'unknown-key'
  | 'binary-content'
  // From checks.ts and index-store.ts:
  | 'not-standalone'
  | 'over-budget'
  | 'verbatim'
  | 'duplicate'
  | 'near-duplicate'
  | 'duplicate-across-files'
  | 'near-duplicate-across-files'
  | 'large-file'
  | 'unknown-source'
  | 'unknown-chunk'
  // The generation stage's pair filters (src/core/generation/filters.ts), on pairs already in files:
  | 'example-echo'
  | 'vacuous'
  | 'ungrounded';

export interface MetaLine {
  line: number;
  key: string;
  value: string;
}

export interface QaFile {
  /** The text split into lines, without their line ends: printing joins them with `eol`. */
  lines: string[];
  eol: '\n' | '\r\n';
  /** True when the text ended with a line end (kept on printing). */
  finalEol: boolean;
  /** Metadata that comes before the first pair and first `@chunk`: the file's provenance. */
  header: Record<string, string>;
  metaLines: MetaLine[];
  pairs: QaPair[];
  problems: QaProblem[];
}

/** How far a metadata key reaches: the whole rest of the file, until the next of its kind, or one pair. */
export type KeyScope = 'file' | 'block' | 'pair';

/** Metadata keys Mnemo knows; any other `@key` is reported as unknown. */
export const KNOWN_KEYS: Record<string, { scope: KeyScope; description: string }> = {
  source: { scope: 'file', description: 'The source document the pairs were made from (a path inside the project).' },
  variant: { scope: 'file', description: 'The prompt variant that produced the pairs (nuanced, simple, reversed, atomic, ...).' },
  temperature: { scope: 'file', description: 'The sampling temperature of the request.' },
  model: { scope: 'file', description: 'The model that wrote the pairs.' },
  generator: { scope: 'file', description: 'What made the file: a model sweep, or the offline fallback generator.' },
  generated: { scope: 'file', description: 'When the file was written (ISO 8601).' },
  digest: { scope: 'file', description: 'A hash of the generated pairs: when the pairs no longer match it, the file was edited and is never overwritten.' },
  chunk: { scope: 'block', description: 'The 1-based number of the source chunk that the following pairs come from.' },
  reviewed: { scope: 'pair', description: 'The next pair was reviewed by a person.' },
  id: { scope: 'pair', description: 'A stable id for the next pair.' },
  tags: { scope: 'pair', description: 'Tags of the next pair, comma-separated (eval sets: forward, reversed, numeric, paraphrase); scores are split by tag.' },
  keys: { scope: 'pair', description: 'Eval sets: the key facts a right answer to the next pair must contain, "|"-separated, alternatives within a fact "/"-separated (e.g. "8 seconds | Arbiter\'s Drop | Hearth Roll / Roll"); they replace the key terms guessed from the reference.' },
};
