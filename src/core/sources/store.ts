/**
 * Extraction and chunking of a project's sources, cached under .mnemo/ by the sha256 of each
 * file's bytes: an unchanged file is never extracted (or chunked with the same settings) twice,
 * and a renamed or copied file reuses its cache.
 *
 *   .mnemo/extract/<sha256>.json                          pages of text
 *   .mnemo/chunks/<sha256>-<tokenizer>-<tokens>.json      chunk boundaries (texts are slices)
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chunkText } from '../chunking';
import { MnemoError } from '../errors';
import type { Project } from '../project';
import { getTokenizer, type EncodingName } from '../tokens';
import { hashBytes, hashFile, resolveSourcePath, sourceKind, unsupportedNote } from './files';
import { SourceError } from './errors';
import { emptyFile, extractPdfPages } from './pdf';
import { decodeUtf8Text } from './text';
import type { Chunk, ChunkedSource, ExtractedPage, ExtractedSource, SourceKind } from './types';

/** Bump when extraction output changes, so old caches are ignored. */
export const EXTRACT_VERSION = 1;
/** Bump when chunk boundaries change. */
export const CHUNK_VERSION = 4;
/** Pages are joined into a source's whole text with this separator (a paragraph break). */
export const PAGE_SEPARATOR = '\n\n';

export interface ExtractProgress {
  /** Pages done and in total (a .txt/.md file is one page). */
  done: number;
  total: number;
}

export interface ExtractOptions {
  signal?: AbortSignal;
  onProgress?: (p: ExtractProgress) => void;
}

export interface ChunkSourceOptions extends ExtractOptions {
  /** Defaults to mnemo.json `chunking.tokens`. */
  tokens?: number;
  /** Defaults to mnemo.json `tokenizer`. */
  tokenizer?: EncodingName;
}

/** How often each stage really ran (not served from cache), per process: for tests and logs. */
export const sourceStats = { extractions: 0, chunkings: 0 };

interface ExtractCacheFile {
  version: number;
  kind: SourceKind;
  hash: string;
  pages: ExtractedPage[];
}

interface ChunkCacheFile {
  version: number;
  hash: string;
  tokenizer: EncodingName;
  tokensPerChunk: number;
  tokens: number;
  /** [n, id, tokenStart, tokenEnd, charStart, charEnd, page] per chunk; texts are slices of the source's text. */
  chunks: [number, string, number, number, number, number, number][];
}

const inFlight = new Map<string, Promise<ExtractedSource>>();

function extractCachePath(project: Project, hash: string): string {
  return join(project.cacheDir, 'extract', `${hash}.json`);
}

function chunkCachePath(project: Project, hash: string, tokenizer: EncodingName, tokens: number): string {
  return join(project.cacheDir, 'chunks', `${hash}-${tokenizer}-${tokens}.json`);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    // Missing or unreadable cache: treated as a miss and rewritten.
    return undefined;
  }
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, path);
}

/** Builds the source object from its pages: the whole text and the pages without text. */
export function assembleSource(path: string, kind: SourceKind, hash: string, pages: ExtractedPage[]): ExtractedSource {
  return {
    path,
    kind,
    hash,
    pages,
    emptyPages: pages.filter((p) => !p.text.trim()).map((p) => p.num),
    text: pages.map((p) => p.text).join(PAGE_SEPARATOR),
  };
}

/** Character offset where each page starts in `source.text`. */
export function pageStarts(source: ExtractedSource): number[] {
  const starts: number[] = [];
  let at = 0;
  for (const p of source.pages) {
    starts.push(at);
    at += p.text.length + PAGE_SEPARATOR.length;
  }
  return starts.length ? starts : [0];
}

function missing(rel: string): MnemoError {
  return new SourceError('missing', `${rel} does not exist (it was removed or renamed).`, 'Refresh the Sources view, or add the file again.', rel);
}

async function readSourceBytes(rel: string, abs: string): Promise<Buffer> {
  try {
    return await readFile(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw missing(rel);
    if (code === 'EISDIR') throw new SourceError('unreadable', `${rel} is a folder, not a file.`, undefined, rel);
    throw new SourceError('unreadable', `Could not read ${rel}: ${(err as Error).message}.`, 'Check the file\'s permissions.', rel);
  }
}

function kindOf(rel: string): SourceKind {
  const kind = sourceKind(rel);
  if (!kind) throw new SourceError('unsupported', `${rel} is not a source Mnemo can read: ${unsupportedNote(rel)}`, undefined, rel);
  return kind;
}

/**
 * The text of a source, page by page: from the cache when the file's bytes are unchanged,
 * otherwise extracted (a PDF page by page, with progress and cancellation) and cached.
 */
export async function extractSource(project: Project, path: string, options: ExtractOptions = {}): Promise<ExtractedSource> {
  const { rel, abs } = resolveSourcePath(project, path);
  const kind = kindOf(rel);
  const bytes = await readSourceBytes(rel, abs);
  const hash = hashBytes(bytes);
  const cached = await readJson<ExtractCacheFile>(extractCachePath(project, hash));
  if (cached?.version === EXTRACT_VERSION && cached.hash === hash && Array.isArray(cached.pages)) {
    options.onProgress?.({ done: cached.pages.length, total: cached.pages.length });
    return assembleSource(rel, kind, hash, cached.pages);
  }
  // Two callers asking for the same bytes at once (the view and a command) share one extraction.
  const key = `${project.root}\0${hash}`;
  let job = inFlight.get(key);
  if (!job) {
    job = extractUncached(project, rel, abs, kind, bytes, hash, options).finally(() => inFlight.delete(key));
    inFlight.set(key, job);
  }
  const source = await job;
  return source.path === rel ? source : { ...source, path: rel };
}

async function extractUncached(project: Project, rel: string, abs: string, kind: SourceKind, bytes: Buffer, hash: string, options: ExtractOptions): Promise<ExtractedSource> {
  if (bytes.length === 0) throw emptyFile(rel);
  let pages: ExtractedPage[];
  if (kind === 'pdf') {
    pages = await extractPdfPages(bytes, rel, options);
  } else {
    pages = [{ num: 1, text: decodeUtf8Text(bytes, rel) }];
    options.onProgress?.({ done: 1, total: 1 });
  }
  sourceStats.extractions++;
  const source = assembleSource(rel, kind, hash, pages);
  if (source.emptyPages.length === pages.length) {
    if (kind === 'pdf') {
      throw new SourceError(
        'no-text',
        `${rel} has no text layer: none of its ${pages.length} page${pages.length === 1 ? '' : 's'} has text (a scanned document?).`,
        'Run OCR on it and add the result instead, e.g. `ocrmypdf in.pdf out.pdf`.',
        rel,
      );
    }
    throw new SourceError('no-text', `${rel} has no text (only whitespace).`, 'Replace it with the complete document, or remove it.', rel);
  }
  if (!existsSync(abs)) {
    throw new SourceError('missing', `${rel} was removed while it was being extracted.`, 'Add it again if you still need it.', rel);
  }
  await writeJsonAtomic(extractCachePath(project, hash), { version: EXTRACT_VERSION, kind, hash, pages } satisfies ExtractCacheFile);
  return source;
}

/** A source split into chunks, cached by file hash, tokenizer and chunk size. */
export async function chunkSource(project: Project, path: string, options: ChunkSourceOptions = {}): Promise<ChunkedSource> {
  const source = await extractSource(project, path, options);
  return chunkExtracted(project, source, options);
}

/** Chunks an already extracted source (cached the same way as chunkSource). */
export async function chunkExtracted(project: Project, source: ExtractedSource, options: Pick<ChunkSourceOptions, 'tokens' | 'tokenizer'> = {}): Promise<ChunkedSource> {
  const tokenizerName = options.tokenizer ?? project.config.tokenizer;
  const tokensPerChunk = options.tokens ?? project.config.chunking.tokens;
  const cachePath = chunkCachePath(project, source.hash, tokenizerName, tokensPerChunk);
  const cached = await readJson<ChunkCacheFile>(cachePath);
  if (cached?.version === CHUNK_VERSION && cached.hash === source.hash && Array.isArray(cached.chunks)) {
    return { ...source, tokens: cached.tokens, chunks: cached.chunks.map(([n, id, tokenStart, tokenEnd, charStart, charEnd, page]) => ({ n, id, text: source.text.slice(charStart, charEnd), tokenStart, tokenEnd, charStart, charEnd, page })) };
  }
  const tokenizer = await getTokenizer(tokenizerName);
  const { tokens, chunks } = chunkText(source.text, tokenizer, { tokens: tokensPerChunk, pageStarts: pageStarts(source) });
  sourceStats.chunkings++;
  await writeJsonAtomic(cachePath, {
    version: CHUNK_VERSION,
    hash: source.hash,
    tokenizer: tokenizerName,
    tokensPerChunk,
    tokens,
    chunks: chunks.map((c) => [c.n, c.id, c.tokenStart, c.tokenEnd, c.charStart, c.charEnd, c.page]),
  } satisfies ChunkCacheFile);
  return { ...source, tokens, chunks };
}

/**
 * The chunked source if it is already cached, without extracting or chunking anything
 * (for cheap checks, e.g. whether `@chunk: 12` exists). undefined when not cached.
 */
export async function peekChunkedSource(project: Project, path: string, options: Pick<ChunkSourceOptions, 'tokens' | 'tokenizer'> = {}): Promise<ChunkedSource | undefined> {
  const { rel, abs } = resolveSourcePath(project, path);
  const kind = sourceKind(rel);
  if (!kind || !existsSync(abs)) return undefined;
  const hash = await hashFile(abs).catch(() => undefined);
  if (!hash) return undefined;
  const extracted = await readJson<ExtractCacheFile>(extractCachePath(project, hash));
  if (extracted?.version !== EXTRACT_VERSION || extracted.hash !== hash) return undefined;
  const tokenizerName = options.tokenizer ?? project.config.tokenizer;
  const tokensPerChunk = options.tokens ?? project.config.chunking.tokens;
  if (!existsSync(chunkCachePath(project, hash, tokenizerName, tokensPerChunk))) return undefined;
  return chunkExtracted(project, assembleSource(rel, kind, hash, extracted.pages), options);
}

/** Chunk `n` (1-based) of a source. */
export async function readChunk(project: Project, path: string, n: number, options: ChunkSourceOptions = {}): Promise<Chunk> {
  const source = await chunkSource(project, path, options);
  const chunk = source.chunks[n - 1];
  if (!Number.isInteger(n) || !chunk) {
    throw new MnemoError(`${source.path} has ${source.chunks.length} chunk${source.chunks.length === 1 ? '' : 's'}; there is no chunk ${n}.`, 'Chunks are numbered from 1; expand the source in the Sources view to see them.', source.path);
  }
  return chunk;
}

/** Forgets the cached text and chunks of a source's current bytes, so the next read extracts again. */
export async function clearSourceCache(project: Project, path: string): Promise<void> {
  const { rel, abs } = resolveSourcePath(project, path);
  let hash: string;
  try {
    hash = await hashFile(abs);
  } catch {
    throw missing(rel);
  }
  await rm(extractCachePath(project, hash), { force: true });
  const dir = join(project.cacheDir, 'chunks');
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(`${hash}-`)).map((n) => rm(join(dir, n), { force: true })));
}
