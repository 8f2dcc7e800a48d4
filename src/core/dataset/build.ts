/**
 * Curated pairs -> chat rows, split train/test. Pure: the same pairs, settings and seed give the
 * same rows in the same order (and so byte-identical files), whatever the machine.
 *
 * Token accounting. A row is counted the way chat templates lay it out: each message costs its
 * content's tokens plus MESSAGE_OVERHEAD (ChatML: `<|im_start|>`, the role, a newline,
 * `<|im_end|>`, a newline; Llama 3's header tokens come to one less), and each row costs
 * ROW_OVERHEAD once more (a BOS token). Contents are tokenized one by one, as templates
 * separate them with special tokens that BPE never merges across.
 */
import { basename } from 'node:path';
import { isOfflineQuestion } from '../generation/offline';
import { isOfflineGenerator } from '../generation/output';
import { exactKey, words } from '../qa/similarity';
import { nearDuplicateGroups } from './groups';
import { rngFor, shuffled } from './random';
import type { ChatMessage, ChatRow, ChunkCoverage, DatasetPair, DatasetReport, DatasetSettings, DroppedPair, FileProblem, RowStats, SkippedFile, SourceChunks, SourceDocument } from './types';

export const MESSAGE_OVERHEAD = 5;
export const ROW_OVERHEAD = 1;

export interface BuildInput {
  /** Active pairs, in a deterministic order (by file path, then line). */
  pairs: DatasetPair[];
  filesRead: number;
  skipped: SkippedFile[];
  problems?: FileProblem[];
  sources: SourceDocument[];
  /** Chunks of each source, when the chunker's output is available. */
  chunks?: SourceChunks[];
}

export interface BuiltRows {
  train: ChatRow[];
  test: ChatRow[];
  trainPairs: DatasetPair[];
  testPairs: DatasetPair[];
  /** Tokens of each row, in the same order as the rows. */
  trainTokens: number[];
  testTokens: number[];
  report: DatasetReport;
}

/** Text as it goes into a message: line ends unified, outer blank space trimmed. */
export function cleanText(text: string): string {
  return text.replace(/\r\n?/g, '\n').trim();
}

/** Tokens a row of these messages takes (see the module comment). */
export function rowTokens(messages: readonly ChatMessage[], countTokens: (text: string) => number): number {
  return ROW_OVERHEAD + messages.reduce((sum, m) => sum + countTokens(m.content) + MESSAGE_OVERHEAD, 0);
}

export function buildRows(input: BuildInput, settings: DatasetSettings, countTokens: (text: string) => number): BuiltRows {
  const dropped: DroppedPair[] = [];
  const system = settings.systemPrompt?.trim() ? cleanText(settings.systemPrompt) : undefined;
  const baseTokens = ROW_OVERHEAD + (system ? countTokens(system) + MESSAGE_OVERHEAD : 0);

  // 1. Exact duplicates (same words in question and answer, case and punctuation aside): keep the first.
  const seen = new Map<string, DatasetPair>();
  const unique: DatasetPair[] = [];
  for (const raw of input.pairs) {
    const pair = { ...raw, question: cleanText(raw.question), answer: cleanText(raw.answer) };
    const key = exactKey(pair.question) + '\u0000' + exactKey(pair.answer);
    const kept = seen.get(key);
    if (kept) dropped.push({ pair, reason: 'duplicate', keptFile: kept.file, keptLine: kept.line });
    else {
      seen.set(key, pair);
      unique.push(pair);
    }
  }

  // 2. A pair that cannot fit a row on its own is reported, never cut.
  const sized: { pair: DatasetPair; tokens: number }[] = [];
  for (const pair of unique) {
    const tokens = countTokens(pair.question) + countTokens(pair.answer) + 2 * MESSAGE_OVERHEAD;
    if (baseTokens + tokens > settings.rowTokenBudget) dropped.push({ pair, reason: 'over-budget', tokens: baseTokens + tokens });
    else sized.push({ pair, tokens });
  }

  // 3. Split by near-duplicate group, so that twins stay on one side.
  const groups = nearDuplicateGroups(
    sized.map((s) => s.pair.question),
    { keywords: settings.keywords },
  );
  const target = sized.length >= 2 && groups.length >= 2 ? Math.max(1, Math.round(settings.testFraction * sized.length)) : 0;
  const inTest = new Uint8Array(sized.length);
  let testCount = 0;
  for (const group of shuffled(groups, rngFor(settings.seed, 'split'))) {
    if (testCount >= target) break;
    if (testCount + group.length > target) continue;
    for (const i of group) inTest[i] = 1;
    testCount += group.length;
  }
  const trainSide = sized.filter((_, i) => !inTest[i]);
  const testSide = sized.filter((_, i) => inTest[i]);

  // 4. Pack each side's shuffled pairs into rows of up to turnsPerRow turns within the budget.
  const train = pack(shuffled(trainSide, rngFor(settings.seed, 'train')), settings, system, baseTokens);
  const test = pack(shuffled(testSide, rngFor(settings.seed, 'test')), settings, system, baseTokens);

  // 5. Rows of the source text itself, train side only, mixed in among the Q&A rows.
  const wanted = Math.round(settings.sourceTextRatio * train.rows.length);
  const source = wanted > 0 ? sourceRows(input.chunks ?? [], wanted, settings, system, countTokens) : { rows: [], tokens: [], note: undefined };
  let trainRows = train.rows.map((row, i) => ({ row, tokens: train.tokens[i], pairs: train.pairs[i] }));
  if (source.rows.length) {
    const extra = source.rows.map((row, i) => ({ row, tokens: source.tokens[i], pairs: [] as DatasetPair[] }));
    trainRows = shuffled([...trainRows, ...extra], rngFor(settings.seed, 'mix'));
  }

  const report: DatasetReport = {
    settings,
    files: { read: input.filesRead, skipped: input.skipped, problems: input.problems ?? [] },
    pairsIn: input.pairs.length,
    dropped,
    train: stats(trainRows.map((r) => r.tokens), trainSide.length),
    test: stats(test.tokens, testSide.length),
    sourceRows: source.rows.length,
    sourceRowsNote: wanted > 0 ? source.note : undefined,
    groups: { count: groups.length, largest: groups.reduce((m, g) => Math.max(m, g.length), 0) },
    coverage: coverageOf(sized.map((s) => s.pair), input.chunks),
    generation: generationSettings(input.pairs),
    sources: input.sources,
    offline: offlineOf([...trainRows.flatMap((r) => r.pairs), ...test.pairs.flat()]),
  };
  return {
    train: trainRows.map((r) => r.row),
    test: test.rows,
    trainPairs: trainRows.flatMap((r) => r.pairs),
    testPairs: test.pairs.flat(),
    trainTokens: trainRows.map((r) => r.tokens),
    testTokens: test.tokens,
    report,
  };
}

function offlineOf(pairs: DatasetPair[]): DatasetReport['offline'] {
  // A pair written by hand into an offline file is the person's, not the generator's.
  const offline = pairs.filter((p) => isOfflineGenerator(p.generator) && isOfflineQuestion(p.question));
  return { pairs: offline.length, files: [...new Set(offline.map((p) => p.file))].sort() };
}

function pack(items: { pair: DatasetPair; tokens: number }[], settings: DatasetSettings, system: string | undefined, baseTokens: number) {
  const rows: ChatRow[] = [];
  const tokens: number[] = [];
  const pairs: DatasetPair[][] = [];
  let cur: { pair: DatasetPair; tokens: number }[] = [];
  let curTokens = baseTokens;
  const flush = () => {
    if (!cur.length) return;
    const messages: ChatMessage[] = system ? [{ role: 'system', content: system }] : [];
    for (const { pair } of cur) messages.push({ role: 'user', content: pair.question }, { role: 'assistant', content: pair.answer });
    rows.push({ messages });
    tokens.push(curTokens);
    pairs.push(cur.map((c) => c.pair));
    cur = [];
    curTokens = baseTokens;
  };
  for (const item of items) {
    if (cur.length >= settings.turnsPerRow || curTokens + item.tokens > settings.rowTokenBudget) flush();
    cur.push(item);
    curTokens += item.tokens;
  }
  flush();
  return { rows, tokens, pairs };
}

/**
 * Sentences of a text, each with the blank space after it, so that joining them restores the text.
 * A sentence ends at . ! ? (and closing quotes or brackets) followed by blank space, or at a blank line;
 * "Rule 3.1" and "e.g.x" are not ends.
 */
export function sentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    let end = -1;
    if (ch === '.' || ch === '!' || ch === '?') {
      let j = i + 1;
      while (j < text.length && /[.!?"')\]’”]/.test(text[j])) j++;
      if (j >= text.length || /\s/.test(text[j])) end = j;
    } else if (ch === '\n' && /^\n[ \t]*\n/.test(text.slice(i, i + 64))) end = i;
    if (end >= 0) {
      let k = end;
      while (k < text.length && /\s/.test(text[k])) k++;
      out.push(text.slice(start, k));
      start = i = k;
    } else i++;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

type Candidate = { messages: ChatMessage[]; tokens: number };

/**
 * Rows that ask for a passage of a source and answer with its text: training on the document
 * itself beside the Q&A helps recall. First "recite chunk n (part k)" rows, chunks longer than a row
 * cut at sentence ends into parts; when more rows are wanted than that, "what comes after <sentence>"
 * rows, whose answers start at every sentence and so cross the parts' edges; only then repeats.
 */
function sourceRows(chunks: SourceChunks[], wanted: number, settings: DatasetSettings, system: string | undefined, countTokens: (text: string) => number) {
  const row = (user: string, passage: string): ChatMessage[] => [
    ...(system ? [{ role: 'system' as const, content: system }] : []),
    { role: 'user', content: user },
    { role: 'assistant', content: passage },
  ];
  const recites: Candidate[] = [];
  const continuations: Candidate[] = [];
  let tooLong = 0;
  const sorted = [...chunks].sort((a, b) => cmp(a.path, b.path)).flatMap((source) => [...source.chunks].sort((a, b) => a.n - b.n).map((chunk) => ({ source, chunk })));
  for (const { source, chunk } of sorted) {
    const name = basename(source.path);
    const prompt = (part: string) => `Recite chunk ${chunk.n}${part} of the ${settings.context} document ${name}.`;
    const room = settings.rowTokenBudget - rowTokens(row(prompt(', part 99 of 99'), ''), countTokens);
    const passages: string[] = [];
    let acc = '';
    for (const s of sentences(chunk.text)) {
      if (acc && countTokens((acc + s).trim()) > room) {
        passages.push(acc.trim());
        acc = '';
      }
      acc += s;
    }
    if (acc.trim()) passages.push(acc.trim());
    passages.forEach((passage, k) => {
      const messages = row(prompt(passages.length > 1 ? `, part ${k + 1} of ${passages.length}` : ''), passage);
      const tokens = rowTokens(messages, countTokens);
      if (tokens > settings.rowTokenBudget) tooLong++;
      else recites.push({ messages, tokens });
    });
  }
  if (wanted > recites.length) {
    for (const { source, chunk } of sorted) {
      const ss = sentences(chunk.text).map((x) => x.trim()).filter(Boolean);
      for (let i = 0; i + 1 < ss.length; i++) {
        if (ss[i].split(/\s+/).length < 4) continue;
        const user = `In the ${settings.context} document ${basename(source.path)}, what comes after "${ss[i]}"?`;
        const room = settings.rowTokenBudget - rowTokens(row(user, ''), countTokens);
        let answer = '';
        for (let j = i + 1; j < ss.length; j++) {
          const next = answer ? `${answer} ${ss[j]}` : ss[j];
          if (countTokens(next) > room) break;
          answer = next;
        }
        if (answer) {
          const messages = row(user, answer);
          continuations.push({ messages, tokens: rowTokens(messages, countTokens) });
        }
      }
    }
  }
  const all = [...recites, ...continuations];
  if (!all.length) {
    return { rows: [] as ChatRow[], tokens: [] as number[], note: chunks.length ? 'no passage of the sources fits a row' : 'the sources\' chunks were not available' };
  }
  // Recites first, then continuations, each in a seeded order; repeats only once both run out.
  const order = [...shuffled(recites, rngFor(settings.seed, 'source-recite')), ...shuffled(continuations, rngFor(settings.seed, 'source-continue'))];
  const rows: ChatRow[] = [];
  const tokens: number[] = [];
  for (let round = 0; rows.length < wanted; round++) {
    for (const c of round === 0 ? order : shuffled(order, rngFor(settings.seed, `source-${round}`))) {
      if (rows.length >= wanted) break;
      rows.push({ messages: c.messages });
      tokens.push(c.tokens);
    }
  }
  const notes: string[] = [`${Math.min(wanted, recites.length)} recite a chunk, ${Math.max(0, Math.min(wanted, all.length) - recites.length)} continue a sentence`];
  if (wanted > all.length) notes.push(`${all.length} distinct rows repeated to make ${wanted}`);
  if (tooLong) notes.push(`${tooLong} passages longer than a row left out`);
  return { rows, tokens, note: notes.join('; ') };
}

function stats(tokens: number[], pairs: number): RowStats {
  const sorted = [...tokens].sort((a, b) => a - b);
  return {
    rows: tokens.length,
    pairs,
    tokens: {
      min: sorted[0] ?? 0,
      median: sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : 0,
      max: sorted[sorted.length - 1] ?? 0,
      total: sorted.reduce((a, b) => a + b, 0),
    },
  };
}

function coverageOf(pairs: DatasetPair[], chunks: SourceChunks[] | undefined): ChunkCoverage[] {
  const bySource = new Map<string, ChunkCoverage>();
  const get = (source: string) => {
    let c = bySource.get(source);
    if (!c) bySource.set(source, (c = { source, pairsPerChunk: new Map(), uncovered: [], withoutChunk: 0 }));
    return c;
  };
  for (const s of chunks ?? []) get(s.path).chunkCount = s.chunks.length;
  for (const p of pairs) {
    const c = get(p.source ?? '(no @source)');
    if (p.chunk === undefined) c.withoutChunk++;
    else c.pairsPerChunk.set(p.chunk, (c.pairsPerChunk.get(p.chunk) ?? 0) + 1);
  }
  for (const s of chunks ?? []) {
    const c = get(s.path);
    c.uncovered = s.chunks.map((ch) => String(ch.n)).filter((n) => !c.pairsPerChunk.has(n));
  }
  return [...bySource.values()].sort((a, b) => cmp(a.source, b.source));
}

function generationSettings(pairs: DatasetPair[]) {
  const collect = (f: (p: DatasetPair) => string | undefined) => [...new Set(pairs.map(f).filter((x): x is string => !!x))].sort(cmp);
  const temperatures = collect((p) => p.temperature).sort((a, b) => Number(a) - Number(b) || cmp(a, b));
  return { variants: collect((p) => p.variant), temperatures, models: collect((p) => p.model) };
}

/** Code-point order: the same on every machine and locale. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const ENGLISH = new Set('the of and to in is a that for it as with was on be by are this which or from at an not what how who when where does do many much'.split(' '));

/** "en" when the text reads as English (a quarter of its words are common English words); undefined when unsure. */
export function guessLanguage(texts: readonly string[]): string | undefined {
  let all = 0;
  let english = 0;
  for (const t of texts.slice(0, 2000)) {
    for (const w of words(t)) {
      all++;
      if (ENGLISH.has(w)) english++;
    }
  }
  return all >= 20 && english / all >= 0.25 ? 'en' : undefined;
}
