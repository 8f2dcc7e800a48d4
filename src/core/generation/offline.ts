/**
 * The offline generator: no model, no key. Deterministic cloze questions (a key term or number of
 * a sentence blanked out) and reversed statements (the end of a sentence given, its start asked
 * for), so a new user can walk the whole workflow, and the demo runs offline. Low quality by
 * design: the files say so in their @generator.
 *
 * Its answers stay under the curation check's verbatim limit (DEFAULT_VERBATIM_WORDS): a reversed
 * statement asks for at most the first 11 words of a sentence, not the whole of it, so the
 * product's own output does not fill the Problems panel with "copies N consecutive words".
 */
import { DEFAULT_VERBATIM_WORDS } from '../qa/checks';
import { words as checkedWords } from '../qa/similarity';
import type { Chunk } from '../sources/types';
import type { GeneratedPair } from './types';

const STOP = new Set(
  'the a an and or but if then than that this these those there their they them it its is are was were be been being of to in on at by for with from as into onto over under after before when while which who whom whose what where why how not no nor only also may must shall should can could will would each every any all some such other both either neither'.split(' '),
);

/** Sentences of a chunk, markdown and whitespace removed, long enough to ask about. */
export function sentences(text: string): string[] {
  const prose = text
    .split(/\n\s*\n/)
    .map((para) =>
      para
        .split('\n')
        // Headings, table rows and rules are not sentences.
        .filter((l) => !/^\s*(#|\||[-=*_]{3,}\s*$)/.test(l))
        .map((l) => l.replace(/^\s*(?:[-*+•]|\d{1,3}[.)])\s+/, ''))
        .join(' '),
    )
    .join('\n')
    .replace(/\*\*|__|`/g, '')
    .replace(/(^|\s)[*_](\S[^*_]*\S)[*_](?=\s|[.,;:!?]|$)/g, '$1$2');
  return prose
    .split('\n')
    .flatMap((para) => para.replace(/\s+/g, ' ').split(/(?<=[.!?])\s+(?=[A-Z0-9"“(])/))
    .map((s) => s.trim())
    .filter((s) => s.split(' ').length >= 6 && /[.!?]$/.test(s));
}

/** The term to blank out: a number (with its unit), else the most specific capitalised term, else the longest uncommon word. */
export function keyTerm(sentence: string, contextWords: string[] = []): string | undefined {
  const number = /\b\d+(?:[.,]\d+)?(?:\s?(?:%|metres|meters|seconds|minutes|points|players|m|s|cm|kg|km|hours|days|years))?\b/.exec(sentence);
  if (number) return number[0];
  const ctx = new Set(contextWords.map((w) => w.toLowerCase()));
  const words = sentence.replace(/[^\p{L}\p{N}\s'-]/gu, ' ').split(/\s+/).filter(Boolean);
  // Capitalised words not at the start of the sentence, joined into runs ("Free Cast").
  const runs: string[] = [];
  let run: string[] = [];
  words.forEach((w, i) => {
    if (i > 0 && /^\p{Lu}/u.test(w) && !ctx.has(w.toLowerCase())) run.push(w);
    else if (run.length) {
      runs.push(run.join(' '));
      run = [];
    }
  });
  if (run.length) runs.push(run.join(' '));
  if (runs.length) return runs.sort((a, b) => b.length - a.length)[0];
  const plain = words.filter((w) => !STOP.has(w.toLowerCase()) && !ctx.has(w.toLowerCase()) && w.length > 4);
  return plain.sort((a, b) => b.length - a.length || a.localeCompare(b))[0];
}

/**
 * True when a question has the offline generator's shape: a cloze ("fill in the blank") or a
 * reversed statement (today's wording, and "which statement ends with" of files written before).
 * A pair a person wrote into an offline file has not, and is not counted as low quality.
 */
export function isOfflineQuestion(question: string): boolean {
  return /^In .+?, (?:fill in the blank:|how does the statement that ends|which statement ends with)/s.test(question);
}

/** The longest start a reversed statement asks for: one word under the verbatim check's limit. */
export const MAX_START_WORDS = DEFAULT_VERBATIM_WORDS - 1;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Cloze and reversed-statement pairs for one chunk, in sentence order. */
export function offlinePairs(chunk: Pick<Chunk, 'text'>, context: string, keywords: string[] = []): GeneratedPair[] {
  const out: GeneratedPair[] = [];
  const ctxWords = [...keywords, ...context.split(/\s+/)];
  for (const s of sentences(chunk.text)) {
    const term = keyTerm(s, ctxWords);
    if (term) {
      const blanked = s.replace(new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(term)}(?![\\p{L}\\p{N}])`, 'u'), '_____');
      if (blanked !== s) out.push({ question: `In ${context}, fill in the blank: "${blanked}"`, answer: term });
    }
    const words = s.split(' ');
    if (words.length >= 8) {
      // The start asked for is at most MAX_START_WORDS words: recalled, not recited.
      // Counted as the check counts ("non-infringing" is two words there).
      let cut = Math.min(Math.ceil(words.length / 2), MAX_START_WORDS);
      while (cut > 1 && checkedWords(words.slice(0, cut).join(' ')).length > MAX_START_WORDS) cut--;
      const start = words.slice(0, cut).join(' ').replace(/[,;:]$/, '');
      const end = words.slice(cut).join(' ');
      out.push({ question: `In ${context}, how does the statement that ends "…${end}" begin?`, answer: start });
    }
  }
  return out;
}
