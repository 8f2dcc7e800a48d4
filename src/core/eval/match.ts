/**
 * Deterministic grading: exact and contains matching.
 *
 * Both compare normalised text: lower case, accents removed, punctuation dropped (a decimal point
 * between digits is kept), possessives dropped ("Arbiter's" -> arbiter, "players'" -> players) and
 * other apostrophes inside words joined ("don't" -> dont), number words written as digits
 * ("twenty-five" -> 25, "sixth" -> 6th). Rule citations in parentheses ("(Rule 9.1)",
 * "(Rules 4.6, 6.5)") are left out of the reference: a model answering from memory is not asked to cite.
 *
 * - exact: the normalised answer is the normalised reference, or contains it word for word.
 * - contains (the key-terms grade): the answer has the reference's key facts.
 *   With an `@keys:` line above the pair (see keyFacts), those facts, every one of them.
 *   Otherwise key terms guessed from the reference: its numbers, the word naming a number's unit
 *   ("8 seconds" -> 8, second; abbreviations such as "m" or "cm" are not asked for), its capitalised
 *   words (names of things: "Cooling Bench", "Overstep"; sentence-initial words too, unless they are
 *   common function words), and "yes"/"no" when the reference starts with one (not when a "how
 *   many" question is answered "No more than five"). Asides in parentheses are left out. A
 *   reference with none of those uses its content words (4+ letters, not function words; shorter
 *   ones when that leaves none). Terms the question already contains do not count (echoing the
 *   question proves nothing). The numbers and the yes/no must all appear; of the other terms, two
 *   thirds (rounded up), so a short right answer that leaves out a detail passes while one that
 *   names a single term of several does not.
 *   Words match by stem (stem below: plurals, -ing, -ed, a final e), so "hearths" and "hearth"
 *   are one term.
 */
import type { MatchResult } from './types';

const UNITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
// "second" is left out: it is a unit of time more often than an ordinal.
const ORDINALS: Record<string, number> = {
  first: 1, third: 3, fourth: 4, fifth: 5, sixth: 6, seventh: 7, eighth: 8, ninth: 9, tenth: 10,
  eleventh: 11, twelfth: 12, thirteenth: 13, fourteenth: 14, fifteenth: 15, twentieth: 20,
};
const ORDINAL = (w: string): number | undefined => (Object.hasOwn(ORDINALS, w) ? ORDINALS[w] : undefined);
const NUMBER_WORDS = new Map<string, number>([...UNITS.map((w, i) => [w, i] as [string, number]), ...TENS.map((w, i) => [w, i * 10] as [string, number]).filter(([w]) => w)]);

/** Common English words that are never key terms, even capitalised at the start of a sentence. */
const FUNCTION_WORDS = new Set(
  (
    'a an the and or but nor if then than that this these those there their they them it its is are was were be been being ' +
    'has have had do does did done to of in on at by for from with without within into onto over under after before ' +
    'up down out off only just also not no yes each every both either neither all any some none one ones other another ' +
    'such same own so too very can could may might must shall should will would what which who whom whose when where why how ' +
    'he she his her we our you your i me my as about above below between during through while until again more most less ' +
    'least many much few several per via here once always never often'
  ).split(' '),
);

/** Rule citations in parentheses, left out of references before matching. */
const CITATION = /\(\s*(?:see\s+)?(?:rules?|§+|sections?|articles?)\s*[\d.,;\s&and-]*\)/gi;

export function stripCitations(text: string): string {
  return text.replace(CITATION, ' ').replace(/\s+/g, ' ').trim();
}

/** A word without its possessive ("arbiter's" -> arbiter) and other apostrophes ("don't" -> dont). */
function unApostrophe(word: string): string {
  const w = word.endsWith("'s") || word.endsWith('’s') ? word.slice(0, -2) : word;
  return w.replaceAll("'", '').replaceAll('’', '');
}

/** Normalised tokens of a text (see the file comment). */
export function normalizeTokens(text: string): string[] {
  const plain = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    // A decimal point or thousands separator between digits stays; other punctuation becomes a space.
    .replace(/(\d),(\d{3})\b/g, '$1$2')
    .replace(/(?<!\d)\.|\.(?!\d)/g, ' ')
    .replace(/[^\p{L}\p{N}.'’]+/gu, ' ')
    .trim();
  if (!plain) return [];
  const out: string[] = [];
  const words = plain.split(/\s+/).map(unApostrophe).filter(Boolean);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const ord = ORDINAL(w);
    if (ord !== undefined) {
      out.push(`${ord}th`);
      continue;
    }
    const n = NUMBER_WORDS.get(w);
    if (n === undefined) {
      out.push(/^\d+(st|nd|rd|th)$/.test(w) ? `${parseInt(w, 10)}th` : w);
      continue;
    }
    // "twenty five" / "twenty-five" (the hyphen is already a space) -> 25.
    let value = n;
    const next = words[i + 1];
    if (n >= 20 && n % 10 === 0 && next !== undefined) {
      const unit = NUMBER_WORDS.get(next);
      if (unit !== undefined && unit > 0 && unit < 10) {
        value += unit;
        i++;
      } else if ((ORDINAL(next) ?? 10) < 10) {
        out.push(`${value + ORDINAL(next)!}th`);
        i++;
        continue;
      }
    }
    if (words[i + 1] === 'hundred') {
      value *= 100;
      i++;
    }
    out.push(String(value));
  }
  return out;
}

export function normalizeText(text: string): string {
  return normalizeTokens(text).join(' ');
}

/**
 * A light suffix stemmer (plurals, -ing, -ed, a final e; never for numbers): "hearths" and
 * "hearth", "restarts" and "restarted", "placing" and "place" share a stem. Both sides of a match
 * are stemmed, so an odd stem ("rul") does no harm.
 */
export function stem(word: string): string {
  if (/^\d/.test(word)) return word;
  let w = word;
  if (w.length > 4 && w.endsWith('ies')) w = `${w.slice(0, -3)}y`;
  else if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (w.length > 4 && /(?:ss|x|z|ch|sh)es$/.test(w)) w = w.slice(0, -2);
  else if (w.length > 3 && w.endsWith('s') && !/(?:ss|us|is)$/.test(w)) w = w.slice(0, -1);
  let cut = false;
  if (w.length > 5 && w.endsWith('ing')) {
    w = w.slice(0, -3);
    cut = true;
  } else if (w.length > 4 && w.endsWith('ied')) {
    w = `${w.slice(0, -3)}y`;
  } else if (w.length > 4 && w.endsWith('ed') && !w.endsWith('eed')) {
    w = w.slice(0, -2);
    cut = true;
  }
  if (cut && /([b-df-hj-km-np-rtv-y])\1$/.test(w)) w = w.slice(0, -1);
  if (w.length > 3 && w.endsWith('e')) w = w.slice(0, -1);
  return w;
}

/**
 * The key facts of an `@keys:` line: each fact a list of alternatives (`/`-separated), each
 * alternative the normalised words that must all appear (function words left out, unless the
 * alternative has nothing else, e.g. "no"). Empty alternatives and facts are dropped.
 */
export function keyFacts(keys: readonly string[]): string[][][] {
  const facts: string[][][] = [];
  for (const fact of keys) {
    const alts: string[][] = [];
    for (const alt of fact.split('/')) {
      const tokens = normalizeTokens(stripCitations(alt));
      const content = tokens.filter((t) => !FUNCTION_WORDS.has(t));
      const words = content.length ? content : tokens;
      if (words.length) alts.push(words);
    }
    if (alts.length) facts.push(alts);
  }
  return facts;
}

/** A key fact as shown in verdicts: its alternatives' words, " / "-separated. */
function factLabel(alts: string[][]): string {
  return alts.map((a) => a.join(' ')).join(' / ');
}

/**
 * The key terms of a reference answer (normalised), in order, without duplicates. With `keys`
 * (an eval pair's `@keys:` facts), the facts themselves (see keyFacts), the heuristic unused.
 */
export function keyTerms(reference: string, question = '', keys?: readonly string[]): string[] {
  if (keys?.length) {
    const facts = keyFacts(keys);
    if (facts.length) return facts.map(factLabel);
  }
  return guessedTerms(reference, question).terms;
}

/** A question asking what, which, who, when, where, why or how (not a yes/no question). */
const WH_QUESTION = /\b(?:what|which|who|whom|whose|when|where|why|how)\b/i;

/** What kind a guessed key term is: numbers and yes/no must all appear, of words two thirds. */
type TermKind = 'number' | 'yes-no' | 'word';

/** The key terms guessed from a reference (see the file comment), with their kinds. */
function guessedTerms(reference: string, question: string): { terms: string[]; kinds: TermKind[] } {
  // Asides in parentheses ("A Long Gate (thrown with both feet beyond the Long Line)") are details, not the answer.
  const full = stripCitations(reference);
  const aside = full.replace(/\([^()]*\)/g, ' ').replace(/\s+/g, ' ').trim();
  const ref = normalizeTokens(aside).length ? aside : full;
  const inQuestion = new Set(normalizeTokens(question).map(stem));
  const terms: string[] = [];
  const kinds: TermKind[] = [];
  const stems = new Set<string>();
  const add = (t: string, kind: TermKind) => {
    const s = stem(t);
    if (!t || inQuestion.has(s) || stems.has(s)) return;
    stems.add(s);
    terms.push(t);
    kinds.push(kind);
  };
  const isUnit = (t: string) => /^\p{L}+$/u.test(t) && t.length >= 3 && !FUNCTION_WORDS.has(t) && !NUMBER_WORDS.has(t) && ORDINAL(t) === undefined;
  // "Yes"/"No" answers a yes/no question; "No more than five" answers "how many".
  const yesNo = /^\s*(yes|no)\b/i.exec(ref);
  const thenWord = /^\s*(?:yes|no)\s+/i.exec(ref);
  if (yesNo && !(thenWord && /^\p{L}/u.test(ref.slice(thenWord[0].length)) && WH_QUESTION.test(question))) add(yesNo[1].toLowerCase(), 'yes-no');
  const floor = terms.length;
  // Capitalised words and numbers, read from the raw text (case is lost after normalising).
  const raws = [...ref.matchAll(/[\p{L}\p{N}][\p{L}\p{N}.'’-]*/gu)].map((m) => m[0].replace(/[.'’-]+$/, ''));
  for (let i = 0; i < raws.length; i++) {
    const raw = raws[i];
    const lower = raw.toLowerCase();
    // "one" and "zero" spelled out read as words more often than as quantities ("one short").
    const isNumber = /\d/.test(raw) || (NUMBER_WORDS.has(lower) && lower !== 'one' && lower !== 'zero') || ORDINAL(lower) !== undefined;
    if (!isNumber && NUMBER_WORDS.has(lower)) continue;
    const isCapital = /^\p{Lu}/u.test(raw);
    if (!isNumber && !isCapital) continue;
    const tokens = normalizeTokens(raw);
    for (const t of tokens) {
      if (!isNumber) {
        if (!FUNCTION_WORDS.has(t)) add(t, 'word');
      } else if (/\d/.test(t)) add(t, 'number');
      else if (isUnit(t)) add(t, 'word'); // "60-second" -> 60, second
    }
    // The unit a number counts: the next word ("8 seconds"), when it is a word of 3+ letters.
    if (isNumber && tokens.some((t) => /\d/.test(t)) && i + 1 < raws.length) {
      const next = normalizeTokens(raws[i + 1]);
      if (next.length === 1 && isUnit(next[0])) add(next[0], 'word');
    }
  }
  if (terms.length > floor) return { terms, kinds };
  for (const t of normalizeTokens(ref)) if (t.length >= 4 && !FUNCTION_WORDS.has(t)) add(t, 'word');
  // Nothing of 4+ letters ("The yen"): the shorter content words.
  if (terms.length === floor) for (const t of normalizeTokens(ref)) if (!FUNCTION_WORDS.has(t)) add(t, 'word');
  return { terms, kinds };
}

/**
 * Exact and contains matching of an answer against a reference. With `keys` (the pair's `@keys:`
 * facts), contains = every fact has an alternative whose words all appear in the answer.
 */
export function matchAnswer(answer: string, reference: string, question = '', keys?: readonly string[]): MatchResult {
  const ans = normalizeTokens(answer);
  const ref = normalizeTokens(stripCitations(reference));
  const a = ` ${ans.join(' ')} `;
  const exact = ref.length > 0 && a.includes(` ${ref.join(' ')} `);
  const have = new Set(ans.map(stem));
  const facts = keys?.length ? keyFacts(keys) : [];
  if (facts.length) {
    const terms = facts.map(factLabel);
    const missing = facts.filter((alts) => !alts.some((words) => words.every((w) => have.has(stem(w))))).map(factLabel);
    return { exact, contains: missing.length === 0, terms, missing, keys: true };
  }
  const { terms, kinds } = guessedTerms(reference, question);
  if (!terms.length) return { exact, contains: exact, terms, missing: [] };
  const missing: string[] = [];
  let mustMissing = 0;
  let words = 0;
  let wordsFound = 0;
  terms.forEach((t, i) => {
    const found = have.has(stem(t));
    if (!found) missing.push(t);
    if (kinds[i] === 'word') {
      words++;
      if (found) wordsFound++;
    } else if (!found) mustMissing++;
  });
  const needed = terms.length - words + Math.ceil((2 * words) / 3);
  return { exact, contains: mustMissing === 0 && wordsFound >= Math.ceil((2 * words) / 3), terms, missing, needed };
}

/**
 * The key-terms verdict of one answer, as the "contains" matcher grades it (matcherVerdict): false
 * for an empty answer or reference. src/python/grading.py's `grade` is a port of this function,
 * kept equal by the golden table test/fixtures/grading-cases.json.
 */
export function gradeAnswer(answer: string, reference: string, question = '', keys?: readonly string[]): boolean {
  if (!reference || !answer.trim()) return false;
  return matchAnswer(answer, reference, question, keys).contains;
}
