/**
 * Writes the golden table of the key-terms grade, test/fixtures/grading-cases.json: answers,
 * references, questions (and `@keys` facts) with the TS verdict and key terms. Both
 * test/unit/eval-grading.test.ts (TS) and src/python/tests/test_grading.py (the Python port) check
 * every row, so the two sides stay equal.
 *
 *   node --import tsx test/unit/eval-grading-golden.ts
 *
 * Rerun it after changing the rule in src/core/eval/match.ts (the inputs are the same each time:
 * a seeded generator). The inputs: the public eval set's pairs (examples/cairnrun/eval/questions.qa)
 * x real model answers (test/fixtures/smollm2-answers.json: SmolLM2-135M-Instruct; and the recorded
 * generator's replies, ../shared/data/cairnrun/generator-replies.jsonl, when present) x perturbations
 * of the reference (numbers as words, possessives, plurals, accents, dropped words, punctuation,
 * Unicode look-alikes), plus hand-written edge cases.
 */
import { mulberry32 } from '../../src/core/dataset/random';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEvalSet } from '../../src/core/eval/questions';
import { gradeAnswer, keyTerms } from '../../src/core/eval/match';

const ROOT = join(__dirname, '..', '..');
export const GOLDEN_PATH = join(ROOT, 'test', 'fixtures', 'grading-cases.json');

export interface GoldenInput {
  answer: string;
  reference: string;
  question: string;
  keys?: string[];
}
export interface GoldenCase extends GoldenInput {
  grade: boolean;
  terms: string[];
}

/** What the TS side says of one input: the row of the table. */
export function goldenRow(c: GoldenInput): GoldenCase {
  return { ...c, grade: gradeAnswer(c.answer, c.reference, c.question, c.keys), terms: keyTerms(c.reference, c.question, c.keys) };
}

const WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
function spell(n: number): string {
  if (n < 20) return WORDS[n];
  if (n < 100) return TENS[Math.floor(n / 10)] + (n % 10 ? `-${WORDS[n % 10]}` : '');
  return String(n);
}

/** Answer-side perturbations of a reference: each a plausible way a model words the same (or a wrong) answer. */
function perturbations(ref: string, question: string, rnd: () => number): string[] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const words = ref.split(/\s+/).filter(Boolean);
  const dropCitation = ref.replace(/\s*\((?:see\s+)?rules?[^)]*\)/gi, '');
  const out = [
    ref,
    dropCitation,
    ref.toLowerCase(),
    ref.toUpperCase(),
    ref.replace(/\b\d+\b/g, (d) => spell(Number(d))),
    ref.replace(/\b\d+\b/g, (d) => String(Number(d) + 1)),
    ref.replace(/\b(one|two|three|four|five|six|seven|eight|nine|ten|twelve)\b/gi, (w) => String(WORDS.indexOf(w.toLowerCase()))),
    words.filter((_, i) => i !== Math.floor(rnd() * words.length)).join(' '),
    words.filter(() => rnd() > 0.3).join(' '),
    [...words].sort(() => rnd() - 0.5).join(' '),
    dropCitation.split(/[;,:]/)[0],
    `The answer is ${dropCitation.charAt(0).toLowerCase()}${dropCitation.slice(1)}`,
    `I think it is ${pick(words)}.`,
    question,
    ref.replace(/\b(\p{Lu}\p{Ll}+)\b/u, "$1's"),
    ref.replace(/\b(\p{Lu}\p{Ll}+)\b/u, '$1s'),
    ref.replace(/(\p{Ll}{3,})s\b/u, '$1'),
    ref.replace(/(\p{Ll}{3,})\b/u, '$1es'),
    ref.replace(/e/, 'é').replace(/a/, 'à').replace(/o/, 'ö'),
    ref.replace(/ /g, '\u00a0'),
    ref.replace(/'/g, '’').replace(/ /, ' — '),
    ref.replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d))),
    ref.replace(/fi/g, 'ﬁ').replace(/(\d)/, '$1²'),
    ref.replace(/\b(\d{1,2})\b/, '$1th'),
    ref.replace(/,/g, ' ,').replace(/\./g, ' . '),
    `${ref} constructor toString __proto__`,
    keyTerms(ref, question).join(' '),
    keyTerms(ref, question).slice(1).join(', '),
    '',
    '   ',
  ];
  return [...new Set(out)];
}

/** The A lines of a model's raw `Q:/A:` reply. */
function answersOf(raw: string): string[] {
  return raw.split('\n').filter((l) => l.startsWith('A:')).map((l) => l.slice(2).trim()).filter(Boolean);
}

const EDGE: GoldenInput[] = [
  { answer: 'Twenty-five', reference: '25', question: '' },
  { answer: 'twenty five', reference: '25 points', question: 'How many points?' },
  { answer: 'the twenty-first', reference: '21st', question: '' },
  { answer: 'three hundred', reference: '300', question: '' },
  { answer: '1,000 m', reference: '1000 m', question: '' },
  { answer: '3.5', reference: 'It is 3.5 m.', question: '' },
  { answer: 'third', reference: 'The 3rd watch', question: '' },
  { answer: 'Yes.', reference: 'Yes, always.', question: 'Is it allowed?' },
  { answer: 'No', reference: 'Yes, always.', question: 'Is it allowed?' },
  { answer: 'constructor', reference: 'The constructor of it', question: '' },
  { answer: 'İstanbul', reference: 'Istanbul', question: '' },
  { answer: 'STRASSE', reference: 'Straße', question: '' },
  { answer: 'Ｔｏｋｙｏ', reference: 'Tokyo', question: '' },
  { answer: 'café', reference: 'Cafe', question: '' },
  { answer: 'ΟΔΟΣ', reference: 'οδος', question: '' },
  { answer: 'naïve résumé', reference: 'Naive resume', question: '' },
  { answer: '𝐏𝐚𝐫𝐢𝐬', reference: 'Paris', question: '' },
  { answer: '北京', reference: '北京', question: '' },
  { answer: '𠀀𠀁', reference: '𠀀𠀁 word', question: '' },
  { answer: 'Arbiter', reference: "An Arbiter's Drop", question: '' },
  { answer: 'Arbiter Drop', reference: "An Arbiter's Drop", question: '' },
  { answer: 'the hearth', reference: 'Both Hearths and the hearth', question: '' },
  { answer: 'rules', reference: 'the rule', question: '' },
  { answer: 'boxes', reference: 'a box', question: '' },
  { answer: '12th', reference: 'twelfth', question: '' },
  { answer: '0012th', reference: '12th', question: '' },
  { answer: '99999999999999999999999th', reference: '99999999999999999999999th', question: '' },
  { answer: 'x', reference: '(Rule 9.1)', question: '' },
  { answer: 'answer', reference: '(see Rules 4.6, 6.5 and 7.1)', question: '' },
  { answer: 'five', reference: 'Five', question: 'How many?' },
  { answer: 'one', reference: 'One', question: '' },
  { answer: 'zero', reference: 'zero point', question: '' },
  { answer: 'the second', reference: 'Second', question: '' },
  { answer: '8 seconds', reference: 'eight seconds', question: '' },
  { answer: "It's the Cooling Bench", reference: 'The Cooling Bench.', question: '' },
  { answer: 'a\u2028b', reference: 'A b', question: '' },
  { answer: '\ufeff\u3000', reference: 'x', question: '' },
  { answer: 'ſtone', reference: 'stone', question: '' },
  { answer: 'K', reference: 'K', question: '' },
  { answer: 'dogs’', reference: "the dogs' home", question: '' },
  { answer: 'don’t', reference: "don't", question: '' },
  { answer: 'Stop', reference: 'stopped', question: '' },
  { answer: 'placing', reference: 'place', question: '' },
  { answer: 'played', reference: 'plays', question: '' },
  { answer: 'studies', reference: 'study', question: '' },
  { answer: 'crossing', reference: 'cross', question: '' },
  { answer: 'classes', reference: 'class', question: '' },
  { answer: 'The Japanese yen', reference: 'The yen', question: 'What is the currency of Japan?' },
  { answer: 'Yes', reference: 'Yes.', question: 'Yes or no?' },
  { answer: 'five', reference: 'No more than five', question: 'How many steps?' },
  { answer: 'five', reference: 'No more than five', question: 'Is it five?' },
  { answer: 'no', reference: 'YEſ it is', question: 'How is it?' },
  { answer: 'no', reference: 'No\u00a0way', question: 'what?' },
  { answer: 'Long Gate', reference: 'A Long Gate (thrown beyond the Long Line)', question: 'What is the name of the Gate?' },
  { answer: 'it', reference: '(only an aside)', question: '' },
  { answer: '8 seconds, then an Arbiter drop in the hearth', reference: "After eight seconds outside both Hearths, play restarts with an Arbiter's Drop.", question: '' },
];

export function goldenInputs(): GoldenInput[] {
  const rnd = mulberry32(18);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const qa = parseEvalSet(readFileSync(join(ROOT, 'examples', 'cairnrun', 'eval', 'questions.qa'), 'utf8'), 'questions.qa');
  const pairs = qa.questions.filter((q) => q.reference).map((q) => ({ question: q.question, reference: q.reference!, keys: q.keys }));
  const smol = (JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'smollm2-answers.json'), 'utf8')) as { answers: Array<{ raw: string }> }).answers.flatMap((a) => answersOf(a.raw));
  const genPath = join(ROOT, '..', 'shared', 'data', 'cairnrun', 'generator-replies.jsonl');
  const generated: Array<{ question: string; reference: string }> = [];
  if (existsSync(genPath)) {
    for (const line of readFileSync(genPath, 'utf8').split('\n').filter(Boolean)) {
      const text = (JSON.parse(line) as { text: string }).text;
      const blocks = text.split(/\n(?=Q:)/);
      for (const b of blocks) {
        const m = /^Q:\s*(.*)\nA:\s*([\s\S]*)$/.exec(b.trim());
        if (m) generated.push({ question: m[1].trim(), reference: m[2].trim().replace(/\n+/g, ' ') });
      }
    }
  } else {
    throw new Error(`${genPath} is missing: the golden table's inputs include the recorded generator's replies.`);
  }
  const realAnswers = [...smol, ...generated.map((g) => g.reference)];
  const cases: GoldenInput[] = [...EDGE];
  const push = (c: GoldenInput) => cases.push(c.keys ? c : { answer: c.answer, reference: c.reference, question: c.question });
  for (const p of pairs) {
    for (const answer of perturbations(p.reference, p.question, rnd)) push({ answer, reference: p.reference, question: p.question, keys: p.keys });
    for (let i = 0; i < 40; i++) push({ answer: pick(realAnswers), reference: p.reference, question: p.question, keys: p.keys });
    for (const other of pairs) if (other !== p && rnd() < 0.3) push({ answer: other.reference, reference: p.reference, question: p.question, keys: p.keys });
  }
  for (let i = 0; i < 400; i++) {
    const g = pick(generated);
    const ps = perturbations(g.reference, g.question, rnd);
    push({ answer: pick(ps), reference: g.reference, question: g.question });
    push({ answer: pick(realAnswers), reference: g.reference, question: g.question });
    push({ answer: pick(ps), reference: g.reference, question: '' });
  }
  // Perturbed references (Unicode digits, look-alikes, odd spaces on the reference's side too).
  for (const p of pairs) {
    for (const reference of perturbations(p.reference, p.question, rnd)) if (reference.trim()) push({ answer: p.reference, reference, question: p.question });
  }
  for (const reference of ['５ points', '(ſee Rule 9.1) Stone', '(see\u00a0Rule 9.1) x', 'Drop\u2028', '\u1680Yes, it is', '(RULE 2.1)', 'K-Drop', 'ＡＢ Ｃｄ', 'Ⅻ o’clock', '½ a minute', '²', 'ﬁve stones', '\ufeffNo, never', '\u0085 ', 'Yes\u001f']) {
    for (const answer of [reference, reference.normalize('NFKD'), 'yes', '5', 'stone', 'drop', 'k drop', 'ab cd', 'xii', '12', 'five stones']) push({ answer, reference, question: '' });
  }
  // Hand-made @keys facts over generated pairs: 1-3 facts of 1-2 reference words, some with alternatives.
  for (let i = 0; i < 300; i++) {
    const g = pick(generated);
    const ws = g.reference.split(/\s+/).filter(Boolean);
    const fact = () => {
      const at = Math.floor(rnd() * ws.length);
      return ws.slice(at, at + 1 + Math.floor(rnd() * 2)).join(' ');
    };
    const keys = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => (rnd() < 0.3 ? `${fact()} / ${fact()}` : fact()));
    if (rnd() < 0.05) keys.push(' / ');
    const ps = perturbations(g.reference, g.question, rnd);
    push({ answer: pick(ps), reference: g.reference, question: g.question, keys });
    push({ answer: pick(realAnswers), reference: g.reference, question: g.question, keys });
  }
  return cases;
}

if (require.main === module) {
  const rows = goldenInputs().map(goldenRow);
  writeFileSync(GOLDEN_PATH, JSON.stringify({ about: 'Golden table of the key-terms grade (src/core/eval/match.ts gradeAnswer / keyTerms), written by test/unit/eval-grading-golden.ts; checked by test/unit/eval-grading.test.ts and src/python/tests/test_grading.py.', cases: rows }, null, 0) + '\n');
  console.log(`${rows.length} cases (${rows.filter((r) => r.grade).length} pass) -> ${GOLDEN_PATH}`);
}
