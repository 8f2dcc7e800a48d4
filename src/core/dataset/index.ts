/**
 * The dataset stage over a project folder: reads qa/**\/*.qa with the one .qa parser, builds the
 * rows (build.ts), and writes data/train.jsonl, data/test.jsonl, data/README.md (the card) and
 * data/report.md. Nothing is written when there is no pair to write.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { chunkId as chunkIdOf } from '../chunking';
import { MnemoError } from '../errors';
import { journalDropGroups } from '../generation/drops';
import { Journal, journalPath } from '../generation/journal';
import type { Project } from '../project';
import { activePairs, parseQa } from '../qa';
import { chunkSource, listSources } from '../sources';
import { getTokenizer } from '../tokens';
import { buildRows, cmp, guessLanguage, type BuildInput } from './build';
import { DATA_FILES, datasetCard, reportMarkdown, toCsv, toJsonl } from './files';
import type { DropGroup } from '../generation/drops';
import type { DatasetBuild, DatasetPair, DatasetSettings, FileProblem, SkippedFile, SourceChunks, SourceDocument } from './types';

export * from './types';
export { buildRows, cleanText, guessLanguage, rowTokens, MESSAGE_OVERHEAD, ROW_OVERHEAD, sentences } from './build';
export { DATA_FILES, csvField, datasetCard, offlineWarning, reportMarkdown, sizeCategory, toCsv, toJsonl } from './files';
export { nearDuplicateGroups, SPLIT_NEAR_DUPLICATE_THRESHOLD } from './groups';
export { mulberry32, rngFor, shuffled } from './random';

export interface BuildOptions {
  /** Tokens of a text with the project's tokenizer. */
  countTokens: (text: string) => number;
  /** The chunks of the project's sources, when the chunker can provide them (coverage, source-text rows). */
  loadChunks?: () => Promise<SourceChunks[]>;
}

const toPosix = (p: string) => p.split(sep).join('/');

/** Every .qa file under `dir`, as project-relative paths in code-point order (the same on every machine). */
function qaFiles(root: string, dir: string, skipped: SkippedFile[]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch (err) {
      if (d !== dir || existsSync(d)) skipped.push({ file: toPosix(relative(root, d)) + '/', reason: `folder not readable (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      return;
    }
    for (const name of entries) {
      const full = join(d, name);
      let isDir = false;
      try {
        isDir = statSync(full).isDirectory();
      } catch {
        // A dangling link: not a .qa file we can read; reported below if it is named like one.
      }
      if (isDir) walk(full);
      else if (name.endsWith('.qa')) out.push(toPosix(relative(root, full)));
    }
  };
  walk(dir);
  return out.sort(cmp);
}

/** Reads the active pairs of every .qa file under qa/; unreadable and binary files are listed, never fatal. */
export function collectPairs(project: Project): { pairs: DatasetPair[]; filesRead: number; skipped: SkippedFile[]; problems: FileProblem[] } {
  const skipped: SkippedFile[] = [];
  const problems: FileProblem[] = [];
  const pairs: DatasetPair[] = [];
  let filesRead = 0;
  for (const file of qaFiles(project.root, project.qaDir, skipped)) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(project.root, file));
    } catch (err) {
      skipped.push({ file, reason: `not readable (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      continue;
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      skipped.push({ file, reason: 'not UTF-8 text' });
      continue;
    }
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const qa = parseQa(text);
    if (qa.problems.some((p) => p.code === 'binary-content')) {
      skipped.push({ file, reason: 'binary content (NUL bytes), not a .qa text file' });
      continue;
    }
    filesRead++;
    for (const p of qa.problems) if (p.severity === 'error') problems.push({ file, line: p.startLine, message: p.message });
    for (const p of activePairs(qa)) {
      pairs.push({
        question: p.question,
        answer: p.answer,
        file,
        line: p.questionLine,
        source: p.meta.source,
        variant: p.meta.variant,
        temperature: p.meta.temperature,
        model: p.meta.model,
        chunk: p.chunk,
        generator: p.meta.generator,
      });
    }
  }
  return { pairs, filesRead, skipped, problems };
}

/** The documents in sources/ and any other source the pairs name, with their sha256. */
export function sourceDocuments(project: Project, named: Iterable<string>): SourceDocument[] {
  const paths = new Set<string>();
  const walk = (d: string) => {
    let entries: string[] = [];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const name of entries) {
      const full = join(d, name);
      try {
        if (statSync(full).isDirectory()) walk(full);
        else if (!name.startsWith('.')) paths.add(toPosix(relative(project.root, full)));
      } catch {
        // Unreadable entries are left out of the card.
      }
    }
  };
  walk(project.sourcesDir);
  for (const n of named) paths.add(n);
  return [...paths].sort(cmp).map((path) => {
    try {
      const bytes = readFileSync(join(project.root, path));
      return { path, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
    } catch {
      return { path };
    }
  });
}

export function datasetSettings(project: Project): DatasetSettings {
  const c = project.config;
  return { name: c.name, context: c.context, keywords: c.keywords, tokenizer: c.tokenizer, ...c.dataset };
}

/** Builds the dataset in memory: rows, report and file contents. Throws a MnemoError when there is no pair. */
export async function buildDataset(project: Project, options: BuildOptions): Promise<DatasetBuild> {
  const collected = collectPairs(project);
  if (!collected.pairs.length) {
    const why = collected.skipped.length ? ` (${collected.skipped.length} file${collected.skipped.length > 1 ? 's' : ''} could not be read: ${collected.skipped.map((s) => s.file).join(', ')})` : '';
    throw new MnemoError(
      `No Q&A pairs to build a dataset from: ${collected.filesRead ? `the ${collected.filesRead} .qa file${collected.filesRead > 1 ? 's' : ''} in qa/ hold no active pair` : 'qa/ holds no readable .qa file'}${why}. Nothing was written.`,
      'Generate pairs first (Mnemo: Generate Q&A), or write them in a .qa file under qa/.',
      project.qaDir,
      'generate',
    );
  }
  const settings = datasetSettings(project);
  let chunks: SourceChunks[] | undefined;
  if (options.loadChunks) {
    try {
      chunks = await options.loadChunks();
    } catch {
      // Coverage and source-text rows say the chunks were not available; the Q&A rows do not depend on them.
      chunks = undefined;
    }
  }
  const named = new Set(collected.pairs.map((p) => p.source).filter((s): s is string => !!s));
  const input: BuildInput = { ...collected, sources: sourceDocuments(project, named), chunks };
  const built = buildRows(input, settings, options.countTokens);
  built.report.generationDrops = generationDrops(project, chunks);
  const files = new Map<string, string>();
  files.set(DATA_FILES.train, toJsonl(built.train));
  files.set(DATA_FILES.test, toJsonl(built.test));
  if (settings.csv) {
    files.set(DATA_FILES.trainCsv, toCsv(built.train));
    files.set(DATA_FILES.testCsv, toCsv(built.test));
  }
  const language = guessLanguage(collected.pairs.map((p) => `${p.question} ${p.answer}`));
  files.set(DATA_FILES.card, datasetCard(built.report, { language, csv: settings.csv }));
  files.set(DATA_FILES.report, reportMarkdown(built.report));
  return { train: built.train, test: built.test, trainPairs: built.trainPairs, testPairs: built.testPairs, report: built.report, files };
}

/** The journal's drop counts per variant x temperature (answers of chunks that still exist, when the chunks are known). */
function generationDrops(project: Project, chunks: SourceChunks[] | undefined): DropGroup[] | undefined {
  const file = journalPath(project.cacheDir);
  if (!existsSync(file)) return undefined;
  const journal = Journal.open(file);
  const ids = chunks ? new Set(chunks.flatMap((s) => s.chunks.map((c) => chunkIdOf(c.text)))) : undefined;
  const groups = journalDropGroups(journal.done.values(), ids);
  return groups.length ? groups : undefined;
}

/** Writes each file to data/ (through a temporary file and a rename, so a reader never sees half a file). */
export function writeDataset(project: Project, build: DatasetBuild): string[] {
  mkdirSync(project.dataDir, { recursive: true });
  const written: string[] = [];
  for (const [name, content] of build.files) {
    const target = join(project.dataDir, name);
    const tmp = `${target}.tmp-${process.pid}`;
    writeFileSync(tmp, content);
    renameSync(tmp, target);
    written.push(target);
  }
  return written;
}

/** One line for logs and notifications. */
export function summary(build: DatasetBuild): string {
  const r = build.report;
  const dups = r.dropped.filter((d) => d.reason === 'duplicate').length;
  const over = r.dropped.filter((d) => d.reason === 'over-budget').length;
  const left = [dups && `${dups} duplicate${dups > 1 ? 's' : ''} removed`, over && `${over} pair${over > 1 ? 's' : ''} too long for a row`, r.files.skipped.length && `${r.files.skipped.length} file${r.files.skipped.length > 1 ? 's' : ''} not read`].filter(Boolean);
  return `${r.train.rows} train + ${r.test.rows} test rows from ${r.train.pairs + r.test.pairs} pairs${r.sourceRows ? ` (+${r.sourceRows} source-text rows)` : ''}${left.length ? `; ${left.join(', ')}` : ''}.`;
}


/** The chunks of every readable source (extracted and chunked through the sources cache); a source that fails is left out. */
export async function loadProjectChunks(project: Project): Promise<SourceChunks[]> {
  const out: SourceChunks[] = [];
  for (const entry of await listSources(project)) {
    if (!entry.kind) continue;
    try {
      const source = await chunkSource(project, entry.path);
      out.push({ path: source.path, hash: source.hash, chunks: source.chunks.map((c) => ({ n: c.n, text: c.text })) });
    } catch {
      // Its coverage shows as unknown; the Q&A rows do not depend on it.
    }
  }
  return out;
}

/** Builds the project's dataset with its tokenizer and chunks, and writes data/. The one entry point of the extension and the CLI. */
export async function buildProjectDataset(project: Project): Promise<{ build: DatasetBuild; written: string[] }> {
  const tokenizer = await getTokenizer(project.config.tokenizer);
  const build = await buildDataset(project, { countTokens: (t) => tokenizer.count(t), loadChunks: () => loadProjectChunks(project) });
  return { build, written: writeDataset(project, build) };
}

/** The files of the last build, as they go to the Hub (path in the repository -> content). */
export function builtFiles(project: Project): { path: string; content: Uint8Array }[] {
  const names: string[] = [DATA_FILES.train, DATA_FILES.test, DATA_FILES.card];
  if (project.config.dataset.csv) names.push(DATA_FILES.trainCsv, DATA_FILES.testCsv);
  return names.map((name) => {
    const file = join(project.dataDir, name);
    try {
      return { path: name, content: readFileSync(file) };
    } catch {
      throw new MnemoError(`There is no built dataset to push: data/${name} is missing.`, 'Build it first: "Mnemo: Build Dataset" (or `npm run mnemo -- build`).', file, 'buildDataset');
    }
  });
}

/** True when a .qa file changed after the last build (data/train.jsonl), so a push would send stale rows. */
export function datasetIsStale(project: Project): boolean {
  let built: number;
  try {
    built = statSync(join(project.dataDir, DATA_FILES.train)).mtimeMs;
  } catch {
    return false;
  }
  const skipped: SkippedFile[] = [];
  return qaFiles(project.root, project.qaDir, skipped).some((f) => {
    try {
      return statSync(join(project.root, f)).mtimeMs > built;
    } catch {
      return false;
    }
  });
}
