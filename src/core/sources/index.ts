/**
 * Sources: the documents of a project, their extracted text and their chunks. The one API the
 * other stages (generation, curation, dataset) read chunks through.
 */
export * from './types';
export { PROBLEM_LABELS, SourceError, type SourceProblem } from './errors';
export { hashBytes, hashFile, listSources, resolveSourcePath, SOURCE_KINDS, sourceKind, toRel, unsupportedNote, type SourceEntry } from './files';
export { ExtractionCancelled, extractPdfPages, loadPdfParse, normalizePageText, type PdfOptions, type PdfProgress } from './pdf';
export { decodeUtf8Text, guessEncoding } from './text';
export {
  assembleSource,
  CHUNK_VERSION,
  chunkExtracted,
  chunkSource,
  clearSourceCache,
  EXTRACT_VERSION,
  extractSource,
  PAGE_SEPARATOR,
  pageStarts,
  peekChunkedSource,
  readChunk,
  sourceStats,
  type ChunkSourceOptions,
  type ExtractOptions,
  type ExtractProgress,
} from './store';
export { chunkId, chunkText, DEFAULT_CHUNK_TOKENS, type ChunkedText, type ChunkOptions } from '../chunking';
export { countTokens, encodeTokens, getTokenizer, loadedTokenizer, type EncodingName, type Tokenizer } from '../tokens';
