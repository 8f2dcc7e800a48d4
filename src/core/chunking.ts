/**
 * Token-aware chunking: a text is cut into chunks of at most `tokens` tokens, on paragraph ends
 * where possible, else sentence ends, else word boundaries, else between two tokens.
 *
 * Invariants (checked by property tests):
 * - the chunks' texts concatenated are the text, character for character;
 * - token ranges are contiguous, start at 0 and end at the text's token count, and each range's
 *   length is exactly the number of tokens the whole-text encoding spends on that chunk's text;
 * - a chunk's id is a hash of its text, so the same text always gets the same ids.
 *
 * Speed: the text is encoded once, in pieces. BPE merges never cross the boundaries of the
 * tokenizer's pre-tokenization pieces (its split regex), so we only cut where every piece must
 * end whatever follows: before a space that follows a non-space ("word| next"), and after a
 * newline that precedes a non-space ("line\n|Next"). Those boundaries are stable for both
 * o200k_base and cl100k_base: no piece of their split regexes holds a space other than at its
 * start (or in an all-whitespace piece), and a piece can run past a newline only through more
 * whitespace (or a '/' after punctuation in o200k_base, which we exclude). Encoding the pieces
 * between such boundaries one by one therefore gives exactly the tokens of the whole text, and
 * the sum of the chunks' token counts equals `tokenizer.count(text)` (asserted in tests and in
 * bench/chunking.ts).
 */
import { createHash } from 'node:crypto';
import type { Chunk } from './sources/types';
import type { Tokenizer } from './tokens';

export const DEFAULT_CHUNK_TOKENS = 500;

export interface ChunkOptions {
  /** Most tokens in a chunk (mnemo.json `chunking.tokens`). */
  tokens?: number;
  /**
   * A better boundary (paragraph over sentence over word) is taken only if the chunk keeps at
   * least this fraction of `tokens`; default 0.5.
   */
  minFraction?: number;
  /** Character offset where each page starts in the text, in order (page numbers 1, 2, ...). */
  pageStarts?: number[];
}

export interface ChunkedText {
  /** Tokens in the whole text (equals the sum of the chunks' token counts). */
  tokens: number;
  chunks: Chunk[];
}

/** How good a place to cut is. */
export const Cut = { Hard: 0, Word: 1, Sentence: 2, Paragraph: 3, End: 4 } as const;

const SPACE = 0x20;
const NEWLINE = 0x0a;
const SLASH = 0x2f;
// The same whitespace as the tokenizers' `\s` (JavaScript's definition).
const WS = /\s/;
const LOWER = /\p{Ll}/u;
const CLAUSE = /^(?:\d+(?:\.\d+)*\.?|[-•–*]|\(?[a-z]\)|Section|Chapter|Article|Rule)\s/;

function isWs(code: number): boolean {
  // Fast path for ASCII; WS.test for the rest (NBSP, line separators, ...).
  if (code === SPACE || (code >= 0x09 && code <= 0x0d)) return true;
  if (code < 0x80) return false;
  return WS.test(String.fromCharCode(code));
}

function isSentenceEnd(text: string, before: number): boolean {
  // Skip closing quotes and brackets: `end." Next`, `(see 2.1.) Next`.
  let i = before;
  while (i >= 0 && '"\')]’”»'.includes(text[i])) i--;
  if (i < 0) return false;
  const c = text[i];
  if (c === '!' || c === '?' || c === '…') return true;
  if (c !== '.') return false;
  // "e.g." or "No." or a single initial ("J.") are not sentence ends; "2.1." heads a clause, also not.
  let w = i - 1;
  while (w >= 0 && !isWs(text.charCodeAt(w))) w--;
  const word = text.slice(w + 1, i);
  if (/^[A-Za-z]$/.test(word)) return false;
  if (/^(e\.g|i\.e|etc|vs|cf|no|nos|fig|figs|art|sec|p|pp|vol|mr|mrs|ms|dr|st)$/i.test(word)) return false;
  return true;
}

/**
 * Every stable cut position in `text` with its quality, in increasing order. Position 0 is
 * never a cut; text.length is always the last one (as Cut.End) when the text is not empty.
 */
export function findCuts(text: string): { at: Int32Array; kind: Uint8Array; count: number } {
  const n = text.length;
  // At most one cut per character.
  const at = new Int32Array(n + 1);
  const kind = new Uint8Array(n + 1);
  let count = 0;
  for (let p = 1; p < n; p++) {
    const c = text.charCodeAt(p);
    const prev = text.charCodeAt(p - 1);
    if (c === SPACE && !isWs(prev)) {
      at[count] = p;
      kind[count++] = isSentenceEnd(text, p - 1) ? Cut.Sentence : Cut.Word;
    } else if (prev === NEWLINE && c !== SLASH && !isWs(c)) {
      // Look back over the whitespace run: two newlines make a blank line, a paragraph end.
      let q = p - 1;
      let newlines = 0;
      while (q >= 0 && isWs(text.charCodeAt(q))) {
        if (text.charCodeAt(q) === NEWLINE) newlines++;
        q--;
      }
      // A blank line before a lowercase word is a sentence running on across a page break.
      const sentence = q >= 0 && isSentenceEnd(text, q);
      // PDF text has no blank lines: a finished sentence followed by a numbered clause or a
      // bullet ("2.3 The ...", "- ...") at the start of the next line is a paragraph end too.
      const paragraph = newlines >= 2 ? !LOWER.test(text[p]) : sentence && CLAUSE.test(text.slice(p, p + 16));
      at[count] = p;
      kind[count++] = paragraph ? Cut.Paragraph : sentence ? Cut.Sentence : Cut.Word;
    }
  }
  if (n > 0) {
    at[count] = n;
    kind[count++] = Cut.End;
  }
  return { at, kind, count };
}

/** The stable id of a chunk's text. */
export function chunkId(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

interface Units {
  end: number[];
  tokens: number[];
  kind: number[];
}

/**
 * Splits `text` into units no longer than `max` tokens that end at sentence or better
 * boundaries, falling back to word boundaries and then to token cuts inside over-long sentences.
 */
function measureUnits(text: string, tokenizer: Tokenizer, max: number): Units {
  const cuts = findCuts(text);
  const units: Units = { end: [], tokens: [], kind: [] };
  let start = 0;
  let wordsFrom = 0; // index into cuts of the first cut after `start`
  for (let i = 0; i < cuts.count; i++) {
    const k = cuts.kind[i];
    if (k < Cut.Sentence) continue;
    const end = cuts.at[i];
    const piece = text.slice(start, end);
    const count = tokenizer.count(piece);
    if (count <= max) {
      units.end.push(end);
      units.tokens.push(count);
      units.kind.push(k);
    } else {
      // An over-long sentence: measure it word by word.
      let wStart = start;
      for (let j = wordsFrom; j <= i; j++) {
        const wEnd = cuts.at[j];
        const wKind = j === i ? k : cuts.kind[j];
        const word = text.slice(wStart, wEnd);
        const wCount = tokenizer.count(word);
        if (wCount <= max) {
          units.end.push(wEnd);
          units.tokens.push(wCount);
          units.kind.push(wKind);
        } else {
          hardSplit(text, wStart, wEnd, wKind, tokenizer, max, units);
        }
        wStart = wEnd;
      }
    }
    start = end;
    wordsFrom = i + 1;
  }
  return units;
}

/** Cuts a run with no usable boundary between tokens, never inside a character. */
function hardSplit(text: string, from: number, to: number, lastKind: number, tokenizer: Tokenizer, max: number, units: Units): void {
  const run = text.slice(from, to);
  const toks = tokenizer.encode(run);
  let t = 0;
  let pos = 0;
  // The text of tokens [t, e) if cutting after token e-1 splits no character, else undefined.
  // Tokens are bytes and one can end inside a character; the tokenizer's decode() then ends in
  // U+FFFD, which the text does not have there. Where the text does have a U+FFFD (PDF text
  // often does), the rest of the run is decoded too: a cut inside a character leaves stray bytes
  // that decode to more U+FFFDs than the text has, a clean one gives the text back exactly.
  // `t` is always at a character boundary.
  const cleanCut = (e: number): string | undefined => {
    const s = tokenizer.decode(toks.slice(t, e));
    if (e === toks.length) return pos + s.length === run.length && run.startsWith(s, pos) ? s : undefined;
    if (!s || !run.startsWith(s, pos)) return undefined;
    return !s.endsWith('\ufffd') || tokenizer.decode(toks.slice(e)) === run.slice(pos + s.length) ? s : undefined;
  };
  while (t < toks.length) {
    let e = Math.min(t + max, toks.length);
    let s = cleanCut(e);
    for (let k = e - 1; s === undefined && k > t; k--) if ((s = cleanCut(k)) !== undefined) e = k;
    // One character takes more than `max` tokens (a tiny `max`): cut after it, above the limit.
    for (let k = Math.min(t + max, toks.length) + 1; s === undefined && k <= toks.length; k++) if ((s = cleanCut(k)) !== undefined) e = k;
    if (s === undefined) {
      // Unreachable for well-formed text (the whole run always decodes to itself); keep every token anyway.
      s = run.slice(pos);
      e = toks.length;
    }
    pos += s.length;
    units.end.push(from + pos);
    units.tokens.push(e - t);
    units.kind.push(e === toks.length ? lastKind : Cut.Hard);
    t = e;
  }
}

/** Chunks `text`; see the module comment for the guarantees. */
export function chunkText(text: string, tokenizer: Tokenizer, options: ChunkOptions = {}): ChunkedText {
  const max = Math.max(1, Math.floor(options.tokens ?? DEFAULT_CHUNK_TOKENS));
  const min = Math.floor(max * (options.minFraction ?? 0.5));
  const units = measureUnits(text, tokenizer, max);
  const chunks: Chunk[] = [];
  const pageStarts = options.pageStarts ?? [0];
  let tokenPos = 0;
  let charPos = 0;
  let first = 0; // first unit of the chunk being filled
  let acc = 0; // its tokens so far
  const emit = (last: number): void => {
    let tokens = 0;
    for (let u = first; u <= last; u++) tokens += units.tokens[u];
    const charEnd = units.end[last];
    const chunkText = text.slice(charPos, charEnd);
    chunks.push({
      n: chunks.length + 1,
      id: chunkId(chunkText),
      text: chunkText,
      tokenStart: tokenPos,
      tokenEnd: tokenPos + tokens,
      charStart: charPos,
      charEnd,
      page: pageAt(pageStarts, firstNonSpace(text, charPos, charEnd)),
    });
    tokenPos += tokens;
    charPos = charEnd;
    first = last + 1;
  };
  for (let u = 0; u < units.end.length; ) {
    if (acc > 0 && acc + units.tokens[u] > max) {
      // Full: cut at the best boundary that keeps the chunk at least `min` tokens, latest first.
      let best = u - 1;
      let bestKind = -1;
      let sum = acc;
      for (let k = u - 1; k >= first; k--) {
        if (sum < min && k < u - 1) break;
        if (units.kind[k] > bestKind) {
          best = k;
          bestKind = units.kind[k];
        }
        sum -= units.tokens[k];
      }
      emit(best);
      acc = 0;
      for (let k = first; k < u; k++) acc += units.tokens[k];
      continue;
    }
    acc += units.tokens[u];
    u++;
  }
  if (first < units.end.length) emit(units.end.length - 1);
  return { tokens: tokenPos, chunks };
}

function firstNonSpace(text: string, from: number, to: number): number {
  let i = from;
  while (i < to && isWs(text.charCodeAt(i))) i++;
  return i < to ? i : from;
}

/** 1-based page holding character `offset`, given each page's start offset. */
export function pageAt(pageStarts: number[], offset: number): number {
  let lo = 0;
  let hi = pageStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (pageStarts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}
