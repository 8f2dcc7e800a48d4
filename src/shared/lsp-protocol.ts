/**
 * Custom messages between the extension (language client) and the .qa language server, declared
 * once here and imported by both sides, so neither can drift from the other.
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';

/** The language id of .qa files. */
export const QA_LANGUAGE_ID = 'mnemo-qa';

/** Problem counts of one .qa file, by severity (hints are not counted: they are only shown in the editor). */
export interface QaProblemCounts {
  error: number;
  warning: number;
  information: number;
}

/** What the Q&A view shows about one file, without re-checking it. */
export interface QaFileSummary {
  uri: string;
  /** Path relative to the project root, '/'-separated. */
  path: string;
  /** The file's header metadata (`@source`, `@variant`, `@temperature`, ...). */
  header: Record<string, string>;
  /** Pairs, commented-out ones included. */
  pairs: number;
  /** Pairs that count (not commented out, with a question and an answer). */
  active: number;
  reviewed: number;
  problems: QaProblemCounts;
  /** Indexes of the pairs (as in `QaPair.index`) that have at least one error, warning or information. */
  problemPairs: number[];
  /** Indexes of the pairs the generation filters flag (example-echo, vacuous, ungrounded). */
  filteredPairs: number[];
}

export interface QaSummaryParams {
  /** Only these files (URIs); every indexed file when omitted. */
  uris?: string[];
}

export interface QaSummaryResult {
  files: QaFileSummary[];
  /** False while the server is still reading the workspace's .qa files. */
  ready: boolean;
}

/** Client -> server: problem counts per file, for the Q&A view. */
export const QaSummaryRequest = new RequestType<QaSummaryParams, QaSummaryResult, void>('mnemo/qaSummary');

export interface QaIndexChangedParams {
  /** Files whose pairs or problems changed (URIs). */
  uris: string[];
  /** True once the first full pass over the workspace is done. */
  ready: boolean;
}

/** Server -> client: the workspace index changed (a file was checked, added or removed). */
export const QaIndexChangedNotification = new NotificationType<QaIndexChangedParams>('mnemo/qaIndexChanged');

/** Arguments of the code lens commands on `@chunk` lines (and of the same commands run from elsewhere). */
export interface ChunkRef {
  /** The .qa file the lens is in (URI), when it comes from one. */
  uri?: string;
  /** Project-relative source path, e.g. "sources/rulebook.pdf". */
  source: string;
  /** 1-based chunk number. */
  chunk: number;
  /** The file's own prompt variant and temperature (its `@variant`, `@temperature`), when it has them. */
  variant?: string;
  temperature?: number;
  /**
   * What to regenerate: 'file' sends one request, the file's variant at its temperature (the
   * default when both are known); 'all' sweeps the chunk over the project's variants and
   * temperatures (the default otherwise).
   */
  scope?: 'file' | 'all';
}

/** Commands the server's code lenses and actions name (registered by the extension). */
export const QA_COMMANDS = {
  regenerateChunk: 'mnemo.qa.regenerateChunk',
  openSourceChunk: 'mnemo.qa.openSourceChunk',
} as const;

/** Diagnostic `data` the server attaches, read back by its own code actions. */
export interface QaDiagnosticData {
  pair?: number;
}
