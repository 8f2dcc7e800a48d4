/**
 * Pair filters: the measures that catch what small (and sometimes large) models get wrong once
 * their answer parses: pairs that echo the prompt's own example, answers not grounded in their
 * chunk, answers that say nothing checkable, and the same pair twice in one answer.
 *
 * Pure and editor-free. The sweep applies `filterPairs` to every parsed answer (a dropped pair is
 * journaled with its reason, like the parser's fragments); the language server reports the same
 * measures (`pairQuality`) on pairs already in .qa files.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { DEFAULT_FILTERS, type GenerationFilters } from '../project';
import { jaccard, shingleArray, shingles, tokens, words, type Word } from '../qa/similarity';
import type { ParsedPair } from './parse';
import { BUILTIN_PROMPTS, promptFile, renderPrompt } from './prompts';
import type { DroppedFragment, GeneratedPair } from './types';

export type FilterReason = 'example-echo' | 'ungrounded' | 'vacuous' | 'duplicate-in-answer';

export const FILTER_REASONS: readonly FilterReason[] = ['example-echo', 'ungrounded', 'vacuous', 'duplicate-in-answer'];

/** A pair counts as an echo of a template example at this Jaccard similarity (content words of question and answer, context words left out). */
export const ECHO_SIMILARITY = 0.6;

/** Words too common to carry a fact. Unlike the duplicate checks' list, "no", "not" and "only" stay: they change what an answer says. */
const STOPWORDS = new Set(
  'a an the of in on at to for from by with and or but is are was were be been being does do did doing has have had having what which who whom whose when where why how that this these those it its as if than then there their they them he she his her you your we our i me my can may must should would will shall could might into onto under over about after before any each per also such so both either neither just very too some own same other another more most much many'.split(
    ' ',
  ),
);

/** Words of answers that say nothing checkable ("as described in the document"); they are not the content that grounds an answer. */
const VACUOUS_WORDS = new Set(
  'document documents text passage chunk section sections rule rules rulebook described describes describe stated states state mentioned mentions mention explained explains explain outlined outlines specified specifies defined defines given provided above below following according refer refers see details detail information answer answers question questions'.split(
    ' ',
  ),
);

/** Words of questions about nothing in particular ("What are the rules of the game of Cairnrun?"). */
const GENERIC_QUESTION_WORDS = new Set('game games sport sports play match matches laws law general overview summary main key important thing things something everything purpose point kind'.split(' '));

const VACUOUS_PHRASES: RegExp[] = [
  /\b(?:as|is|are)\s+(?:described|stated|mentioned|explained|outlined|specified|defined|given|shown|set out|written)\s+(?:in|by|within)\s+(?:the\s+)?(?:document|text|passage|chunk|rules?|rulebook|section|source|above)/i,
  /\bit\s+(?:all\s+)?depends\b/i,
  /\b(?:refer|see)\s+(?:to\s+)?the\s+(?:document|text|passage|rules?|rulebook|section)\b/i,
  /\b(?:the\s+)?(?:document|text|passage|rules?|rulebook)\s+(?:does|do)\s+not\s+(?:say|specify|mention|state|explain)\b/i,
  /\b(?:is|are)\s+not\s+(?:mentioned|specified|stated|given|explained)\b/i,
  /^(?:n\/a|none|unknown|not applicable|see above)\.?$/i,
];

/** Number words an answer may use for a figure the chunk writes in digits (and back). */
const NUMBER_WORDS: Record<string, string> = {
  zero: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9', ten: '10', eleven: '11', twelve: '12', thirteen: '13', fourteen: '14', fifteen: '15', sixteen: '16', seventeen: '17', eighteen: '18', nineteen: '19', twenty: '20', thirty: '30', forty: '40', fifty: '50', hundred: '100', first: '1', second: '2', third: '3', fourth: '4', fifth: '5', sixth: '6', seventh: '7', eighth: '8', ninth: '9', tenth: '10', once: '1', twice: '2', half: '2', single: '1', double: '2',
};

/** Stems already computed: the language server stems the words of every pair of a file, and words repeat (bounded: cleared when full). */
const STEMS = new Map<string, string>();

/** A crude stem: enough to match "moves"/"moving"/"moved" and "penalties"/"penalty" without a dictionary. */
export function stem(word: string): string {
  let s = STEMS.get(word);
  if (s === undefined) {
    if (STEMS.size >= 100_000) STEMS.clear();
    STEMS.set(word, (s = stemWord(word)));
  }
  return s;
}

function stemWord(word: string): string {
  if (/^\d/.test(word)) return word;
  const n = NUMBER_WORDS[word];
  if (n) return n;
  let w = word.replace(/['’]s$/, '');
  if (w.length > 4) w = w.replace(/(?:ies|ied)$/, 'y').replace(/(?:ing|ed|es|s|ly|er|est|ment|ness|ion|ions)$/, '');
  return w.slice(0, 6);
}

/** Content words of a text: lower-cased, stopwords out. */
export function contentWords(text: string): string[] {
  return words(text).filter((w) => !STOPWORDS.has(w));
}

const STOP = 1;
const VACUOUS = 2;
const GENERIC = 4;

/** What the filters' word lists say of a word (STOP | VACUOUS | GENERIC), kept on the shared Word. */
function flagsOf(w: Word): number {
  if (w.filterFlags < 0) w.filterFlags = (STOPWORDS.has(w.text) ? STOP : 0) | (VACUOUS_WORDS.has(w.text) ? VACUOUS : 0) | (GENERIC_QUESTION_WORDS.has(w.text) ? GENERIC : 0);
  return w.filterFlags;
}

/** stem(w.text), kept on the shared Word. */
function stemOf(w: Word): string {
  return (w.stem ??= stem(w.text));
}

/** A pair's words as the measures read them, tokenized once for all of them (lazily: a pair may need only some). */
export class PairWords {
  private at?: Word[];
  private qc?: Word[];
  private ac?: Word[];
  /** `questionWords`: tokens(pair.question), when the caller has them already. */
  constructor(
    readonly pair: GeneratedPair,
    private qt?: Word[],
  ) {}
  get question(): readonly Word[] {
    return (this.qt ??= tokens(this.pair.question));
  }
  get answer(): readonly Word[] {
    return (this.at ??= tokens(this.pair.answer));
  }
  get questionContent(): Word[] {
    return (this.qc ??= this.question.filter((w) => !(flagsOf(w) & STOP)));
  }
  /** The answer's content words (trimming the answer changes none of its words). */
  get answerContent(): Word[] {
    return (this.ac ??= this.answer.filter((w) => !(flagsOf(w) & STOP)));
  }
}

/** An example pair of a prompt template, with what is compared. */
export interface ExamplePair extends GeneratedPair {
  question: string;
  answer: string;
}

/**
 * The example pairs a template shows the model: `Q:`/`A:` lines (a `Q:` line and the `A:` line
 * that follows it within three lines), JSON objects with "question"/"answer", and prose examples
 * of the form ask "…?" and answer "…". Placeholders are filled with the context first, since an
 * example may name it.
 */
export function templateExamples(template: string, context = ''): ExamplePair[] {
  const text = renderPrompt(template.replace(/<chunk>[\s\S]*?<\/chunk>/g, ''), { context, questions: 1, chunk: '', source: '' });
  const out: ExamplePair[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const q = /^\s*(?:\*\*)?Q(?:uestion)?\s*\d*\s*(?:\*\*)?\s*[:.)]\s*(?:\*\*)?\s*(.+)$/i.exec(lines[i]);
    if (!q) continue;
    for (let j = i + 1; j < Math.min(lines.length, i + 4); j++) {
      const a = /^\s*(?:\*\*)?A(?:nswer)?\s*\d*\s*(?:\*\*)?\s*[:.)]\s*(?:\*\*)?\s*(.+)$/i.exec(lines[j]);
      if (a) {
        out.push({ question: q[1].trim(), answer: a[1].trim() });
        i = j;
        break;
      }
    }
  }
  for (const m of text.matchAll(/"question"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"answer"\s*:\s*"((?:[^"\\]|\\.)*)"/gi)) out.push({ question: m[1], answer: m[2] });
  for (const m of text.matchAll(/\bask\s+["“]([^"”]+\?)["”][^"“]{0,40}?\banswer\s+["“]([^"”]+)["”]/gi)) out.push({ question: m[1], answer: m[2] });
  // Only real pairs: a template's rules may quote "Q: " alone.
  const seen = new Set<string>();
  return out.filter((p) => {
    const k = words(p.question).join(' ') + '\u0000' + words(p.answer).join(' ');
    if (!words(p.question).length || !words(p.answer).length || seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * The example pairs of a project's templates, for pairs already in .qa files: those of the
 * variant named by `@variant` (its prompts/<variant>.md, else the built-in), or of every template
 * (built-in and prompts/*.md) when the variant has none (hand-written or offline pairs).
 */
export function projectExamples(promptsDir: string, context: string): (variant?: string) => ExamplePair[] {
  const cache = new Map<string, ExamplePair[]>();
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  };
  const of = (variant: string): ExamplePair[] | undefined => {
    const text = (/^[\w.-]+$/.test(variant) && existsSync(promptFile(promptsDir, variant)) ? read(promptFile(promptsDir, variant)) : undefined) ?? BUILTIN_PROMPTS[variant];
    return text === undefined ? undefined : templateExamples(text, context);
  };
  const all = (): ExamplePair[] => {
    let files: string[] = [];
    try {
      files = readdirSync(promptsDir).filter((f) => f.endsWith('.md'));
    } catch {
      // No prompts/ folder: the built-ins only.
    }
    const variants = new Set([...Object.keys(BUILTIN_PROMPTS), ...files.map((f) => f.slice(0, -3))]);
    return [...variants].flatMap((v) => of(v) ?? []);
  };
  return (variant) => {
    const key = variant ?? '\u0000all';
    let list = cache.get(key);
    if (!list) cache.set(key, (list = (variant !== undefined ? of(variant) : undefined) ?? all()));
    return list;
  };
}

/** What the measures need to know about a pair's origin. */
export interface QualityContext {
  /** The chunk the pair was asked for (undefined: grounding is not measured). */
  chunk?: string;
  /** The context phrase (mnemo.json `context`). */
  context: string;
  /** Keywords a standalone question names (mnemo.json `keywords`). */
  keywords: string[];
  /** The template's example pairs (see templateExamples). */
  examples: ExamplePair[];
}

/** A prepared context: the chunk's stems and the examples' shingles, computed once for many pairs. */
export class PairJudge {
  private readonly ignore: Set<string>;
  private readonly chunkStems?: Set<string>;
  private readonly examples: { pair: ExamplePair; sh: Set<number>; foreign: Set<string>; names: Map<string, string> }[];
  /** Which examples have a shingle, a foreign stem, a name: a pair is compared through what it shares with them (one look-up per word, not per word and example). */
  private readonly byShingle = new Map<number, number[]>();
  private readonly byForeign = new Map<string, number[]>();
  private readonly named: boolean;

  constructor(readonly ctx: QualityContext) {
    this.ignore = new Set([...words(ctx.context), ...ctx.keywords.flatMap((k) => words(k))]);
    this.chunkStems = ctx.chunk !== undefined ? new Set(words(ctx.chunk).map(stem)) : undefined;
    this.examples = ctx.examples.map((pair) => {
      const ws = contentWords(`${pair.question} ${pair.answer}`).filter((w) => !this.ignore.has(w));
      // The example's words the chunk does not have ("ferry", "squares"): a pair that uses them took them from the example.
      const foreign = new Set(this.chunkStems ? ws.map(stem).filter((w) => !this.chunkStems!.has(w)) : []);
      // The example's own world: the names in its "In <context>, …" phrase ("Rivermark chess rules") that
      // the text does not have. A pair that names them is set in the example's world, not the text's.
      const names = new Map<string, string>();
      const world = /^\s*In ([^,]{2,80}),/i.exec(pair.question)?.[1] ?? '';
      for (const m of this.chunkStems ? world.matchAll(/\p{Lu}[\p{L}'’-]*/gu) : []) {
        const w = words(m[0])[0];
        if (w && !STOPWORDS.has(w) && !this.ignore.has(w) && !this.chunkStems!.has(stem(w))) names.set(w, m[0]);
      }
      return { pair, sh: shingles(ws), foreign, names };
    });
    this.examples.forEach((e, i) => {
      for (const x of e.sh) this.byShingle.set(x, [...(this.byShingle.get(x) ?? []), i]);
      for (const x of e.foreign) this.byForeign.set(x, [...(this.byForeign.get(x) ?? []), i]);
    });
    this.named = this.examples.some((e) => e.names.size > 0);
  }

  /**
   * The example the pair is most like, and how much: the Jaccard similarity of their content words
   * (context words left out), or, when the pair uses at least two of the example's words that its
   * chunk does not have, the share of the pair's words that come from the example (a reworded echo).
   * A pair that names one of the example's own names the chunk lacks ("Rivermark") counts as 1.
   */
  echo(pair: GeneratedPair, pw = new PairWords(pair)): { similarity: number; example?: ExamplePair; name?: string } {
    if (!this.examples.length) return { similarity: 0 };
    // The words of "question answer" are the question's then the answer's: no word spans the space between them.
    const ws: Word[] = [];
    for (const w of pw.questionContent) if (!this.ignore.has(w.text)) ws.push(w);
    for (const w of pw.answerContent) if (!this.ignore.has(w.text)) ws.push(w);
    // The same hashes as shingles(ws), sorted and without repeats.
    const sh = shingleArray(ws);
    // Per example: the shingles it shares with the pair, and the pair's (distinct) stems that are its foreign words.
    const shared = new Array<number>(this.examples.length).fill(0);
    const foreign = new Array<number>(this.examples.length).fill(0);
    for (const x of sh) {
      const list = this.byShingle.get(x);
      if (list) for (const i of list) shared[i]++;
    }
    if (this.byForeign.size) {
      let seen: Set<string> | undefined;
      for (const w of ws) {
        const x = stemOf(w);
        const list = this.byForeign.get(x);
        if (!list || seen?.has(x)) continue;
        (seen ??= new Set()).add(x);
        for (const i of list) foreign[i]++;
      }
    }
    let best: { similarity: number; example?: ExamplePair; name?: string } = { similarity: 0 };
    let named: { example: ExamplePair; name: string } | undefined;
    for (let i = 0; i < this.examples.length; i++) {
      const e = this.examples[i];
      const name = this.named ? ws.find((w) => e.names.has(w.text)) : undefined;
      if (name) named ??= { example: e.pair, name: e.names.get(name.text)! };
      // jaccard(sh, e.sh), from the shared count.
      let s = sh.length === 0 && e.sh.size === 0 ? 1 : shared[i] / (sh.length + e.sh.size - shared[i]);
      if (foreign[i] >= 2 && sh.length) s = Math.max(s, shared[i] / sh.length);
      if (s > best.similarity) best = { similarity: s, example: e.pair };
    }
    return best.similarity < ECHO_SIMILARITY && named ? { similarity: 1, ...named } : best;
  }

  /**
   * The share of the answer's content words and numbers that its chunk has (the context's words
   * count as grounded); undefined when the chunk is unknown or the answer has no content word.
   * Words are compared by a crude stem, so "moves" is found for "moving".
   */
  groundedness(pair: GeneratedPair, pw = new PairWords(pair)): { score: number; missing: string[] } | undefined {
    if (!this.chunkStems) return undefined;
    const content = pw.answerContent.filter((w) => !(flagsOf(w) & VACUOUS) && !this.ignore.has(w.text));
    if (!content.length) return undefined;
    const missing = content.filter((w) => !this.chunkStems!.has(stemOf(w)));
    return { score: 1 - missing.length / content.length, missing: [...new Set(missing.map((w) => w.text))] };
  }

  /** Why a pair says nothing checkable (its answer, or a question about nothing in particular), or undefined when it says something. */
  vacuous(pair: GeneratedPair, pw = new PairWords(pair)): string | undefined {
    const answer = pair.answer.trim();
    // A question that asks about nothing in particular has no checkable answer, however long the answer is.
    if (pw.questionContent.length && pw.questionContent.every((w) => flagsOf(w) & (VACUOUS | GENERIC) || this.ignore.has(w.text))) {
      return 'its question asks about nothing in particular';
    }
    const questionStems = new Set(pw.question.map(stemOf));
    // What the answer adds beyond the question, the context and the words of "as described in the text".
    const added = pw.answerContent.filter((w) => !this.ignore.has(w.text) && !(flagsOf(w) & VACUOUS) && !questionStems.has(stemOf(w)));
    // The phrases matter only for an answer that adds little.
    const phrase = added.length <= 2 ? VACUOUS_PHRASES.find((re) => re.test(answer)) : undefined;
    if (phrase && added.length <= 2) return `it says nothing checkable ("${phrase.exec(answer)![0]}")`;
    const all = pw.answerContent.length;
    if (all === 0) return 'it has no content word';
    // A short answer may well repeat a word of its question ("fill in the blank: … the _____ line is the Hearth" -> "Hearth").
    if (added.length === 0 && all >= 3) return 'it only restates the question';
    return undefined;
  }
}

/** The decisions of the filters for one pair (the first reason that applies, in FILTER_REASONS order, duplicates aside). */
export interface PairVerdict {
  reason: Exclude<FilterReason, 'duplicate-in-answer'>;
  detail: string;
}

/** Which single-pair filter (if any) drops a pair; `filters` says which are on. */
export function judgePair(judge: PairJudge, pair: GeneratedPair, filters: GenerationFilters = DEFAULT_FILTERS, pw = new PairWords(pair)): PairVerdict | undefined {
  if (filters.exampleEcho) {
    const e = judge.echo(pair, pw);
    if (e.example && e.name) return { reason: 'example-echo', detail: `it names "${e.name}", from the prompt's example "${e.example.question}"` };
    if (e.example && e.similarity >= ECHO_SIMILARITY) return { reason: 'example-echo', detail: `${Math.round(e.similarity * 100)}% like the prompt's example "${e.example.question}"` };
  }
  if (filters.vacuous) {
    const v = judge.vacuous(pair, pw);
    if (v) return { reason: 'vacuous', detail: v };
  }
  if (filters.ungrounded) {
    const g = judge.groundedness(pair, pw);
    if (g && g.score < filters.groundedness) return { reason: 'ungrounded', detail: `${Math.round(g.score * 100)}% of its content words are in the chunk (least ${Math.round(filters.groundedness * 100)}%); not found: ${g.missing.slice(0, 8).join(', ')}` };
  }
  return undefined;
}

/** A pair's key for "the same pair twice in one answer": its words, case and punctuation aside. */
function pairKey(p: GeneratedPair): string {
  return words(p.question).join(' ') + '\u0000' + words(p.answer).join(' ');
}

export interface FilterResult {
  pairs: ParsedPair[];
  /** The pairs dropped, as fragments ("Q: …\nA: …") with their reason and why. */
  dropped: DroppedFragment[];
}

/** Applies the filters that are on to the pairs of one answer. Kept pairs keep their order. */
export function filterPairs(pairs: ParsedPair[], judge: PairJudge, filters: GenerationFilters = DEFAULT_FILTERS): FilterResult {
  const kept: ParsedPair[] = [];
  const dropped: DroppedFragment[] = [];
  const seen = new Set<string>();
  const seenQuestions = new Map<string, Set<number>[]>();
  for (const p of pairs) {
    const text = `Q: ${p.question}\nA: ${p.answer}`;
    const verdict = judgePair(judge, p, filters);
    if (verdict) {
      dropped.push({ reason: verdict.reason, text, detail: verdict.detail });
      continue;
    }
    if (filters.duplicateInAnswer) {
      const key = pairKey(p);
      const q = words(p.question).join(' ');
      const ash = shingles(p.answer);
      // The same question with nearly the same answer is the same pair too.
      const near = seenQuestions.get(q)?.some((s) => jaccard(s, ash) >= 0.8);
      if (seen.has(key) || near) {
        dropped.push({ reason: 'duplicate-in-answer', text, detail: 'this answer already holds this pair' });
        continue;
      }
      seen.add(key);
      seenQuestions.set(q, [...(seenQuestions.get(q) ?? []), ash]);
    }
    kept.push(p);
  }
  return { pairs: kept, dropped };
}

/** True for drop reasons that come from the filters (a pair that parsed), not from the parser. */
export function isFilterReason(reason: string): reason is FilterReason {
  return (FILTER_REASONS as readonly string[]).includes(reason);
}
