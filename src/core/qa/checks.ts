/**
 * The checks of a .qa file beyond its structure: questions that do not stand alone, pairs over
 * the dataset's row budget, answers that copy the source verbatim, duplicates. Pure and
 * editor-free: the language server, the CLI and the dataset builder run the same checks.
 *
 * Per-pair work is cached by pair object: `reparseQa` keeps the objects of the pairs an edit did
 * not touch, so re-checking a large file after a one-line edit only re-analyses the pairs that changed.
 */
import { judgePair, PairJudge, PairWords, type ExamplePair } from '../generation/filters';
import type { GenerationFilters } from '../project';
import { QaIndex } from './index-store';
import { bandsOf, joinWords, longestCopiedRun, shingleArray, tokens, windowHashes, words, type Word } from './similarity';
import type { QaFile, QaPair, QaProblem, QaProblemCode, Severity, Span } from './types';

export interface CheckOptions {
  /** The project's context phrase, e.g. "Cairnrun rules" (mnemo.json `context`). */
  context: string;
  /** Words a standalone question names (mnemo.json `keywords`); matched case-insensitively. */
  keywords: string[];
  /** The dataset's row budget in tokens (mnemo.json `dataset.rowTokenBudget`): one pair must fit in it. */
  rowTokenBudget: number;
  /** Counts tokens with the project's tokenizer. */
  countTokens: (text: string) => number;
  /** The text of chunk `chunk` of `source` (a project-relative path), when it is known. */
  chunkText?: (source: string, chunk: string) => string | undefined;
  /**
   * What is known of a source named by `@source`: its number of chunks, or why it cannot be read.
   * undefined while unknown (nothing is reported then).
   */
  sourceInfo?: (source: string) => { chunks: number } | { error: string } | undefined;
  /**
   * The pair filters of the generation stage (mnemo.json generation.filters), reported on pairs
   * already in .qa files: example-echo, vacuous, ungrounded. Off when undefined.
   */
  filters?: GenerationFilters;
  /** The prompt examples a pair may echo, by its `@variant` (every known template's when undefined). */
  examples?: (variant: string | undefined) => ExamplePair[];
  /** An answer that repeats this many consecutive words of its chunk is flagged (default 12). */
  verbatimWords?: number;
  /** Files longer than this (characters) get structure checks only (default 16,000,000). */
  largeFileChars?: number;
}

export const DEFAULT_VERBATIM_WORDS = 12;
export const DEFAULT_LARGE_FILE_CHARS = 16_000_000;

/** Where on a pair a finding is shown. */
type Anchor = 'question' | 'answer' | 'pair';

/** A finding about one pair, independent of where the pair sits in the file (so it can be cached). */
export interface PairFinding {
  code: QaProblemCode;
  severity: Severity;
  message: string;
  anchor: Anchor;
}

/** What is computed once per distinct pair text. */
export interface PairAnalysis {
  /** The question's duplicate key (words only). */
  exact: string;
  /** Sorted, without repeats (see shingleArray). */
  shingles: Uint32Array;
  bands: number[];
  findings: PairFinding[];
}

/** Options with defaults filled in, plus derived values that are costly to recompute per pair. */
export class Checker {
  readonly verbatimWords: number;
  readonly largeFileChars: number;
  private readonly keywordWords: Set<string>;
  private readonly keywordPhrases: string[];
  private readonly chunkWindows = new Map<string, Set<number> | null>();
  /** Pair judges (chunk stems, example shingles) by source, chunk and variant. */
  private readonly judges = new Map<string, PairJudge>();
  /** Analyses by pair object: pairs kept by `reparseQa` are found without re-reading their text. */
  private byPair = new WeakMap<QaPair, PairAnalysis>();

  constructor(readonly options: CheckOptions) {
    this.verbatimWords = options.verbatimWords ?? DEFAULT_VERBATIM_WORDS;
    this.largeFileChars = options.largeFileChars ?? DEFAULT_LARGE_FILE_CHARS;
    const kws = options.keywords.length ? options.keywords : [options.context];
    this.keywordPhrases = kws.map((k) => words(k).join(' ')).filter((k) => k !== '');
    this.keywordWords = new Set(this.keywordPhrases.flatMap((k) => k.split(' ')));
  }

  /** The words a duplicate check ignores: the context's keywords are in every standalone question. */
  get ignoredWords(): ReadonlySet<string> {
    return this.keywordWords;
  }

  /** True when the question (its words joined by spaces: its duplicate key) names the context or one of its keywords. */
  private standsAlone(key: string): boolean {
    if (this.keywordPhrases.length === 0) return true;
    const q = ' ' + key + ' ';
    return this.keywordPhrases.some((k) => q.includes(' ' + k + ' '));
  }

  /** Drops what was derived from chunk texts (after sources change). */
  forgetChunks(): void {
    this.chunkWindows.clear();
    this.judges.clear();
    this.byPair = new WeakMap();
  }

  /** Drops what was derived from one source's chunks (its chunks arrived or changed). */
  forgetSource(source: string): void {
    for (const k of this.chunkWindows.keys()) if (k.startsWith(source + '\u0000')) this.chunkWindows.delete(k);
    for (const k of this.judges.keys()) if (k.startsWith(source + '\u0000')) this.judges.delete(k);
    this.byPair = new WeakMap();
  }

  private windowsOf(source: string, chunk: string): Set<number> | undefined {
    const key = source + '\u0000' + chunk;
    let w = this.chunkWindows.get(key);
    if (w === undefined) {
      const text = this.options.chunkText?.(source, chunk);
      // Unknown chunks are not remembered: their text may arrive later.
      if (text === undefined) return undefined;
      w = windowHashes(text, this.verbatimWords);
      this.chunkWindows.set(key, w);
    }
    return w ?? undefined;
  }

  /** The judge of a pair's chunk and template; one whose chunk is not known yet is not kept (its text may arrive later). */
  private judgeFor(source: string, chunk: string, variant: string | undefined): PairJudge {
    const key = `${source}\u0000${chunk}\u0000${variant ?? ''}`;
    let judge = this.judges.get(key);
    if (judge) return judge;
    const text = source && chunk ? this.options.chunkText?.(source, chunk) : undefined;
    judge = new PairJudge({ chunk: text, context: this.options.context, keywords: this.options.keywords, examples: this.options.examples?.(variant) ?? [] });
    if (text !== undefined || !(source && chunk)) this.judges.set(key, judge);
    return judge;
  }

  /** Analyses one pair (cached by its text, source and chunk). */
  analyse(pair: QaPair): PairAnalysis {
    const known = this.byPair.get(pair);
    if (known) return known;
    const a = this.analyseText(pair);
    this.byPair.set(pair, a);
    return a;
  }

  private analyseText(pair: QaPair): PairAnalysis {
    const source = pair.meta.source ?? '';
    const chunk = pair.chunk ?? '';
    const qw = tokens(pair.question);
    const sh = shingleArray(qw, this.keywordWords);
    const exact = joinWords(qw);
    const a: PairAnalysis = { exact, shingles: sh, bands: sh.length ? bandsOf(sh) : [], findings: [] };
    if (!pair.commented && pair.question !== '') this.findings(pair, qw, exact, source, chunk, a.findings);
    return a;
  }

  private findings(pair: QaPair, questionWords: Word[], exact: string, source: string, chunk: string, out: PairFinding[]): void {
    const { context, rowTokenBudget, countTokens } = this.options;
    const pw = new PairWords(pair, questionWords);
    if (!this.standsAlone(exact)) {
      const names = this.options.keywords.length ? this.options.keywords.map((k) => `"${k}"`).join(' or ') : `"${context}"`;
      out.push({ code: 'not-standalone', severity: 'warning', anchor: 'question', message: `This question does not stand alone: it does not name ${names}. A model trained on it cannot tell which document it is about; start it with "In ${context}, …".` });
    }
    if (pair.answer !== '') {
      // A token is at least one UTF-8 byte, so a pair of no more bytes than the budget needs no counting.
      const tokens = utf8Length(pair.question) + utf8Length(pair.answer) <= rowTokenBudget ? 0 : countTokens(pair.question) + countTokens(pair.answer);
      if (tokens > rowTokenBudget) {
        out.push({ code: 'over-budget', severity: 'warning', anchor: 'pair', message: `This pair is ${tokens} tokens, more than a dataset row holds (dataset.rowTokenBudget = ${rowTokenBudget}); it will be left out of the dataset. Shorten it or split it into two pairs.` });
      }
      if (source && chunk) {
        const windows = this.windowsOf(source, chunk);
        if (windows && windows.size) {
          const run = longestCopiedRun(pw.answer, windows, this.verbatimWords);
          if (run) {
            const quote = joinWords(pw.answer.slice(run.start, run.start + Math.min(run.length, 16))) + (run.length > 16 ? ' …' : '');
            out.push({ code: 'verbatim', severity: 'warning', anchor: 'answer', message: `The answer copies ${run.length} consecutive words of chunk ${chunk} verbatim ("${quote}"). Answers that keep the meaning in other words train recall better than copied text.` });
          }
        }
      }
      if (this.options.filters) {
        const verdict = judgePair(this.judgeFor(source, chunk, pair.meta.variant), pair, this.options.filters, pw);
        if (verdict?.reason === 'example-echo') {
          out.push({ code: 'example-echo', severity: 'warning', anchor: 'pair', message: `This pair repeats the prompt's own example (${verdict.detail}): the model copied the format example instead of asking about the text. Comment it out or delete it.` });
        } else if (verdict?.reason === 'vacuous') {
          out.push({ code: 'vacuous', severity: 'warning', anchor: 'answer', message: `This pair says nothing checkable: ${verdict.detail}. A model trained on it learns no fact; ask and answer one fact of the chunk, or comment the pair out.` });
        } else if (verdict?.reason === 'ungrounded') {
          out.push({ code: 'ungrounded', severity: 'warning', anchor: 'answer', message: `This answer is not grounded in chunk ${chunk}: ${verdict.detail}. It may be made up; check it against the chunk (hover @chunk) or comment the pair out. (generation.filters.groundedness in mnemo.json sets the threshold.)` });
        }
      }
    }
  }

  /**
   * Every problem of one file: its structure (from the parser), its pairs, and duplicates among
   * its own pairs. Duplicates across files need a shared `QaIndex`: see `checkWorkspace`.
   */
  checkFile(file: QaFile, path = 'file.qa', textLength = file.lines.reduce((n, l) => n + l.length + 1, 0)): QaProblem[] {
    const index = new QaIndex();
    const { problems, analyses } = this.checkPairs(file, textLength);
    if (analyses) {
      index.update(path, file, analyses);
      problems.push(...index.problemsFor(path));
    }
    return problems;
  }

  /**
   * Structure problems and per-pair findings of a file, and the analyses to index for duplicates
   * (undefined for a file too large for anything but structure checks).
   */
  checkPairs(file: QaFile, textLength: number): { problems: QaProblem[]; analyses?: PairAnalysis[] } {
    const problems = [...file.problems];
    if (file.problems.some((p) => p.code === 'binary-content')) return { problems };
    if (textLength > this.largeFileChars) {
      problems.push({ code: 'large-file', severity: 'information', message: `This file is large (${(textLength / 1e6).toFixed(1)} MB): only its structure is checked, not duplicates, budgets or copied text. Split it into smaller files to check it fully.`, startLine: 0, startCol: 0, endLine: 0, endCol: file.lines[0]?.length ?? 0 });
      return { problems };
    }
    const analyses: PairAnalysis[] = [];
    for (const pair of file.pairs) {
      const a = this.analyse(pair);
      analyses.push(a);
      for (const f of a.findings) problems.push(findingProblem(pair, f));
    }
    this.checkProvenance(file, problems);
    return { problems, analyses };
  }

  /** `@source` names a readable source, and `@chunk` one of its chunks. */
  private checkProvenance(file: QaFile, problems: QaProblem[]): void {
    const info = this.options.sourceInfo;
    if (!info) return;
    let source: string | undefined;
    for (const m of file.metaLines) {
      const at = { startLine: m.line, startCol: 0, endLine: m.line, endCol: file.lines[m.line].length };
      if (m.key === 'source') {
        source = m.value;
        const i = m.value ? info(m.value) : undefined;
        if (i && 'error' in i) problems.push({ code: 'unknown-source', severity: 'warning', message: `The source cannot be read: ${i.error}`, ...at });
      } else if (m.key === 'chunk') {
        const n = Number(m.value);
        if (!/^\d+$/.test(m.value) || n < 1) {
          problems.push({ code: 'unknown-chunk', severity: 'warning', message: `"@chunk: ${m.value}" is not a chunk number: chunks are numbered from 1.`, ...at });
          continue;
        }
        const i = source ? info(source) : undefined;
        if (i && 'chunks' in i && n > i.chunks) problems.push({ code: 'unknown-chunk', severity: 'warning', message: `${source} has ${i.chunks} chunk${i.chunks === 1 ? '' : 's'}; there is no chunk ${n}.`, ...at });
      }
    }
  }
}

/** A cached finding placed on its pair's current lines. */
export function findingProblem(pair: QaPair, f: PairFinding): QaProblem {
  const span: Span =
    f.anchor === 'answer' && pair.answerSpan
      ? pair.answerSpan
      : f.anchor === 'pair'
        ? { startLine: pair.questionLine, startCol: 0, endLine: pair.answerSpan?.endLine ?? pair.questionSpan.endLine, endCol: pair.answerSpan?.endCol ?? pair.questionSpan.endCol }
        : pair.questionSpan;
  return { code: f.code, severity: f.severity, message: f.message, pair: pair.index, ...span };
}

/** Checks several files together, duplicates across them included (what the CLI and dataset builder use). */
export function checkWorkspace(checker: Checker, files: { path: string; file: QaFile; textLength?: number }[]): Map<string, QaProblem[]> {
  const index = new QaIndex();
  const out = new Map<string, QaProblem[]>();
  for (const f of files) {
    const { problems, analyses } = checker.checkPairs(f.file, f.textLength ?? f.file.lines.reduce((n, l) => n + l.length + 1, 0));
    out.set(f.path, problems);
    if (analyses) index.update(f.path, f.file, analyses);
  }
  for (const [path, problems] of out) problems.push(...index.problemsFor(path));
  return out;
}

/**
 * The question with the context named in front: "What is X?" becomes "In Cairnrun rules, what is X?".
 * The first word is lower-cased unless it looks like a name.
 */
export function withContext(question: string, context: string): string {
  const q = question.trim();
  const m = /^(\p{Lu})(\p{Ll}*)\b/u.exec(q);
  const common = /^(what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could|may|must|should|would|will|under|if|in|on|at|for|after|before|during|according|name|list|describe|explain|give|state)$/i;
  const body = m && common.test(m[1] + m[2]) ? m[1].toLowerCase() + q.slice(1) : q;
  return `In ${context}, ${body}`;
}

/** UTF-8 length of a string without encoding it. */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return n;
}
