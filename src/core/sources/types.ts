/** The contract between sources/chunking (issue 2) and the stages that read chunks (generation, curation, dataset). */

export type SourceKind = 'pdf' | 'txt' | 'md';

export interface ExtractedPage {
  /** 1-based page number (a .txt/.md file is one page). */
  num: number;
  text: string;
}

export interface ExtractedSource {
  /** Path relative to the project root, with '/' separators, e.g. "sources/rulebook.pdf". */
  path: string;
  kind: SourceKind;
  /** sha256 of the file's bytes: the cache key. */
  hash: string;
  pages: ExtractedPage[];
  /** Pages with no text layer (1-based numbers): OCR would be needed for them. */
  emptyPages: number[];
  /** The whole text: pages joined by a blank line. */
  text: string;
}

export interface Chunk {
  /** 1-based position in the source; what `@chunk:` in a .qa file refers to. */
  n: number;
  /** Stable id: a hash of the chunk's text (same text, same id). */
  id: string;
  text: string;
  /** Token range [tokenStart, tokenEnd) in the source's whole text. */
  tokenStart: number;
  tokenEnd: number;
  /** Character range [charStart, charEnd) in the source's whole text. */
  charStart: number;
  charEnd: number;
  /** 1-based page the chunk starts on. */
  page: number;
}

export interface ChunkedSource extends ExtractedSource {
  tokens: number;
  chunks: Chunk[];
}
