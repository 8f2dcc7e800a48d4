/**
 * The key-terms grade: the golden table (test/fixtures/grading-cases.json) matches the TS rule, row
 * by row (src/python/tests/test_grading.py checks the same rows against the Python port), and the
 * rule's cases spelled out.
 *
 * After changing the rule, rewrite the table: node --import tsx test/unit/eval-grading-golden.ts
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { gradeAnswer, keyTerms, matchAnswer, parseEvalSet } from '../../src/core/eval';
import { GOLDEN_PATH, goldenRow, type GoldenCase } from './eval-grading-golden';

const golden = (JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as { cases: GoldenCase[] }).cases;

void describe('golden table of the key-terms grade', () => {
  void test('is large and mixed (passes and fails, with and without @keys)', () => {
    assert.ok(golden.length >= 2000, `${golden.length} rows`);
    const pass = golden.filter((c) => c.grade).length;
    assert.ok(pass > 200 && golden.length - pass > 200, `${pass} of ${golden.length} pass`);
    assert.ok(golden.some((c) => c.keys?.length), 'some rows have @keys facts');
  });

  void test('every row is what the TS rule says (rewrite the table after changing the rule)', () => {
    const wrong: string[] = [];
    for (const c of golden) {
      const got = goldenRow({ answer: c.answer, reference: c.reference, question: c.question, keys: c.keys });
      if (got.grade !== c.grade || JSON.stringify(got.terms) !== JSON.stringify(c.terms)) wrong.push(JSON.stringify({ ...c, got: { grade: got.grade, terms: got.terms } }));
    }
    assert.equal(wrong.length, 0, `${wrong.length} rows differ, e.g.\n${wrong.slice(0, 5).join('\n')}`);
  });
});

void describe('gradeAnswer', () => {
  void test('is the contains verdict; empty answers and references fail', () => {
    assert.equal(gradeAnswer('5', '5 points (Rule 9.1)', 'How many points is a Crown worth?'), true);
    assert.equal(gradeAnswer('  ', '5 points'), false);
    assert.equal(gradeAnswer('5', ''), false);
    assert.equal(gradeAnswer('Six', '5 points', 'How many points?'), false);
  });

  void test('"constructor" is a word, not an ordinal (Object.prototype is not looked up)', () => {
    assert.deepEqual(keyTerms('The Constructor of it'), ['constructor']);
    assert.equal(gradeAnswer('the constructor', 'The Constructor of it'), true);
  });
});

void describe('the guessed key terms (item 7 of issue 18)', () => {
  const question = 'In Cairnrun, what happens when the stone stays outside both Hearths?';
  const ref = "Cold Stone: after eight seconds outside both Hearths, play restarts with an Arbiter's Drop (Rule 8.4).";

  void test('possessives are dropped: "Arbiter\'s" gives arbiter, never a term "s"', () => {
    assert.deepEqual(keyTerms("An Arbiter's Drop"), ['arbiter', 'drop']);
    assert.deepEqual(keyTerms("The players' bench"), ['players', 'bench']);
    assert.deepEqual(keyTerms(ref), ['cold', 'stone', '8', 'seconds', 'hearths', 'arbiter', 'drop']);
  });

  void test('terms are one per stem: "Hearths" and "hearth" are one term; the question\'s words are left out', () => {
    assert.deepEqual(keyTerms('Both Hearths, then the Hearth Roll'), ['hearths', 'roll']);
    const terms = keyTerms(ref, question);
    assert.ok(!terms.includes('hearths') && !terms.includes('hearth'), `the question names the Hearths: ${terms.join(', ')}`);
  });

  void test('stems: plurals, -ing, -ed and a final e', () => {
    assert.equal(gradeAnswer('the rule', 'Rules'), true);
    assert.equal(gradeAnswer('placing', 'Placed'), true);
    assert.equal(gradeAnswer('it stopped', 'Stops'), true);
    assert.equal(gradeAnswer('the matches', 'Match'), true);
    assert.equal(gradeAnswer('studies', 'Studied'), true);
    assert.equal(gradeAnswer('the cross', 'Crossing'), true);
  });

  void test('a number\'s unit is a term ("8 seconds"), abbreviations are not ("9 m")', () => {
    assert.deepEqual(keyTerms('9 m (Rule 10.6).'), ['9']);
    assert.equal(gradeAnswer('After 8 minutes.', 'After 8 seconds.'), false);
    assert.equal(gradeAnswer('Eight seconds.', 'After 8 seconds.'), true);
    assert.equal(gradeAnswer('5.', '5 points (Rule 9.1).', 'How many points is a Crown worth?'), true, 'the unit is in the question');
    assert.deepEqual(keyTerms('one 60-second Ember Pause'), ['60', 'second', 'ember', 'pause']);
  });

  void test('numbers and yes/no must all appear; two thirds of the other terms', () => {
    // cold, 8, seconds, arbiter, drop (stone and hearths are in the question): 8 and 3 of the 4 words.
    assert.deepEqual(keyTerms(ref, question), ['cold', '8', 'seconds', 'arbiter', 'drop']);
    assert.equal(gradeAnswer('After eight seconds the Arbiter makes a Drop: a Cold Stone.', ref, question), true);
    assert.equal(gradeAnswer("An Arbiter's Drop after 8 seconds.", ref, question), true, 'a short right answer');
    assert.equal(gradeAnswer('A drop after 8 seconds.', ref, question), false, 'two of the four words');
    assert.equal(gradeAnswer("An Arbiter's Drop.", ref, question), false, 'the number is missing');
    assert.equal(gradeAnswer("Cold Stone: after 9 seconds, an Arbiter's Drop.", ref, question), false, 'the number is wrong');
    const m = matchAnswer('The Cooling Bench, for 2 minutes.', 'The Cooling Bench; a Warden (the goalkeeper role) is suspended for 2 minutes (Rule 13.2).', 'What is the sin bin called, and how long does a goalkeeper spend there?');
    assert.equal(m.contains, true);
    assert.deepEqual(m.missing, ['warden']);
    assert.equal(m.needed, 4);
    assert.equal(gradeAnswer('Yes, play goes on.', 'No. After a Knock there is no stoppage.'), false);
  });

  void test('"No more than five" answers a how-many question: no yes/no term; a yes/no question keeps it', () => {
    assert.deepEqual(keyTerms('No more than five; a sixth step is Overstep (Rule 7.2).', 'How many steps may a Carrier take?'), ['5', '6th', 'overstep']);
    assert.equal(keyTerms('No, it stops.', 'How does play go on?')[0], 'no', '"No," is a yes/no answer even to a how question');
    assert.equal(keyTerms('No more than five.', 'Is it more than five?')[0], 'no');
  });

  void test('asides in parentheses are not key terms (unless the reference is nothing else)', () => {
    assert.deepEqual(keyTerms('A Long Gate (thrown with both feet beyond the Long Line) (Rule 9.3).', 'What is the name of the Gate that is worth 4 points?'), ['long']);
    assert.equal(gradeAnswer('A Long Gate is worth 4 points.', 'A Long Gate (thrown with both feet beyond the Long Line) (Rule 9.3).', 'What is the name of the Gate that is worth 4 points?'), true);
    assert.deepEqual(keyTerms('(the Helm)'), ['helm']);
  });
});

void describe('@keys facts', () => {
  const ref = "Cold Stone: after eight seconds outside both Hearths, play restarts with an Arbiter's Drop at the centre.";
  void test('each fact must appear; "/" separates alternatives; the guessed key terms are not used', () => {
    const keys = ['8 seconds', "Arbiter's Drop / drop ball"];
    assert.equal(gradeAnswer('After eight seconds, an Arbiter drop.', ref, '', keys), true);
    assert.equal(gradeAnswer('After 8 seconds there is a drop ball.', ref, '', keys), true);
    assert.equal(gradeAnswer('An Arbiter drop.', ref, '', keys), false);
    const m = matchAnswer('An Arbiter drop.', ref, '', keys);
    assert.equal(m.keys, true);
    assert.deepEqual(m.missing, ['8 seconds']);
  });

  void test('a fact of function words only (e.g. "no") still counts', () => {
    assert.equal(gradeAnswer('No, play goes on.', 'No. Play continues.', '', ['no']), true);
    assert.equal(gradeAnswer('Yes, it stops.', 'No. Play continues.', '', ['no']), false);
  });

  void test('an eval set reads @keys above a pair (| facts, trimmed; empty facts dropped)', () => {
    const set = parseEvalSet('@keys: 8 seconds |  Arbiter\'s Drop | | Hearth Roll / Roll\nQ: When?\nA: After eight seconds.\n\nQ: Other?\nA: Yes.\n', 'x.qa');
    assert.deepEqual(set.questions[0].keys, ['8 seconds', "Arbiter's Drop", 'Hearth Roll / Roll']);
    assert.equal(set.questions[1].keys, undefined, '@keys is the next pair\'s only');
    assert.deepEqual(set.problems, []);
  });
});
