/**
 * The language server's model of the project: every .qa file under qa/ (read from disk, or from
 * the editor when open), their problems, and the workspace index of questions for duplicates.
 * Editor-protocol free: server.ts adapts it to LSP, tests can drive it directly.
 */
import { statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeError } from '../core/errors';
import { findLeaks, trainingQuestions } from '../core/eval/leakage';
import { projectExamples } from '../core/generation/filters';
import { Project } from '../core/project';
import { activePairs, Checker, parseQa, QaIndex, reparseQa, type PairAnalysis, type QaFile, type QaProblem } from '../core/qa';
import { getTokenizer, loadedTokenizer } from '../core/tokens';
import type { QaFileSummary } from '../shared/lsp-protocol';
import { ChunkStore } from './chunks';

/** Files above this size are not parsed at all: one information problem says so. */
export const MAX_PARSE_CHARS = 64 * 1024 * 1024;

/**
 * An open document at least this long, checked for the first time, gets its structure problems
 * (from the parser alone) published first, and all its problems in a second publish: the editor
 * shows the errors of a large file at once, while the per-pair checks and duplicates take longer.
 */
export const STAGED_CHARS = 1_000_000;

export interface FileState {
  uri: string;
  /** Project-relative path ('/'-separated) when inside the project, else the file system path. */
  path: string;
  /** True while the editor has it open (its text comes from the editor, not the disk). */
  open: boolean;
  /** Indexed for duplicates across files: the file is under qa/. */
  indexed: boolean;
  textLength: number;
  file: QaFile;
  /** Problems of the file itself: structure and per-pair checks (duplicates come from the index). */
  local: QaProblem[];
  analyses?: PairAnalysis[];
}

export class QaWorkspace {
  project: Project | undefined;
  projectError: string | undefined;
  checker: Checker;
  readonly index = new QaIndex();
  readonly files = new Map<string, FileState>();
  readonly chunks: ChunkStore;
  /** Sources whose chunks arrived: the files that use them are re-checked by whoever listens. */
  onChunksLoaded: (source: string) => void = () => {};

  constructor(
    readonly root: string | undefined,
    private readonly log: (message: string) => void = () => {},
  ) {
    this.chunks = new ChunkStore(undefined, (source) => {
      this.checker.forgetSource(source);
      this.onChunksLoaded(source);
    }, log);
    this.checker = this.makeChecker();
  }

  /** (Re)loads mnemo.json and the tokenizer. A missing or broken mnemo.json leaves checks that need it off. */
  async loadProject(): Promise<void> {
    this.project = undefined;
    this.projectError = undefined;
    if (this.root) {
      try {
        this.project = Project.load(this.root);
      } catch (err) {
        this.projectError = describeError(err);
        this.log(`Project not loaded: ${this.projectError}`);
      }
    }
    await getTokenizer(this.project?.config.tokenizer ?? 'o200k_base');
    this.chunks.setProject(this.project);
    this.checker = this.makeChecker();
  }

  private makeChecker(): Checker {
    const config = this.project?.config;
    const tokenizer = config?.tokenizer ?? 'o200k_base';
    return new Checker({
      context: config?.context ?? '',
      // Without a project there is no context to name, so the standalone check is off.
      keywords: config ? config.keywords : [],
      rowTokenBudget: config?.dataset.rowTokenBudget ?? 512,
      countTokens: (text) => loadedTokenizer(tokenizer)?.count(text) ?? Math.ceil(text.length / 4),
      chunkText: (source, chunk) => this.chunks.text(source, chunk),
      // The generation stage's pair filters, on pairs already in files (with a project only: they need its context and prompts).
      filters: config?.generation.filters,
      examples: this.project ? projectExamples(this.project.promptsDir, this.project.config.context) : undefined,
      // Without a project there are no sources to look at.
      sourceInfo: !config ? undefined : (source) => {
        const chunked = this.chunks.peek(source);
        if (chunked) return { chunks: chunked.chunks.length };
        const err = this.chunks.error(source);
        return err ? { error: err.message } : undefined;
      },
    });
  }

  /** True when a URI names a file under the project's qa/ folder. */
  isIndexed(uri: string): boolean {
    const path = this.pathOf(uri);
    return !!this.root && path.startsWith('qa/') && path.endsWith('.qa');
  }

  pathOf(uri: string): string {
    if (!uri.startsWith('file:')) return uri;
    const abs = fileURLToPath(uri);
    if (!this.root) return abs;
    const rel = relative(this.root, abs);
    return rel.startsWith('..') ? abs : rel.split(sep).join('/');
  }

  uriOf(path: string): string {
    return this.root && !path.startsWith('/') && !/^[a-z][\w+.-]*:/i.test(path) ? pathToFileURL(join(this.root, path)).toString() : path.startsWith('/') ? pathToFileURL(path).toString() : path;
  }

  /** Every .qa file under qa/ on disk (URIs). */
  async listQaFiles(): Promise<string[]> {
    if (!this.root) return [];
    const out: string[] = [];
    const walk = async (dir: string) => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory() && !e.name.startsWith('.')) await walk(p);
        else if (e.isFile() && e.name.endsWith('.qa')) out.push(pathToFileURL(p).toString());
      }
    };
    await walk(join(this.root, 'qa'));
    return out.sort();
  }

  /** mtime:size of each .qa file when last read from disk through `diskChanges`. */
  private readonly stamps = new Map<string, string>();

  /**
   * What paths reported by a folder watch under qa/ (src/core/watch.ts) mean for .qa files: a
   * .qa file changed or deleted, a new folder's .qa files, a deleted folder's known files. A file
   * whose size and time are as last seen is left out (the editor's watcher may report it too).
   */
  async diskChanges(paths: string[]): Promise<Array<{ uri: string; deleted: boolean }>> {
    const out = new Map<string, boolean>();
    for (const path of paths) {
      const s = await stat(path).catch(() => undefined);
      if (s?.isDirectory()) {
        const walk = async (dir: string) => {
          for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
            const p = join(dir, e.name);
            if (e.isDirectory() && !e.name.startsWith('.')) await walk(p);
            else if (e.isFile() && e.name.endsWith('.qa')) out.set(pathToFileURL(p).toString(), false);
          }
        };
        await walk(path);
      } else if (s) {
        if (path.endsWith('.qa')) out.set(pathToFileURL(path).toString(), false);
      } else {
        // Gone: the file itself, or a folder with every file known below it.
        const uri = pathToFileURL(path).toString();
        for (const known of [...this.files.keys(), ...this.stamps.keys()]) if (known === uri || known.startsWith(uri + '/')) out.set(known, true);
        if (path.endsWith('.qa')) out.set(uri, true);
      }
    }
    const changes: Array<{ uri: string; deleted: boolean }> = [];
    for (const [uri, deleted] of out) {
      if (!this.isIndexed(uri)) continue;
      if (deleted) {
        this.stamps.delete(uri);
        changes.push({ uri, deleted });
        continue;
      }
      const s = await stat(fileURLToPath(uri)).catch(() => undefined);
      const stamp = s && `${s.mtimeMs}:${s.size}`;
      if (stamp && stamp === this.stamps.get(uri) && this.files.has(uri)) continue;
      if (stamp) this.stamps.set(uri, stamp);
      changes.push({ uri, deleted: false });
    }
    return changes;
  }

  /** Reads a closed file from disk; undefined when it no longer exists. */
  async readFromDisk(uri: string): Promise<string | undefined> {
    try {
      const abs = fileURLToPath(uri);
      const s = await stat(abs);
      if (s.size > MAX_PARSE_CHARS) return '\u0000too-large:' + s.size;
      return await readFile(abs, 'utf8');
    } catch {
      return undefined;
    }
  }

  /** The sources named by `@source` in a set of texts' headers, to load their chunks before checking. */
  sourcesOf(texts: string[]): string[] {
    const out = new Set<string>();
    for (const t of texts) {
      const m = /^@source[ \t]*:[ \t]*(.+?)[ \t]*$/m.exec(t.slice(0, 4096));
      if (m) out.add(m[1]);
    }
    return [...out];
  }

  /**
   * Checks a file's new text and updates the index. Returns the URIs of other files whose
   * duplicate problems changed as a result.
   */
  update(uri: string, text: string, open: boolean, split?: { lines: string[]; finalEol: boolean }, parsed?: QaFile): string[] {
    const path = this.pathOf(uri);
    const indexed = this.isIndexed(uri);
    let state: FileState;
    if (text.startsWith('\u0000too-large:') || text.length > MAX_PARSE_CHARS) {
      const size = text.startsWith('\u0000too-large:') ? Number(text.slice(11)) : text.length;
      const file = parseQa('');
      const local: QaProblem[] = [{ code: 'large-file', severity: 'information', message: `This file is too large to check (${(size / 1e6).toFixed(0)} MB; the limit is ${MAX_PARSE_CHARS / 1024 / 1024} MB). Split it into smaller files.`, startLine: 0, startCol: 0, endLine: 0, endCol: 0 }];
      state = { uri, path, open, indexed, textLength: size, file, local };
    } else {
      const prev = this.files.get(uri);
      // An edit re-parses only the lines around it; pairs elsewhere keep their objects (and cached analyses).
      // `parsed`: parseQa(text), done already (for a first publish of the structure problems).
      const file = parsed ?? (prev?.analyses && prev.textLength <= this.checker.largeFileChars ? reparseQa(prev.file, text, split) : parseQa(text));
      const { problems, analyses } = this.checker.checkPairs(file, text.length);
      state = { uri, path, open, indexed, textLength: text.length, file, local: problems, analyses };
    }
    this.files.set(uri, state);
    if (!indexed) return [];
    if (!state.analyses) return [...this.index.remove(path)].map((p) => this.uriOf(p));
    return [...this.index.update(path, state.file, state.analyses)].map((p) => this.uriOf(p));
  }

  /** Forgets a file (deleted, or closed outside qa/). Returns the URIs of files whose problems changed. */
  remove(uri: string): string[] {
    const state = this.files.get(uri);
    this.files.delete(uri);
    if (!state?.indexed) return [];
    return [...this.index.remove(state.path)].map((p) => this.uriOf(p));
  }

  /** Every problem of a file: its own, and duplicates (across qa/ for indexed files, within the file otherwise). */
  problems(uri: string): QaProblem[] {
    const state = this.files.get(uri);
    if (!state) return [];
    const leaks = this.isEvalSet(state.path) ? this.leakProblems(state) : [];
    if (!state.analyses) return leaks.length ? [...state.local, ...leaks] : state.local;
    if (state.indexed) return [...state.local, ...this.index.problemsFor(state.path), ...leaks];
    const local = new QaIndex();
    local.update(state.path, state.file, state.analyses);
    return [...state.local, ...local.problemsFor(state.path), ...leaks];
  }

  /** True for an eval set of the project: mnemo.json eval.questions, or a .qa file under eval/ (results aside). */
  isEvalSet(path: string): boolean {
    if (!this.project || !path.endsWith('.qa')) return false;
    return path === this.project.config.eval.questions.replace(/^\.\//, '') || (path.startsWith('eval/') && !path.startsWith('eval/results/'));
  }

  private leakCache = new Map<string, { key: string; problems: QaProblem[] }>();
  private training: { stamp: string; source: string; questions: string[] } | undefined;

  /**
   * Leakage (src/core/eval/leakage.ts): each eval question that near-duplicates a question of the
   * training rows (data/train.jsonl; the dataset split's similarity) is a warning on its Q line.
   * Read again when data/train.jsonl changes (on the file's next check).
   */
  private leakProblems(state: FileState): QaProblem[] {
    const project = this.project!;
    const file = join(project.dataDir, 'train.jsonl');
    let stamp = '';
    try {
      const s = statSync(file);
      stamp = `${s.mtimeMs}:${s.size}`;
    } catch {
      return []; // No dataset built yet: nothing to compare with.
    }
    if (this.training?.stamp !== stamp) {
      const t = trainingQuestions(project);
      this.training = t ? { stamp, ...t } : undefined;
    }
    const training = this.training;
    if (!training) return [];
    const pairs = state.file.pairs.filter((p) => !p.commented && p.question);
    const key = `${stamp}\u0000${pairs.map((p) => `${p.questionLine}:${p.question}`).join('\u0000')}`;
    const cached = this.leakCache.get(state.uri);
    if (cached?.key === key) return cached.problems;
    const leaks = findLeaks(pairs.map((p, i) => ({ id: String(i), question: p.question })), training.questions, { keywords: project.config.keywords });
    const problems: QaProblem[] = [];
    pairs.forEach((p, i) => {
      const leak = leaks.get(String(i));
      if (!leak) return;
      const pct = Math.round(leak.similarity * 100);
      problems.push({
        ...p.questionSpan,
        code: 'eval-leak',
        severity: 'warning',
        pair: state.file.pairs.indexOf(p),
        message: `This eval question near-duplicates a training question (${pct}% alike, the dataset split's measure): "${leak.trainQuestion.length > 120 ? `${leak.trainQuestion.slice(0, 119)}…` : leak.trainQuestion}" in ${training.source}. A model that trained on it answers from a memorized pair, not from recall of the document: its score is also given without such questions. Reword the question (other words, the same fact), or keep it and read the score without leaked questions.`,
      });
    });
    this.leakCache.set(state.uri, { key, problems });
    return problems;
  }

  summary(uri: string): QaFileSummary | undefined {
    const state = this.files.get(uri);
    if (!state) return undefined;
    const problems = { error: 0, warning: 0, information: 0 };
    const problemPairs = new Set<number>();
    const filteredPairs = new Set<number>();
    for (const p of this.problems(uri)) {
      if (p.severity === 'hint') continue;
      problems[p.severity]++;
      if (p.pair !== undefined) problemPairs.add(p.pair);
      if (p.pair !== undefined && (p.code === 'example-echo' || p.code === 'vacuous' || p.code === 'ungrounded')) filteredPairs.add(p.pair);
    }
    const f = state.file;
    return {
      uri,
      path: state.path,
      header: f.header,
      pairs: f.pairs.length,
      active: activePairs(f).length,
      reviewed: f.pairs.filter((p) => p.reviewed && !p.commented).length,
      problems,
      problemPairs: [...problemPairs].sort((a, b) => a - b),
      filteredPairs: [...filteredPairs].sort((a, b) => a - b),
    };
  }

  /** URIs of the files that use a source (to re-check when its chunks arrive). */
  filesUsing(source: string): string[] {
    const out: string[] = [];
    for (const s of this.files.values()) if (s.file.pairs.some((p) => p.meta.source === source)) out.push(s.uri);
    return out;
  }
}
