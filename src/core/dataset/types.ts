/** The dataset stage (DESIGN.md step 5): curated pairs -> chat rows in the Hugging Face "messages" format. */

import type { DropGroup } from '../generation/drops';
import type { ProjectConfig } from '../project';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One line of train.jsonl / test.jsonl. */
export interface ChatRow {
  messages: ChatMessage[];
}

/** An active pair from a .qa file, with where it came from. */
export interface DatasetPair {
  question: string;
  answer: string;
  /** Project-relative path of the .qa file, '/' separators. */
  file: string;
  /** 0-based line of the pair's `Q:`. */
  line: number;
  source?: string;
  variant?: string;
  temperature?: string;
  model?: string;
  chunk?: string;
  /** The file's `@generator` ("offline (low-quality fallback)" for the offline generator). */
  generator?: string;
}

/** A source document's chunks, for coverage and for rows of the source text itself. */
export interface SourceChunks {
  /** Project-relative path, e.g. "sources/rulebook.md". */
  path: string;
  /** sha256 of the file's bytes. */
  hash?: string;
  chunks: { n: number; text: string }[];
}

/** A source document named by the project (for the card), with its hash when the file could be read. */
export interface SourceDocument {
  path: string;
  sha256?: string;
  bytes?: number;
}

/** A .qa file that could not be used, and why. */
export interface SkippedFile {
  file: string;
  reason: string;
}

/** A problem in a .qa file that kept a pair out (a question without an answer, ...). */
export interface FileProblem {
  file: string;
  /** 0-based line. */
  line: number;
  message: string;
}

/** What the builder reads: mnemo.json's `dataset` section with its defaults, plus the project's name, context and tokenizer. */
export type DatasetSettings = ProjectConfig['dataset'] & Pick<ProjectConfig, 'name' | 'context' | 'keywords' | 'tokenizer'>;

export interface DroppedPair {
  pair: DatasetPair;
  reason: 'duplicate' | 'over-budget';
  /** For a duplicate: the pair that was kept. For over-budget: its tokens in a row of its own. */
  keptFile?: string;
  keptLine?: number;
  tokens?: number;
}

export interface RowStats {
  rows: number;
  pairs: number;
  tokens: { min: number; median: number; max: number; total: number };
}

export interface ChunkCoverage {
  source: string;
  /** Chunks the source has, when the chunker's output was available. */
  chunkCount?: number;
  /** chunk id -> active pairs (after duplicate removal). */
  pairsPerChunk: Map<string, number>;
  /** Chunks with no pair (only when chunkCount is known). */
  uncovered: string[];
  /** Pairs of this source with no `@chunk`. */
  withoutChunk: number;
}

export interface DatasetReport {
  settings: DatasetSettings;
  files: { read: number; skipped: SkippedFile[]; problems: FileProblem[] };
  pairsIn: number;
  dropped: DroppedPair[];
  train: RowStats;
  test: RowStats;
  sourceRows: number;
  sourceRowsNote?: string;
  groups: { count: number; largest: number };
  coverage: ChunkCoverage[];
  generation: { variants: string[]; temperatures: string[]; models: string[] };
  sources: SourceDocument[];
  /** What the generation sweeps dropped (parser and filters), per variant x temperature, from the journal; undefined when there is none. */
  generationDrops?: DropGroup[];
  /** Pairs in the dataset made by the offline generator (low quality), and the files they come from. */
  offline: { pairs: number; files: string[] };
}

export interface DatasetBuild {
  train: ChatRow[];
  test: ChatRow[];
  /** The pairs on each side (in row order), for checks. */
  trainPairs: DatasetPair[];
  testPairs: DatasetPair[];
  report: DatasetReport;
  /** File name (inside data/) -> contents, byte-identical for the same inputs and seed. */
  files: Map<string, string>;
}
