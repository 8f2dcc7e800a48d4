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

describe('golden table of the key-terms grade', () => {
  test('is large and mixed (passes and fails, with and without @keys)', () => {
    assert.ok(golden.length >= 2000, `${golden.length} rows`);
    const pass = golden.filter((c) => c.grade).length;
    assert.ok(pass > 200 && golden.length - pass > 200, `${pass} of ${golden.length} pass`);
    assert.ok(golden.some((c) => c.keys?.length), 'some rows have @keys facts');
  });

  test('every row is what the TS rule says (rewrite the table after changing the rule)', () => {
    const wrong: string[] = [];
    for (const c of golden) {
      const got = goldenRow({ answer: c.answer, reference: c.reference, question: c.question, keys: c.keys });
      if (got.grade !== c.grade || JSON.stringify(got.terms) !== JSON.stringify(c.terms)) wrong.push(JSON.stringify({ ...c, got: { grade: got.grade, terms: got.terms } }));
    }
    assert.equal(wrong.length, 0, `${wrong.length} rows differ, e.g.\n${wrong.slice(0, 5).join('\n')}`);
  });
});

describe('gradeAnswer', () => {
  test('is the contains verdict; empty answers and references fail', () => {
    assert.equal(gradeAnswer('5', '5 points (Rule 9.1)', 'How many points is a Crown worth?'), true);
    assert.equal(gradeAnswer('  ', '5 points'), false);
    assert.equal(gradeAnswer('5', ''), false);
    assert.equal(gradeAnswer('Six', '5 points', 'How many points?'), false);
  });

  test('"constructor" is a word, not an ordinal (Object.prototype is not looked up)', () => {
    assert.deepEqual(keyTerms('The Constructor of it'), ['constructor']);
    assert.equal(gradeAnswer('the constructor', 'The Constructor of it'), true);
  });
});

describe('@keys facts', () => {
  const ref = "Cold Stone: after eight seconds outside both Hearths, play restarts with an Arbiter's Drop at the centre.";
  test('each fact must appear; "/" separates alternatives; the guessed key terms are not used', () => {
    const keys = ['8 seconds', 'Arbiter Drop / drop ball'];
    assert.equal(gradeAnswer('After eight seconds, an Arbiter drop.', ref, '', keys), true);
    assert.equal(gradeAnswer('After 8 seconds there is a drop ball.', ref, '', keys), true);
    assert.equal(gradeAnswer('An Arbiter drop.', ref, '', keys), false);
    const m = matchAnswer('An Arbiter drop.', ref, '', keys);
    assert.equal(m.keys, true);
    assert.deepEqual(m.missing, ['8 seconds']);
  });

  test('a fact of function words only (e.g. "no") still counts', () => {
    assert.equal(gradeAnswer('No, play goes on.', 'No. Play continues.', '', ['no']), true);
    assert.equal(gradeAnswer('Yes, it stops.', 'No. Play continues.', '', ['no']), false);
  });

  test('an eval set reads @keys above a pair (| facts, trimmed; empty facts dropped)', () => {
    const set = parseEvalSet('@keys: 8 seconds |  Arbiter\'s Drop | | Hearth Roll / Roll\nQ: When?\nA: After eight seconds.\n\nQ: Other?\nA: Yes.\n', 'x.qa');
    assert.deepEqual(set.questions[0].keys, ['8 seconds', "Arbiter's Drop", 'Hearth Roll / Roll']);
    assert.equal(set.questions[1].keys, undefined, '@keys is the next pair\'s only');
    assert.deepEqual(set.problems, []);
  });
});
