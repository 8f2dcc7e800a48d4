/** The pair filters (src/core/generation/filters.ts) on hand-made cases, and the drop tables (drops.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BUILTIN_PROMPTS,
  describeDropGroups,
  describeDropTotals,
  dropGroupsMarkdown,
  filterPairs,
  journalDropGroups,
  judgePair,
  PairJudge,
  templateExamples,
  type JournalEntry,
} from '../../src/core/generation';
import { DEFAULT_FILTERS } from '../../src/core/project';

const CONTEXT = 'Cairnrun rules';
const CHUNK = [
  '2.1 The field of play is called the Moor. For international matches the Moor is a rectangle 84 m long and 52 m wide.',
  '2.7 The Still is the circle of 1.8 m radius around each cairn. Only the Warden may stand inside the Still.',
  '7.2 A Carrier may take no more than five steps while holding the stone; a sixth step is Overstep.',
  '10.6 At a Free Cast, opponents must retreat 9 m from the mark.',
].join('\n\n');

function judge(template = BUILTIN_PROMPTS.nuanced, chunk: string | null = CHUNK): PairJudge {
  return new PairJudge({ chunk: chunk ?? undefined, context: CONTEXT, keywords: ['Cairnrun'], examples: templateExamples(template, CONTEXT) });
}

void describe('templateExamples', () => {
  void test('finds the one-shot pair of every built-in template, and the prose example of reversed', () => {
    const ferry = { question: 'In Rivermark chess rules, how many squares may a ferry move in one turn?', answer: 'A ferry may travel no more than three squares in a single turn.' };
    assert.deepEqual(templateExamples(BUILTIN_PROMPTS.nuanced, CONTEXT), [ferry]);
    assert.deepEqual(templateExamples(BUILTIN_PROMPTS.simple, CONTEXT), [ferry]);
    assert.deepEqual(templateExamples(BUILTIN_PROMPTS.atomic, CONTEXT).length, 2);
    const reversed = templateExamples(BUILTIN_PROMPTS.reversed, CONTEXT);
    assert.deepEqual(reversed[0], ferry);
    assert.deepEqual(reversed[1], { question: 'In Cairnrun rules, what does a player concede a Free Cast for?', answer: 'Handling the stone is what concedes a Free Cast.' });
  });

  void test("a user's template: its own Q:/A: example (placeholders filled), JSON examples, and not the chunk", () => {
    const template = [
      'Write {{questions}} pairs about {{context}}.',
      'Example:',
      '**Q1:** In {{context}}, who lights the lamp?',
      '**A1:** The lamp is lit by the keeper.',
      'Or as JSON: [{"question": "How tall is the tower?", "answer": "Twelve metres."}]',
      '<chunk>',
      '{{chunk}}',
      '</chunk>',
    ].join('\n');
    assert.deepEqual(templateExamples(template, CONTEXT), [
      { question: 'In Cairnrun rules, who lights the lamp?', answer: 'The lamp is lit by the keeper.' },
      { question: 'How tall is the tower?', answer: 'Twelve metres.' },
    ]);
    assert.deepEqual(templateExamples('Pairs please, each "Q: " then "A: ".\n<chunk>\n{{chunk}}\n</chunk>'), []);
  });
});

void describe('judgePair', () => {
  const j = judge();
  const reason = (question: string, answer: string) => judgePair(j, { question, answer })?.reason;

  void test('example-echo: the example as is, with the context swapped in, or reworded', () => {
    assert.equal(reason('In Rivermark chess rules, how many squares may a ferry move in one turn?', 'A ferry may travel no more than three squares in a single turn.'), 'example-echo');
    assert.equal(reason('In Cairnrun rules, how many squares may a ferry move in one turn?', 'A ferry may travel no more than three squares in a single turn.'), 'example-echo');
    assert.equal(reason('How many squares can the ferry move per turn?', 'The ferry can move at most three squares in one turn.'), 'example-echo');
    // A pair set in the example's world: it names "Rivermark", which only the example has (a real SmolLM2 answer).
    const named = judgePair(j, { question: 'In Rivermark, a small coloured flag may be raised to signal a disciplinary sanction.', answer: 'The Chief Arbiter raises a pennant at the Moor.' });
    assert.equal(named?.reason, 'example-echo');
    assert.match(named?.detail ?? '', /names "Rivermark", from the prompt's example/);
    // The reversed template's example names "Free Cast"; a chunk that has the Free Cast makes it a fact, not an echo.
    assert.equal(judgePair(judge(BUILTIN_PROMPTS.reversed), { question: 'In Cairnrun rules, how far back must opponents go at a Free Cast?', answer: 'They retreat 9 m from the mark.' }), undefined);
    // The same shape of question about the text is not an echo.
    assert.equal(reason('In Cairnrun rules, how many steps may a Carrier take while holding the stone?', 'At most five steps; the sixth is called Overstep.'), undefined);
  });

  void test('vacuous: says nothing checkable, or restates the question', () => {
    assert.equal(reason('What is the rules of the game of Cairnrun?', 'The rules of Cairnrun are as described in the document.'), 'vacuous');
    assert.equal(reason('In Cairnrun rules, how far must opponents retreat at a Free Cast?', 'It depends on the situation.'), 'vacuous');
    assert.equal(reason('In Cairnrun rules, what is the Still?', 'The Still is the Still in Cairnrun rules.'), 'vacuous');
    assert.equal(reason('In Cairnrun rules, how wide is the Moor?', 'The text does not say.'), 'vacuous');
    // A question about nothing in particular, with an answer that happens to quote the chunk (real SmolLM2 output).
    assert.equal(judgePair(j, { question: 'What is the rules for a game in Cairnrun?', answer: '7.2 A Carrier may take no more than five steps while holding the stone.' })?.detail, 'its question asks about nothing in particular');
    // A short answer that repeats a word of its question is an answer.
    assert.equal(reason('In Cairnrun rules, fill in the blank: "The _____ is the circle of 1.8 m radius around each cairn."', 'Still'), undefined);
    assert.equal(reason('In Cairnrun rules, may anyone other than the Warden stand in the Still?', 'No, only the Warden may.'), undefined);
  });

  void test('ungrounded: most of the answer is not in the chunk; paraphrases, number words and stems are', () => {
    assert.equal(reason('In Cairnrun rules, who referees a match?', 'A panel of three umpires in yellow jackets, appointed by the national federation.'), 'ungrounded');
    assert.equal(reason('In Cairnrun rules, how far must opponents retreat at a Free Cast?', 'Opponents have to retreat nine metres from the mark.'), undefined);
    assert.equal(reason('In Cairnrun rules, what is the Moor?', 'The Moor is the field of play, 84 m by 52 m in international matches (Rule 2.1).'), undefined);
    assert.equal(reason('In Cairnrun rules, what happens on a sixth step?', 'Taking a sixth step while holding the stone is an Overstep.'), undefined);
    // Without the chunk nothing is said about grounding.
    assert.equal(judgePair(judge(BUILTIN_PROMPTS.nuanced, null), { question: 'Who referees?', answer: 'A panel of three umpires in yellow jackets.' }), undefined);
  });

  void test('each filter can be turned off', () => {
    const echo = { question: 'In Rivermark chess rules, how many squares may a ferry move in one turn?', answer: 'A ferry may travel no more than three squares in a single turn.' };
    assert.equal(judgePair(j, echo, { ...DEFAULT_FILTERS, exampleEcho: false })?.reason, 'ungrounded');
    assert.equal(judgePair(j, echo, { ...DEFAULT_FILTERS, exampleEcho: false, ungrounded: false }), undefined);
    assert.equal(judgePair(j, { question: 'What is X?', answer: 'As described in the document.' }, { ...DEFAULT_FILTERS, vacuous: false }), undefined);
    // A lower threshold keeps a half-grounded answer.
    const half = { question: 'In Cairnrun rules, what is the Still?', answer: 'The Still is a circle around each cairn, painted bright blue with white chalk lines.' };
    assert.equal(judgePair(j, half)?.reason, 'ungrounded');
    assert.equal(judgePair(j, half, { ...DEFAULT_FILTERS, groundedness: 0.3 }), undefined);
  });
});

void describe('filterPairs', () => {
  void test('drops echoes, vacuous and repeated pairs with their reason and detail; keeps the rest in order', () => {
    const pairs = [
      { question: 'In Cairnrun rules, how far must opponents retreat at a Free Cast?', answer: 'Nine metres from the mark.' },
      { question: 'In Rivermark chess rules, how many squares may a ferry move in one turn?', answer: 'A ferry may travel no more than three squares in a single turn.' },
      { question: 'In Cairnrun rules, who may stand in the Still?', answer: 'Only the Warden.' },
      { question: 'In Cairnrun rules, how far must opponents retreat at a Free Cast?', answer: 'Nine metres from the mark!' },
      { question: 'In Cairnrun rules, how far must opponents retreat at a Free Cast?', answer: 'Opponents retreat nine metres from the mark.' },
      { question: 'What is Cairnrun?', answer: 'Cairnrun is as described in the text.' },
    ];
    const r = filterPairs(pairs, judge());
    assert.deepEqual(
      r.pairs.map((p) => p.answer),
      ['Nine metres from the mark.', 'Only the Warden.', 'Opponents retreat nine metres from the mark.'],
    );
    assert.deepEqual(
      r.dropped.map((d) => d.reason),
      ['example-echo', 'duplicate-in-answer', 'vacuous'],
    );
    assert.match(r.dropped[0].text, /^Q: In Rivermark chess rules.*\nA: A ferry/);
    assert.match(r.dropped[0].detail ?? '', /like the prompt's example/);
    const off = filterPairs(pairs, judge(), { exampleEcho: false, ungrounded: false, groundedness: 0.5, vacuous: false, duplicateInAnswer: false });
    assert.equal(off.pairs.length, pairs.length);
  });
});

void describe('drop tables', () => {
  const entry = (over: Partial<JournalEntry>): JournalEntry => ({ key: 'k', status: 'done', source: 'sources/r.md', chunk: 1, chunkId: 'c1', variant: 'nuanced', temperature: 0.5, model: 'm', at: '2026-01-01T00:00:00Z', attempts: 1, pairs: [], dropped: [], ...over });

  void test('the latest answer per chunk x variant x temperature counts; chunks that are gone do not', () => {
    const entries = [
      entry({ key: 'a', pairs: [{ question: 'q', answer: 'a' }], dropped: [{ reason: 'example-echo', text: '' }, { reason: 'example-echo', text: '' }] }),
      // A regeneration of the same chunk: replaces the one before.
      entry({ key: 'b', at: '2026-01-02T00:00:00Z', pairs: [{ question: 'q', answer: 'a' }, { question: 'q2', answer: 'a2' }], dropped: [{ reason: 'vacuous', text: '' }] }),
      entry({ key: 'c', chunk: 2, chunkId: 'c2', dropped: [{ reason: 'truncated', text: '' }] }),
      entry({ key: 'd', variant: 'simple', temperature: 1.2, chunk: 3, chunkId: 'gone', dropped: [{ reason: 'ungrounded', text: '' }] }),
      entry({ key: 'e', status: 'failed', dropped: [{ reason: 'vacuous', text: '' }] }),
    ];
    const groups = journalDropGroups(entries, new Set(['c1', 'c2']));
    assert.deepEqual(groups, [{ variant: 'nuanced', temperature: 0.5, answers: 2, pairs: 2, dropped: { vacuous: 1, truncated: 1 } }]);
    assert.deepEqual(describeDropGroups(groups), ['nuanced t=0.500: 2 pairs kept; dropped vacuous 1, truncated 1']);
    assert.equal(journalDropGroups(entries).length, 2);
    const md = dropGroupsMarkdown(journalDropGroups(entries));
    assert.equal(md[0], '| variant | temperature | answers | pairs kept | vacuous | ungrounded | truncated |');
    assert.equal(md.at(-1), '| **all** |  | 3 | 2 | 1 | 1 | 1 |');
    assert.equal(describeDropTotals({ 'example-echo': 3, vacuous: 1, truncated: 2 }), 'filters dropped 4 pairs (example-echo 3, vacuous 1); the parser dropped 2 fragments (truncated 2)');
    assert.equal(describeDropTotals({}), '');
  });
});
