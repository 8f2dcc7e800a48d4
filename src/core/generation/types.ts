/** Types shared by the sweep planner, runner, journal and writer. */
import type { Chunk } from '../sources/types';

/** The chunks of one source, as the planner takes them (chunking is the sources stage's job). */
export interface SourceChunks {
  /** Path relative to the project root, e.g. "sources/rulebook.pdf". */
  source: string;
  /** sha256 of the source file, when known (not part of request keys: see requestKey). */
  sourceHash?: string;
  chunks: Chunk[];
}

/** One chat-completions request of a sweep: one chunk, one prompt variant, one temperature. */
export interface PlannedRequest {
  /** Stable key: a hash of source, chunk id, variant, temperature, prompt text and model. */
  key: string;
  source: string;
  chunk: number;
  chunkId: string;
  variant: string;
  temperature: number;
  model: string;
  /** The whole user message sent to the model. */
  prompt: string;
  questions: number;
  maxTokens: number;
  estInputTokens: number;
  estOutputTokens: number;
}

export interface Price {
  /** US dollars per million input tokens. */
  input: number;
  /** US dollars per million output tokens. */
  output: number;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

/** One pair as parsed from a model's answer. */
export interface GeneratedPair {
  question: string;
  answer: string;
}

/** A fragment of a model's answer that did not become a pair, and why. */
export interface DroppedFragment {
  reason: DropReason;
  text: string;
  /** Why a filter dropped a pair that parsed (e.g. its groundedness), for logs and the preview. */
  detail?: string;
}

/** The parser's reasons, then the filters' (src/core/generation/filters.ts). */
export type DropReason = 'missing-answer' | 'missing-question' | 'truncated' | 'refusal' | 'stray-text' | 'bad-json' | 'empty' | 'example-echo' | 'ungrounded' | 'vacuous' | 'duplicate-in-answer';

/** A line of the journal (.mnemo/generation/journal.jsonl). */
export interface JournalEntry {
  key: string;
  status: 'done' | 'failed';
  source: string;
  chunk: number;
  chunkId: string;
  variant: string;
  temperature: number;
  model: string;
  /** ISO time the entry was written. */
  at: string;
  attempts: number;
  /** Milliseconds the successful attempt took (for time estimates of later sweeps). */
  ms?: number;
  usage?: Usage;
  /** True when the server reported no usage and `usage` is Mnemo's own count. */
  usageEstimated?: boolean;
  costUsd?: number;
  /** The model's raw text (kept so a parser fix can re-read old answers). */
  raw?: string;
  pairs?: (GeneratedPair & { fact?: number })[];
  /** Atomic facts the model listed ("FACT n: ..."), when the variant asks for them. */
  facts?: string[];
  dropped?: DroppedFragment[];
  finishReason?: string;
  error?: string;
}
