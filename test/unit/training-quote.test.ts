import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { raw, shCommand, shQuote } from '../../src/core/training/quote';

/** What a real `sh -c` makes of a command line: each argument of printf, NUL-separated. */
function words(command: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${command}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

const HOSTILE = [
  '',
  ' ',
  'a b',
  "it's",
  "''",
  '"double"',
  '$(touch /tmp/mnemo-pwned)',
  '`touch /tmp/mnemo-pwned`',
  '$HOME',
  '${PATH}',
  'a\nb',
  '\n',
  '; rm -rf /',
  '| cat',
  '& echo x',
  '\\',
  '\\\'',
  '*',
  '~',
  '-n',
  '--',
  'é ü 日本語 🎉',
  '\t tab',
  '!history',
  '#comment',
];

void test('hostile words come out of sh -c exactly as they went in', () => {
  for (const w of HOSTILE) assert.deepEqual(words(shQuote(w)), [w], JSON.stringify(w));
  assert.deepEqual(words(HOSTILE.map(shQuote).join(' ')), HOSTILE);
});

void test('property: any string without NUL is one word, unchanged, and runs nothing', () => {
  const chars = fc.oneof(
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: fc.constantFrom("'", '"', '$', '(', ')', '`', '\\', '\n', ' ', ';', '&', '|', '*', '?', '~', '!', '#', 'é', '日', 'a', '-', '{', '}', '<', '>') }),
  );
  fc.assert(
    fc.property(fc.array(chars.filter((s) => !s.includes('\0')), { minLength: 1, maxLength: 4 }), (list) => {
      assert.deepEqual(words(list.map(shQuote).join(' ')), list);
    }),
    { numRuns: 100 },
  );
});

void test('shCommand quotes strings, keeps raw() syntax and numbers', () => {
  const cmd = shCommand('printf', '%s\\0', "a'b $(x)", 42, raw('&& printf %s\\\\0 done'));
  const out = execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' }).split('\0');
  assert.deepEqual(out, ["a'b $(x)", '42', 'done', '']);
  assert.equal(shQuote('plain-word_1.txt'), 'plain-word_1.txt');
  assert.throws(() => shQuote('a\0b'), /NUL/);
});
