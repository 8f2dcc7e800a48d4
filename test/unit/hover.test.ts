// The chunk hover's text (src/server/features.ts chunkMarkdown): prose that wraps between words.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkMarkdown } from '../../src/server/features';

void test('a chunk hover is prose, not a code block: wrapped lines flow, spaces collapse, rules keep their own lines', () => {
  const text = '2.10 The Narrows are the two strips, each 2 m wide, that run along the inside of the\nsidelines for the full length   of the Moor.\n2.11 The Substitution Gate is a 6 m section.\nSection 3 — Equipment\n3.1 The cairnstone weighs\u00a0\u00a0620 g.\n\n\n\nA new paragraph\n  with an indented line.';
  const md = chunkMarkdown(text);
  assert.doesNotMatch(md, /```/, 'no code block: VS Code breaks words anywhere in one');
  assert.doesNotMatch(md, / {2}\S/, 'no double spaces between words');
  assert.equal(
    md,
    '2.10 The Narrows are the two strips, each 2 m wide, that run along the inside of the sidelines for the full length of the Moor.  \n2.11 The Substitution Gate is a 6 m section.  \nSection 3 — Equipment  \n3.1 The cairnstone weighs 620 g.\n\nA new paragraph with an indented line.',
  );
});

void test('Markdown in a chunk is shown as text, not rendered', () => {
  assert.equal(chunkMarkdown('# Rules\n\n- a *bold* claim with `code` and <b>html</b>\n1. first'), '\\# Rules\n\n\\- a \\*bold\\* claim with \\`code\\` and \\<b\\>html\\</b\\>  \n1\\. first');
});
