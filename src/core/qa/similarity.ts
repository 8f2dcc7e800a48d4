/**
 * Text fingerprints for duplicate detection: normalised words, shingles, MinHash signatures and
 * locality-sensitive hashing bands. Pure and fast: a question is fingerprinted once and cached.
 */

/** Words too common to tell two questions apart. */
const STOPWORDS = new Set(
  'a an the of in on at to for from by with and or is are was were be been does do did what which who whom whose when where why how that this these those it its as if than then there their they them can may must should would will shall into under over about after before any each per not no'.split(' '),
);

/** Lower-case words (letters and digits), accents folded, punctuation dropped. */
export function words(text: string): string[] {
  // Most text is ASCII: skip Unicode normalisation for it.
  if (!/[\u0080-\uffff]/.test(text)) return text.toLowerCase().match(/[a-z0-9]+(?:['.][a-z0-9]+)*/g) ?? [];
  return (
    text
      .normalize('NFKD')
      .replace(/\p{M}+/gu, '')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+(?:['’.][\p{L}\p{N}]+)*/gu) ?? []
  );
}

/**
 * A distinct word, made once and shared by every text that has it: its text, its hash, and what
 * the checks ask of it, computed once per word instead of once per occurrence. The language
 * server reads every word of every pair of a large file several times (duplicates, copied runs,
 * the pair filters); through `tokens` each occurrence costs one table look-up.
 */
export class Word {
  /** fnv1a(text): the word's shingle. */
  readonly hash: number;
  /** A stopword of the duplicate checks. */
  readonly stop: boolean;
  /** Filled in by the pair filters (generation/filters.ts) the first time they read the word. */
  stem: string | undefined;
  filterFlags = -1;
  constructor(readonly text: string) {
    this.hash = fnv1a(text);
    this.stop = STOPWORDS.has(text);
  }
}

/** Words by text; bounded: the table starts over when full (a Word kept by a caller stays valid). */
let WORDS = new Map<string, Word>();
const MAX_WORDS = 200_000;

/** The shared Word of a (lower-cased) word. */
export function wordOf(text: string): Word {
  let w = WORDS.get(text);
  if (w) return w;
  if (WORDS.size >= MAX_WORDS) WORDS = new Map();
  WORDS.set(text, (w = new Word(text)));
  return w;
}

/** The words of a text as shared `Word`s: `words(text)`, each looked up once in the table of words. */
export function tokens(text: string): Word[] {
  const ws = words(text);
  const out = new Array<Word>(ws.length);
  for (let i = 0; i < ws.length; i++) out[i] = wordOf(ws[i]);
  return out;
}

/** The texts of words joined by spaces (what `words(text).join(' ')` gives). */
export function joinWords(ws: readonly Word[]): string {
  let s = '';
  for (let i = 0; i < ws.length; i++) s += i ? ' ' + ws[i].text : ws[i].text;
  return s;
}

/** The key under which two questions count as exactly the same: words only, case and punctuation ignored. */
export function exactKey(text: string): string {
  return words(text).join(' ');
}

/** 32-bit FNV-1a of a string. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function mix(x: number, seed: number): number {
  // murmur3's finaliser over x ^ seed: a cheap, well-spread family of hash functions.
  let h = (x ^ seed) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Shingles of a question: its content words, hashed; `ignore` (e.g. the context's keywords) left
 * out. Single words rather than word pairs: questions are short, and a paraphrase that reorders
 * the same words ("how many points is a Crown worth" / "a Crown is worth how many points") is
 * still the same question.
 */
export function shingles(text: string | readonly string[], ignore: ReadonlySet<string> = new Set()): Set<number> {
  const content = (typeof text === 'string' ? words(text) : text).filter((w) => !STOPWORDS.has(w) && !ignore.has(w));
  const out = new Set<number>();
  for (const w of content) out.add(fnv1a(w));
  return out;
}

/** Scratch space of shingleArray (a typed array per call costs more than the work itself). */
let SCRATCH = new Uint32Array(256);

/** The shingles of `tokens(text)` as a sorted array without repeats: lighter to keep for thousands of questions. */
export function shingleArray(ws: readonly Word[], ignore: ReadonlySet<string> = new Set()): Uint32Array {
  if (SCRATCH.length < ws.length) SCRATCH = new Uint32Array(ws.length * 2);
  const a = SCRATCH;
  let n = 0;
  for (const x of ws) {
    if (x.stop || (ignore.size && ignore.has(x.text))) continue;
    const h = x.hash;
    // Insertion into the sorted prefix (questions have a handful of words), skipping repeats.
    let j = n;
    while (j > 0 && a[j - 1] > h) j--;
    if (j > 0 && a[j - 1] === h) continue;
    a.copyWithin(j + 1, j, n);
    a[j] = h;
    n++;
  }
  return a.slice(0, n);
}

/** Jaccard similarity of two sorted shingle arrays (from shingleArray). */
export function jaccardSorted(a: Uint32Array, b: Uint32Array): number {
  if (a.length === 0 && b.length === 0) return 1;
  let i = 0;
  let j = 0;
  let inter = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      inter++;
      i++;
      j++;
    } else if (a[i] < b[j]) i++;
    else j++;
  }
  return inter / (a.length + b.length - inter);
}

export function jaccard(a: ReadonlySet<number>, b: ReadonlySet<number>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let inter = 0;
  const [small, large] = a.size < b.size ? [a, b] : [b, a];
  for (const x of small) if (large.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

/** LSH layout: BANDS bands of ROWS hashes; sets with Jaccard 0.75 share a band with probability 0.96 (0.8: 0.986). */
export const BANDS = 6;
export const ROWS = 3;
const SEEDS = Array.from({ length: BANDS * ROWS }, (_, i) => fnv1a(`mnemo-minhash-${i}`));

/** The MinHash signature (BANDS * ROWS values) of the set being banded: reused, not allocated per set. */
const SIG = new Uint32Array(BANDS * ROWS);

/**
 * The LSH band keys of a shingle set: its MinHash signature, then one number per band (the
 * band's hashes folded together). Two sets that share a key are near-duplicate candidates.
 */
export function bandsOf(set: Uint32Array): number[] {
  SIG.fill(0xffffffff);
  for (let k = 0; k < set.length; k++) {
    const x = set[k];
    for (let i = 0; i < SIG.length; i++) {
      const h = mix(x, SEEDS[i]);
      if (h < SIG[i]) SIG[i] = h;
    }
  }
  const keys: number[] = [];
  for (let b = 0; b < BANDS; b++) {
    let h = Math.imul(b + 1, 0x9e3779b1);
    for (let r = 0; r < ROWS; r++) h = mix(SIG[b * ROWS + r], h);
    // 30 bits: a small integer to V8, so the index's maps hash it cheaply.
    keys.push(h >>> 2);
  }
  return keys;
}

/** Multiplier of the rolling window hash (odd, so it is invertible mod 2^32). */
const P = 0x01000193;

/** P^n mod 2^32. */
function powP(n: number): number {
  let r = 1;
  for (let i = 0; i < n; i++) r = Math.imul(r, P);
  return r;
}

/**
 * Calls `f` with the hash of every n-word window, left to right: a polynomial rolling hash over
 * the words' own hashes, so each window costs O(1) and no string is built.
 */
function eachWindow(hs: Uint32Array, n: number, f: (h: number, i: number) => void, length = hs.length): void {
  if (length < n) return;
  const top = powP(n - 1);
  let h = 0;
  for (let k = 0; k < n; k++) h = (Math.imul(h, P) + hs[k]) | 0;
  f(h >>> 0, 0);
  for (let i = 1; i + n <= length; i++) {
    h = (Math.imul((h - Math.imul(hs[i - 1], top)) | 0, P) + hs[i + n - 1]) | 0;
    f(h >>> 0, i);
  }
}

function hashWords(ws: readonly string[]): Uint32Array {
  const out = new Uint32Array(ws.length);
  for (let i = 0; i < ws.length; i++) out[i] = fnv1a(ws[i]);
  return out;
}

/**
 * `hashWords(words(text))` without building the words: one pass over ASCII text (the common
 * case), lower-casing as it goes; other text takes the general path.
 */
export function wordHashes(text: string): Uint32Array {
  if (/[\u0080-\uffff]/.test(text)) return hashWords(words(text));
  const n = text.length;
  const out = new Uint32Array((n >> 1) + 1);
  let count = 0;
  let h = 0x811c9dc5;
  let inWord = false;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) {
      h = Math.imul(h ^ c, 0x01000193);
      inWord = true;
      continue;
    }
    // An apostrophe or a dot between two word characters joins them ("don't", "1.8"), as in words().
    if (inWord && (c === 39 || c === 46) && i + 1 < n && isAlnum(text.charCodeAt(i + 1))) {
      h = Math.imul(h ^ c, 0x01000193);
      continue;
    }
    if (inWord) {
      out[count++] = h >>> 0;
      h = 0x811c9dc5;
      inWord = false;
    }
  }
  if (inWord) out[count++] = h >>> 0;
  return out.subarray(0, count);
}

function isAlnum(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
}

/** The hashes of every n-word window of `ws`; used to find answers that copy a chunk. */
export function windowHashes(text: string, n: number): Set<number> {
  const out = new Set<number>();
  eachWindow(wordHashes(text), n, (h) => out.add(h));
  return out;
}

/** Scratch space for the hashes of an answer's words. */
let SCRATCH_HASHES = new Uint32Array(256);

/**
 * The longest run of consecutive words of `answer` that also appears, in order, in the chunk
 * (found through the chunk's n-word windows). Returns the run's word range when it is at least n words.
 */
export function longestCopiedRun(answer: readonly Word[], chunkWindows: ReadonlySet<number>, n: number): { start: number; length: number } | undefined {
  const length = answer.length;
  if (length < n) return undefined;
  if (SCRATCH_HASHES.length < length) SCRATCH_HASHES = new Uint32Array(length * 2);
  const hs = SCRATCH_HASHES;
  for (let i = 0; i < length; i++) hs[i] = answer[i].hash;
  let best: { start: number; length: number } | undefined;
  let runStart = -1;
  eachWindow(
    hs,
    n,
    (h, i) => {
      const hit = chunkWindows.has(h);
      if (hit && runStart < 0) runStart = i;
      if (!hit && runStart >= 0) {
        const len = i - 1 - runStart + n;
        if (!best || len > best.length) best = { start: runStart, length: len };
        runStart = -1;
      }
    },
    length,
  );
  if (runStart >= 0) {
    const len = length - runStart;
    if (!best || len > best.length) best = { start: runStart, length: len };
  }
  return best;
}
